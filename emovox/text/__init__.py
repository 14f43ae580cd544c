"""Text front end: normalisation, espeak-ng phonemes, the symbol table, emotion markup, chunking."""

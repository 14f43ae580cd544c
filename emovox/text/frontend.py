"""The whole text front end in one call: normalise -> phonemise -> tokenise."""

from __future__ import annotations

from dataclasses import dataclass

from emovox.text.normalize import Normalizer
from emovox.text.phonemize import Phonemizer
from emovox.text.symbols import SymbolTable, Tokenizer

__all__ = ["FrontendOutput", "TextFrontend"]


@dataclass(frozen=True)
class FrontendOutput:
    text: str  # the input
    normalized: str  # words and prosodic punctuation only
    phonemes: str  # IPA with stress marks, word spaces and punctuation
    ids: list[int]  # token ids in the symbol table, with BOS/EOS


class TextFrontend:
    """``TextFrontend(language)(text) -> FrontendOutput``. Thread-safe.

    Args:
        language: espeak-ng language code; selects the normaliser rules and the espeak voice.
        table: the symbol table of the acoustic model (default: the current table).
        cache_size: phonemiser clause-cache size (0 disables it).
    """

    def __init__(
        self, language: str = "en-us", table: SymbolTable | None = None, cache_size: int = 20_000
    ) -> None:
        self.language = language
        self.phonemizer = Phonemizer(language, cache_size=cache_size)  # validates the language first
        self.normalizer = Normalizer(language)
        self.tokenizer = Tokenizer(table)

    def __call__(self, text: str, bos_eos: bool = True) -> FrontendOutput:
        normalized = self.normalizer(text)
        phonemes = self.phonemizer.phonemize(normalized)
        ids = self.tokenizer.encode(phonemes, source=text, bos_eos=bos_eos)
        return FrontendOutput(text, normalized, phonemes, ids)

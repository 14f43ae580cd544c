"""Split long text into sentence-sized chunks that a synthesiser can stream, under a phoneme budget.

Text is cut only between words (at whitespace, or after CJK punctuation, which is not followed by a space), so
joining the chunks gives back every word once and in order. The order of preference: sentence ends (``.``,
``!``, ``?``, ``…`` and their CJK forms, not after an abbreviation, a title or an initial, nor before a lowercase
word); then, for a sentence longer than ``max_phonemes``, clause punctuation (``, ; : —``); then word
boundaries. A single word longer than the budget is kept whole (and logged) rather than cut.

Markup segments are chunked one by one, so a chunk never crosses an emotion or prosody span.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from emovox.text.markup import Segment
from emovox.text.normalize import abbreviations, normalize
from emovox.text.phonemize import phonemize

__all__ = ["chunk_segments", "chunk_text", "phoneme_counter", "split_sentences"]

logger = logging.getLogger(__name__)

_SEPARATOR = re.compile(r"(\s+|(?<=[。！？；，、：]))")
_SENTENCE_END = re.compile(r"(?:[.!?…]+|[。！？])[\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"(?:[,;:—]|[，、；：])[\"'”’)\]]*$|^—$")
_NO_BREAK_AFTER = abbreviations()


@dataclass(frozen=True)
class _Word:
    text: str
    space_before: bool  # joined to the previous word by a space (else directly, as after CJK punctuation)


def _words(text: str) -> list[_Word]:
    parts = _SEPARATOR.split(text)
    words, space = [], False
    for i, part in enumerate(parts):
        if i % 2:
            space = space or bool(part)
        elif part:
            words.append(_Word(part, space and bool(words)))
            space = False
    return words


def _join(words: Sequence[_Word]) -> str:
    return "".join((" " if w.space_before and i else "") + w.text for i, w in enumerate(words))


def _ends_sentence(word: str, next_word: str | None) -> bool:
    if not _SENTENCE_END.search(word):
        return False
    if word.endswith((".", '."', ".'")):
        stem = word.rstrip("\"'”’)]").rstrip(".").lstrip("\"'“‘([").lower()
        if (
            stem in _NO_BREAK_AFTER
            or (len(stem) == 1 and stem.isalpha())
            or re.fullmatch(r"(?:[a-z]\.)+[a-z]", stem)
        ):
            return False  # "Dr. Smith", "J. Smith", "e.g. this", "U.S.A. Today"
    return next_word is None or not next_word.lstrip("\"'“‘([")[:1].islower()


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, each a whitespace-normalised substring; empty text gives []."""
    return [_join(s) for s in _sentences(_words(text))]


def _sentences(words: list[_Word]) -> list[list[_Word]]:
    out, current = [], []
    for i, word in enumerate(words):
        current.append(word)
        nxt = words[i + 1].text if i + 1 < len(words) else None
        if _ends_sentence(word.text, nxt):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def _pack(units: list[list[_Word]], max_phonemes: int, measure: Callable[[str], int]) -> list[list[_Word]]:
    """Greedily join consecutive units while the joined text stays within the budget."""
    out: list[list[_Word]] = []
    for unit in units:
        if out and measure(_join(out[-1] + unit)) <= max_phonemes:
            out[-1] = out[-1] + unit
        else:
            out.append(list(unit))
    return out


def _split_long(sentence: list[_Word], max_phonemes: int, measure: Callable[[str], int]) -> list[list[_Word]]:
    clauses, current = [], []
    for word in sentence:
        current.append(word)
        if _CLAUSE_END.search(word.text):
            clauses.append(current)
            current = []
    if current:
        clauses.append(current)
    pieces: list[list[_Word]] = []
    for clause in clauses:
        if measure(_join(clause)) <= max_phonemes:
            pieces.append(clause)
            continue
        for chunk in _pack([[w] for w in clause], max_phonemes, measure):
            if len(chunk) == 1 and measure(chunk[0].text) > max_phonemes:
                logger.warning("word longer than %d phonemes kept whole: %.60r", max_phonemes, chunk[0].text)
            pieces.append(chunk)
    return _pack(pieces, max_phonemes, measure)


@functools.lru_cache(maxsize=16)
def phoneme_counter(language: str = "en-us") -> Callable[[str], int]:
    """``text -> number of phoneme symbols`` (tokenizer symbols, NFD code points) after normalisation and
    phonemisation in ``language``."""

    def count(text: str) -> int:
        return len(unicodedata.normalize("NFD", phonemize(normalize(text, language), language)))

    return count


def chunk_text(
    text: str, max_phonemes: int = 400, measure: Callable[[str], int] | None = None, language: str = "en-us"
) -> list[str]:
    """Sentence-sized chunks of ``text``, each within ``max_phonemes`` by ``measure`` (see module docstring).

    Args:
        text: raw (not yet normalised) text.
        max_phonemes: the budget per chunk.
        measure: text -> phoneme count; defaults to :func:`phoneme_counter` for ``language``.
    """
    if max_phonemes < 1:
        raise ValueError(f"max_phonemes must be positive, got {max_phonemes}")
    measure = measure or phoneme_counter(language)
    chunks = []
    for sentence in _sentences(_words(text)):
        if measure(_join(sentence)) <= max_phonemes:
            chunks.append(_join(sentence))
        else:
            chunks.extend(_join(piece) for piece in _split_long(sentence, max_phonemes, measure))
    return chunks


def chunk_segments(
    segments: Sequence[Segment],
    max_phonemes: int = 400,
    measure: Callable[[str], int] | None = None,
    language: str = "en-us",
) -> list[Segment]:
    """Chunk each text segment of parsed markup; pauses pass through; spans are never merged."""
    out = []
    for seg in segments:
        if seg.is_pause or not seg.text:
            out.append(seg)
            continue
        out.extend(replace(seg, text=c) for c in chunk_text(seg.text, max_phonemes, measure, language))
    return out

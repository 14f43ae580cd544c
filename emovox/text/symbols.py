"""The versioned symbol table and the tokenizer that turns phoneme strings into ids.

One table serves every language: the special tokens, the word separator, the prosodic punctuation that the
phonemiser keeps, and every code point espeak-ng's IPA output can contain (the IPA letters, modifier letters
with stress and length marks and tone letters, combining diacritics, and the ASCII letters and digits espeak
uses for phonemes that have no IPA form, e.g. Mandarin tone numbers). Phoneme strings are tokenised per code
point after NFD decomposition, as Piper does, so the alphabet is closed and small (523 symbols) and needs no
per-language inventory.

The table travels in the acoustic model's checkpoint metadata (:meth:`SymbolTable.to_dict`); a model is only
ever fed ids from the table it was trained with (:meth:`SymbolTable.from_dict` validates the stored form).
A symbol the table lacks becomes the explicit ``<unk>`` id, is logged once with the text it came from, and is
counted in :attr:`Tokenizer.unknown_counts`; nothing is silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "PAUSE",
    "PUNCTUATION",
    "SYMBOL_TABLE_VERSION",
    "UNK",
    "WORD_SEPARATOR",
    "SymbolTable",
    "SymbolTableError",
    "Tokenizer",
    "default_symbol_table",
]

logger = logging.getLogger(__name__)

SYMBOL_TABLE_VERSION = "emovox-ipa-1"

PAD, UNK, BOS, EOS, PAUSE = "<pad>", "<unk>", "<bos>", "<eos>", "<pause>"
SPECIALS = (PAD, UNK, BOS, EOS, PAUSE)
WORD_SEPARATOR = " "
# Prosodic punctuation kept as tokens (the normaliser maps every other punctuation mark onto these).
PUNCTUATION = '.,;:!?¡¿…—"()'
_SILENT = frozenset((*SPECIALS, WORD_SEPARATOR, *PUNCTUATION))  # symbols that are not sounds


class SymbolTableError(ValueError):
    """A stored symbol table is malformed or incompatible."""


def _ipa_code_points() -> list[str]:
    ranges = [
        (0x61, 0x7A),  # a-z: IPA letters and espeak phoneme mnemonics
        (0x41, 0x5A),  # A-Z: espeak mnemonics in a few languages
        (0x30, 0x39),  # 0-9: tone numbers (e.g. Mandarin, Thai in espeak)
        (0x250, 0x2AF),  # IPA Extensions
        (0x2B0, 0x2FF),  # Spacing Modifier Letters: ˈ ˌ ː ˑ ʰ ʲ ʷ ˞ and the tone letters ˥˦˧˨˩
        (0x300, 0x36F),  # Combining Diacritical Marks (nasal, syllabic, tie bar, ... after NFD)
        (0x1D00, 0x1D7F),  # Phonetic Extensions: ᵻ ᵊ ᵿ ...
        (0x2191, 0x2198),  # intonation arrows ↑ ↓ ↗ ↘
    ]
    points = [chr(c) for lo, hi in ranges for c in range(lo, hi + 1)]
    extra = "æçðøħŋœǀǁǂǃβθχɸⁿ‿'-_"  # Latin-1/Greek letters used as IPA, clicks, linking, espeak separators
    points += [ch for ch in unicodedata.normalize("NFD", extra) if ch not in points]
    return [p for p in points if p not in PUNCTUATION]


@dataclass(frozen=True)
class SymbolTable:
    """An ordered list of symbols; a symbol's id is its index. Ids 0..4 are pad, unk, bos, eos, pause."""

    symbols: tuple[str, ...]
    version: str = SYMBOL_TABLE_VERSION
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.symbols[: len(SPECIALS)]) != SPECIALS:
            raise SymbolTableError(f"a symbol table must start with {SPECIALS}, got {self.symbols[:5]}")
        dupes = [s for s, n in Counter(self.symbols).items() if n > 1]
        if dupes:
            raise SymbolTableError(f"duplicate symbols in table: {dupes[:10]}")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    def id(self, symbol: str) -> int | None:
        return self._index.get(symbol)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    @property
    def bos_id(self) -> int:
        return 2

    @property
    def eos_id(self) -> int:
        return 3

    @property
    def pause_id(self) -> int:
        return 4

    def spoken(self, ids: Sequence[int]) -> list[bool]:
        """Which of ``ids`` are sounds: not a special token, a word separator or punctuation (ids outside the table
        are not)."""
        return [0 <= i < len(self.symbols) and self.symbols[i] not in _SILENT for i in ids]

    def digest(self) -> str:
        """A short hash of the ordered symbols: two tables with the same digest give the same ids."""
        return hashlib.sha256("\x00".join(self.symbols).encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        """JSON-safe form for checkpoint metadata."""
        return {"version": self.version, "symbols": list(self.symbols), "digest": self.digest()}

    @classmethod
    def from_dict(cls, data: dict) -> SymbolTable:
        if not isinstance(data, dict) or "symbols" not in data or "version" not in data:
            raise SymbolTableError("symbol table metadata needs 'version' and 'symbols'")
        symbols = data["symbols"]
        if not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols):
            raise SymbolTableError("'symbols' must be a list of non-empty strings")
        table = cls(tuple(symbols), version=str(data["version"]))
        if "digest" in data and data["digest"] != table.digest():
            raise SymbolTableError(
                f"symbol table digest mismatch (stored {data['digest']}, computed {table.digest()}): "
                "the metadata was edited or corrupted"
            )
        return table


def default_symbol_table() -> SymbolTable:
    """The current table (:data:`SYMBOL_TABLE_VERSION`). Changing its contents requires a new version."""
    return SymbolTable((*SPECIALS, WORD_SEPARATOR, *PUNCTUATION, *_ipa_code_points()))


class Tokenizer:
    """Phoneme string -> ids with one :class:`SymbolTable`. Thread-safe; unknown symbols map to ``<unk>``.

    Each distinct unknown symbol is logged once (with the text it came from); every occurrence is counted.
    """

    def __init__(self, table: SymbolTable | None = None) -> None:
        self.table = table or default_symbol_table()
        self.unknown_counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def split(self, phonemes: str) -> list[str]:
        """The symbols of a phoneme string: NFD code points (combining marks become their own symbols)."""
        return list(unicodedata.normalize("NFD", phonemes))

    def encode(self, phonemes: str, *, source: str | None = None, bos_eos: bool = True) -> list[int]:
        """Ids of ``phonemes``; ``source`` (the text it came from) is only used in the unknown-symbol log."""
        index, unk = self.table._index, self.table.unk_id
        ids = [index.get(s, unk) for s in self.split(phonemes)]
        if unk in ids:
            self._report_unknown([s for s in self.split(phonemes) if s not in index], source or phonemes)
        if bos_eos:
            ids = [self.table.bos_id, *ids, self.table.eos_id]
        return ids

    def encode_symbols(self, symbols: Iterable[str], *, source: str | None = None) -> list[int]:
        """Ids of already-split symbols (e.g. ``[PAUSE]`` between segments)."""
        symbols = list(symbols)
        missing = [s for s in symbols if s not in self.table]
        if missing:
            self._report_unknown(missing, source or "".join(symbols))
        return [self.table._index.get(s, self.table.unk_id) for s in symbols]

    def decode(self, ids: Sequence[int]) -> str:
        """Inverse of :meth:`encode` for known symbols; specials other than pause are skipped."""
        out = []
        for i in ids:
            if not 0 <= int(i) < len(self.table):
                raise SymbolTableError(f"token id {i} outside the table (size {len(self.table)})")
            sym = self.table.symbols[int(i)]
            if sym in (PAD, BOS, EOS):
                continue
            out.append(sym)
        return unicodedata.normalize("NFC", "".join(out))

    def _report_unknown(self, symbols: list[str], source: str) -> None:
        with self._lock:
            new = sorted({s for s in symbols if s not in self.unknown_counts})
            self.unknown_counts.update(symbols)
        for s in new:
            logger.warning(
                "symbol %r (U+%04X) is not in symbol table %s; encoded as %s (source: %.80r)",
                s, ord(s[0]), self.table.version, UNK, source,
            )  # fmt: skip

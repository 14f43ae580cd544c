"""Helpers shared by the corpus parsers: root checks, file discovery, text decoding and scale mapping."""

from __future__ import annotations

import codecs
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from emovox.data_prep.manifest import SkipLog, Utterance
from emovox.emotion.labels import normalise_label

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".webm", ".opus", ".m4a")


class CorpusError(ValueError):
    """A corpus root is missing or does not look like the corpus it should be."""


def require_dir(root: str | os.PathLike, corpus: str, hint: str) -> Path:
    """The resolved root folder, or a :class:`CorpusError` that says what a valid root looks like."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise CorpusError(f"{corpus}: root folder not found: {path}. {hint}")
    return path.resolve()


def find_files(root: Path, exts: Iterable[str] = (".wav",)) -> Iterator[Path]:
    """Files under ``root`` with one of ``exts`` (case-insensitive), sorted, hidden files and folders skipped."""
    exts = tuple(e.lower() for e in exts)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(exts):
                yield Path(dirpath) / name


def read_text(path: Path, encodings: Iterable[str] = ("utf-8",)) -> tuple[str, str]:
    """Decode a text file with the first encoding that works; a BOM wins. Returns ``(text, encoding)``."""
    raw = path.read_bytes()
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            return raw.decode(enc), enc
    errors = []
    for enc in encodings:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError as exc:
            errors.append(f"{enc}: {exc.reason} at byte {exc.start}")
    raise CorpusError(f"{path}: cannot decode as {', '.join(encodings)} ({'; '.join(errors)})")


def scale_to_unit(x: float, lo: float, hi: float) -> float:
    """Map a rating on [lo, hi] linearly to [-1, 1] (clamped; e.g. SAM 1-5: 1 -> -1, 3 -> 0, 5 -> 1)."""
    y = 2.0 * (float(x) - lo) / (hi - lo) - 1.0
    return min(1.0, max(-1.0, y))


def parse_float(text: str | None) -> float | None:
    """A finite float, or None for empty / 'nan' / unparsable text."""
    if text is None:
        return None
    try:
        x = float(text.strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def label(raw: str | None, table: dict[str, str] | None = None) -> str | None:
    """The canonical emotion of a raw label (the corpus table is consulted first), None if it has none."""
    if raw is None or not raw.strip():
        return None
    return normalise_label(raw, table)


def emit(utt: Utterance, skipped: SkipLog) -> Iterator[Utterance]:
    """Yield ``utt`` unless its audio file is missing (then it is reported)."""
    if not Path(utt.audio).is_file():
        skipped.add(utt.audio, "audio file missing")
        return
    yield utt


def skiplog(skipped: SkipLog | None) -> SkipLog:
    return skipped if skipped is not None else SkipLog()

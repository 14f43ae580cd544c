"""Your own data: one CSV/TSV/pipe-separated table, ``audio|text|speaker|emotion|intensity|a|d|v``.

Every column but ``audio`` is optional. With a header row, columns are found by name (aliases: path/file/wav,
transcript/sentence, spk/speaker_id, label/emotion_label, arousal/activation, dominance, valence, plus gender,
lang and split); without one, the positional order above is assumed. The delimiter is detected (``|``, tab or
comma). ``audio`` is relative to the table's folder unless absolute. ``intensity`` must be in [0, 1] and a, d, v
in [-1, 1]; rows with values outside are skipped and reported. Emotions are normalised to the canonical set;
labels with no canonical equivalent are reported and kept with emotion None. ``--root`` may be the table or a
folder holding ``metadata.csv``/``metadata.tsv``/``manifest.csv``.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from pathlib import Path

from emovox.data_prep.corpora._common import CorpusError, emit, label, parse_float, read_text, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

logger = logging.getLogger(__name__)

NAME = "generic"
POSITIONAL = ("audio", "text", "speaker", "emotion", "intensity", "a", "d", "v")
ALIASES = {
    "audio": ("audio", "path", "file", "wav", "filename", "audio_path", "wav_path"),
    "text": ("text", "transcript", "sentence", "transcription"),
    "speaker": ("speaker", "spk", "speaker_id", "spk_id"),
    "emotion": ("emotion", "label", "emotion_label", "emo"),
    "intensity": ("intensity", "level", "strength"),
    "a": ("a", "arousal", "activation", "act"),
    "d": ("d", "dominance", "dom"),
    "v": ("v", "valence", "val"),
    "gender": ("gender", "sex"),
    "lang": ("lang", "language"),
    "split": ("split", "partition", "set"),
}
TABLE_NAMES = ("metadata.csv", "metadata.tsv", "manifest.csv", "manifest.tsv", "data.csv", "data.tsv")


def _table_path(root) -> Path:
    path = Path(root).expanduser()
    if path.is_dir():
        for name in TABLE_NAMES:
            if (path / name).is_file():
                return (path / name).resolve()
        raise CorpusError(f"generic: no {', '.join(TABLE_NAMES)} in {path}; pass the table itself as --root")
    if not path.is_file():
        raise CorpusError(f"generic: table not found: {path}")
    return path.resolve()


def _columns(first: list[str]) -> tuple[dict[str, int], bool]:
    """Column name -> index, and whether ``first`` is a header row."""
    lowered = [c.strip().lower() for c in first]
    found = {}
    for key, names in ALIASES.items():
        for i, c in enumerate(lowered):
            if c in names:
                found[key] = i
                break
    if "audio" in found:
        return found, True
    return {k: i for i, k in enumerate(POSITIONAL) if i < len(first)}, False


def _row_to_utt(cells: dict[str, str], base: Path, ident: str, skipped: SkipLog) -> Utterance | None:
    audio = Path(cells["audio"])
    audio = audio if audio.is_absolute() else base / audio
    intensity = parse_float(cells.get("intensity"))
    if intensity is not None and not 0 <= intensity <= 1:
        skipped.add(ident, f"intensity {intensity:g} outside [0, 1]")
        return None
    a, d, v = (parse_float(cells.get(k)) for k in "adv")
    adv = None
    if None not in (a, d, v):
        if not all(-1 <= x <= 1 for x in (a, d, v)):
            skipped.add(ident, f"a, d, v ({a:g}, {d:g}, {v:g}) outside [-1, 1]")
            return None
        adv = (a, d, v)
    raw = (cells.get("emotion") or "").strip() or None
    emotion = label(raw)
    if raw and emotion is None:
        logger.warning("%s: emotion %r has no canonical equivalent; kept as emotion_raw only", ident, raw)
    split = (cells.get("split") or "").strip().lower() or None
    return Utterance(
        utt_id=audio.stem.replace(" ", "_"),
        audio=str(audio),
        text=(cells.get("text") or "").strip() or None,
        speaker=(cells.get("speaker") or "").strip().replace(" ", "_") or "speaker",
        gender={"m": "M", "male": "M", "f": "F", "female": "F"}.get(
            (cells.get("gender") or "").strip().lower()
        ),
        lang=(cells.get("lang") or "").strip() or "en",
        emotion=emotion,
        emotion_raw=raw,
        intensity=intensity,
        adv=adv,
        split={"valid": "dev", "validation": "dev", "eval": "dev"}.get(split, split),
    )


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every row of the table."""
    table = _table_path(root)
    skipped = skiplog(skipped)
    text, _ = read_text(table, ("utf-8", "latin-1"))
    sample = "\n".join(text.splitlines()[:5])
    delimiter = max("|\t,", key=sample.count) if sample else "|"
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_NONE) if any(r)]
    if not rows:
        raise CorpusError(f"generic: {table} is empty")
    columns, has_header = _columns(rows[0])
    for lineno, row in enumerate(rows[1:] if has_header else rows, 2 if has_header else 1):
        ident = f"{table}:{lineno}"
        cells = {k: row[i] for k, i in columns.items() if i < len(row)}
        if not cells.get("audio", "").strip():
            skipped.add(ident, "row without audio")
            continue
        utt = _row_to_utt(cells, table.parent, ident, skipped)
        if utt is not None:
            yield from emit(utt, skipped)

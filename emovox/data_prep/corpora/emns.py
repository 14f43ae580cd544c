"""EMNS (Noriy et al. 2023): one British English speaker, acted emotions with an expressiveness level.

``metadata.csv`` is pipe-delimited with a header ``id|utterance|description|emotion|date_created|status|gender|
age|level|audio_recording|user_id``; ``audio_recording`` names the clip (``wavs/<name>.webm``) while the release
ships the clips in ``raw_webm/`` (or ``cleaned_webm/``), so clips are found by file name anywhere under the root.
A converted ``<name>.wav``/``.flac`` beside the WebM is preferred: libsndfile cannot decode WebM, so
``emovox features`` reports WebM clips as unsupported until they are converted (``ffmpeg -i x.webm x.wav``).
Emotions: Angry, Disgust, Excited, Happy, Neutral, Sad, Sarcastic, Surprised. ``level`` is read as a number on
0-``LEVEL_MAX`` and mapped to [0, 1]. No official split.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path

from emovox.data_prep.corpora._common import (
    AUDIO_EXTS,
    CorpusError,
    emit,
    find_files,
    label,
    parse_float,
    require_dir,
    skiplog,
)
from emovox.data_prep.manifest import SkipLog, Utterance

logger = logging.getLogger(__name__)

NAME = "emns"
LEVEL_MAX = 10.0
_PREFERENCE = (".wav", ".flac", ".ogg", ".webm")


def _audio_index(root: Path) -> dict[str, Path]:
    """Stem -> best audio file (decodable formats before WebM)."""
    index: dict[str, Path] = {}
    rank = {e: i for i, e in enumerate(_PREFERENCE)}
    for path in find_files(root, AUDIO_EXTS):
        old = index.get(path.stem)
        if old is None or rank.get(path.suffix.lower(), 99) < rank.get(old.suffix.lower(), 99):
            index[path.stem] = path
    return index


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every row of ``metadata.csv`` whose clip is found."""
    root = require_dir(root, "EMNS", "Point --root at the folder holding metadata.csv and raw_webm/.")
    skipped = skiplog(skipped)
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise CorpusError(f"EMNS: {meta} not found")
    with open(meta, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="|"))
    index = _audio_index(root)
    for lineno, row in enumerate(rows, 2):
        rec = (row.get("audio_recording") or "").strip()
        raw = (row.get("emotion") or "").strip()
        if not rec:
            skipped.add(f"{meta}:{lineno}", "row without audio_recording")
            continue
        stem = Path(rec).stem
        audio = index.get(stem)
        if audio is None:
            skipped.add(rec, "audio file missing")
            continue
        emotion = label(raw)
        level = parse_float(row.get("level"))
        intensity = None
        if level is not None and 0 <= level <= LEVEL_MAX and emotion != "neutral":
            intensity = level / LEVEL_MAX
        elif level is not None and not 0 <= level <= LEVEL_MAX:
            logger.warning(
                "%s:%d: level %g outside 0-%g; intensity left empty", meta, lineno, level, LEVEL_MAX
            )
        yield from emit(
            Utterance(
                utt_id=stem,
                audio=str(audio),
                text=(row.get("utterance") or "").strip() or None,
                speaker=(row.get("user_id") or "").strip() or "emns",
                gender={"male": "M", "female": "F"}.get((row.get("gender") or "").strip().lower()),
                lang="en",
                emotion=emotion,
                emotion_raw=raw or None,
                intensity=intensity,
            ),
            skipped,
        )

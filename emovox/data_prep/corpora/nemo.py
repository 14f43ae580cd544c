"""nEMO (Christop 2024): Polish, nine actors, six emotions.

``data.tsv`` (tab-separated, header) has ``file_id, emotion, raw_text, normalized_text, speaker_id, gender, age``;
audio is ``samples/<file_id>``. Emotions: anger, fear, happiness, neutral, sadness, surprised. The orthographic
``raw_text`` is the text (emovox normalises it itself). No intensity, no official split.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from emovox.data_prep.corpora._common import CorpusError, emit, label, require_dir, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "nemo"
GENDERS = {"male": "M", "m": "M", "female": "F", "f": "F"}


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every row of ``data.tsv``."""
    root = require_dir(root, "nEMO", "Point --root at the nEMO folder (data.tsv, samples/).")
    skipped = skiplog(skipped)
    tsv = root / "data.tsv"
    if not tsv.is_file():
        raise CorpusError(f"nEMO: {tsv} not found")
    with open(tsv, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    for lineno, row in enumerate(rows, 2):
        file_id = (row.get("file_id") or "").strip()
        raw = (row.get("emotion") or "").strip()
        if not file_id or not raw:
            skipped.add(f"{tsv}:{lineno}", "row without file_id or emotion")
            continue
        emotion = label(raw)
        if emotion is None:
            skipped.add(f"{tsv}:{lineno}", f"unknown emotion {raw!r}")
            continue
        audio = root / "samples" / file_id
        if not audio.suffix:
            audio = audio.with_suffix(".wav")
        yield from emit(
            Utterance(
                utt_id=audio.stem,
                audio=str(audio),
                text=(row.get("raw_text") or row.get("normalized_text") or "").strip() or None,
                speaker=(row.get("speaker_id") or "").strip() or "unknown",
                gender=GENDERS.get((row.get("gender") or "").strip().lower()),
                lang="pl",
                emotion=emotion,
                emotion_raw=raw,
            ),
            skipped,
        )

"""MSP-Podcast (Lotfian & Busso 2019): podcast segments with consensus labels.

``Labels/labels_consensus.csv`` (older releases spell it ``labels_concensus.csv``) has columns ``FileName,
EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set``. EmoClass codes: A angry, S sad, H happy,
U surprise, F fear, D disgust, C contempt, N neutral, O other, X no agreement (the last two: emotion None).
Act/Val/Dom are on 1-7, mapped to [-1, 1]. Split_Set Train -> train, Development -> dev, Test1/Test2/Test3 ->
test. Audio in ``Audios/`` (or ``Audio/``); transcripts in ``Transcripts/<name>.txt`` when present. Segments of
unknown speaker get the speaker ``podcast<NNNN>`` of their podcast (from ``MSP-PODCAST_<NNNN>_<seg>``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from emovox.data_prep.corpora._common import (
    CorpusError,
    emit,
    label,
    parse_float,
    require_dir,
    scale_to_unit,
    skiplog,
)
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "msppodcast"
CLASSES = {
    "A": "angry", "S": "sad", "H": "happy", "U": "surprise", "F": "fear",
    "D": "disgust", "C": "contempt", "N": "neutral", "O": None, "X": None,
}  # fmt: skip
SPLITS = {
    "train": "train",
    "development": "dev",
    "dev": "dev",
    "test1": "test",
    "test2": "test",
    "test3": "test",
}
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv")


def _find(root: Path, names: tuple[str, ...], where: tuple[str, ...]) -> Path | None:
    for sub in where:
        for name in names:
            if (root / sub / name).exists():
                return root / sub / name
    return None


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every segment listed in the consensus label file."""
    root = require_dir(root, "MSP-Podcast", "Point --root at the release folder (Labels/, Audios/).")
    skipped = skiplog(skipped)
    labels = _find(root, LABEL_FILES, ("Labels", "."))
    if labels is None:
        raise CorpusError(f"MSP-Podcast: no Labels/labels_consensus.csv (or labels_concensus.csv) in {root}")
    audio_dir = _find(root, ("Audios", "Audio"), (".",)) or root / "Audios"
    trans_dir = root / "Transcripts"
    with open(labels, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        name = (row.get("FileName") or "").strip()
        if not name:
            skipped.add(labels, "row without FileName")
            continue
        stem = Path(name).stem
        code = (row.get("EmoClass") or "").strip().upper()
        act, val, dom = (parse_float(row.get(k)) for k in ("EmoAct", "EmoVal", "EmoDom"))
        adv = None
        if None not in (act, val, dom):
            adv = tuple(scale_to_unit(x, 1.0, 7.0) for x in (act, dom, val))
        speaker = (row.get("SpkrID") or "").strip()
        if not speaker or speaker.lower() == "unknown":
            m = re.match(r"MSP-PODCAST_(\d+)_", stem)
            speaker = f"podcast{m.group(1)}" if m else "unknown"
        gender = {"male": "M", "female": "F"}.get((row.get("Gender") or "").strip().lower())
        text = None
        tpath = trans_dir / f"{stem}.txt"
        if tpath.is_file():
            text = " ".join(tpath.read_text(encoding="utf-8", errors="replace").split()) or None
        yield from emit(
            Utterance(
                utt_id=stem,
                audio=str(audio_dir / name),
                text=text,
                speaker=speaker,
                gender=gender,
                lang="en",
                emotion=label(CLASSES[code]) if CLASSES.get(code) else None,
                emotion_raw=code or None,
                adv=adv,
                split=SPLITS.get((row.get("Split_Set") or "").strip().lower()),
            ),
            skipped,
        )

"""CREMA-D (Cao et al. 2014): ``AudioWAV/AAAA_SSS_EEE_LL.wav``.

``AAAA`` actor (1001-1091), ``SSS`` one of 12 sentence codes, ``EEE`` emotion (ANG, DIS, FEA, HAP, NEU, SAD),
``LL`` intended level (LO, MD, HI, XX = unspecified). Levels map LO -> 1/3, MD -> 2/3, HI -> 1, XX -> None
(and None for neutral). Gender comes from ``VideoDemographics.csv`` (``ActorID, Age, Sex, Race, Ethnicity``)
when it is found in the root or its parent. The recording ``1076_MTI_SAD_XX`` is known to be empty and skipped.
No official split.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from emovox.data_prep.corpora._common import emit, find_files, label, require_dir, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "cremad"
SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LEVELS = {"LO": 1 / 3, "MD": 2 / 3, "HI": 1.0, "XX": None}
KNOWN_BAD = {"1076_MTI_SAD_XX": "known empty recording in CREMA-D"}
_NAME_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def read_demographics(root: Path) -> dict[str, str]:
    """Actor id -> "M"/"F" from VideoDemographics.csv in ``root`` or its parent ({} when absent)."""
    for candidate in (root / "VideoDemographics.csv", root.parent / "VideoDemographics.csv"):
        if candidate.is_file():
            with open(candidate, encoding="utf-8-sig", newline="") as fh:
                rows = list(csv.DictReader(fh))
            genders = {}
            for row in rows:
                row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                sex = row.get("sex", "").lower()
                if row.get("actorid") and sex in ("male", "female"):
                    genders[row["actorid"]] = "M" if sex == "male" else "F"
            return genders
    return {}


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every CREMA-D clip under ``root`` (the folder holding ``AudioWAV``, or ``AudioWAV`` itself)."""
    root = require_dir(root, "CREMA-D", "Point --root at the CREMA-D folder (with AudioWAV/) or at AudioWAV.")
    skipped = skiplog(skipped)
    genders = read_demographics(root)
    for path in find_files(root, (".wav",)):
        m = _NAME_RE.match(path.stem)
        if not m:
            skipped.add(path, "name is not AAAA_SSS_EEE_LL")
            continue
        actor, sent, emo, level = m.groups()
        if path.stem in KNOWN_BAD:
            skipped.add(path, KNOWN_BAD[path.stem])
            continue
        if sent not in SENTENCES or emo not in EMOTIONS or level not in LEVELS:
            skipped.add(path, "unknown sentence, emotion or level code")
            continue
        if path.stat().st_size <= 44:
            skipped.add(path, "empty WAV (header only)")
            continue
        emotion = label(EMOTIONS[emo])
        yield from emit(
            Utterance(
                utt_id=path.stem,
                audio=str(path),
                text=SENTENCES[sent],
                speaker=actor,
                gender=genders.get(actor),
                lang="en",
                emotion=emotion,
                emotion_raw=f"{emo}_{level}",
                intensity=None if emotion == "neutral" else LEVELS[level],
            ),
            skipped,
        )

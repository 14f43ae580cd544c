"""TESS (Dupuis & Pichora-Fuller 2010): ``OAF_angry/OAF_back_angry.wav``.

Two female speakers, OAF (aged 64) and YAF (aged 26), say "Say the word <word>" in seven emotions; file names
are ``<speaker>_<word>_<emotion>.wav`` where "ps" means pleasant surprise. Folder names vary in case and spelling
(``OAF_Pleasant_surprise``, ``YAF_pleasant_surprised``), so the file name is authoritative and the folder is
only a fallback for the speaker. No intensity, no official split.
"""

from __future__ import annotations

from collections.abc import Iterator

from emovox.data_prep.corpora._common import emit, find_files, label, require_dir, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "tess"
SPEAKERS = ("OAF", "YAF")
TABLE = {"ps": "surprise", "pleasant_surprise": "surprise", "pleasant_surprised": "surprise"}


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every TESS clip under ``root``."""
    root = require_dir(root, "TESS", "Point --root at the folder holding OAF_angry, YAF_sad, ...")
    skipped = skiplog(skipped)
    for path in find_files(root, (".wav",)):
        parts = path.stem.split("_")
        if len(parts) < 3:
            skipped.add(path, "name is not <speaker>_<word>_<emotion>")
            continue
        speaker = parts[0].upper()
        if speaker not in SPEAKERS:
            folder = path.parent.name.split("_")[0].upper()
            if folder not in SPEAKERS:
                skipped.add(path, f"unknown speaker {parts[0]!r}")
                continue
            speaker = folder
        word, raw = parts[1], "_".join(parts[2:]).lower()
        emotion = label(raw, TABLE)
        if emotion is None:
            skipped.add(path, f"unknown emotion {raw!r}")
            continue
        yield from emit(
            Utterance(
                utt_id=f"{speaker}_{word.lower()}_{raw}",
                audio=str(path),
                text=f"Say the word {word.lower()}",
                speaker=speaker,
                gender="F",
                lang="en",
                emotion=emotion,
                emotion_raw=raw,
            ),
            skipped,
        )

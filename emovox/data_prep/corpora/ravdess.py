"""RAVDESS (Livingstone & Russo 2018): ``Actor_NN/MM-VV-EE-II-SS-RR-AA.wav``.

The seven two-digit fields are modality (01 full-AV, 02 video-only, 03 audio-only), vocal channel (01 speech,
02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised),
intensity (01 normal, 02 strong; neutral has only normal), statement (01 "Kids are talking by the door",
02 "Dogs are sitting by the door"), repetition (01, 02) and actor (01-24; odd actors are male, even female).
Intensity maps normal -> 0.5, strong -> 1.0 (None for neutral). Song files are skipped unless ``include_song``.
There is no official split. Some original files are stereo; feature extraction down-mixes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from emovox.data_prep.corpora._common import emit, find_files, label, require_dir, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "ravdess"
EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip
INTENSITY = {"01": 0.5, "02": 1.0}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
_NAME_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def list_utterances(
    root, skipped: SkipLog | None = None, *, include_song: bool = False
) -> Iterator[Utterance]:
    """Every RAVDESS speech clip under ``root`` (any depth; ``Actor_NN`` folders or flat)."""
    root = require_dir(root, "RAVDESS", "Point --root at the folder holding Actor_01 ... Actor_24.")
    skipped = skiplog(skipped)
    for path in find_files(root, (".wav",)):
        m = _NAME_RE.match(path.stem)
        if not m:
            skipped.add(path, "name is not MM-VV-EE-II-SS-RR-AA")
            continue
        modality, channel, emo, inten, stmt, _rep, actor = m.groups()
        if modality == "02":
            skipped.add(path, "video-only modality (02) has no audio")
            continue
        if channel == "02" and not include_song:
            skipped.add(path, "song (vocal channel 02) left out; pass include_song to keep it")
            continue
        if (
            emo not in EMOTIONS
            or inten not in INTENSITY
            or stmt not in STATEMENTS
            or channel not in ("01", "02")
        ):
            skipped.add(path, "unknown code in file name")
            continue
        raw = EMOTIONS[emo]
        emotion = label(raw)
        yield from emit(
            Utterance(
                utt_id=path.stem,
                audio=str(path),
                text=STATEMENTS[stmt],
                speaker=actor,
                gender="M" if int(actor) % 2 else "F",
                lang="en",
                emotion=emotion,
                emotion_raw=raw if channel == "01" else f"{raw} (song)",
                intensity=None if emotion == "neutral" else INTENSITY[inten],
            ),
            skipped,
        )

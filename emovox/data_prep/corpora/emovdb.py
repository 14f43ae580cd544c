"""EmoV-DB (Adigwe et al. 2018), sorted layout: ``<speaker>/<Emotion>/<emotion>_<a>-<b>_<nnnn>.wav``.

Speakers bea and jenie (female), josh and sam (male); josh recorded only Amused, Neutral and Sleepy. The file
prefix is the raw label (amused, anger, disgust, neutral, sleepiness). The transcripts are not shipped: ``nnnn``
is the CMU ARCTIC sentence ``arctic_a<nnnn>``, whose text is read from ``cmuarctic.data`` (festvox.org/cmu_arctic)
in the root or given as ``arctic_data``. Folders ``<speaker>_<Emotion>`` of the unsorted release also parse.
No intensity, no official split.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emovox.data_prep.corpora._common import CorpusError, emit, find_files, label, require_dir, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "emovdb"
GENDERS = {"bea": "F", "jenie": "F", "josh": "M", "sam": "M"}
TABLE = {
    "sleepiness": "sleepy",
    "amused": "amused",
    "anger": "angry",
    "disgust": "disgust",
    "neutral": "neutral",
}
_NAME_RE = re.compile(r"^([a-z]+)_(\d+)-(\d+)_(\d{4})$", re.IGNORECASE)
_ARCTIC_RE = re.compile(r'^\(\s*arctic_a(\d{4})\s+"(.*)"\s*\)$')


def read_arctic(path: Path) -> dict[str, str]:
    """``nnnn`` -> sentence for the arctic_a prompts of a ``cmuarctic.data`` file."""
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _ARCTIC_RE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    if not out:
        raise CorpusError(f"EmoV-DB: {path} holds no '( arctic_aNNNN \"text\" )' lines")
    return out


def list_utterances(root, skipped: SkipLog | None = None, *, arctic_data=None) -> Iterator[Utterance]:
    """Every EmoV-DB clip under ``root``."""
    root = require_dir(root, "EmoV-DB", "Point --root at EmoV-DB_sorted (bea/, jenie/, josh/, sam/).")
    skipped = skiplog(skipped)
    arctic = Path(arctic_data) if arctic_data else root / "cmuarctic.data"
    if not arctic.is_file():
        raise CorpusError(
            f"EmoV-DB: transcripts come from the CMU ARCTIC prompt list, not found at {arctic}. "
            "Download http://www.festvox.org/cmu_arctic/cmuarctic.data into the root."
        )
    texts = read_arctic(arctic)
    for path in find_files(root, (".wav",)):
        rel = path.relative_to(root).parts
        speaker = next(
            (p.split("_")[0].lower() for p in rel[:-1] if p.split("_")[0].lower() in GENDERS), None
        )
        if speaker is None:
            skipped.add(path, "not inside a bea/jenie/josh/sam folder")
            continue
        m = _NAME_RE.match(path.stem)
        if not m:
            skipped.add(path, "name is not <emotion>_<a>-<b>_<nnnn>")
            continue
        raw, num = m.group(1).lower(), m.group(4)
        emotion = label(raw, TABLE)
        if emotion is None:
            skipped.add(path, f"unknown emotion {raw!r}")
            continue
        if num not in texts:
            skipped.add(path, f"sentence arctic_a{num} not in {arctic.name}")
            continue
        yield from emit(
            Utterance(
                utt_id=f"{speaker}_{path.stem.lower()}",
                audio=str(path),
                text=texts[num],
                speaker=speaker,
                gender=GENDERS[speaker],
                lang="en",
                emotion=emotion,
                emotion_raw=raw,
            ),
            skipped,
        )

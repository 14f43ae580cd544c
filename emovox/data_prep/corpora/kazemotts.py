"""KazEmoTTS (Abilbekov et al. 2024): Kazakh, three narrators, six emotions.

Layout ``<narrator>/<split>/<narrator>_<emotion>_<n>.wav`` with the transcript in the ``.txt`` of the same stem
(UTF-8). Narrators are numeric ids (1263201035, 805570882, 399172782); the release names them F1, M1, M2 but the
id-to-narrator mapping is not documented, so gender is None unless given (``genders={"1263201035": "F"}``).
Splits: ``train`` -> train, ``eval`` -> dev, ``test`` -> test. Emotions in names: neutral, angry, happy, sad,
fear, surprise. No intensity.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from emovox.data_prep.corpora._common import emit, find_files, label, read_text, require_dir, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "kazemotts"
SPLITS = {"train": "train", "eval": "dev", "dev": "dev", "test": "test"}
TABLE = {"scared": "fear", "surprised": "surprise"}
_NAME_RE = re.compile(r"^(\d+)_([a-z]+)_(\d+)$", re.IGNORECASE)


def list_utterances(
    root, skipped: SkipLog | None = None, *, genders: dict[str, str] | None = None
) -> Iterator[Utterance]:
    """Every KazEmoTTS clip with a transcript."""
    root = require_dir(root, "KazEmoTTS", "Point --root at the folder holding the narrator folders.")
    skipped = skiplog(skipped)
    for path in find_files(root, (".wav",)):
        m = _NAME_RE.match(path.stem)
        if not m:
            skipped.add(path, "name is not <narrator>_<emotion>_<n>")
            continue
        narrator, raw = m.group(1), m.group(2).lower()
        emotion = label(raw, TABLE)
        if emotion is None:
            skipped.add(path, f"unknown emotion {raw!r}")
            continue
        txt = path.with_suffix(".txt")
        if not txt.is_file():
            skipped.add(path, "no transcript .txt beside the audio")
            continue
        text = " ".join(read_text(txt, ("utf-8",))[0].split())
        if not text:
            skipped.add(path, "empty transcript")
            continue
        yield from emit(
            Utterance(
                utt_id=path.stem,
                audio=str(path),
                text=text,
                speaker=narrator,
                gender=(genders or {}).get(narrator),
                lang="kk",
                emotion=emotion,
                emotion_raw=raw,
                split=SPLITS.get(path.parent.name.lower()),
            ),
            skipped,
        )

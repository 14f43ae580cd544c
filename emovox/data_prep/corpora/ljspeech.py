"""LJ Speech (Ito & Johnson 2017): ``metadata.csv`` with ``id|text|normalized text`` and ``wavs/<id>.wav``.

One female speaker reading non-fiction. The table contains unbalanced quotation marks, so it is read with
quoting disabled. The normalised column is preferred when present (shortened copies may have only two columns).
Emotion is left None: LJ Speech is unlabelled read speech.
"""

from __future__ import annotations

from collections.abc import Iterator

from emovox.data_prep.corpora._common import CorpusError, emit, read_text, require_dir, skiplog
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "ljspeech"


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every row of ``metadata.csv``."""
    root = require_dir(root, "LJSpeech", "Point --root at LJSpeech-1.1 (metadata.csv, wavs/).")
    skipped = skiplog(skipped)
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise CorpusError(f"LJSpeech: {meta} not found")
    for lineno, line in enumerate(read_text(meta, ("utf-8",))[0].splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].strip():
            skipped.add(f"{meta}:{lineno}", "line is not id|text[|normalized text]")
            continue
        uid = fields[0].strip()
        text = (fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]).strip()
        yield from emit(
            Utterance(
                utt_id=uid,
                audio=str(root / "wavs" / f"{uid}.wav"),
                text=text or None,
                speaker="LJ",
                gender="F",
                lang="en",
            ),
            skipped,
        )

"""ESD, the Emotional Speech Dataset (Zhou et al. 2021): 10 Mandarin (0001-0010) and 10 English (0011-0020)
speakers, five emotions (Neutral, Angry, Happy, Sad, Surprise), 350 parallel sentences each.

Layouts: ``<spk>/<Emotion>/{train,evaluation,test}/<spk>_<nnnnnn>.wav`` (the official release; the folders are
the official split, evaluation -> dev) or ``<spk>/<Emotion>/<spk>_<nnnnnn>.wav`` (flat copies; split left
unassigned). An extra ``Emotion Speech Dataset/`` level above the speakers is allowed. Transcripts are
``<spk>/<spk>.txt`` with ``utt<TAB>text<TAB>emotion`` lines in a per-speaker encoding (gb2312, utf-16, utf-8 or
latin-1, as shipped); lines that do not parse are reported and their utterances skipped. No intensity.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emovox.data_prep.corpora._common import (
    CorpusError,
    emit,
    find_files,
    label,
    read_text,
    require_dir,
    skiplog,
)
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "esd"
EMOTIONS = ("Neutral", "Angry", "Happy", "Sad", "Surprise")
SPLITS = {"train": "train", "evaluation": "dev", "test": "test"}
MALE = {4, 5, 6, 8, 10, 11, 12, 13, 14, 20}
"""Speakers documented as male in the ESD README; the others are female."""
ENCODINGS = {
    **dict.fromkeys((1, 2, 4, 5, 9), "gb2312"),
    **dict.fromkeys((3, 6, 7, 8, 10, 12, 13, 14, 18, 19), "utf-16"),
    **dict.fromkeys((11, 15, 20), "utf-8"),
    **dict.fromkeys((16, 17), "latin-1"),
}
"""The encoding each speaker's transcript ships in, as public ESD processing scripts record it; a BOM wins, and
utf-8, utf-16, gb18030 and latin-1 are tried after it."""
_FALLBACK_ENCODINGS = ("utf-8", "utf-16", "gb18030", "latin-1")
_UTT_RE = re.compile(r"^(\d{4}_\d{6})\s+(.+?)\s+(\S+)$")


def _speaker_root(root: Path) -> Path:
    if any(p.is_dir() and re.fullmatch(r"\d{4}", p.name) for p in root.iterdir()):
        return root
    for child in sorted(root.iterdir()):
        if child.is_dir() and any(p.is_dir() and re.fullmatch(r"\d{4}", p.name) for p in child.iterdir()):
            return child
    raise CorpusError(f"ESD: no speaker folders (0001 ... 0020) in {root} or one level below it")


def read_transcript(path: Path, speaker: int, skipped: SkipLog) -> dict[str, str]:
    """utt_id -> text from one speaker's transcript; unparsable lines are reported in ``skipped``."""
    encodings = (ENCODINGS.get(speaker, "utf-8"), *_FALLBACK_ENCODINGS)
    text, _ = read_text(path, dict.fromkeys(encodings))
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) == 3 and fields[1].strip():
            out[fields[0].strip()] = fields[1].strip()
            continue
        m = _UTT_RE.match(
            line
        )  # some lines use spaces instead of tabs; accept when the last word is an emotion
        if m and (label(m.group(3)) or m.group(3) in _ZH_LABELS):
            out[m.group(1)] = m.group(2).strip()
            continue
        skipped.add(f"{path}:{lineno}", f"transcript line does not parse: {line[:60]!r}")
    return out


_ZH_LABELS = {"中立", "生气", "快乐", "伤心", "惊喜"}


def list_utterances(root, skipped: SkipLog | None = None) -> Iterator[Utterance]:
    """Every ESD clip under ``root``, English and Mandarin."""
    root = require_dir(root, "ESD", "Point --root at the folder holding 0001 ... 0020.")
    skipped = skiplog(skipped)
    spk_root = _speaker_root(root)
    for spk_dir in sorted(p for p in spk_root.iterdir() if p.is_dir() and re.fullmatch(r"\d{4}", p.name)):
        spk = int(spk_dir.name)
        trans_path = spk_dir / f"{spk_dir.name}.txt"
        if not trans_path.is_file():
            skipped.add(spk_dir, "speaker has no transcript file <spk>.txt; its clips are skipped")
            continue
        texts = read_transcript(trans_path, spk, skipped)
        for path in find_files(spk_dir, (".wav",)):
            rel = path.relative_to(spk_dir).parts
            emo_folder = next((p for p in rel[:-1] if p.capitalize() in EMOTIONS), None)
            if emo_folder is None:
                skipped.add(path, "not inside an emotion folder")
                continue
            split = next((SPLITS[p.lower()] for p in rel[:-1] if p.lower() in SPLITS), None)
            text = texts.get(path.stem)
            if text is None:
                skipped.add(path, "no transcript line")
                continue
            yield from emit(
                Utterance(
                    utt_id=path.stem,
                    audio=str(path),
                    text=text,
                    speaker=spk_dir.name,
                    gender="M" if spk in MALE else "F",
                    lang="zh" if spk <= 10 else "en",
                    emotion=label(emo_folder),
                    emotion_raw=emo_folder,
                    split=split,
                ),
                skipped,
            )

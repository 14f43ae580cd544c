"""The ``emovox prep`` pipeline as a library function: parse a corpus, measure durations, filter, split, merge,
and write the manifest, the summary and the Kaldi export."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from emovox.data_prep.corpora import get_corpus
from emovox.data_prep.manifest import (
    SkipLog,
    Utterance,
    assign_splits,
    filter_by_duration,
    merge_manifests,
    read_manifest,
    summary_table,
    write_kaldi,
    write_manifest,
)
from emovox.fileio import atomic_write_text

logger = logging.getLogger(__name__)


@dataclass
class PrepResult:
    utterances: list[Utterance]
    skipped: SkipLog
    summary: str
    out_dir: Path


def measure_durations(utts: Sequence[Utterance], skipped: SkipLog, progress: bool = False) -> list[Utterance]:
    """Fill ``duration`` from each file's header (soundfile.info: no decoding). Unreadable or empty files are
    reported; formats libsndfile cannot open (WebM, M4A) keep duration None and are reported by features."""
    from tqdm import tqdm

    out = []
    for u in tqdm(utts, desc="durations", unit="file", disable=not progress):
        try:
            info = sf.info(u.audio)
        except (sf.LibsndfileError, RuntimeError) as exc:
            if Path(u.audio).suffix.lower() in (".webm", ".m4a", ".opus"):
                out.append(u)
                continue
            skipped.add(u.audio, f"unreadable audio ({str(exc).splitlines()[0][:80]})")
            continue
        if info.frames <= 0 or info.samplerate <= 0:
            skipped.add(u.audio, "audio has no samples")
            continue
        out.append(dataclasses.replace(u, duration=round(info.frames / info.samplerate, 4)))
    return out


def prepare(
    corpus: str,
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    merge: Sequence[str | os.PathLike] = (),
    split_by: str = "utterance",
    dev: float = 0.05,
    test: float = 0.05,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    progress: bool = False,
    options: dict | None = None,
) -> PrepResult:
    """Parse ``corpus`` at ``root`` and write ``manifest.jsonl``, ``summary.txt``, ``skipped.tsv`` and ``kaldi/``
    into ``out_dir``. Manifests in ``merge`` are appended (utt_ids/speakers prefixed on collision)."""
    module = get_corpus(corpus)
    skipped = SkipLog()
    utts = list(module.list_utterances(root, skipped, **(options or {})))
    if not utts:
        raise ValueError(f"{corpus}: no utterances found under {root} ({len(skipped)} items skipped)")
    utts = measure_durations(utts, skipped, progress)
    utts = filter_by_duration(utts, min_seconds, max_seconds, skipped)
    utts = assign_splits(utts, dev=dev, test=test, by=split_by)
    if merge:
        corpora = {module.NAME: utts}
        for path in merge:
            name = Path(path).parent.name or Path(path).stem
            while name in corpora:
                name += "_"
            corpora[name] = read_manifest(path)
        utts = merge_manifests(corpora)
    out = Path(out_dir)
    write_manifest(out / "manifest.jsonl", utts)
    summary = summary_table(utts, skipped)
    atomic_write_text(out / "summary.txt", summary + "\n")
    atomic_write_text(out / "skipped.tsv", "".join(f"{s.item}\t{s.reason}\n" for s in skipped))
    write_kaldi(out / "kaldi", utts)
    return PrepResult(utts, skipped, summary, out)

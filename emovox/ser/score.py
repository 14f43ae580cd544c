"""Score a trained recogniser on a labelled manifest: another corpus, other speakers, other sentences.

Cross-validation (:mod:`emovox.ser.cv`) says how well a recogniser generalises to new speakers of the corpus
it was trained on. :func:`score_manifest` says how far it carries beyond that corpus: the accuracy, the
unweighted average recall (UAR), per-class recall, per-speaker accuracy and the confusion matrix on any
manifest whose ``emotion`` labels it knows (``label_map`` renames a corpus's labels, e.g. IEMOCAP's
``excited`` to ``happy``).

A speaker-normalised feature recogniser judges each speaker against all of that speaker's clips in the
manifest, as it does in cross-validation; a speaker with fewer than ``min_group`` clips is judged against the
average training speaker, and the result names such speakers. Clips with a label the recogniser does not know,
and clips that cannot be read, are counted and left out: they never stop the run.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emovox.audio.io import AudioError
from emovox.ser.cv import FoldResult, score_predictions
from emovox.ser.infer import EmotionRecognizer

__all__ = ["ManifestScore", "format_score", "score_manifest"]

logger = logging.getLogger(__name__)


@dataclass
class ManifestScore:
    """A recogniser's scores on one labelled manifest."""

    emotions: list[str]  # the recogniser's classes; the confusion matrix's rows and columns
    answers: list[str]  # the classes an answer may be: all of them, or those the manifest has (present_only)
    result: FoldResult  # accuracy, UAR, majority baseline, confusion over the scored clips
    recall: dict[str, float]  # per class present in the manifest
    speakers: dict[str, dict[str, float]]  # per speaker: clips and accuracy
    fallback_speakers: list[str] = field(default_factory=list)  # judged by the average training speaker
    skipped: dict[str, int] = field(default_factory=dict)  # why -> clips left out
    unreadable: list[dict[str, str]] = field(default_factory=list)  # audio and the reason

    @property
    def chance(self) -> float:
        return 1.0 / len(self.answers)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "chance": self.chance}


def _label(record: Mapping[str, Any], label_map: Mapping[str, str]) -> str:
    label = str(record["emotion"]).strip().lower()
    return label_map.get(label, label)


def score_manifest(
    rec: EmotionRecognizer,
    records: Sequence[Mapping[str, Any]],
    *,
    label_map: Mapping[str, str] | None = None,
    min_group: int | None = None,
    present_only: bool = False,
    progress: bool = False,
) -> ManifestScore:
    """Predict every labelled clip of ``records`` (manifest rows) and score the predictions.

    Args:
        rec: a loaded recogniser (the feature recogniser or the log-mel CNN).
        records: rows with ``audio``, ``speaker`` and ``emotion``.
        label_map: the manifest's label -> the recogniser's class (lower case), for corpora that name them
            differently.
        min_group: fewest clips of a speaker to normalise it by its own clips (default: the recogniser's own).
        present_only: answer only with the classes the manifest has (the most probable of those), as
            cross-corpus studies do when a corpus lacks some of the recogniser's classes; chance is then one
            over their number.
        progress: show a progress bar while measuring the clips.
    """
    from tqdm import tqdm

    label_map = {k.strip().lower(): v.strip().lower() for k, v in (label_map or {}).items()}
    unknown_targets = sorted(set(label_map.values()) - set(rec.emotions))
    if unknown_targets:
        raise ValueError(
            f"label map targets {', '.join(unknown_targets)} are not classes of the recogniser "
            f"({', '.join(rec.emotions)})"
        )
    if min_group is not None and min_group < 2:
        raise ValueError(
            f"min_group must be at least 2 (a speaker's statistics need two clips), got {min_group}"
        )
    skipped: Counter[str] = Counter()
    kept = []
    for r in records:
        label = _label(r, label_map)
        if label in rec.emotions:
            kept.append((r, label))
        else:
            skipped[f"label {label!r} is not a class of the recogniser"] += 1
    # features are small and are normalised per speaker at the end; the CNN's mels are predicted in batches
    # as they come, so that a large corpus is never held in memory
    features, cnn_results, pending, rows, unreadable = [], [], [], [], []

    def flush() -> None:
        cnn_results.extend(rec.predict_batch(pending))
        pending.clear()

    for r, label in tqdm(kept, desc="SER test", unit="clip", disable=not progress):
        try:
            x = rec.features([r["audio"]])[0] if rec.type == "features" else rec.mel(r["audio"])
        except (AudioError, OSError, ValueError) as exc:
            unreadable.append({"audio": str(r["audio"]), "reason": str(exc)})
            continue
        (features if rec.type == "features" else pending).append(x)
        rows.append((str(r["speaker"]), label))
        if len(pending) == 32:
            flush()
    if pending:
        flush()
    if unreadable:
        skipped["audio could not be read"] = len(unreadable)
        logger.warning("%d clip(s) could not be read and were left out (first: %s: %s)",
                       len(unreadable), unreadable[0]["audio"], unreadable[0]["reason"])  # fmt: skip
    if not rows:
        raise ValueError(
            "no clip to score: " + ("; ".join(f"{k}: {v}" for k, v in skipped.items()) or "empty")
        )
    speakers = [s for s, _ in rows]
    per_speaker = Counter(speakers)
    saved = rec.min_group
    if min_group is not None:
        rec.min_group = min_group
    try:
        fallback = (
            sorted(s for s, n in per_speaker.items() if n < rec.min_group and s not in rec.references)
            if rec.speaker_normalised
            else []
        )
        if rec.type == "features":
            results = rec.predict_features(np.stack(features), speakers=speakers)
        else:
            results = cnn_results
    finally:
        rec.min_group = saved
    index = {e: i for i, e in enumerate(rec.emotions)}
    answers = (
        [e for e in rec.emotions if any(label == e for _, label in rows)] if present_only else rec.emotions
    )
    true = [index[label] for _, label in rows]
    pred = [index[max(answers, key=r.probs.__getitem__)] for r in results]
    result = score_predictions("manifest", list(rec.emotions), true, pred)
    hits: dict[str, list[bool]] = defaultdict(list)
    for (spk, _), t, p in zip(rows, true, pred):
        hits[spk].append(t == p)
    return ManifestScore(
        emotions=list(rec.emotions),
        answers=list(answers),
        result=result,
        recall={
            e: row[i] / sum(row) for i, (e, row) in enumerate(zip(rec.emotions, result.confusion)) if sum(row)
        },
        speakers={s: {"clips": len(h), "accuracy": float(np.mean(h))} for s, h in sorted(hits.items())},
        fallback_speakers=fallback,
        skipped=dict(skipped),
        unreadable=unreadable,
    )


def format_score(score: ManifestScore) -> str:
    """The summary line, per-class recall and the confusion matrix (rows: the true classes present)."""
    r = score.result
    lines = [
        f"accuracy {r.accuracy:.3f}, UAR {r.uar:.3f} over {r.n_test} clips "
        f"of {len(score.speakers)} speaker(s) "
        f"(chance {score.chance:.3f}, majority class {r.majority_baseline:.3f}, {len(score.answers)} classes)"
    ]
    if score.answers != score.emotions:
        lines.append("answers among the manifest's classes only: " + ", ".join(score.answers))
    if score.fallback_speakers:
        lines.append(
            "judged by the average training speaker (too few clips to normalise by their own): "
            + ", ".join(score.fallback_speakers)
        )
    for why, n in score.skipped.items():
        lines.append(f"left out: {n} clip(s), {why}")
    acc = {s: v["accuracy"] for s, v in score.speakers.items()}
    if len(acc) <= 12:
        lines.append("accuracy per speaker: " + ", ".join(f"{s} {a:.2f}" for s, a in acc.items()))
    else:
        lo, hi = min(acc, key=acc.__getitem__), max(acc, key=acc.__getitem__)
        lines.append(
            f"accuracy per speaker: lowest {acc[lo]:.2f} ({lo}), median {np.median(list(acc.values())):.2f}, "
            f"highest {acc[hi]:.2f} ({hi})"
        )
    corner = "true \\ heard"
    width = max(len(corner), *(len(e) for e in score.emotions))
    col = max(7, *(len(e) for e in score.emotions))
    lines.append("")
    lines.append(f"{corner:<{width}} " + " ".join(f"{e:>{col}}" for e in score.emotions) + "   recall")
    for i, e in enumerate(score.emotions):
        row = r.confusion[i]
        if sum(row) == 0:
            continue
        lines.append(f"{e:<{width}} " + " ".join(f"{n:>{col}}" for n in row) + f"   {score.recall[e]:.3f}")
    return "\n".join(lines)

"""Cross-validation of the speech-emotion recognisers, by held-out groups of speakers (or any manifest field).

:func:`cross_validate` (the log-mel CNN): for each value of the grouping field (``speaker`` by default; any manifest field works, e.g. ``gender``), a
recogniser is trained on every other group with the engine and tested on the held-out one. The report gives per
fold the accuracy, the unweighted average recall (UAR, the mean of per-class recalls), the majority-class
baseline, the confusion matrix and, where targets exist, the Pearson correlation of each predicted ADV axis with
its target; and the mean over folds against chance (1 / number of classes).

:func:`cross_validate_features` (the feature recogniser of :mod:`emovox.ser.fit`): the same report, with folds of
``group_size`` groups each (e.g. 6 folds of 2 actors for 12 actors), features computed once for all folds, and
the held-out clips predicted exactly as :class:`~emovox.ser.infer.EmotionRecognizer` does (speaker-normalised
models normalise each held-out speaker against its own clips).
"""

from __future__ import annotations

import copy
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emovox.emotion.labels import ADV_AXES, CANONICAL
from emovox.engine import train
from emovox.ser.data import MelProvider
from emovox.ser.fit import FitConfig
from emovox.ser.infer import EmotionRecognizer
from emovox.ser.train import (
    SERConfig,
    adv_target,
    build_task,
    make_provider,
    resolve_emotions,
    select_records,
)

__all__ = [
    "CVResult",
    "FoldResult",
    "cross_validate",
    "cross_validate_features",
    "fold_groups",
    "format_cv",
    "score_predictions",
]

logger = logging.getLogger(__name__)


@dataclass
class FoldResult:
    """Scores of one held-out group."""

    held_out: str
    n_test: int
    accuracy: float
    uar: float  # unweighted average recall over the classes present in the fold
    majority_baseline: float  # accuracy of always answering the fold's most frequent class
    confusion: list[list[int]]  # [true class][predicted class], classes in CVResult.emotions order
    adv_pearson: dict[str, float | None] = field(default_factory=dict)  # per axis, None when undefined


@dataclass
class CVResult:
    """All folds and their means."""

    fold_by: str
    emotions: list[str]
    folds: list[FoldResult]
    chance: float

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean([f.accuracy for f in self.folds]))

    @property
    def std_accuracy(self) -> float:
        return float(np.std([f.accuracy for f in self.folds]))

    @property
    def mean_uar(self) -> float:
        return float(np.mean([f.uar for f in self.folds]))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(mean_accuracy=self.mean_accuracy, std_accuracy=self.std_accuracy, mean_uar=self.mean_uar)
        return d


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def score_predictions(
    held_out: str,
    emotions: list[str],
    true: list[int],
    pred: list[int],
    adv_true: np.ndarray | None = None,
    adv_pred: np.ndarray | None = None,
) -> FoldResult:
    """Accuracy, UAR, majority baseline, confusion and ADV correlations of one fold."""
    n = len(emotions)
    conf = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(true, pred):
        conf[t, p] += 1
    support = conf.sum(1)
    recalls = [conf[i, i] / support[i] for i in range(n) if support[i] > 0]
    adv: dict[str, float | None] = {}
    if adv_true is not None and adv_pred is not None and len(adv_true):
        adv = {axis: _pearson(adv_true[:, i], adv_pred[:, i]) for i, axis in enumerate(ADV_AXES)}
    return FoldResult(
        held_out=held_out,
        n_test=len(true),
        accuracy=float(np.trace(conf) / max(1, len(true))),
        uar=float(np.mean(recalls)) if recalls else 0.0,
        majority_baseline=float(support.max() / max(1, len(true))),
        confusion=conf.tolist(),
        adv_pearson=adv,
    )


def cross_validate(
    records: list[dict[str, Any]],
    cfg: SERConfig,
    out_dir: str | os.PathLike,
    *,
    fold_by: str = "speaker",
    groups: list[str] | None = None,
    provider: MelProvider | None = None,
) -> CVResult:
    """Leave-one-``fold_by``-out cross-validation; each fold's run lives in ``out_dir/fold_<group>``.

    Args:
        records: manifest records (``cfg.data`` filters still apply to the training side).
        cfg: the recogniser config used for every fold (the class list is fixed over all folds first).
        out_dir: folder for the fold runs (re-running resumes finished folds instantly).
        fold_by: the manifest field whose values form the folds.
        groups: only these held-out values (default: every value present).
        provider: mel provider shared by all folds (default: :func:`~emovox.ser.train.make_provider`).
    """
    usable = [r for r in select_records(records, cfg.data) if r.get(fold_by) is not None]
    emotions = resolve_emotions(usable, cfg.data)
    usable = [r for r in usable if r["emotion"] in emotions]
    values = sorted({str(r[fold_by]) for r in usable})
    if groups:
        unknown = sorted(set(groups) - set(values))
        if unknown:
            raise ValueError(f"no records with {fold_by} {', '.join(unknown)}; values: {', '.join(values)}")
        values = list(groups)
    if len(values) < 2 and not groups:
        raise ValueError(f"cross-validation by '{fold_by}' needs at least 2 groups, found {values}")
    provider = provider or make_provider(cfg)
    index = {e: i for i, e in enumerate(emotions)}
    folds = []
    for value in values:
        fold_cfg = copy.deepcopy(cfg)
        fold_cfg.data.emotions = list(emotions)
        train_recs = [r for r in usable if str(r[fold_by]) != value]
        test_recs = [r for r in usable if str(r[fold_by]) == value]
        run_dir = Path(out_dir) / f"fold_{value}"
        train(build_task(fold_cfg, records=train_recs, provider=provider), run_dir)
        rec = EmotionRecognizer.load(run_dir / "model.safetensors")
        results = rec.predict_batch([provider(r) for r in test_recs])
        targets = [adv_target(r, cfg.data.adv_from_anchor) for r in test_recs]
        has = np.array([h for _, h in targets], dtype=bool)
        adv_true = np.array([a for a, _ in targets], dtype=np.float64)[has]
        adv_pred = np.array([r.adv for r in results], dtype=np.float64)[has]
        fold = score_predictions(
            value,
            emotions,
            [index[r["emotion"]] for r in test_recs],
            [index[r.label] for r in results],
            adv_true,
            adv_pred,
        )
        logger.info("fold %s=%s: accuracy %.3f (n=%d)", fold_by, value, fold.accuracy, fold.n_test)
        folds.append(fold)
    return CVResult(fold_by=fold_by, emotions=emotions, folds=folds, chance=1.0 / len(emotions))


def fold_groups(values: Sequence[str], group_size: int) -> list[list[str]]:
    """Sorted ``values`` in consecutive chunks of ``group_size`` (the last chunk may be smaller)."""
    if group_size < 1:
        raise ValueError("group_size must be >= 1")
    values = sorted(values)
    return [values[i : i + group_size] for i in range(0, len(values), group_size)]


def cross_validate_features(
    records: list[dict[str, Any]],
    x: np.ndarray,
    cfg: FitConfig,
    *,
    fold_by: str = "speaker",
    group_size: int = 1,
    emotions: Sequence[str] | None = None,
) -> CVResult:
    """Cross-validation of the feature recogniser on precomputed features ``x [N, F]`` of ``records``.

    Each fold holds out ``group_size`` values of ``fold_by`` (see :func:`fold_groups`), fits on the rest with
    :func:`~emovox.ser.fit.fit_recogniser` and scores the held-out clips; the fold is named ``"a+b"``.
    """
    from emovox.ser.fit import fit_recogniser
    from emovox.ser.infer import EmotionRecognizer

    if len(x) != len(records):
        raise ValueError(f"{len(x)} feature rows for {len(records)} records")
    usable = np.array([r.get("emotion") and r.get(fold_by) is not None for r in records], dtype=bool)
    records = [r for r, u in zip(records, usable) if u]
    x = np.asarray(x)[usable]
    if emotions is None:
        order = {name: i for i, name in enumerate(CANONICAL)}
        emotions = sorted({r["emotion"] for r in records}, key=lambda e: (order.get(e, 99), e))
    emotions = list(emotions)
    index = {e: i for i, e in enumerate(emotions)}
    values = sorted({str(r[fold_by]) for r in records})
    folds_def = fold_groups(values, group_size)
    if len(folds_def) < 2:
        raise ValueError(f"cross-validation by '{fold_by}' needs at least 2 folds; values: {values}")
    folds = []
    for held in folds_def:
        test = np.array([str(r[fold_by]) in held and r["emotion"] in index for r in records], dtype=bool)
        train_ix = np.flatnonzero(~test)
        test_ix = np.flatnonzero(test)
        fitted = fit_recogniser(x[train_ix], [records[i] for i in train_ix], cfg, emotions=emotions)
        rec = EmotionRecognizer.from_fitted(fitted)
        test_recs = [records[i] for i in test_ix]
        results = rec.predict_features(x[test_ix], speakers=[str(r["speaker"]) for r in test_recs])
        targets = [adv_target(r, cfg.adv_from_anchor) for r in test_recs]
        has = np.array([h for _, h in targets], dtype=bool)
        fold = score_predictions(
            "+".join(held),
            emotions,
            [index[r["emotion"]] for r in test_recs],
            [index[r.label] for r in results],
            np.array([a for a, _ in targets], dtype=np.float64)[has],
            np.array([r.adv for r in results], dtype=np.float64)[has],
        )
        logger.info("fold %s=%s: accuracy %.3f (n=%d)", fold_by, fold.held_out, fold.accuracy, fold.n_test)
        folds.append(fold)
    return CVResult(fold_by=fold_by, emotions=emotions, folds=folds, chance=1.0 / len(emotions))


def format_cv(result: CVResult) -> str:
    """A plain-text table of the folds and the means."""
    lines = [f"{result.fold_by:<14} {'n':>4} {'acc':>6} {'UAR':>6} {'major':>6}   arousal r  valence r"]
    for f in result.folds:
        ar, va = f.adv_pearson.get("arousal"), f.adv_pearson.get("valence")
        lines.append(
            f"{f.held_out:<14} {f.n_test:>4} {f.accuracy:>6.3f} {f.uar:>6.3f} {f.majority_baseline:>6.3f}"
            f"   {_fmt(ar):>9}  {_fmt(va):>9}"
        )
    lines.append(
        f"{'mean':<14} {sum(f.n_test for f in result.folds):>4} {result.mean_accuracy:>6.3f} "
        f"{result.mean_uar:>6.3f}   (std {result.std_accuracy:.3f}; chance {result.chance:.3f}, "
        f"{len(result.emotions)} classes)"
    )
    counts = Counter()
    for f in result.folds:
        counts.update({e: sum(row) for e, row in zip(result.emotions, f.confusion)})
    lines.append("classes: " + ", ".join(f"{e} ({counts[e]})" for e in result.emotions))
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:+.3f}"

"""Correlation helpers that tolerate the data an evaluation produces (NaNs, constants, few points).

Every function returns ``nan`` instead of raising when the statistic is undefined (fewer than three finite
pairs, or a constant input), so a report can print "n/a" and go on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

__all__ = ["centred_by_group", "finite_pairs", "pearson", "slope", "spearman"]

ArrayLike = Sequence[float] | np.ndarray


def finite_pairs(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of ``x`` and ``y`` where both are finite (float64 copies)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same shape, got {xa.shape} and {ya.shape}")
    ok = np.isfinite(xa) & np.isfinite(ya)
    return xa[ok], ya[ok]


def finite_mean(values: ArrayLike) -> float:
    """Mean of the finite values; NaN (silently) when there are none, e.g. F0 of an unvoiced rendering."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson's r over the finite pairs; nan with < 3 pairs or a constant side."""
    xa, ya = finite_pairs(x, y)
    if xa.size < 3:
        return math.nan
    xc, yc = xa - xa.mean(), ya - ya.mean()
    denom = math.sqrt(float(xc @ xc) * float(yc @ yc))
    if denom <= 1e-12 * max(1.0, float(np.abs(xa).max()) * float(np.abs(ya).max())):
        return math.nan
    return float(np.clip((xc @ yc) / denom, -1.0, 1.0))


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's ρ: Pearson's r of the ranks (ties get their average rank)."""
    xa, ya = finite_pairs(x, y)
    if xa.size < 3:
        return math.nan
    return pearson(rankdata(xa), rankdata(ya))


def slope(x: ArrayLike, y: ArrayLike) -> float:
    """Least-squares slope of ``y`` on ``x`` (units of y per unit of x); nan when x is constant."""
    xa, ya = finite_pairs(x, y)
    if xa.size < 2:
        return math.nan
    xc = xa - xa.mean()
    sxx = float(xc @ xc)
    if sxx <= 0.0:
        return math.nan
    return float(xc @ (ya - ya.mean())) / sxx


def centred_by_group(values: ArrayLike, groups: Sequence[object]) -> np.ndarray:
    """``values`` minus the mean (over finite values) of their group, e.g. of their sentence.

    Removing each sentence's own level before correlating keeps sentence-to-sentence differences (one
    sentence is simply higher than another) from drowning the effect of the control being measured.
    """
    v = np.asarray(values, dtype=np.float64).copy()
    if len(groups) != v.shape[0]:
        raise ValueError(f"{v.shape[0]} values but {len(groups)} group labels")
    index: dict[object, int] = {}
    keys = np.asarray([index.setdefault(g, len(index)) for g in groups])
    for key in range(len(index)):
        sel = keys == key
        finite = sel & np.isfinite(v)
        v[sel] -= v[finite].mean() if finite.any() else 0.0
    return v

"""Mel-cepstral distortion with DTW, and F0 RMSE after the same alignment.

**Cepstra.** emovox has no SPTK mel-cepstral analysis (pysptk is not a dependency), so the cepstra are computed
from the HiFi-GAN log-mel spectrogram, read as a log spectrum sampled at ``N`` (= 80) points of a mel-warped
frequency axis: ``c_k = DCT-II(log_mel)_k / (2N)``, the scaling under which ``log_mel[n] = c_0 + 2·Σ_k c_k·
cos(πk(n + ½)/N)`` — the usual definition of a (mel-)cepstrum, so that distances are on the scale of other
papers' MCDs rather than the ≈ 2·sqrt(N/2) times larger scale of orthonormal-DCT MFCCs. ``c_1 … c_K`` are
kept (``K = 24`` by default); ``c_0``, the overall level, is excluded so that loudness does not count. The
log-mel is the natural log of mel-filtered *magnitudes*, as SPTK mel-cepstra are of the amplitude spectrum;
the mel filterbank smooths differently from an all-pass warped cepstrum, so compare MCDs within emovox.

**MCD** (Kubichek 1993) of aligned frame pairs: ``(10 / ln 10) · sqrt(2 · Σ_k (c_k − c'_k)²)`` dB, averaged over
the DTW path. **DTW**: symmetric steps (1,0), (0,1), (1,1) with unit weights on the Euclidean distance between
cepstral frames, the full path from (0, 0) to (N−1, M−1).

**F0 RMSE**: ``sqrt(mean((1200 · log2(f0_syn / f0_ref))²))`` cents over the path pairs voiced in both (F0 on
the mel frame grid, so the mel-cepstral path applies to it), plus the voicing decision error over the path.

The DTW kernel is Numba (numpy in, numpy out); :func:`dtw_reference` is the slow pure-Python definition
the tests compare it with. Evaluation aligns a handful of pairs at a time, so there is no batched kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.fft import dct

import emovox.audio._numba  # noqa: F401  (threading layer; see there)

__all__ = [
    "McdResult",
    "dtw",
    "dtw_reference",
    "f0_rmse_cents",
    "mel_cepstral_distortion",
    "mel_cepstrum",
]

MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)


def mel_cepstrum(log_mel: np.ndarray, n_coeffs: int = 24) -> np.ndarray:
    """Cepstra ``[T, n_coeffs]`` (``c_1 … c_K``) of a natural-log mel spectrogram ``[n_mels, T]``."""
    lm = np.asarray(log_mel, dtype=np.float64)
    if lm.ndim != 2:
        raise ValueError(f"expected a log-mel [n_mels, T], got shape {lm.shape}")
    if not 1 <= n_coeffs < lm.shape[0]:
        raise ValueError(f"n_coeffs must be in [1, {lm.shape[0] - 1}] for {lm.shape[0]} mel bands")
    c = dct(lm, type=2, axis=0) / (2.0 * lm.shape[0])
    return np.ascontiguousarray(c[1 : n_coeffs + 1].T)


@njit(cache=True)
def _dtw_kernel(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Accumulated-cost DTW of ``x`` ``[N, D]`` and ``y`` ``[M, D]``; returns (total cost, path ``[L, 2]``)."""
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    acc = np.full((n, m), np.inf)
    for i in range(n):
        for j in range(m):
            s = 0.0
            for k in range(d):
                diff = x[i, k] - y[j, k]
                s += diff * diff
            cost = math.sqrt(s)
            if i == 0 and j == 0:
                acc[i, j] = cost
                continue
            best = np.inf
            if i > 0 and j > 0:
                best = acc[i - 1, j - 1]
            if i > 0 and acc[i - 1, j] < best:
                best = acc[i - 1, j]
            if j > 0 and acc[i, j - 1] < best:
                best = acc[i, j - 1]
            acc[i, j] = cost + best
    path = np.empty((n + m, 2), dtype=np.int64)
    i, j, length = n - 1, m - 1, 0
    while True:
        path[length, 0] = i
        path[length, 1] = j
        length += 1
        if i == 0 and j == 0:
            break
        # Tie-break order diagonal, then i-1, then j-1 (the reference uses the same order).
        if i > 0 and j > 0:
            bi, bj, best = i - 1, j - 1, acc[i - 1, j - 1]
        elif i > 0:
            bi, bj, best = i - 1, j, acc[i - 1, j]
        else:
            bi, bj, best = i, j - 1, acc[i, j - 1]
        if i > 0 and j > 0 and acc[i - 1, j] < best:
            bi, bj, best = i - 1, j, acc[i - 1, j]
        if i > 0 and j > 0 and acc[i, j - 1] < best:
            bi, bj, best = i, j - 1, acc[i, j - 1]
        i, j = bi, bj
    return acc[n - 1, m - 1], path[:length][::-1].copy()


def _check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xa = np.ascontiguousarray(x, dtype=np.float64)
    ya = np.ascontiguousarray(y, dtype=np.float64)
    if xa.ndim != 2 or ya.ndim != 2 or xa.shape[1] != ya.shape[1]:
        raise ValueError(f"DTW needs [N, D] and [M, D] with the same D, got {xa.shape} and {ya.shape}")
    if xa.shape[0] == 0 or ya.shape[0] == 0:
        raise ValueError("DTW needs at least one frame on each side")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise ValueError("DTW inputs contain NaN or infinite values")
    return xa, ya


def dtw(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Align ``x`` ``[N, D]`` with ``y`` ``[M, D]`` (Euclidean frame distance).

    Returns:
        ``(total_cost, path)``; ``path`` ``[L, 2]`` int64 rows ``(i, j)`` from ``(0, 0)`` to ``(N-1, M-1)``.
    """
    xa, ya = _check_pair(x, y)
    cost, path = _dtw_kernel(xa, ya)
    return float(cost), path


def dtw_reference(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Slow pure-Python DTW with the same definition and tie-breaking as :func:`dtw` (tests only)."""
    xa, ya = _check_pair(x, y)
    n, m = len(xa), len(ya)
    acc = [[math.inf] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            cost = math.sqrt(sum((a - b) ** 2 for a, b in zip(xa[i], ya[j])))
            prev = [] if i == j == 0 else [acc[p][q] for p, q in ((i - 1, j - 1), (i - 1, j), (i, j - 1))
                                            if p >= 0 and q >= 0]  # fmt: skip
            acc[i][j] = cost + (min(prev) if prev else 0.0)
    path = [(n - 1, m - 1)]
    i, j = n - 1, m - 1
    while (i, j) != (0, 0):
        moves = [(p, q) for p, q in ((i - 1, j - 1), (i - 1, j), (i, j - 1)) if p >= 0 and q >= 0]
        best = moves[0]
        for mv in moves[1:]:
            if acc[mv[0]][mv[1]] < acc[best[0]][best[1]]:
                best = mv
        i, j = best
        path.append(best)
    return acc[n - 1][m - 1], np.asarray(path[::-1], dtype=np.int64)


@dataclass
class McdResult:
    """MCD of one pair: ``mcd_db`` averaged over the ``path`` ``[L, 2]`` (reference frame, synthesised frame)."""

    mcd_db: float
    path: np.ndarray
    n_ref: int
    n_syn: int


def mel_cepstral_distortion(
    ref_log_mel: np.ndarray, syn_log_mel: np.ndarray, n_coeffs: int = 24
) -> McdResult:
    """DTW-aligned MCD (dB) between two log-mels ``[n_mels, T_ref]`` and ``[n_mels, T_syn]``."""
    if np.shape(ref_log_mel)[0] != np.shape(syn_log_mel)[0]:
        raise ValueError(
            f"the two mels have different band counts: {np.shape(ref_log_mel)[0]} vs {np.shape(syn_log_mel)[0]}"
        )
    c_ref, c_syn = mel_cepstrum(ref_log_mel, n_coeffs), mel_cepstrum(syn_log_mel, n_coeffs)
    _, path = dtw(c_ref, c_syn)
    diff = c_ref[path[:, 0]] - c_syn[path[:, 1]]
    per_frame = MCD_SCALE * np.sqrt(np.sum(diff * diff, axis=1))
    return McdResult(float(per_frame.mean()), path, c_ref.shape[0], c_syn.shape[0])


def f0_rmse_cents(f0_ref: np.ndarray, f0_syn: np.ndarray, path: np.ndarray | None = None) -> dict[str, float]:
    """F0 error over aligned frames (``path`` from the MCD; None = frame by frame, equal lengths).

    Returns:
        ``rmse_cents`` over pairs voiced in both (nan when none), ``bias_cents`` (mean signed error,
        synthesised minus reference), ``vuv_error`` (fraction of pairs whose voicing decisions differ) and
        ``n_voiced`` (pairs voiced in both).
    """
    a, b = np.asarray(f0_ref, dtype=np.float64), np.asarray(f0_syn, dtype=np.float64)
    if path is None:
        if a.shape != b.shape:
            raise ValueError(
                f"without a path the F0 tracks must have equal lengths, got {a.shape} and {b.shape}"
            )
        path = np.stack([np.arange(a.shape[0]), np.arange(a.shape[0])], axis=1)
    path = np.asarray(path)
    if path.size and (path[:, 0].max() >= a.shape[0] or path[:, 1].max() >= b.shape[0]):
        raise ValueError("the alignment path points past the end of an F0 track")
    pa, pb = a[path[:, 0]], b[path[:, 1]]
    both = (pa > 0) & (pb > 0)
    cents = 1200.0 * np.log2(pb[both] / pa[both])
    return {
        "rmse_cents": float(np.sqrt(np.mean(cents**2))) if cents.size else math.nan,
        "bias_cents": float(cents.mean()) if cents.size else math.nan,
        "vuv_error": float(np.mean((pa > 0) != (pb > 0))) if path.size else math.nan,
        "n_voiced": int(both.sum()),
    }

"""Alignment and duration kernels in Numba: monotonic alignment search and phone-level averaging.

* :func:`maximum_path` — the monotonic alignment search (MAS) of Glow-TTS (Kim et al. 2020, sec. 3.2; reused by
  VITS): the monotonic, surjective path through a ``[T_text, T_mel]`` log-likelihood matrix that maximises the
  summed log-likelihood, by dynamic programming ``Q[x, y] = max(Q[x, y-1], Q[x-1, y-1]) + log_p[x, y]`` and a
  backtrack. Ties keep the current text position (as the reference Glow-TTS implementation does).
* :func:`average_by_duration` — FastPitch-style (Łańcucki 2021) phone-level averages of a frame-level feature
  given integer durations; pitch is averaged over its voiced (non-zero) frames only.

Kernels are numpy in, numpy out, ``@njit(cache=True)`` per item and ``parallel=True`` + ``prange`` over a batch,
compiled on first use. ``tests/kernel_reference.py`` holds the slow references the tests compare against.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

__all__ = ["average_by_duration", "durations_from_path", "maximum_path", "maximum_path_numpy"]


@njit(cache=True)
def _mas_single(value, t_x, t_y, path):
    """MAS for one item: ``value[:t_x, :t_y]`` log-likelihoods -> 1s along the best path in ``path``.

    Row by row (text position ``x``), each row only over the frames a monotonic surjective path can reach,
    ``x <= y <= t_y - t_x + x``; the cumulative scores are float64. Requires ``1 <= t_x <= t_y``.
    """
    acc = np.empty((t_x, t_y), dtype=np.float64)
    width = t_y - t_x  # each row spans width + 1 frames
    run = 0.0
    for y in range(width + 1):
        run += value[0, y]
        acc[0, y] = run
    for x in range(1, t_x):
        prev = acc[x - 1]
        row = acc[x]
        vrow = value[x]
        row[x] = prev[x - 1] + vrow[x]  # first reachable frame: must come from the row below
        for y in range(x + 1, x + width + 1):
            stay = row[y - 1]
            move = prev[y - 1]
            row[y] = (stay if stay >= move else move) + vrow[y]
    index = t_x - 1
    for y in range(t_y - 1, -1, -1):
        path[index, y] = 1
        if index > 0 and (index == y or acc[index, y - 1] < acc[index - 1, y - 1]):
            index -= 1


@njit(cache=True, parallel=True)
def _mas_batch(value, t_xs, t_ys, path):
    """MAS over a batch: ``value [B, T_x, T_y]``, lengths ``[B]`` -> ``path [B, T_x, T_y]`` (zeroed first)."""
    for b in prange(value.shape[0]):
        if t_xs[b] > 0 and t_ys[b] > 0:
            _mas_single(value[b], t_xs[b], t_ys[b], path[b])


def maximum_path_numpy(value: np.ndarray, t_x: np.ndarray, t_y: np.ndarray) -> np.ndarray:
    """Numpy interface of MAS.

    Args:
        value: ``[B, T_text, T_mel]`` float32/float64 log-likelihoods (entries outside the lengths are ignored).
        t_x: ``[B]`` text lengths; t_y: ``[B]`` mel lengths, with ``t_x <= t_y`` per item.

    Returns:
        ``[B, T_text, T_mel]`` uint8 hard alignment: exactly one 1 per mel frame inside the lengths.
    """
    value = np.ascontiguousarray(value)
    if value.ndim != 3 or value.dtype not in (np.float32, np.float64):
        raise ValueError(f"MAS needs a float32/float64 [B, T_text, T_mel] array, got {value.dtype} {value.shape}")
    t_x = np.asarray(t_x, dtype=np.int64)
    t_y = np.asarray(t_y, dtype=np.int64)
    b, tx_max, ty_max = value.shape
    if t_x.shape != (b,) or t_y.shape != (b,):
        raise ValueError(f"MAS needs {b} text and mel lengths, got shapes {t_x.shape} and {t_y.shape}")
    if (t_x < 0).any() or (t_x > tx_max).any() or (t_y < 0).any() or (t_y > ty_max).any():
        raise ValueError("MAS lengths must lie between 0 and the padded sizes")
    if (t_x > t_y).any():
        bad = int(np.argmax(t_x > t_y))
        raise ValueError(
            f"item {bad} has more text tokens ({t_x[bad]}) than mel frames ({t_y[bad]}): no monotonic alignment"
        )
    for i in np.flatnonzero((t_x > 0) & (t_y > 0)):
        if np.isnan(value[i, : t_x[i], : t_y[i]]).any():
            raise ValueError(f"item {i} has NaN log-likelihoods")
    path = np.zeros(value.shape, dtype=np.uint8)
    _mas_batch(value, t_x, t_y, path)
    return path


def maximum_path(log_p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Monotonic alignment search on tensors (the aligner of Glow-TTS / VITS).

    Args:
        log_p: ``[B, T_text, T_mel]`` log-likelihood of each mel frame under each text token.
        mask: ``[B, T_text, T_mel]`` 1 inside (text length x mel length), 0 in the padding (bool or float).

    Returns:
        ``[B, T_text, T_mel]`` hard alignment with ``log_p``'s dtype and device; sum over ``T_text`` is 1 for
        every valid mel frame and 0 in the padding. No gradient flows through it.

    Raises:
        ValueError: shapes differ, or an item has more text tokens than mel frames.
    """
    if log_p.shape != mask.shape or log_p.dim() != 3:
        raise ValueError(f"log_p and mask must both be [B, T_text, T_mel], got {tuple(log_p.shape)} and {tuple(mask.shape)}")
    with torch.no_grad():
        m = mask.detach().to("cpu", torch.bool)
        t_x = m[:, :, 0].sum(1).numpy() if m.shape[2] else np.zeros(m.shape[0], np.int64)
        t_y = m[:, 0, :].sum(1).numpy() if m.shape[1] else np.zeros(m.shape[0], np.int64)
        value = log_p.detach().to("cpu", torch.float32).numpy()
        path = maximum_path_numpy(value, t_x, t_y)
    return torch.from_numpy(path).to(device=log_p.device, dtype=log_p.dtype)


def durations_from_path(path: torch.Tensor | np.ndarray) -> np.ndarray:
    """Durations ``[B, T_text]`` (frames per token, int64) of a hard alignment ``[B, T_text, T_mel]``."""
    if isinstance(path, torch.Tensor):
        path = path.detach().cpu().numpy()
    return np.asarray(path).sum(axis=-1).astype(np.int64)


@njit(cache=True)
def _average_single(values, durations, skip_zeros, out):
    """Mean of ``values`` over each token's frames (over its non-zero frames if ``skip_zeros``); 0 if none."""
    pos = 0
    for k in range(durations.shape[0]):
        total = 0.0
        count = 0
        for j in range(pos, pos + durations[k]):
            v = values[j]
            if not skip_zeros or v != 0.0:
                total += v
                count += 1
        out[k] = total / count if count > 0 else 0.0
        pos += durations[k]


@njit(cache=True, parallel=True)
def _average_batch(values, durations, skip_zeros, out):
    """:func:`_average_single` over a batch: ``values [B, T]``, ``durations [B, N]`` -> ``out [B, N]``."""
    for b in prange(values.shape[0]):
        _average_single(values[b], durations[b], skip_zeros, out[b])


def average_by_duration(
    values: np.ndarray | torch.Tensor, durations: np.ndarray | torch.Tensor, *, skip_zeros: bool
) -> np.ndarray:
    """Phone-level averages of a frame-level feature (FastPitch).

    Args:
        values: ``[T]`` or ``[B, T]`` frame-level feature (pitch in Hz or log-Hz with 0 = unvoiced; energy).
        durations: ``[N]`` or ``[B, N]`` non-negative integer frames per token, summing to at most ``T``
            per item (frames past the sum are ignored; zero-length tokens get 0).
        skip_zeros: average only the non-zero frames (use for pitch: voiced frames only).

    Returns:
        ``[N]`` or ``[B, N]`` float32 averages.

    Raises:
        ValueError: shapes disagree, durations are negative, not integers, or longer than the frames.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(durations, torch.Tensor):
        durations = durations.detach().cpu().numpy()
    v, d = np.asarray(values), np.asarray(durations)
    single = v.ndim == 1
    v, d = (v[None], d[None]) if single else (v, d)
    if v.ndim != 2 or d.ndim != 2 or v.shape[0] != d.shape[0]:
        raise ValueError(f"values [B, T] and durations [B, N] do not match: {v.shape} and {d.shape}")
    if d.size and not np.issubdtype(d.dtype, np.integer):
        if not np.all(d == np.round(d)):
            raise ValueError("durations must be whole numbers of frames")
    d = d.astype(np.int64)
    if (d < 0).any():
        raise ValueError("durations must be non-negative")
    if (d.sum(axis=1) > v.shape[1]).any():
        raise ValueError(f"durations sum to {int(d.sum(axis=1).max())} frames but there are only {v.shape[1]}")
    out = np.zeros(d.shape, dtype=np.float32)
    _average_batch(np.ascontiguousarray(v, dtype=np.float32), np.ascontiguousarray(d), skip_zeros, out)
    return out[0] if single else out

"""Slow pure-Python / NumPy references of the Numba kernels, used only by the tests.

Written for clarity, not speed, and independently of the kernels' loop structure (e.g. MAS here is the
column-by-column formulation of the Glow-TTS paper with -inf outside the reachable band; the kernel goes row by
row over the band only).
"""

from __future__ import annotations

import math

import numpy as np


# ------------------------------------------------------------------------------------------- alignment
def ref_maximum_path(value: np.ndarray, t_x: int, t_y: int) -> np.ndarray:
    """MAS for one ``[T_x, T_y]`` matrix: Q[x, y] = max(Q[x, y-1], Q[x-1, y-1]) + value[x, y]; ties stay."""
    q = np.full((t_x, t_y), -np.inf)
    for y in range(t_y):
        for x in range(t_x):
            if x > y or x < t_x - (t_y - y):
                continue  # a monotonic surjective path cannot reach (x, y)
            if y == 0:
                best = 0.0
            else:
                best = max(q[x, y - 1], q[x - 1, y - 1] if x > 0 else -np.inf)
            q[x, y] = best + float(value[x, y])
    path = np.zeros(value.shape, dtype=np.uint8)
    x = t_x - 1
    for y in range(t_y - 1, -1, -1):
        path[x, y] = 1
        if x > 0 and (x == y or q[x, y - 1] < q[x - 1, y - 1]):
            x -= 1
    return path


def ref_average(values: np.ndarray, durations: np.ndarray, skip_zeros: bool) -> np.ndarray:
    """Per-token mean of ``values`` over ``durations`` frames (non-zero frames only if ``skip_zeros``)."""
    out, pos = [], 0
    for d in durations:
        seg = np.asarray(values[pos : pos + d], dtype=np.float64)
        if skip_zeros:
            seg = seg[seg != 0]
        out.append(seg.mean() if seg.size else 0.0)
        pos += d
    return np.array(out, dtype=np.float32)


# ------------------------------------------------------------------------------------------- pitch
def ref_prepare(x: np.ndarray, pad: int, taps: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean-removed reflect-padded signal and its filtered, decimated copy (0 where the filter overhangs)."""
    x = np.asarray(x, dtype=np.float64)
    xp = np.pad(x - x.mean(), pad, mode="reflect")
    n_taps = len(taps)
    full = np.convolve(xp, np.asarray(taps, dtype=np.float64)[::-1], mode="valid")  # full[i] = taps . xp[i:]
    xd = np.zeros(len(xp) // r)
    for m in range(-(-n_taps // r), (len(xp) - n_taps) // r):
        xd[m] = full[m * r - n_taps // 2]
    return xp, xd


def ref_cmnd(xd: np.ndarray, start: int, window: int, tau_hi: int) -> tuple[np.ndarray, float]:
    """YIN's cumulative mean normalised difference ``d'[0..tau_hi+1]`` and the window energy."""
    a = np.asarray(xd, dtype=np.float64)
    frame = a[start : start + window]
    d = np.array([np.sum((frame - a[start + tau : start + tau + window]) ** 2) for tau in range(tau_hi + 2)])
    out = np.ones(tau_hi + 2)
    cum = np.cumsum(d[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.where(cum > 0, d[1:] * np.arange(1, tau_hi + 2) / cum, 1.0)
    return out, float(np.sum(frame**2))


def _beta2_cdf(x: float, b: float) -> float:
    return 0.0 if x <= 0 else 1.0 if x >= 1 else 1.0 - (1.0 - x) ** b * (1.0 + b * x)


def ref_candidates(d, tau_lo, tau_hi, beta_b, no_trough, n_cand):
    """pYIN candidates from the troughs of ``d'``: (lags, masses) sorted by mass, and the minimum trough value."""
    d = np.asarray(d, dtype=np.float64)
    troughs = []  # (tau, value) of every trough, in lag order
    for tau in range(max(tau_lo, 1), tau_hi + 1):
        if d[tau] < d[tau - 1] and d[tau] <= d[tau + 1]:
            a, b, c = d[tau - 1], d[tau], d[tau + 1]
            den = a - 2 * b + c
            delta = 0.5 * (a - c) / den if den > 0 else 0.0
            troughs.append((tau + delta, max(b - 0.25 * (a - c) * delta, 0.0)))
    masses = []
    claimed = 1.0
    for tau, val in troughs:
        cdf = _beta2_cdf(val, beta_b)
        masses.append(max(claimed - cdf, 0.0))
        claimed = min(claimed, cdf)
    if not troughs:
        return np.zeros(n_cand), np.zeros(n_cand), np.inf
    best = min(range(len(troughs)), key=lambda k: (troughs[k][1], k))
    if no_trough > 0:
        masses[best] += no_trough * (1.0 - _beta2_cdf(troughs[best][1], beta_b))
    order = sorted((k for k in range(len(troughs)) if masses[k] > 0), key=lambda k: -masses[k])[:n_cand]
    taus, ms = np.zeros(n_cand), np.zeros(n_cand)
    for slot, k in enumerate(order):
        taus[slot], ms[slot] = troughs[k][0], masses[k]
    return taus, ms, troughs[best][1]


def ref_voicing(energy, aperiodicity, silence_db, threshold, slope) -> np.ndarray:
    """Logistic voicing probability of the aperiodicity, 0 in frames ``silence_db`` below the loudest."""
    energy = np.asarray(energy, dtype=np.float64)
    floor = max(energy.max(initial=0.0) * 10 ** (silence_db / 10), 1e-20)
    prob = np.zeros(len(energy), dtype=np.float32)
    for i, (e, a) in enumerate(zip(energy, aperiodicity)):
        if e > floor and np.isfinite(a):
            prob[i] = 1.0 / (1.0 + math.exp(min((float(a) - threshold) / slope, 50.0)))
    return prob


def ref_viterbi(cand_tau, cand_mass, prob, switch_prob, octave_cost) -> np.ndarray:
    """Viterbi over {candidates, unvoiced} with the kernel's scores; -1 marks unvoiced frames."""
    n, k = cand_tau.shape
    tau = np.asarray(cand_tau, dtype=np.float64)
    mass = np.asarray(cand_mass, dtype=np.float64)
    p = np.asarray(prob, dtype=np.float64)

    def emissions(t):
        e = np.full(k + 1, -np.inf)
        for j in range(k):
            if mass[t, j] > 0:
                e[j] = math.log(max(p[t], 1e-6)) + math.log(mass[t, j] / mass[t, 0])
        e[k] = math.log(max(1.0 - p[t], 1e-6))
        return e

    stay, switch = math.log(1 - switch_prob), math.log(switch_prob)
    score = emissions(0)
    back = np.zeros((n, k + 1), dtype=np.int64)
    for t in range(1, n):
        trans = np.full((k + 1, k + 1), stay)  # [previous, current]
        trans[k, :k] = switch
        trans[:k, k] = switch
        for a in range(k):
            for b in range(k):
                if mass[t - 1, a] > 0 and mass[t, b] > 0:
                    trans[a, b] = stay - octave_cost * abs(math.log2(tau[t, b] / tau[t - 1, a]))
        total = score[:, None] + trans
        back[t] = np.argmax(total, axis=0)
        score = total[back[t], np.arange(k + 1)] + emissions(t)
    path = np.empty(n, dtype=np.int64)
    s = int(np.argmax(score))
    for t in range(n - 1, -1, -1):
        path[t] = -1 if s == k else s
        s = back[t, s]
    return path


def ref_refine(xp, centre, coarse_tau, r, window, tau_max, sample_rate) -> float:
    """Downhill walk on the full-rate ``d(tau)`` from the nearest lag (at most 2r steps), then a parabola."""
    xp = np.asarray(xp, dtype=np.float64)
    start = centre - (window + tau_max) // 2

    def d(tau):
        return float(np.sum((xp[start : start + window] - xp[start + tau : start + tau + window]) ** 2))

    t = min(max(int(round(coarse_tau * r)), 3), tau_max)
    for _ in range(2 * r):
        lo, mid, hi = d(t - 1), d(t), d(t + 1)
        if lo < mid and lo <= hi and t > 3:
            t -= 1
        elif hi < mid and t < tau_max:
            t += 1
        else:
            break
    lo, mid, hi = d(t - 1), d(t), d(t + 1)
    den = lo - 2 * mid + hi
    delta = 0.5 * (lo - hi) / den if den > 0 else 0.0
    return sample_rate / (t + delta)


def ref_track(x: np.ndarray, cfg, geometry) -> tuple[np.ndarray, np.ndarray]:
    """The whole tracker, stage by stage, from the references above."""
    g, r, hop = geometry, cfg.decimation, cfg.hop_length
    n = len(x) // hop if len(x) >= hop else 0
    xp, xd = ref_prepare(x, g.pad, g.taps, r)
    taus = np.zeros((n, cfg.n_candidates))
    masses = np.zeros((n, cfg.n_candidates))
    energy, aper = np.zeros(n), np.full(n, np.inf)
    centres = g.pad + np.arange(n) * hop + hop // 2
    for i in range(n):
        d, energy[i] = ref_cmnd(xd, centres[i] // r - (g.window_d + g.tau_hi_d) // 2, g.window_d, g.tau_hi_d)
        taus[i], masses[i], aper[i] = ref_candidates(
            d, g.tau_lo_d, g.tau_hi_d, cfg.beta_b, cfg.no_trough_prob, cfg.n_candidates
        )
    prob = ref_voicing(energy, aper, cfg.silence_db, cfg.voicing_threshold, cfg.voicing_slope)
    path = ref_viterbi(taus, masses, prob, cfg.switch_prob, cfg.octave_cost)
    f0 = np.zeros(n, dtype=np.float32)
    for i in np.flatnonzero(path >= 0):
        f0[i] = ref_refine(xp, centres[i], taus[i, path[i]], r, g.window, g.tau_max, cfg.sample_rate)
    return f0, prob

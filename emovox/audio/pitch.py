"""F0 on the mel frame grid: a pYIN-family tracker compiled with Numba.

One F0 value per mel frame: frame ``i`` is centred on sample ``i * hop + hop / 2``, exactly as the HiFi-GAN mel
(reflect padding of ``(n_fft - hop) / 2``, ``center=False``), so a signal of ``T`` samples gives
``emovox.audio.mel.n_frames(T)`` F0 values.

Algorithm (de Cheveigné & Kawahara 2002, "YIN"; Mauch & Dixon 2014, "pYIN"):

1. The signal (mean removed) is low-passed and decimated by ``decimation``; on that coarse grid the squared
   difference function ``d(tau) = sum_j (x_j - x_{j+tau})^2`` is computed directly for every lag up to the
   period of ``fmin`` and turned into the cumulative mean normalised difference ``d'(tau)`` (YIN eq. 8).
2. Every trough of ``d'`` between the periods of ``fmax`` and ``fmin`` is a candidate. As in pYIN, the YIN
   threshold is a random variable with a Beta(2, b) prior: a candidate's probability is the prior mass of the
   thresholds for which it is the first trough below the threshold, and the global minimum takes
   ``no_trough_prob`` of the mass for which no trough is below. Their sum is the voicing probability.
3. A Viterbi path over {unvoiced, the best candidates} with a voiced/unvoiced switch probability and a cost
   per octave of F0 change picks one candidate or "unvoiced" per frame (frames far below the loudest frame are
   forced unvoiced).
4. Each chosen candidate is refined at the full sample rate: the minimum of ``d`` over the lags around the
   coarse period, with parabolic interpolation (YIN step 5).

The coarse search costs ``(W / r) * (tau_max / r)`` per frame for decimation ``r``, i.e. ``r^2`` less than at
full rate; only one candidate per voiced frame is refined. Kernels are numpy in, numpy out, ``cache=True``, and
compiled on first use (importing this module compiles nothing). ``tests/kernel_reference.py`` holds a slow
NumPy reference of every stage.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

__all__ = ["PitchConfig", "PitchResult", "as_signal", "estimate_f0", "estimate_f0_batch", "pitch_n_frames"]

_CHUNK = 32  # frames per parallel work item


@dataclass(frozen=True)
class PitchConfig:
    """F0 tracker parameters (defaults: the HiFi-GAN mel grid at 22.05 kHz, speech range)."""

    sample_rate: int = 22050  # Hz; audio must already be at this rate
    hop_length: int = 256  # samples between frames (the mel hop)
    n_fft: int = 1024  # the mel FFT size: frames are centred as the mel's ((n_fft - hop) / 2 reflect pad)
    fmin: float = 65.0  # lowest F0 searched, Hz
    fmax: float = 800.0  # highest F0 searched, Hz
    window_length: int = 512  # YIN integration window, samples at sample_rate
    decimation: int = 4  # the coarse search runs at sample_rate / decimation, refinement at full rate
    n_candidates: int = 5  # F0 candidates per frame offered to the Viterbi path
    beta_b: float = 18.0  # threshold prior Beta(2, beta_b); pYIN's default Beta(2, 18) has mean 0.1
    no_trough_prob: float = 0.01  # prior mass given to the global minimum when no trough is below threshold
    switch_prob: float = 0.01  # probability of a voiced <-> unvoiced change between consecutive frames
    octave_cost: float = 10.0  # Viterbi cost (nats) per octave of F0 change between consecutive voiced frames
    silence_db: float = -50.0  # frames this many dB below the loudest frame of a file are unvoiced
    voicing_threshold: float = 0.35  # aperiodicity (minimum of d') at which P(voiced) = 0.5
    voicing_slope: float = 0.05  # width of the logistic voicing curve around the threshold

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.hop_length <= 0:
            raise ValueError("pitch config needs sample_rate > 0 and hop_length > 0")
        if self.n_fft < self.hop_length or (self.n_fft - self.hop_length) % 2:
            raise ValueError("pitch config needs n_fft >= hop_length with (n_fft - hop_length) even")
        if not (0 < self.fmin < self.fmax):
            raise ValueError(f"pitch config needs 0 < fmin < fmax, got fmin={self.fmin}, fmax={self.fmax}")
        if self.decimation < 1 or self.hop_length % self.decimation:
            raise ValueError("pitch config needs decimation >= 1 dividing hop_length")
        if self.sample_rate / self.decimation < 3.0 * self.fmax:
            raise ValueError(
                f"decimation {self.decimation} leaves a {self.sample_rate / self.decimation:.0f} Hz rate, "
                f"too low for fmax={self.fmax} Hz (needs >= 3 * fmax)"
            )
        if self.window_length < 2 * self.decimation:
            raise ValueError("pitch config needs window_length >= 2 * decimation")
        if self.sample_rate / self.fmax < 2 * self.decimation:
            raise ValueError("fmax is too close to the sample rate for this decimation")
        if not (0 < self.voicing_threshold < 1 and self.voicing_slope > 0):
            raise ValueError("pitch config needs 0 < voicing_threshold < 1 and voicing_slope > 0")
        if self.n_candidates < 1 or self.beta_b <= 0:
            raise ValueError("pitch config needs n_candidates >= 1 and beta_b > 0")
        if not (0 < self.switch_prob < 1 and 0 <= self.no_trough_prob <= 1):
            raise ValueError("pitch config needs 0 < switch_prob < 1 and 0 <= no_trough_prob <= 1")


@dataclass
class PitchResult:
    """F0 per mel frame.

    Attributes:
        f0: ``[frames]`` float32, Hz, 0 where unvoiced.
        voiced_prob: ``[frames]`` float32 in [0, 1], the pYIN voicing probability (before the Viterbi path).
    """

    f0: np.ndarray
    voiced_prob: np.ndarray

    @property
    def voiced(self) -> np.ndarray:
        """``[frames]`` bool voicing decision (F0 > 0)."""
        return self.f0 > 0


@dataclass(frozen=True)
class _Geometry:
    """Integer layout derived from a config (all lags in samples)."""

    pad: int  # reflect padding on each side, full rate, a multiple of decimation
    window: int  # full-rate integration window
    tau_max: int  # full-rate lag of fmin
    window_d: int  # coarse integration window
    tau_lo_d: int  # coarse lag of fmax (search start)
    tau_hi_d: int  # coarse lag of fmin (search end)
    taps: np.ndarray  # low-pass FIR before decimation, odd length


@functools.lru_cache(maxsize=16)
def _geometry(cfg: PitchConfig) -> _Geometry:
    r = cfg.decimation
    tau_max = math.ceil(cfg.sample_rate / cfg.fmin) + 1
    window_d = cfg.window_length // r
    tau_hi_d = math.ceil(tau_max / r) + 1
    tau_lo_d = max(2, math.floor(cfg.sample_rate / cfg.fmax / r))
    taps = _lowpass_taps(r)
    half_span = (cfg.window_length + tau_max) // 2 + (window_d + tau_hi_d + 4) * r // 2
    pad = half_span + len(taps) + 2 * r
    pad += (-pad) % r
    return _Geometry(pad, cfg.window_length, tau_max, window_d, tau_lo_d, tau_hi_d, taps)


def _lowpass_taps(r: int) -> np.ndarray:
    """Hann-windowed sinc low-pass with its cutoff at 0.8 of the decimated Nyquist frequency."""
    if r == 1:
        return np.ones(1, dtype=np.float32)
    n = 8 * r + 1
    k = np.arange(n) - n // 2
    cutoff = 0.8 * 0.5 / r  # cycles per input sample
    h = np.sinc(2 * cutoff * k) * np.hanning(n + 2)[1:-1]
    return (h / h.sum()).astype(np.float32)


def pitch_n_frames(n_samples: int, cfg: PitchConfig | None = None) -> int:
    """Number of F0 frames for ``n_samples`` samples (equal to the mel's ``n_frames``)."""
    cfg = cfg or PitchConfig()
    pad = (cfg.n_fft - cfg.hop_length) // 2
    return max(0, (n_samples + 2 * pad - cfg.n_fft) // cfg.hop_length + 1)


# --------------------------------------------------------------------------------------------------------
# Kernels (numpy in, numpy out). Stage functions are module-level so that tests compare each to its reference.


@njit(cache=True)
def _reflect_index(i, n):
    """Index into a length-``n`` signal after (repeated) reflect padding."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    m = i % period
    return period - m if m >= n else m


@njit(cache=True, fastmath=True)
def _prepare(x, pad, taps, r):
    """Mean-removed, reflect-padded full-rate signal and its low-passed, decimated copy.

    Decimated samples whose filter would reach past the padded signal are left at zero; the padding is wide
    enough that no frame reads them.
    """
    n = x.shape[0]
    mean = 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    n_pad = n + 2 * pad
    xp = np.empty(n_pad, dtype=np.float32)
    for i in range(n):
        xp[pad + i] = x[i] - mean
    for i in range(pad):
        xp[i] = x[_reflect_index(i - pad, n)] - mean
        xp[n_pad - 1 - i] = x[_reflect_index(n - 1 + pad - i, n)] - mean
    n_taps = taps.shape[0]
    xd = np.zeros(n_pad // r, dtype=np.float32)
    for m in range((n_taps + r - 1) // r, (n_pad - n_taps) // r):
        seg = xp[m * r - n_taps // 2 : m * r - n_taps // 2 + n_taps]  # slices let LLVM vectorise
        acc = np.float32(0.0)
        for k in range(n_taps):
            acc += taps[k] * seg[k]
        xd[m] = acc
    return xp, xd


@njit(cache=True, fastmath=True)
def _sq_diff(a, window, tau):
    """``sum_{j < window} (a[j] - a[j + tau])^2`` (YIN eq. 6), vectorised over ``j``."""
    b = a[tau : tau + window]
    acc = np.float32(0.0)
    for j in range(window):
        diff = a[j] - b[j]
        acc += diff * diff
    return acc


@njit(cache=True)
def _beta2_cdf(x, b):
    """CDF of Beta(2, b): ``1 - (1 - x)^b (1 + b x)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return 1.0 - (1.0 - x) ** b * (1.0 + b * x)


@njit(cache=True, fastmath=True)
def _cmnd(xd, start, window, tau_hi, d):
    """Fill ``d[0..tau_hi+1]`` with YIN's cumulative mean normalised difference; returns the window energy."""
    a = xd[start : start + window + tau_hi + 1]
    energy = np.float32(0.0)
    for j in range(window):
        energy += a[j] * a[j]
    d[0] = 1.0
    running = 0.0
    for tau in range(1, tau_hi + 2):
        acc = _sq_diff(a, window, tau)
        running += acc
        d[tau] = acc * tau / running if running > 0.0 else 1.0
    return energy


@njit(cache=True)
def _parabola(a, b, c):
    """Offset in (-1, 1) and value of the vertex of the parabola through (-1, a), (0, b), (1, c)."""
    denom = a - 2.0 * b + c
    if denom <= 0.0:
        return 0.0, b
    delta = 0.5 * (a - c) / denom
    return delta, b - 0.25 * (a - c) * delta


@njit(cache=True)
def _frame_candidates(d, tau_lo, tau_hi, beta_b, no_trough, out_tau, out_mass):
    """pYIN candidates from the troughs of ``d'``, the most probable kept in ``out_*`` (sorted by mass, ties in
    lag order). Returns the aperiodicity: the smallest trough value (``inf`` without a trough)."""
    n_cand = out_tau.shape[0]
    out_tau[:] = 0.0
    out_mass[:] = 0.0
    claimed = 1.0  # thresholds below this are not yet claimed by an earlier trough
    best_val, best_tau, best_mass = np.inf, 0.0, 0.0
    for tau in range(max(tau_lo, 1), tau_hi + 1):
        if not (d[tau] < d[tau - 1] and d[tau] <= d[tau + 1]):
            continue
        delta, val = _parabola(d[tau - 1], d[tau], d[tau + 1])
        val = max(val, 0.0)
        cdf = _beta2_cdf(val, beta_b)
        mass = claimed - cdf if claimed > cdf else 0.0
        claimed = min(claimed, cdf)
        if val < best_val:
            best_val, best_tau, best_mass = val, tau + delta, mass
        if mass > 0.0:
            _insert(out_tau, out_mass, tau + delta, mass, n_cand)
    if best_tau > 0.0 and no_trough > 0.0:
        # The global minimum also takes the mass of the thresholds below every trough (pYIN); re-insert it.
        for k in range(n_cand):
            if out_mass[k] > 0.0 and out_tau[k] == np.float32(best_tau):
                for j in range(k, n_cand - 1):
                    out_tau[j], out_mass[j] = out_tau[j + 1], out_mass[j + 1]
                out_tau[n_cand - 1], out_mass[n_cand - 1] = 0.0, 0.0
                break
        _insert(out_tau, out_mass, best_tau, best_mass + no_trough * (1.0 - _beta2_cdf(best_val, beta_b)), n_cand)
    return best_val


@njit(cache=True)
def _insert(out_tau, out_mass, tau, mass, n_cand):
    """Insert (tau, mass) into arrays kept sorted by decreasing mass, dropping the least probable."""
    if mass <= out_mass[n_cand - 1]:
        return
    k = n_cand - 1
    while k > 0 and out_mass[k - 1] < mass:
        out_tau[k] = out_tau[k - 1]
        out_mass[k] = out_mass[k - 1]
        k -= 1
    out_tau[k] = tau
    out_mass[k] = mass


@njit(cache=True, fastmath=True)
def _coarse_range(xd, centres_d, i0, i1, window_d, tau_lo, tau_hi, beta_b, no_trough, cand_tau, cand_mass, energy,
                  aperiodicity):  # fmt: skip
    """Candidates of frames ``i0..i1`` on the decimated signal (coarse lags, in decimated samples)."""
    d = np.empty(tau_hi + 2, dtype=np.float32)
    for i in range(i0, i1):
        start = centres_d[i] - (window_d + tau_hi) // 2
        energy[i] = _cmnd(xd, start, window_d, tau_hi, d)
        aperiodicity[i] = _frame_candidates(d, tau_lo, tau_hi, beta_b, no_trough, cand_tau[i], cand_mass[i])


@njit(cache=True)
def _voicing(energy, aperiodicity, silence_db, threshold, slope):
    """Voicing probability per frame: a logistic function of the aperiodicity (the minimum of ``d'``),
    ``1 / (1 + exp((aperiodicity - threshold) / slope))``, and 0 for frames ``silence_db`` below the loudest."""
    n = energy.shape[0]
    peak = 0.0
    for i in range(n):
        peak = max(peak, energy[i])
    floor = max(peak * 10.0 ** (silence_db / 10.0), 1e-20)
    prob = np.zeros(n, dtype=np.float32)
    for i in range(n):
        if energy[i] > floor and aperiodicity[i] < np.inf:
            prob[i] = 1.0 / (1.0 + math.exp(min((aperiodicity[i] - threshold) / slope, 50.0)))
    return prob


@njit(cache=True)
def _viterbi(cand_tau, cand_mass, prob, switch_prob, octave_cost):
    """Best state per frame: a candidate index, or -1 for unvoiced (ties go to the lower state)."""
    n, k_max = cand_tau.shape
    n_states = k_max + 1  # state k_max is unvoiced
    stay, switch = math.log(1.0 - switch_prob), math.log(switch_prob)
    score = np.empty(n_states)
    new = np.empty(n_states)
    back = np.zeros((n, n_states), dtype=np.int32)
    _emissions(cand_mass[0], prob[0], score)
    for t in range(1, n):
        for s in range(n_states):
            best, arg = -np.inf, 0
            for p in range(n_states):
                if s == k_max:
                    trans = stay if p == k_max else switch
                elif p == k_max:
                    trans = switch
                elif cand_mass[t - 1, p] > 0.0 and cand_mass[t, s] > 0.0:
                    trans = stay - octave_cost * abs(math.log2(float(cand_tau[t, s]) / float(cand_tau[t - 1, p])))
                else:
                    trans = stay
                v = score[p] + trans
                if v > best:
                    best, arg = v, p
            new[s] = best
            back[t, s] = arg
        _emissions(cand_mass[t], prob[t], score)
        for s in range(n_states):
            score[s] += new[s]
    path = np.empty(n, dtype=np.int32)
    arg = 0
    for s in range(1, n_states):
        if score[s] > score[arg]:
            arg = s
    for t in range(n - 1, -1, -1):
        path[t] = -1 if arg == k_max else arg
        arg = back[t, arg]
    return path


@njit(cache=True)
def _emissions(mass, prob, out):
    """Log emission scores: ``log P(voiced) + log(m_k / max_j m_j)`` per candidate, ``log P(unvoiced)`` last.

    The voicing probability decides voiced against unvoiced; the pYIN masses only rank the candidates, so a
    frame with several plausible periods is not pushed towards "unvoiced".
    """
    k_max = mass.shape[0]
    top = mass[0]  # masses are sorted, largest first
    log_voiced = math.log(max(float(prob), 1e-6))
    for k in range(k_max):
        out[k] = log_voiced + math.log(float(mass[k]) / float(top)) if mass[k] > 0.0 else -np.inf
    out[k_max] = math.log(max(1.0 - float(prob), 1e-6))


@njit(cache=True, fastmath=True)
def _refine_range(xp, centres, i0, i1, path, cand_tau, r, window, tau_max, sample_rate, f0):
    """Full-rate refinement of each chosen coarse lag; writes F0 in Hz (0 where unvoiced).

    From the nearest full-rate lag, walk downhill on ``d(tau)`` (at most ``2 r`` steps, within
    ``[2, tau_max]``), then interpolate the minimum with a parabola.
    """
    for i in range(i0, i1):
        if path[i] < 0:
            f0[i] = 0.0
            continue
        start = centres[i] - (window + tau_max) // 2
        a = xp[start : start + window + tau_max + 2]
        t = min(max(int(round(cand_tau[i, path[i]] * r)), 3), tau_max)
        d_lo, d_mid, d_hi = _sq_diff(a, window, t - 1), _sq_diff(a, window, t), _sq_diff(a, window, t + 1)
        for _ in range(2 * r):
            if d_lo < d_mid and d_lo <= d_hi and t > 3:
                t -= 1
                d_hi, d_mid, d_lo = d_mid, d_lo, _sq_diff(a, window, t - 1)
            elif d_hi < d_mid and t < tau_max:
                t += 1
                d_lo, d_mid, d_hi = d_mid, d_hi, _sq_diff(a, window, t + 1)
            else:
                break
        delta, _ = _parabola(d_lo, d_mid, d_hi)
        f0[i] = sample_rate / (t + delta)


@njit(cache=True)
def _centres(n_frames, hop, pad, r):
    """Frame centres in padded full-rate samples and in decimated samples."""
    centres = np.empty(n_frames, dtype=np.int64)
    centres_d = np.empty(n_frames, dtype=np.int64)
    for i in range(n_frames):
        centres[i] = pad + i * hop + hop // 2
        centres_d[i] = centres[i] // r
    return centres, centres_d


@njit(cache=True)
def _frame_arrays(n_frames, n_cand):
    """Per-frame work arrays: candidate lags, candidate masses, energy, aperiodicity, F0."""
    return (
        np.zeros((n_frames, n_cand), dtype=np.float32),
        np.zeros((n_frames, n_cand), dtype=np.float32),
        np.zeros(n_frames, dtype=np.float32),
        np.full(n_frames, np.inf, dtype=np.float32),
        np.zeros(n_frames, dtype=np.float32),
    )


@njit(cache=True)
def _track_serial(x, n_frames, ip, fp, taps):
    """The whole tracker for one signal on one thread (``ip``/``fp``: see :func:`_kernel_params`)."""
    hop, pad, r, window, tau_max, window_d, tau_lo_d, tau_hi_d, n_cand = ip
    xp, xd = _prepare(x, pad, taps, r)
    centres, centres_d = _centres(n_frames, hop, pad, r)
    cand_tau, cand_mass, energy, aper, f0 = _frame_arrays(n_frames, n_cand)
    _coarse_range(xd, centres_d, 0, n_frames, window_d, tau_lo_d, tau_hi_d, fp[0], fp[1],
                  cand_tau, cand_mass, energy, aper)  # fmt: skip
    prob = _voicing(energy, aper, fp[4], fp[6], fp[7])
    path = _viterbi(cand_tau, cand_mass, prob, fp[2], fp[3])
    _refine_range(xp, centres, 0, n_frames, path, cand_tau, r, window, tau_max, fp[5], f0)
    return f0, prob


@njit(cache=True, parallel=True)
def _track_parallel(x, n_frames, ip, fp, taps):
    """The tracker for one signal, frames spread over threads (the Viterbi pass stays serial)."""
    hop, pad, r, window, tau_max, window_d, tau_lo_d, tau_hi_d, n_cand = ip
    xp, xd = _prepare(x, pad, taps, r)
    centres, centres_d = _centres(n_frames, hop, pad, r)
    cand_tau, cand_mass, energy, aper, f0 = _frame_arrays(n_frames, n_cand)
    n_chunks = (n_frames + _CHUNK - 1) // _CHUNK
    for c in prange(n_chunks):
        i1 = min(n_frames, (c + 1) * _CHUNK)
        _coarse_range(xd, centres_d, c * _CHUNK, i1, window_d, tau_lo_d, tau_hi_d, fp[0], fp[1],
                      cand_tau, cand_mass, energy, aper)  # fmt: skip
    prob = _voicing(energy, aper, fp[4], fp[6], fp[7])
    path = _viterbi(cand_tau, cand_mass, prob, fp[2], fp[3])
    for c in prange(n_chunks):
        i1 = min(n_frames, (c + 1) * _CHUNK)
        _refine_range(xp, centres, c * _CHUNK, i1, path, cand_tau, r, window, tau_max, fp[5], f0)
    return f0, prob


@njit(cache=True, parallel=True)
def _track_batch(flat, offsets, frame_offsets, ip, fp, taps):
    """Many signals (concatenated in ``flat``), one per thread at a time."""
    n_items = offsets.shape[0] - 1
    f0_all = np.zeros(frame_offsets[-1], dtype=np.float32)
    prob_all = np.zeros(frame_offsets[-1], dtype=np.float32)
    for b in prange(n_items):
        f0_lo, f0_hi = frame_offsets[b], frame_offsets[b + 1]
        if f0_hi > f0_lo:
            f0, prob = _track_serial(flat[offsets[b] : offsets[b + 1]], f0_hi - f0_lo, ip, fp, taps)
            f0_all[f0_lo:f0_hi] = f0
            prob_all[f0_lo:f0_hi] = prob
    return f0_all, prob_all


# --------------------------------------------------------------------------------------------------------
# Public, validating wrappers.


def as_signal(audio, name: str = "audio") -> np.ndarray:
    """Validate one signal and return it as contiguous float32 (int16/int32 PCM scaled to [-1, 1])."""
    if hasattr(audio, "detach"):  # a torch tensor
        audio = audio.detach().cpu().numpy()
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D signal, got shape {x.shape}")
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype == np.int32:
        x = x.astype(np.float32) / 2147483648.0
    elif not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be float, int16 or int32 PCM, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    return x


def _kernel_params(cfg: PitchConfig) -> tuple[tuple[int, ...], tuple[float, ...], np.ndarray]:
    """The kernels' integer parameters, float parameters and low-pass taps, in the order they unpack them."""
    g = _geometry(cfg)
    ip = (cfg.hop_length, g.pad, cfg.decimation, g.window, g.tau_max, g.window_d, g.tau_lo_d, g.tau_hi_d,
          cfg.n_candidates)  # fmt: skip
    fp = (cfg.beta_b, cfg.no_trough_prob, cfg.switch_prob, cfg.octave_cost, cfg.silence_db,
          float(cfg.sample_rate), cfg.voicing_threshold, cfg.voicing_slope)  # fmt: skip
    return tuple(int(v) for v in ip), tuple(float(v) for v in fp), g.taps


def estimate_f0(audio, cfg: PitchConfig | None = None, *, parallel: bool = False) -> PitchResult:
    """F0 of one signal on the mel frame grid.

    Args:
        audio: ``[T]`` samples at ``cfg.sample_rate``: float (any scale), int16 or int32 PCM, numpy or torch.
        cfg: tracker parameters.
        parallel: spread the frames over Numba's threads (``numba.set_num_threads`` caps them).

    Returns:
        :class:`PitchResult` with ``[frames]`` arrays, ``frames = mel.n_frames(T)``; empty for ``T < hop``.
        All-silent (or constant) input is unvoiced throughout.

    Raises:
        ValueError: not 1-D, not a float/int16/int32 array, or NaN/inf samples.
    """
    cfg = cfg or PitchConfig()
    x = as_signal(audio)
    n = pitch_n_frames(x.shape[0], cfg)
    if n == 0:
        return PitchResult(np.zeros(0, np.float32), np.zeros(0, np.float32))
    kernel = _track_parallel if parallel else _track_serial
    f0, prob = kernel(x, n, *_kernel_params(cfg))
    return PitchResult(f0, prob)


def estimate_f0_batch(signals, cfg: PitchConfig | None = None) -> list[PitchResult]:
    """F0 of many signals at once, one signal per Numba thread (``prange`` over signals).

    Args:
        signals: a sequence of ``[T_b]`` signals (lengths may differ), as accepted by :func:`estimate_f0`.

    Returns:
        One :class:`PitchResult` per signal, in order; identical to calling :func:`estimate_f0` on each.
    """
    cfg = cfg or PitchConfig()
    xs = [as_signal(s, f"signal {i}") for i, s in enumerate(signals)]
    if not xs:
        return []
    offsets = np.zeros(len(xs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([x.shape[0] for x in xs])
    frame_offsets = np.zeros(len(xs) + 1, dtype=np.int64)
    frame_offsets[1:] = np.cumsum([pitch_n_frames(x.shape[0], cfg) for x in xs])
    flat = np.concatenate(xs) if offsets[-1] else np.zeros(0, np.float32)
    f0, prob = _track_batch(flat, offsets, frame_offsets, *_kernel_params(cfg))
    return [
        PitchResult(f0[frame_offsets[b] : frame_offsets[b + 1]], prob[frame_offsets[b] : frame_offsets[b + 1]])
        for b in range(len(xs))
    ]

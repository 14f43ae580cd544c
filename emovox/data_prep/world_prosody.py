"""Prosody modification with the WORLD vocoder (Morise et al. 2016, IEICE Trans. Inf. & Syst. E99-D(7)).

An utterance is analysed once (:func:`analyse`: F0 by Harvest or DIO + StoneMask, spectral envelope by
CheapTrick, aperiodicity by D4C) and rendered any number of times with a :class:`ProsodyParams`
(:func:`render`): time-warp of all parameter tracks (speaking rate, with pauses lengthened separately), then the
F0 contour (level, range, accent prominence, declination, final movement, jitter, tremor), the spectral envelope
(loudness, spectral tilt, formant scaling) and the aperiodicity (breathiness, tension), then WORLD synthesis.

Frames are ``frame_period_ms`` apart; every array here is indexed ``[frame]`` or ``[frame, bin]`` with
``bins = fft_size // 2 + 1``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from emovox.data_prep.prosody_rules import ProsodyParams

__all__ = ["F0_LIMITS", "WorldAnalysis", "analyse", "edge_mask", "pause_mask", "render", "warp_positions"]

logger = logging.getLogger(__name__)

F0_LIMITS = (45.0, 900.0)
"""Rendered F0 stays within these bounds (Hz)."""


def _pyworld():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports pkg_resources (deprecated)
        import pyworld
    return pyworld


@dataclass
class WorldAnalysis:
    """WORLD parameters of one utterance.

    Shapes: ``f0 [N]`` (Hz, 0 = unvoiced), ``sp [N, bins]`` (power envelope), ``ap [N, bins]`` (0..1).
    """

    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    sample_rate: int
    frame_period_ms: float = 5.0

    @property
    def n_frames(self) -> int:
        return int(self.f0.shape[0])

    @property
    def frame_s(self) -> float:
        return self.frame_period_ms / 1000.0


def analyse(
    audio: np.ndarray,
    sample_rate: int,
    *,
    f0_method: str = "harvest",
    f0_floor: float = 55.0,
    f0_ceil: float = 500.0,
    frame_period_ms: float = 5.0,
) -> WorldAnalysis:
    """WORLD analysis of a mono signal ``[T]``."""
    pw = _pyworld()
    x = np.ascontiguousarray(audio, dtype=np.float64)
    if f0_method == "harvest":
        f0, times = pw.harvest(
            x, sample_rate, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period_ms
        )
    elif f0_method == "dio":
        f0, times = pw.dio(x, sample_rate, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period_ms)
        f0 = pw.stonemask(x, f0, times, sample_rate)
    else:
        raise ValueError(f"unknown F0 method '{f0_method}'; use 'harvest' or 'dio'")
    sp = pw.cheaptrick(x, f0, times, sample_rate)
    ap = pw.d4c(x, f0, times, sample_rate)
    return WorldAnalysis(f0=f0, sp=sp, ap=ap, sample_rate=sample_rate, frame_period_ms=frame_period_ms)


def _frame_db(sp: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(sp.sum(axis=1), 1e-20))


def pause_mask(
    analysis: WorldAnalysis, *, threshold_db: float = -35.0, min_pause_s: float = 0.06
) -> np.ndarray:
    """Frames that belong to a pause: unvoiced, quieter than ``threshold_db`` re the loudest frame, in runs of at
    least ``min_pause_s``. Returns ``bool [N]``."""
    db = _frame_db(analysis.sp)
    quiet = (analysis.f0 <= 0) & (db < db.max() + threshold_db)
    min_run = max(1, round(min_pause_s / analysis.frame_s))
    mask = np.zeros_like(quiet)
    start = None
    for i, q in enumerate(np.append(quiet, False)):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if i - start >= min_run:
                mask[start:i] = True
            start = None
    return mask


def edge_mask(pauses: np.ndarray) -> np.ndarray:
    """The leading and trailing runs of ``pauses`` (silence before the first and after the last sound)."""
    out = np.zeros_like(pauses, dtype=bool)
    sound = np.flatnonzero(~pauses)
    if sound.size == 0:
        return ~out
    out[: sound[0]] = True
    out[sound[-1] + 1 :] = True
    return out


def warp_positions(
    pauses: np.ndarray, rate: float, pause_factor: float, fixed: np.ndarray | None = None
) -> np.ndarray:
    """Fractional source-frame positions of the output frames after a rate change.

    Each source frame lasts ``1 / rate`` output frames, pause frames ``pause_factor / rate``, and ``fixed`` frames
    (e.g. the silence around an utterance, :func:`edge_mask`) keep their length. Returns ``[M]``.
    """
    if rate <= 0 or pause_factor <= 0:
        raise ValueError("rate and pause_factor must be positive")
    durations = np.where(pauses, pause_factor / rate, 1.0 / rate)
    if fixed is not None:
        durations = np.where(fixed, 1.0, durations)
    out_edges = np.concatenate([[0.0], np.cumsum(durations)])
    n_out = max(1, round(out_edges[-1]))
    src_edges = np.arange(pauses.shape[0] + 1, dtype=np.float64)
    # Centre of output frame k sits at k + 0.5 output frames; map it back and take the source frame's centre.
    pos = np.interp(np.arange(n_out) + 0.5, out_edges, src_edges) - 0.5
    return np.clip(pos, 0.0, pauses.shape[0] - 1.0)


def _warp(analysis: WorldAnalysis, pos: np.ndarray) -> WorldAnalysis:
    """Resample all tracks at fractional frame positions ``pos [M]``: log-linear for envelope and voiced F0."""
    n = analysis.n_frames
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0)[:, None]
    log_sp = np.log(np.maximum(analysis.sp, 1e-30))
    sp = np.exp((1.0 - w) * log_sp[i0] + w * log_sp[i1])
    ap = (1.0 - w) * analysis.ap[i0] + w * analysis.ap[i1]
    f0a, f0b = analysis.f0[i0], analysis.f0[i1]
    nearest = np.where(w[:, 0] < 0.5, f0a, f0b)
    both = (f0a > 0) & (f0b > 0)
    interp = np.exp((1.0 - w[:, 0]) * np.log(np.maximum(f0a, 1e-6)) + w[:, 0] * np.log(np.maximum(f0b, 1e-6)))
    f0 = np.where(both, interp, nearest)
    return WorldAnalysis(
        f0=f0, sp=sp, ap=ap, sample_rate=analysis.sample_rate, frame_period_ms=analysis.frame_period_ms
    )


def _shape_f0(f0: np.ndarray, params: ProsodyParams, frame_s: float, rng: np.random.Generator) -> np.ndarray:
    """Apply level, range, prominence, slope, final movement, tremor and jitter to a contour ``[M]``."""
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size < 2:
        return f0.copy()
    st = 12.0 * np.log2(f0[voiced] / 100.0)
    median = float(np.median(st))
    full = np.interp(np.arange(f0.shape[0]), voiced, st)
    smooth = uniform_filter1d(full, size=max(3, round(0.3 / frame_s)), mode="nearest")[voiced]
    local = st - smooth
    new = median + params.f0_shift_st + params.f0_range * (smooth - median)
    new = new + params.f0_range * params.accent_prominence * local
    first, last = voiced[0], voiced[-1]
    new = new + params.f0_slope_st * ((voiced - first) / max(last - first, 1) - 0.5)
    final_frames = max(1, round(params.final_s / frame_s))
    x = np.clip((voiced - (last - final_frames)) / final_frames, 0.0, 1.0)
    new = new + params.final_st * (0.5 - 0.5 * np.cos(np.pi * x))
    t = voiced * frame_s
    new = new + params.tremor_st * np.sin(2.0 * np.pi * params.tremor_hz * t + rng.uniform(0, 2 * np.pi))
    if params.jitter > 0:
        new = new + 12.0 * np.log2(np.clip(1.0 + params.jitter * rng.standard_normal(voiced.size), 0.5, 1.5))
    out = np.zeros_like(f0)
    out[voiced] = np.clip(100.0 * 2.0 ** (new / 12.0), *F0_LIMITS)
    return out


def _shape_envelope(sp: np.ndarray, params: ProsodyParams, sample_rate: int) -> np.ndarray:
    """Formant scaling, spectral tilt and gain of the power envelope ``[M, bins]``.

    The tilt pivots at 1 kHz and is flat outside 0.25–6 kHz, so it never lifts the empty band above a 16 kHz
    source's Nyquist frequency into audible noise."""
    bins = sp.shape[1]
    freqs = np.linspace(0.0, sample_rate / 2.0, bins)
    if params.formant_shift != 1.0:
        # Scale the formant region (below 4 kHz) and blend back to identity by 6 kHz: the top of the spectrum,
        # including a 16 kHz source's band edge at 8 kHz, stays where it was (no fricative energy pushed above it).
        blend = np.clip((freqs - 4000.0) / 2000.0, 0.0, 1.0)
        src_hz = (1.0 - blend) * freqs / params.formant_shift + blend * freqs
        src = np.clip(src_hz / (sample_rate / 2.0) * (bins - 1), 0, bins - 1)
        j0 = np.floor(src).astype(np.int64)
        j1 = np.minimum(j0 + 1, bins - 1)
        w = src - j0
        sp = sp[:, j0] * (1.0 - w) + sp[:, j1] * w
    tilt = 10.0 ** (params.tilt_db_oct * np.log2(np.clip(freqs, 250.0, 6000.0) / 1000.0) / 10.0)
    tilted = sp * tilt
    # Tilt redistributes energy between low and high bands; loudness is the separate gain_db, so keep the
    # utterance's total envelope power unchanged by the tilt.
    tilted *= sp.sum() / max(float(tilted.sum()), 1e-30)
    return tilted * 10.0 ** (params.gain_db / 10.0)


def _shape_aperiodicity(
    ap: np.ndarray, f0: np.ndarray, params: ProsodyParams, sample_rate: int
) -> np.ndarray:
    """Breathiness adds aperiodicity above ~0.5 kHz; tension removes a fraction of it (voiced frames only)."""
    freqs = np.linspace(0.0, sample_rate / 2.0, ap.shape[1])
    band = np.sqrt(np.clip((freqs - 500.0) / 3000.0, 0.0, 1.0))
    out = ap * (1.0 - params.tension)
    out = out + params.breathiness * band * (1.0 - out)
    voiced = (f0 > 0)[:, None]
    return np.clip(np.where(voiced, out, ap), 0.0, 1.0)


def render(
    analysis: WorldAnalysis, params: ProsodyParams, rng: np.random.Generator, *, keep_edges: bool = False
) -> np.ndarray:
    """Synthesize ``analysis`` with ``params`` applied. Returns float64 audio ``[T]`` at the analysis rate.

    ``keep_edges`` leaves the silence before the first and after the last sound as long as it was (a recording's
    lead-in is not part of the speaking rate); by default every pause is stretched alike."""
    pauses = pause_mask(analysis)
    pos = warp_positions(pauses, params.rate, params.pause_factor, edge_mask(pauses) if keep_edges else None)
    warped = _warp(analysis, pos)
    f0 = _shape_f0(warped.f0, params, analysis.frame_s, rng)
    sp = _shape_envelope(warped.sp, params, analysis.sample_rate)
    ap = _shape_aperiodicity(warped.ap, f0, params, analysis.sample_rate)
    pw = _pyworld()
    return pw.synthesize(
        np.ascontiguousarray(f0),
        np.ascontiguousarray(sp),
        np.ascontiguousarray(ap),
        analysis.sample_rate,
        analysis.frame_period_ms,
    )

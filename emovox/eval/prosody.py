"""Measured prosody of one audio clip: F0 level and range, speaking rate, energy and spectral tilt.

All measures use one frame grid, the HiFi-GAN mel grid (hop 256 samples at 22.05 kHz ≈ 11.6 ms; at other
rates the hop scales with the rate): frame ``i`` covers samples ``[i·hop, (i+1)·hop)`` and is centred on
``i·hop + hop/2``, which is where :mod:`emovox.audio.pitch` and the mel place their frames.

- **F0** comes from emovox's own tracker (:func:`emovox.audio.pitch.estimate_f0`) when it is installed and the
  rate is 22.05 kHz, else from Praat's autocorrelation tracker (parselmouth) sampled at the frame centres.
- ``f0_hz``: the median of log-F0 over voiced frames, back in Hz; ``f0_st``: the same in semitones re
  ``ref_hz`` (pass a speaker's mean F0 to get "semitones re speaker mean"; the default 100 Hz is absolute).
- ``f0_range_st``: 95th minus 5th percentile of voiced F0, in semitones.
- ``energy_db``: RMS level of the voiced frames, dB re full scale (a full-scale sine reads −3 dB).
- ``syllables``/``rate_sps``: syllable nuclei — peaks of the smoothed frame level that stand out by at least
  2 dB from the dips around them, lie within 25 dB of the loudest frame and are voiced (after de Jong & Wempe
  2009, "Praat script to detect syllable nuclei") — per second of active speech (frames within 40 dB of the
  loudest): an articulation rate. A rate relative to another rendering of the same text is best taken as the
  ratio of ``active_s`` (the evaluation report does that against the neutral rendering).
- ``tilt_db``: the alpha ratio of the voiced frames, energy in 1–5 kHz over 50 Hz–1 kHz, dB (Patel et al. 2011;
  higher = flatter spectrum, more vocal effort); ``hammarberg_db``: the strongest peak in 2–5 kHz minus the
  strongest in 0–2 kHz, dB (Hammarberg et al. 1980; eGeMAPS, Eyben et al. 2016).
- ``f0_final_st``: median F0 of the last 250 ms of voicing minus the utterance median, semitones (> 0 = final
  rise); ``f0_roughness_st``: median absolute F0 change between consecutive voiced frames (jitter, tremor).
- ``pause_s``/``pause_ratio``: silent stretches of at least 100 ms between the first and the last active frame
  (frames more than 35 dB below the loudest), in seconds and as a share of that span.
- Voice quality from Praat (parselmouth, the ``eval`` extra; NaN without it): ``jitter`` (local, relative),
  ``shimmer_db`` (local, dB) and ``hnr_db`` (harmonics-to-noise ratio, cross-correlation method: lower =
  breathier or rougher voice), the measures of eGeMAPS.

This module is the one prosody measurement of emovox: the evaluation report, ``emovox eval corpus`` (synthetic
corpora and real labelled corpora) and the calibration of the synthetic corpus's rules all use it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import find_peaks

__all__ = [
    "F0Track",
    "Prosody",
    "frame_hop",
    "frame_levels_db",
    "measure_prosody",
    "track_f0",
    "voice_quality",
]

logger = logging.getLogger(__name__)

REFERENCE_RATE = 22050
REFERENCE_HOP = 256
ACTIVE_DB = 40.0  # frames within this of the loudest frame are speech
NUCLEUS_FLOOR_DB = 25.0  # syllable nuclei lie within this of the loudest frame
NUCLEUS_PROMINENCE_DB = 2.0  # and stand out from their surroundings by this much
SMOOTH_FRAMES = 3  # moving average of the level contour before peak picking (≈ 35 ms)
PAUSE_DB = 35.0  # frames this far below the loudest frame are silent
MIN_PAUSE_S = 0.1  # shorter silences are closures, not pauses
FINAL_S = 0.25  # the final F0 movement is measured over this much of the last voicing


@dataclass
class F0Track:
    """F0 per frame: ``f0`` ``[frames]`` Hz, 0 where unvoiced, on the grid of :func:`frame_hop`."""

    f0: np.ndarray
    hop: int
    sample_rate: int
    backend: str

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0


@dataclass
class Prosody:
    """The prosodic measures of one clip (see the module docstring); NaN where undefined (e.g. no voicing)."""

    f0_hz: float
    f0_st: float
    f0_range_st: float
    voiced_fraction: float
    energy_db: float
    syllables: int
    active_s: float
    rate_sps: float
    tilt_db: float
    duration_s: float
    f0_final_st: float = math.nan
    f0_roughness_st: float = math.nan
    pause_s: float = math.nan
    pause_ratio: float = math.nan
    hammarberg_db: float = math.nan
    jitter: float = math.nan
    shimmer_db: float = math.nan
    hnr_db: float = math.nan

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def frame_hop(sample_rate: int) -> int:
    """Samples per frame: the mel hop (256 at 22.05 kHz), scaled to ``sample_rate``."""
    return max(1, round(REFERENCE_HOP * sample_rate / REFERENCE_RATE))


def _as_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(audio)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    x = x.astype(np.float64, copy=False)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio [T], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or infinite samples")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    return x


def track_f0(audio: np.ndarray, sample_rate: int, fmin: float = 65.0, fmax: float = 800.0) -> F0Track:
    """F0 of ``audio`` ``[T]`` on the frame grid (``T // hop`` frames)."""
    x = _as_audio(audio, sample_rate)
    hop = frame_hop(sample_rate)
    n = x.shape[0] // hop
    if n == 0:
        return F0Track(np.zeros(0), hop, sample_rate, "none")
    if sample_rate == REFERENCE_RATE:
        try:
            from emovox.audio.pitch import PitchConfig, estimate_f0
        except ImportError:
            pass
        else:
            cfg = PitchConfig(sample_rate=sample_rate, hop_length=hop, fmin=fmin, fmax=fmax)
            f0 = np.asarray(estimate_f0(x.astype(np.float32), cfg).f0, dtype=np.float64)
            return F0Track(_fit_length(f0, n), hop, sample_rate, "emovox.audio.pitch")
    return F0Track(_praat_f0(x, sample_rate, hop, n, fmin, fmax), hop, sample_rate, "parselmouth")


def _fit_length(f0: np.ndarray, n: int) -> np.ndarray:
    return f0[:n] if f0.shape[0] >= n else np.pad(f0, (0, n - f0.shape[0]))


def _praat_f0(x: np.ndarray, sample_rate: int, hop: int, n: int, fmin: float, fmax: float) -> np.ndarray:
    import parselmouth

    pitch = parselmouth.Sound(x, sample_rate).to_pitch_ac(
        time_step=hop / sample_rate, pitch_floor=fmin, pitch_ceiling=fmax
    )
    values = pitch.selected_array["frequency"]
    times = pitch.xs()
    if values.size == 0:
        return np.zeros(n)
    centres = (np.arange(n) * hop + hop / 2) / sample_rate
    idx = np.clip(np.rint((centres - times[0]) / pitch.time_step).astype(int), 0, values.size - 1)
    f0 = values[idx]
    # Frames beyond Praat's analysis span (it needs a few periods of context) are unvoiced.
    f0[(centres < times[0] - pitch.time_step) | (centres > times[-1] + pitch.time_step)] = 0.0
    return np.nan_to_num(f0, nan=0.0)


def frame_levels_db(audio: np.ndarray, hop: int) -> np.ndarray:
    """Mean power of each ``hop``-sample frame in dB re full scale ``[T // hop]`` (floor −200 dB)."""
    n = audio.shape[0] // hop
    power = np.mean(np.square(audio[: n * hop].reshape(n, hop)), axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-20))


def _syllable_nuclei(level_db: np.ndarray, voiced: np.ndarray) -> int:
    if level_db.size == 0:
        return 0
    k = SMOOTH_FRAMES
    smooth = np.convolve(np.pad(level_db, (k // 2, k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    peaks, _ = find_peaks(smooth, prominence=NUCLEUS_PROMINENCE_DB)
    keep = (smooth[peaks] >= level_db.max() - NUCLEUS_FLOOR_DB) & voiced[peaks]
    return int(keep.sum())


def _alpha_ratio(audio: np.ndarray, sample_rate: int, hop: int, frames: np.ndarray) -> float:
    """Alpha ratio over the given frames: 1024-point Hann spectra centred on the frame centres."""
    if frames.size == 0:
        return math.nan
    n_fft = 1024 if sample_rate >= 16000 else 512
    padded = np.pad(audio, (n_fft // 2, n_fft // 2))
    starts = frames * hop + hop // 2  # centre in the original signal = start in the padded one
    windows = np.stack([padded[s : s + n_fft] for s in starts]) * np.hanning(n_fft)
    power = np.mean(np.abs(np.fft.rfft(windows, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    low = power[(freqs >= 50) & (freqs < 1000)].sum()
    high = power[(freqs >= 1000) & (freqs < min(5000, sample_rate / 2))].sum()
    return float(10.0 * np.log10(max(high, 1e-30) / max(low, 1e-30)))


def _hammarberg(audio: np.ndarray, sample_rate: int, hop: int, frames: np.ndarray) -> float:
    """Hammarberg index over the given frames: max level in 0–2 kHz minus max level in 2–5 kHz, dB."""
    if frames.size == 0 or sample_rate < 10000:
        return math.nan
    n_fft = 1024 if sample_rate >= 16000 else 512
    padded = np.pad(audio, (n_fft // 2, n_fft // 2))
    windows = np.stack([padded[s : s + n_fft] for s in frames * hop + hop // 2]) * np.hanning(n_fft)
    power = np.mean(np.abs(np.fft.rfft(windows, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    low = power[(freqs > 0) & (freqs < 2000)].max()
    high = power[(freqs >= 2000) & (freqs < 5000)].max()
    return float(10.0 * np.log10(max(low, 1e-30) / max(high, 1e-30)))


def _f0_shape(f0_hz: np.ndarray, voiced: np.ndarray, frame_s: float) -> tuple[float, float]:
    """(final movement, roughness) of the voiced contour, semitones."""
    idx = np.flatnonzero(voiced)
    if idx.size < 3:
        return math.nan, math.nan
    st = 12.0 * np.log2(f0_hz[idx] / 100.0)
    final = st[idx >= idx[-1] - round(FINAL_S / frame_s)]
    consecutive = np.diff(idx) == 1
    steps = np.abs(np.diff(st))[consecutive]
    roughness = float(np.median(steps)) if steps.size else math.nan
    return float(np.median(final) - np.median(st)), roughness


def _pauses(level_db: np.ndarray, frame_s: float) -> tuple[float, float]:
    """(pause seconds, pause share) between the first and the last active frame."""
    if level_db.size == 0:
        return math.nan, math.nan
    loud = level_db >= level_db.max() - PAUSE_DB
    idx = np.flatnonzero(loud)
    span = loud[idx[0] : idx[-1] + 1]
    silent = ~span
    edges = np.diff(np.concatenate([[0], silent.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs = (ends - starts)[(ends - starts) * frame_s >= MIN_PAUSE_S]
    pause = float(runs.sum() * frame_s)
    return pause, pause / max(span.size * frame_s, 1e-9)


def voice_quality(audio: np.ndarray, sample_rate: int, fmin: float = 65.0, fmax: float = 800.0) -> dict:
    """Praat's local jitter (relative), local shimmer (dB) and mean HNR (dB) of a clip; NaN without Praat."""
    nan = {"jitter": math.nan, "shimmer_db": math.nan, "hnr_db": math.nan}
    try:
        import parselmouth
        from parselmouth.praat import call
    except ImportError:
        return nan
    x = _as_audio(audio, sample_rate)
    if x.shape[0] < 0.1 * sample_rate:
        return nan
    snd = parselmouth.Sound(x, sample_rate)
    try:
        points = call(snd, "To PointProcess (periodic, cc)", fmin, fmax)
        jitter = call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
        shimmer = call([snd, points], "Get shimmer (local_dB)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
        harmonicity = snd.to_harmonicity_cc(time_step=0.01, minimum_pitch=fmin)
        hnr = call(harmonicity, "Get mean", 0, 0)
    except parselmouth.PraatError:
        return nan
    return {k: float(v) if v is not None and np.isfinite(v) else math.nan
            for k, v in (("jitter", jitter), ("shimmer_db", shimmer), ("hnr_db", hnr))}  # fmt: skip


def measure_prosody(
    audio: np.ndarray,
    sample_rate: int,
    *,
    ref_hz: float = 100.0,
    f0: F0Track | None = None,
    quality: bool = False,
) -> Prosody:
    """Measure one clip ``[T]`` (float in [-1, 1] or int16). ``f0`` reuses a track already computed;
    ``quality`` adds Praat's jitter, shimmer and HNR (slower)."""
    if not ref_hz > 0:
        raise ValueError(f"ref_hz must be positive, got {ref_hz}")
    x = _as_audio(audio, sample_rate)
    track = f0 if f0 is not None else track_f0(x, sample_rate)
    hop = frame_hop(sample_rate)
    level = frame_levels_db(x, hop)
    n = min(level.shape[0], track.f0.shape[0])
    level, f0_hz = level[:n], track.f0[:n]
    loud = level.max() if n else -200.0
    active = (level >= loud - ACTIVE_DB) & (level > -100.0)
    voiced = (f0_hz > 0) & active
    nan = math.nan
    f0_level = f0_range = energy = nan
    if voiced.sum() >= 3:
        log_f0 = np.log(f0_hz[voiced])
        f0_level = float(np.exp(np.median(log_f0)))
        st = 12.0 * log_f0 / math.log(2.0)
        f0_range = float(np.percentile(st, 95) - np.percentile(st, 5))
        energy = float(10.0 * np.log10(np.mean(10.0 ** (level[voiced] / 10.0))))
    active_s = float(active.sum() * hop / sample_rate)
    syllables = _syllable_nuclei(level, voiced)
    frame_s = hop / sample_rate
    final, roughness = _f0_shape(f0_hz, voiced, frame_s)
    pause_s, pause_ratio = _pauses(level, frame_s)
    vq = voice_quality(x, sample_rate) if quality else {}
    return Prosody(
        f0_hz=f0_level,
        f0_st=12.0 * math.log2(f0_level / ref_hz) if math.isfinite(f0_level) else nan,
        f0_range_st=f0_range,
        voiced_fraction=float(voiced.sum() / max(1, active.sum())),
        energy_db=energy,
        syllables=syllables,
        active_s=active_s,
        rate_sps=syllables / active_s if active_s > 0 else nan,
        tilt_db=_alpha_ratio(x, sample_rate, hop, np.flatnonzero(voiced)),
        duration_s=x.shape[0] / sample_rate,
        f0_final_st=final,
        f0_roughness_st=roughness,
        pause_s=pause_s,
        pause_ratio=pause_ratio,
        hammarberg_db=_hammarberg(x, sample_rate, hop, np.flatnonzero(voiced)),
        **vq,
    )

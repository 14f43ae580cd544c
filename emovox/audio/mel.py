"""The mel spectrogram, exactly as the official HiFi-GAN computes it, batched in torch.

Same definition as ``meldataset.mel_spectrogram`` of the official HiFi-GAN release, so that its pretrained
"universal" generator vocodes our mels: reflect-pad by ``(n_fft - hop) / 2`` on both sides, STFT with a Hann
window and ``center=False``, magnitude ``sqrt(re^2 + im^2 + 1e-9)``, a librosa Slaney mel filterbank
(``htk=False, norm="slaney"``), then ``log(clamp(x, min=1e-5))``. A signal of ``T`` samples gives
``T // hop`` frames when ``T`` is a multiple of the hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "TILT_PIVOT_HZ",
    "MelConfig",
    "MelSpectrogram",
    "griffin_lim",
    "measure_tilt",
    "mel_centres",
    "mel_filterbank",
    "mel_spectrogram",
    "n_frames",
    "tilt_gains",
]


@dataclass
class MelConfig:
    """Mel analysis parameters (defaults: HiFi-GAN V1 / LJSpeech at 22.05 kHz)."""

    sample_rate: int = 22050  # Hz
    n_fft: int = 1024  # FFT size
    win_length: int = 1024  # Hann window length
    hop_length: int = 256  # samples between frames
    n_mels: int = 80  # mel channels
    fmin: float = 0.0  # lowest filter edge, Hz
    fmax: float = 8000.0  # highest filter edge, Hz
    log_floor: float = 1e-5  # magnitudes are clamped to this before the log

    def __post_init__(self) -> None:
        if not (0 < self.hop_length <= self.win_length <= self.n_fft):
            raise ValueError("mel config needs 0 < hop_length <= win_length <= n_fft")
        if (self.n_fft - self.hop_length) % 2:
            raise ValueError("(n_fft - hop_length) must be even for symmetric padding")
        if not (0 <= self.fmin < self.fmax <= self.sample_rate / 2):
            raise ValueError("mel config needs 0 <= fmin < fmax <= sample_rate / 2")


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4)."""
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3.0)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, linear)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), (200.0 / 3.0) * m)


def _mel_edges(cfg: MelConfig) -> np.ndarray:
    """The filterbank's ``n_mels + 2`` edge frequencies (Hz), equally spaced on the mel scale."""
    return _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), cfg.n_mels + 2))


def mel_centres(cfg: MelConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel channel, ``[n_mels]``."""
    return _mel_edges(cfg)[1:-1]


TILT_PIVOT_HZ = 500.0
"""Spectral tilt (:func:`tilt_gains`) leaves the mel channels below this frequency alone."""


_DB_PER_LOG = 20.0 / np.log(10.0)  # dB per unit of natural-log magnitude


def _octaves_above_pivot(cfg: MelConfig) -> np.ndarray:
    """Each channel's centre in octaves above :data:`TILT_PIVOT_HZ` (negative below it), ``[n_mels]``."""
    return np.log2(mel_centres(cfg) / TILT_PIVOT_HZ)


def tilt_gains(cfg: MelConfig, db_per_octave: float) -> torch.Tensor:
    """Per-channel log-magnitude offsets ``[n_mels]`` that tilt a log-mel by ``db_per_octave`` above
    :data:`TILT_PIVOT_HZ`: positive flattens the spectrum (more energy high up, as with more vocal effort),
    negative steepens it. Add them to a log-mel ``[..., n_mels, T]`` as ``mel + gains[:, None]``."""
    octaves = np.maximum(_octaves_above_pivot(cfg), 0.0)
    return torch.from_numpy(db_per_octave * octaves / _DB_PER_LOG).float()


def measure_tilt(mel_change: torch.Tensor | np.ndarray, cfg: MelConfig) -> float:
    """The tilt (dB per octave above :data:`TILT_PIVOT_HZ`) of a change in a log-mel's long-term spectrum
    (``[n_mels]``, natural-log magnitude), the inverse of :func:`tilt_gains`: the least-squares slope, with an
    intercept (a level change), over the channels above the pivot."""
    octaves = _octaves_above_pivot(cfg)
    above = octaves > 0
    db = np.asarray(torch.as_tensor(mel_change).double().cpu()) * _DB_PER_LOG
    return float(np.polyfit(octaves[above], db[above], 1)[0])


def mel_filterbank(cfg: MelConfig) -> np.ndarray:
    """The Slaney mel filterbank (``htk=False, norm="slaney"``: triangles of unit area in Hz), shape
    ``[n_mels, n_fft // 2 + 1]``; the same matrix as ``librosa.filters.mel`` (checked in the tests), built here
    because importing librosa's filters (and SciPy's signal package behind it) costs seconds at start-up."""
    fft_hz = np.linspace(0.0, cfg.sample_rate / 2.0, 1 + cfg.n_fft // 2)
    edges = _mel_edges(cfg)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def n_frames(n_samples: int, cfg: MelConfig) -> int:
    """Number of mel frames for a signal of ``n_samples`` samples."""
    pad = (cfg.n_fft - cfg.hop_length) // 2
    return max(0, (n_samples + 2 * pad - cfg.n_fft) // cfg.hop_length + 1)


class MelSpectrogram(nn.Module):
    """Waveform ``[B, T]`` (or ``[T]``) -> log-mel ``[B, n_mels, frames]`` (or ``[n_mels, frames]``)."""

    def __init__(self, cfg: MelConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or MelConfig()
        self.register_buffer("mel_basis", torch.from_numpy(mel_filterbank(self.cfg)), persistent=False)
        self.register_buffer("window", torch.hann_window(self.cfg.win_length), persistent=False)

    def magnitude(self, y: torch.Tensor) -> torch.Tensor:
        """Linear STFT magnitude ``[B, n_fft // 2 + 1, frames]`` with HiFi-GAN's padding and epsilon."""
        cfg = self.cfg
        pad = (cfg.n_fft - cfg.hop_length) // 2
        if y.shape[-1] <= pad:
            raise ValueError(f"signal of {y.shape[-1]} samples is too short for a mel frame")
        y = torch.nn.functional.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            y,
            cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        spec = torch.view_as_real(spec)
        return torch.sqrt(spec.pow(2).sum(-1) + 1e-9)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        squeeze = y.dim() == 1
        if squeeze:
            y = y.unsqueeze(0)
        if y.dim() != 2:
            raise ValueError(f"expected a waveform [B, T] or [T], got shape {tuple(y.shape)}")
        y = y.to(self.window.dtype)
        mel = torch.matmul(self.mel_basis, self.magnitude(y))
        mel = torch.log(torch.clamp(mel, min=self.cfg.log_floor))
        return mel[0] if squeeze else mel


_CACHE: dict[tuple, MelSpectrogram] = {}


def mel_spectrogram(audio: np.ndarray | torch.Tensor, cfg: MelConfig | None = None) -> torch.Tensor:
    """Functional form of :class:`MelSpectrogram` with a cached module per config."""
    cfg = cfg or MelConfig()
    key = tuple(vars(cfg).values())
    module = _CACHE.get(key)
    if module is None:
        module = _CACHE[key] = MelSpectrogram(cfg)
    y = torch.as_tensor(audio, dtype=torch.float32)
    with torch.no_grad():
        return module(y)


def mel_spectrogram_long(
    audio: np.ndarray | torch.Tensor, cfg: MelConfig | None = None, chunk_frames: int = 8192
) -> torch.Tensor:
    """:func:`mel_spectrogram` of a mono signal ``[T]`` computed ``chunk_frames`` at a time, so the STFT's
    transient memory is bounded (one pass over an hour of audio would hold about 1 GB of complex spectrum). Frame
    for frame the same as the one-pass mel: each chunk is cut with enough real samples around it that only the
    signal's own two ends see the reflect padding, as in the one pass."""
    cfg = cfg or MelConfig()
    y = torch.as_tensor(audio, dtype=torch.float32)
    if y.dim() != 1:
        raise ValueError(f"expected a waveform [T], got shape {tuple(y.shape)}")
    if chunk_frames < 4:
        raise ValueError("chunk_frames must be at least 4")
    total = n_frames(y.shape[0], cfg)
    if total <= chunk_frames:
        return mel_spectrogram(y, cfg)
    hop, tail = cfg.hop_length, cfg.n_fft - (cfg.n_fft - cfg.hop_length) // 2
    pieces = []
    for f0 in range(0, total, chunk_frames):
        f1 = min(total, f0 + chunk_frames)
        start = max(0, (f0 - 2) * hop)  # two frames of real signal before f0 (none at the very start)
        end = min(
            y.shape[0], (f1 - 1) * hop + tail
        )  # the last frame's window ends at sample (f1-1)*hop + tail
        skip = f0 - start // hop
        pieces.append(mel_spectrogram(y[start:end], cfg)[:, skip : skip + f1 - f0])
    return torch.cat(pieces, dim=1)


def griffin_lim(log_mel: np.ndarray, cfg: MelConfig, n_iter: int = 32) -> np.ndarray:
    """A quick waveform preview of a log-mel ``[n_mels, T]`` (mel pseudo-inverse + Griffin-Lim, librosa)."""
    import librosa

    audio = librosa.feature.inverse.mel_to_audio(
        np.exp(log_mel), sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        win_length=cfg.win_length, power=1.0, n_iter=n_iter, fmin=cfg.fmin, fmax=cfg.fmax,
    )  # fmt: skip
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return (audio / peak * 0.9 if peak > 0 else audio).astype(np.float32)

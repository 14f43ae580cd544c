"""Frame energy and the usual pitch/energy post-processing for the variance adaptor.

* :func:`frame_energy` — per mel frame, the L2 norm over frequency of the STFT magnitude (FastSpeech2, Ren et
  al. 2021), on exactly the mel's frames (HiFi-GAN padding and window).
* :func:`interpolate_unvoiced`, :func:`log_f0` — continuous F0 contours for the pitch predictor.
* :class:`RunningStats`, :class:`SpeakerStats` — streaming mean/std (Welford 1962), mergeable across workers
  with Chan et al.'s (1979) pairwise update, per speaker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from emovox.audio.mel import MelConfig
from emovox.audio.pitch import as_signal

__all__ = ["RunningStats", "SpeakerStats", "frame_energy", "interpolate_unvoiced", "log_f0"]


def frame_energy(audio, cfg: MelConfig | None = None) -> np.ndarray:
    """Energy per mel frame: ``||STFT magnitude||_2`` over frequency.

    Args:
        audio: ``[T]`` or ``[B, T]`` samples (float, int16 or int32 PCM; numpy or torch).
        cfg: the mel configuration whose frames to follow.

    Returns:
        ``[frames]`` or ``[B, frames]`` float32 with ``frames = mel.n_frames(T)`` (0 frames for ``T < hop``).
        Magnitudes are ``sqrt(re^2 + im^2 + 1e-9)`` as in the mel, so silence gives a small positive value.

    Raises:
        ValueError: wrong dimensionality or dtype, or NaN/inf samples.
    """
    cfg = cfg or MelConfig()
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    arr = np.asarray(audio)
    single = arr.ndim == 1
    if arr.ndim not in (1, 2):
        raise ValueError(f"audio must be [T] or [B, T], got shape {arr.shape}")
    rows = [as_signal(row) for row in (arr[None] if single else arr)]
    pad = (cfg.n_fft - cfg.hop_length) // 2
    n = arr.shape[-1]
    frames = max(0, (n + 2 * pad - cfg.n_fft) // cfg.hop_length + 1)
    if frames == 0 or not rows:
        out = np.zeros((len(rows), frames), dtype=np.float32)
        return out[0] if single else out
    # numpy's reflect padding also covers signals shorter than the padding (repeated reflection).
    y = torch.from_numpy(np.stack([np.pad(r, pad, mode="reflect") for r in rows]))
    spec = torch.stft(
        y,
        cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=torch.hann_window(cfg.win_length),
        center=False,
        return_complex=True,
    )
    mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
    out = torch.linalg.vector_norm(mag, dim=1).numpy().astype(np.float32)
    return out[0] if single else out


def interpolate_unvoiced(f0: np.ndarray) -> np.ndarray:
    """Linear interpolation of F0 across unvoiced (``<= 0``) frames; the ends hold the nearest voiced value.

    Returns ``[frames]`` float32; an all-unvoiced contour stays all zero.
    """
    f0 = np.asarray(f0, dtype=np.float32)
    if f0.ndim != 1:
        raise ValueError(f"f0 must be 1-D, got shape {f0.shape}")
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size == 0:
        return np.zeros_like(f0)
    return np.interp(np.arange(f0.size), voiced, f0[voiced]).astype(np.float32)


def log_f0(f0: np.ndarray, unvoiced: float = 0.0) -> np.ndarray:
    """Natural log of F0 where voiced (``> 0``), ``unvoiced`` elsewhere; float32, same shape."""
    f0 = np.asarray(f0, dtype=np.float32)
    out = np.full(f0.shape, unvoiced, dtype=np.float32)
    np.log(f0, out=out, where=f0 > 0)
    return out


@dataclass
class RunningStats:
    """Streaming count, mean and variance (Welford), mergeable (Chan et al. 1979). Float64 throughout."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean

    def update(self, values) -> RunningStats:
        """Add every finite value of ``values`` (any shape); NaN/inf are rejected with a ValueError."""
        v = np.asarray(values, dtype=np.float64).ravel()
        if not np.isfinite(v).all():
            raise ValueError("statistics update got NaN or infinite values")
        if v.size:
            mean = float(v.mean())
            self.merge(RunningStats(int(v.size), mean, float(((v - mean) ** 2).sum())))
        return self

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold ``other`` into this accumulator (order-independent up to rounding)."""
        if other.count == 0:
            return self
        n = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / n
        self.m2 += other.m2 + delta * delta * self.count * other.count / n
        self.count = n
        return self

    @property
    def var(self) -> float:
        """Population variance (0 for fewer than two values)."""
        return self.m2 / self.count if self.count > 1 else 0.0

    @property
    def std(self) -> float:
        return float(np.sqrt(self.var))

    def to_dict(self) -> dict:
        return {"count": self.count, "mean": self.mean, "m2": self.m2, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict) -> RunningStats:
        return cls(int(data["count"]), float(data["mean"]), float(data["m2"]))


@dataclass
class SpeakerStats:
    """One :class:`RunningStats` per speaker plus a global one, e.g. for log-F0 or energy normalisation."""

    speakers: dict[str, RunningStats] = field(default_factory=dict)
    total: RunningStats = field(default_factory=RunningStats)

    def update(self, speaker: str, values) -> None:
        """Add values for ``speaker`` (and to the global statistics)."""
        batch = RunningStats().update(values)
        self.speakers.setdefault(speaker, RunningStats()).merge(batch)
        self.total.merge(batch)

    def merge(self, other: SpeakerStats) -> SpeakerStats:
        """Fold the statistics of another worker into these."""
        for name, stats in other.speakers.items():
            self.speakers.setdefault(name, RunningStats()).merge(stats)
        self.total.merge(other.total)
        return self

    def to_dict(self) -> dict:
        return {
            "total": self.total.to_dict(),
            "speakers": {name: s.to_dict() for name, s in sorted(self.speakers.items())},
        }

    @classmethod
    def from_dict(cls, data: dict) -> SpeakerStats:
        return cls(
            {name: RunningStats.from_dict(s) for name, s in data["speakers"].items()},
            RunningStats.from_dict(data["total"]),
        )

"""Synthetic signals with a known F0, for testing and benchmarking pitch trackers.

Harmonic complexes (vibrato, glides between 80 and 400 Hz, a falling spectral tilt and random harmonic phases)
separated by silences, optionally with white noise added over the whole signal. The ground truth is given on
the mel frame grid: frame ``i`` (centred on sample ``i * hop + hop / 2``) is voiced when its centre falls inside
a voiced segment, and its F0 is the instantaneous F0 there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KnownF0", "harmonic_complex", "known_f0_set"]


@dataclass
class KnownF0:
    """A synthetic signal and its ground truth.

    Attributes:
        name: what the signal contains.
        audio: ``[T]`` float32 samples.
        f0: ``[frames]`` float32 true F0 in Hz per mel frame, 0 where unvoiced.
    """

    name: str
    audio: np.ndarray
    f0: np.ndarray


def harmonic_complex(
    f0_track: np.ndarray, sample_rate: int, rng: np.random.Generator, n_harmonics: int = 20, tilt_db: float = -6.0
) -> np.ndarray:
    """A sum of harmonics following ``f0_track`` (Hz per sample), amplitude ``tilt_db`` per octave.

    Harmonics above 0.45 of the sample rate are left out (no aliasing); phases are random.
    """
    phase = 2 * np.pi * np.cumsum(f0_track) / sample_rate
    y = np.zeros_like(f0_track)
    for k in range(1, n_harmonics + 1):
        amp = 10 ** (tilt_db * np.log2(k) / 20)
        audible = (k * f0_track) < 0.45 * sample_rate
        y += np.where(audible, amp * np.sin(k * phase + rng.uniform(0, 2 * np.pi)), 0.0)
    return y


def _segment_track(kind: str, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sample_rate
    if kind == "vibrato":
        base = rng.uniform(90, 350)
        return base * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    lo, hi = 80.0, 400.0
    if kind == "glide_up":
        return lo * (hi / lo) ** (t / t[-1])
    return hi * (lo / hi) ** (t / t[-1])  # glide_down


def known_f0_set(
    seed: int = 0, snr_db: tuple[float | None, ...] = (None, 20.0, 10.0), sample_rate: int = 22050, hop: int = 256
) -> list[KnownF0]:
    """A fixed set of ~3 s signals: each kind (vibrato, glide up, glide down) at each noise level.

    Each signal is silence, a voiced segment of ~1.2-1.5 s, silence, a second voiced segment, silence; the
    voiced segments have 10 ms raised-cosine on/offsets. ``snr_db=None`` means no noise.
    """
    rng = np.random.default_rng(seed)
    items = []
    for snr in snr_db:
        for kind in ("vibrato", "glide_up", "glide_down"):
            pieces, truth = [], []
            for seg in ("sil", kind, "sil", "vibrato", "sil"):
                n = int(sample_rate * (rng.uniform(0.25, 0.45) if seg == "sil" else rng.uniform(1.2, 1.5)))
                if seg == "sil":
                    pieces.append(np.zeros(n))
                    truth.append(np.zeros(n))
                    continue
                track = _segment_track(seg, n, sample_rate, rng)
                ramp = np.ones(n)
                m = int(0.01 * sample_rate)
                ramp[:m] = ramp[-m:][::-1] = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
                pieces.append(harmonic_complex(track, sample_rate, rng) * ramp)
                truth.append(track)
            y = np.concatenate(pieces)
            y *= 0.3 / np.max(np.abs(y))
            if snr is not None:
                voiced_power = np.mean(y[np.concatenate(truth) > 0] ** 2)
                y += rng.normal(0, np.sqrt(voiced_power / 10 ** (snr / 10)), y.shape)
            f0_samples = np.concatenate(truth)
            n_frames = len(y) // hop
            f0 = f0_samples[np.arange(n_frames) * hop + hop // 2]
            label = "clean" if snr is None else f"snr{snr:g}dB"
            items.append(KnownF0(f"{kind}/{label}", y.astype(np.float32), f0.astype(np.float32)))
    return items

"""Speech level: active-speech RMS, a soft limiter, and explicit loudness normalisation.

emovox never re-normalises loudness behind the user's back: emotions differ in level (angry speech is louder
than neutral, sad quieter) and the acoustic models reproduce that. :func:`normalise_level` is the explicit
option for a user who wants every file at one level.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["active_rms_db", "normalise_level", "soft_limit"]


def active_rms_db(audio: np.ndarray, sample_rate: int, *, floor_db: float = -40.0) -> float:
    """RMS level (dBFS) over the 20 ms frames within ``floor_db`` of the loudest one (speech, not silence)."""
    hop = max(1, int(0.02 * sample_rate))
    n = audio.shape[0] // hop
    if n == 0:
        return float("-inf")
    frames = audio[: n * hop].reshape(n, hop)
    energy = np.mean(np.square(frames, dtype=np.float64), axis=1)
    db = 10.0 * np.log10(np.maximum(energy, 1e-20))
    active = energy[db >= db.max() + floor_db]
    return float(10.0 * np.log10(max(active.mean(), 1e-20)))


def soft_limit(audio: np.ndarray, threshold: float = 0.7, ceiling: float = 0.98) -> tuple[np.ndarray, float]:
    """Compress samples above ``threshold`` smoothly towards ``ceiling`` (tanh knee); everything below is left
    untouched, so loud speech keeps its level instead of being scaled down whole. Returns (audio, RMS change in
    dB, ≤ 0)."""
    if not 0 < threshold < ceiling <= 1:
        raise ValueError(f"need 0 < threshold < ceiling <= 1, got {threshold}, {ceiling}")
    mag = np.abs(audio)
    over = mag > threshold
    if not over.any():
        return audio, 0.0
    knee = ceiling - threshold
    out = audio.copy()
    out[over] = np.sign(audio[over]) * (threshold + knee * np.tanh((mag[over] - threshold) / knee))
    before = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    after = float(np.sqrt(np.mean(np.square(out, dtype=np.float64))))
    return out, 20.0 * math.log10(max(after, 1e-12) / max(before, 1e-12))


def normalise_level(audio: np.ndarray, sample_rate: int, target_dbfs: float) -> np.ndarray:
    """Scale ``audio`` so its active-speech RMS is ``target_dbfs`` (−60 to −6), soft-limiting any peak."""
    if not (math.isfinite(target_dbfs) and -60.0 <= target_dbfs <= -6.0):
        raise ValueError(f"loudness target must be between -60 and -6 dBFS, got {target_dbfs}")
    level = active_rms_db(audio, sample_rate)
    if not math.isfinite(level) or level < -90.0:
        return audio  # silence stays silence
    scaled = (audio * 10.0 ** ((target_dbfs - level) / 20.0)).astype(np.float32)
    return soft_limit(scaled)[0]

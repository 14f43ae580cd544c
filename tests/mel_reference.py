"""An independent NumPy implementation of the HiFi-GAN mel, used only by tests."""

from __future__ import annotations

import numpy as np


def reference_mel(y: np.ndarray, basis: np.ndarray, n_fft=1024, hop=256, win=1024) -> np.ndarray:
    pad = (n_fft - hop) // 2
    y = np.pad(y.astype(np.float64), (pad, pad), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann, as torch.hann_window
    n = (len(y) - n_fft) // hop + 1
    frames = np.stack([y[i * hop : i * hop + n_fft] * window for i in range(n)], axis=1)
    spec = np.fft.rfft(frames, axis=0)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    return np.log(np.clip(basis.astype(np.float64) @ mag, 1e-5, None))


def golden_signal(sr: int = 22050, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(1234)
    y = (
        0.3 * np.sin(2 * np.pi * 220 * t)
        + 0.2 * np.sin(2 * np.pi * 1375.5 * t)
        + 0.01 * rng.standard_normal(t.size)
    )
    y[: sr // 10] = 0.0  # a silent lead-in exercises the log floor
    return y.astype(np.float32)

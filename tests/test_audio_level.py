"""Speech level helpers: active-speech RMS, the soft limiter and explicit loudness normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from emovox.audio.level import active_rms_db, normalise_level, soft_limit

SR = 22050


def _speech_like(rms: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = np.sin(2 * np.pi * 150 * t) + 0.5 * np.sin(2 * np.pi * 300 * t)
    x[: SR // 5] = 0.0  # leading silence must not count
    active = x[SR // 5 :]
    return (rms * x / np.sqrt(np.mean(active**2))).astype(np.float32)


def test_active_rms_ignores_silence():
    assert active_rms_db(_speech_like(0.1), SR) == pytest.approx(-20.0, abs=0.2)
    assert active_rms_db(np.zeros(10), SR) == float("-inf")


def test_soft_limit_leaves_quiet_audio_alone_and_bounds_loud_audio():
    quiet = _speech_like(0.1)
    same, change = soft_limit(quiet)
    assert same is quiet and change == 0.0
    loud = _speech_like(1.5)
    out, change = soft_limit(loud, 0.7, 0.98)
    assert np.abs(out).max() < 0.98 and change < 0
    below = np.abs(loud) <= 0.7
    np.testing.assert_array_equal(out[below], loud[below])
    # monotone: a louder input never comes out quieter
    order = np.argsort(np.abs(loud))
    assert np.all(np.diff(np.abs(out)[order]) >= -1e-7)
    with pytest.raises(ValueError, match="threshold"):
        soft_limit(loud, 0.9, 0.8)


def test_normalise_level_hits_the_target_and_refuses_silly_targets():
    out = normalise_level(_speech_like(0.01), SR, -23.0)
    assert active_rms_db(out, SR) == pytest.approx(-23.0, abs=0.1)
    silent = np.zeros(SR, dtype=np.float32)
    assert np.array_equal(normalise_level(silent, SR, -23.0), silent)
    for bad in (-3.0, -80.0, float("nan")):
        with pytest.raises(ValueError, match="loudness"):
            normalise_level(out, SR, bad)

"""Prosody measures on synthetic tones with known F0, level, tempo and tilt."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emovox.eval.prosody import frame_hop, measure_prosody, track_f0

SR = 22050


def harmonic(f0, seconds=1.0, rms=0.05, n_harmonics=8, rolloff=1.0, sr=SR):
    """A harmonic complex (amplitude of harmonic k = k^-rolloff) scaled to an exact RMS; f0 may be an array."""
    t = np.arange(int(seconds * sr)) / sr
    f = np.broadcast_to(np.asarray(f0, dtype=float), t.shape)
    phase = 2 * np.pi * np.cumsum(f) / sr
    x = sum(np.sin(k * phase) / k**rolloff for k in range(1, n_harmonics + 1))
    return rms * x / np.sqrt(np.mean(x**2))


@pytest.mark.parametrize("f0", [90.0, 150.0, 240.0])
def test_f0_level_and_energy_of_a_steady_tone(f0):
    p = measure_prosody(harmonic(f0, rms=0.05), SR)
    assert p.f0_hz == pytest.approx(f0, rel=0.005)
    assert p.f0_st == pytest.approx(12 * math.log2(f0 / 100.0), abs=0.1)
    assert p.f0_range_st < 0.2
    assert p.energy_db == pytest.approx(20 * math.log10(0.05), abs=0.3)
    assert p.voiced_fraction > 0.9
    assert p.duration_s == pytest.approx(1.0)


def test_semitones_relative_to_a_speaker_mean():
    p = measure_prosody(harmonic(200.0), SR, ref_hz=100.0 * 2 ** (5 / 12))
    assert p.f0_st == pytest.approx(7.0, abs=0.1)
    with pytest.raises(ValueError, match="ref_hz"):
        measure_prosody(harmonic(200.0), SR, ref_hz=0)


def test_f0_range_of_a_one_octave_glide():
    # Exponential glide 110 -> 220 Hz: F0 in semitones is uniform over 0..12, so 5-95 % spans 0.9 * 12.
    t = np.arange(2 * SR) / SR
    p = measure_prosody(harmonic(110.0 * 2.0 ** (t / 2.0), seconds=2.0), SR)
    assert p.f0_range_st == pytest.approx(10.8, abs=0.5)
    assert p.f0_hz == pytest.approx(110.0 * math.sqrt(2), rel=0.02)


def test_energy_follows_gain_and_the_track_is_on_the_mel_grid():
    quiet, loud = harmonic(150.0, rms=0.01), harmonic(150.0, rms=0.1)
    assert measure_prosody(loud, SR).energy_db - measure_prosody(quiet, SR).energy_db == pytest.approx(
        20.0, abs=0.2
    )
    track = track_f0(quiet, SR)
    assert frame_hop(SR) == 256 and track.f0.shape == (quiet.size // 256,)
    assert track.backend in ("emovox.audio.pitch", "parselmouth")


def burst_train(n, syllable_s, gap_s=0.06, f0=150.0):
    gap = np.zeros(int(gap_s * SR))
    tone = harmonic(f0, seconds=syllable_s) * np.hanning(int(syllable_s * SR)) ** 0.25
    return np.concatenate([gap, *([tone, gap] * n)])


@pytest.mark.parametrize("n", [3, 8])
def test_syllable_nuclei_count_and_rate(n):
    p = measure_prosody(burst_train(n, 0.15), SR)
    assert p.syllables == n
    # Active time is the bursts (the gaps are silent): about n * 0.15 s.
    assert p.active_s == pytest.approx(n * 0.15, rel=0.15)
    assert p.rate_sps == pytest.approx(n / p.active_s)


def test_faster_speech_has_a_higher_rate_and_shorter_active_time():
    slow, fast = measure_prosody(burst_train(6, 0.2), SR), measure_prosody(burst_train(6, 0.1), SR)
    assert fast.rate_sps > 1.5 * slow.rate_sps
    assert slow.active_s / fast.active_s == pytest.approx(2.0, rel=0.2)


def test_spectral_tilt_is_higher_for_a_flatter_spectrum():
    steep = measure_prosody(harmonic(150.0, n_harmonics=30, rolloff=2.0), SR).tilt_db
    flat = measure_prosody(harmonic(150.0, n_harmonics=30, rolloff=0.5), SR).tilt_db
    assert flat > steep + 10


def test_silence_and_noise_give_nan_f0_measures():
    p = measure_prosody(np.zeros(SR), SR)
    assert math.isnan(p.f0_hz) and math.isnan(p.energy_db) and p.syllables == 0
    noise = np.random.default_rng(0).normal(scale=0.05, size=SR)
    assert measure_prosody(noise, SR).voiced_fraction < 0.2


def test_int16_input_and_other_rates():
    x = harmonic(200.0, rms=0.1)
    p16 = measure_prosody(np.round(x * 32767).astype(np.int16), SR)
    assert p16.f0_hz == pytest.approx(200.0, rel=0.005)
    p = measure_prosody(harmonic(200.0, sr=16000), 16000)
    assert p.f0_hz == pytest.approx(200.0, rel=0.005)
    with pytest.raises(ValueError, match="mono"):
        measure_prosody(np.zeros((2, 100)), SR)

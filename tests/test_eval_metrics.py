"""Metric functions of emovox.eval on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emovox.eval.asr import normalize_for_wer, word_error_rate, word_errors
from emovox.eval.mcd import (
    MCD_SCALE,
    dtw,
    dtw_reference,
    f0_rmse_cents,
    mel_cepstral_distortion,
    mel_cepstrum,
)
from emovox.eval.stats import centred_by_group, pearson, slope, spearman

# ----------------------------------------------------------------------------------------------- stats


def test_pearson_and_slope_of_a_line_with_noise_free_data():
    x = np.arange(10.0)
    assert pearson(x, 3 * x + 2) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert slope(x, 3 * x + 2) == pytest.approx(3.0)


def test_pearson_matches_numpy_on_random_data():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_spearman_is_one_for_any_monotone_map_and_handles_ties():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5])
    assert spearman(x, np.exp(5 * x)) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)
    # Hand-computed: ranks of y with a tie are [1, 2.5, 2.5, 4]; Pearson with [1, 2, 3, 4] = 0.9486833.
    assert spearman([1, 2, 3, 4], [10, 20, 20, 30]) == pytest.approx(0.9486833, abs=1e-6)


def test_statistics_are_nan_when_undefined_and_ignore_nans():
    assert math.isnan(pearson([1, 2], [3, 4]))
    assert math.isnan(pearson([1, 1, 1, 1], [1, 2, 3, 4]))
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))
    assert math.isnan(slope([2, 2, 2], [1, 2, 3]))
    assert pearson([1, 2, np.nan, 3, 4], [2, 4, 100, 6, 8]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        pearson([1, 2, 3], [1, 2])


def test_centred_by_group_removes_each_groups_mean():
    v = centred_by_group([1.0, 3.0, 10.0, 14.0, np.nan], ["a", "a", "b", "b", "b"])
    np.testing.assert_allclose(v[:4], [-1, 1, -2, 2])
    assert math.isnan(v[4])


# ----------------------------------------------------------------------------------------------- DTW / MCD


@pytest.mark.parametrize("shape", [((7, 3), (7, 3)), ((12, 4), (5, 4)), ((1, 2), (6, 2)), ((9, 1), (1, 1))])
def test_dtw_kernel_matches_the_reference(shape):
    rng = np.random.default_rng(sum(a * b for a, b in shape))
    x, y = rng.normal(size=shape[0]), rng.normal(size=shape[1])
    cost, path = dtw(x, y)
    ref_cost, ref_path = dtw_reference(x, y)
    assert cost == pytest.approx(ref_cost, rel=1e-12)
    np.testing.assert_array_equal(path, ref_path)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (shape[0][0] - 1, shape[1][0] - 1)
    steps = np.diff(path, axis=0)
    assert set(map(tuple, steps)) <= {(0, 1), (1, 0), (1, 1)}


def test_dtw_recovers_a_time_stretch():
    x = np.sin(np.linspace(0, 6, 40))[:, None]
    y = np.repeat(x, 2, axis=0)  # every frame twice
    cost, path = dtw(x, y)
    assert cost == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(path[:, 0], path[:, 1] // 2)


def test_dtw_rejects_bad_input():
    with pytest.raises(ValueError, match="same D"):
        dtw(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least one frame"):
        dtw(np.zeros((0, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        dtw(np.full((2, 2), np.nan), np.zeros((3, 2)))


def test_mcd_of_identical_mels_is_zero_and_of_a_known_cepstral_offset_is_exact():
    rng = np.random.default_rng(1)
    mel = rng.normal(size=(80, 30))
    assert mel_cepstral_distortion(mel, mel).mcd_db == pytest.approx(0.0, abs=1e-9)
    # A level change only moves c0, which MCD excludes.
    assert mel_cepstral_distortion(mel, mel + 3.0).mcd_db == pytest.approx(0.0, abs=1e-9)
    # log_mel = c0 + 2 * sum_k c_k cos(pi k (n + 1/2) / N): adding 2 * 0.5 * cos(...) moves c_5 by exactly 0.5.
    n = np.arange(80)
    shifted = mel + 2 * 0.5 * np.cos(np.pi * 5 * (n + 0.5) / 80)[:, None]
    res = mel_cepstral_distortion(mel, shifted)
    assert res.mcd_db == pytest.approx(MCD_SCALE * 0.5, rel=1e-6)
    assert res.path.shape == (30, 2)


def test_mel_cepstrum_shape_and_validation():
    c = mel_cepstrum(np.zeros((80, 7)), n_coeffs=13)
    assert c.shape == (7, 13)
    # A pure cosine of quefrency 3 and amplitude 2 * 0.7 in the log spectrum is c_3 = 0.7, nothing else.
    log_mel = 1.0 + 1.4 * np.cos(np.pi * 3 * (np.arange(80) + 0.5) / 80)
    c = mel_cepstrum(np.repeat(log_mel[:, None], 2, axis=1), n_coeffs=24)
    np.testing.assert_allclose(c[0], np.eye(24)[2] * 0.7, atol=1e-12)
    with pytest.raises(ValueError, match="n_coeffs"):
        mel_cepstrum(np.zeros((80, 7)), n_coeffs=80)


def test_f0_rmse_of_a_known_shift_and_voicing_error():
    ref = np.full(20, 200.0)
    syn = ref * 2.0 ** (50.0 / 1200.0)  # +50 cents
    res = f0_rmse_cents(ref, syn)
    assert res["rmse_cents"] == pytest.approx(50.0)
    assert res["bias_cents"] == pytest.approx(50.0)
    assert res["vuv_error"] == 0.0 and res["n_voiced"] == 20
    syn[:5] = 0.0  # five frames unvoiced in the synthesis only
    res = f0_rmse_cents(ref, syn)
    assert res["vuv_error"] == pytest.approx(0.25) and res["n_voiced"] == 15
    assert res["rmse_cents"] == pytest.approx(50.0)
    # Alignment by a path: each synthesised frame used twice.
    path = np.stack([np.arange(10), np.arange(10) // 2], axis=1)
    assert f0_rmse_cents(np.full(10, 100.0), np.full(5, 50.0), path)["rmse_cents"] == pytest.approx(1200.0)


def test_f0_rmse_undefined_without_common_voicing():
    res = f0_rmse_cents(np.zeros(5), np.full(5, 100.0))
    assert math.isnan(res["rmse_cents"]) and res["vuv_error"] == 1.0
    with pytest.raises(ValueError, match="equal lengths"):
        f0_rmse_cents(np.ones(3), np.ones(4))


# ----------------------------------------------------------------------------------------------- WER


def _errors(reference: str, hypothesis: str) -> tuple[int, int, int]:
    return word_errors(reference.split(), hypothesis.split())


def test_word_errors_counts_substitutions_deletions_insertions():
    assert _errors("a b c d", "a b c d") == (0, 0, 0)
    assert _errors("a b c d", "a x c d e") == (1, 0, 1)
    assert _errors("a b c d", "a d") == (0, 2, 0)
    assert _errors("", "a b") == (0, 0, 2)
    assert _errors("a b", "") == (0, 2, 0)
    # Equal-cost alignments prefer substitutions: 'a b' -> 'c d' is 2 substitutions, not 2 dels + 2 ins.
    assert _errors("a b", "c d") == (2, 0, 0)


def test_word_error_rate_is_corpus_level_and_normalises_text():
    res = word_error_rate(["The cat sat.", "It costs 5 dollars!"], ["the cat", "it costs five dollars"])
    assert (res.substitutions, res.deletions, res.insertions) == (0, 1, 0)
    assert res.n_ref_words == 7
    assert res.wer == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match="references"):
        word_error_rate(["a"], [])


def test_normalize_for_wer():
    assert (
        normalize_for_wer("Hello, World!  It's 42 -- well-known.") == "hello world it's forty two well known"
    )
    assert normalize_for_wer("'Quoted' words") == "quoted words"


def test_mcd_and_f0_error_on_real_speech(ljspeech_mini):
    """A clip played 10 % slower (resampled: F0 down by 1200·log2(1.1) ≈ 165 cents) against itself."""
    from emovox.audio.io import load_audio, resample
    from emovox.audio.mel import mel_spectrogram
    from emovox.eval.prosody import track_f0

    audio, _ = load_audio(ljspeech_mini / "wavs" / "LJ001-0002.wav", 22050)
    other, _ = load_audio(ljspeech_mini / "wavs" / "LJ001-0008.wav", 22050)
    slow = resample(audio, 22050, 24255)
    mel, mel_slow = mel_spectrogram(audio).numpy(), mel_spectrogram(slow).numpy()
    res = mel_cepstral_distortion(mel, mel_slow)
    f0, f0_slow = track_f0(audio, 22050).f0, track_f0(slow, 22050).f0
    ok = (res.path[:, 0] < f0.size) & (res.path[:, 1] < f0_slow.size)
    err = f0_rmse_cents(f0, f0_slow, res.path[ok])
    assert err["bias_cents"] == pytest.approx(-1200 * math.log2(1.1), abs=25)
    assert err["n_voiced"] > 50
    # The same words, slowed down, are closer than another sentence.
    assert 0 < res.mcd_db < mel_cepstral_distortion(mel, mel_spectrogram(other).numpy()).mcd_db

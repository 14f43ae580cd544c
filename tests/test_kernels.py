from __future__ import annotations

import numpy as np
import pytest
import torch

from emovox.audio.energy import RunningStats, SpeakerStats, frame_energy, interpolate_unvoiced, log_f0
from emovox.audio.kernels import average_by_duration, durations_from_path, maximum_path, maximum_path_numpy
from emovox.audio.mel import MelConfig, MelSpectrogram, n_frames
from tests.kernel_reference import ref_average, ref_maximum_path


# ------------------------------------------------------------------------------ MAS
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mas_equals_reference_on_random_inputs(dtype):
    rng = np.random.default_rng(0)
    for trial in range(12):
        b, tx, ty = rng.integers(1, 4), rng.integers(1, 12), rng.integers(12, 40)
        value = rng.normal(size=(b, tx, ty)).astype(dtype)
        t_x = rng.integers(1, tx + 1, b)
        t_y = rng.integers(np.maximum(t_x, 1), ty + 1)
        if trial == 0:
            t_y = t_x.copy()  # the diagonal-only case
        path = maximum_path_numpy(value, t_x, t_y)
        for i in range(b):
            expected = ref_maximum_path(value[i], int(t_x[i]), int(t_y[i]))
            np.testing.assert_array_equal(path[i, : t_x[i], : t_y[i]], expected[: t_x[i], : t_y[i]])
            assert not path[i, t_x[i] :].any() and not path[i, :, t_y[i] :].any()


def test_mas_ties_stay_on_the_current_token():
    path = maximum_path_numpy(np.zeros((1, 3, 6), np.float32), np.array([3]), np.array([6]))[0]
    np.testing.assert_array_equal(path.sum(1), [1, 1, 4])  # backtracking from the end, ties keep the token
    np.testing.assert_array_equal(path, ref_maximum_path(np.zeros((3, 6)), 3, 6))


def test_maximum_path_torch_wrapper():
    gen = torch.Generator().manual_seed(1)
    log_p = torch.randn(3, 7, 20, generator=gen, dtype=torch.float64)
    t_x, t_y = torch.tensor([7, 4, 1]), torch.tensor([20, 9, 5])
    mask = (torch.arange(7)[None, :, None] < t_x[:, None, None]) & (torch.arange(20)[None, None, :] < t_y[:, None, None])
    path = maximum_path(log_p, mask)
    assert path.dtype == log_p.dtype and path.shape == log_p.shape
    cols = path.sum(1)
    assert torch.equal(cols, mask[:, 0, :].to(cols.dtype))  # one token per valid frame, none in the padding
    durations = durations_from_path(path)
    np.testing.assert_array_equal(durations.sum(1), t_y.numpy())
    assert (durations[0] >= 1).all() and (durations[1, :4] >= 1).all()
    tokens = path[0].argmax(0)
    assert (tokens.diff() >= 0).all() and (tokens.diff() <= 1).all()  # monotonic, no skipped token


def test_maximum_path_matches_the_monotonic_alignment_search_package():
    mas = pytest.importorskip("monotonic_alignment_search")
    gen = torch.Generator().manual_seed(2)
    log_p = torch.randn(4, 15, 60, generator=gen)
    t_x, t_y = torch.tensor([15, 10, 3, 12]), torch.tensor([60, 31, 7, 12])
    mask = ((torch.arange(15)[None, :, None] < t_x[:, None, None]) & (torch.arange(60)[None, None, :] < t_y[:, None, None])).float()
    assert torch.equal(maximum_path(log_p, mask), mas.maximum_path(log_p, mask))


def test_mas_bad_input():
    with pytest.raises(ValueError, match="more text tokens"):
        maximum_path_numpy(np.zeros((1, 5, 4), np.float32), np.array([5]), np.array([4]))
    with pytest.raises(ValueError, match="NaN"):
        maximum_path_numpy(np.full((1, 2, 4), np.nan, np.float32), np.array([2]), np.array([4]))
    with pytest.raises(ValueError, match="T_text"):
        maximum_path(torch.zeros(1, 2, 4), torch.ones(1, 2, 5))
    empty = maximum_path_numpy(np.zeros((2, 3, 4), np.float32), np.array([0, 2]), np.array([0, 4]))
    assert not empty[0].any() and empty[1].sum() == 4


# ------------------------------------------------------------------------------ phone-level averages
@pytest.mark.parametrize("skip_zeros", [True, False])
def test_average_equals_reference_on_random_inputs(skip_zeros):
    rng = np.random.default_rng(3)
    values = rng.uniform(80, 300, (4, 50)).astype(np.float32)
    values[rng.uniform(size=values.shape) < 0.3] = 0.0
    durations = rng.integers(0, 5, (4, 12))
    out = average_by_duration(values, durations, skip_zeros=skip_zeros)
    for b in range(4):
        np.testing.assert_allclose(out[b], ref_average(values[b], durations[b], skip_zeros), rtol=1e-6)
    single = average_by_duration(torch.from_numpy(values[0]), torch.from_numpy(durations[0]), skip_zeros=skip_zeros)
    np.testing.assert_array_equal(single, out[0])


def test_average_pitch_uses_voiced_frames_only():
    pitch = np.array([0, 100, 110, 0, 0, 0, 200, 0], np.float32)
    np.testing.assert_allclose(average_by_duration(pitch, np.array([3, 2, 0, 3]), skip_zeros=True), [105, 0, 0, 200])
    np.testing.assert_allclose(average_by_duration(pitch, np.array([3, 2, 0, 3]), skip_zeros=False), [70, 0, 0, 200 / 3])


def test_average_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        average_by_duration(np.ones(5), np.array([3, -1]), skip_zeros=False)
    with pytest.raises(ValueError, match="only 5"):
        average_by_duration(np.ones(5), np.array([3, 3]), skip_zeros=False)
    with pytest.raises(ValueError, match="whole numbers"):
        average_by_duration(np.ones(5), np.array([1.5, 2]), skip_zeros=False)
    with pytest.raises(ValueError, match="do not match"):
        average_by_duration(np.ones((2, 5)), np.ones((3, 2), np.int64), skip_zeros=False)


# ------------------------------------------------------------------------------ energy and post-processing
def test_frame_energy_is_the_norm_of_the_mel_magnitude():
    x = torch.randn(2, 22050) * 0.1
    energy = frame_energy(x)
    expected = torch.linalg.vector_norm(MelSpectrogram().magnitude(x), dim=1).numpy()
    assert energy.shape == (2, n_frames(22050, MelConfig()))
    np.testing.assert_allclose(energy, expected, rtol=1e-4)
    np.testing.assert_allclose(frame_energy(x[0].numpy()), energy[0], rtol=1e-6)


def test_frame_energy_edge_cases():
    assert frame_energy(np.zeros(0, np.float32)).shape == (0,)
    assert frame_energy(np.zeros(100)).shape == (0,)
    assert frame_energy(np.zeros(300)).shape == (1,)  # shorter than the padding: repeated reflection
    pcm = (np.sin(np.arange(4000) / 7) * 20000).astype(np.int16)
    np.testing.assert_allclose(frame_energy(pcm), frame_energy(pcm / 32768.0), rtol=1e-4)
    with pytest.raises(ValueError, match="NaN"):
        frame_energy(np.array([0.0, np.nan] * 300))


def test_interpolate_unvoiced_and_log_f0():
    f0 = np.array([0, 100, 0, 0, 130, 0], np.float32)
    np.testing.assert_allclose(interpolate_unvoiced(f0), [100, 100, 110, 120, 130, 130])
    assert not interpolate_unvoiced(np.zeros(4)).any()
    np.testing.assert_allclose(log_f0(f0), [0, np.log(100), 0, 0, np.log(130), 0], rtol=1e-6)


def test_running_stats_stream_and_merge():
    rng = np.random.default_rng(4)
    data = rng.normal(5.0, 2.0, 1000) * 1e3 + 1e6  # large offset: the naive formula would lose precision
    a, b = RunningStats(), RunningStats()
    for chunk in np.array_split(data[:600], 7):
        a.update(chunk)
    b.update(data[600:])
    merged = RunningStats().merge(a).merge(b)
    assert merged.count == 1000
    assert merged.mean == pytest.approx(data.mean(), rel=1e-12)
    assert merged.std == pytest.approx(data.std(), rel=1e-9)
    other = RunningStats().merge(b).merge(a)
    assert other.std == pytest.approx(merged.std, rel=1e-12)
    assert RunningStats().std == 0.0 and RunningStats().update([3.0]).std == 0.0
    with pytest.raises(ValueError, match="NaN"):
        RunningStats().update([1.0, np.nan])


def test_speaker_stats_round_trip():
    stats, worker = SpeakerStats(), SpeakerStats()
    stats.update("a", [1.0, 2.0, 3.0])
    worker.update("b", [10.0, 20.0])
    worker.update("a", [4.0])
    stats.merge(worker)
    assert stats.speakers["a"].mean == pytest.approx(2.5)
    assert stats.total.count == 6 and stats.total.mean == pytest.approx(40 / 6)
    again = SpeakerStats.from_dict(stats.to_dict())
    assert again.to_dict() == stats.to_dict()

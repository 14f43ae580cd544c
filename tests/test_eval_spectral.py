"""Frame-aligned log-mel measures: masked L1, the band-variance (global variance) ratio and its delta form."""

import pytest
import torch
import torch.nn.functional as F

from emovox.eval.spectral import band_variance, band_variance_ratio, delta_variance_ratio, log_mel_l1


def _mels(batch=2, frames=40, seed=0):
    return torch.randn(batch, 80, frames, generator=torch.Generator().manual_seed(seed)) - 5.0


def test_equal_mels_give_ratio_one_and_zero_l1():
    ref = _mels()
    assert torch.allclose(band_variance_ratio(ref, ref), torch.ones(2))
    assert torch.equal(log_mel_l1(ref, ref), torch.zeros(2))


def test_smoothing_over_time_lowers_the_ratio():
    ref = _mels()
    smooth = F.avg_pool1d(ref, kernel_size=5, stride=1, padding=2, count_include_pad=False)
    ratio = band_variance_ratio(smooth, ref)
    assert (ratio < 0.5).all() and (ratio > 0).all()  # a 5-frame mean of white noise keeps about 1/5
    assert torch.allclose(band_variance_ratio(2 * ref, ref), torch.full((2,), 4.0))  # variance scales by a^2
    assert torch.allclose(band_variance_ratio(ref + 3.0, ref), torch.ones(2))  # an offset changes nothing


def test_padding_is_ignored():
    ref = _mels(batch=1, frames=30)
    mel = ref + 0.5
    mask = torch.ones(1, 30)
    mask[:, 20:] = 0
    padded_ref, padded_mel = ref.clone(), mel.clone()
    padded_mel[..., 20:] = 100.0  # garbage in padded frames
    assert log_mel_l1(padded_mel, padded_ref, mask).item() == pytest.approx(0.5)
    expected = band_variance(ref[..., :20])
    assert torch.allclose(band_variance(padded_mel, mask), expected, atol=1e-5)  # offset-free, padding-free
    assert torch.allclose(band_variance_ratio(padded_mel, padded_ref, mask.unsqueeze(1)), torch.ones(1))
    assert torch.allclose(expected, ref[..., :20].var(dim=2, unbiased=False))


def test_constant_reference_bands_are_left_out():
    ref = _mels(batch=1)
    mel = ref.clone()
    ref[:, 3], ref[:, 70:] = -11.5, -11.5  # digital silence in one band, a low-pass source above band 70
    mel[:, 3], mel[:, 70:] = -11.0, -11.0 + 0.5 * _mels(batch=1, seed=1)[:, 70:]
    assert torch.allclose(band_variance_ratio(mel, ref), torch.ones(1))  # the other 69 bands are equal
    assert torch.isnan(band_variance_ratio(mel, torch.full_like(ref, -11.5))).all()


def test_bad_shapes_are_messages():
    with pytest.raises(ValueError, match="differ in shape"):
        log_mel_l1(_mels(frames=10), _mels(frames=11))
    with pytest.raises(ValueError, match="mask shape"):
        band_variance(_mels(frames=10), torch.ones(2, 11))
    with pytest.raises(ValueError, match="at least 2 valid frames"):
        band_variance(_mels(frames=10), torch.zeros(2, 10))


def test_delta_ratio_sees_fine_detail_that_the_band_ratio_misses():
    """A slow contour plus fine detail: removing the detail barely moves the band variance, but the delta
    variance loses most of it; added noise inflates the delta ratio above 1."""
    t = torch.arange(200, dtype=torch.float32)
    contour = 3.0 * torch.sin(2 * torch.pi * t / 100)[None, None].expand(1, 80, 200)
    detail = 0.3 * torch.randn(1, 80, 200, generator=torch.Generator().manual_seed(0))
    ref = contour + detail - 5.0
    smooth = contour - 5.0
    assert band_variance_ratio(smooth, ref).item() > 0.9
    assert delta_variance_ratio(smooth, ref).item() < 0.2
    assert delta_variance_ratio(ref, ref).item() == pytest.approx(1.0)
    assert delta_variance_ratio(ref + detail, ref).item() > 1.5
    mask = torch.ones(1, 200)
    mask[:, 150:] = 0
    garbage = ref.clone()
    garbage[..., 150:] = 100.0
    assert delta_variance_ratio(garbage, ref, mask).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        delta_variance_ratio(ref[..., :10], ref)

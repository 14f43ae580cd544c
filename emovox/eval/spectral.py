"""Frame-aligned log-mel measures: the distance to a reference and the detail an over-smoothed mel lacks.

Both take mels on the same frame grid (a teacher-forced acoustic model's output and the recording it was
forced on) and a mask of valid frames, and return one value per utterance so that callers average as they
need.

- :func:`log_mel_l1`: mean absolute log-mel difference over the valid frames and all bands.
- :func:`band_variance_ratio`: the global variance (GV) of Toda & Tokuda 2007 per mel band — each band's
  variance over the utterance's valid frames — as the ratio output / reference, averaged over bands. An
  L1-trained FastSpeech2 mel is over-smoothed (ratio well below 1); a diffusion decoder that restores the
  detail brings it back toward 1. Equal mels give exactly 1; bands that are constant in the reference are
  left out.
- :func:`delta_variance_ratio`: the same ratio on the frame-to-frame differences of each band (the GV of the
  delta features): the fine temporal detail. Band variance over an utterance is dominated by phone-to-phone
  changes, which a teacher-forced FastSpeech2 mel already follows; the delta variance is what smoothing
  removes first and what sampled noise inflates (a ratio above 1 is noise, not detail).
"""

from __future__ import annotations

import torch

__all__ = ["band_variance", "band_variance_ratio", "delta_variance_ratio", "log_mel_l1"]


def _mask(mel: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The mask as ``[B, 1, T]`` floats (all frames valid when None), checked against ``mel [B, C, T]``."""
    if mel.dim() != 3:
        raise ValueError(f"expected a mel [B, n_mels, T], got shape {tuple(mel.shape)}")
    if mask is None:
        return torch.ones(mel.shape[0], 1, mel.shape[2], dtype=mel.dtype, device=mel.device)
    mask = mask.to(mel.dtype)
    if mask.dim() == 2:
        mask = mask.unsqueeze(1)
    if mask.shape != (mel.shape[0], 1, mel.shape[2]):
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match mel {tuple(mel.shape)}")
    return mask


def log_mel_l1(mel: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-utterance mean absolute difference over valid frames and all bands.

    Shapes: mel, ref ``[B, n_mels, T]``; mask ``[B, T]`` or ``[B, 1, T]`` (1 = valid); returns ``[B]``.
    """
    if mel.shape != ref.shape:
        raise ValueError(f"mel {tuple(mel.shape)} and reference {tuple(ref.shape)} differ in shape")
    m = _mask(mel, mask)
    n = m.sum(dim=(1, 2)) * mel.shape[1]
    if bool((n == 0).any()):
        raise ValueError("an utterance has no valid frames")
    return ((mel - ref).abs() * m).sum(dim=(1, 2)) / n


def band_variance(mel: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Each mel band's (population) variance over the valid frames of each utterance.

    Shapes: mel ``[B, n_mels, T]``; mask ``[B, T]`` or ``[B, 1, T]``; returns ``[B, n_mels]``.
    """
    m = _mask(mel, mask)
    n = m.sum(dim=2)  # [B, 1]
    if bool((n < 2).any()):
        raise ValueError("the band variance needs at least 2 valid frames per utterance")
    mean = (mel * m).sum(dim=2, keepdim=True) / n.unsqueeze(2)
    return ((mel - mean).square() * m).sum(dim=2) / n


def band_variance_ratio(
    mel: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor | None = None, min_ref_var: float = 1e-3
) -> torch.Tensor:
    """Per-utterance mean over mel bands of ``var(mel) / var(ref)`` (variances over valid frames).

    Bands whose reference variance is below ``min_ref_var`` (log-mel units squared; speech bands vary by ~1 or
    more) are constant in the recording — digital silence, or above a low-pass source's cutoff — and are left
    out of the mean rather than dividing by ~0; an utterance with no such band left gives NaN.

    Shapes: mel, ref ``[B, n_mels, T]``; mask ``[B, T]`` or ``[B, 1, T]``; returns ``[B]``.
    """
    if mel.shape != ref.shape:
        raise ValueError(f"mel {tuple(mel.shape)} and reference {tuple(ref.shape)} differ in shape")
    v_ref = band_variance(ref, mask)
    keep = (v_ref >= min_ref_var).to(v_ref.dtype)
    ratio = band_variance(mel, mask) / v_ref.clamp_min(min_ref_var)
    return (ratio * keep).sum(dim=1) / keep.sum(dim=1)  # 0 / 0 = NaN when no band is kept


def delta_variance_ratio(
    mel: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor | None = None, min_ref_var: float = 1e-3
) -> torch.Tensor:
    """Per-utterance :func:`band_variance_ratio` of the frame differences ``mel[t + 1] - mel[t]`` (pairs of
    valid frames only).

    Shapes: mel, ref ``[B, n_mels, T]``; mask ``[B, T]`` or ``[B, 1, T]``; returns ``[B]``.
    """
    if mel.shape != ref.shape:
        raise ValueError(f"mel {tuple(mel.shape)} and reference {tuple(ref.shape)} differ in shape")
    m = _mask(mel, mask)
    pairs = m[..., 1:] * m[..., :-1]
    return band_variance_ratio(mel.diff(dim=2), ref.diff(dim=2), pairs, min_ref_var)

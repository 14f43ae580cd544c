"""Losses of the acoustic model: pure functions returning dicts with namespaced keys (STYLE.md rule 6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from emovox.tts.models.aligner import binarization_loss, forward_sum_loss
from emovox.tts.models.fastspeech2 import AcousticBatch, AcousticOutput

__all__ = ["AcousticLossConfig", "acoustic_losses", "masked_mean"]


@dataclass
class AcousticLossConfig:
    """Weights of the acoustic model's loss terms."""

    mel: float = 1.0  # L1 on the normalised log-mel
    duration: float = 0.1  # MSE on log(d + 1)
    pitch: float = 0.1  # MSE on phone-level normalised log-F0
    energy: float = 0.1  # MSE on phone-level normalised log-energy
    align_forward_sum: float = 1.0  # CTC forward-sum of the aligner
    align_bin: float = 1.0  # binarisation loss weight once enabled
    bin_start_step: int = 2000  # step from which the binarisation loss is on (ramped over bin_ramp_steps)
    bin_ramp_steps: int = 1000
    emotion_ce: float = 0.5  # emotion classification head on z
    adv_mse: float = 0.5  # arousal/dominance/valence head on z
    speaker_adversary: float = 0.1  # gradient-reversal speaker head on z
    intensity_mse: float = 0.0  # per-emotion intensity head on z (needs model.emotion.intensity_head)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` (broadcast from the left-aligned leading dims) is True."""
    mask = mask.to(x.dtype)
    if mask.dim() < x.dim():
        mask = mask.unsqueeze(1) if mask.dim() == 2 and x.dim() == 3 else mask
    mask = mask.expand_as(x)
    return (x * mask).sum() / mask.sum().clamp(min=1)


def _bin_weight(cfg: AcousticLossConfig, step: int) -> float:
    if step < cfg.bin_start_step:
        return 0.0
    return cfg.align_bin * min(1.0, (step - cfg.bin_start_step + 1) / max(1, cfg.bin_ramp_steps))


def acoustic_losses(
    out: AcousticOutput, batch: AcousticBatch, cfg: AcousticLossConfig, step: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its named terms (all scalars)."""
    terms: dict[str, torch.Tensor] = {}
    terms["mel/l1"] = masked_mean(F.l1_loss(out.mel_norm, out.target_mel_norm, reduction="none"), out.y_mask)
    dur_target = torch.log(out.dur_target + 1.0)
    terms["duration/mse"] = masked_mean(
        F.mse_loss(out.log_dur_pred, dur_target, reduction="none"), out.x_mask
    )
    terms["pitch/mse"] = masked_mean(
        F.mse_loss(out.pitch_pred, out.pitch_target, reduction="none"), out.x_mask
    )
    terms["energy/mse"] = masked_mean(
        F.mse_loss(out.energy_pred, out.energy_target, reduction="none"), out.x_mask
    )
    terms["align/forward_sum"] = forward_sum_loss(out.attn_log_probs, batch.x_lengths, batch.y_lengths)
    terms["align/bin"] = binarization_loss(out.attn_hard, out.attn_soft)
    labelled = batch.emotion >= 0
    if labelled.any():
        terms["emotion/ce"] = F.cross_entropy(out.emotion.emotion_logits[labelled], batch.emotion[labelled])
    else:
        terms["emotion/ce"] = out.emotion.emotion_logits.sum() * 0.0
    if batch.adv_mask.any():
        terms["emotion/adv_mse"] = F.mse_loss(out.emotion.adv[batch.adv_mask], batch.adv[batch.adv_mask])
    else:
        terms["emotion/adv_mse"] = out.emotion.adv.sum() * 0.0
    terms["emotion/speaker_ce"] = F.cross_entropy(out.emotion.speaker_logits, batch.speaker)
    if cfg.intensity_mse > 0:
        terms["emotion/intensity_mse"] = _intensity_loss(out, batch)
    total = (
        cfg.mel * terms["mel/l1"]
        + cfg.duration * terms["duration/mse"]
        + cfg.pitch * terms["pitch/mse"]
        + cfg.energy * terms["energy/mse"]
        + cfg.align_forward_sum * terms["align/forward_sum"]
        + _bin_weight(cfg, step) * terms["align/bin"]
        + cfg.emotion_ce * terms["emotion/ce"]
        + cfg.adv_mse * terms["emotion/adv_mse"]
        + cfg.speaker_adversary * terms["emotion/speaker_ce"]
    )
    if cfg.intensity_mse > 0:
        total = total + cfg.intensity_mse * terms["emotion/intensity_mse"]
    return total, terms


def _intensity_loss(out: AcousticOutput, batch: AcousticBatch) -> torch.Tensor:
    """Squared error of the intensity head against ``r·onehot(e)`` (summed over emotions, mean over the items with
    a label and a known intensity; neutral's target is all zeros)."""
    pred = out.emotion.intensity
    if pred is None:
        raise ValueError("loss.intensity_mse needs the intensity head: set model.emotion.intensity_head=true")
    if batch.intensity is None:
        return pred.sum() * 0.0
    known = (batch.emotion >= 0) & torch.isfinite(batch.intensity)
    if not known.any():
        return pred.sum() * 0.0
    target = torch.zeros_like(pred[known])
    target.scatter_(1, batch.emotion[known].unsqueeze(1), batch.intensity[known].unsqueeze(1).to(pred.dtype))
    return (pred[known] - target).pow(2).sum(1).mean()

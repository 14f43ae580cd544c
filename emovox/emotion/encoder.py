"""The reference emotion encoder: a mel spectrogram -> an emotion vector ``z``.

A masked 1-D conv stack over time, attentive statistics pooling and a linear bottleneck give ``z``; three
heads shape the space during acoustic-model training (DESIGN.md, "The emotion space"): an emotion classifier,
an arousal/dominance/valence regressor, and a speaker classifier behind a gradient-reversal layer (Ganin &
Lempitsky 2015) so that ``z`` carries emotion rather than speaker identity. An optional fourth, linear head
regresses each emotion's intensity (``r·onehot(e)``): a classifier alone lets ``z`` saturate once an emotion is
recognisable, so strong and very strong renderings share one ``z`` and a label intensity past the data's mean
has nothing to follow; a linear read-out keeps the distance from neutral growing with intensity. Pure module;
no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EmotionEncoder", "EmotionEncoderConfig", "EmotionEncoderOutput", "grad_reverse"]


@dataclass
class EmotionEncoderConfig:
    """Reference emotion encoder settings."""

    channels: int = 192  # conv channels
    n_layers: int = 4  # conv layers (kernel 5, stride 1)
    z_dim: int = 64  # size of the emotion vector z
    dropout: float = 0.1
    speaker_adversary_weight: float = 1.0  # gradient-reversal strength for the speaker head
    intensity_head: bool = False  # a linear per-emotion intensity regressor (loss.intensity_mse)


@dataclass
class EmotionEncoderOutput:
    z: torch.Tensor  # [B, z_dim]
    emotion_logits: torch.Tensor  # [B, n_emotions]
    adv: torch.Tensor  # [B, 3] (arousal, dominance, valence) in [-1, 1]
    speaker_logits: torch.Tensor  # [B, n_speakers] (through gradient reversal)
    intensity: torch.Tensor | None = None  # [B, n_emotions] each emotion's intensity (None without the head)


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward, gradient multiplied by ``-scale`` backward."""
    return _GradReverse.apply(x, scale)


class EmotionEncoder(nn.Module):
    """Mel ``[B, n_mels, T]`` + mask ``[B, T]`` -> :class:`EmotionEncoderOutput`."""

    def __init__(self, cfg: EmotionEncoderConfig, n_mels: int, n_emotions: int, n_speakers: int):
        super().__init__()
        self.cfg = cfg
        layers = []
        for i in range(cfg.n_layers):
            layers.append(nn.Conv1d(n_mels if i == 0 else cfg.channels, cfg.channels, 5, padding=2))
        self.convs = nn.ModuleList(layers)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.channels) for _ in range(cfg.n_layers))
        self.attn = nn.Conv1d(cfg.channels, 1, 1)
        self.bottleneck = nn.Linear(2 * cfg.channels, cfg.z_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.emotion_head = nn.Linear(cfg.z_dim, max(1, n_emotions))
        self.adv_head = nn.Linear(cfg.z_dim, 3)
        self.speaker_head = nn.Sequential(
            nn.Linear(cfg.z_dim, cfg.channels), nn.ReLU(), nn.Linear(cfg.channels, max(1, n_speakers))
        )
        self.intensity_head = nn.Linear(cfg.z_dim, max(1, n_emotions)) if cfg.intensity_head else None

    def embed(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Only ``z`` (``[B, z_dim]``)."""
        m = mask.unsqueeze(1).to(mel.dtype)
        h = mel * m
        for conv, norm in zip(self.convs, self.norms):
            h = norm(conv(h).transpose(1, 2)).transpose(1, 2)  # per-frame norm: padding cannot leak in
            h = self.dropout(F.relu(h)) * m
        # attentive statistics pooling over valid frames
        w = self.attn(h).masked_fill(~mask.unsqueeze(1), float("-inf"))
        w = torch.softmax(w, dim=-1)
        mean = (h * w).sum(-1)
        std = torch.sqrt(((h - mean.unsqueeze(-1)).pow(2) * w).sum(-1).clamp(min=1e-6))
        return self.bottleneck(torch.cat([mean, std], dim=-1))

    def heads(self, z: torch.Tensor) -> EmotionEncoderOutput:
        return EmotionEncoderOutput(
            z=z,
            emotion_logits=self.emotion_head(z),
            adv=torch.tanh(self.adv_head(z)),
            speaker_logits=self.speaker_head(grad_reverse(z, self.cfg.speaker_adversary_weight)),
            intensity=self.intensity_head(z) if self.intensity_head is not None else None,
        )

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> EmotionEncoderOutput:
        return self.heads(self.embed(mel, mask))

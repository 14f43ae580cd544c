"""The conversion model of the prosody path: emotion vector ``z`` → prosody change.

A linear map (optionally plus a small residual MLP) from ``z`` to the prosody vector of :mod:`emovox.evc.params`.
Linear in ``z`` on purpose: every emotion control is a point in the emotion space (labels ``c0 + α·d_e``, mixtures,
ADV, reference clips), so a linear map carries the emotion algebra over to prosody — a mixture's prosody is the
mixture of the prosodies, intensity scales every change linearly and beyond the training range (intensity 2
extrapolates along the direction vector, as EmoReg does), and the neutral centre maps to "no change".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emovox.evc.params import FIELDS

__all__ = ["ProsodyPredictor", "ProsodyPredictorConfig"]


@dataclass
class ProsodyPredictorConfig:
    """Shape of the prosody predictor."""

    z_dim: int = 0  # size of the emotion vector (0 = taken from the acoustic model's emotion space)
    hidden: int = (
        0  # width of a residual MLP on top of the linear map (0 = linear only, extrapolates exactly)
    )


class ProsodyPredictor(nn.Module):
    """``z [B, Dz]`` → prosody change ``[B, len(FIELDS)]`` relative to the neutral centre ``c0``."""

    def __init__(self, config: ProsodyPredictorConfig, center: torch.Tensor):
        super().__init__()
        if config.z_dim <= 0:
            raise ValueError("ProsodyPredictorConfig.z_dim must be positive")
        if center.shape != (config.z_dim,):
            raise ValueError(
                f"the neutral centre has shape {tuple(center.shape)}, expected ({config.z_dim},)"
            )
        self.config = config
        self.register_buffer("center", center.detach().clone().float())
        self.linear = nn.Linear(config.z_dim, len(FIELDS), bias=False)
        self.mlp = None
        if config.hidden > 0:
            self.mlp = nn.Sequential(
                nn.Linear(config.z_dim, config.hidden), nn.Tanh(), nn.Linear(config.hidden, len(FIELDS))
            )
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        dz = z - self.center
        out = self.linear(dz)
        if self.mlp is not None:
            # The residual is zero at the centre, so neutral stays "no change".
            out = out + self.mlp(dz) - self.mlp(torch.zeros_like(dz[:1]))
        return out

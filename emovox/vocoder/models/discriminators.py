"""HiFi-GAN discriminators: multi-period (MPD) and multi-scale (MSD), Kong et al. 2020, section 2.2-2.3.

Each sub-discriminator returns its score map and the feature maps of every layer (for the feature-matching
loss). Pure modules: no I/O.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from emovox.vocoder.models.hifigan import LRELU_SLOPE, get_padding

__all__ = [
    "DiscriminatorConfig",
    "DiscriminatorOutput",
    "MultiPeriodDiscriminator",
    "MultiScaleDiscriminator",
    "PeriodDiscriminator",
    "ScaleDiscriminator",
]


@dataclass
class DiscriminatorConfig:
    """Both discriminators' hyper-parameters (defaults: the paper's)."""

    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])  # MPD periods (primes avoid overlap)
    n_scales: int = 3  # MSD: raw audio, then x2 and x4 average-pooled
    channel_divisor: int = 1  # divide every hidden width by this (1 = the paper; more for tiny runs)

    def __post_init__(self) -> None:
        if self.channel_divisor < 1 or 1024 % self.channel_divisor:
            raise ValueError("discriminator.channel_divisor must be a power of two <= 1024")
        if not self.periods or any(p < 1 for p in self.periods):
            raise ValueError("discriminator.periods must be a non-empty list of positive integers")
        if self.n_scales < 1:
            raise ValueError("discriminator.n_scales must be >= 1")


@dataclass
class DiscriminatorOutput:
    """Scores and feature maps of every sub-discriminator, in the same order (``names``)."""

    names: list[str]
    scores: list[torch.Tensor]  # each [B, N] (flattened score map)
    features: list[list[torch.Tensor]]  # per sub-discriminator, every layer's activation

    def split(self, n: int) -> tuple[DiscriminatorOutput, DiscriminatorOutput]:
        """Split the batch after item ``n``: for one call on ``cat([real, fake])`` (one forward per step,
        which DDP requires), returns the outputs of the first ``n`` items and of the rest."""
        parts = []
        for sl in (slice(None, n), slice(n, None)):
            parts.append(
                DiscriminatorOutput(
                    names=self.names,
                    scores=[s[sl] for s in self.scores],
                    features=[[f[sl] for f in fs] for fs in self.features],
                )
            )
        return parts[0], parts[1]


class PeriodDiscriminator(nn.Module):
    """Looks at every ``period``-th sample: ``[B, 1, T]`` reshaped to ``[B, 1, T / period, period]``."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3, channel_divisor: int = 1) -> None:
        super().__init__()
        self.period = period
        chans = [1] + [max(1, c // channel_divisor) for c in (32, 128, 512, 1024)]
        pad = (get_padding(kernel_size, 1), 0)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(cin, cout, (kernel_size, 1), (stride, 1), padding=pad))
            for cin, cout in itertools.pairwise(chans)
        )
        top = chans[-1]
        self.convs.append(weight_norm(nn.Conv2d(top, top, (kernel_size, 1), 1, padding=pad)))
        self.conv_post = weight_norm(nn.Conv2d(top, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Args: y ``[B, 1, T]``. Returns: score ``[B, N]`` and the feature maps."""
        b, c, t = y.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            y = F.pad(y, (0, n_pad), "reflect" if n_pad < t else "constant")
            t = t + n_pad
        x = y.view(b, c, t // self.period, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


class ScaleDiscriminator(nn.Module):
    """Grouped strided 1-D convolutions on (possibly pooled) raw audio ``[B, 1, T]``."""

    def __init__(self, use_spectral_norm: bool = False, channel_divisor: int = 1) -> None:
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        # (in, out, kernel, stride, groups, padding) as in the paper's MelGAN-derived discriminator.
        paper = [
            (1, 128, 15, 1, 1, 7),
            (128, 128, 41, 2, 4, 20),
            (128, 256, 41, 2, 16, 20),
            (256, 512, 41, 4, 16, 20),
            (512, 1024, 41, 4, 16, 20),
            (1024, 1024, 41, 1, 16, 20),
            (1024, 1024, 5, 1, 1, 2),
        ]
        layers = []
        for cin, cout, k, stride, groups, pad in paper:
            cin = cin if cin == 1 else cin // channel_divisor
            cout //= channel_divisor
            layers.append((cin, cout, k, stride, math.gcd(groups, cin, cout), pad))  # groups must divide both
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(cin, cout, k, s, groups=g, padding=p)) for cin, cout, k, s, g, p in layers
        )
        self.conv_post = norm(nn.Conv1d(layers[-1][1], 1, 3, 1, padding=1))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Args: y ``[B, 1, T]``. Returns: score ``[B, N]`` and the feature maps."""
        features = []
        x = y
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`PeriodDiscriminator` per period. ``[B, 1, T] -> DiscriminatorOutput``."""

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DiscriminatorConfig()
        self.periods = list(cfg.periods)
        self.discriminators = nn.ModuleList(
            PeriodDiscriminator(p, channel_divisor=cfg.channel_divisor) for p in self.periods
        )

    def forward(self, y: torch.Tensor) -> DiscriminatorOutput:
        outs = [d(y) for d in self.discriminators]
        return DiscriminatorOutput(
            names=[f"mpd{p}" for p in self.periods],
            scores=[s for s, _ in outs],
            features=[f for _, f in outs],
        )


class MultiScaleDiscriminator(nn.Module):
    """:class:`ScaleDiscriminator` on the raw audio (spectral norm) and x2, x4 average-pooled copies."""

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DiscriminatorConfig()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(use_spectral_norm=(i == 0), channel_divisor=cfg.channel_divisor)
            for i in range(cfg.n_scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, y: torch.Tensor) -> DiscriminatorOutput:
        scores, features = [], []
        for i, d in enumerate(self.discriminators):
            if i:
                y = self.pool(y)
            s, f = d(y)
            scores.append(s)
            features.append(f)
        return DiscriminatorOutput(
            names=[f"msd{i}" for i in range(len(scores))], scores=scores, features=features
        )

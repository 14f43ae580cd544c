"""Transformer (FFT) blocks, variance predictors and the length regulator of FastSpeech2.

Every layer takes a padding mask and keeps padded positions at zero, so an utterance gives the same result
alone or in a batch with longer ones.

Shapes: ``x`` is ``[B, T, C]`` (time-major for attention), ``mask`` is ``[B, T]`` with True on valid positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``[B]`` lengths -> ``[B, T]`` boolean mask, True on valid positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position encodings (Vaswani et al. 2017), added to the input."""

    def __init__(self, channels: int, max_len: int = 10000):
        super().__init__()
        pe = torch.zeros(max_len, channels)
        if not pe.is_meta:  # an architecture check needs the shape only (on meta, sines would import dynamo)
            position = torch.arange(max_len).unsqueeze(1)
            div = torch.exp(torch.arange(0, channels, 2) * (-math.log(10000.0) / channels))
            pe[:, 0::2] = torch.sin(position * div)
            pe[:, 1::2] = torch.cos(position * div[: channels // 2])
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError(f"sequence of {x.shape[1]} positions exceeds the maximum of {self.pe.shape[0]}")
        return x + self.pe[: x.shape[1]].unsqueeze(0).to(x.dtype)


class ConvFeedForward(nn.Module):
    """Two 1-D convolutions with ReLU (FastSpeech's position-wise conv FFN), masked before each conv."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(filter_channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1).to(x.dtype)
        h = x.transpose(1, 2) * m
        h = self.dropout(F.relu(self.conv1(h)))
        h = self.conv2(h * m) * m
        return h.transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention with a key padding mask, on PyTorch's fused ``scaled_dot_product_attention``."""

    def __init__(self, channels: int, n_heads: int, dropout: float):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, c // self.n_heads).permute(2, 0, 3, 1, 4)
        attn_mask = mask[:, None, None, :]  # [B, 1, 1, T]: every query attends to the valid keys only
        h = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(h.transpose(1, 2).reshape(b, t, c))


class FFTBlock(nn.Module):
    """Pre-norm self-attention + conv FFN block."""

    def __init__(self, channels: int, n_heads: int, filter_channels: int, kernel_size: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = SelfAttention(channels, n_heads, dropout)
        self.norm2 = nn.LayerNorm(channels)
        self.ffn = ConvFeedForward(channels, filter_channels, kernel_size, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), mask))
        x = x + self.dropout(self.ffn(self.norm2(x), mask))
        return x * mask.unsqueeze(-1).to(x.dtype)


class FFTStack(nn.Module):
    """Positions + N FFT blocks + final LayerNorm; an optional condition vector is added before each block."""

    def __init__(self, n_layers: int, channels: int, n_heads: int, filter_channels: int, kernel_size: int,
                 dropout: float):  # fmt: skip
        super().__init__()
        self.positions = SinusoidalPositions(channels)
        self.blocks = nn.ModuleList(
            FFTBlock(channels, n_heads, filter_channels, kernel_size, dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = self.positions(x)
        for block in self.blocks:
            if cond is not None:
                x = x + cond.unsqueeze(1)
            x = block(x, mask)
        return self.norm(x) * mask.unsqueeze(-1).to(x.dtype)


class VariancePredictor(nn.Module):
    """Two conv + LayerNorm + ReLU layers and a linear output: one scalar per position (FastSpeech2)."""

    def __init__(
        self, channels: int, filter_channels: int, kernel_size: int, dropout: float, n_layers: int = 2
    ):
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(n_layers):
            self.convs.append(
                nn.Conv1d(
                    channels if i == 0 else filter_channels,
                    filter_channels,
                    kernel_size,
                    padding=kernel_size // 2,
                )
            )
            self.norms.append(nn.LayerNorm(filter_channels))
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(filter_channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, T, C]`` -> ``[B, T]`` (zero on padding)."""
        m = mask.unsqueeze(-1).to(x.dtype)
        h = x * m
        for conv, norm in zip(self.convs, self.norms):
            h = conv(h.transpose(1, 2)).transpose(1, 2)
            h = self.dropout(F.relu(norm(h))) * m
        return self.proj(h).squeeze(-1) * mask.to(x.dtype)


def expand_by_durations(x: torch.Tensor, durations: torch.Tensor, max_len: int | None = None):
    """Length regulator: repeat each position of ``x`` [B, N, C] ``durations`` [B, N] (int) times.

    Returns:
        ``(y [B, T, C], y_mask [B, T], path [B, N, T])`` where ``path`` is the hard alignment used.
    """
    durations = durations.long().clamp(min=0)
    total = durations.sum(1)
    t_max = int(total.max().clamp(min=1)) if max_len is None else max_len
    ends = torch.cumsum(durations, dim=1)  # [B, N]
    starts = ends - durations
    frames = torch.arange(t_max, device=x.device)[None, None, :]
    path = ((frames >= starts.unsqueeze(-1)) & (frames < ends.unsqueeze(-1))).to(x.dtype)  # [B, N, T]
    y = torch.bmm(path.transpose(1, 2), x)
    y_mask = lengths_to_mask(total, t_max)
    return y, y_mask, path

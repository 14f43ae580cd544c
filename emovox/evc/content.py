"""The content encoder of the neural conversion path: a recording's log-mel → the acoustic model's phonemes.

The neural path converts without a transcript by recognising *what is said* in the acoustic model's own units:
a convolutional encoder reads the source's log-mel, normalised per utterance (each mel band's mean and the overall
spread removed, so level, channel and most of the speaker's timbre are gone), and predicts, frame by frame, which
symbol of the model's table is being spoken (a phonetic posteriorgram). Its training targets are the acoustic
model's own alignments of the corpus (:mod:`emovox.evc.content_training`), so the units are exactly the ones the
model's encoder reads. :func:`collapse` turns the frame labels into a symbol sequence with durations, which the
acoustic model then speaks with the target emotion vector ``z`` (:mod:`emovox.evc.neural`).

Speaker information is removed twice: by the per-utterance normalisation, and by training with vocal-tract-length
and spectral-tilt perturbation (:func:`perturb_mel`), so the encoder sees each sentence in many voices.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ContentEncoder", "ContentEncoderConfig", "collapse", "frame_labels", "perturb_mel"]


@dataclass
class ContentEncoderConfig:
    """Shape of the content encoder."""

    n_mels: int = 80
    n_symbols: int = 0  # size of the acoustic model's symbol table (set from the model)
    channels: int = 192  # width of the convolution stack
    layers: int = 6  # residual convolution blocks (dilations 1, 2, 4, 1, 2, 4, ...)
    kernel_size: int = 5
    dropout: float = 0.1


def normalise_utterance(mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Remove each mel band's mean over the utterance's frames and divide by the utterance's overall spread.

    ``mel [B, n_mels, T]``, ``mask [B, T]`` (True on frames) → the same shape, zero outside the mask."""
    m = mask.unsqueeze(1).to(mel.dtype)
    n = m.sum(2, keepdim=True).clamp(min=1.0)
    centred = (mel - (mel * m).sum(2, keepdim=True) / n) * m
    spread = torch.sqrt((centred**2).sum((1, 2), keepdim=True) / (n * mel.shape[1])).clamp(min=1e-3)
    return centred / spread


class _Block(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(
            channels, channels, kernel_size, padding=dilation * (kernel_size // 2), dilation=dilation
        )
        self.norm = nn.LayerNorm(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.gelu(self.conv(x * m))
        y = self.norm(y.transpose(1, 2)).transpose(1, 2)
        return (x + self.drop(y)) * m


class ContentEncoder(nn.Module):
    """``log-mel [B, n_mels, T]`` + ``mask [B, T]`` → symbol logits ``[B, T, n_symbols]``."""

    def __init__(self, config: ContentEncoderConfig):
        super().__init__()
        if config.n_symbols <= 0:
            raise ValueError(
                "ContentEncoderConfig.n_symbols must be set from the acoustic model's symbol table"
            )
        self.config = config
        c = config.channels
        self.inp = nn.Conv1d(config.n_mels, c, config.kernel_size, padding=config.kernel_size // 2)
        self.blocks = nn.ModuleList(
            _Block(c, config.kernel_size, 2 ** (i % 3), config.dropout) for i in range(config.layers)
        )
        self.out = nn.Linear(c, config.n_symbols)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1).to(mel.dtype)
        x = self.inp(normalise_utterance(mel, mask)) * m
        for block in self.blocks:
            x = block(x, m)
        return self.out(x.transpose(1, 2))


def frame_labels(tokens: torch.Tensor, durations: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Per-frame symbol ids from an alignment: ``tokens [N]`` repeated by ``durations [N]`` (frames), cut or padded
    (with the last symbol) to ``n_frames``."""
    labels = torch.repeat_interleave(tokens.long(), durations.long().clamp(min=0))
    if labels.numel() == 0:
        raise ValueError("the alignment has no frames")
    if labels.numel() < n_frames:
        labels = torch.cat([labels, labels[-1:].expand(n_frames - labels.numel())])
    return labels[:n_frames]


def collapse(labels: torch.Tensor, min_frames: int = 2) -> tuple[list[int], list[int]]:
    """Frame labels ``[T]`` → (symbol ids, durations in frames): runs of one label become one symbol; runs shorter
    than ``min_frames`` (flicker between two symbols) are absorbed by the run before them (the first by the next).
    The durations add up to ``T``."""
    values = labels.tolist()
    if not values:
        return [], []
    runs: list[list[int]] = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([v, 1])
    merged: list[list[int]] = []
    for v, d in runs:
        if merged and (d < min_frames or merged[-1][0] == v):
            merged[-1][1] += d
        else:
            merged.append([v, d])
    if len(merged) > 1 and merged[0][1] < min_frames:
        merged[1][1] += merged[0][1]
        merged.pop(0)
    return [v for v, _ in merged], [d for _, d in merged]


def perturb_mel(
    mel: torch.Tensor, generator: torch.Generator, warp: float = 0.15, tilt: float = 1.5
) -> torch.Tensor:
    """A random voice for each item of ``mel [B, n_mels, T]`` (log-mel): the band axis stretched by a factor in
    ``[1 - warp, 1 + warp]`` (vocal tract length), plus a random spectral tilt of up to ``±tilt`` log units from the
    lowest to the highest band and a random level."""
    b, n, _ = mel.shape
    out = torch.empty_like(mel)
    bands = torch.arange(n, dtype=mel.dtype, device=mel.device)
    for i in range(b):
        alpha = 1.0 + warp * (2 * torch.rand((), generator=generator).item() - 1)
        src = (bands / alpha).clamp(0, n - 1)
        lo = src.floor().long()
        hi = (lo + 1).clamp(max=n - 1)
        w = (src - lo.to(mel.dtype))[:, None]
        warped = mel[i, lo] * (1 - w) + mel[i, hi] * w
        slope = tilt * (2 * torch.rand((), generator=generator).item() - 1)
        level = 2.0 * (2 * torch.rand((), generator=generator).item() - 1)
        out[i] = warped + (slope * bands / (n - 1))[:, None] + level
    return out

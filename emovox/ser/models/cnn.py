"""A compact speech-emotion recogniser on log-mels: CNN front end, transformer encoder, attentive statistics
pooling, an emotion classifier, an ADV regressor and an optional adversarial speaker head.

The network is pure: no file I/O, no device logic. The emotion list, the mel configuration and the input
normalisation travel in the checkpoint metadata (written by :mod:`emovox.ser.train`); the model only knows
counts and sizes from :class:`SERModelConfig`.

Architecture (shapes for a batch of ``B`` mels with ``T`` frames):

- per-utterance normalisation of each mel channel over its valid frames (``norm="utterance"``);
- SpecAugment-style frequency and time masks while training (Park et al. 2019, "SpecAugment");
- ``n_conv_layers`` Conv2d blocks, each stride 2 in frequency and time: ``[B, C, F/2^n, T/2^n]``;
- projection to ``d_model``, a depthwise convolution as relative position signal, ``n_layers`` pre-norm
  transformer layers with key-padding masks;
- attentive statistics pooling (Okabe et al. 2018, "Attentive Statistics Pooling for Deep Speaker
  Embedding"): attention-weighted mean and standard deviation over valid frames, then a linear embedding;
- heads: emotion logits, ADV = tanh(linear) in [-1, 1]^3 ordered (arousal, dominance, valence), and speaker
  logits behind a gradient-reversal layer (Ganin & Lempitsky 2015) so the embedding carries less identity.

Every layer masks padded frames, so an item gives the same output alone or in a padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from emovox.emotion.encoder import grad_reverse

__all__ = [
    "SERModel",
    "SERModelConfig",
    "SEROutput",
    "grad_reverse",
    "lengths_to_mask",
    "ser_losses",
    "utterance_normalise",
]

NORM_MODES = ("utterance", "none")


@dataclass
class SERModelConfig:
    """Sizes of the recogniser; emotion and speaker counts are filled in from the data by the trainer."""

    n_mels: int = 80  # input mel channels
    n_emotions: int = 8  # emotion classes (the list itself is stored in the checkpoint metadata)
    n_speakers: int = 0  # classes of the adversarial speaker head; 0 disables the head
    # input normalisation: none (raw log-mel: keeps level and spectral tilt, measured better on emosynth and
    # RAVDESS) | utterance (per-channel mean/var over valid frames)
    norm: str = "none"
    conv_channels: int = 16  # channels of the Conv2d front end
    n_conv_layers: int = 2  # Conv2d blocks, each halving frequency and time
    d_model: int = 128  # transformer width
    n_layers: int = 2  # transformer layers
    n_heads: int = 4  # attention heads
    ffn_mult: int = 2  # feed-forward width as a multiple of d_model
    pos_kernel: int = 7  # kernel of the depthwise convolution that gives the encoder relative positions
    dropout: float = 0.1  # dropout in the encoder and before the heads
    pool_dim: int = 64  # hidden size of the attentive pooling's attention
    embedding_dim: int = 128  # utterance embedding fed to the heads
    freq_masks: int = 2  # SpecAugment frequency masks per item (training only)
    freq_mask_width: int = 8  # maximum width of a frequency mask, mel channels
    time_masks: int = 2  # SpecAugment time masks per item (training only)
    time_mask_frac: float = 0.1  # maximum width of a time mask as a fraction of the item's frames
    grl_scale: float = 1.0  # gradient-reversal factor of the speaker head

    def __post_init__(self) -> None:
        if self.norm not in NORM_MODES:
            raise ValueError(f"model.norm must be one of {', '.join(NORM_MODES)}, not '{self.norm}'")
        if self.d_model % self.n_heads:
            raise ValueError(f"model.d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.n_emotions < 2:
            raise ValueError("the recogniser needs at least 2 emotion classes")
        if self.pos_kernel % 2 == 0:
            raise ValueError("model.pos_kernel must be odd")


@dataclass
class SEROutput:
    """What :meth:`SERModel.forward` returns.

    Shapes: ``logits [B, n_emotions]``, ``adv [B, 3]`` in [-1, 1], ``speaker_logits [B, n_speakers]`` or None,
    ``embedding [B, embedding_dim]``.
    """

    logits: torch.Tensor
    adv: torch.Tensor
    embedding: torch.Tensor
    speaker_logits: torch.Tensor | None = None


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[B]`` lengths -> boolean mask ``[B, max_len]``, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def utterance_normalise(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance, per-channel mean/variance normalisation over valid frames; padding becomes 0.

    Shapes: ``x [B, C, T]``, ``mask [B, T]`` -> ``[B, C, T]``.
    """
    m = mask[:, None, :].to(x.dtype)
    n = m.sum(-1, keepdim=True).clamp_min(1.0)
    mean = (x * m).sum(-1, keepdim=True) / n
    var = ((x - mean).pow(2) * m).sum(-1, keepdim=True) / n
    return (x - mean) / torch.sqrt(var + eps) * m


class SpecAugment(nn.Module):
    """Frequency and time masks on valid frames, filled with each channel's mean over the utterance's valid
    frames (0 after per-utterance normalisation; a neutral level, not silence or a loud 0, on raw log-mels);
    identity in eval mode."""

    def __init__(self, cfg: SERModelConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x [B, C, T]`` (already normalised), ``lengths [B]`` -> ``[B, C, T]``."""
        cfg = self.cfg
        if not self.training or (cfg.freq_masks == 0 and cfg.time_masks == 0):
            return x
        b, c, t = x.shape
        keep = torch.ones(b, c, t, dtype=torch.bool, device=x.device)
        chans = torch.arange(c, device=x.device)[None, :]
        frames = torch.arange(t, device=x.device)[None, :]
        for _ in range(cfg.freq_masks):
            width = torch.randint(0, cfg.freq_mask_width + 1, (b, 1), device=x.device)
            start = (torch.rand(b, 1, device=x.device) * (c - width + 1)).long()
            keep &= ~((chans >= start) & (chans < start + width))[:, :, None]
        max_w = (lengths.float() * cfg.time_mask_frac).long().clamp_min(0)[:, None]
        for _ in range(cfg.time_masks):
            width = (torch.rand(b, 1, device=x.device) * (max_w + 1).float()).long()
            start = (torch.rand(b, 1, device=x.device) * (lengths[:, None] - width + 1).float()).long()
            keep &= ~((frames >= start) & (frames < start + width))[:, None, :]
        valid = (frames < lengths[:, None])[:, None, :].to(x.dtype)  # [B, 1, T]
        mean = (x * valid).sum(-1, keepdim=True) / valid.sum(-1, keepdim=True).clamp_min(1.0)
        return torch.where(keep, x, mean) * valid


class _ConvFrontEnd(nn.Module):
    """Conv2d blocks (3x3, stride 2 in frequency and time) with masking after every block."""

    def __init__(self, cfg: SERModelConfig) -> None:
        super().__init__()
        layers, ch_in, freq = [], 1, cfg.n_mels
        for _ in range(cfg.n_conv_layers):
            layers.append(nn.Conv2d(ch_in, cfg.conv_channels, 3, stride=2, padding=1))
            ch_in, freq = cfg.conv_channels, (freq + 1) // 2
        self.layers = nn.ModuleList(layers)
        self.out_dim = cfg.conv_channels * freq

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, n_mels, T]`` -> ``([B, T', out_dim], lengths' [B])`` with ``T' = ceil(T / 2^n)``."""
        h = x.unsqueeze(1)
        for conv in self.layers:
            h = F.gelu(conv(h))
            lengths = (lengths + 1) // 2
            h = h * lengths_to_mask(lengths, h.shape[-1])[:, None, None, :].to(h.dtype)
        b, c, f, t = h.shape
        return h.reshape(b, c * f, t).transpose(1, 2), lengths


class AttentiveStatsPool(nn.Module):
    """Attention-weighted mean and standard deviation over valid frames: ``[B, T, D] -> [B, 2D]``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.attention(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(scores.float(), dim=-1).to(h.dtype).unsqueeze(-1)
        mean = (w * h).sum(1)
        var = (w * (h - mean[:, None, :]).pow(2)).sum(1)
        return torch.cat([mean, torch.sqrt(var.clamp_min(1e-6))], dim=-1)


class SERModel(nn.Module):
    """The recogniser: log-mel ``[B, n_mels, T]`` + lengths -> :class:`SEROutput`."""

    def __init__(self, cfg: SERModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.augment = SpecAugment(cfg)
        self.front = _ConvFrontEnd(cfg)
        self.proj = nn.Linear(self.front.out_dim, cfg.d_model)
        self.pos_conv = nn.Conv1d(
            cfg.d_model, cfg.d_model, cfg.pos_kernel, padding=cfg.pos_kernel // 2, groups=cfg.d_model
        )
        layer = nn.TransformerEncoderLayer(
            cfg.d_model,
            cfg.n_heads,
            cfg.d_model * cfg.ffn_mult,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(cfg.d_model)
        self.pool = AttentiveStatsPool(cfg.d_model, cfg.pool_dim)
        self.embed = nn.Sequential(
            nn.Linear(2 * cfg.d_model, cfg.embedding_dim), nn.LayerNorm(cfg.embedding_dim)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.emotion_head = nn.Linear(cfg.embedding_dim, cfg.n_emotions)
        self.adv_head = nn.Linear(cfg.embedding_dim, 3)
        self.speaker_head = nn.Linear(cfg.embedding_dim, cfg.n_speakers) if cfg.n_speakers > 0 else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> SEROutput:
        """Classify a batch of log-mels.

        Args:
            x: log-mel spectrograms, padded (padding values are ignored).
            lengths: valid frames per item.

        Returns:
            :class:`SEROutput`.

        Shapes:
            ``x [B, n_mels, T]``, ``lengths [B]`` (int64) -> logits ``[B, n_emotions]``, adv ``[B, 3]``,
            embedding ``[B, embedding_dim]``, speaker_logits ``[B, n_speakers]``.
        """
        if x.dim() != 3 or x.shape[1] != self.cfg.n_mels:
            raise ValueError(f"expected mels [B, {self.cfg.n_mels}, T], got {tuple(x.shape)}")
        lengths = lengths.to(x.device).long().clamp(min=1, max=x.shape[-1])
        mask = lengths_to_mask(lengths, x.shape[-1])
        x = utterance_normalise(x, mask) if self.cfg.norm == "utterance" else x * mask[:, None, :].to(x.dtype)
        x = self.augment(x, lengths)
        h, lengths = self.front(x, lengths)
        mask = lengths_to_mask(lengths, h.shape[1])
        fmask = mask[:, :, None].to(h.dtype)
        h = self.proj(h) * fmask
        h = h + self.pos_conv(h.transpose(1, 2)).transpose(1, 2) * fmask
        h = self.encoder(h, src_key_padding_mask=~mask)
        h = self.final_norm(h) * fmask
        emb = self.embed(self.pool(h, mask))
        z = self.dropout(emb)
        speaker = None
        if self.speaker_head is not None:
            speaker = self.speaker_head(grad_reverse(z, self.cfg.grl_scale))
        return SEROutput(
            logits=self.emotion_head(z),
            adv=torch.tanh(self.adv_head(z)),
            embedding=emb,
            speaker_logits=speaker,
        )


def ser_losses(
    out: SEROutput,
    emotion: torch.Tensor,
    adv: torch.Tensor,
    adv_mask: torch.Tensor,
    speaker: torch.Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    adv_weight: float = 1.0,
    speaker_weight: float = 0.0,
) -> dict[str, torch.Tensor]:
    """The training losses, namespaced; ``"total"`` is the weighted sum to back-propagate.

    Args:
        out: the model output.
        emotion: class indices ``[B]``; -1 marks items without a usable label (ignored).
        adv: ADV targets ``[B, 3]`` in [-1, 1]; rows where ``adv_mask`` is False are ignored.
        adv_mask: ``[B]`` bool, True where the item has an ADV target.
        speaker: speaker indices ``[B]`` for the adversarial head (-1 ignored), or None.
    """
    logits = out.logits.float()
    losses: dict[str, torch.Tensor] = {}
    valid = emotion >= 0
    if bool(valid.any()):
        ce = F.cross_entropy(logits[valid], emotion[valid], label_smoothing=label_smoothing)
    else:  # a batch with no usable label contributes no emotion gradient
        ce = logits.sum() * 0.0
    losses["emotion/ce"] = ce
    w = adv_mask.to(logits.dtype)[:, None]
    losses["adv/mse"] = ((out.adv.float() - adv).pow(2) * w).sum() / (3 * w.sum()).clamp_min(1.0)
    total = losses["emotion/ce"] + adv_weight * losses["adv/mse"]
    if out.speaker_logits is not None and speaker is not None and speaker_weight > 0:
        known = speaker >= 0
        if bool(known.any()):
            losses["speaker/ce"] = F.cross_entropy(out.speaker_logits.float()[known], speaker[known])
            total = total + speaker_weight * losses["speaker/ce"]
    with torch.no_grad():
        hits = (logits.argmax(-1) == emotion) & valid
        losses["emotion/acc"] = hits.sum().float() / valid.sum().clamp_min(1).float()
    losses["total"] = total
    return losses

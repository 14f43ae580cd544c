"""The diffusion decoder's denoiser: a non-causal WaveNet-style residual stack over the mel (DiffSinger).

The network only predicts; the noise schedule and the sampling loop live in :mod:`emovox.tts.diffusion`
(STYLE.md rule 3). It works in a *normalised* mel space, ``(mel - mel_mean) / mel_std`` per band, whose
statistics are buffers (they travel in the checkpoint; set them from corpus statistics with
:meth:`Denoiser.set_mel_stats`).

Conditioning, following DiffSinger (Liu et al. 2022, "DiffSinger: Singing Voice Synthesis via Shallow
Diffusion Mechanism", §3.3) and DiffWave (Kong et al. 2021):
- per frame: the FastSpeech2 decoder hidden sequence and the coarse (FastSpeech2) mel, concatenated and
  projected by a 1x1 convolution inside every residual layer;
- per utterance: the diffusion step (sinusoidal embedding + MLP), the emotion vector ``z`` and the speaker
  embedding ``g``, summed into one vector that every residual layer adds (through its own linear map) before
  its dilated convolution. ``z = None`` selects a learned *null* emotion, the unconditional model of
  classifier-free guidance (Ho & Salimans 2022); training drops ``z`` to it with probability
  ``cond_dropout`` (see :func:`emovox.tts.diffusion.diffusion_loss`).

Masking: every input of a time-mixing (dilated) convolution is multiplied by the mask, so padded frames act
exactly like the convolution's zero padding: a padded batch gives the same valid frames as the items alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PREDICTIONS", "Denoiser", "DenoiserConfig"]

PREDICTIONS = ("epsilon", "v_prediction", "sample")


@dataclass
class DenoiserConfig:
    """Size and conditioning of the denoiser."""

    n_mels: int = 80  # mel channels of x_t, the coarse mel and the output
    residual_channels: int = 128  # width of the residual stack (DiffSinger: 256)
    n_layers: int = 20  # residual layers (DiffSinger: 20)
    dilation_cycle: int = 4  # dilations 1, 2, ..., 2^(cycle-1), repeated
    kernel_size: int = 3  # dilated convolution kernel (odd)
    cond_channels: int = 192  # channels of the FastSpeech2 decoder hidden sequence (0 = coarse mel only)
    emotion_dim: int = 64  # size of the emotion vector z
    speaker_dim: int = 64  # size of the speaker embedding g (0 = single speaker)
    prediction: str = "sample"  # the network's target: sample (x0), epsilon (noise) or v_prediction
    cond_dropout: float = 0.1  # training probability of replacing z by the null emotion (for guidance)
    mel_mean: float = -5.0  # initial per-band mean buffer (log-mel); replace with corpus stats
    mel_std: float = 2.0  # initial per-band std buffer (log-mel); replace with corpus stats

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"denoiser prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ValueError(f"cond_dropout must be in [0, 1), got {self.cond_dropout}")
        if self.kernel_size % 2 == 0 or self.kernel_size < 1:
            raise ValueError(f"kernel_size must be odd and positive, got {self.kernel_size}")
        for name in ("n_mels", "residual_channels", "n_layers", "dilation_cycle", "emotion_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cond_channels < 0 or self.speaker_dim < 0:
            raise ValueError("cond_channels and speaker_dim must be >= 0")
        if self.mel_std <= 0:
            raise ValueError(f"mel_std must be > 0, got {self.mel_std}")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (integer or fractional) diffusion steps (Vaswani et al. 2017; DiffWave).

    Shapes: ``t [B]`` -> ``[B, dim]``.
    """
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, device=t.device, dtype=torch.float32) * (-math.log(10000.0) / max(half - 1, 1))
    )
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([args.sin(), args.cos()], dim=1)
    return F.pad(emb, (0, dim - 2 * half))


class ResidualLayer(nn.Module):
    """Gated dilated convolution with per-utterance and per-frame conditioning; returns (residual, skip)."""

    def __init__(self, channels: int, frame_cond_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.dilated = nn.Conv1d(
            channels, 2 * channels, kernel_size, padding=dilation * (kernel_size - 1) // 2, dilation=dilation
        )
        self.global_proj = nn.Linear(channels, channels)
        self.frame_proj = nn.Conv1d(frame_cond_channels, 2 * channels, 1)
        self.out = nn.Conv1d(channels, 2 * channels, 1)

    def forward(
        self, x: torch.Tensor, global_cond: torch.Tensor, frame_cond: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapes: x [B, C, T], global_cond [B, C], frame_cond [B, Cf, T], mask [B, 1, T]."""
        y = (x + self.global_proj(global_cond)[:, :, None]) * mask
        y = self.dilated(y) + self.frame_proj(frame_cond)
        gate, filt = y.chunk(2, dim=1)
        y = torch.sigmoid(gate) * torch.tanh(filt)
        residual, skip = self.out(y).chunk(2, dim=1)
        return (x + residual) * (mask / math.sqrt(2.0)), skip


class Denoiser(nn.Module):
    """Predicts the noise (or v) of a noised normalised mel, given the FastSpeech2 outputs, z and g."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.residual_channels
        self.register_buffer("mel_mean", torch.full((cfg.n_mels,), float(cfg.mel_mean)))
        self.register_buffer("mel_std", torch.full((cfg.n_mels,), float(cfg.mel_std)))
        self.input_proj = nn.Conv1d(cfg.n_mels, c, 1)
        self.step_mlp = nn.Sequential(nn.Linear(c, 4 * c), nn.SiLU(), nn.Linear(4 * c, c))
        self.emotion_proj = nn.Sequential(nn.Linear(cfg.emotion_dim, c), nn.SiLU(), nn.Linear(c, c))
        # The unconditional ("dropped") emotion lives in z space, so guidance and dropout swap vectors only.
        self.null_emotion = nn.Parameter(torch.zeros(cfg.emotion_dim))
        self.speaker_proj = nn.Linear(cfg.speaker_dim, c) if cfg.speaker_dim > 0 else None
        frame_cond_channels = cfg.cond_channels + cfg.n_mels
        self.layers = nn.ModuleList(
            ResidualLayer(c, frame_cond_channels, cfg.kernel_size, 2 ** (i % cfg.dilation_cycle))
            for i in range(cfg.n_layers)
        )
        self.skip_proj = nn.Conv1d(c, c, 1)
        self.output_proj = nn.Conv1d(c, cfg.n_mels, 1)
        nn.init.zeros_(self.output_proj.weight)  # start as the zero predictor (DiffWave)
        nn.init.zeros_(self.output_proj.bias)

    # ----- the normalised diffusion space -----
    @torch.no_grad()
    def set_mel_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store per-band log-mel statistics ``[n_mels]`` (from the training corpus) in the buffers."""
        if mean.shape != self.mel_mean.shape or std.shape != self.mel_std.shape:
            raise ValueError(f"mel stats must have shape [{self.cfg.n_mels}], got {tuple(mean.shape)}")
        if not bool((std > 0).all()):
            raise ValueError("mel std must be positive in every band")
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std)

    def normalise(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, n_mels, T]`` -> the diffusion space."""
        return (mel - self.mel_mean[:, None]) / self.mel_std[:, None]

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """The diffusion space ``[B, n_mels, T]`` -> log-mel."""
        return x * self.mel_std[:, None] + self.mel_mean[:, None]

    def null_z(self, batch: int) -> torch.Tensor:
        """The learned unconditional emotion, ``[batch, emotion_dim]``."""
        return self.null_emotion[None].expand(batch, -1)

    # ----- prediction -----
    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor | None,
        coarse: torch.Tensor,
        z: torch.Tensor | None,
        g: torch.Tensor | None,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Predict epsilon or v (``cfg.prediction``) for ``x_t`` at step ``t``.

        Args:
            x_t: the noised mel in the normalised space (see :meth:`normalise`).
            t: diffusion steps, integer or float, in training-schedule units (0 … n_train_timesteps-1).
            cond: the FastSpeech2 decoder hidden sequence; None only when ``cfg.cond_channels == 0``.
            coarse: the coarse (FastSpeech2) log-mel, *not* normalised (normalised here).
            z: emotion vectors, or None for the unconditional (null) emotion for the whole batch.
            g: speaker embeddings; None only when ``cfg.speaker_dim == 0``.
            mask: 1 for valid frames, 0 for padding.

        Returns:
            The prediction, zero on padded frames.

        Shapes:
            x_t, coarse, output: ``[B, n_mels, T]``; t: ``[B]``; cond: ``[B, cond_channels, T]``;
            z: ``[B, emotion_dim]``; g: ``[B, speaker_dim]``; mask: ``[B, 1, T]``.
        """
        batch = x_t.shape[0]
        mask = mask.to(x_t.dtype)
        frame_cond = self.normalise(coarse)
        if self.cfg.cond_channels > 0:
            if cond is None:
                raise ValueError("the denoiser was built with cond_channels > 0 but got cond=None")
            frame_cond = torch.cat([cond, frame_cond], dim=1)
        if t.ndim == 0:
            t = t.expand(batch)
        h = self.step_mlp(timestep_embedding(t, self.cfg.residual_channels).to(x_t.dtype))
        h = h + self.emotion_proj(self.null_z(batch) if z is None else z)
        if self.speaker_proj is not None:
            if g is None:
                raise ValueError("the denoiser was built with speaker_dim > 0 but got g=None")
            h = h + self.speaker_proj(g)
        x = self.input_proj(x_t) * mask
        skip = torch.zeros_like(x)
        for layer in self.layers:
            x, s = layer(x, h, frame_cond, mask)
            skip = skip + s
        y = F.relu(self.skip_proj(skip / math.sqrt(len(self.layers))))
        return self.output_proj(y) * mask

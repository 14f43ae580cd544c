"""FastSpeech2 (Ren et al. 2021) with a learned aligner, phone-level variance (FastPitch, Łańcucki 2021), and
conditioning on one emotion vector ``z`` from the emotion space.

Training (``forward``): the reference emotion encoder reads the target mel and gives ``z`` plus its heads; the
aligner aligns phonemes with frames and MAS gives hard durations; pitch and energy targets are averaged per
phoneme over those durations; the variance adaptor is teacher-forced; the decoder predicts the normalised
log-mel. Inference (``infer``): ``z`` comes from the caller (the emotion bank's algebra or a reference clip),
durations, pitch and energy from the predictors.

Pitch is modelled as per-speaker normalised log-F0 and energy as normalised log-energy; the statistics are
registered buffers set from the training data, so they travel in the checkpoint (STYLE.md rule 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from emovox.emotion.encoder import EmotionEncoder, EmotionEncoderConfig, EmotionEncoderOutput
from emovox.tts.models.aligner import AlignmentEncoder, beta_binomial_log_prior
from emovox.tts.models.layers import FFTStack, VariancePredictor, expand_by_durations, lengths_to_mask

__all__ = ["AcousticBatch", "AcousticModel", "AcousticModelConfig", "AcousticOutput", "InferenceOutput"]


@dataclass
class AcousticModelConfig:
    """FastSpeech2 + aligner + emotion encoder sizes. ``n_symbols``/``n_speakers``/``n_emotions`` come from data."""

    n_symbols: int = 0  # size of the symbol table (set from the data)
    n_speakers: int = 1  # speakers in the training data
    n_emotions: int = 0  # emotions of the classifier head (0 = no labelled data)
    n_mels: int = 80
    hidden: int = 192  # model width
    n_heads: int = 2
    encoder_layers: int = 4
    decoder_layers: int = 4
    ffn_channels: int = 512  # conv FFN width
    ffn_kernel: int = 5  # conv FFN kernel size
    dropout: float = 0.1
    predictor_channels: int = 192
    predictor_kernel: int = 3
    predictor_dropout: float = 0.5
    variance_embed_kernel: int = 3  # conv kernel embedding pitch/energy values (FastPitch)
    aligner_channels: int = 80
    aligner_temperature: float = 5e-4
    prior_scaling: float = 1.0  # beta-binomial prior strength (0 disables the prior)
    max_frames_per_phoneme: int = 64  # duration cap at inference
    emotion: EmotionEncoderConfig = field(default_factory=EmotionEncoderConfig)


@dataclass
class AcousticBatch:
    """A padded training batch. Shapes: B items, N phonemes, T frames."""

    tokens: torch.Tensor  # [B, N] int64
    x_lengths: torch.Tensor  # [B]
    mel: torch.Tensor  # [B, n_mels, T] log-mel (HiFi-GAN definition)
    y_lengths: torch.Tensor  # [B]
    f0: torch.Tensor  # [B, T] Hz, 0 = unvoiced
    energy: torch.Tensor  # [B, T] frame energy (L2 norm of the STFT magnitude)
    speaker: torch.Tensor  # [B] int64
    emotion: torch.Tensor  # [B] int64 index into the emotion list, -1 = unlabelled
    adv: torch.Tensor  # [B, 3] arousal, dominance, valence in [-1, 1]
    adv_mask: torch.Tensor  # [B] bool, True where adv is known
    utt_ids: list[str] = field(default_factory=list)
    intensity: torch.Tensor | None = None  # [B] the manifest's intensity (0-1), NaN where unknown

    def to(self, device: torch.device | str) -> AcousticBatch:
        moved = {
            k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
            for k, v in vars(self).items()
        }
        return AcousticBatch(**moved)


@dataclass
class AcousticOutput:
    mel: torch.Tensor  # [B, n_mels, T] predicted log-mel
    log_dur_pred: torch.Tensor  # [B, N]
    pitch_pred: torch.Tensor  # [B, N] normalised log-F0
    energy_pred: torch.Tensor  # [B, N] normalised log-energy
    dur_target: torch.Tensor  # [B, N] frames per phoneme (from MAS)
    pitch_target: torch.Tensor  # [B, N]
    energy_target: torch.Tensor  # [B, N]
    attn_soft: torch.Tensor  # [B, T, N]
    attn_hard: torch.Tensor  # [B, T, N]
    attn_log_probs: torch.Tensor  # [B, T, N]
    x_mask: torch.Tensor  # [B, N]
    y_mask: torch.Tensor  # [B, T]
    emotion: EmotionEncoderOutput
    decoder_hidden: torch.Tensor  # [B, T, hidden] (conditions a diffusion decoder)
    target_mel_norm: torch.Tensor  # [B, n_mels, T] normalised target
    mel_norm: torch.Tensor  # [B, n_mels, T] normalised prediction


@dataclass
class InferenceOutput:
    mel: torch.Tensor  # [B, n_mels, T]
    mel_lengths: torch.Tensor  # [B]
    durations: torch.Tensor  # [B, N] frames
    pitch: torch.Tensor  # [B, N] normalised log-F0 used
    energy: torch.Tensor  # [B, N]
    decoder_hidden: torch.Tensor  # [B, T, hidden]
    y_mask: torch.Tensor  # [B, T]


class AcousticModel(nn.Module):
    def __init__(self, cfg: AcousticModelConfig):
        super().__init__()
        if cfg.n_symbols <= 0:
            raise ValueError("AcousticModelConfig.n_symbols must be set from the symbol table")
        self.cfg = cfg
        h = cfg.hidden
        self.embedding = nn.Embedding(cfg.n_symbols, h, padding_idx=0)
        nn.init.normal_(self.embedding.weight, 0.0, h**-0.5)
        self.speaker_embedding = nn.Embedding(max(1, cfg.n_speakers), h)
        self.emotion_encoder = EmotionEncoder(cfg.emotion, cfg.n_mels, cfg.n_emotions, cfg.n_speakers)
        self.z_proj = nn.Linear(cfg.emotion.z_dim, h)
        stack = dict(channels=h, n_heads=cfg.n_heads, filter_channels=cfg.ffn_channels,
                     kernel_size=cfg.ffn_kernel, dropout=cfg.dropout)  # fmt: skip
        self.encoder = FFTStack(cfg.encoder_layers, **stack)
        self.decoder = FFTStack(cfg.decoder_layers, **stack)
        self.aligner = AlignmentEncoder(cfg.n_mels, h, cfg.aligner_channels, cfg.aligner_temperature)
        pred = dict(channels=h, filter_channels=cfg.predictor_channels, kernel_size=cfg.predictor_kernel,
                    dropout=cfg.predictor_dropout)  # fmt: skip
        self.duration_predictor = VariancePredictor(**pred)
        self.pitch_predictor = VariancePredictor(**pred)
        self.energy_predictor = VariancePredictor(**pred)
        k = cfg.variance_embed_kernel
        self.pitch_embed = nn.Conv1d(1, h, k, padding=k // 2)
        self.energy_embed = nn.Conv1d(1, h, k, padding=k // 2)
        self.mel_out = nn.Linear(h, cfg.n_mels)
        # Data statistics (set by the trainer before training; saved with the weights).
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels))
        pitch_stats = torch.zeros(max(1, cfg.n_speakers), 2)  # per speaker: mean and std of log F0
        if not pitch_stats.is_meta:  # an architecture check needs the shape only (see SinusoidalPositions)
            pitch_stats[:] = torch.tensor([5.0, 0.25])
        self.register_buffer("pitch_stats", pitch_stats)
        self.register_buffer("energy_stats", torch.tensor([0.0, 1.0]))

    # ---------------------------------------------------------------------------------------------- helpers

    def set_statistics(self, mel_mean, mel_std, pitch_stats, energy_stats) -> None:
        """Copy data statistics: mel mean/std ``[n_mels]``, per-speaker log-F0 (mean, std) ``[S, 2]``,
        log-energy (mean, std) ``[2]``."""
        with torch.no_grad():
            self.mel_mean.copy_(torch.as_tensor(mel_mean))
            self.mel_std.copy_(torch.as_tensor(mel_std).clamp(min=1e-3))
            self.pitch_stats.copy_(torch.as_tensor(pitch_stats))
            self.energy_stats.copy_(torch.as_tensor(energy_stats))

    def normalise_mel(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mel_mean[None, :, None]) / self.mel_std[None, :, None]

    def denormalise_mel(self, mel_norm: torch.Tensor) -> torch.Tensor:
        return mel_norm * self.mel_std[None, :, None] + self.mel_mean[None, :, None]

    def normalise_pitch(self, f0: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        """Hz ``[B, T]`` -> normalised log-F0 (0 where unvoiced)."""
        stats = self.pitch_stats[speaker]  # [B, 2]
        logf0 = torch.log(f0.clamp(min=1.0))
        norm = (logf0 - stats[:, :1]) / stats[:, 1:].clamp(min=1e-3)
        return torch.where(f0 > 0, norm, torch.zeros_like(norm))

    def normalise_energy(self, energy: torch.Tensor) -> torch.Tensor:
        return (torch.log(energy.clamp(min=1e-4)) - self.energy_stats[0]) / self.energy_stats[1].clamp(
            min=1e-3
        )

    def condition(self, z: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        """The per-utterance condition vector ``[B, hidden]``: speaker embedding + projected ``z``."""
        return self.speaker_embedding(speaker) + self.z_proj(z)

    def _variance_embedding(
        self, pitch: torch.Tensor, energy: torch.Tensor, x_mask: torch.Tensor
    ) -> torch.Tensor:
        m = x_mask.unsqueeze(1).to(pitch.dtype)
        p = self.pitch_embed(pitch.unsqueeze(1) * m)
        e = self.energy_embed(energy.unsqueeze(1) * m)
        return ((p + e) * m).transpose(1, 2)

    def _decode(
        self, h: torch.Tensor, durations: torch.Tensor, cond: torch.Tensor, max_len: int | None = None
    ):
        y, y_mask, _ = expand_by_durations(h, durations, max_len)
        hidden = self.decoder(y, y_mask, cond)
        mel_norm = self.mel_out(hidden).transpose(1, 2) * y_mask.unsqueeze(1).to(hidden.dtype)
        return mel_norm, hidden, y_mask

    # ---------------------------------------------------------------------------------------------- training

    def forward(self, batch: AcousticBatch, mas_fn) -> AcousticOutput:
        """Teacher-forced forward pass.

        Args:
            batch: an :class:`AcousticBatch`.
            mas_fn: monotonic alignment search, ``(log_p [B, N, T], mask [B, N, T]) -> hard path [B, N, T]``
                (``emovox.audio.kernels.maximum_path``); passed in so the module stays free of kernels.

        Returns:
            :class:`AcousticOutput`.
        """
        x_mask = lengths_to_mask(batch.x_lengths, batch.tokens.shape[1])
        y_mask = lengths_to_mask(batch.y_lengths, batch.mel.shape[2])
        target_norm = self.normalise_mel(batch.mel) * y_mask.unsqueeze(1)
        emo = self.emotion_encoder(target_norm, y_mask)
        cond = self.condition(emo.z, batch.speaker)

        emb = self.embedding(batch.tokens) * x_mask.unsqueeze(-1)
        h = self.encoder(emb, x_mask, cond)

        log_prior = None
        if self.cfg.prior_scaling > 0:
            log_prior = beta_binomial_log_prior(batch.x_lengths, batch.y_lengths, self.cfg.prior_scaling)
        attn_soft, attn_log_probs = self.aligner(
            target_norm, emb.transpose(1, 2), x_mask, log_prior, self.speaker_embedding(batch.speaker)
        )
        cell_mask = x_mask.unsqueeze(1) & y_mask.unsqueeze(2)  # [B, T, N]
        with torch.no_grad():
            log_soft = torch.log(attn_soft.clamp(min=1e-12)).masked_fill(~cell_mask, -1e9)
            hard = mas_fn(log_soft.transpose(1, 2).contiguous(), cell_mask.transpose(1, 2).contiguous())
            attn_hard = hard.transpose(1, 2).to(attn_soft.dtype)  # [B, T, N]
        durations = attn_hard.sum(1)  # [B, N]

        pitch_frames = self.normalise_pitch(batch.f0, batch.speaker) * y_mask
        voiced = (batch.f0 > 0).to(attn_hard.dtype) * y_mask
        energy_frames = self.normalise_energy(batch.energy) * y_mask
        # Phone-level averages over the hard alignment (FastPitch): pitch over voiced frames only.
        pitch_target = torch.einsum("btn,bt->bn", attn_hard, pitch_frames * voiced) / (
            torch.einsum("btn,bt->bn", attn_hard, voiced).clamp(min=1)
        )
        energy_target = torch.einsum("btn,bt->bn", attn_hard, energy_frames) / durations.clamp(min=1)

        h_var = h + cond.unsqueeze(1)
        log_dur_pred = self.duration_predictor(h_var, x_mask)
        pitch_pred = self.pitch_predictor(h_var, x_mask)
        energy_pred = self.energy_predictor(h_var, x_mask)
        h_dec = h_var + self._variance_embedding(pitch_target, energy_target, x_mask)
        mel_norm, hidden, _ = self._decode(h_dec, durations, cond, max_len=batch.mel.shape[2])
        return AcousticOutput(
            mel=self.denormalise_mel(mel_norm),
            log_dur_pred=log_dur_pred,
            pitch_pred=pitch_pred,
            energy_pred=energy_pred,
            dur_target=durations,
            pitch_target=pitch_target * x_mask,
            energy_target=energy_target * x_mask,
            attn_soft=attn_soft,
            attn_hard=attn_hard,
            attn_log_probs=attn_log_probs,
            x_mask=x_mask,
            y_mask=y_mask,
            emotion=emo,
            decoder_hidden=hidden,
            target_mel_norm=target_norm,
            mel_norm=mel_norm,
        )

    # ---------------------------------------------------------------------------------------------- inference

    @torch.inference_mode()
    def embed_reference(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
        """``z`` of reference clips: log-mel ``[B, n_mels, T]`` -> ``[B, z_dim]``."""
        mask = lengths_to_mask(mel_lengths, mel.shape[2])
        return self.emotion_encoder.embed(self.normalise_mel(mel) * mask.unsqueeze(1), mask)

    @torch.inference_mode()
    def infer(
        self,
        tokens: torch.Tensor,
        x_lengths: torch.Tensor,
        speaker: torch.Tensor,
        z: torch.Tensor,
        *,
        length_scale: float | torch.Tensor = 1.0,
        pitch_shift: float | torch.Tensor = 0.0,
        pitch_scale: float | torch.Tensor = 1.0,
        energy_shift: float | torch.Tensor = 0.0,
        pitch_offset: torch.Tensor | None = None,
        durations: torch.Tensor | None = None,
    ) -> InferenceOutput:
        """Synthesise mels.

        Args:
            tokens: ``[B, N]`` symbol ids; x_lengths ``[B]``; speaker ``[B]``; z ``[B, z_dim]``.
            length_scale: >1 slower, <1 faster (scalar or ``[B]``).
            pitch_shift: added to the normalised log-F0 (in speaker standard deviations).
            pitch_scale: multiplies the normalised log-F0 around the speaker mean (range).
            energy_shift: added to the normalised log-energy.
            pitch_offset: ``[B, N]`` added to each symbol's normalised log-F0 after ``pitch_scale`` and
                ``pitch_shift`` (an emotion's final rise or fall is a ramp over the last symbols).
            durations: ``[B, N]`` frames per symbol to use instead of the predicted ones (voice conversion
                keeps a recording's timing this way); ``length_scale`` does not apply to them.

        Returns:
            :class:`InferenceOutput`.
        """
        x_mask = lengths_to_mask(x_lengths, tokens.shape[1])
        cond = self.condition(z, speaker)
        emb = self.embedding(tokens) * x_mask.unsqueeze(-1)
        h_var = self.encoder(emb, x_mask, cond) + cond.unsqueeze(1)
        as_col = lambda v: torch.as_tensor(v, dtype=h_var.dtype, device=h_var.device).reshape(-1, 1)  # noqa: E731
        if durations is None:
            log_dur = self.duration_predictor(h_var, x_mask)
            durations = torch.round((torch.exp(log_dur) - 1).clamp(min=0) * as_col(length_scale))
            durations = durations.clamp(max=self.cfg.max_frames_per_phoneme) * x_mask
        else:
            durations = durations.to(h_var.dtype).clamp(min=0) * x_mask
        durations[:, 0] = torch.where(
            durations.sum(1) == 0, torch.ones_like(durations[:, 0]), durations[:, 0]
        )
        pitch = self.pitch_predictor(h_var, x_mask) * as_col(pitch_scale) + as_col(pitch_shift)
        if pitch_offset is not None:
            if pitch_offset.shape != tokens.shape:
                raise ValueError(
                    f"pitch_offset must have the tokens' shape {list(tokens.shape)}, got {list(pitch_offset.shape)}"
                )
            pitch = pitch + pitch_offset.to(pitch)
        pitch = pitch * x_mask
        energy = (self.energy_predictor(h_var, x_mask) + as_col(energy_shift)) * x_mask
        h_dec = h_var + self._variance_embedding(pitch, energy, x_mask)
        mel_norm, hidden, y_mask = self._decode(h_dec, durations, cond)
        mel = self.denormalise_mel(mel_norm)
        mel = torch.where(
            y_mask.unsqueeze(1), mel, torch.full_like(mel, float(torch.log(torch.tensor(1e-5))))
        )
        return InferenceOutput(
            mel=mel,
            mel_lengths=durations.sum(1).long(),
            durations=durations.long(),
            pitch=pitch,
            energy=energy,
            decoder_hidden=hidden,
            y_mask=y_mask,
        )

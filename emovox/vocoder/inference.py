"""Vocoding helpers shared by the command line, pipelines and tests: mel -> audio, and copy-synthesis error."""

from __future__ import annotations

import numpy as np
import torch

from emovox.audio.mel import MelConfig, mel_spectrogram
from emovox.vocoder.models.hifigan import Generator

__all__ = ["log_mel_l1", "vocode"]


@torch.inference_mode()
def vocode(model: Generator, mel: torch.Tensor) -> np.ndarray:
    """Log-mel ``[n_mels, T]`` -> float32 waveform ``[T * hop_length]`` in [-1, 1]; a batch
    ``[B, n_mels, T]`` -> ``[B, T * hop_length]``.

    The mel is cast to the model's device and dtype; the result is float32 on the CPU, clamped to [-1, 1]
    (a bfloat16 generator's tanh can round just past it).
    """
    if mel.dim() not in (2, 3):
        raise ValueError(
            f"expected a mel [n_mels, T] or a batch [B, n_mels, T], got shape {tuple(mel.shape)}"
        )
    single = mel.dim() == 2
    param = next(model.parameters())
    wav = model.infer((mel[None] if single else mel).to(device=param.device, dtype=param.dtype))
    audio = wav.float().squeeze(1).clamp(-1, 1).cpu().numpy()
    return audio[0] if single else audio


def log_mel_l1(reference: np.ndarray, audio: np.ndarray, cfg: MelConfig | None = None) -> float:
    """Mean absolute difference of the natural-log mels of two signals, over their common frames."""
    a = mel_spectrogram(reference, cfg)
    b = mel_spectrogram(audio, cfg)
    n = min(a.shape[-1], b.shape[-1])
    if n == 0:
        raise ValueError("signals too short to compare")
    return float((a[..., :n] - b[..., :n]).abs().mean())

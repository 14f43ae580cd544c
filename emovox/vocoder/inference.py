"""Vocoding helpers shared by the command line, pipelines and tests: mel -> audio, and copy-synthesis error."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from emovox.audio.mel import MelConfig, mel_spectrogram, mel_spectrogram_long
from emovox.vocoder.models.hifigan import Generator

__all__ = ["log_mel_l1", "vocode", "vocode_windows"]

WINDOW_FRAMES = 512
"""Mel frames vocoded at once by :func:`vocode_windows`: the generator's activations for 512 frames of the V1
(6 s of audio) take about 0.3 GB, whatever the length of the input."""
PAD_FRAMES = 16
"""Context frames on each side of a window (the generator's receptive field is about that wide): the joined windows
equal the whole vocoded at once within about 1e-4."""


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


def vocode_windows(
    model: Generator, mel: torch.Tensor, window: int = WINDOW_FRAMES, pad: int = PAD_FRAMES
) -> Iterator[np.ndarray]:
    """:func:`vocode` of a log-mel ``[n_mels, T]`` in windows of ``window`` frames with ``pad`` frames of context
    on both sides: memory is bounded by the window, not the input. Yields consecutive float32 pieces whose
    concatenation is ``[T * hop_length]``."""
    if mel.dim() != 2:
        raise ValueError(f"expected a mel [n_mels, T], got shape {tuple(mel.shape)}")
    if window < 1 or pad < 0:
        raise ValueError("window must be positive and pad non-negative")
    hop = int(np.prod(model.cfg.upsample_rates))
    total = mel.shape[1]
    for start in range(0, total, window):
        end = min(total, start + window)
        lo, hi = max(0, start - pad), min(total, end + pad)
        yield vocode(model, mel[:, lo:hi])[(start - lo) * hop : (end - lo) * hop]


def log_mel_l1(reference: np.ndarray, audio: np.ndarray, cfg: MelConfig | None = None) -> float:
    """Mean absolute difference of the natural-log mels of two signals, over their common frames."""
    a = mel_spectrogram_long(reference, cfg) if np.ndim(reference) == 1 else mel_spectrogram(reference, cfg)
    b = mel_spectrogram_long(audio, cfg) if np.ndim(audio) == 1 else mel_spectrogram(audio, cfg)
    n = min(a.shape[-1], b.shape[-1])
    if n == 0:
        raise ValueError("signals too short to compare")
    return float((a[..., :n] - b[..., :n]).abs().mean())

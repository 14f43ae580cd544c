"""A MOS proxy with Distill-MOS (``distillmos``), used only when that package is installed.

``distillmos`` ships its weights inside the wheel, but it depends on torchaudio, which has no build for the
torch emovox uses; it is therefore not part of the ``eval`` extra, and the report says "not installed" unless
the user provides it. Its model takes 16 kHz mono audio ``[B, T]`` and returns one score per clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["predict_mos"]

MOS_RATE = 16000


def predict_mos(audios: Sequence[np.ndarray], sample_rate: int) -> list[float]:
    """One predicted MOS (1–5) per clip ``[T]``."""
    import distillmos
    import torch

    from emovox.audio.io import resample

    model = distillmos.ConvTransformerSQAModel()
    model.eval()
    scores = []
    with torch.inference_mode():
        for audio in audios:
            x = np.asarray(audio, dtype=np.float32)
            x = resample(x, sample_rate, MOS_RATE) if sample_rate != MOS_RATE else x
            scores.append(float(model(torch.from_numpy(x).unsqueeze(0)).reshape(-1)[0]))
    return scores

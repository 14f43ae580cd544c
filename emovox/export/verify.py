"""ONNX Runtime against PyTorch on the same inputs, part by part: how closely an export reproduces the model.

Every difference is reported as ``max_abs`` (largest absolute difference) and ``max_rel`` (that difference
divided by the largest magnitude of the PyTorch output, so a value is comparable across parts whose ranges
differ: log-mels reach -11, audio stays in [-1, 1]). Durations are integers and must agree exactly
(``duration_mismatches`` counts the phonemes that differ); a mismatch would change the number of frames.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from emovox.tts.models.denoiser import Denoiser
from emovox.tts.models.fastspeech2 import AcousticModel

__all__ = ["TOKENS", "compare_backends", "difference"]

TOKENS = 48  # phonemes of the test utterance


def difference(ours: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor) -> dict[str, float]:
    """``{"max_abs", "max_rel"}`` of ``ours`` against ``reference`` (same shape)."""
    a = np.asarray(ours.detach().cpu() if isinstance(ours, torch.Tensor) else ours, dtype=np.float64)
    b = np.asarray(reference.detach().cpu() if isinstance(reference, torch.Tensor) else reference, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    err = float(np.abs(a - b).max()) if a.size else 0.0
    scale = float(np.abs(b).max()) if b.size else 0.0
    return {"max_abs": err, "max_rel": err / scale if scale > 0 else err}


@torch.inference_mode()
def compare_backends(
    directory: str | os.PathLike,
    model: AcousticModel,
    denoiser: Denoiser | None,
    generator: torch.nn.Module,
    ckpt: Any = None,
    *,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Run the export in ``directory`` and the PyTorch modules on one fixed utterance (``TOKENS`` pseudo-random
    phonemes, speaker 0, the bank's neutral ``z`` or a small random one, speed 0.9, +0.5 std of pitch), a
    reference mel, one denoiser step at t = 250 and the vocoder on the PyTorch mel; return each part's
    difference (see the module docs)."""
    from emovox.emotion.bank import EmotionBank, final_ramp
    from emovox.export.runtime import load_onnx
    from emovox.vocoder.inference import vocode

    components = load_onnx(directory, threads=1)
    gen = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    tokens = torch.randint(1, cfg.n_symbols, (1, TOKENS), generator=gen)
    lengths = torch.tensor([TOKENS])
    speaker = torch.zeros(1, dtype=torch.long)
    if ckpt is not None and "bank" in ckpt.meta:
        z = EmotionBank.from_tensors(ckpt.tensors, ckpt.meta["bank"]).center[None].float()
    else:
        z = torch.randn(1, cfg.emotion.z_dim, generator=gen) * 0.3
    ramp = torch.tensor([final_ramp([True] * TOKENS)])  # an emotion's final fall, as the pipeline bends it
    controls = {"length_scale": 0.9, "pitch_shift": 0.5, "pitch_offset": -0.6 * ramp}
    ref = model.infer(tokens, lengths, speaker, z, **controls)
    out = components.model.infer(tokens, lengths, speaker, z, **controls)
    result: dict[str, dict[str, float]] = {}
    mismatches = int((out.durations != ref.durations).sum())
    result["durations"] = {"duration_mismatches": float(mismatches), "frames": float(ref.mel_lengths.sum())}
    result["acoustic_encoder.pitch"] = difference(out.pitch, ref.pitch)
    if mismatches == 0:
        result["acoustic.mel"] = difference(out.mel, ref.mel)
        result["acoustic.hidden"] = difference(out.decoder_hidden, ref.decoder_hidden)
    mel = ref.mel
    frames = mel.shape[2]
    lengths_ref = torch.tensor([frames])
    result["reference_encoder.z"] = difference(
        components.model.embed_reference(mel, lengths_ref), model.embed_reference(mel, lengths_ref)
    )
    if denoiser is not None and components.denoiser is not None:
        d = denoiser.cfg
        args = (
            torch.randn(1, d.n_mels, frames, generator=gen),
            torch.tensor([250.0]),
            ref.decoder_hidden.transpose(1, 2) if d.cond_channels > 0 else None,
            mel,
            z if z.shape[1] == d.emotion_dim else torch.randn(1, d.emotion_dim, generator=gen),
            model.speaker_embedding(speaker) if d.speaker_dim > 0 else None,
            torch.ones(1, 1, frames),
        )
        result["denoiser.step"] = difference(components.denoiser(*args), denoiser(*args))
    # The pipeline's vocoder call (channels-last convolutions on CPU), not the training forward.
    result["vocoder.audio"] = difference(components.vocoder(mel), vocode(generator, mel))
    return result

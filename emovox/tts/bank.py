"""Fill a trained acoustic model's emotion bank from its training data (``emovox bank``)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from emovox.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_architecture,
    load_checkpoint,
    load_module_state,
    save_checkpoint,
)
from emovox.config import config_from_dict
from emovox.emotion.bank import (
    PROSODY_TREND_LIMITS,
    EmotionBank,
    check_adv_fit,
    pad_prosody_trend,
    prosody_trend_ok,
)
from emovox.paths import is_builtin_voice
from emovox.tts.models.denoiser import Denoiser, DenoiserConfig
from emovox.tts.models.fastspeech2 import AcousticModel, AcousticModelConfig

__all__ = [
    "build_bank",
    "embed_items",
    "half_weights",
    "load_acoustic",
    "load_denoiser",
    "resolve_acoustic_path",
    "write_adv_map",
    "write_bank",
    "write_intensity_curve",
    "write_prosody_offset",
    "write_prosody_trend",
]

logger = logging.getLogger(__name__)


@torch.no_grad()
def embed_items(
    model: AcousticModel, items, emotions: list[str], batch_size: int = 16, progress: bool = True
):
    """Emotion vectors of store items: ``(z [U, Dz], labels, speakers [U], adv [U, 3], adv_mask [U], intensity [U])``
    (intensity NaN where unknown)."""
    from tqdm.auto import tqdm

    from emovox.tts.training import collate_items

    model.eval()
    zs, labels, speakers, advs, masks, intensities = [], [], [], [], [], []
    items = list(items)
    for start in tqdm(range(0, len(items), batch_size), desc="embed", unit="batch", disable=not progress):
        part = items[start : start + batch_size]
        batch = collate_items(part, emotions)
        zs.append(model.embed_reference(batch.mel, batch.y_lengths))
        labels += [it.get("emotion") for it in part]
        speakers.append(batch.speaker)
        advs.append(batch.adv)
        masks.append(batch.adv_mask)
        intensities.append(batch.intensity)
    return (torch.cat(zs), labels, torch.cat(speakers), torch.cat(advs), torch.cat(masks),
            torch.cat(intensities))  # fmt: skip


def build_bank(
    model: AcousticModel, items, emotions: list[str], n_speakers: int, adv_fit: str = "data"
) -> EmotionBank:
    z, labels, speakers, adv, adv_mask, intensity = embed_items(model, items, emotions)
    return EmotionBank.compute(
        z, labels, speakers, n_speakers, adv, adv_mask, intensity=intensity, adv_fit=adv_fit
    )


MODEL_DIR_FILE = "model.safetensors"
"""The acoustic checkpoint inside a model directory (``emovox recipes package``; described by its model.json)."""


def resolve_acoustic_path(path: str | os.PathLike) -> Path:
    """A checkpoint file as given, or the ``model.safetensors`` of a model directory."""
    path = Path(path)
    if path.is_dir():
        inner = path / MODEL_DIR_FILE
        if not inner.is_file():
            raise FileNotFoundError(
                f"{path} is a folder without {MODEL_DIR_FILE}: pass a checkpoint file or a model directory "
                "written by a recipe's package stage"
            )
        return inner
    return path


def load_acoustic(path: str | os.PathLike):
    """The FastSpeech2 model of an acoustic checkpoint (float32, also from a ``--half`` file) and the checkpoint.

    ``path`` is a checkpoint file or a model directory holding ``model.safetensors``."""
    path = resolve_acoustic_path(path)
    ckpt = load_checkpoint(path, kind="acoustic")
    cfg = config_from_dict(AcousticModelConfig, ckpt.meta["model_config"], source=str(path))
    speakers = ckpt.meta.get("speakers")
    if speakers is not None and (
        not isinstance(speakers, list)
        or not all(isinstance(s, str) and s for s in speakers)
        or len(set(speakers)) != len(speakers)
        or len(speakers) > cfg.n_speakers
    ):
        raise CheckpointError(
            f"{path}: its speaker table is corrupt (need a list of at most {cfg.n_speakers} distinct names, the "
            f"model's speaker embeddings; got {type(speakers).__name__} of length "
            f"{len(speakers) if hasattr(speakers, '__len__') else '?'})"
        )
    # Compare the config with the weights on the meta device first: a hostile config allocates nothing.
    if not is_builtin_voice(path):
        check_architecture(lambda: AcousticModel(cfg), ckpt.subset("model"), what="acoustic model")
    model = AcousticModel(cfg)
    load_module_state(model, ckpt.subset("model"), what="acoustic model")
    return model, ckpt


def load_denoiser(ckpt: Checkpoint, path: str | os.PathLike) -> Denoiser | None:
    """The diffusion decoder of an acoustic checkpoint (from :func:`load_acoustic`, read from ``path``), or
    None. Its config is checked against its weights on the meta device first, as the model's is."""
    if "denoiser_config" not in ckpt.meta:
        return None
    cfg = config_from_dict(DenoiserConfig, ckpt.meta["denoiser_config"], source=str(path))
    if not is_builtin_voice(path):
        check_architecture(lambda: Denoiser(cfg), ckpt.subset("denoiser"), what="diffusion decoder")
    denoiser = Denoiser(cfg)
    load_module_state(denoiser, ckpt.subset("denoiser"), what="diffusion decoder")
    return denoiser


_WRITTEN_BY_SAVE = ("format", "format_version", "kind", "sha256", "created", "emovox_version", "torch_version",
                    "git_hash")  # fmt: skip


def _carried_meta(meta: dict) -> dict:
    """A checkpoint's metadata without what :func:`save_checkpoint` writes anew."""
    return {k: v for k, v in meta.items() if k not in _WRITTEN_BY_SAVE}


HALF_MIN_NUMEL = 4096  # smaller tensors (biases, norms, statistics buffers) stay float32 in a --half file


def half_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weight matrices as float16 (halves the file; the pipeline computes in float32 after loading); the
    emotion bank, statistics buffers, biases and norms keep float32."""
    return {
        k: v.half()
        if v.is_floating_point() and v.numel() >= HALF_MIN_NUMEL and not k.startswith("bank.")
        else v
        for k, v in tensors.items()
    }


def write_bank(
    path: str | os.PathLike,
    items,
    out: str | os.PathLike | None = None,
    *,
    half: bool = False,
    default_speaker: str | None = None,
    default_steps: int | None = None,
    noise_scale: float | None = None,
    adv_fit: str = "data",
) -> EmotionBank:
    """Compute the bank of checkpoint ``path`` from ``items`` and save the checkpoint with it (atomically).

    ``half`` stores the weight matrices as float16 (see :func:`half_weights`), as the shipped voice does;
    ``default_speaker`` names the speaker synthesis uses when none is asked for (else the first);
    ``default_steps`` the diffusion steps it uses (0 = the FastSpeech2 mel alone; else the model's ``n_steps``);
    ``noise_scale`` the diffusion decoder's default start-noise scale (stored in its diffusion config);
    ``adv_fit`` what the ADV map is fitted on (see :meth:`EmotionBank.compute`).
    ``path`` may be a model directory (its ``model.safetensors`` is updated).
    """
    path = resolve_acoustic_path(path)
    model, ckpt = load_acoustic(path)
    speakers = list(ckpt.meta["speakers"])
    emotions = list(ckpt.meta["emotions"])
    if default_steps is not None and not 0 <= default_steps <= 1000:
        raise ValueError(f"default steps must be between 0 and 1000, got {default_steps}")
    if noise_scale is not None:
        if "diffusion_config" not in ckpt.meta:
            raise ValueError(f"{path} has no diffusion decoder: a noise scale does not apply")
        if not (math.isfinite(noise_scale) and 0.0 <= noise_scale <= 2.0):
            raise ValueError(f"noise scale must be between 0 and 2, got {noise_scale}")
    if default_speaker is not None and default_speaker not in speakers:
        raise ValueError(f"unknown speaker {default_speaker!r}; this model has: {', '.join(speakers)}")
    check_adv_fit(adv_fit)  # before the store is embedded
    bank = build_bank(model, items, emotions, len(speakers), adv_fit=adv_fit)
    tensors = {k: v for k, v in ckpt.tensors.items() if not k.startswith("bank.")}
    bank_tensors, bank_meta = bank.to_tensors()
    tensors.update(bank_tensors)
    if half:
        tensors = half_weights(tensors)
    keep = _carried_meta(ckpt.meta)
    keep["bank"] = bank_meta
    if default_speaker is not None:
        keep["default_speaker"] = default_speaker
    if default_steps is not None:
        keep["default_steps"] = int(default_steps)
    if noise_scale is not None:
        keep["diffusion_config"] = {**keep["diffusion_config"], "noise_scale": float(noise_scale)}
    save_checkpoint(Path(out or path), tensors, keep, kind="acoustic")
    logger.info("bank with %d emotions written to %s", len(bank.emotions), out or path)
    return bank


def write_adv_map(
    path: str | os.PathLike, adv_map: torch.Tensor, out: str | os.PathLike, provenance: dict
) -> None:
    """Save checkpoint ``path`` to ``out`` (atomically) with its bank's ADV map replaced by ``adv_map`` and
    ``provenance`` (how the map was made, JSON) recorded in the bank's metadata as ``adv_calibration``."""
    path = resolve_acoustic_path(path)
    ckpt = load_checkpoint(path, kind="acoustic")
    old = ckpt.tensors.get("bank.adv_map")
    if old is None or "bank" not in ckpt.meta:
        raise ValueError(f"{path} has no emotion bank; run `emovox bank` on it first")
    if tuple(adv_map.shape) != tuple(old.shape) or not bool(torch.isfinite(adv_map).all()):
        raise ValueError(
            f"the new ADV map must be finite and shaped {tuple(old.shape)}, got {tuple(adv_map.shape)}"
        )
    tensors = dict(ckpt.tensors)
    tensors["bank.adv_map"] = adv_map.detach().to(old.dtype).cpu()
    keep = _carried_meta(ckpt.meta)
    keep["bank"] = {**keep["bank"], "adv_calibration": provenance}
    save_checkpoint(Path(out), tensors, keep, kind="acoustic")


def write_intensity_curve(
    path: str | os.PathLike, emotion: str, curve: torch.Tensor, out: str | os.PathLike, provenance: dict
) -> None:
    """Save checkpoint ``path`` to ``out`` (atomically) with ``emotion``'s intensity curve replaced by ``curve``
    (``[K, Dz]``) and ``provenance`` (JSON) recorded in the bank's metadata under
    ``intensity_calibration[emotion]``."""
    path = resolve_acoustic_path(path)
    ckpt = load_checkpoint(path, kind="acoustic")
    curves = ckpt.tensors.get("bank.curves")
    if curves is None or "bank" not in ckpt.meta:
        raise ValueError(f"{path} has no emotion bank with intensity curves; run `emovox bank` on it first")
    emotions = list(ckpt.meta["bank"].get("emotions", []))
    if emotion not in emotions:
        raise ValueError(f"unknown emotion '{emotion}'; this model has: {', '.join(emotions)}")
    tensors = _with_curve(dict(ckpt.tensors), emotions.index(emotion), curve)
    keep = _carried_meta(ckpt.meta)
    done = dict(keep["bank"].get("intensity_calibration", {}))
    done[emotion] = provenance
    keep["bank"] = {**keep["bank"], "intensity_calibration": done}
    save_checkpoint(Path(out), tensors, keep, kind="acoustic")


def _with_curve(tensors: dict[str, torch.Tensor], i: int, curve: torch.Tensor) -> dict[str, torch.Tensor]:
    """``tensors`` with emotion ``i``'s intensity curve replaced by ``curve`` (``[K, Dz]``, finite)."""
    curves = tensors.get("bank.curves")
    if curves is None:
        raise ValueError("the model's emotion bank has no intensity curves; run `emovox bank` on it first")
    if tuple(curve.shape) != tuple(curves.shape[1:]) or not bool(torch.isfinite(curve).all()):
        raise ValueError(
            f"the new curve must be finite and shaped {tuple(curves.shape[1:])}, got {tuple(curve.shape)}"
        )
    tensors["bank.curves"] = curves.clone()
    tensors["bank.curves"][i] = curve.detach().to(curves.dtype).cpu()
    return tensors


def write_prosody_trend(
    path: str | os.PathLike,
    emotion: str,
    trend: Sequence[float],
    out: str | os.PathLike,
    provenance: dict,
    curve: torch.Tensor | None = None,
) -> None:
    """Save checkpoint ``path`` to ``out`` (atomically) with ``emotion``'s prosody trend beyond intensity 1 set to
    ``trend`` (``[6]``: rate, pitch, energy, effort, range, final, see :class:`emovox.emotion.bank.EmotionBank`; fewer
    values leave the later cues at 0) and ``provenance`` (JSON) recorded in the bank's metadata under
    ``prosody_calibration[emotion]``. A bank without trends gets a table of zeros first. With ``curve``
    (``[K, Dz]``), the emotion's intensity curve is replaced in the same write (a trend that carries the cues on
    where the curve is held)."""
    _write_prosody_row(path, emotion, trend, out, provenance, "trend", curve)


def write_prosody_offset(
    path: str | os.PathLike,
    emotion: str,
    offset: Sequence[float],
    out: str | os.PathLike,
    provenance: dict,
) -> None:
    """As :func:`write_prosody_trend`, for ``emotion``'s prosody offset, applied from intensity 0 in proportion
    to it (the bank's ``prosody_offset``); the provenance goes under ``prosody_offset_calibration[emotion]``."""
    _write_prosody_row(path, emotion, offset, out, provenance, "offset")


def _write_prosody_row(
    path: str | os.PathLike,
    emotion: str,
    row: Sequence[float],
    out: str | os.PathLike,
    provenance: dict,
    table_name: str,
    curve: torch.Tensor | None = None,
) -> None:
    path = resolve_acoustic_path(path)
    ckpt = load_checkpoint(path, kind="acoustic")
    directions = ckpt.tensors.get("bank.directions")
    if directions is None or "bank" not in ckpt.meta:
        raise ValueError(f"{path} has no emotion bank; run `emovox bank` on it first")
    emotions = list(ckpt.meta["bank"].get("emotions", []))
    if emotion not in emotions or emotion == "neutral":
        raise ValueError(
            f"unknown emotion '{emotion}' for a prosody {table_name}; this model has: {', '.join(emotions)}"
        )
    new = pad_prosody_trend(torch.as_tensor(np.asarray(row, dtype=np.float32)).reshape(-1))
    if not prosody_trend_ok(new):
        raise ValueError(
            f"a prosody {table_name} is 3 to 6 finite numbers (rate, pitch, energy within ±"
            f"{PROSODY_TREND_LIMITS[0]:g}; effort within ±{PROSODY_TREND_LIMITS[3]:g} dB per octave; range within "
            f"±{PROSODY_TREND_LIMITS[4]:g}; final movement within ±{PROSODY_TREND_LIMITS[5]:g} semitones), "
            f"got {list(row)}"
        )
    key = f"bank.prosody_{table_name}"
    tensors = dict(ckpt.tensors)
    table = tensors.get(key)
    table = (
        torch.zeros(len(emotions), len(new)) if table is None else pad_prosody_trend(table.clone().float())
    )
    table[emotions.index(emotion)] = new
    tensors[key] = table
    if curve is not None:
        tensors = _with_curve(tensors, emotions.index(emotion), curve)
    keep = _carried_meta(ckpt.meta)
    meta_key = "prosody_calibration" if table_name == "trend" else "prosody_offset_calibration"
    done = dict(keep["bank"].get(meta_key, {}))
    done[emotion] = provenance
    keep["bank"] = {**keep["bank"], meta_key: done}
    save_checkpoint(Path(out), tensors, keep, kind="acoustic")

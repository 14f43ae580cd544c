"""Training of the speech-emotion recogniser (``emovox train ser``), used by the evaluation, never by synthesis.

A manifest (JSONL, one record per utterance) gives audio, speaker, emotion and optional ADV. Speakers named in
``data.held_out_speakers`` are excluded, so the recogniser can later judge speech of speakers it never heard
(e.g. the speakers an acoustic model was trained on). Items with a label but no ADV get the canonical ADV anchor
of their emotion as target when ``data.adv_from_anchor`` is set (Russell & Mehrabian 1977, see
:mod:`emovox.emotion.labels`); otherwise their ADV loss is masked out.

Example::

    emovox train ser --set data.manifest=data/ravdess.jsonl --set data.held_out_speakers=[ravdess_01] \\
        --set train.max_steps=2000 --out exp/ser

The exported ``model.safetensors`` (kind ``"ser"``) carries the emotion list, the mel configuration and the
preprocessing, so :class:`~emovox.ser.infer.EmotionRecognizer` rebuilds it with no other file.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch

from emovox.audio.mel import MelConfig
from emovox.config import config_to_dict
from emovox.emotion.labels import CANONICAL, adv_anchor
from emovox.engine import StepContext, Task, TrainConfig, TrainState
from emovox.ser.data import (
    AudioMelProvider,
    FeatureStoreMelProvider,
    MelProvider,
    SERBatch,
    SERDataset,
    SERItem,
    collate_items,
    read_records,
)
from emovox.ser.infer import EmotionRecognizer, SERResult
from emovox.ser.models.cnn import SERModel, SERModelConfig, ser_losses

__all__ = [
    "CONFIG",
    "EmotionRecognizer",
    "SERConfig",
    "SERDataConfig",
    "SEROptimConfig",
    "SERResult",
    "SERTask",
    "adv_target",
    "build_task",
    "make_provider",
    "resolve_emotions",
    "select_records",
]

logger = logging.getLogger(__name__)


@dataclass
class SERDataConfig:
    """Which utterances train the recogniser and how their features are made."""

    manifest: str = ""  # JSONL manifest (required unless records are passed in code)
    splits: list[str] = field(default_factory=list)  # use only records whose split is listed; empty = all
    speakers: list[str] = field(default_factory=list)  # use only these speakers; empty = all
    held_out_speakers: list[str] = field(default_factory=list)  # never train on these speakers
    emotions: list[str] = field(default_factory=list)  # the classes, in order; empty = those in the data
    min_per_emotion: int = 1  # with emotions empty: drop classes with fewer training items than this
    adv_from_anchor: bool = True  # items without ADV use their emotion's canonical anchor as ADV target
    feature_store: str = ""  # read mels from this feature store (emovox features) instead of the audio
    trim_db: float = 40.0  # trim leading/trailing audio quieter than peak - trim_db (0 disables)
    max_seconds: float = 30.0  # refuse longer audio files
    crop_frames: int = 256  # random crop of longer mels while training (0 disables); 256 frames = 3 s


@dataclass
class SEROptimConfig:
    """Optimiser, schedule and loss weights."""

    lr: float = 1e-3  # AdamW peak learning rate
    weight_decay: float = 1e-2  # AdamW weight decay
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])  # AdamW betas
    warmup_steps: int = 100  # linear warm-up, then cosine decay to final_lr_ratio * lr at train.max_steps
    final_lr_ratio: float = 0.05  # learning rate at the end, as a fraction of lr
    label_smoothing: float = 0.1  # of the emotion cross-entropy
    adv_weight: float = 0.5  # weight of the ADV regression loss
    speaker_weight: float = 0.0  # weight of the adversarial speaker loss (0 disables the speaker head)


@dataclass
class SERConfig:
    """Everything ``emovox train ser`` reads."""

    data: SERDataConfig = field(default_factory=SERDataConfig)
    model: SERModelConfig = field(default_factory=SERModelConfig)
    optim: SEROptimConfig = field(default_factory=SEROptimConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(batch_size=16, max_steps=2000, log_every=25)
    )


CONFIG = SERConfig


def select_records(records: list[dict[str, Any]], data: SERDataConfig) -> list[dict[str, Any]]:
    """The records that may train the recogniser: split, speaker and held-out filters, labelled only."""
    out = []
    held = set(data.held_out_speakers)
    for r in records:
        if data.splits and r.get("split") not in data.splits:
            continue
        if data.speakers and r["speaker"] not in data.speakers:
            continue
        if r["speaker"] in held or not r.get("emotion"):
            continue
        out.append(r)
    return out


def resolve_emotions(records: list[dict[str, Any]], data: SERDataConfig) -> list[str]:
    """The class list: ``data.emotions`` when given, else the data's emotions in canonical order."""
    if data.emotions:
        return list(data.emotions)
    counts = Counter(r["emotion"] for r in records)
    kept = [e for e, n in counts.items() if n >= data.min_per_emotion]
    # canonical order first (neutral, happy, ...), then anything else alphabetically
    order = {name: i for i, name in enumerate(CANONICAL)}
    return sorted(kept, key=lambda e: (order.get(e, len(order)), e))


def adv_target(record: dict[str, Any], use_anchor: bool) -> tuple[tuple[float, float, float], bool]:
    """A record's ADV target and whether it has one (its own ADV, else optionally its emotion's anchor)."""
    adv = record.get("adv")
    if adv is not None:
        return (float(adv[0]), float(adv[1]), float(adv[2])), True
    if use_anchor and record.get("emotion") in CANONICAL:
        return adv_anchor(record["emotion"]), True
    return (0.0, 0.0, 0.0), False


def make_provider(cfg: SERConfig) -> MelProvider:
    """The configured mel source: the feature store when ``data.feature_store`` is set, else the audio files."""
    if cfg.data.feature_store:
        return FeatureStoreMelProvider(cfg.data.feature_store, cfg.mel)
    return AudioMelProvider(cfg.mel, cfg.data.trim_db, cfg.data.max_seconds)


class SERTask(Task):
    """The recogniser's training task on the generic engine."""

    kind = "ser"

    def __init__(
        self,
        config: SERConfig,
        records: list[dict[str, Any]] | None = None,
        provider: MelProvider | None = None,
    ) -> None:
        data = config.data
        if records is None:
            if not data.manifest:
                raise ValueError("the SER needs a manifest: --set data.manifest=PATH.jsonl")
            records = read_records(data.manifest)
        chosen = select_records(records, data)
        if not chosen:
            raise ValueError(
                f"no usable training records among {len(records)} (labelled, not held out, in data.splits "
                "and data.speakers)"
            )
        emotions = resolve_emotions(chosen, data)
        if len(emotions) < 2:
            raise ValueError(
                f"the SER needs at least 2 emotions in its training data; found {emotions or 'none'} "
                f"in {len(chosen)} usable records (check data.splits / speakers / held_out_speakers)"
            )
        index = {e: i for i, e in enumerate(emotions)}
        dropped = Counter(r["emotion"] for r in chosen if r["emotion"] not in index)
        if dropped:
            logger.info("records with emotions outside the class list are skipped: %s", dict(dropped))
        chosen = [r for r in chosen if r["emotion"] in index]
        speakers = sorted({r["speaker"] for r in chosen})
        spk_index = {s: i for i, s in enumerate(speakers)}
        self.items = []
        for r in chosen:
            adv, has_adv = adv_target(r, data.adv_from_anchor)
            self.items.append(SERItem(r, index[r["emotion"]], adv, has_adv, spk_index[r["speaker"]]))
        if len(self.items) < config.train.batch_size:
            raise ValueError(
                f"only {len(self.items)} training records, fewer than train.batch_size ({config.train.batch_size})"
            )
        self.emotions = emotions
        self.speakers = speakers
        n_speakers = len(speakers) if config.optim.speaker_weight > 0 else 0
        # The resolved config (class list and counts) is what the engine saves with the run.
        config.data = dataclasses.replace(data, emotions=emotions)
        config.model = dataclasses.replace(config.model, n_emotions=len(emotions), n_speakers=n_speakers)
        self.config = config
        self.provider = provider or make_provider(config)
        logger.info(
            "SER: %d items, %d speakers, classes %s", len(self.items), len(speakers), ", ".join(emotions)
        )

    def build_state(self) -> TrainState:
        model = SERModel(self.config.model)
        opt_cfg = self.config.optim
        opt = torch.optim.AdamW(
            model.parameters(), lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay, betas=tuple(opt_cfg.betas)
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor)
        return TrainState(models={"ser": model}, optimizers={"ser": opt}, schedulers={"ser": sched})

    def _lr_factor(self, step: int) -> float:
        """Linear warm-up, then cosine decay to ``final_lr_ratio`` at ``train.max_steps``."""
        opt, total = self.config.optim, self.config.train.max_steps
        if step < opt.warmup_steps:
            return (step + 1) / opt.warmup_steps
        progress = min(1.0, (step - opt.warmup_steps) / max(1, total - opt.warmup_steps))
        return opt.final_lr_ratio + (1 - opt.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def train_dataset(self) -> SERDataset:
        return SERDataset(self.items, self.provider)

    def collate(self, items: list) -> SERBatch:
        return collate_items(items, self.config.data.crop_frames)

    def train_step(self, state: TrainState, batch: SERBatch, ctx: StepContext) -> dict[str, Any]:
        model = state.models["ser"]
        opt = self.config.optim
        with ctx.autocast():
            out = model(batch.mel, batch.lengths)
        losses = ser_losses(
            out,
            batch.emotion,
            batch.adv,
            batch.adv_mask,
            batch.speaker,
            label_smoothing=opt.label_smoothing,
            adv_weight=opt.adv_weight,
            speaker_weight=opt.speaker_weight,
        )
        ctx.backward(losses["total"])
        ctx.step("ser")
        return {k: v.detach() for k, v in losses.items()}

    def export(self, state: TrainState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        model = StepContext.unwrap(state.models["ser"])
        meta = {
            "model": config_to_dict(self.config.model),
            "emotions": list(self.emotions),
            "speakers": list(self.speakers),
            "mel": config_to_dict(self.config.mel),
            "preprocess": {"trim_db": self.config.data.trim_db, "norm": self.config.model.norm},
        }
        return dict(model.state_dict()), meta


def build_task(
    cfg: SERConfig, records: list[dict[str, Any]] | None = None, provider: MelProvider | None = None
) -> SERTask:
    """The task ``emovox train ser`` runs; ``records``/``provider`` let code (e.g. cross-validation) share data."""
    return SERTask(cfg, records=records, provider=provider)

"""``emovox train content``: the neural conversion path's content encoder, on an acoustic model's own corpus.

The acoustic model aligns every training utterance of the feature store with its phonemes (its aligner and
monotonic alignment search, as in its own training), which gives each frame a symbol; the content encoder
(:mod:`emovox.evc.content`) learns to predict that symbol from the log-mel alone, with every utterance put in a
random voice (vocal-tract-length warp, spectral tilt, level) so that it does not learn the corpus's voices.

  emovox train content --set data.store=exp/features --out exp/content          # the built-in voice's units
  emovox train content --set data.store=exp/features --set data.acoustic=exp/acoustic --out exp/content

The result (``model.safetensors``, kind ``evc``, method ``neural``) is the model of ``emovox convert --method
neural --neural-model exp/content``; it works with the acoustic model whose units it learnt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from emovox.config import config_to_dict
from emovox.engine import StepContext, Task, TrainConfig, TrainState
from emovox.evc.content import ContentEncoder, ContentEncoderConfig, frame_labels, perturb_mel
from emovox.tts.training import LOG_FLOOR

__all__ = ["CONFIG", "ContentConfig", "align_store", "build_task"]

logger = logging.getLogger(__name__)


@dataclass
class ContentDataConfig:
    store: str = ""  # the feature store (`emovox features`) of the corpus the acoustic model was trained on
    acoustic: str = (
        "default"  # the acoustic model whose symbols and alignments are learnt: "default" or a path
    )
    max_frames: int = 1000  # longer utterances are skipped
    crop_frames: int = 400  # training items are random crops of this many frames
    dev_items: int = 64  # utterances of the store's dev split scored at export (frame accuracy)


@dataclass
class ContentAugmentConfig:
    warp: float = 0.15  # vocal-tract-length factor drawn from [1 - warp, 1 + warp]
    tilt: float = 1.5  # spectral tilt drawn from [-tilt, tilt] log units over the mel bands


@dataclass
class ContentOptimConfig:
    lr: float = 1e-3
    weight_decay: float = 1e-4


@dataclass
class ContentConfig:
    """Everything ``emovox train content`` reads."""

    data: ContentDataConfig = field(default_factory=ContentDataConfig)
    model: ContentEncoderConfig = field(default_factory=ContentEncoderConfig)
    augment: ContentAugmentConfig = field(default_factory=ContentAugmentConfig)
    optim: ContentOptimConfig = field(default_factory=ContentOptimConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=16, max_steps=3000, log_every=50, ckpt_every=250, media_every=0, grad_clip=1.0
        )
    )


CONFIG = ContentConfig


def _acoustic_path(acoustic: str):
    from emovox.paths import default_voice_path

    return default_voice_path() if acoustic in ("", "default") else acoustic


@torch.inference_mode()
def align_store(model, items: list[dict], speakers: list[str], model_speakers: list[str], batch_size: int = 16,
                progress: bool = True) -> list[torch.Tensor]:  # fmt: skip
    """Per-frame symbol ids of each store item, from ``model``'s own aligner (hard alignment by monotonic
    alignment search over its soft alignment)."""
    from emovox.audio.kernels import maximum_path
    from emovox.tts.training import collate_items

    model.eval()
    order = sorted(range(len(items)), key=lambda i: items[i]["mel"].shape[1])
    labels: dict[int, torch.Tensor] = {}
    bar = tqdm(total=len(items), desc="align", unit="utt", disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch_items = []
        for i in idx:
            it = dict(items[i])
            name = speakers[it["speaker"]]
            it["speaker"] = model_speakers.index(name) if name in model_speakers else 0
            it["mel"] = it["mel"].float()
            batch_items.append(it)
        batch = collate_items(batch_items, [])
        result = model(batch, maximum_path)
        durations = result.attn_hard.sum(1).round().long()  # [B, N]
        for j, i in enumerate(idx):
            n, t = int(batch.x_lengths[j]), int(batch.y_lengths[j])
            labels[i] = frame_labels(batch.tokens[j, :n], durations[j, :n], t).to(torch.int16)
        bar.update(len(idx))
    bar.close()
    return [labels[i] for i in range(len(items))]


def cached_alignments(store, split: str, acoustic_path, items: list[dict], compute) -> list[torch.Tensor]:
    """:func:`align_store`'s labels, kept in the store folder (``alignments-<model hash>-<split>.npz``) so that a
    resumed or repeated run does not align the corpus again; recomputed when an item is missing."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256(Path(acoustic_path).read_bytes()).hexdigest()[:16]
    path = Path(store) / f"alignments-{digest}-{split}.npz"
    ids = [str(it["utt_id"]) for it in items]
    if path.is_file():
        with np.load(path) as saved:
            if all(i in saved.files for i in ids):
                return [torch.from_numpy(saved[i]) for i in ids]
    labels = compute()
    try:
        from emovox.fileio import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **{i: lab.numpy() for i, lab in zip(ids, labels, strict=True)})
    except OSError as exc:  # a read-only store: align again next time
        logger.warning("could not keep the alignments in %s (%s)", path, exc)
    return labels


class _Frames(torch.utils.data.Dataset):
    def __init__(self, mels: list[torch.Tensor], labels: list[torch.Tensor]):
        self.mels, self.labels = mels, labels

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, i: int):
        return self.mels[i], self.labels[i]


def _pad(pairs: list[tuple[torch.Tensor, torch.Tensor]], crop: int | None, generator: torch.Generator | None):
    if crop is not None:
        cropped = []
        for mel, lab in pairs:
            t = mel.shape[1]
            start = 0 if t <= crop else int(torch.randint(0, t - crop + 1, (), generator=generator))
            cropped.append((mel[:, start : start + crop], lab[start : start + crop]))
        pairs = cropped
    t_max = max(m.shape[1] for m, _ in pairs)
    n_mels = pairs[0][0].shape[0]
    mel = torch.full((len(pairs), n_mels, t_max), LOG_FLOOR)
    labels = torch.full((len(pairs), t_max), -100, dtype=torch.long)
    mask = torch.zeros(len(pairs), t_max, dtype=torch.bool)
    for i, (m, lab) in enumerate(pairs):
        t = m.shape[1]
        mel[i, :, :t] = m.float()
        labels[i, :t] = lab.long()
        mask[i, :t] = True
    return mel, labels, mask


class ContentTask(Task):
    kind = "evc"

    def __init__(self, cfg: ContentConfig):
        from emovox.tts.bank import load_acoustic, resolve_acoustic_path
        from emovox.tts.data import open_acoustic_store

        if not cfg.data.store:
            raise ValueError(
                "data.store is not set: pass --set data.store=DIR (a feature store of `emovox features`)"
            )
        self.config = cfg
        acoustic = _acoustic_path(cfg.data.acoustic)
        model, ckpt = load_acoustic(acoustic)
        data = open_acoustic_store(cfg.data.store, "train", cfg.data.max_frames, progress=cfg.train.progress)
        if data.symbols != ckpt.meta.get("symbols"):
            raise ValueError(
                f"{cfg.data.store} uses another symbol table than the acoustic model {acoustic}: train the content "
                "encoder on the store of the model's own corpus"
            )
        self.acoustic_meta = {k: ckpt.meta.get(k) for k in ("symbols", "mel_config", "speakers")}
        self.acoustic_name = str(cfg.data.acoustic or "default")
        model_speakers = list(ckpt.meta.get("speakers") or [])
        acoustic_file = resolve_acoustic_path(acoustic)
        labels = cached_alignments(
            cfg.data.store, "train", acoustic_file, data.dataset,
            lambda: align_store(model, data.dataset, data.speakers, model_speakers, progress=cfg.train.progress),
        )  # fmt: skip
        self.dataset = _Frames([it["mel"] for it in data.dataset], labels)
        self.dev = None
        if cfg.data.dev_items > 0:
            try:
                dev = open_acoustic_store(cfg.data.store, "dev", cfg.data.max_frames, progress=False)
            except ValueError:
                dev = None
            if dev is not None:
                items = dev.dataset[: cfg.data.dev_items]
                dev_labels = cached_alignments(
                    cfg.data.store, "dev", acoustic_file, items,
                    lambda: align_store(model, items, dev.speakers, model_speakers, progress=False),
                )  # fmt: skip
                self.dev = _Frames([it["mel"] for it in items], dev_labels)
        if cfg.model.n_symbols == 0:
            cfg.model.n_symbols = int(model.cfg.n_symbols)
        if cfg.model.n_mels != model.cfg.n_mels:
            raise ValueError(
                f"model.n_mels is {cfg.model.n_mels} but the acoustic model has {model.cfg.n_mels}"
            )
        self._generator = torch.Generator().manual_seed(cfg.train.seed)
        logger.info("content: %d utterances aligned by %s", len(self.dataset), self.acoustic_name)

    def build_state(self) -> TrainState:
        model = ContentEncoder(self.config.model)
        opt = torch.optim.AdamW(
            model.parameters(), lr=self.config.optim.lr, weight_decay=self.config.optim.weight_decay
        )
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.config.optim.lr, total_steps=max(2, self.config.train.max_steps), pct_start=0.05
        )
        return TrainState(
            models={"content": model}, optimizers={"content": opt}, schedulers={"content": sched}
        )

    def train_dataset(self):
        return self.dataset

    def collate(self, items):
        return _pad(items, self.config.data.crop_frames, self._generator)

    def train_step(self, state: TrainState, batch, ctx: StepContext):
        mel, labels, mask = batch
        aug = self.config.augment
        mel = perturb_mel(mel, self._generator, aug.warp, aug.tilt)
        logits = state.models["content"](mel, mask)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100)
        ctx.backward(loss)
        ctx.step("content")
        with torch.no_grad():
            acc = ((logits.argmax(-1) == labels) & mask).sum() / mask.sum().clamp(min=1)
        return {"ce": loss.detach(), "frame_acc": acc}

    @torch.inference_mode()
    def dev_accuracy(self, model: ContentEncoder) -> float | None:
        """Frame accuracy on the dev utterances (unperturbed), or None without a dev split."""
        if self.dev is None or len(self.dev) == 0:
            return None
        model.eval()
        right = total = 0
        for start in range(0, len(self.dev), 16):
            mel, labels, mask = _pad(
                [self.dev[i] for i in range(start, min(len(self.dev), start + 16))], None, None
            )
            pred = model(mel, mask).argmax(-1)
            right += int(((pred == labels) & mask).sum())
            total += int(mask.sum())
        model.train()
        return right / max(total, 1)

    def export(self, state: TrainState):
        model = StepContext.unwrap(state.models["content"])
        tensors = {f"content.{k}": v for k, v in model.state_dict().items()}
        dev = self.dev_accuracy(model)
        if dev is not None:
            logger.info("content encoder: frame accuracy %.3f on %d dev utterances", dev, len(self.dev))
        meta = {
            "method": "neural",
            "content_config": config_to_dict(self.config.model),
            "acoustic": self.acoustic_name,
            "symbols": self.acoustic_meta["symbols"],
            "mel_config": self.acoustic_meta["mel_config"],
            "n_utterances": len(self.dataset),
            "dev_frame_accuracy": None if dev is None else round(dev, 4),
        }
        return tensors, meta


def build_task(cfg: ContentConfig) -> ContentTask:
    return ContentTask(cfg)

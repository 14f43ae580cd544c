"""``emovox train evc``: fit the prosody path's conversion model on a synthetic corpus's parallel renderings.

Every rendering in a corpus built by ``emovox synthesize-corpus`` records the prosody change that turned the
voice's neutral rendering of the sentence into that emotion (``prosody.jsonl``: emotion, intensity or ADV, and
the :class:`ProsodyParams`). Each rendering becomes one training pair: the emotion vector ``z`` its spec has in the
acoustic model's emotion space (``c0 + α·d_e`` for a label at intensity ``α``, the ADV map for an ADV point,
``c0`` for neutral) → its prosody vector. The predictor learns the map from the emotion space to prosody, so every
emotion control of TTS (mixtures, ADV, polarity, intensity up to 2, reference clips) drives conversion too.

  emovox train evc --set data.corpus=data/emosynth --out exp/evc
  emovox train evc --set data.rules=tuned_rules.json --out exp/evc   # from a rules table, no corpus needed
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from emovox.config import config_to_dict
from emovox.data_prep.prosody_rules import ProsodyParams, rule_table
from emovox.emotion.bank import EmotionBank
from emovox.engine import StepContext, Task, TrainConfig, TrainState
from emovox.evc.model import ProsodyPredictor, ProsodyPredictorConfig
from emovox.evc.params import FIELDS, to_vector

__all__ = ["CONFIG", "RULE_INTENSITIES", "EVCConfig", "build_task", "rule_records", "training_pairs"]

logger = logging.getLogger(__name__)


@dataclass
class EVCDataConfig:
    """Where the parallel renderings come from and which emotion space they are placed in."""

    corpus: str = ""  # a synthetic corpus folder (with prosody.jsonl), or the prosody.jsonl file itself
    rules: str = ""  # instead of a corpus: calibrated, tuned, literature or a rules table file
    acoustic: str = "default"  # the acoustic model whose emotion space (bank) defines z: "default" or a path


@dataclass
class EVCOptimConfig:
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # L2 on the weights during the steps
    ridge: float = 1e-3  # ridge of the closed-form fit the linear map starts from


@dataclass
class EVCConfig:
    """Everything ``emovox train evc`` reads."""

    data: EVCDataConfig = field(default_factory=EVCDataConfig)
    model: ProsodyPredictorConfig = field(default_factory=ProsodyPredictorConfig)
    optim: EVCOptimConfig = field(default_factory=EVCOptimConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=64, max_steps=1500, log_every=100, ckpt_every=500, media_every=0, grad_clip=0.0
        )
    )


CONFIG = EVCConfig


def load_bank(acoustic: str) -> EmotionBank:
    """The emotion bank of an acoustic checkpoint ("default" = the built-in voice)."""
    from emovox.checkpoint import load_checkpoint
    from emovox.paths import default_voice_path

    path = default_voice_path() if acoustic in ("", "default") else Path(acoustic)
    ckpt = load_checkpoint(path, kind="acoustic")
    if "bank" not in ckpt.meta:
        raise ValueError(f"{path} has no emotion bank: run `emovox bank` on it first")
    return EmotionBank.from_tensors(ckpt.tensors, ckpt.meta["bank"])


RULE_INTENSITIES = tuple(round(0.25 * k, 2) for k in range(1, 9))
"""Intensities at which :func:`rule_records` places each emotion's rule (0.25 to 2)."""


def rule_records(table: dict[str, ProsodyParams], intensities=RULE_INTENSITIES) -> list[dict[str, Any]]:
    """Training records from a rules table, in the form of a corpus's ``prosody.jsonl``: each emotion's rule at
    each intensity, plus neutral (no change). The rules are scaled but not clamped: the linear map then reproduces
    every rule exactly, and the renderer's limits apply at conversion (a clamped target would bend the fit and
    weaken intensity 1 to make room for the clamp at 2)."""
    out = [{"kind": "neutral", "emotion": "neutral", "prosody": ProsodyParams().as_dict()}]
    for emotion, rule in sorted(table.items()):
        if emotion == "neutral":
            continue
        for k in intensities:
            params = rule.scaled(k)
            out.append({"kind": "label", "emotion": emotion, "intensity": k, "prosody": params.as_dict()})
    return out


def _records(corpus: str, rules: str = "") -> list[dict[str, Any]]:
    if corpus and rules:
        raise ValueError("set data.corpus or data.rules, not both")
    if rules:
        return rule_records(rule_table(rules))
    if not corpus:
        raise ValueError(
            "data.corpus is not set: pass --set data.corpus=DIR (a corpus from synthesize-corpus) or "
            "--set data.rules=RULES (a rule set or a rules table from `emovox tune-rules`)"
        )
    path = Path(corpus)
    if path.is_dir():
        path = path / "prosody.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: data.corpus must be a folder built by `emovox synthesize-corpus` (it writes "
            "prosody.jsonl) or that file"
        )
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON ({exc})") from exc
    return out


def training_pairs(records: list[dict[str, Any]], bank: EmotionBank) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z [N, Dz], prosody [N, len(FIELDS)])`` for the renderings whose emotion the bank can place."""
    zs, ys, skipped = [], [], {}
    for r in records:
        kind, emotion = r.get("kind"), r.get("emotion")
        try:
            params = ProsodyParams(**r["prosody"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"record {r.get('utt_id', '?')}: no usable 'prosody' ({exc})") from exc
        if kind == "neutral" or emotion == "neutral":
            z = bank.center
        elif kind == "adv" and r.get("adv") is not None:
            z = bank.from_adv(r["adv"])
        elif emotion in bank.emotions and r.get("intensity") is not None:
            z = bank.label(emotion, float(r["intensity"]))
        else:
            skipped[emotion or kind] = skipped.get(emotion or kind, 0) + 1
            continue
        zs.append(z.float())
        ys.append(torch.from_numpy(to_vector(params)))
    if skipped:
        logger.warning("skipped renderings the emotion space cannot place: %s", skipped)
    if not zs:
        raise ValueError("no rendering of the corpus has an emotion this model's emotion space knows")
    return torch.stack(zs), torch.stack(ys)


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, z: torch.Tensor, y: torch.Tensor):
        self.z, self.y = z, y

    def __len__(self) -> int:
        return self.z.shape[0]

    def __getitem__(self, i: int):
        return self.z[i], self.y[i]


class EVCTask(Task):
    kind = "evc"

    def __init__(self, cfg: EVCConfig, bank: EmotionBank | None = None, records: list | None = None):
        self.config = cfg
        self.bank = bank if bank is not None else load_bank(cfg.data.acoustic)
        z, y = training_pairs(
            records if records is not None else _records(cfg.data.corpus, cfg.data.rules), self.bank
        )
        # Standardise the targets so that semitones, dB and log-factors weigh alike in the loss.
        self.y_scale = y.std(0).clamp_min(1e-3)
        self.dataset = _Pairs(z, y)
        if cfg.model.z_dim == 0:
            cfg.model.z_dim = int(z.shape[1])
        logger.info("evc: %d parallel renderings, z_dim %d", len(self.dataset), cfg.model.z_dim)

    def build_state(self) -> TrainState:
        model = ProsodyPredictor(self.config.model, self.bank.center)
        # The linear map starts at its ridge least-squares solution; the steps refine it (and train the MLP).
        dz = self.dataset.z - self.bank.center
        ridge = self.config.optim.ridge * torch.eye(dz.shape[1])
        with torch.no_grad():
            model.linear.weight.copy_(torch.linalg.solve(dz.T @ dz + ridge, dz.T @ self.dataset.y).T)
        opt = torch.optim.Adam(model.parameters(), lr=self.config.optim.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.config.train.max_steps))
        return TrainState(models={"evc": model}, optimizers={"evc": opt}, schedulers={"evc": sched})

    def train_dataset(self):
        return self.dataset

    def make_batches(self, epoch, n_items, batch_size, rng):
        order = rng.permutation(n_items)
        return [order[i : i + batch_size].tolist() for i in range(0, n_items, batch_size)]

    def train_step(self, state: TrainState, batch, ctx: StepContext):
        z, y = batch
        model = state.models["evc"]
        scale = self.y_scale.to(y.device)
        pred = model(z)
        mse = (((pred - y) / scale) ** 2).mean()
        reg = sum((p**2).sum() for p in model.parameters())
        ctx.backward(mse + self.config.optim.weight_decay * reg)
        ctx.step("evc")
        return {"mse": mse.detach()}

    def export(self, state: TrainState):
        model = StepContext.unwrap(state.models["evc"])
        tensors = {f"predictor.{k}": v for k, v in model.state_dict().items()}
        bank_tensors, bank_meta = self.bank.to_tensors()
        tensors.update(bank_tensors)
        meta = {
            "method": "prosody",
            "fields": list(FIELDS),
            "predictor_config": config_to_dict(self.config.model),
            "bank": bank_meta,
            "n_pairs": len(self.dataset),
            "trained_on": (
                f"rules {Path(self.config.data.rules).name}"
                if self.config.data.rules
                else "corpus renderings"
            ),
        }
        return tensors, meta


def build_task(cfg: EVCConfig) -> EVCTask:
    return EVCTask(cfg)

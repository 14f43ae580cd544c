"""Training of the acoustic model on the generic engine: ``emovox train acoustic``.

The data is a feature store written by ``emovox features`` (mel, F0, energy, tokens per utterance, with the
manifest's speaker/emotion/ADV). Batches are bucketed by length. The exported ``model.safetensors`` holds the
weights, the model config, the symbol table, speakers, emotions and mel config; ``emovox bank`` adds the
emotion bank afterwards.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from emovox.audio.mel import MelConfig
from emovox.config import config_to_dict
from emovox.engine import StepContext, Task, TrainConfig, TrainState
from emovox.tts.diffusion import DiffusionConfig, diffusion_loss, make_scheduler
from emovox.tts.losses import AcousticLossConfig, acoustic_losses
from emovox.tts.models.denoiser import Denoiser, DenoiserConfig
from emovox.tts.models.fastspeech2 import AcousticBatch, AcousticModel, AcousticModelConfig

__all__ = ["CONFIG", "AcousticTask", "AcousticTrainConfig", "build_task", "collate_items"]

logger = logging.getLogger(__name__)

LOG_FLOOR = math.log(1e-5)


@dataclass
class AcousticDataConfig:
    """Where the training data is and how it is batched."""

    store: str = ""  # feature store folder written by `emovox features`
    split: str = "train"  # manifest split used for training
    max_frames: int = 1000  # utterances longer than this many mel frames are skipped
    bucket_size: int = 8  # batches per length bucket when shuffling (1 = fully random)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    weight_decay: float = 1e-6
    warmup_steps: int = 1000  # linear warm-up, then inverse square-root decay (Vaswani et al. 2017)


@dataclass
class DiffusionTrainConfig:
    """The diffusion decoder that refines the FastSpeech2 mel (shallow diffusion, DiffSinger)."""

    enabled: bool = False  # train a denoiser next to (or on top of) FastSpeech2
    stage: str = "joint"  # joint: both train together; second: FastSpeech2 frozen, loaded from init_from
    # acoustic checkpoint (model.safetensors) to start from; required for stage=second, where the top-level
    # init_from may then give the decoder's starting weights (fine-tuning a decoder for a fine-tuned FastSpeech2)
    init_from: str = ""
    weight: float = 1.0  # weight of the diffusion loss in the total
    denoiser: DenoiserConfig = field(
        default_factory=lambda: DenoiserConfig(residual_channels=64, n_layers=12)
    )
    schedule: DiffusionConfig = field(default_factory=DiffusionConfig)

    def __post_init__(self) -> None:
        if self.stage not in ("joint", "second"):
            raise ValueError(f"diffusion.stage must be joint or second, not '{self.stage}'")
        if self.stage == "second" and self.enabled and not self.init_from:
            raise ValueError("diffusion.stage=second needs diffusion.init_from (a trained acoustic model)")


@dataclass
class AcousticTrainConfig:
    # Fine-tune: start from this acoustic model's weights ("default" = the built-in voice), fresh optimiser.
    # Tensors whose shape differs, e.g. another corpus's speaker table, start fresh; per-speaker pitch and
    # the energy statistics come from the new data.
    init_from: str = ""
    model: AcousticModelConfig = field(default_factory=AcousticModelConfig)
    diffusion: DiffusionTrainConfig = field(default_factory=DiffusionTrainConfig)
    loss: AcousticLossConfig = field(default_factory=AcousticLossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: AcousticDataConfig = field(default_factory=AcousticDataConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


CONFIG = AcousticTrainConfig

# statistics always taken from the training data, never from init_from
_FROM_DATA = ("pitch_stats", "energy_stats")


def _init_from(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], what: str, skip: tuple[str, ...] = _FROM_DATA
) -> None:
    from emovox.checkpoint import load_module_state

    fresh = load_module_state(module, tensors, f"init_from: {what}", partial=True, skip=skip)
    logger.info("init_from: %s: %d tensors fresh (%s)", what, len(fresh),
                ", ".join(fresh[:6]) + (" ..." if len(fresh) > 6 else ""))  # fmt: skip


def collate_items(items: list[dict[str, Any]], emotions: list[str]) -> AcousticBatch:
    """Pad a list of store items into an :class:`AcousticBatch`.

    Each item: ``tokens [N]`` int, ``mel [n_mels, T]``, ``f0 [T]``, ``energy [T]``, ``speaker`` int,
    ``emotion`` canonical name or None, ``adv`` (a, d, v) or None, ``intensity`` (0-1) or None, ``utt_id``.
    """
    b = len(items)
    n_max = max(len(it["tokens"]) for it in items)
    t_max = max(it["mel"].shape[1] for it in items)
    n_mels = items[0]["mel"].shape[0]
    tokens = torch.zeros(b, n_max, dtype=torch.long)
    mel = torch.full((b, n_mels, t_max), LOG_FLOOR)
    f0 = torch.zeros(b, t_max)
    energy = torch.zeros(b, t_max)
    adv = torch.zeros(b, 3)
    adv_mask = torch.zeros(b, dtype=torch.bool)
    emotion = torch.full((b,), -1, dtype=torch.long)
    intensity = torch.full((b,), float("nan"))
    for i, it in enumerate(items):
        n, t = len(it["tokens"]), it["mel"].shape[1]
        tokens[i, :n] = torch.as_tensor(it["tokens"])
        mel[i, :, :t] = torch.as_tensor(it["mel"])
        f0[i, :t] = torch.as_tensor(it["f0"][:t])
        energy[i, :t] = torch.as_tensor(it["energy"][:t])
        if it.get("adv") is not None:
            adv[i] = torch.as_tensor(it["adv"], dtype=torch.float32)
            adv_mask[i] = True
        if it.get("emotion") in emotions:
            emotion[i] = emotions.index(it["emotion"])
        if it.get("emotion") == "neutral":
            intensity[i] = 0.0  # neutral is the zero of every emotion's scale, whatever its manifest says
        elif it.get("intensity") is not None:
            intensity[i] = float(it["intensity"])
    return AcousticBatch(
        tokens=tokens,
        x_lengths=torch.tensor([len(it["tokens"]) for it in items]),
        mel=mel,
        y_lengths=torch.tensor([it["mel"].shape[1] for it in items]),
        f0=f0,
        energy=energy,
        speaker=torch.tensor([int(it["speaker"]) for it in items]),
        emotion=emotion,
        adv=adv,
        adv_mask=adv_mask,
        utt_ids=[str(it.get("utt_id", i)) for i, it in enumerate(items)],
        intensity=intensity,
    )


def compute_statistics(items, n_speakers: int, n_mels: int) -> dict[str, torch.Tensor]:
    """Mel mean/std per channel, per-speaker log-F0 mean/std over voiced frames, log-energy mean/std."""
    mel_sum = np.zeros(n_mels)
    mel_sq = np.zeros(n_mels)
    frames = 0
    pitch = [[] for _ in range(n_speakers)]
    log_e = []
    for it in items:
        m = np.asarray(it["mel"], dtype=np.float64)
        mel_sum += m.sum(1)
        mel_sq += (m**2).sum(1)
        frames += m.shape[1]
        f0 = np.asarray(it["f0"])
        pitch[int(it["speaker"])].append(np.log(f0[f0 > 0]))
        log_e.append(np.log(np.maximum(np.asarray(it["energy"]), 1e-4)))
    mean = mel_sum / max(frames, 1)
    std = np.sqrt(np.maximum(mel_sq / max(frames, 1) - mean**2, 1e-6))
    all_pitch = np.concatenate([p for ps in pitch for p in ps] or [np.array([np.log(150.0)])])
    pitch_stats = np.zeros((n_speakers, 2))
    for s in range(n_speakers):
        v = np.concatenate(pitch[s]) if pitch[s] else all_pitch
        if v.size < 2:
            v = all_pitch
        pitch_stats[s] = [v.mean(), max(v.std(), 0.05)]
    e = np.concatenate(log_e) if log_e else np.zeros(1)
    return {
        "mel_mean": torch.tensor(mean, dtype=torch.float32),
        "mel_std": torch.tensor(std, dtype=torch.float32),
        "pitch_stats": torch.tensor(pitch_stats, dtype=torch.float32),
        "energy_stats": torch.tensor([e.mean(), max(e.std(), 1e-3)], dtype=torch.float32),
    }


class AcousticTask(Task):
    """FastSpeech2 + aligner + emotion encoder on the engine."""

    kind = "acoustic"

    def __init__(self, config: AcousticTrainConfig, data=None):
        """``data``: an object with ``dataset`` (items as in :func:`collate_items`), ``lengths`` (frames per
        item), ``symbols`` (serialised symbol table), ``speakers`` and ``emotions`` name lists, and optional
        ``statistics`` (as :func:`compute_statistics`). Loaded from ``config.data.store`` when None."""
        self.config = config
        self.data = data if data is not None else _open_store(config.data)
        mc = config.model
        mc.n_symbols = max(mc.n_symbols, int(self.data.n_symbols))
        mc.n_speakers = len(self.data.speakers)
        mc.n_emotions = len(self.data.emotions)

    def build_state(self) -> TrainState:
        model = AcousticModel(self.config.model)
        stats = compute_statistics(self.data.dataset, self.config.model.n_speakers, self.config.model.n_mels)
        model.set_statistics(**stats)
        models, optimizers, schedulers = {"acoustic": model}, {}, {}
        diff = self.config.diffusion
        pretrained_ckpt = None
        if self.config.init_from:
            if diff.init_from and diff.stage != "second":
                raise ValueError(
                    "set init_from or diffusion.init_from, not both (both only with stage=second)"
                )
            from emovox.checkpoint import load_checkpoint
            from emovox.paths import default_voice_path

            source = default_voice_path() if self.config.init_from == "default" else self.config.init_from
            pretrained_ckpt = load_checkpoint(source, kind="acoustic")
            _init_from(model, pretrained_ckpt.subset("model"), "acoustic model")
        if diff.enabled and diff.init_from:
            from emovox.tts.bank import load_acoustic

            pretrained, _ = load_acoustic(diff.init_from)
            model.load_state_dict(pretrained.state_dict(), strict=True)
        if not (diff.enabled and diff.stage == "second"):
            optimizers["acoustic"], schedulers["acoustic"] = self._optimizer(model)
        else:
            model.requires_grad_(False)
        if diff.enabled:
            models["denoiser"] = self.build_denoiser(model)
            weights = pretrained_ckpt.subset("denoiser") if pretrained_ckpt is not None else {}
            if weights:  # the mel statistics stay those of the FastSpeech2 it refines
                _init_from(models["denoiser"], weights, "diffusion decoder", skip=("mel_mean", "mel_std"))
            optimizers["denoiser"], schedulers["denoiser"] = self._optimizer(models["denoiser"])
        return TrainState(models=models, optimizers=optimizers, schedulers=schedulers)

    def build_denoiser(self, model: AcousticModel) -> Denoiser:
        mc = self.config.model
        cfg = replace(self.config.diffusion.denoiser, cond_channels=mc.hidden, emotion_dim=mc.emotion.z_dim,
                      speaker_dim=mc.hidden, prediction=self.config.diffusion.schedule.prediction)  # fmt: skip
        self.config.diffusion.denoiser = cfg
        denoiser = Denoiser(cfg)
        denoiser.set_mel_stats(model.mel_mean, model.mel_std)
        return denoiser

    def _optimizer(self, module: torch.nn.Module):
        o = self.config.optim
        opt = torch.optim.AdamW(
            module.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay
        )
        warm = max(1, o.warmup_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, math.sqrt(warm / (s + 1)))
        )
        return opt, sched

    def train_dataset(self):
        return self.data.dataset

    def collate(self, items):
        return collate_items(items, list(self.data.emotions))

    def make_batches(self, epoch, n_items, batch_size, rng):
        """Length-bucketed batches: sort by length within shuffled windows, then shuffle the batches."""
        lengths = np.asarray(self.data.lengths)
        order = rng.permutation(n_items)
        window = batch_size * max(1, self.config.data.bucket_size)
        batches = []
        for start in range(0, n_items, window):
            chunk = order[start : start + window]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [
                chunk[i : i + batch_size].tolist() for i in range(0, len(chunk) - batch_size + 1, batch_size)
            ]
        rng.shuffle(batches)
        return batches

    def train_step(self, state: TrainState, batch: AcousticBatch, ctx: StepContext) -> dict[str, float]:
        from emovox.audio.kernels import maximum_path

        model = state.models["acoustic"]
        diff = self.config.diffusion
        frozen = diff.enabled and diff.stage == "second"
        model.train(not frozen)
        with ctx.autocast():
            with torch.set_grad_enabled(not frozen):
                out = model(batch, maximum_path)
            if frozen:
                loss, terms = torch.zeros((), device=batch.mel.device), {}
            else:
                loss, terms = acoustic_losses(out, batch, self.config.loss, state.step)
            if diff.enabled:
                terms.update(self._diffusion_terms(state, batch, out, ctx))
                loss = loss + diff.weight * terms["diff/loss"]
        ctx.backward(loss)
        for name in state.optimizers:
            ctx.step(name)
        return {"loss/total": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def _diffusion_terms(self, state: TrainState, batch: AcousticBatch, out, ctx: StepContext):
        """Shallow-diffusion loss on the ground-truth mel, conditioned on the (detached) FastSpeech2 outputs."""
        if not hasattr(self, "_ddpm"):
            self._ddpm = make_scheduler("ddpm", self.config.diffusion.schedule)
        acoustic = ctx.unwrap(state.models["acoustic"])
        g = acoustic.speaker_embedding(batch.speaker).detach()
        return diffusion_loss(
            state.models["denoiser"],
            batch.mel,
            out.decoder_hidden.detach().transpose(1, 2),
            out.mel.detach(),
            out.emotion.z.detach(),
            g,
            out.y_mask.unsqueeze(1),
            self._ddpm,
            self.config.diffusion.schedule.k_shallow,
            loss_type=self.config.diffusion.schedule.loss,
            min_snr_gamma=self.config.diffusion.schedule.min_snr_gamma,
            residual_std=self.config.diffusion.schedule.residual_std,
            precond_loss=self.config.diffusion.schedule.precond_loss,
        )

    def log_media(self, state, batch, ctx, writer) -> None:
        """TensorBoard: target/predicted mel, alignment and phone-level pitch of the batch's first item, and
        the predicted mel as audio (Griffin-Lim: a preview of the mel, not of the vocoder's quality)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        model = ctx.unwrap(state.models["acoustic"])
        from emovox.audio.kernels import maximum_path

        model.eval()
        with torch.no_grad():
            out = model(batch, maximum_path)
        model.train()
        t, n = int(batch.y_lengths[0]), int(batch.x_lengths[0])
        fig, axes = plt.subplots(4, 1, figsize=(8, 10))
        axes[0].imshow(batch.mel[0, :, :t].float().cpu().numpy(), origin="lower", aspect="auto")
        axes[0].set_title("target mel")
        axes[1].imshow(out.mel[0, :, :t].float().cpu().numpy(), origin="lower", aspect="auto")
        axes[1].set_title("predicted mel (teacher-forced durations)")
        axes[2].imshow(out.attn_soft[0, :t, :n].T.float().cpu().numpy(), origin="lower", aspect="auto")
        axes[2].set_title("alignment")
        axes[3].plot(out.pitch_target[0, :n].float().cpu().numpy(), label="target")
        axes[3].plot(out.pitch_pred[0, :n].float().cpu().numpy(), label="predicted")
        axes[3].set_title("phone-level pitch (normalised log-F0)")
        axes[3].legend()
        fig.tight_layout()
        writer.add_figure("media/mel_alignment_pitch", fig, state.step)
        plt.close(fig)
        from emovox.audio.mel import griffin_lim

        audio = griffin_lim(out.mel[0, :, :t].float().cpu().numpy(), self.config.mel)
        writer.add_audio("media/predicted_griffin_lim", audio[None], state.step, self.config.mel.sample_rate)

    def export(self, state: TrainState):
        model = StepContext.unwrap(state.models["acoustic"])
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        extra = {}
        if "denoiser" in state.models:
            denoiser = StepContext.unwrap(state.models["denoiser"])
            tensors.update({f"denoiser.{k}": v for k, v in denoiser.state_dict().items()})
            extra = {"denoiser_config": config_to_dict(self.config.diffusion.denoiser),
                     "diffusion_config": config_to_dict(self.config.diffusion.schedule)}  # fmt: skip
        meta = {
            **extra,
            "model_config": config_to_dict(self.config.model),
            "mel_config": config_to_dict(self.config.mel),
            "symbols": self.data.symbols,
            "speakers": list(self.data.speakers),
            "emotions": list(self.data.emotions),
            "language": getattr(self.data, "language", "en-us"),
        }
        return tensors, meta


def _open_store(cfg: AcousticDataConfig):
    if not cfg.store:
        raise ValueError(
            "set data.store to a feature store written by `emovox features` (--set data.store=DIR)"
        )
    from emovox.tts.data import open_acoustic_store

    return open_acoustic_store(cfg.store, split=cfg.split, max_frames=cfg.max_frames)


def build_task(cfg: AcousticTrainConfig) -> AcousticTask:
    return AcousticTask(cfg)

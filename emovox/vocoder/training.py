"""HiFi-GAN training on the generic engine: ``emovox train vocoder --set data.path=WAVS --out DIR``.

Each step is the paper's (Kong et al. 2020, section 2.4): random ``segment_size``-sample segments, their mel as
input; one discriminator update on real vs detached generated audio (MPD + MSD, LSGAN), then one generator
update (adversarial + feature matching + mel L1). AdamW(lr 2e-4, betas 0.8/0.99, weight decay 0.01), the
learning rate decayed by 0.999 per ``optim.decay_steps`` steps. ``init_from`` starts the generator from a
pretrained vocoder (fine-tuning), or a pruned copy of one: the same generator with only some of its resblocks
(``select_resblocks``); the discriminators always start fresh. ``teacher`` distils a vocoder into this
one (e.g. the universal V1 into a V2-size generator): every segment's target becomes the teacher's rendering of
its mel, so the student learns the teacher's mapping, not the recording's; the data can then be any speech the
student will meet (renderings of the acoustic model's own mels included). With ``loss.adversarial=0`` and
``loss.feature_matching=0`` a step is the mel L1 alone and the discriminators are skipped: a spectral stage that a
CPU can run (about 8x faster per step there), to be followed by adversarial training from its ``model.safetensors``.

The exported ``model.safetensors`` is a ``vocoder`` checkpoint (generator weights, its config and mel config
in the metadata) that ``emovox vocode --vocoder DIR/model.safetensors`` and ``load_vocoder`` read.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emovox.audio.io import load_audio
from emovox.audio.mel import MelConfig, MelSpectrogram
from emovox.engine import StepContext, Task, TrainConfig, TrainState
from emovox.vocoder.losses import LossWeights, discriminator_loss, generator_loss
from emovox.vocoder.models.discriminators import (
    DiscriminatorConfig,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
)
from emovox.vocoder.models.hifigan import Generator, GeneratorConfig, select_resblocks
from emovox.vocoder.pretrained import CHECKPOINT_KIND, load_generator_state

__all__ = ["CONFIG", "AudioSegments", "VocoderTask", "VocoderTrainConfig", "build_task"]

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


@dataclass
class VocoderDataConfig:
    """Where the training audio is and how it is cut."""

    path: str = ""  # folder of audio files (searched recursively) or a manifest JSONL with an `audio` field
    split: str = ""  # manifest only: keep records whose `split` equals this ("" keeps all)
    segment_size: int = 8192  # samples per training segment; a multiple of the generator's hop length
    peak_normalise: bool = True  # scale each clip to peak 0.95, as the official data loader does


@dataclass
class OptimConfig:
    """AdamW settings shared by generator and discriminators (the paper's)."""

    lr: float = 2e-4  # initial learning rate
    betas: list[float] = field(default_factory=lambda: [0.8, 0.99])  # Adam betas
    weight_decay: float = 0.01  # AdamW weight decay (torch's default, as in the official code)
    lr_decay: float = 0.999  # multiply the learning rate by this every `decay_steps` steps
    decay_steps: int = 800  # steps per decay (~one LJ Speech epoch at batch 16, where the official decays)

    def __post_init__(self) -> None:
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError("optim.betas must be two numbers in [0, 1)")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1 or self.decay_steps < 1:
            raise ValueError("optim needs lr > 0, 0 < lr_decay <= 1 and decay_steps >= 1")


@dataclass
class VocoderTrainConfig:
    """Everything ``emovox train vocoder`` reads."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: VocoderDataConfig = field(default_factory=VocoderDataConfig)
    mel: MelConfig = field(default_factory=MelConfig)  # the generator's input mel
    loss_fmax: float = 0.0  # upper edge of the loss mel, Hz; 0 = sample_rate / 2 (the official fmax_for_loss)
    init_from: str = ""  # "" | universal | ljspeech | a vocoder checkpoint: initial generator weights
    teacher: str = ""  # "" | universal | ljspeech | a vocoder checkpoint: distil it (the target is its audio)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(grad_clip=0.0))  # the paper clips nothing

    def __post_init__(self) -> None:
        if self.generator.n_mels != self.mel.n_mels:
            raise ValueError(f"generator.n_mels ({self.generator.n_mels}) != mel.n_mels ({self.mel.n_mels})")
        if self.generator.hop_length != self.mel.hop_length:
            raise ValueError(
                f"the generator upsamples x{self.generator.hop_length} but mel.hop_length is {self.mel.hop_length}"
            )
        if self.data.segment_size < self.mel.hop_length or self.data.segment_size % self.mel.hop_length:
            raise ValueError(f"data.segment_size must be a positive multiple of {self.mel.hop_length}")


CONFIG = VocoderTrainConfig


def list_audio(path: str, split: str = "") -> list[Path]:
    """Audio files of a folder (recursive, sorted) or of a manifest JSONL (``audio`` relative to its folder)."""
    if not path:
        raise ValueError("set data.path to a folder of audio files or a manifest JSONL (--set data.path=...)")
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    elif root.is_file():
        files = list(_manifest_audio(root, split))
    else:
        raise ValueError(f"data.path {root} does not exist")
    if not files:
        raise ValueError(f"no audio found in {root}" + (f" for split '{split}'" if split else ""))
    return files


def _manifest_audio(manifest: Path, split: str) -> Iterator[Path]:
    with open(manifest, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{manifest}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or not isinstance(record.get("audio"), str):
                raise ValueError(f"{manifest}:{n}: record has no 'audio' path")
            if split and record.get("split") != split:
                continue
            audio = Path(record["audio"])
            yield audio if audio.is_absolute() else manifest.parent / audio


class AudioSegments(torch.utils.data.Dataset):
    """Random ``segment_size``-sample segments of each file (zero-padded when shorter): ``{"audio": [S]}``.

    The segment start is drawn from torch's global RNG, which the engine checkpoints, so resume is exact.
    """

    def __init__(self, files: list[Path], cfg: VocoderDataConfig, sample_rate: int) -> None:
        self.files = files
        self.cfg = cfg
        self.sample_rate = sample_rate

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        audio, _ = load_audio(self.files[index], self.sample_rate)
        if self.cfg.peak_normalise:
            peak = float(np.abs(audio).max())
            if peak > 0:
                audio = audio * (0.95 / peak)
        y = torch.from_numpy(audio)
        size = self.cfg.segment_size
        if y.numel() >= size:
            start = int(torch.randint(0, y.numel() - size + 1, ()))
            y = y[start : start + size]
        else:
            y = torch.nn.functional.pad(y, (0, size - y.numel()))
        return {"audio": y.contiguous()}


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """Parameters of ``module`` need no gradient inside the block (gradients still flow to its input)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class VocoderTask(Task):
    """HiFi-GAN GAN training: models ``gen``, ``mpd``, ``msd``; optimizers ``gen`` and ``disc``."""

    kind = CHECKPOINT_KIND

    def __init__(self, config: VocoderTrainConfig) -> None:
        self.config = config
        fmax = config.loss_fmax or config.mel.sample_rate / 2
        self.loss_mel_config = replace(config.mel, fmax=fmax)
        self._mels: dict[str, tuple[MelSpectrogram, MelSpectrogram]] = {}
        self._teachers: dict[str, Generator] = {}

    def build_state(self) -> TrainState:
        cfg = self.config
        gen = Generator(cfg.generator)
        if cfg.init_from:
            gen_cfg, mel_cfg, tensors = load_generator_state(cfg.init_from)
            if mel_cfg != cfg.mel:
                raise ValueError(
                    f"init_from={cfg.init_from!r} reads mel {asdict(mel_cfg)}; set `mel` to match it"
                )
            if gen_cfg != cfg.generator:
                try:  # a pruned copy: the same generator with fewer resblocks per stage
                    tensors = select_resblocks(tensors, gen_cfg, cfg.generator)
                except ValueError as err:
                    raise ValueError(
                        f"init_from={cfg.init_from!r} has generator {asdict(gen_cfg)}; set `generator` to match "
                        f"it, or keep only some of its resblocks ({err})"
                    ) from None
                log.info(
                    "pruned generator: %s's resblocks %s kept",
                    cfg.init_from,
                    cfg.generator.resblock_kernel_sizes,
                )
            from emovox.checkpoint import load_module_state

            load_module_state(gen, tensors, what=f"initial generator {cfg.init_from}")
            log.info("generator initialised from %s", cfg.init_from)
        if cfg.teacher:
            _, mel_cfg, _ = load_generator_state(cfg.teacher)
            if mel_cfg != cfg.mel:
                raise ValueError(
                    f"teacher={cfg.teacher!r} reads mel {asdict(mel_cfg)}; set `mel` to match it"
                )
            log.info("distilling %s: the targets are its renderings", cfg.teacher)
        mpd = MultiPeriodDiscriminator(cfg.discriminator)
        msd = MultiScaleDiscriminator(cfg.discriminator)
        betas = (cfg.optim.betas[0], cfg.optim.betas[1])
        opt_g = torch.optim.AdamW(
            gen.parameters(), cfg.optim.lr, betas=betas, weight_decay=cfg.optim.weight_decay
        )
        opt_d = torch.optim.AdamW(
            [*mpd.parameters(), *msd.parameters()],
            cfg.optim.lr,
            betas=betas,
            weight_decay=cfg.optim.weight_decay,
        )
        # Per-step gamma so that the rate falls by lr_decay every decay_steps steps (smoothly).
        gamma = cfg.optim.lr_decay ** (1.0 / cfg.optim.decay_steps)
        return TrainState(
            models={"gen": gen, "mpd": mpd, "msd": msd},
            optimizers={"gen": opt_g, "disc": opt_d},
            schedulers={
                "gen": torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma),
                "disc": torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma),
            },
        )

    def train_dataset(self) -> AudioSegments:
        files = list_audio(self.config.data.path, self.config.data.split)
        log.info("vocoder training on %d audio files", len(files))
        return AudioSegments(files, self.config.data, self.config.mel.sample_rate)

    def _mel_modules(self, device: torch.device) -> tuple[MelSpectrogram, MelSpectrogram]:
        key = str(device)
        if key not in self._mels:
            self._mels[key] = (
                MelSpectrogram(self.config.mel).to(device),
                MelSpectrogram(self.loss_mel_config).to(device),
            )
        return self._mels[key]

    def _teacher(self, device: torch.device) -> Generator:
        """The frozen teacher generator on ``device`` (float32, weight norm folded), loaded once."""
        key = str(device)
        if key not in self._teachers:
            from emovox.vocoder.pretrained import load_vocoder

            self._teachers[key] = load_vocoder(self.config.teacher, device=device).requires_grad_(False)
        return self._teachers[key]

    def train_step(self, state: TrainState, batch: dict, ctx: StepContext) -> dict[str, torch.Tensor]:
        gen, mpd, msd = state.models["gen"], state.models["mpd"], state.models["msd"]
        y = batch["audio"]  # [B, S]
        n = y.shape[0]
        input_mel, loss_mel = self._mel_modules(y.device)
        with torch.no_grad():
            mel = input_mel(y)
            if self.config.teacher:
                y = self._teacher(y.device).infer(mel).squeeze(1).clamp(-1, 1).clone()  # a normal tensor
            mel_real = loss_mel(y)
        with ctx.autocast():
            y_hat = gen(mel)  # [B, 1, S]
        if not self.config.loss.adversarial_training:
            mel_l1 = F.l1_loss(loss_mel(y_hat.squeeze(1).float()), mel_real)
            ctx.backward(self.config.loss.mel * mel_l1)
            ctx.step("gen")
            return {"mel/l1": mel_l1.detach(), "gen/total": (self.config.loss.mel * mel_l1).detach()}
        y = y.unsqueeze(1)

        # Discriminator update: one forward per discriminator on [real; fake] (DDP allows one per backward).
        both = torch.cat([y, y_hat.detach()])
        with ctx.autocast():
            d_mpd = discriminator_loss(*_float(mpd(both)).split(n))
            d_msd = discriminator_loss(*_float(msd(both)).split(n))
        ctx.backward(d_mpd["total"] + d_msd["total"])
        ctx.step("disc")

        # Generator update: the unwrapped, frozen discriminators pass gradients to y_hat only.
        both = torch.cat([y, y_hat])
        with ctx.autocast(), _frozen(ctx.unwrap(mpd)), _frozen(ctx.unwrap(msd)):
            real_mpd, fake_mpd = _float(ctx.unwrap(mpd)(both)).split(n)
            real_msd, fake_msd = _float(ctx.unwrap(msd)(both)).split(n)
        mel_fake = loss_mel(y_hat.squeeze(1).float())
        g = generator_loss([fake_mpd, fake_msd], [real_mpd, real_msd], mel_real, mel_fake, self.config.loss)
        ctx.backward(g["total"])
        ctx.step("gen")
        logs = {k: v.detach() for k, v in g.items() if k != "total"}
        logs["gen/total"] = g["total"].detach()
        for name, d in (("mpd", d_mpd), ("msd", d_msd)):
            logs[f"disc/{name}_real"] = d["disc/real"].detach()
            logs[f"disc/{name}_fake"] = d["disc/fake"].detach()
        logs["disc/total"] = (d_mpd["total"] + d_msd["total"]).detach()
        return logs

    def log_media(self, state: TrainState, batch: dict, ctx: StepContext, writer) -> None:
        gen = ctx.unwrap(state.models["gen"])
        y = batch["audio"][:1]
        input_mel, _ = self._mel_modules(y.device)
        was_training = gen.training
        gen.eval()
        with torch.no_grad():
            y_hat = gen(input_mel(y))[0, 0].float().cpu()
        gen.train(was_training)
        sr = self.config.mel.sample_rate
        writer.add_audio("audio/real", y[0].cpu(), state.step, sample_rate=sr)
        writer.add_audio("audio/generated", y_hat, state.step, sample_rate=sr)

    def export(self, state: TrainState) -> tuple[dict[str, torch.Tensor], dict]:
        gen = StepContext.unwrap(state.models["gen"])
        tensors = {k: v.detach().cpu() for k, v in gen.state_dict().items()}
        meta = {"config": asdict(self.config.generator), "mel": asdict(self.config.mel)}
        return tensors, meta


def _float(out):
    """Discriminator scores and features in fp32 (losses are computed in full precision under autocast)."""
    out.scores = [s.float() for s in out.scores]
    out.features = [[f.float() for f in fs] for fs in out.features]
    return out


def build_task(cfg: VocoderTrainConfig) -> VocoderTask:
    return VocoderTask(cfg)

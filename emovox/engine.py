"""The generic training loop shared by every emovox model.

A task (vocoder, acoustic model, emotion recogniser) supplies the models, the data and one ``train_step``; the
engine owns everything else: device placement, mixed precision, PyTorch DDP under ``torchrun`` (a single process
otherwise), gradient accumulation, gradient clipping, skipping steps whose gradients are not finite, logging
(progress bar, ``log.jsonl``, TensorBoard), checkpoint cadence with a kept-last-N policy, and exact resume: model,
optimizer, scheduler and grad-scaler state, the step, every RNG and the position in the data order are restored,
so a run killed at any moment and restarted reaches the same parameters, bit for bit on CPU, as one that was
never interrupted.

Multi-GPU and multi-node training use the existing distributed engine, ``torchrun``::

    torchrun --nproc_per_node 4 -m emovox.cli train acoustic --config conf.yaml --out exp/acoustic
"""

from __future__ import annotations

import abc
import contextlib
import json
import logging
import math
import os
import random
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emovox.checkpoint import (
    CheckpointError,
    flatten_state,
    load_checkpoint,
    load_module_state,
    save_checkpoint,
    unflatten_state,
)
from emovox.config import config_to_dict, save_config

__all__ = ["StepContext", "Task", "TrainConfig", "TrainState", "latest_checkpoint", "train"]

logger = logging.getLogger(__name__)

_CKPT_RE = re.compile(r"step_(\d{8})\.safetensors$")


@dataclass
class TrainConfig:
    """Engine settings, the ``train`` section of every task config."""

    max_steps: int = 10000  # optimizer steps to run in total
    batch_size: int = 16  # items per micro-batch and process
    grad_accum: int = 1  # micro-batches per optimizer step
    precision: str = (
        "auto"  # auto | fp32 | bf16 | fp16; auto = bf16 on a CUDA GPU that supports it, else fp32
    )
    grad_clip: float = 1.0  # max gradient norm per optimizer; 0 disables clipping
    log_every: int = 50  # steps between logged scalars
    media_every: int = 1000  # steps between audio/image logs (0 disables)
    ckpt_every: int = 1000  # steps between checkpoints
    keep_last: int = 3  # training checkpoints kept on disk
    seed: int = 1234  # seeds model init, data order and every RNG
    num_workers: int = 0  # DataLoader worker processes
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads per process (0 = torch's default); 1 is fastest on a busy machine
    tensorboard: bool = True  # write TensorBoard logs when the package is installed
    progress: bool = True  # show a progress bar
    max_minutes: float = 0.0  # wall-clock budget of this run: checkpoint and stop when spent (0 = none)

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"train.precision must be auto, fp32, bf16 or fp16, not '{self.precision}'")
        for name in ("max_steps", "batch_size", "grad_accum", "log_every", "ckpt_every", "keep_last"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1")
        if not self.max_minutes >= 0:
            raise ValueError(f"train.max_minutes must be >= 0, not {self.max_minutes}")


@dataclass
class TrainState:
    """Everything that changes during training."""

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-able task state


class Task(abc.ABC):
    """The task-specific part of a training run."""

    kind: str = ""
    config: Any = None

    @abc.abstractmethod
    def build_state(self) -> TrainState:
        """Models, optimizers and schedulers, on the CPU (the engine moves and wraps them)."""

    @abc.abstractmethod
    def train_dataset(self) -> torch.utils.data.Dataset: ...

    def collate(self, items: list) -> Any:
        return torch.utils.data.default_collate(items)

    def make_batches(
        self, epoch: int, n_items: int, batch_size: int, rng: np.random.Generator
    ) -> list[list[int]]:
        """The batches of one epoch as lists of dataset indices; override for length bucketing."""
        order = rng.permutation(n_items)
        n_full = n_items // batch_size
        return [order[i * batch_size : (i + 1) * batch_size].tolist() for i in range(n_full)]

    @abc.abstractmethod
    def train_step(self, state: TrainState, batch: Any, ctx: StepContext) -> dict[str, float | torch.Tensor]:
        """One micro-batch: forward, ``ctx.backward(loss)``, ``ctx.step(name)``; returns losses to log."""

    def log_media(self, state: TrainState, batch: Any, ctx: StepContext, writer: Any) -> None:
        """Optional: write audio / images to a TensorBoard ``SummaryWriter``."""
        return None

    @abc.abstractmethod
    def export(self, state: TrainState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The inference checkpoint: tensors and metadata (config, symbols, bank…)."""


class StepContext:
    """What a ``train_step`` may ask of the engine."""

    def __init__(self, cfg: TrainConfig, device: torch.device, rank: int, world_size: int, state: TrainState):
        self.cfg = cfg
        self.device = device
        self.rank = rank
        self.world_size = world_size
        self.is_main = rank == 0
        self.state = state
        self.accumulating = False
        self.precision = _resolve_precision(cfg.precision, device)
        self.scaler = torch.amp.GradScaler(device.type) if self.precision == "fp16" else None
        self.skipped_steps = 0
        self.last_grad_norms: dict[str, float] = {}

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` of one micro-batch (scaled for fp16, divided by ``grad_accum``)."""
        loss = loss / self.cfg.grad_accum
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward()

    def step(self, name: str) -> bool:
        """Apply optimizer ``name`` unless accumulating; skip (and report) when gradients are not finite."""
        if self.accumulating:
            return False
        opt = self.state.optimizers[name]
        if self.scaler is not None:
            self.scaler.unscale_(opt)
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm)) if params else 0.0
        self.last_grad_norms[name] = norm
        if not math.isfinite(norm):
            self.skipped_steps += 1
            logger.warning(
                "step %d: non-finite gradients for '%s'; skipping this update", self.state.step, name
            )
            opt.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.update()
            return False
        if self.scaler is not None:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()
        scheduler = self.state.schedulers.get(name)
        if scheduler is not None:
            scheduler.step()
        opt.zero_grad(set_to_none=True)
        return True

    @staticmethod
    def unwrap(model: nn.Module) -> nn.Module:
        return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision != "fp32" and device.type == "cpu":
        logger.warning("precision %s requested on CPU; training in fp32", precision)
        return "fp32"
    return precision


# ---------------------------------------------------------------------------------------------------------
# distributed setup


@dataclass
class _Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _init_distributed(device_opt: str) -> tuple[_Dist, torch.device]:
    dist = _Dist(
        rank=int(os.environ.get("RANK", 0)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
    )
    if device_opt == "auto":
        device = torch.device(f"cuda:{dist.local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(device_opt)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"train.device={device_opt} but PyTorch sees no CUDA device here")
        if device.type == "cuda" and (dist.enabled or device.index is None):
            device = torch.device(f"cuda:{dist.local_rank}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.enabled and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return dist, device


# ---------------------------------------------------------------------------------------------------------
# checkpoints of the training state


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest ``checkpoints/step_XXXXXXXX.safetensors`` of a run, or None."""
    folder = Path(out_dir) / "checkpoints"
    found = sorted(p for p in folder.glob("step_*.safetensors") if _CKPT_RE.search(p.name))
    return found[-1] if found else None


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _gather_rng(dist: _Dist) -> list[dict[str, Any]]:
    mine = _rng_state()
    if not dist.enabled:
        return [mine]
    everyone: list[Any] = [None] * dist.world_size
    torch.distributed.all_gather_object(everyone, mine)
    return everyone


def _save_train_state(
    path: Path, task: Task, state: TrainState, ctx: StepContext, position: dict, rngs: list
):
    tensors: dict[str, torch.Tensor] = {}
    for name, model in state.models.items():
        for k, v in StepContext.unwrap(model).state_dict().items():
            tensors[f"model.{name}.{k}"] = v
    payload = {
        "optimizers": {k: o.state_dict() for k, o in state.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in state.schedulers.items()},
        "scaler": ctx.scaler.state_dict() if ctx.scaler is not None else None,
        "rng": rngs,
    }
    skeleton, extra_tensors = flatten_state(payload, "state")
    tensors.update(extra_tensors)
    meta = {
        "task": task.kind,
        "config": config_to_dict(task.config),
        "step": state.step,
        "position": position,
        "extra": state.extra,
        "state": skeleton,
        "world_size": ctx.world_size,
    }
    save_checkpoint(path, tensors, meta, kind="train_state")


def _load_train_state(path: Path, task: Task, state: TrainState, ctx: StepContext, dist: _Dist) -> dict:
    ckpt = load_checkpoint(path, kind="train_state")
    if ckpt.meta.get("task") != task.kind:
        raise CheckpointError(f"{path}: a '{ckpt.meta.get('task')}' training state, not '{task.kind}'")
    for name, model in state.models.items():
        load_module_state(StepContext.unwrap(model), ckpt.subset(f"model.{name}"), what=f"model '{name}'")
    payload = unflatten_state(ckpt.meta["state"], ckpt.tensors)
    for k, opt in state.optimizers.items():
        opt.load_state_dict(payload["optimizers"][k])
    for k, sched in state.schedulers.items():
        sched.load_state_dict(payload["schedulers"][k])
    if ctx.scaler is not None and payload["scaler"] is not None:
        ctx.scaler.load_state_dict(payload["scaler"])
    rngs = payload["rng"]
    if len(rngs) == dist.world_size:
        _set_rng_state(rngs[dist.rank])
    else:
        logger.warning(
            "resuming with %d processes instead of %d: RNG streams reseeded", dist.world_size, len(rngs)
        )
    state.step = int(ckpt.meta["step"])
    state.extra = dict(ckpt.meta.get("extra") or {})
    return dict(ckpt.meta["position"])


def _prune(out_dir: Path, keep: int) -> None:
    found = sorted((out_dir / "checkpoints").glob("step_*.safetensors"))
    for old in found[:-keep]:
        old.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------
# the loop


class _Logger:
    """Scalars to log.jsonl (always), TensorBoard (when installed and enabled) and the progress bar."""

    def __init__(self, out_dir: Path, cfg: TrainConfig, enabled: bool, start: int):
        self.enabled = enabled
        self.jsonl = out_dir / "log.jsonl"
        self.writer = None
        self.bar = None
        if not enabled:
            return
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out_dir / "tb"), purge_step=start)
            except ImportError:
                logger.warning(
                    "tensorboard is not installed: pip install 'emovox[train]' for TensorBoard logs"
                )
        if cfg.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=cfg.max_steps, initial=start, desc="train", unit="step", dynamic_ncols=True)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.jsonl, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)
        if self.bar is not None:
            shown = {k: f"{v:.3g}" for k, v in list(values.items())[:4]}
            self.bar.set_postfix(shown, refresh=False)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def _epoch_batches(
    task: Task, dataset_len: int, cfg: TrainConfig, epoch: int, dist: _Dist
) -> list[list[int]]:
    rng = np.random.default_rng([cfg.seed, epoch])
    batches = task.make_batches(epoch, dataset_len, cfg.batch_size, rng)
    per_rank = len(batches) // dist.world_size
    if per_rank == 0:
        raise ValueError(
            f"the training set ({dataset_len} items) gives fewer batches than processes; "
            f"lower train.batch_size ({cfg.batch_size}) or add data"
        )
    return batches[dist.rank : per_rank * dist.world_size : dist.world_size]


def _batches(task, dataset, cfg, dist, position) -> Iterator[tuple[Any, dict]]:
    """Yield (batch, position after it) forever, starting at ``position`` = {epoch, index}."""
    epoch, index = int(position.get("epoch", 0)), int(position.get("index", 0))
    while True:
        batches = _epoch_batches(task, len(dataset), cfg, epoch, dist)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=batches[index:],
            collate_fn=task.collate,
            num_workers=cfg.num_workers,
            persistent_workers=False,
            # A private generator: creating a loader iterator must not consume the global RNG, or a run
            # resumed mid-epoch would diverge from an uninterrupted one.
            generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch),
        )
        for batch in loader:
            index += 1
            yield batch, {"epoch": epoch, "index": index}
        epoch, index = epoch + 1, 0


def _to_device(batch: Any, device: torch.device) -> Any:
    if hasattr(batch, "to") and not isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _prepare_state(task: Task, cfg: TrainConfig, dist: _Dist, device: torch.device) -> TrainState:
    _seed_everything(cfg.seed)
    state = task.build_state()
    for name, model in list(state.models.items()):
        model.to(device)
        if dist.enabled and any(p.requires_grad for p in model.parameters()):
            ids = [device.index] if device.type == "cuda" else None
            state.models[name] = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    # Optimizer state created lazily after .to() lives on the right device; moving models after building
    # optimizers is fine because parameters are moved in place.
    _seed_everything(cfg.seed + dist.rank)
    return state


def _no_sync(state: TrainState, active: bool):
    stack = contextlib.ExitStack()
    if active:
        for model in state.models.values():
            if isinstance(model, nn.parallel.DistributedDataParallel):
                stack.enter_context(model.no_sync())
    return stack


def _export(task: Task, state: TrainState, out_dir: Path) -> None:
    tensors, meta = task.export(state)
    meta = {"config": config_to_dict(task.config), "step": state.step, **meta}
    save_checkpoint(out_dir / "model.safetensors", tensors, meta, kind=task.kind)


def _checkpoint(task, state, ctx, dist, out_dir: Path, position: dict) -> None:
    rngs = _gather_rng(dist)  # collective: every rank takes part
    if dist.rank == 0:
        path = out_dir / "checkpoints" / f"step_{state.step:08d}.safetensors"
        _save_train_state(path, task, state, ctx, position, rngs)
        _export(task, state, out_dir)
        _prune(out_dir, task.config.train.keep_last)
    if dist.enabled:
        torch.distributed.barrier()


def _reduce_logs(values: dict[str, float], dist: _Dist, device: torch.device) -> dict[str, float]:
    if not dist.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return {k: float(v) / dist.world_size for k, v in zip(keys, t.tolist())}


class _StopFlag:
    """Set by SIGTERM/SIGINT or a spent time budget; the loop checkpoints and returns at the next step end.

    Under DDP the ranks agree (any rank stopping stops all), so no rank waits in a collective forever.
    """

    def __init__(self, max_minutes: float):
        self.deadline = time.monotonic() + 60.0 * max_minutes if max_minutes > 0 else math.inf
        self.signalled: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.signalled is not None:  # a second signal: stop at once, as without the handler
            raise KeyboardInterrupt
        self.signalled = signal.Signals(signum).name

    def should_stop(self, dist: _Dist, device: torch.device) -> bool:
        stop = self.signalled is not None or time.monotonic() >= self.deadline
        if dist.enabled:
            flag = torch.tensor([float(stop)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop


def train(task: Task, out_dir: str | os.PathLike, *, resume: bool = True) -> TrainState:
    """Run (or resume) training of ``task`` into ``out_dir``; returns the final state.

    SIGTERM or SIGINT (Ctrl-C), or ``train.max_minutes`` spent, end the run after the current step with a
    checkpoint, so the same command resumes it later.
    """
    cfg: TrainConfig = task.config.train
    out_dir = Path(out_dir)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    dist, device = _init_distributed(cfg.device)
    # The data first: a config that names no or unusable data is refused before the run folder is written.
    dataset = task.train_dataset()
    if dist.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(task.config, out_dir / "config.yaml")
    state = _prepare_state(task, cfg, dist, device)
    ctx = StepContext(cfg, device, dist.rank, dist.world_size, state)
    position: dict = {"epoch": 0, "index": 0}
    latest = latest_checkpoint(out_dir) if resume else None
    if latest is not None:
        position = _load_train_state(latest, task, state, ctx, dist)
        logger.info("resumed from %s (step %d)", latest, state.step)
    log = _Logger(out_dir, cfg, enabled=dist.rank == 0, start=state.step)
    stream = _batches(task, dataset, cfg, dist, position)
    sums: dict[str, float] = {}
    n_logged, t0 = 0, time.perf_counter()
    stop = _StopFlag(cfg.max_minutes)
    stop.install()
    try:
        while state.step < cfg.max_steps:
            for micro in range(cfg.grad_accum):
                batch, position = next(stream)
                batch = _to_device(batch, device)
                ctx.accumulating = micro < cfg.grad_accum - 1
                with _no_sync(state, ctx.accumulating):
                    values = task.train_step(state, batch, ctx)
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                n_logged += 1
            state.step += 1
            log.advance()
            if state.step % cfg.log_every == 0 or state.step == cfg.max_steps:
                avg = {k: v / n_logged for k, v in sums.items()}
                avg.update({f"grad_norm/{k}": v for k, v in ctx.last_grad_norms.items()})
                avg["time/step_s"] = (time.perf_counter() - t0) / max(1, n_logged // cfg.grad_accum)
                avg["skipped_steps"] = float(ctx.skipped_steps)
                avg = _reduce_logs(avg, dist, device)
                log.scalars(state.step, avg)
                sums, n_logged, t0 = {}, 0, time.perf_counter()
            if (
                cfg.media_every
                and state.step % cfg.media_every == 0
                and dist.rank == 0
                and log.writer is not None
            ):
                task.log_media(state, batch, ctx, log.writer)
            stopping = stop.should_stop(dist, device)
            if state.step % cfg.ckpt_every == 0 or state.step == cfg.max_steps or stopping:
                _checkpoint(task, state, ctx, dist, out_dir, position)
            if stopping:
                reason = stop.signalled or f"the {cfg.max_minutes:g}-minute budget is spent"
                logger.warning("stopped at step %d (%s); run the same command to resume", state.step, reason)
                break
    finally:
        stop.restore()
        log.close()
    if ctx.skipped_steps:
        logger.warning("%d updates were skipped because of non-finite gradients", ctx.skipped_steps)
    return state

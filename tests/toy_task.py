"""A tiny regression task on the generic engine, used by the engine tests (also from subprocesses)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from emovox.engine import Task, TrainConfig, TrainState, train


@dataclass
class ToyConfig:
    n_items: int = 64
    hidden: int = 8
    dropout: float = 0.1
    lr: float = 1e-2
    nan_at_step: int = -1  # produce a NaN loss at this step (tests the skip)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(batch_size=8, log_every=1, tensorboard=False, progress=False)
    )


class ToyData(torch.utils.data.Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


class ToyTask(Task):
    kind = "toy"

    def __init__(self, config: ToyConfig):
        self.config = config

    def build_state(self):
        model = torch.nn.Sequential(
            torch.nn.Linear(4, self.config.hidden),
            torch.nn.Tanh(),
            torch.nn.Dropout(self.config.dropout),
            torch.nn.Linear(self.config.hidden, 1),
        )
        opt = torch.optim.AdamW(model.parameters(), lr=self.config.lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
        return TrainState(models={"net": model}, optimizers={"net": opt}, schedulers={"net": sched})

    def train_dataset(self):
        return ToyData(self.config.n_items)

    def train_step(self, state, batch, ctx):
        with ctx.autocast():
            pred = state.models["net"](batch["x"]).squeeze(-1)
        loss = torch.nn.functional.mse_loss(pred.float(), batch["y"])
        if state.step == self.config.nan_at_step:
            loss = loss * float("nan")
        ctx.backward(loss)
        ctx.step("net")
        return {"loss/mse": loss.detach()}

    def export(self, state):
        net = state.models["net"]
        net = net.module if hasattr(net, "module") else net
        return {k: v for k, v in net.state_dict().items()}, {}


def run(out_dir, max_steps, ckpt_every=1, **kw):
    cfg = ToyConfig(**kw)
    cfg.train.max_steps = max_steps
    cfg.train.ckpt_every = ckpt_every
    return train(ToyTask(cfg), out_dir)

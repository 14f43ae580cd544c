from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from emovox.checkpoint import CheckpointError, load_checkpoint
from emovox.engine import latest_checkpoint, train
from tests.toy_task import run

ROOT = Path(__file__).resolve().parents[1]


def _params(out_dir):
    return load_checkpoint(Path(out_dir) / "model.safetensors", kind="toy").tensors


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_loss_falls_and_files_are_written(tmp_path):
    run(tmp_path, 40, ckpt_every=10)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 41))
    assert log[-1]["loss/mse"] < 0.5 * log[0]["loss/mse"]
    assert (tmp_path / "config.yaml").is_file()
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["step_00000020.safetensors", "step_00000030.safetensors", "step_00000040.safetensors"]


def test_resume_is_bit_exact(tmp_path):
    run(tmp_path / "full", 13, ckpt_every=100)  # 13 steps > one epoch of 8 batches: crosses an epoch boundary
    run(tmp_path / "split", 5, ckpt_every=5)
    run(tmp_path / "split", 13, ckpt_every=100)
    _assert_same(_params(tmp_path / "full"), _params(tmp_path / "split"))


def test_grad_accumulation_runs(tmp_path):
    from dataclasses import replace

    from emovox.engine import train
    from tests.toy_task import ToyConfig, ToyTask

    cfg = ToyConfig()
    cfg.train = replace(cfg.train, max_steps=4, grad_accum=2, ckpt_every=4)
    state = train(ToyTask(cfg), tmp_path)
    assert state.step == 4
    assert load_checkpoint(latest_checkpoint(tmp_path)).meta["position"] == {
        "epoch": 0,
        "index": 8,
    }  # 4 steps x 2 micro-batches


def test_nan_loss_skips_the_update(tmp_path, caplog):
    state = run(tmp_path, 4, ckpt_every=100, nan_at_step=2)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["skipped_steps"] == 1.0
    assert all(torch.isfinite(p).all() for p in state.models["net"].parameters())
    assert "non-finite" in caplog.text


def test_tampered_training_checkpoint_is_refused(tmp_path):
    run(tmp_path, 2, ckpt_every=2)
    path = latest_checkpoint(tmp_path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        run(tmp_path, 4, ckpt_every=2)


_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import tests.toy_task as t
orig = t.ToyTask.train_step
def slow(self, *a, **k):
    time.sleep(0.05)
    return orig(self, *a, **k)
t.ToyTask.train_step = slow
state = t.run({out!r}, {steps}, ckpt_every={ckpt_every})
print("stopped at", state.step)
"""


def _child(out: Path, steps: int, ckpt_every: int, **popen) -> subprocess.Popen:
    """A toy training run (0.05 s per step) in a subprocess, to be interrupted."""
    code = _CHILD.format(root=str(ROOT), out=str(out), steps=steps, ckpt_every=ckpt_every)
    return subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, **popen
    )


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    out = tmp_path / "killed"
    proc = _child(out, 60, ckpt_every=1, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        ck = latest_checkpoint(out)
        if ck is not None and int(ck.stem.split("_")[1]) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = latest_checkpoint(out)
    assert done is not None and int(done.stem.split("_")[1]) < 60, "the child finished before it was killed"
    run(out, 60, ckpt_every=1)
    run(tmp_path / "clean", 60, ckpt_every=100)
    _assert_same(_params(out), _params(tmp_path / "clean"))


def test_sigterm_checkpoints_the_current_step_and_resume_matches(tmp_path):
    out = tmp_path / "term"
    proc = _child(out, 500, ckpt_every=1000, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "log.jsonl").is_file():
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    stopped = int(stdout.split("stopped at")[1])
    assert 0 < stopped < 500
    ck = latest_checkpoint(out)
    assert ck is not None and int(ck.stem.split("_")[1]) == stopped  # saved though ckpt_every is 1000
    run(out, stopped + 7, ckpt_every=1000)
    run(tmp_path / "clean", stopped + 7, ckpt_every=1000)
    _assert_same(_params(out), _params(tmp_path / "clean"))


def test_time_budget_stops_with_a_checkpoint(tmp_path, caplog):
    import tests.toy_task as t

    orig = t.ToyTask.train_step

    def slow(self, *a, **k):
        time.sleep(0.02)
        return orig(self, *a, **k)

    t.ToyTask.train_step = slow
    cfg = t.ToyConfig()
    cfg.train.max_steps = cfg.train.ckpt_every = 10_000
    cfg.train.max_minutes = 0.005  # 0.3 s
    try:
        state = train(t.ToyTask(cfg), tmp_path)
    finally:
        t.ToyTask.train_step = orig
    assert 1 <= state.step < 100
    assert int(latest_checkpoint(tmp_path).stem.split("_")[1]) == state.step
    assert "budget is spent" in caplog.text


def test_negative_time_budget_is_refused():
    from emovox.engine import TrainConfig

    with pytest.raises(ValueError, match="max_minutes"):
        TrainConfig(max_minutes=-1)


_DDP = """
import sys, torch
sys.path.insert(0, {root!r})
from tests.toy_task import run
state = run({out!r}, 6, ckpt_every=3)
rank = torch.distributed.get_rank()
params = {{k: v.detach().clone() for k, v in state.models["net"].module.state_dict().items()}}
torch.save(params, {out!r} + f"/params_rank{{rank}}.pt")
torch.distributed.destroy_process_group()
"""


@pytest.mark.slow
def test_torchrun_two_processes_keep_identical_parameters(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(_DDP.format(root=str(ROOT), out=str(tmp_path / "run")))
    torchrun = Path(sys.executable).with_name("torchrun")
    res = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    a = torch.load(tmp_path / "run" / "params_rank0.pt", weights_only=True)  # our own test file
    b = torch.load(tmp_path / "run" / "params_rank1.pt", weights_only=True)
    _assert_same(a, b)
    assert load_checkpoint(latest_checkpoint(tmp_path / "run")).meta["world_size"] == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_device_without_cuda_is_a_clear_error(tmp_path):
    from tests.toy_task import ToyConfig, ToyTask

    cfg = ToyConfig()
    cfg.train.device = "cuda"
    with pytest.raises(ValueError, match="no CUDA device"):
        train(ToyTask(cfg), tmp_path)

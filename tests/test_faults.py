"""Faults: SIGKILL in the middle of `emovox features`, `emovox train`, a checkpoint write, `synth -o` and `convert`
leaves no corrupt file, and running again resumes or completes; a full disk is one clear error line and leaves no
partial file (a real 48 kB tmpfs where the tests may mount one, a patched ENOSPC everywhere)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emovox.audio.mel import MelConfig
from emovox.checkpoint import load_checkpoint, save_checkpoint
from emovox.cli import main
from emovox.data_prep.manifest import Utterance, write_manifest
from emovox.engine import latest_checkpoint
from emovox.vocoder.models.hifigan import Generator, GeneratorConfig
from tests.evc_fakes import save_tiny_evc, voice
from tests.tiny_voice import make_tiny_voice

REPO = Path(__file__).resolve().parents[1]
TINY_VOCODER = GeneratorConfig(
    upsample_initial_channel=16, resblock="2", resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 2]]
)
TEXT = "The quick brown fox jumps over the lazy dog. " * 4


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    meta = {"config": asdict(TINY_VOCODER), "mel": asdict(MelConfig())}
    wav = d / "speech.wav"
    sf.write(wav, voice(3.0, sr=22050), 22050)
    return {
        "voice": make_tiny_voice(d / "voice.safetensors"),
        "voc": save_checkpoint(
            d / "voc.safetensors", Generator(TINY_VOCODER).state_dict(), meta, kind="vocoder"
        ),
        "evc": save_tiny_evc(d / "evc.safetensors"),
        "wav": wav,
    }


# A child process that runs `emovox ARGV` with one function patched to stall (after creating READY) at its Nth
# call, so the parent can SIGKILL it at a known point in the middle of a write.
_STALLING_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import importlib
    module_name, attr, nth, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    owner_name, _, method = attr.partition(".")
    module = importlib.import_module(module_name)
    owner = getattr(module, owner_name) if method else module
    name = method or owner_name
    original = getattr(owner, name)
    calls = [0]

    def stalling(*args, **kwargs):
        calls[0] += 1
        result = original(*args, **kwargs)
        if calls[0] == nth:
            ready.touch()
            time.sleep(120)
        return result

    setattr(owner, name, stalling)
    if sys.argv[5] == "--save":
        import torch
        from emovox.checkpoint import save_checkpoint
        save_checkpoint(sys.argv[6], {"w": torch.full((4096,), 2.0)}, {"version": 2}, kind="test")
    else:
        from emovox.cli import main
        sys.exit(main(sys.argv[5:]))
    """
)


def _kill_when_stalled(target: str, nth: int, argv: list[str], ready: Path, timeout: float = 90) -> None:
    module, _, attr = target.partition(":")
    proc = subprocess.Popen(
        [sys.executable, "-c", _STALLING_CHILD, module, attr, str(nth), str(ready), *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    err = proc.communicate()[1].decode(errors="replace")
    assert ready.exists() and alive, f"the child never reached the stall point: {err[-1500:]}"


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_sigkill_during_a_checkpoint_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.safetensors"
    save_checkpoint(target, {"w": torch.ones(4096)}, {"version": 1}, kind="test")
    # stall inside the temporary file's write: half of the new checkpoint is on disk when the kill comes
    _kill_when_stalled("pathlib:Path.write_bytes", 1, ["--save", str(target)], tmp_path / "ready")
    ckpt = load_checkpoint(target, kind="test")
    assert ckpt.meta["version"] == 1 and torch.equal(ckpt.tensors["w"], torch.ones(4096))
    save_checkpoint(target, {"w": torch.zeros(8)}, {"version": 3}, kind="test")  # the next write succeeds
    assert load_checkpoint(target).meta["version"] == 3
    assert _visible(tmp_path) == ["model.safetensors", "ready"]


def test_sigkill_during_synth_then_rerun_completes(models, tmp_path):
    out = tmp_path / "speech.wav"
    argv = [
        "synth",
        TEXT,
        "-o",
        str(out),
        "--stream",
        "--no-progress",
        "--model",
        str(models["voice"]),
        "--vocoder",
        str(models["voc"]),
    ]
    _kill_when_stalled("soundfile:SoundFile.write", 2, argv, tmp_path / "ready")  # two sentences written
    assert not out.exists(), "a killed synth left a partial output file"
    assert main(argv) == 0
    audio, sr = sf.read(out)
    assert sr == 22050 and audio.size > 22050
    assert _visible(tmp_path) == ["ready", "speech.wav"]
    # The killed writer's hidden temporary file is swept by the next write of the same output.
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sigkill_during_convert_then_rerun_completes(models, tmp_path):
    out = tmp_path / "converted.wav"
    argv = [
        "convert",
        str(models["wav"]),
        "-e",
        "sad",
        "-o",
        str(out),
        "--model",
        str(models["evc"]),
        "--acoustic",
        str(models["voice"]),
        "--f0",
        "dio",
    ]
    _kill_when_stalled("soundfile:SoundFile.write", 1, argv, tmp_path / "ready")
    assert not out.exists(), "a killed convert left a partial output file"
    assert main(argv) == 0
    audio, sr = sf.read(out)
    assert sr == 22050 and audio.size > 22050
    assert _visible(tmp_path) == ["converted.wav", "ready"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def _corpus(folder: Path, n: int) -> Path:
    folder.mkdir()
    utts = []
    for i in range(n):
        path = folder / f"u{i:02d}.wav"
        sf.write(path, voice(0.8, f0=110 + 5 * i, sr=22050, seed=i), 22050)
        utts.append(Utterance(f"u{i:02d}", str(path), "Hello there.", "spk", emotion="neutral"))
    return write_manifest(folder / "manifest.jsonl", utts)


def test_sigkill_during_features_then_rerun_resumes(tmp_path):
    from emovox.data_prep.features import build_store, load_item

    manifest = _corpus(tmp_path / "corpus", 12)
    store = tmp_path / "store"
    argv = ["features", str(manifest), "--out", str(store), "--no-progress"]
    _kill_when_stalled("emovox.data_prep.features:write_npz", 4, argv, tmp_path / "ready")
    items = sorted((store / "items").glob("*.npz"))
    assert 3 <= len(items) <= 4 and not (store / "items.jsonl").exists()
    for item in items:  # every finished item is whole
        assert load_item(store, item.stem)["mel"].shape[0] == 80
    report = build_store(manifest, store)
    assert report.done == 12 and report.computed == 12 - len(items) and report.failed == []
    assert not [p for p in (store / "items").iterdir() if p.name.startswith(".")]


def test_sigkill_during_training_then_rerun_resumes(tmp_path):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for i in range(4):
        sf.write(wavs / f"{i}.wav", voice(1.0, sr=22050, seed=i), 22050)
    out = tmp_path / "run"
    sets = [
        f"data.path={wavs}",
        "train.max_steps=4",
        "train.ckpt_every=1",
        "generator.upsample_initial_channel=16",
        "discriminator.periods=[2]",
        "discriminator.n_scales=1",
        "discriminator.channel_divisor=16",
        "data.segment_size=1024",
        "train.batch_size=2",
        "train.device=cpu",
        "train.tensorboard=false",
        "train.progress=false",
    ]
    argv = ["train", "vocoder", "--out", str(out)] + [x for s in sets for x in ("--set", s)]
    # stall in the second checkpoint's write: step 1 is complete, step 2 half written
    _kill_when_stalled("pathlib:Path.write_bytes", 3, argv, tmp_path / "ready")
    done = latest_checkpoint(out)
    assert done is not None and done.name == "step_00000001.safetensors"
    for ckpt in (out / "checkpoints").glob("*.safetensors"):
        load_checkpoint(ckpt)  # nothing corrupt under a visible name
    assert main(argv) == 0
    assert latest_checkpoint(out).name == "step_00000004.safetensors"
    assert load_checkpoint(out / "model.safetensors", kind="vocoder")
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------------------------------- disk full


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


@pytest.fixture
def full_disk(tmp_path):
    """A 48 kB tmpfs (needs root and a kernel that lets us mount); skipped elsewhere."""
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode(errors='replace').strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _commands(models, out: Path) -> dict[str, list[str]]:
    return {
        "synth": [
            "synth",
            TEXT,
            "-o",
            str(out / "s.wav"),
            "--model",
            str(models["voice"]),
            "--vocoder",
            str(models["voc"]),
        ],
        "synth-stream": [
            "synth",
            TEXT,
            "-o",
            str(out / "s.flac"),
            "--stream",
            "--no-progress",
            "--model",
            str(models["voice"]),
            "--vocoder",
            str(models["voc"]),
        ],
        "vocode": ["vocode", str(models["wav"]), "-o", str(out / "v.wav"), "--vocoder", str(models["voc"])],
        "convert": [
            "convert",
            str(models["wav"]),
            "-e",
            "sad",
            "-o",
            str(out / "c.wav"),
            "--model",
            str(models["evc"]),
            "--acoustic",
            str(models["voice"]),
            "--f0",
            "dio",
        ],
    }


@pytest.mark.parametrize("command", ["synth", "synth-stream", "vocode", "convert"])
def test_a_real_full_disk_is_one_line_and_no_file(models, full_disk, command):
    rc, err = _cli(_commands(models, full_disk)[command])
    assert rc == 1 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert (
        line.startswith(f"emovox {command.split('-')[0]}: error: cannot write") and "the disk is full" in line
    )
    assert os.listdir(full_disk) == []


def test_a_real_full_disk_during_a_checkpoint_write(full_disk):
    from emovox.fileio import OutputError

    with pytest.raises(OutputError, match="the disk is full") as info:
        save_checkpoint(full_disk / "big.safetensors", {"w": torch.zeros(100_000)}, {}, kind="test")
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert os.listdir(full_disk) == []


@pytest.mark.parametrize("command", ["synth", "synth-stream", "vocode", "convert"])
def test_a_patched_enospc_is_one_line_and_no_file(models, tmp_path, monkeypatch, command):
    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sf.SoundFile, "write", no_space)
    rc, err = _cli(_commands(models, tmp_path)[command])
    assert rc == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith("the disk is full (nothing was written)")
    assert os.listdir(tmp_path) == []


def test_a_patched_enospc_in_a_checkpoint_or_feature_write(tmp_path, monkeypatch):
    from emovox.data_prep.features import build_store
    from emovox.fileio import OutputError

    manifest = _corpus(tmp_path / "corpus", 2)

    def no_space(self, data):
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", no_space)
    with pytest.raises(OutputError, match="disk is full"):
        save_checkpoint(tmp_path / "m.safetensors", {"w": torch.ones(8)}, {}, kind="test")
    with pytest.raises(OutputError, match="disk is full"):
        build_store(manifest, tmp_path / "store")  # meta.json cannot be written: the run stops at once
    monkeypatch.undo()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "corpus"]
    assert leftovers == []
    assert np.isfinite(build_store(manifest, tmp_path / "store").done)

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emovox.checkpoint import (
    CheckpointError,
    flatten_state,
    load_checkpoint,
    load_module_state,
    read_metadata,
    save_checkpoint,
    unflatten_state,
)


def _save(tmp_path, **meta):
    tensors = {"a.weight": torch.randn(3, 4), "a.bias": torch.zeros(3), "idx": torch.arange(5)}
    path = save_checkpoint(tmp_path / "m.safetensors", tensors, {"config": {"x": 1}, **meta}, kind="test")
    return path, tensors


def test_round_trip_and_metadata(tmp_path):
    path, tensors = _save(tmp_path)
    ckpt = load_checkpoint(path, kind="test")
    assert set(ckpt.tensors) == set(tensors)
    for k in tensors:
        assert torch.equal(ckpt.tensors[k], tensors[k])
    assert ckpt.meta["config"] == {"x": 1} and ckpt.meta["kind"] == "test"
    assert ckpt.meta["format_version"] == 1 and "torch_version" in ckpt.meta
    assert read_metadata(path)["config"] == {"x": 1}
    assert ckpt.subset("a").keys() == {"weight", "bias"}


def test_missing_and_wrong_kind(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.safetensors")
    path, _ = _save(tmp_path)
    with pytest.raises(CheckpointError, match="expected 'vocoder'"):
        load_checkpoint(path, kind="vocoder")


def test_truncated_file_is_refused(tmp_path):
    path, _ = _save(tmp_path)
    data = path.read_bytes()
    for cut in (4, 20, len(data) - 7):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated|corrupt"):
            load_checkpoint(path)


def test_tampered_tensor_bytes_are_refused(tmp_path):
    path, _ = _save(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)


def test_newer_format_version_is_refused(tmp_path):
    path, _ = _save(tmp_path)
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["emovox"])
    meta["format_version"] = 99
    header["__metadata__"]["emovox"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    with pytest.raises(CheckpointError, match="Upgrade emovox"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"hello world, this is not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(p)


def test_strict_module_loading():
    m = torch.nn.Linear(4, 3)
    good = {k: v.clone() for k, v in m.state_dict().items()}
    load_module_state(m, good)
    with pytest.raises(CheckpointError, match="missing"):
        load_module_state(m, {"weight": good["weight"]})
    with pytest.raises(CheckpointError, match="unexpected"):
        load_module_state(m, {**good, "extra": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_module_state(m, {**good, "weight": torch.zeros(4, 4)})


def test_optimizer_state_round_trips_exactly():
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.99))
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
    state = {
        "optim": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "np_rng": np.random.default_rng(3).bit_generator.state,
        "inf": float("inf"),
    }
    skeleton, tensors = flatten_state(state, "train")
    json.dumps(skeleton)
    back = unflatten_state(json.loads(json.dumps(skeleton)), tensors)
    opt2 = torch.optim.AdamW(model.parameters(), lr=1.0)
    opt2.load_state_dict(back["optim"])
    assert opt2.state_dict()["param_groups"][0]["lr"] == 1e-3
    assert tuple(opt2.state_dict()["param_groups"][0]["betas"]) == (0.8, 0.99)
    for k, v in opt.state_dict()["state"].items():
        for name, t in v.items():
            assert torch.equal(opt2.state_dict()["state"][k][name], t)
    assert torch.equal(back["rng"], state["rng"]) and back["inf"] == float("inf")
    assert back["np_rng"] == state["np_rng"]


def test_load_module_state_partial_and_float16():
    from emovox.checkpoint import load_module_state

    src = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    dst = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 5))  # the last layer differs
    half = {k: v.half() for k, v in src.state_dict().items()}
    fresh = load_module_state(dst, half, partial=True, skip=("0.bias",))
    assert fresh == ["0.bias", "1.bias", "1.weight"]
    assert dst[0].weight.dtype == torch.float32 and torch.equal(dst[0].weight, half["0.weight"].float())
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_module_state(dst, half)  # strict by default
    with pytest.raises(CheckpointError, match="no model tensor matches"):
        load_module_state(torch.nn.Linear(7, 7), half, partial=True)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_check_architecture_knows_weight_norms_shapes(dim):
    """Initialisation is left out on the meta device, and weight normalisation's norm is made by shape only: the
    state it gives is the real module's, key for key and shape for shape; a wrong width is still refused."""
    from torch.nn.utils.parametrizations import weight_norm

    from emovox.checkpoint import check_architecture

    def build(width=8):
        return torch.nn.Sequential(
            weight_norm(torch.nn.Conv1d(4, width, 3), dim=dim),
            torch.nn.LayerNorm(width),
            torch.nn.Embedding(5, 2),
        )

    real = build().state_dict()
    if dim == -1:
        assert real["0.parametrizations.weight.original0"].shape == ()
    check_architecture(build, real)
    with pytest.raises(CheckpointError, match="wrong shape"):
        check_architecture(lambda: build(width=9), real)

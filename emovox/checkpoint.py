"""Self-describing checkpoints: safetensors weights + JSON metadata, strict, atomic, never pickled.

One checkpoint is one ``.safetensors`` file. Its header carries, under the key ``emovox``, a JSON document with
the format version, the kind of model, the emovox/torch versions, the git hash of the code that wrote it,
everything the model needs to rebuild itself (config, symbol table, emotion bank, speakers, mel config…) and a
SHA-256 of every tensor's bytes, so a truncated or modified file is refused with a clear message instead of
producing noise. Nothing is ever unpickled.

Training state (optimizer, scheduler, RNG, data order) is stored the same way: :func:`flatten_state` turns any
nested ``state_dict`` of tensors, numbers, strings, lists, tuples and dicts into a tensor map plus a JSON
skeleton, and :func:`unflatten_state` rebuilds it exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load_bytes
from safetensors.torch import save as st_save_bytes
from torch.overrides import TorchFunctionMode

from emovox.fileio import atomic_path

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "check_architecture",
    "flatten_state",
    "git_hash",
    "load_checkpoint",
    "load_module_state",
    "read_metadata",
    "save_checkpoint",
    "unflatten_state",
]

FORMAT_NAME = "emovox-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "emovox"
MAX_HEADER_BYTES = 100_000_000
"""Largest safetensors header accepted (the safetensors library's own limit): bounds what a hostile file can make
the loader parse. emovox's own headers are a few tens of kilobytes."""


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, tampered with, of the wrong kind or from an incompatible version."""


@dataclass
class Checkpoint:
    """Tensors and metadata of one checkpoint file."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "")

    def subset(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors whose name starts with ``prefix + '.'``, with the prefix removed."""
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}


@lru_cache(maxsize=1)
def git_hash() -> str | None:
    """The git commit of the emovox source tree, with ``-dirty`` when it has local changes; None outside git."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_checkpoint(
    path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], *, kind: str
) -> Path:
    """Write ``tensors`` and JSON-serialisable ``meta`` to ``path`` atomically.

    Shared-memory tensors (tied weights) are cloned; every tensor is moved to the CPU and made contiguous.
    """
    from emovox import __version__

    path = Path(path)
    clean: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"checkpoint entry '{name}' is a {type(t).__name__}, not a tensor")
        clean[name] = t.detach().cpu().contiguous().clone()
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "emovox_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "git_hash": git_hash(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sha256": _digest(clean),
        **dict(meta),
    }
    try:
        meta_json = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"checkpoint metadata is not JSON-serialisable: {exc}") from exc
    data = st_save_bytes(clean, metadata={_META_KEY: meta_json})
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _json(text: bytes | str, path: Path, what: str) -> Any:
    """Decode one JSON document of a checkpoint; any defect (bad UTF-8, bad JSON, nesting deep enough to exhaust
    the recursion limit) is a :class:`CheckpointError`."""
    try:
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: {what} is corrupt ({exc})") from exc
    except RecursionError:
        raise CheckpointError(f"{path}: {what} is nested too deeply to be a checkpoint's") from None


def _parse(path: Path, data: bytes, verify: bool) -> Checkpoint:
    if len(data) < 8:
        raise CheckpointError(f"{path}: file is truncated ({len(data)} bytes)")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{path}: not an emovox checkpoint (its header claims {header_len} bytes; at most "
            f"{MAX_HEADER_BYTES} are accepted)"
        )
    if header_len <= 0 or 8 + header_len > len(data):
        raise CheckpointError(
            f"{path}: not an emovox checkpoint, or the file is truncated (bad header length)"
        )
    header = _json(data[8 : 8 + header_len], path, "header")
    tables = header.get("__metadata__") if isinstance(header, dict) else None
    raw_meta = tables.get(_META_KEY) if isinstance(tables, dict) else None
    if raw_meta is None:
        raise CheckpointError(f"{path}: a safetensors file without emovox metadata (not written by emovox)")
    if not isinstance(raw_meta, str):
        raise CheckpointError(f"{path}: metadata is corrupt (not a JSON string)")
    meta = _json(raw_meta, path, "metadata")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata is corrupt (a JSON {type(meta).__name__}, not an object)")
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: metadata is corrupt (format_version {version!r})")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written with checkpoint format {version} by emovox {meta.get('emovox_version')}; "
            f"this emovox reads format <= {FORMAT_VERSION}. Upgrade emovox to load it."
        )
    if not verify:
        return Checkpoint(tensors={}, meta=meta, path=path)
    try:
        tensors = st_load_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: tensor data is truncated or corrupt ({exc})") from exc
    if _digest(tensors) != meta.get("sha256"):
        raise CheckpointError(
            f"{path}: checksum mismatch — the file was modified or damaged after it was written; refusing to load it"
        )
    return Checkpoint(tensors=tensors, meta=meta, path=path)


def load_checkpoint(path: str | os.PathLike, *, kind: str | None = None) -> Checkpoint:
    """Read and verify a checkpoint. Raises :class:`CheckpointError` on any problem, never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    ckpt = _parse(path, path.read_bytes(), verify=True)
    if kind is not None and ckpt.kind != kind:
        raise CheckpointError(f"{path}: is a '{ckpt.kind}' checkpoint, expected '{kind}'")
    return ckpt


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata of a checkpoint (cheap: reads the header, does not verify tensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        data = head + fh.read(n) if 0 < n <= MAX_HEADER_BYTES else head
    return _parse(path, data, verify=False).meta


def load_module_state(
    module: torch.nn.Module,
    tensors: Mapping[str, torch.Tensor],
    what: str = "model",
    *,
    partial: bool = False,
    skip: tuple[str, ...] = (),
) -> list[str]:
    """Load ``tensors`` into ``module`` (each cast to the module's dtype, so float16 files load as float32).

    Strict by default: a missing, unexpected or mis-shaped tensor is an error. ``partial=True`` (fine-tuning)
    loads every tensor whose name and shape match, leaves the rest of the module as it is, and is an error only
    when nothing matches; names in ``skip`` are never loaded. Returns the module's tensor names left unloaded.
    """
    own = module.state_dict()
    if partial:
        take = {k: v for k, v in tensors.items()
                if k in own and k not in skip and tuple(v.shape) == tuple(own[k].shape)}  # fmt: skip
        if not take:
            raise CheckpointError(f"no {what} tensor matches this model's architecture (another model size?)")
        module.load_state_dict({**own, **take}, strict=True)
        return sorted(set(own) - set(take))
    _require_same_shapes(own, tensors, what)
    module.load_state_dict(dict(tensors), strict=True)  # copy_ casts each tensor to the parameter's dtype
    return []


def _require_same_shapes(
    own: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor], what: str
) -> None:
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if tuple(own[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} (e.g. {unexpected[:3]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} with wrong shape (e.g. {k}: file {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)})"
            )
        raise CheckpointError(f"{what} weights do not match its architecture: " + "; ".join(parts))


class _NoWeightInit(TorchFunctionMode):
    """Leaves out the arithmetic that fills a new layer's weights: the ``torch.nn.init`` calls, and the norms of
    weight normalisation (only their shape is made). On the meta device there is nothing to compute, and PyTorch
    runs these through its Python reference kernels, whose first use imports ``torch._dynamo`` (about 1.3 s, a
    third of a command's start-up)."""

    _INIT = frozenset(
        getattr(torch.nn.init, n) for n in dir(torch.nn.init) if n.endswith("_") and n[0] != "_"
    )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._INIT:
            return args[0] if args else kwargs["tensor"]
        if func is torch.norm_except_dim:  # weight normalisation's g: the norm over every dimension but dim
            v, dim = args[0], (args[2] if len(args) > 2 else kwargs.get("dim", 0))
            shape = [] if dim == -1 else [n if d == dim % v.dim() else 1 for d, n in enumerate(v.shape)]
            return v.new_empty(shape)
        return func(*args, **kwargs)


def check_architecture(
    build: Callable[[], torch.nn.Module], tensors: Mapping[str, torch.Tensor], what: str = "model"
) -> None:
    """Refuse ``tensors`` unless they are exactly the weights of the module ``build()`` makes — checked on
    PyTorch's meta device, which allocates nothing, so a hostile config asking for a model of a billion-wide
    layers is refused instead of exhausting memory. Call it before building the module for real.

    Only shapes are compared, so the weights' random initialisation is left out. A module whose constructor
    computes a table should leave it empty on the meta device (``SinusoidalPositions`` does): most tensor
    operations there import ``torch._dynamo`` too."""
    with torch.device("meta"), _NoWeightInit():
        module = build()
    _require_same_shapes(module.state_dict(), tensors, what)


# ---------------------------------------------------------------------------------------------------------
# Arbitrary nested state (optimizer, scheduler, RNG) <-> tensors + JSON skeleton

_T = "__tensor__"
_TUPLE = "__tuple__"
_NDARRAY = "__ndarray__"
_INTKEYS = "__intkeys__"


def flatten_state(obj: Any, prefix: str) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested state into a JSON-able skeleton and a flat ``{name: tensor}`` map (names start with prefix)."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(x: Any, name: str) -> Any:
        if isinstance(x, torch.Tensor):
            tensors[name] = x
            return {_T: name}
        if isinstance(x, np.ndarray):
            tensors[name] = torch.from_numpy(np.ascontiguousarray(x))
            return {_NDARRAY: name, "dtype": str(x.dtype)}
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x):
                return {k: walk(v, f"{name}.{k}") for k, v in x.items()}
            if all(isinstance(k, int) for k in x):
                return {_INTKEYS: [[k, walk(v, f"{name}.{k}")] for k, v in x.items()]}
            raise TypeError(f"state at '{name}' has keys that are neither all str nor all int")
        if isinstance(x, tuple):
            return {_TUPLE: [walk(v, f"{name}.{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [walk(v, f"{name}.{i}") for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            if isinstance(x, float) and not np.isfinite(x):
                return {"__float__": repr(x)}
            return x
        raise TypeError(f"cannot store a {type(x).__name__} at '{name}' in a checkpoint")

    return walk(obj, prefix), tensors


def unflatten_state(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if _T in x:
                return tensors[x[_T]]
            if _NDARRAY in x:
                return tensors[x[_NDARRAY]].numpy().astype(x["dtype"], copy=True)
            if _TUPLE in x:
                return tuple(walk(v) for v in x[_TUPLE])
            if _INTKEYS in x:
                return {int(k): walk(v) for k, v in x[_INTKEYS]}
            if "__float__" in x:
                return float(x["__float__"])
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(skeleton)

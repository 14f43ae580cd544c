"""The ONNX Runtime synthesis backend: the graphs of ``emovox export onnx`` behind the pipeline's interfaces.

:func:`load_onnx` reads an export folder (checking every file against the SHA-256 recorded at export) and
returns :class:`OnnxComponents`: the six arguments of :class:`emovox.pipelines.EmotionalTTS`, with the
networks replaced by ONNX Runtime sessions that answer the same calls:

- :class:`OnnxAcousticModel` has ``infer`` (encoder graph -> length regulator in numpy -> decoder graph, returning
  the same :class:`~emovox.tts.models.fastspeech2.InferenceOutput`), ``embed_reference``, ``speaker_embedding``
  and the statistics buffers the pipeline reads;
- :class:`OnnxDenoiser` is one denoiser step with the :class:`~emovox.tts.models.denoiser.Denoiser` interface,
  so :func:`emovox.tts.diffusion.sample` — the diffusers sampler loop, EmoMix mixing, guidance and
  preconditioning, all in Python — drives it unchanged;
- :class:`OnnxVocoder` maps a log-mel to audio like :class:`emovox.pipelines.Vocoder`.

So ``EmotionalTTS(*load_onnx(folder))`` synthesises with every control of the PyTorch pipeline (emotion specs
through the same emotion bank, markup, speakers, speed, pitch, diffusion steps, mixing, guidance, reference
clips, streaming). Small tensors (the bank's algebra, the scheduler's arithmetic, the mel of a reference clip)
stay in PyTorch, which emovox depends on anyway; the networks run in ONNX Runtime.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emovox.audio.mel import MelConfig
from emovox.config import config_from_dict
from emovox.emotion.bank import EmotionBank
from emovox.export.onnx import (
    ARRAYS_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    GRAPHS,
    METADATA_FILE,
    OPTIONAL_GRAPHS,
    OnnxExportError,
    expand_by_durations,
    file_sha256,
)
from emovox.tts.diffusion import DiffusionConfig
from emovox.tts.models.denoiser import DenoiserConfig
from emovox.tts.models.fastspeech2 import InferenceOutput

__all__ = [
    "OnnxAcousticModel",
    "OnnxComponents",
    "OnnxDenoiser",
    "OnnxExport",
    "OnnxVocoder",
    "load_onnx",
    "require_onnxruntime",
]


def require_onnxruntime():
    """The ``onnxruntime`` module, or an ImportError that says how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "the ONNX Runtime backend needs onnxruntime: pip install onnxruntime "
            "(or onnxruntime-gpu for CUDA)"
        ) from None
    return onnxruntime


def _np(x: torch.Tensor | np.ndarray, dtype=np.float32) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def _per_item(value: float | torch.Tensor | np.ndarray, batch: int, name: str) -> np.ndarray:
    arr = _np(value).reshape(-1)
    if arr.size == 1:
        arr = np.full(batch, arr[0], dtype=np.float32)
    if arr.size != batch:
        raise ValueError(f"{name} must be a scalar or one value per item ({batch}), got {arr.size} values")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


class OnnxExport:
    """An export folder: its metadata, its arrays and one ONNX Runtime session per graph.

    Args:
        directory: a folder written by ``emovox export onnx``.
        threads: intra-op threads of every session (None = ONNX Runtime's default, the physical cores).
        providers: ONNX Runtime execution providers (default: CPU).
        verify: check every file against the SHA-256 recorded at export (refuses a modified file).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        threads: int | None = None,
        providers: list[str] | None = None,
        verify: bool = True,
    ):
        ort = require_onnxruntime()
        self.directory = Path(directory)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
        self.document = self._read_document()
        self.threads = threads
        self.arrays = self._read_arrays(verify)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.sessions: dict[str, Any] = {}
        for name, entry in self.document["graphs"].items():
            path = self._file(entry["path"], entry.get("sha256") if verify else None)
            try:
                session = ort.InferenceSession(
                    str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
                raise OnnxExportError(f"{path}: ONNX Runtime cannot load this graph ({exc})") from exc
            self._check_signature(name, path, session)
            self.sessions[name] = session

    # ----- reading and checking -----

    def _read_document(self) -> dict[str, Any]:
        return self.read_document(self.directory)

    @staticmethod
    def read_document(directory: Path) -> dict[str, Any]:
        """The checked ``emovox_onnx.json`` of an export folder (no graph is loaded)."""
        if not directory.is_dir():
            raise FileNotFoundError(
                f"{directory} is not a folder: pass the folder written by `emovox export onnx MODEL DIR`"
            )
        path = directory / METADATA_FILE
        if not path.is_file():
            raise OnnxExportError(
                f"{directory} has no {METADATA_FILE}: not an emovox ONNX export (or an interrupted one); "
                "run `emovox export onnx MODEL DIR` again"
            )
        try:
            doc = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise OnnxExportError(f"{path} is not valid JSON ({exc}): re-export the model") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
            raise OnnxExportError(f"{path} is not an emovox ONNX export description")
        version = doc.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise OnnxExportError(
                f"{path} has format version {version!r}; this emovox reads up to {FORMAT_VERSION}: upgrade emovox"
            )
        graphs = doc.get("graphs")
        required = [g for g in GRAPHS if g not in OPTIONAL_GRAPHS]
        if not isinstance(graphs, dict) or any(g not in graphs for g in required):
            missing = [g for g in required if not isinstance(graphs, dict) or g not in graphs]
            raise OnnxExportError(f"{path} lists no {', '.join(missing)} graph: re-export the model")
        for name, entry in graphs.items():
            if name not in GRAPHS or not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise OnnxExportError(f"{path}: graph entry {name!r} is not one this emovox knows: re-export")
        for key in ("arrays", "acoustic", "vocoder", "checkpoint_meta"):
            if not isinstance(doc.get(key), dict):
                raise OnnxExportError(f"{path} has no '{key}' section: re-export the model")
        return doc

    def _file(self, name: str, sha256: str | None) -> Path:
        path = self.directory / name
        if Path(name).name != name:
            raise OnnxExportError(
                f"{self.directory / METADATA_FILE} names a file outside the folder: {name!r}"
            )
        if not path.is_file():
            raise OnnxExportError(
                f"{path} is missing: the export is incomplete; run `emovox export onnx MODEL DIR` again"
            )
        if sha256 is not None and file_sha256(path) != sha256:
            raise OnnxExportError(
                f"{path} does not match the checksum recorded at export (modified or truncated): re-export "
                "the model"
            )
        return path

    def _read_arrays(self, verify: bool) -> dict[str, np.ndarray]:
        entry = self.document["arrays"]
        path = self._file(str(entry.get("path", ARRAYS_FILE)), entry.get("sha256") if verify else None)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise OnnxExportError(f"{path} cannot be read ({exc}): re-export the model") from None

    def _check_signature(self, name: str, path: Path, session) -> None:
        _, inputs, outputs = GRAPHS[name]
        got_in = [i.name for i in session.get_inputs()]
        got_out = [o.name for o in session.get_outputs()]
        # Inputs a graph does not use (a denoiser without speaker embedding) may have been dropped.
        if any(i not in inputs for i in got_in) or list(outputs) != got_out:
            raise OnnxExportError(
                f"{path} has inputs {got_in} and outputs {got_out}; expected {list(inputs)} -> {list(outputs)}: "
                "not a graph of this emovox version; re-export the model"
            )

    def array(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise OnnxExportError(
                f"{self.directory / ARRAYS_FILE} has no array '{name}': re-export the model"
            )
        return self.arrays[name]

    def inputs(self, name: str) -> set[str]:
        """The input names graph ``name`` takes (an unused input may have been dropped at export)."""
        return {i.name for i in self.sessions[name].get_inputs()}

    def run(self, name: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        wanted = self.inputs(name)
        return self.sessions[name].run(None, {k: v for k, v in feeds.items() if k in wanted})

    @property
    def meta(self) -> dict[str, Any]:
        """The acoustic checkpoint's metadata (symbols, speakers, emotions, bank, configs, default steps)."""
        return self.document["checkpoint_meta"]


class OnnxAcousticModel:
    """The acoustic model's inference interface on ONNX Runtime (see :class:`AcousticModel`'s ``infer``)."""

    def __init__(self, export: OnnxExport):
        self.export = export
        info = export.document["acoustic"]
        self.n_symbols = int(info["n_symbols"])
        self.n_speakers = max(1, int(info["n_speakers"]))
        self.z_dim = int(info["z_dim"])
        self.n_mels = int(info["n_mels"])
        self.max_positions = int(info["max_positions"])
        self.mel_mean = torch.from_numpy(export.array("acoustic.mel_mean"))
        self.pitch_stats = torch.from_numpy(export.array("acoustic.pitch_stats"))
        self._speakers = torch.from_numpy(export.array("acoustic.speaker_embedding"))
        # Exports written before format 2 have no per-phoneme pitch offset (an emotion's final movement).
        self.takes_pitch_offset = "pitch_offset" in export.inputs("acoustic_encoder")

    def eval(self) -> OnnxAcousticModel:
        return self

    def speaker_embedding(self, speaker: torch.Tensor) -> torch.Tensor:
        """Speaker embeddings ``[B, hidden]`` of speaker indices ``[B]``."""
        return self._speakers[speaker.cpu()]

    def _check(self, tokens: np.ndarray, x_lengths: np.ndarray, speaker: np.ndarray, z: np.ndarray) -> None:
        if tokens.ndim != 2 or tokens.shape[1] == 0:
            raise ValueError(f"tokens must be [B, N] with N >= 1, got shape {tokens.shape}")
        if tokens.shape[1] > self.max_positions:
            raise ValueError(f"{tokens.shape[1]} phonemes exceed the model's maximum of {self.max_positions}")
        if tokens.min() < 0 or tokens.max() >= self.n_symbols:
            raise ValueError(
                f"token ids must be in [0, {self.n_symbols}), got {tokens.min()}..{tokens.max()}"
            )
        batch = tokens.shape[0]
        if x_lengths.shape != (batch,) or speaker.shape != (batch,):
            raise ValueError("x_lengths and speaker must have one value per item")
        if x_lengths.min() < 1 or x_lengths.max() > tokens.shape[1]:
            raise ValueError(f"x_lengths must be in [1, {tokens.shape[1]}], got {x_lengths.tolist()}")
        if speaker.min() < 0 or speaker.max() >= self.n_speakers:
            raise ValueError(f"speaker indices must be in [0, {self.n_speakers}), got {speaker.tolist()}")
        if z.shape != (batch, self.z_dim) or not np.isfinite(z).all():
            raise ValueError(f"z must be finite with shape [{batch}, {self.z_dim}], got {list(z.shape)}")

    @staticmethod
    def _given_durations(durations: torch.Tensor, shape: tuple[int, ...], lengths: np.ndarray) -> np.ndarray:
        """Given frames per symbol as :meth:`AcousticModel.infer` uses them: negative ones as 0, fractions dropped,
        padding as 0, and one frame for the first symbol of an item that would otherwise have none."""
        d = _np(durations, np.float64)
        if d.shape != tuple(shape) or not np.isfinite(d).all():
            raise ValueError(
                f"durations must be finite with the tokens' shape {list(shape)}, got {list(d.shape)}"
            )
        d = np.floor(np.clip(d, 0, None)) * (np.arange(shape[1])[None, :] < lengths[:, None])
        d[:, 0] = np.where(d.sum(1) == 0, 1.0, d[:, 0])
        return d

    def _pitch_offset(self, offset: torch.Tensor | None, shape: tuple[int, ...]) -> np.ndarray:
        """``pitch_offset`` as the encoder graph's input (zeros when none); an export written before the graph took
        it is refused when one is asked for, rather than leaving the emotion's final F0 movement out."""
        if offset is None:
            return np.zeros(shape, dtype=np.float32)
        o = _np(offset)
        if o.shape != tuple(shape) or not np.isfinite(o).all():
            raise ValueError(
                f"pitch_offset must be finite with the tokens' shape {list(shape)}, got {list(o.shape)}"
            )
        if not self.takes_pitch_offset:
            raise OnnxExportError(
                f"{self.export.directory} was exported before the acoustic encoder took a per-phoneme pitch offset "
                "(an emotion's final rise or fall): run `emovox export onnx MODEL DIR --force` again"
            )
        return o

    def infer(
        self,
        tokens: torch.Tensor,
        x_lengths: torch.Tensor,
        speaker: torch.Tensor,
        z: torch.Tensor,
        *,
        length_scale: float | torch.Tensor = 1.0,
        pitch_shift: float | torch.Tensor = 0.0,
        pitch_scale: float | torch.Tensor = 1.0,
        energy_shift: float | torch.Tensor = 0.0,
        pitch_offset: torch.Tensor | None = None,
        durations: torch.Tensor | None = None,
    ) -> InferenceOutput:
        """Synthesise mels; the arguments and result are those of :meth:`AcousticModel.infer` (CPU tensors).
        Given ``durations`` replace the predicted ones before the length regulator, which runs on the host (the
        exported encoder's F0 and energy are per phoneme, so they do not depend on them)."""
        tok = _np(tokens, np.int64)
        lengths = _np(x_lengths, np.int64).reshape(-1)
        spk = _np(speaker, np.int64).reshape(-1)
        zz = _np(z)
        self._check(tok, lengths, spk, zz)
        offset = self._pitch_offset(pitch_offset, tok.shape)
        given = None if durations is None else self._given_durations(durations, tok.shape, lengths)
        batch = tok.shape[0]
        h, durations, pitch, energy, cond = self.export.run(
            "acoustic_encoder",
            {
                "tokens": tok,
                "x_lengths": lengths,
                "speaker": spk,
                "z": zz,
                "length_scale": _per_item(length_scale, batch, "length_scale"),
                "pitch_shift": _per_item(pitch_shift, batch, "pitch_shift"),
                "pitch_scale": _per_item(pitch_scale, batch, "pitch_scale"),
                "energy_shift": _per_item(energy_shift, batch, "energy_shift"),
                "pitch_offset": offset,
            },
        )
        if given is not None:
            durations = given.astype(durations.dtype)
        y, y_lengths = expand_by_durations(h, durations)
        if y.shape[1] > self.max_positions:
            raise ValueError(
                f"sequence of {y.shape[1]} positions exceeds the maximum of {self.max_positions} frames: "
                "synthesise shorter sentences"
            )
        mel, hidden = self.export.run("acoustic_decoder", {"y": y, "y_lengths": y_lengths, "cond": cond})
        y_mask = np.arange(y.shape[1])[None, :] < y_lengths[:, None]
        dur = torch.from_numpy(np.rint(durations).astype(np.int64))
        return InferenceOutput(
            mel=torch.from_numpy(mel),
            mel_lengths=dur.sum(1),
            durations=dur,
            pitch=torch.from_numpy(pitch),
            energy=torch.from_numpy(energy),
            decoder_hidden=torch.from_numpy(hidden),
            y_mask=torch.from_numpy(y_mask),
        )

    def embed_reference(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
        """``z`` of reference clips: log-mel ``[B, n_mels, T]`` -> ``[B, z_dim]``."""
        m = _np(mel)
        if m.ndim != 3 or m.shape[1] != self.n_mels or m.shape[2] == 0:
            raise ValueError(f"expected a log-mel [B, {self.n_mels}, T], got shape {m.shape}")
        (z,) = self.export.run("reference_encoder", {"mel": m, "mel_lengths": _np(mel_lengths, np.int64)})
        return torch.from_numpy(z)


class OnnxDenoiser:
    """One diffusion-decoder step on ONNX Runtime, with the :class:`Denoiser` interface that
    :func:`emovox.tts.diffusion.sample` uses (``cfg``, ``normalise``, ``denormalise``, ``null_z``, the call)."""

    def __init__(self, export: OnnxExport):
        self.export = export
        meta = export.meta
        self.cfg = config_from_dict(DenoiserConfig, meta["denoiser_config"], source=str(export.directory))
        self.mel_mean = torch.from_numpy(export.array("denoiser.mel_mean"))
        self.mel_std = torch.from_numpy(export.array("denoiser.mel_std"))
        self.null_emotion = torch.from_numpy(export.array("denoiser.null_emotion"))

    def eval(self) -> OnnxDenoiser:
        return self

    def normalise(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mel_mean[:, None]) / self.mel_std[:, None]

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mel_std[:, None] + self.mel_mean[:, None]

    def null_z(self, batch: int) -> torch.Tensor:
        return self.null_emotion[None].expand(batch, -1)

    def __call__(self, x_t, t, cond, coarse, z, g, mask) -> torch.Tensor:
        """Shapes as :meth:`Denoiser.forward`; ``z = None`` is the null emotion."""
        batch, _, frames = x_t.shape
        t = t.expand(batch) if t.ndim == 0 else t
        feeds = {
            "x_t": _np(x_t),
            "t": _np(t),
            "cond": _np(cond) if cond is not None else np.zeros((batch, 1, frames), np.float32),
            "coarse": _np(coarse),
            "z": _np(self.null_z(batch) if z is None else z),
            "g": _np(g) if g is not None else np.zeros((batch, 1), np.float32),
            "mask": _np(mask),
        }
        (out,) = self.export.run("denoiser", feeds)
        return torch.from_numpy(out)


class OnnxVocoder:
    """The HiFi-GAN generator on ONNX Runtime, called like :class:`emovox.pipelines.Vocoder`."""

    def __init__(self, export: OnnxExport):
        self.export = export
        info = export.document["vocoder"]
        self.mel_config = config_from_dict(MelConfig, info["mel_config"], source=str(export.directory))

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    def __call__(self, mel: torch.Tensor | np.ndarray) -> np.ndarray:
        """Log-mel ``[n_mels, T]`` -> audio ``[T * hop]``, or ``[B, n_mels, T]`` -> ``[B, T * hop]`` (float32,
        clamped to [-1, 1])."""
        m = _np(mel)
        if m.ndim not in (2, 3) or m.shape[-2] != self.mel_config.n_mels or m.shape[-1] == 0:
            raise ValueError(
                f"expected a mel [{self.mel_config.n_mels}, T] or a batch [B, {self.mel_config.n_mels}, T], "
                f"got shape {m.shape}"
            )
        single = m.ndim == 2
        (audio,) = self.export.run("vocoder", {"mel": m[None] if single else m})
        audio = np.clip(audio[:, 0], -1.0, 1.0)
        return audio[0] if single else audio


@dataclass
class OnnxComponents:
    """The arguments of :class:`emovox.pipelines.EmotionalTTS`, in its order (iterable: ``EmotionalTTS(*c)``)."""

    model: OnnxAcousticModel
    meta: dict[str, Any]
    bank: EmotionBank | None
    vocoder: OnnxVocoder
    denoiser: OnnxDenoiser | None
    diffusion: DiffusionConfig | None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.model, self.meta, self.bank, self.vocoder, self.denoiser, self.diffusion))


def load_onnx(
    directory: str | os.PathLike,
    *,
    threads: int | None = None,
    providers: list[str] | None = None,
    verify: bool = True,
) -> OnnxComponents:
    """Load an ONNX export for synthesis: ``EmotionalTTS(*load_onnx(folder, threads=2))``.

    Raises ImportError (with the pip command) without onnxruntime, FileNotFoundError / OnnxExportError for a
    missing, incomplete or modified export.
    """
    export = OnnxExport(directory, threads=threads, providers=providers, verify=verify)
    meta = export.meta
    bank = None
    if isinstance(meta.get("bank"), dict):
        tensors = {k: torch.from_numpy(v) for k, v in export.arrays.items() if k.startswith("bank.")}
        bank = EmotionBank.from_tensors(tensors, meta["bank"])
    denoiser, diffusion = None, None
    if "denoiser" in export.sessions:
        if "denoiser_config" not in meta:
            raise OnnxExportError(
                f"{export.directory}: a denoiser graph without its config: re-export the model"
            )
        denoiser = OnnxDenoiser(export)
        diffusion = config_from_dict(
            DiffusionConfig, meta.get("diffusion_config", {}), source=str(export.directory)
        )
    vocoder = OnnxVocoder(export)
    sample_rate = int(meta.get("mel_config", {}).get("sample_rate", vocoder.sample_rate))
    if not math.isclose(sample_rate, vocoder.sample_rate):
        raise OnnxExportError(
            f"{export.directory}: the acoustic model and the vocoder disagree on the sample rate"
        )
    return OnnxComponents(OnnxAcousticModel(export), meta, bank, vocoder, denoiser, diffusion)

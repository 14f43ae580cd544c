"""Export an acoustic checkpoint (FastSpeech2 + diffusion decoder) and a HiFi-GAN vocoder to ONNX.

``emovox export onnx MODEL DIR`` writes into ``DIR``:

- ``acoustic_encoder.onnx``: tokens, lengths, speaker, the emotion vector ``z`` and the prosody controls
  (``length_scale``, ``pitch_shift``, ``pitch_scale``, ``energy_shift``, one value per item; ``pitch_offset``,
  one value per phoneme: an emotion's final rise or fall) -> the text
  encoder and variance adaptor's output per phoneme, the rounded durations, pitch, energy and the condition
  vector. ``z`` is an input, so every emotion control (labels, mixtures, intensity, polarity, ADV/VA, reference
  clips) works: the emotion bank stays in Python and resolves a spec to ``z`` as in the PyTorch pipeline.
- ``acoustic_decoder.onnx``: the phoneme sequence expanded to frames, the frame lengths and the condition
  -> the log-mel and the decoder hidden sequence (the diffusion decoder's condition).
- ``reference_encoder.onnx``: a log-mel and its length -> ``z`` (the "like this reference clip" control).
- ``denoiser.onnx`` (when the checkpoint has a diffusion decoder): **one** denoiser evaluation
  ``net(x_t, t, cond, coarse, z, g, mask)``; the sampler loop (diffusers schedulers, EmoMix mixing, guidance,
  preconditioning) stays in Python and calls it once per step, as STYLE.md rule 3 wants.
- ``vocoder.onnx``: the HiFi-GAN generator (weight norm folded), log-mel ``[B, 80, T]`` -> ``[B, 1, T * hop]``.
- ``emovox_onnx.json`` (format, versions, the checkpoint's metadata: symbols, speakers, emotions, bank
  layout, mel and diffusion configs; each file's SHA-256, the graphs' input and output names, the agreement
  measured at export) and ``emovox_onnx.npz`` (the emotion bank's tensors, the per-speaker pitch statistics,
  the speaker embeddings, the denoiser's mel statistics and null emotion).

**Why the acoustic model is two graphs.** The length regulator repeats each phoneme ``d_i`` times: the number
of frames depends on the values the duration predictor computes, not on an input shape. ``torch.export``
(which the ONNX exporter uses) needs every output shape to be a function of the input shapes, so a single graph
would need an unbacked symbolic size and a length regulator rewritten for ONNX's loop ops. Cutting the model at
the length regulator keeps both graphs shape-static in that sense (dynamic batch, phonemes and frames) and the
expansion is a ``numpy.repeat`` on the host (:func:`expand_by_durations`), which is exact: the PyTorch
regulator is a product with a 0/1 path matrix. It also costs nothing measurable (a copy of ``T x hidden``
floats). The rounding of durations stays inside the encoder graph (``Round`` is half-to-even in ONNX and torch).

Every graph has a dynamic batch dimension and dynamic lengths; positions are capped at the sinusoidal table's
length (10,000 phonemes or frames per item, as in PyTorch).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emovox.tts.models.denoiser import Denoiser
from emovox.tts.models.fastspeech2 import AcousticModel
from emovox.vocoder.models.hifigan import LRELU_SLOPE

__all__ = [
    "ARRAYS_FILE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GRAPHS",
    "METADATA_FILE",
    "ExportReport",
    "OnnxExportError",
    "expand_by_durations",
    "export_onnx",
    "file_sha256",
]

log = logging.getLogger(__name__)

FORMAT_NAME = "emovox-onnx"
FORMAT_VERSION = 2  # 2: the acoustic encoder takes a per-phoneme pitch offset
METADATA_FILE = "emovox_onnx.json"
ARRAYS_FILE = "emovox_onnx.npz"
DEFAULT_OPSET = 18
LOG_MEL_FLOOR = math.log(1e-5)  # the log-mel of silence (HiFi-GAN's clamp), put on padded frames

# name -> (file, inputs, outputs). The runtime checks every session against these names.
GRAPHS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "acoustic_encoder": (
        "acoustic_encoder.onnx",
        (
            "tokens",
            "x_lengths",
            "speaker",
            "z",
            "length_scale",
            "pitch_shift",
            "pitch_scale",
            "energy_shift",
            "pitch_offset",
        ),
        ("h", "durations", "pitch", "energy", "cond"),
    ),
    "acoustic_decoder": ("acoustic_decoder.onnx", ("y", "y_lengths", "cond"), ("mel", "hidden")),
    "reference_encoder": ("reference_encoder.onnx", ("mel", "mel_lengths"), ("z",)),
    "denoiser": ("denoiser.onnx", ("x_t", "t", "cond", "coarse", "z", "g", "mask"), ("prediction",)),
    "vocoder": ("vocoder.onnx", ("mel",), ("audio",)),
}
OPTIONAL_GRAPHS = ("denoiser",)


class OnnxExportError(ValueError):
    """An export that cannot be written, or an export folder that is missing, incomplete or modified."""


# --------------------------------------------------------------------------------------------- graphs


def _mask(lengths: torch.Tensor, size: int | torch.SymInt) -> torch.Tensor:
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


class AcousticEncoderGraph(nn.Module):
    """:meth:`AcousticModel.infer` up to the length regulator, with per-item controls ``[B]``.

    Shapes: tokens ``[B, N]`` int64; x_lengths, speaker ``[B]`` int64; z ``[B, z_dim]``; controls ``[B]``
    float; pitch_offset ``[B, N]`` float -> h ``[B, N, hidden]``, durations/pitch/energy ``[B, N]``, cond
    ``[B, hidden]``.
    """

    def __init__(self, model: AcousticModel):
        super().__init__()
        self.model = model

    def forward(
        self,
        tokens,
        x_lengths,
        speaker,
        z,
        length_scale,
        pitch_shift,
        pitch_scale,
        energy_shift,
        pitch_offset,
    ):
        m = self.model
        x_mask = _mask(x_lengths, tokens.shape[1])
        maskf = x_mask.to(z.dtype)
        cond = m.condition(z, speaker)
        emb = m.embedding(tokens) * maskf.unsqueeze(-1)
        h_var = m.encoder(emb, x_mask, cond) + cond.unsqueeze(1)
        log_dur = m.duration_predictor(h_var, x_mask)
        durations = torch.round((torch.exp(log_dur) - 1).clamp(min=0) * length_scale[:, None])
        durations = durations.clamp(max=m.cfg.max_frames_per_phoneme) * maskf
        # As infer: an utterance whose durations all round to 0 gets one frame on its first phoneme.
        first = torch.where(durations.sum(1) == 0, torch.ones_like(durations[:, 0]), durations[:, 0])
        durations = torch.cat([first[:, None], durations[:, 1:]], dim=1)
        pitch = m.pitch_predictor(h_var, x_mask) * pitch_scale[:, None] + pitch_shift[:, None] + pitch_offset
        pitch = pitch * maskf
        energy = (m.energy_predictor(h_var, x_mask) + energy_shift[:, None]) * maskf
        h_dec = h_var + m._variance_embedding(pitch, energy, x_mask)
        return h_dec, durations, pitch, energy, cond


class AcousticDecoderGraph(nn.Module):
    """The FastSpeech2 decoder on expanded frames: y ``[B, T, hidden]``, y_lengths ``[B]``, cond ``[B, hidden]``
    -> mel ``[B, n_mels, T]`` (log-mel, the silence floor on padded frames) and hidden ``[B, T, hidden]``."""

    def __init__(self, model: AcousticModel):
        super().__init__()
        self.model = model

    def forward(self, y, y_lengths, cond):
        m = self.model
        y_mask = _mask(y_lengths, y.shape[1])
        hidden = m.decoder(y, y_mask, cond)
        mel_norm = m.mel_out(hidden).transpose(1, 2) * y_mask.unsqueeze(1).to(hidden.dtype)
        mel = m.denormalise_mel(mel_norm)
        mel = torch.where(y_mask.unsqueeze(1), mel, torch.full_like(mel, LOG_MEL_FLOOR))
        return mel, hidden


class ReferenceEncoderGraph(nn.Module):
    """:meth:`AcousticModel.embed_reference`: log-mel ``[B, n_mels, T]``, mel_lengths ``[B]`` -> z ``[B, z_dim]``."""

    def __init__(self, model: AcousticModel):
        super().__init__()
        self.model = model

    def forward(self, mel, mel_lengths):
        mask = _mask(mel_lengths, mel.shape[2])
        return self.model.emotion_encoder.embed(self.model.normalise_mel(mel) * mask.unsqueeze(1), mask)


class DenoiserGraph(nn.Module):
    """One :class:`Denoiser` evaluation with every input explicit (``t`` as float32 ``[B]``)."""

    def __init__(self, net: Denoiser):
        super().__init__()
        self.net = net

    def forward(self, x_t, t, cond, coarse, z, g, mask):
        cfg = self.net.cfg
        return self.net(
            x_t,
            t,
            cond if cfg.cond_channels > 0 else None,
            coarse,
            z,
            g if cfg.speaker_dim > 0 else None,
            mask,
        )


def _conv_2d(conv: nn.Conv1d | nn.ConvTranspose1d, x: torch.Tensor) -> torch.Tensor:
    """A 1-D (transposed) convolution applied to ``[B, C, 1, T]`` as a 2-D one (weight viewed ``[O, I, 1, K]``)."""
    w = conv.weight.unsqueeze(2)
    if isinstance(conv, nn.ConvTranspose1d):
        return F.conv_transpose2d(
            x, w, conv.bias, (1, conv.stride[0]), (0, conv.padding[0]), (0, conv.output_padding[0])
        )
    return F.conv2d(x, w, conv.bias, (1, conv.stride[0]), (0, conv.padding[0]), (1, conv.dilation[0]))


class VocoderGraph(nn.Module):
    """The HiFi-GAN generator (weight norm folded) with its convolutions as 2-D ones on ``[B, C, 1, T]``, as
    :meth:`Generator.infer` runs them on CPU: ONNX Runtime's blocked (NCHWc) convolution kernels apply to 2-D
    convolutions only, which made this graph 10-15 % faster than the 1-D one on a 2-core CPU (same outputs).

    Shapes: mel ``[B, n_mels, T]`` -> audio ``[B, 1, T * hop]``."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, mel):
        g = self.generator
        x = _conv_2d(g.conv_pre, mel.unsqueeze(2))
        for i, up in enumerate(g.ups):
            x = _conv_2d(up, F.leaky_relu(x, LRELU_SLOPE))
            blocks = g.resblocks[i * g.num_kernels : (i + 1) * g.num_kernels]  # stage-major, as released
            z = blocks[0].infer(x)  # ResBlock.infer takes [B, C, 1, T]
            for block in blocks[1:]:
                z = z + block.infer(x)
            x = z * (1.0 / g.num_kernels)
        x = _conv_2d(g.conv_post, F.leaky_relu(x))  # default slope (0.01) here, as in the official generator
        return torch.tanh(x).squeeze(2)


# --------------------------------------------------------------------------------------------- helpers


def expand_by_durations(h: np.ndarray, durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The length regulator on the host: repeat each phoneme of ``h`` ``[B, N, C]`` ``durations`` ``[B, N]``
    times; returns ``(y [B, T, C] zero-padded, y_lengths [B] int64)`` with ``T = max(1, max total)``, exactly
    what :func:`emovox.tts.models.layers.expand_by_durations` computes."""
    d = np.rint(durations).astype(np.int64).clip(min=0)
    totals = d.sum(axis=1)
    t_max = max(1, int(totals.max(initial=0)))
    y = np.zeros((h.shape[0], t_max, h.shape[2]), dtype=h.dtype)
    for b in range(h.shape[0]):
        y[b, : totals[b]] = np.repeat(h[b], d[b], axis=0)
    return y, totals


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import emovox

    out = {"emovox": emovox.__version__, "torch": torch.__version__}
    for name in ("onnx", "onnxscript", "onnxruntime"):
        with contextlib.suppress(ImportError):
            out[name] = __import__(name).__version__
    return out


def _require_exporter() -> None:
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"ONNX export needs {' and '.join(missing)} (torch's exporter uses them): "
            f"pip install {' '.join(missing)}"
        )


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's chatter (absent torchvision ops, pytree deprecations, axis renames): it is not
    about our graphs, and an export that fails still raises."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (FutureWarning, UserWarning, DeprecationWarning))
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_graph(
    module: nn.Module, args: tuple, names: tuple, dynamic: dict, path: Path, opset: int
) -> None:
    """One graph through torch's ``torch.export``-based ONNX exporter, weights inside the file."""
    inputs, outputs = names
    with _quiet_exporter():
        program = torch.onnx.export(
            module.eval(),
            args,
            dynamo=True,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_shapes=dynamic,
            opset_version=opset,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    program.save(str(path), external_data=False)


def _dims(max_positions: int):
    from torch.export import Dim

    batch = Dim("batch", min=1, max=4096)
    return (
        batch,
        Dim("phonemes", min=1, max=max_positions),
        Dim("frames", min=1, max=max_positions),
    )


# --------------------------------------------------------------------------------------------- export


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime reproduced PyTorch on a test sentence."""

    directory: Path
    files: dict[str, int]  # file name -> bytes
    agreement: dict[str, dict[str, float]]  # part -> {max_abs, max_rel, ...}; empty without verification
    seconds: float


def _load_parts(model_path: str | os.PathLike | None, vocoder: str):
    from emovox.paths import default_voice_path
    from emovox.tts.bank import load_acoustic, load_denoiser, resolve_acoustic_path
    from emovox.vocoder.pretrained import load_vocoder, vocoder_mel_config

    path = default_voice_path() if model_path in (None, "default") else resolve_acoustic_path(model_path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"acoustic model {path} does not exist")
    model, ckpt = load_acoustic(path)
    denoiser = load_denoiser(ckpt, path)
    if denoiser is not None:
        denoiser.eval()
    generator = load_vocoder(vocoder)
    return Path(path), model.eval(), ckpt, denoiser, generator, vocoder_mel_config(vocoder)


def _arrays(model: AcousticModel, ckpt, denoiser: Denoiser | None) -> dict[str, np.ndarray]:
    def np32(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    arrays = {
        "acoustic.pitch_stats": np32(model.pitch_stats),
        "acoustic.mel_mean": np32(model.mel_mean),
        "acoustic.mel_std": np32(model.mel_std),
        "acoustic.speaker_embedding": np32(model.speaker_embedding.weight),
    }
    arrays |= {k: np32(v) for k, v in ckpt.tensors.items() if k.startswith("bank.")}
    if denoiser is not None:
        arrays |= {
            "denoiser.mel_mean": np32(denoiser.mel_mean),
            "denoiser.mel_std": np32(denoiser.mel_std),
            "denoiser.null_emotion": np32(denoiser.null_emotion),
        }
    return arrays


def _example_inputs(model: AcousticModel, denoiser: Denoiser | None, n_mels: int):
    """Example inputs of batch 2 (sizes of 0 or 1 would be specialised by torch.export)."""
    gen = torch.Generator().manual_seed(0)
    cfg = model.cfg
    n, t, b = 7, 23, 2
    # Distinct tensors for the controls: torch.export merges inputs that are the same tensor object.
    enc = (
        torch.randint(1, cfg.n_symbols, (b, n), generator=gen),
        torch.tensor([n, n - 2]),
        torch.tensor([0, max(0, cfg.n_speakers - 1)]),
        torch.randn(b, cfg.emotion.z_dim, generator=gen) * 0.3,
        torch.tensor([1.0, 0.8]),
        torch.tensor([0.0, 0.5]),
        torch.tensor([1.0, 1.2]),
        torch.tensor([0.0, -0.3]),
        torch.randn(b, n, generator=gen) * 0.1,
    )
    dec = (torch.randn(b, t, cfg.hidden, generator=gen), torch.tensor([t, t - 5]), torch.randn(b, cfg.hidden))
    ref = (torch.randn(b, cfg.n_mels, t, generator=gen) - 5.0, torch.tensor([t, t - 5]))
    den = None
    if denoiser is not None:
        d = denoiser.cfg
        den = (
            torch.randn(b, d.n_mels, t, generator=gen),
            torch.tensor([400.0, 3.0]),
            torch.randn(b, max(d.cond_channels, 1), t, generator=gen),
            torch.randn(b, d.n_mels, t, generator=gen) - 5.0,
            torch.randn(b, d.emotion_dim, generator=gen),
            torch.randn(b, max(d.speaker_dim, 1), generator=gen),
            torch.ones(b, 1, t),
        )
    voc = (torch.randn(b, n_mels, t, generator=gen) - 5.0,)
    return enc, dec, ref, den, voc


def _prepare_directory(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OnnxExportError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        ours = {METADATA_FILE, ARRAYS_FILE} | {f for f, _, _ in GRAPHS.values()}
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in ours)
        if foreign:
            raise OnnxExportError(
                f"{out_dir} holds other files ({', '.join(foreign[:5])}): export into an empty or new folder"
            )
        if not overwrite:
            raise OnnxExportError(f"{out_dir} already holds an ONNX export: pass --force to replace it")


def export_onnx(
    model_path: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    vocoder: str = "universal",
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    overwrite: bool = False,
) -> ExportReport:
    """Export an acoustic checkpoint (``None``/``"default"`` = the built-in voice) and a vocoder to ``out_dir``.

    The graphs are written to a temporary folder beside ``out_dir`` and moved in, the metadata JSON last, so an
    interrupted export never leaves a folder that loads. With ``verify`` the export is loaded with ONNX Runtime
    and compared with PyTorch on a fixed sentence; the differences are stored in the metadata and returned.
    """
    _require_exporter()
    start = time.perf_counter()
    out_dir = Path(out_dir)
    _prepare_directory(out_dir, overwrite)
    source, model, ckpt, denoiser, generator, voc_mel = _load_parts(model_path, vocoder)
    mel_cfg = ckpt.meta.get("mel_config", {})
    if int(mel_cfg.get("sample_rate", voc_mel.sample_rate)) != voc_mel.sample_rate:
        raise OnnxExportError(
            f"the acoustic model uses {mel_cfg.get('sample_rate')} Hz mels but the vocoder expects "
            f"{voc_mel.sample_rate} Hz"
        )
    max_positions = int(model.encoder.positions.pe.shape[0])
    batch, phonemes, frames = _dims(max_positions)
    enc, dec, ref, den, voc = _example_inputs(model, denoiser, generator.cfg.n_mels)
    row = {0: batch}
    plan = [
        ("acoustic_encoder", AcousticEncoderGraph(model), enc,
         ({0: batch, 1: phonemes}, row, row, row, row, row, row, row, {0: batch, 1: phonemes})),
        ("acoustic_decoder", AcousticDecoderGraph(model), dec, ({0: batch, 1: frames}, row, row)),
        ("reference_encoder", ReferenceEncoderGraph(model), ref, ({0: batch, 2: frames}, row)),
        ("vocoder", VocoderGraph(generator), voc, ({0: batch, 2: frames},)),
    ]  # fmt: skip
    if denoiser is not None:
        seq = {0: batch, 2: frames}
        plan.append(("denoiser", DenoiserGraph(denoiser), den, (seq, row, seq, seq, row, row, seq)))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".emovox-onnx-", dir=out_dir.parent))
    try:
        files: dict[str, dict[str, Any]] = {}
        for name, module, args, dynamic in plan:
            file, inputs, outputs = GRAPHS[name]
            log.info("exporting %s", file)
            with torch.no_grad():
                _export_graph(module, args, (inputs, outputs), dynamic, work / file, opset)
            files[name] = {"path": file, "inputs": list(inputs), "outputs": list(outputs)}
        np.savez(work / ARRAYS_FILE, **_arrays(model, ckpt, denoiser))
        for entry in files.values():
            entry["sha256"] = file_sha256(work / entry["path"])
        c = model.cfg
        acoustic = {"max_positions": max_positions, "hidden": c.hidden, "z_dim": c.emotion.z_dim,
                    "n_symbols": c.n_symbols, "n_speakers": c.n_speakers, "n_mels": c.n_mels}  # fmt: skip
        meta = {k: v for k, v in ckpt.meta.items() if k not in ("sha256", "format", "format_version", "kind")}
        document: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": _versions(),
            "opset": opset,
            "source": {"model": str(source), "model_sha256": file_sha256(source), "vocoder": str(vocoder)},
            "graphs": files,
            "arrays": {"path": ARRAYS_FILE, "sha256": file_sha256(work / ARRAYS_FILE)},
            "acoustic": acoustic,
            "vocoder": {"mel_config": dataclasses.asdict(voc_mel), "hop_length": generator.cfg.hop_length},
            "checkpoint_meta": meta,
            "agreement": {},
        }
        (work / METADATA_FILE).write_text(json.dumps(document, indent=1))
        agreement: dict[str, dict[str, float]] = {}
        if verify:
            from emovox.export.verify import compare_backends

            agreement = compare_backends(work, model, denoiser, generator, ckpt)
            document["agreement"] = agreement
            (work / METADATA_FILE).write_text(json.dumps(document, indent=1))
        out_dir.mkdir(exist_ok=True)
        (out_dir / METADATA_FILE).unlink(
            missing_ok=True
        )  # a replaced export is invalid until the new JSON lands
        for path in sorted(work.iterdir(), key=lambda p: p.name == METADATA_FILE):  # the JSON last
            os.replace(path, out_dir / path.name)
        if denoiser is None:  # a previous export's denoiser does not belong to this model
            (out_dir / GRAPHS["denoiser"][0]).unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sizes = {p.name: p.stat().st_size for p in sorted(out_dir.iterdir())}
    return ExportReport(out_dir, sizes, agreement, time.perf_counter() - start)

"""ONNX Runtime beside PyTorch (both fp32, CPU): the acoustic model, one diffusion-decoder step, the vocoder and
end-to-end text-to-speech, at each thread count, with the ratio ORT / PyTorch measured in the same run.

The model is exported first (``emovox export onnx``) into a temporary folder, unless ``--onnx DIR`` names an
export of the same model. Every part gets the same inputs in both backends: the acoustic model the token ids
of ``--text`` (the model's text front end) with speaker 0 and the neutral emotion; the denoiser and the vocoder
the mel the PyTorch acoustic model made of it; end to end, ``EmotionalTTS.synthesize`` (front end, acoustic
model, diffusion with the model's default steps or ``--steps``, vocoder) of the PyTorch pipeline and of the
same pipeline built on :func:`emovox.export.runtime.load_onnx`. PyTorch uses ``torch.set_num_threads(n)``;
ONNX Runtime a session per thread count with ``intra_op_num_threads = n``. The two backends alternate inside
every repeat (order rotated) and medians are reported; ``max |diff|`` is the largest absolute difference of the
two outputs on this input. The machine may be shared and noisy: compare the ratios of one run, not absolute
numbers across runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from emovox.bench.synth import TEXT, measure, num_threads

QUICK_TEXT = "Where were you last night?"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model", default="default", help="acoustic checkpoint (default: the built-in voice)"
    )
    parser.add_argument(
        "--vocoder", default="universal", help="vocoder name or checkpoint (default universal)"
    )
    parser.add_argument("--onnx", default=None, help="an existing export of --model (default: export it now)")
    parser.add_argument("--text", default=TEXT, help="the sentence synthesised")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per backend and part (default 5)")
    parser.add_argument("--steps", type=int, default=None, help="diffusion steps end to end (default: the "
                        "model's default, and its decoder's configured steps when that default is 0)")  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true", help="short text, 1 thread, 1 repeat (checks it runs)"
    )


def _threads(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--threads takes comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"--threads values must be positive, got {text!r}")
    return values


def _max_diff(a, b) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    return float(np.abs(a - b).max()) if a.shape == b.shape else float("nan")


def _parts(
    pt, ox, text: str, step_counts: list[int]
) -> tuple[dict[str, dict[str, Callable]], dict[str, float], float]:
    """``{part: {"PyTorch": fn, "ORT": fn}}``, each part's max |diff| and the audio seconds of ``text`` (end to
    end once per diffusion step count)."""
    from emovox.vocoder.inference import vocode

    ids = pt._tokens(text)
    tokens, lengths, speaker = torch.tensor([ids]), torch.tensor([len(ids)]), torch.zeros(1, dtype=torch.long)
    z = pt.emotion_vector("neutral", 0)[None] if pt.bank is not None else torch.zeros(1, ox.model.z_dim)
    ref = pt.model.infer(tokens, lengths, speaker, z)
    out = ox.model.infer(tokens, lengths, speaker, z)
    diffs = {"acoustic model": _max_diff(out.mel, ref.mel)}
    parts: dict[str, dict[str, Callable]] = {
        "acoustic model": {
            "PyTorch": lambda: pt.model.infer(tokens, lengths, speaker, z),
            "ORT": lambda: ox.model.infer(tokens, lengths, speaker, z),
        }
    }
    mel = ref.mel
    if pt.denoiser is not None and ox.denoiser is not None:
        frames = mel.shape[2]
        gen = torch.Generator().manual_seed(0)
        args = (
            torch.randn(1, mel.shape[1], frames, generator=gen), torch.tensor([250]),
            ref.decoder_hidden.transpose(1, 2), mel, z, pt.model.speaker_embedding(speaker),
            torch.ones(1, 1, frames),
        )  # fmt: skip

        def torch_step():
            with torch.inference_mode():
                return pt.denoiser(*args)

        diffs["denoiser step"] = _max_diff(ox.denoiser(*args), torch_step())
        parts["denoiser step"] = {"PyTorch": torch_step, "ORT": lambda: ox.denoiser(*args)}
    diffs["vocoder"] = _max_diff(ox.vocoder(mel), vocode(pt.vocoder.generator, mel))
    parts["vocoder"] = {"PyTorch": lambda: pt.vocoder(mel), "ORT": lambda: ox.vocoder(mel)}
    for n in step_counts:
        label = f"end to end, {n} diffusion steps"
        a, _ = pt.synthesize(text, steps=n, seed=0)
        seconds = a.size / pt.sample_rate
        b, _ = ox.synthesize(text, steps=n, seed=0)
        diffs[label] = _max_diff(a, b)
        parts[label] = {
            "PyTorch": lambda n=n: pt.synthesize(text, steps=n, seed=0),
            "ORT": lambda n=n: ox.synthesize(text, steps=n, seed=0),
        }
    return parts, diffs, seconds


def _check_same_model(directory: str, model: str) -> None:
    """Refuse an export of another acoustic model than ``model`` (the checksum recorded at export)."""
    from emovox.export.onnx import file_sha256
    from emovox.export.runtime import OnnxExport
    from emovox.paths import default_voice_path
    from emovox.tts.bank import resolve_acoustic_path

    path = default_voice_path() if model == "default" else resolve_acoustic_path(model)
    source = OnnxExport.read_document(Path(directory)).get("source", {})
    if path.is_file() and source.get("model_sha256") != file_sha256(path):
        raise ValueError(f"{directory} is an export of {source.get('model')}, not of {model}")


def run(args) -> int:
    from emovox.export.onnx import export_onnx
    from emovox.export.runtime import load_onnx, require_onnxruntime
    from emovox.pipelines import EmotionalTTS

    try:
        ort = require_onnxruntime()
    except ImportError as exc:  # a message for the command line, not a traceback
        raise ValueError(str(exc)) from None
    threads = [1] if args.quick else _threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    if repeats < 1:
        raise ValueError(f"--repeats must be positive, got {repeats}")
    if args.steps is not None and not 0 <= args.steps <= 100:
        raise ValueError(f"--steps must be between 0 and 100, got {args.steps}")
    text = QUICK_TEXT if args.quick and args.text == TEXT else args.text
    if args.onnx is not None:
        _check_same_model(args.onnx, args.model)
    pt = EmotionalTTS.load(args.model, vocoder=args.vocoder, precision="fp32")  # ORT computes in float32
    steps = [pt.default_steps if args.steps is None else args.steps]
    if pt.denoiser is not None and steps == [0] and args.steps is None:
        steps.append(pt.diffusion.n_steps)  # the decoder is off by default: time it at its configured steps
    with tempfile.TemporaryDirectory(prefix="emovox-bench-onnx-") as tmp:
        directory = args.onnx
        if directory is None:
            t0 = time.perf_counter()
            directory = str(Path(tmp) / "export")
            export_onnx(args.model, directory, vocoder=args.vocoder, verify=False)
            print(
                f"exported {args.model} + vocoder {args.vocoder} to ONNX in {time.perf_counter() - t0:.0f} s"
            )
        print(f"emovox bench onnx: torch {torch.__version__}, onnxruntime {ort.__version__}, fp32, CPU; model "
              f"{args.model}, vocoder {args.vocoder}{' (QUICK: numbers meaningless)' if args.quick else ''}")  # fmt: skip
        print("(shared machine: numbers are noisy; compare the ratios within one run)\n")
        header = (f"{'part':<32} {'threads':>7} {'PyTorch s':>10} {'ORT s':>9} {'ORT/PT':>7} {'PT RTF':>7} "
                  f"{'ORT RTF':>7} {'max |diff|':>10}")  # fmt: skip
        printed = False
        for n in threads:
            ox = EmotionalTTS(*load_onnx(directory, threads=n))
            with num_threads(n):
                parts, diffs, seconds = _parts(pt, ox, text, steps)
                if not printed:
                    print(f"text: {len(text)} characters, {len(pt._tokens(text))} phonemes, {seconds:.2f} s of "
                          f"audio; median of {repeats}")  # fmt: skip
                    print(header + "\n" + "-" * len(header))
                    printed = True
                for part, impls in parts.items():
                    times = measure(impls, repeats)
                    t_pt, t_ox = statistics.median(times["PyTorch"]), statistics.median(times["ORT"])
                    print(f"{part:<32} {n:>7} {t_pt:>10.4f} {t_ox:>9.4f} {t_ox / t_pt:>7.2f} "
                          f"{t_pt / seconds:>7.4f} {t_ox / seconds:>7.4f} {diffs[part]:>10.2e}", flush=True)  # fmt: skip
    return 0

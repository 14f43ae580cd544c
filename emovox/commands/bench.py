"""Speed benchmarks. Each prints a table with ratios against the peers measured in the same run.

Machines are shared and noisy: every benchmark alternates implementations, repeats, and reports medians.
"""

from __future__ import annotations

from emovox.commands._sub import add_target_arguments, run_target

TARGETS: dict[str, tuple[str, str]] = {
    "report": (
        "emovox.bench.report",
        "the one report: end to end vs coqui FastSpeech2 + HiFi-GAN V1, first audio, cold start, targets",
    ),
    "prep": ("emovox.bench.prep", "emovox features throughput (files/s, x real time) with 1 and 2 workers"),
    "text": (
        "emovox.bench.text",
        "text front end sentences/s: normalise + phonemise + tokenise, cold and warm",
    ),
    "vocoder": ("emovox.bench.vocoder", "HiFi-GAN V1/V2/V3 real-time factor (vs coqui-tts if installed)"),
    "synth": (
        "emovox.bench.synth",
        "acoustic model and text-to-speech RTF (vs coqui FastSpeech2), diffusion steps",
    ),
    "latency": (
        "emovox.bench.latency",
        "time to first audio streaming 200 words (windowed vs per sentence), synth cold start, peak RSS",
    ),
    "diffusion": ("emovox.bench.diffusion", "diffusion decoder time per second of mel at 1…16 sampler steps"),
    "onnx": (
        "emovox.bench.onnx",
        "ONNX Runtime vs PyTorch: acoustic model, denoiser step, vocoder, end to end RTF",
    ),
    "throughput": (
        "emovox.bench.throughput",
        "batched full-pipeline throughput (x real time) at batch 1 and 64, fp32 and bf16, on CPU or GPU",
    ),
    "features": (
        "emovox.bench.features",
        "F0 trackers, MAS: speed (x real time) and accuracy vs librosa, WORLD, Praat, CREPE",
    ),
}


def add_arguments(parser):
    add_target_arguments(parser, TARGETS)


def run(args):
    return run_target(args, TARGETS, "bench")

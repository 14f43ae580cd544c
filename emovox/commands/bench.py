"""Speed benchmarks. Each prints a table with ratios against the peers measured in the same run.

Machines are shared and noisy: every benchmark alternates implementations, repeats, and reports medians.
"""

from __future__ import annotations

from emovox.commands._sub import add_target_arguments, run_target

TARGETS: dict[str, tuple[str, str]] = {
    "vocoder": ("emovox.bench.vocoder", "HiFi-GAN V1/V2/V3 real-time factor (vs coqui-tts if installed)"),
    "diffusion": ("emovox.bench.diffusion", "diffusion decoder time per second of mel at 1…16 sampler steps"),
}


def add_arguments(parser):
    add_target_arguments(parser, TARGETS)


def run(args):
    return run_target(args, TARGETS, "bench")

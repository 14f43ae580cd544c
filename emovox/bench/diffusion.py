"""Time of the diffusion decoder (denoiser + diffusers sampler) per second of mel, by step count, on CPU.

Runs :func:`emovox.tts.diffusion.sample` (shallow diffusion from a coarse mel, a fresh scheduler per call as
in a real request) at each step count, alternating the step counts inside every repeat (order rotated), and
reports medians: seconds per second of mel (the decoder's share of the real-time factor) and the ratio to
the first (1-step) time of the same run. ``--components`` > 1 mixes that many emotions (EmoMix noise mixing) and
``--guidance`` != 1 adds the neutral pass: both widen the one batched forward per step. Weights are random:
speed does not depend on them (quality per step count comes from the toy training test). The machine may be
shared and noisy: compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import statistics
import time

import torch

from emovox.tts.diffusion import DiffusionConfig, make_scheduler, sample
from emovox.tts.models.denoiser import Denoiser, DenoiserConfig

FRAMES_PER_SECOND = 22050 / 256


def add_arguments(parser) -> None:
    defaults = DenoiserConfig()
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="mel length in seconds of audio (default 5)"
    )
    parser.add_argument(
        "--steps", default="1,2,4,8,16", help="comma-separated step counts (default 1,2,4,8,16)"
    )
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per step count (default 5)")
    parser.add_argument(
        "--sampler", default="dpm", choices=["dpm", "ddim", "unipc", "ddpm"], help="(default dpm)"
    )
    parser.add_argument("--k-shallow", type=int, default=DiffusionConfig().k_shallow, help="shallow depth K")
    parser.add_argument("--components", type=int, default=1, help="emotions mixed per step (default 1)")
    parser.add_argument("--guidance", type=float, default=1.0, help="guidance scale (1 = no neutral pass)")
    parser.add_argument("--residual-channels", type=int, default=defaults.residual_channels)
    parser.add_argument("--n-layers", type=int, default=defaults.n_layers)


def _validate(args) -> tuple[list[int], list[int]]:
    try:
        steps = [int(s) for s in args.steps.split(",")]
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError as exc:
        raise ValueError(f"--steps and --threads take comma-separated integers: {exc}") from None
    if min(steps) < 1 or min(threads) < 1 or args.repeats < 1 or args.components < 1 or args.seconds <= 0:
        raise ValueError("--steps, --threads, --repeats, --components and --seconds must be positive")
    return steps, threads


def measure(run, step_counts: list[int], threads: int, repeats: int) -> dict[int, list[float]]:
    """Seconds per call for every step count, alternating (rotated order) within each repeat."""
    torch.set_num_threads(threads)
    run(step_counts[0])  # warm-up: oneDNN primitives, allocator, diffusers lazy imports
    times: dict[int, list[float]] = {n: [] for n in step_counts}
    for r in range(repeats):
        order = step_counts[r % len(step_counts) :] + step_counts[: r % len(step_counts)]
        for n in order:
            t0 = time.perf_counter()
            run(n)
            times[n].append(time.perf_counter() - t0)
    return times


def run(args) -> int:
    step_counts, thread_counts = _validate(args)
    torch.manual_seed(0)
    cfg = DenoiserConfig(residual_channels=args.residual_channels, n_layers=args.n_layers)
    net = Denoiser(cfg).eval()
    train_cfg = DiffusionConfig(prediction=cfg.prediction, k_shallow=args.k_shallow)
    frames = max(1, round(args.seconds * FRAMES_PER_SECOND))
    seconds = frames / FRAMES_PER_SECOND
    coarse = torch.randn(1, cfg.n_mels, frames) * 2.0 - 5.0
    cond = torch.randn(1, cfg.cond_channels, frames)
    g = torch.randn(1, cfg.speaker_dim)
    mask = torch.ones(1, 1, frames)
    components = [(torch.randn(1, cfg.emotion_dim), 1.0) for _ in range(args.components)]

    def one(n_steps: int) -> torch.Tensor:
        return sample(
            net, make_scheduler(args.sampler, train_cfg), coarse, cond, g, mask, components,
            n_steps=n_steps, k_shallow=args.k_shallow, guidance_scale=args.guidance,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip

    n_params = sum(p.numel() for p in net.parameters()) / 1e6
    print(
        f"diffusion decoder ({n_params:.2f} M params, {cfg.residual_channels} ch x {cfg.n_layers} layers), "
        f"{args.sampler}, K={args.k_shallow}, {args.components} emotion(s), guidance {args.guidance}, "
        f"on {seconds:.2f} s of mel; median of {args.repeats}, torch {torch.__version__}"
    )
    print("(shared machine: numbers are noisy; the ratios within one run are what to compare)\n")
    header = f"{'steps':>5} {'threads':>7} {'median s':>9} {'s per s mel':>11} {'min':>8} {f'x {step_counts[0]} step':>9}"
    print(header)
    print("-" * len(header))
    for n_threads in thread_counts:
        times = measure(one, step_counts, n_threads, args.repeats)
        base = statistics.median(times[step_counts[0]])
        for n in step_counts:
            med = statistics.median(times[n])
            print(
                f"{n:>5} {n_threads:>7} {med:>9.4f} {med / seconds:>11.4f} {min(times[n]) / seconds:>8.4f} "
                f"{med / base:>9.2f}"
            )
    return 0

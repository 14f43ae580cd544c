"""Real-time factor (RTF = compute seconds / audio seconds) of HiFi-GAN generators on CPU.

Measures our V1/V2/V3 generators (weight norm folded, ``Generator.infer``) in fp32, V1 in bf16, V1 with plain
``[B, C, T]`` convolutions instead of channels-last 2-D ones ("NCW", to show what that layout buys) and, when
coqui-tts is installed, coqui's ``HifiganGenerator`` with the V1 configuration (weight norm removed, its
``forward`` under ``torch.inference_mode``), all in the same process on the same mel. Implementations
alternate inside every repeat (order rotated) and the table reports medians, with each time divided by coqui
V1's at the same thread count. Weights are random: speed does not depend on them. The machine may be shared
and noisy: compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch

from emovox.vocoder.models.hifigan import Generator, preset

SAMPLE_RATE = 22050


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length to generate (default 10)")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per implementation (default 5)")
    parser.add_argument(
        "--impls",
        default="all",
        help="comma-separated subset of: v1,v2,v3,v1-bf16,v1-ncw,coqui-v1 (default all)",
    )


def load_coqui_generator_class() -> type | None:
    """coqui-tts's ``HifiganGenerator`` class, or None when coqui-tts is not installed.

    Imported by file path: the ``TTS`` package ``__init__`` chain needs torchaudio, the generator module only
    torch and ``trainer.io.load_fsspec`` (used only by its checkpoint loader, which we never call). When
    coqui's trainer package is absent, a stub ``trainer.io`` is provided for the duration of the import.
    """
    spec = importlib.util.find_spec("TTS")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "vocoder" / "models" / "hifigan_generator.py"
    if not path.is_file():
        return None
    saved = {k: sys.modules.get(k) for k in ("trainer", "trainer.io")}
    try:
        import trainer.io  # noqa: F401
    except ImportError:
        stub = types.ModuleType("trainer.io")

        def load_fsspec(*_args, **_kwargs):
            raise RuntimeError("coqui checkpoint loading is not available in this benchmark")

        stub.load_fsspec = load_fsspec
        sys.modules["trainer"] = types.ModuleType("trainer")
        sys.modules["trainer.io"] = stub
    try:
        module_spec = importlib.util.spec_from_file_location("_emovox_bench_coqui_hifigan", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module.HifiganGenerator
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _ours(
    name: str, dtype: torch.dtype, channels_last: bool = True
) -> Callable[[torch.Tensor], torch.Tensor]:
    model = Generator(preset(name)).remove_weight_norm().eval().to(dtype)

    def run(mel: torch.Tensor) -> torch.Tensor:
        return model.infer(mel.to(dtype), channels_last=channels_last)

    return run


def _coqui(cls: type) -> Callable[[torch.Tensor], torch.Tensor]:
    cfg = preset("v1")
    model = cls(
        in_channels=cfg.n_mels,
        out_channels=1,
        resblock_type=cfg.resblock,
        resblock_dilation_sizes=cfg.resblock_dilation_sizes,
        resblock_kernel_sizes=cfg.resblock_kernel_sizes,
        upsample_kernel_sizes=cfg.upsample_kernel_sizes,
        upsample_initial_channel=cfg.upsample_initial_channel,
        upsample_factors=cfg.upsample_rates,
    ).eval()
    model.remove_weight_norm()

    def run(mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(mel)

    return run


def build_impls(selected: set[str]) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    impls: dict[str, Callable] = {}
    for name in ("v1", "v2", "v3"):
        if name in selected:
            impls[f"emovox {name.upper()} fp32"] = _ours(name, torch.float32)
    if "v1-ncw" in selected:
        impls["emovox V1 fp32 NCW"] = _ours("v1", torch.float32, channels_last=False)
    if "v1-bf16" in selected:
        impls["emovox V1 bf16"] = _ours("v1", torch.bfloat16)
    if "coqui-v1" in selected:
        cls = load_coqui_generator_class()
        if cls is None:
            print("coqui-tts not installed: no peer measured (pip install --no-deps coqui-tts to compare)")
        else:
            impls["coqui V1 fp32"] = _coqui(cls)
    return impls


def measure(
    impls: dict[str, Callable], mel: torch.Tensor, threads: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of every implementation, alternating (rotated order) within each repeat."""
    torch.set_num_threads(threads)
    names = list(impls)
    for name in names:  # warm-up: oneDNN primitive creation, allocator
        impls[name](mel)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            impls[name](mel)
            times[name].append(time.perf_counter() - t0)
    return times


def run(args) -> int:
    torch.manual_seed(0)
    frames = round(args.seconds * SAMPLE_RATE / 256)
    audio_seconds = frames * 256 / SAMPLE_RATE
    mel = torch.randn(1, 80, frames) * 2.0 - 6.0  # roughly the range of real log-mels
    selected = (
        {"v1", "v2", "v3", "v1-bf16", "v1-ncw", "coqui-v1"}
        if args.impls == "all"
        else set(args.impls.split(","))
    )
    impls = build_impls(selected)
    threads = [int(t) for t in args.threads.split(",")]
    print(
        f"HiFi-GAN RTF on {audio_seconds:.2f} s of audio, median of {args.repeats}, torch {torch.__version__}"
    )
    print("(shared machine: numbers are noisy; the ratios within one run are what to compare)\n")
    header = (
        f"{'implementation':<18} {'threads':>7} {'median s':>9} {'RTF':>7} {'min RTF':>8} {'x coqui V1':>10}"
    )
    print(header)
    print("-" * len(header))
    for n in threads:
        times = measure(impls, mel, n, args.repeats)
        peer = statistics.median(times["coqui V1 fp32"]) if "coqui V1 fp32" in times else None
        for name, ts in times.items():
            med = statistics.median(ts)
            ratio = f"{med / peer:10.2f}" if peer else f"{'-':>10}"
            print(
                f"{name:<18} {n:>7} {med:>9.3f} {med / audio_seconds:>7.3f} {min(ts) / audio_seconds:>8.3f} {ratio}",
                flush=True,
            )
    return 0

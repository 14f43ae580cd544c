"""One speed report of the default voice as users run it, against coqui-tts measured in the same run.

1. **End to end**, one sentence, at each thread count: ``EmotionalTTS.synthesize`` (text front end, FastSpeech2,
   the vocoder at its default precision, the soft limiter), then the same with the diffusion decoder at 4 steps;
   beside it coqui-tts's FastSpeech2 (``ForwardTTS.inference``) followed by coqui's HiFi-GAN V1
   (``HifiganGenerator``), random weights, on our token ids of the same sentence with its durations biased to
   give as many frames as ours. Each real-time factor uses its own audio length; the ratio is ours / coqui's.
   coqui gets no text front end (it would need espeak), so the ratio is conservative for emovox.
2. **Time to first audio** streaming a 200-word paragraph (:mod:`emovox.bench.latency`).
3. **Cold start** of ``emovox synth`` for one sentence in a fresh process, and its peak RSS.

Then each target of the speed work, met or missed: end to end <= 0.5x coqui, first audio <= 0.3 s, cold start
<= 3 s. Implementations alternate inside every repeat (order rotated) and medians are reported; the machine may
be shared and noisy, so compare the ratios of one run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from emovox.bench import latency
from emovox.bench.onnx import _threads
from emovox.bench.synth import (
    TEXT,
    bias_durations,
    load_coqui_forward_tts,
    num_threads,
)
from emovox.bench.vocoder import _coqui, load_coqui_generator_class

TARGET_RATIO = 0.5
TARGET_FIRST_AUDIO_S = 0.3
TARGET_COLD_S = 3.0


def add_arguments(parser) -> None:
    parser.add_argument("--text", default=TEXT, help="the sentence synthesised end to end")
    parser.add_argument("--emotion", default="angry", help="emotion spec (default angry)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per implementation (default 5)")
    parser.add_argument("--steps", type=int, default=4, help="diffusion steps of the second row (default 4)")
    parser.add_argument("--no-coqui", action="store_true", help="skip coqui-tts even when it is installed")
    parser.add_argument("--no-latency", action="store_true", help="skip time to first audio")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold start")


def coqui_pipeline(n_symbols: int, ids: list[int], frames: int) -> Callable[[], int] | None:
    """coqui FastSpeech2 + HiFi-GAN V1 on ``ids``, durations set to give about ``frames`` mel frames; a callable
    returning the audio samples produced. None when coqui-tts is not installed."""
    classes, generator_cls = load_coqui_forward_tts(), load_coqui_generator_class()
    if classes is None or generator_cls is None:
        return None
    forward_tts, forward_args = classes
    torch.manual_seed(0)
    acoustic = forward_tts(forward_args(num_chars=n_symbols, use_pitch=True, use_energy=True)).eval()
    bias_durations(acoustic.duration_predictor.proj, frames / len(ids))
    vocoder = _coqui(generator_cls)
    tokens = torch.tensor([ids])

    def run() -> int:
        with torch.inference_mode():
            mel = acoustic.inference(tokens)["model_outputs"]  # [1, T, n_mels]
            return int(vocoder(mel.transpose(1, 2)).shape[-1])

    return run


def _alternate(impls: dict[str, Callable[[], int]], repeats: int) -> tuple[dict[str, float], dict[str, int]]:
    """Median seconds per call and samples produced, implementations alternating (order rotated)."""
    names = list(impls)
    samples = {name: impls[name]() for name in names}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            impls[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}, samples


def _verdict(value: float, target: float) -> str:
    return "met" if value <= target else "missed"


def run(args) -> int:
    from emovox.pipelines import EmotionalTTS

    threads = _threads(args.threads)
    if args.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    tts = EmotionalTTS.load()
    tts.check_emotion(args.emotion)
    sr = tts.sample_rate
    ids = tts._tokens(args.text)
    if not ids:
        raise ValueError("--text has nothing to speak")

    def ours(steps: int) -> Callable[[], int]:
        return lambda: tts.synthesize(args.text, args.emotion, steps=steps, seed=0)[0].shape[0]

    impls: dict[str, Callable[[], int]] = {"emovox FastSpeech2 + vocoder": ours(0)}
    if tts.denoiser is not None:
        impls[f"emovox + diffusion {args.steps} steps"] = ours(args.steps)
    frames = impls["emovox FastSpeech2 + vocoder"]() // tts.mel_config.hop_length
    peer = None if args.no_coqui else coqui_pipeline(tts.model.cfg.n_symbols, ids, frames)
    if peer is not None:
        impls["coqui FastSpeech2 + HiFi-GAN V1"] = peer
    precision = getattr(tts.vocoder, "precision", "fp32")
    print(f"emovox bench report: torch {torch.__version__}, the default voice, vocoder precision {precision}")
    if peer is None:
        why = (
            "skipped (--no-coqui)"
            if args.no_coqui
            else "coqui-tts not installed (pip install --no-deps coqui-tts)"
        )
        print(f"peer: {why}")
    else:
        print(
            "peer: coqui-tts FastSpeech2 + HiFi-GAN V1, random weights, the same tokens and about the same frames"
        )
    print("(shared machine: numbers are noisy; compare the ratios within one run)\n")

    print(f"1. End to end: {len(args.text)} characters, {len(ids)} tokens, -e {args.emotion}; "
          f"median of {args.repeats}")  # fmt: skip
    header = (
        f"   {'implementation':<34} {'threads':>7} {'median s':>9} {'audio s':>8} {'RTF':>7} {'x coqui':>8}"
    )
    print(header + "\n   " + "-" * (len(header) - 3))
    ratios: dict[int, float] = {}
    for n in threads:
        with num_threads(n):
            medians, samples = _alternate(impls, args.repeats)
        rtf = {name: medians[name] / (samples[name] / sr) for name in impls}
        base = rtf.get("coqui FastSpeech2 + HiFi-GAN V1")
        for name in impls:
            ratio = f"{rtf[name] / base:>8.2f}" if base else f"{'-':>8}"
            print(
                f"   {name:<34} {n:>7} {medians[name]:>9.3f} {samples[name] / sr:>8.2f} {rtf[name]:>7.3f} {ratio}"
            )
        if base:
            ratios[n] = rtf["emovox FastSpeech2 + vocoder"] / base
    print()

    first: dict[int, float] = {}
    if not args.no_latency:
        print(f"2. Time to first audio, streaming a {len(latency.PARAGRAPH.split())}-word paragraph "
              f"(windowed vocoding, the default), median of {args.repeats}")  # fmt: skip
        for n in threads:
            with num_threads(n):
                latency._first_audio(tts, True, args.emotion)  # warm-up
                first[n] = statistics.median(
                    latency._first_audio(tts, True, args.emotion)[0] for _ in range(args.repeats)
                )
            print(f"   {n} thread(s): {first[n]:.3f} s")
        print()
    cold: dict[int, tuple[float, float]] = {}
    if not args.no_cold:
        print(f"3. Cold start: `emovox synth '{latency.COLD_TEXT}' -e angry -o out.wav` in a fresh process")
        for n in threads:
            cold[n] = latency._cold_start("default", n)
            print(f"   {n} thread(s): {cold[n][0]:.2f} s wall, {latency._rss(cold[n][1])}")
        print()

    print("Targets")
    for n, r in ratios.items():
        print(f"   end to end <= {TARGET_RATIO}x coqui, {n} thread(s): {r:.2f}x, {_verdict(r, TARGET_RATIO)}")
    for n, t in first.items():
        print(f"   first audio <= {TARGET_FIRST_AUDIO_S} s, {n} thread(s): {t:.3f} s, "
              f"{_verdict(t, TARGET_FIRST_AUDIO_S)}")  # fmt: skip
    for n, (wall, _) in cold.items():
        print(
            f"   cold start <= {TARGET_COLD_S} s, {n} thread(s): {wall:.2f} s, {_verdict(wall, TARGET_COLD_S)}"
        )
    return 0

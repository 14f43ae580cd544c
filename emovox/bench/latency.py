"""Latency of the default voice as a user meets it: time to first audio when streaming a 200-word paragraph
(windowed vocoding, the default of ``EmotionalTTS.stream``, beside sentence-by-sentence streaming, the peer measured
in the same run), and the cold start of ``emovox synth`` for one sentence (a fresh process: imports, model load,
synthesis, WAV written) with its peak memory.

Both streaming modes alternate inside every repeat (order rotated); medians are reported. The machine may be
shared and noisy: compare the ratios of one run, not absolute numbers across runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emovox.bench.synth import num_threads

PARAGRAPH = (
    "The old lighthouse keeper had watched the sea for forty years, and in all that time he had never seen a "
    "storm like the one that came in from the west that autumn. It began quietly, with a grey light over the "
    "water and a wind that smelled of rain. By evening the waves were breaking over the rocks below the tower, "
    "throwing white spray as high as the lamp room windows. He climbed the spiral stairs again and again, "
    "checking the great lens, wiping the glass, listening to the building shake around him. Somewhere out in "
    "the dark, he knew, there were ships trying to find their way home. His daughter had begged him to leave "
    "the station years ago, to come and live with her family in the town, where the nights were warm and "
    "nobody had to stay awake until dawn. But he could not imagine a life without the light. When the radio "
    "crackled just after midnight and a tired voice asked for his position, he answered at once, steady and "
    "clear, and he kept talking until the little boat rounded the point and slipped safely into the harbour. "
    "Only then did he sit down, pour himself a cup of tea, and watch the first pale colours of morning spread "
    "across the water."
)
COLD_TEXT = "Where were you last night?"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model", default="default", help="acoustic checkpoint (default: the built-in voice)"
    )
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per mode (default 3)")
    parser.add_argument("--emotion", default="happy:0.8", help="emotion spec (default happy:0.8)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")


def _first_audio(tts, windowed: bool, emotion: str) -> tuple[float, float]:
    """(seconds to the first chunk, seconds of audio in it)."""
    t0 = time.perf_counter()
    gen = tts.stream_segments(PARAGRAPH, emotion, windowed=windowed)
    first = next(gen)
    elapsed = time.perf_counter() - t0
    gen.close()
    return elapsed, first.end - first.start


# The child reports its own peak resident memory (VmHWM of its own address space) as it exits. The rusage of
# children would not do: a forked child's RSS starts with the parent's pages, and Linux keeps that high-water
# mark across exec, so it reports the size of this benchmark process, not of `emovox synth`.
_PEAK_RUNNER = """
import atexit, sys
def _peak():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    sys.stderr.write("\\nEMOVOX_PEAK_KB " + line.split()[1] + "\\n")
    except OSError:
        pass
atexit.register(_peak)
from emovox.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cold_start(model: str, threads: int) -> tuple[float, float | None]:
    """Wall seconds and peak RSS (MB; None where /proc is unavailable) of ``emovox synth`` in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cold.wav"
        cmd = [sys.executable, "-c", _PEAK_RUNNER, "synth", COLD_TEXT, "-e", "angry", "-o", str(out),
               "--threads", str(threads)] + (["--model", model] if model != "default" else [])  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)}
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"emovox synth failed: {proc.stderr.strip()[-400:]}")
    peaks = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("EMOVOX_PEAK_KB ")]
    return wall, (int(peaks[-1]) / 1024.0 if peaks else None)


def _rss(mb: float | None) -> str:
    return f"peak RSS {mb:.0f} MB" if mb is not None else "peak RSS not measured (no /proc)"


def run(args) -> int:
    from emovox.bench.onnx import _threads
    from emovox.pipelines import EmotionalTTS

    threads = _threads(args.threads)
    if args.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    tts = EmotionalTTS.load(None if args.model == "default" else args.model)
    words = len(PARAGRAPH.split())
    print(
        f"time to first audio, streaming a {words}-word paragraph ({args.emotion}), median of {args.repeats}"
    )
    print(
        f"{'threads':>7}  {'windowed (default)':>19}  {'sentence by sentence':>21}  {'ratio':>6}  first chunk"
    )
    for n in threads:
        with num_threads(n):
            _first_audio(tts, True, args.emotion)  # warm-up
            times: dict[bool, list[float]] = {True: [], False: []}
            chunk: dict[bool, float] = {}
            for r in range(args.repeats):
                for windowed in (True, False) if r % 2 == 0 else (False, True):
                    t, seconds = _first_audio(tts, windowed, args.emotion)
                    times[windowed].append(t)
                    chunk[windowed] = seconds
        w, s = statistics.median(times[True]), statistics.median(times[False])
        print(f"{n:>7}  {w:>17.3f} s  {s:>19.3f} s  {w / s:>6.2f}  "
              f"{chunk[True]:.2f} s vs {chunk[False]:.2f} s of audio")  # fmt: skip
    if not args.no_cold:
        print()
        print(f"cold start: `emovox synth '{COLD_TEXT}' -e angry -o out.wav` in a fresh process")
        for n in threads:
            wall, rss = _cold_start(args.model, n)
            print(f"  {n} thread(s): {wall:.2f} s wall, {_rss(rss)}")
    return 0

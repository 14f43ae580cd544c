"""Feature-extraction benchmark: emovox's Numba F0 tracker and MAS against the peers installed, in one run.

Speed of every F0 tracker on a 30 s speech file (the ljspeech_mini clips concatenated, else a generated
harmonic-complex signal) at 1 thread and at all cores, as x real time (audio seconds per wall second); their
accuracy (gross pitch error, voicing decision error) on the synthetic known-F0 set; and monotonic alignment
search against the ``monotonic-alignment-search`` package. Implementations alternate within each repeat and
medians are reported. Numba's first call (compile, or load from its cache) is timed apart and kept out of the
steady-state numbers. Shared, noisy machines: compare ratios from the same run only.
"""

from __future__ import annotations

import importlib
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emovox.audio.pitch import PitchConfig, estimate_f0, pitch_n_frames
from emovox.audio.testsignals import known_f0_set

SR = 22050


def add_arguments(parser) -> None:
    parser.add_argument("--audio", type=Path, help="speech file to time on (default: ljspeech_mini clips)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the timed signal")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per implementation (median)")
    parser.add_argument("--skip", nargs="*", default=[], help="implementations to leave out, e.g. crepe pyin")


# ------------------------------------------------------------------------------------------- peers
def import_torchcrepe():
    """torchcrepe, or None. Its ``load`` module imports torchaudio only to read files, which emovox never asks
    it to do; when torchaudio is absent an empty stand-in module satisfies that import and is removed again."""
    try:
        return importlib.import_module("torchcrepe")
    except ModuleNotFoundError as err:
        if err.name != "torchaudio":
            return None
    sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    try:
        return importlib.import_module("torchcrepe")
    except ImportError:
        return None
    finally:
        del sys.modules["torchaudio"]


def _on_grid(times: np.ndarray, f0: np.ndarray, n_samples: int, cfg: PitchConfig) -> np.ndarray:
    """Nearest-in-time resampling of a peer's F0 track onto the mel frame centres (0 = unvoiced)."""
    n = pitch_n_frames(n_samples, cfg)
    centres = (np.arange(n) * cfg.hop_length + cfg.hop_length // 2) / cfg.sample_rate
    if len(times) == 0:
        return np.zeros(n, np.float32)
    idx = np.clip(np.searchsorted(times, centres), 1, max(1, len(times) - 1))
    left = np.clip(idx - 1, 0, len(times) - 1)
    idx = np.clip(idx, 0, len(times) - 1)
    nearest = np.where(np.abs(times[left] - centres) <= np.abs(times[idx] - centres), left, idx)
    out = np.nan_to_num(np.asarray(f0, dtype=np.float64)[nearest], nan=0.0)
    return np.where(out > 0, out, 0.0).astype(np.float32)


def praat_f0(x: np.ndarray, cfg: PitchConfig) -> np.ndarray:
    """Praat's autocorrelation pitch (parselmouth ``to_pitch``) on the mel frame grid."""
    import parselmouth

    pitch = parselmouth.Sound(x.astype(np.float64), cfg.sample_rate).to_pitch(
        time_step=cfg.hop_length / cfg.sample_rate, pitch_floor=cfg.fmin, pitch_ceiling=cfg.fmax
    )
    return _on_grid(pitch.xs(), pitch.selected_array["frequency"], len(x), cfg)


def crepe_f0(x: np.ndarray, cfg: PitchConfig, periodicity_threshold: float = 0.21) -> np.ndarray:
    """torchcrepe "tiny" (its shipped weights) on the mel frame grid; unvoiced where periodicity is low."""
    import torch

    crepe = import_torchcrepe()
    f0, periodicity = crepe.predict(
        torch.from_numpy(x)[None], cfg.sample_rate, cfg.hop_length, cfg.fmin, cfg.fmax, model="tiny",
        return_periodicity=True, batch_size=1024, device="cpu",
    )  # fmt: skip
    f0 = torch.where(periodicity >= periodicity_threshold, f0, torch.zeros_like(f0))[0].numpy()
    return _on_grid(np.arange(len(f0)) * cfg.hop_length / cfg.sample_rate, f0, len(x), cfg)


def _librosa(kind: str) -> Callable[[np.ndarray, PitchConfig], np.ndarray]:
    def run(x, cfg):
        import librosa

        kw = dict(fmin=cfg.fmin, fmax=cfg.fmax, sr=cfg.sample_rate, frame_length=1024, hop_length=cfg.hop_length)
        f0 = librosa.yin(x, **kw) if kind == "yin" else np.nan_to_num(librosa.pyin(x, **kw)[0])
        return _on_grid(np.arange(len(f0)) * cfg.hop_length / cfg.sample_rate, f0, len(x), cfg)

    return run


def _world(kind: str) -> Callable[[np.ndarray, PitchConfig], np.ndarray]:
    def run(x, cfg):
        import pyworld

        xd = x.astype(np.float64)
        period = 1000.0 * cfg.hop_length / cfg.sample_rate
        kw = dict(f0_floor=cfg.fmin, f0_ceil=cfg.fmax, frame_period=period)
        if kind == "harvest":
            f0, t = pyworld.harvest(xd, cfg.sample_rate, **kw)
        else:
            f0, t = pyworld.dio(xd, cfg.sample_rate, **kw)
            f0 = pyworld.stonemask(xd, f0, t, cfg.sample_rate)
        return _on_grid(t, f0, len(x), cfg)

    return run


def f0_trackers(skip: list[str]) -> dict[str, Callable[[np.ndarray, PitchConfig], np.ndarray]]:
    """Every F0 tracker available here, by name: ours first."""
    found: dict[str, Callable] = {"emovox": lambda x, cfg: estimate_f0(x, cfg, parallel=_THREADS[0] > 1).f0}
    if importlib.util.find_spec("librosa"):
        found["librosa.pyin"] = _librosa("pyin")
        found["librosa.yin"] = _librosa("yin")
    if importlib.util.find_spec("pyworld"):
        found["pyworld dio+stonemask"] = _world("dio")
        found["pyworld harvest"] = _world("harvest")
    if importlib.util.find_spec("parselmouth"):
        found["parselmouth to_pitch"] = praat_f0
    if import_torchcrepe() is not None:
        found["torchcrepe tiny"] = crepe_f0
    return {k: v for k, v in found.items() if not any(s in k for s in skip)}


# ------------------------------------------------------------------------------------------- timing
_THREADS = [1]  # threads the current measurement may use (read by our tracker's wrapper)


def _set_threads(n: int) -> None:
    import numba
    import torch

    _THREADS[0] = n
    numba.set_num_threads(n)
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _alternating(impls: dict[str, Callable[[], object]], repeats: int, slow_s: float = 1.0) -> dict[str, float]:
    """Median wall time of each implementation, the implementations taking turns within every repeat.

    A warm-up call precedes the timed ones; implementations slower than ``slow_s`` get at most 3 repeats.
    """
    warm = {name: _timed(fn) for name, fn in impls.items()}
    times: dict[str, list[float]] = {name: [] for name in impls}
    for rep in range(repeats):
        for name, fn in impls.items():
            if rep < 3 or warm[name] < slow_s:
                times[name].append(_timed(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def _speech(args, cfg: PitchConfig) -> tuple[np.ndarray, str]:
    """The timed signal: --audio, else the ljspeech_mini clips looped, else generated harmonic complexes."""
    from emovox.audio.io import load_audio

    n = int(args.seconds * cfg.sample_rate)
    if args.audio:
        x, _ = load_audio(args.audio, sr=cfg.sample_rate)
        source = str(args.audio)
    else:
        root = Path(os.environ.get("EMOVOX_SHARED_DATA", "../shared/data")) / "ljspeech_mini" / "wavs"
        files = sorted(root.glob("*.wav"))
        if files:
            x = np.concatenate([load_audio(f, sr=cfg.sample_rate)[0] for f in files])
            source = f"{len(files)} ljspeech_mini clips"
        else:
            x = np.concatenate([item.audio for item in known_f0_set()])
            source = "generated harmonic complexes (ljspeech_mini not found)"
    x = np.tile(x, int(np.ceil(n / len(x))))[:n].astype(np.float32)
    return x, f"{source}, {len(x) / cfg.sample_rate:.1f} s"


def _accuracy(trackers, cfg: PitchConfig) -> dict[str, tuple[float, float]]:
    """Pooled gross pitch error and voicing decision error of each tracker on the known-F0 set."""
    items = known_f0_set()
    out = {}
    for name, fn in trackers.items():
        g_err = g_n = v_err = v_n = 0
        for item in items:
            est = fn(item.audio, cfg)
            both = (est > 0) & (item.f0 > 0)
            g_err += int(np.sum(np.abs(est[both] / item.f0[both] - 1) > 0.2))
            g_n += int(both.sum())
            v_err += int(np.sum((est > 0) != (item.f0 > 0)))
            v_n += len(item.f0)
        out[name] = (g_err / max(g_n, 1), v_err / max(v_n, 1))
    return out


def _mas_impls(repeats: int) -> tuple[dict[str, float], str]:
    """Median time of our MAS and the peer's on one random batch; also checks that their paths agree."""
    import torch

    from emovox.audio.kernels import maximum_path

    gen = torch.Generator().manual_seed(0)
    b, tx, ty = 16, 120, 600
    log_p = torch.randn(b, tx, ty, generator=gen)
    t_x = torch.randint(tx // 2, tx + 1, (b,), generator=gen)
    t_y = torch.randint(ty // 2, ty + 1, (b,), generator=gen)
    mask = (torch.arange(tx)[None, :, None] < t_x[:, None, None]) & (torch.arange(ty)[None, None, :] < t_y[:, None, None])
    mask = mask.float()
    impls: dict[str, Callable] = {"emovox maximum_path": lambda: maximum_path(log_p, mask)}
    note = f"batch {b} x {tx} tokens x {ty} frames"
    try:
        from monotonic_alignment_search import maximum_path as peer

        impls["monotonic_alignment_search (cython)"] = lambda: peer(log_p, mask)
        same = torch.equal(maximum_path(log_p, mask), peer(log_p, mask))
        note += f"; paths identical to the peer's: {same}"
    except ImportError:
        note += "; monotonic-alignment-search not installed"
    return _alternating(impls, repeats), note


# ------------------------------------------------------------------------------------------- report
def _first_calls(x: np.ndarray, cfg: PitchConfig) -> list[str]:
    import torch

    from emovox.audio.kernels import average_by_duration, maximum_path

    short = x[: cfg.sample_rate]
    return [
        f"  F0 serial      {_timed(lambda: estimate_f0(short, cfg)):7.2f} s",
        f"  F0 parallel    {_timed(lambda: estimate_f0(short, cfg, parallel=True)):7.2f} s",
        f"  MAS            {_timed(lambda: maximum_path(torch.randn(1, 3, 9), torch.ones(1, 3, 9))):7.2f} s",
        f"  phone average  {_timed(lambda: average_by_duration(np.ones(9), np.array([4, 5]), skip_zeros=True)):7.2f} s",
    ]


def run(args) -> int:
    if args.repeats < 1 or args.seconds <= 0:
        raise ValueError("--repeats must be >= 1 and --seconds > 0")
    # GNU OpenMP threads otherwise spin at barriers, which on a loaded machine costs more than the work.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numba

    cfg = PitchConfig()
    x, source = _speech(args, cfg)
    first = _first_calls(x, cfg)
    trackers = f0_trackers(args.skip)
    n_cores = numba.config.NUMBA_NUM_THREADS
    speed: dict[int, dict[str, float]] = {}
    for threads in sorted({1, n_cores}):
        _set_threads(threads)
        impls = {name: (lambda fn=fn: fn(x, cfg)) for name, fn in trackers.items()}
        speed[threads] = _alternating(impls, args.repeats)
    mas: dict[int, dict[str, float]] = {}
    mas_note = ""
    for threads in sorted({1, n_cores}):
        _set_threads(threads)
        mas[threads], mas_note = _mas_impls(args.repeats)
    _set_threads(n_cores)
    accuracy = _accuracy(trackers, cfg)
    _print_report(source, first, speed, accuracy, mas, mas_note, len(x) / cfg.sample_rate, args.repeats)
    return 0


def _print_report(source, first, speed, accuracy, mas, mas_note, seconds, repeats) -> None:
    import numba

    thread_counts = sorted(speed)
    print(f"emovox bench features — {source}; medians of {repeats} alternating repeats (slow peers: 3)")
    print(f"numba {numba.__version__}, threading layer {numba.threading_layer()}, cores {thread_counts[-1]};"
          " shared noisy machine: compare ratios within this run only")  # fmt: skip
    print("first calls (Numba compile or cache load, excluded below):")
    print("\n".join(first))
    head = "".join(f"  x RT @{t} thr  vs best peer" for t in thread_counts)
    print(f"\n{'F0 tracker':<24}{head}   GPE (syn)  VDE (syn)")
    best_peer = {t: max(seconds / s for n, s in speed[t].items() if n != "emovox") for t in thread_counts if len(speed[t]) > 1}
    for name in speed[thread_counts[0]]:
        cells = ""
        for t in thread_counts:
            rt = seconds / speed[t][name]
            cells += f"  {rt:11.1f}  {rt / best_peer[t] if t in best_peer else float('nan'):10.2f}x"
        gpe, vde = accuracy[name]
        print(f"{name:<24}{cells}   {100 * gpe:8.2f}%  {100 * vde:8.2f}%")
    print(f"\nmonotonic alignment search ({mas_note})")
    for t in thread_counts:
        ours = mas[t]["emovox maximum_path"]
        for name, s in mas[t].items():
            print(f"  @{t} thr  {name:<38} {1000 * s:9.2f} ms   {s / ours:6.2f}x our time")

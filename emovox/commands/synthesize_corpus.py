"""Build a synthetic emotional speech corpus from open Debian TTS voices and published emotion-prosody rules.

Each voice speaks sentences from a text file; every utterance is analysed with WORLD and rendered neutral, in
categorical emotions at random intensities, and at random arousal/dominance/valence points. The output folder
holds wavs/, metadata.csv (audio|text|speaker|emotion|intensity|a|d|v, read by 'emovox prep generic') and
prosody.jsonl (every applied prosody parameter). Interrupted builds resume where they stopped; the same seed
gives the same corpus.

examples:
  emovox synthesize-corpus --list-voices
  emovox synthesize-corpus --voices slt_hts flite_rms flite_awb kal --sentences sentences.txt --hours 6 \\
      --out data/emosynth --workers 2
"""

from __future__ import annotations

import json
import sys

from emovox.config import load_config


def add_arguments(parser):
    parser.add_argument("--voices", nargs="+", metavar="VOICE", help="voices to use (see --list-voices)")
    parser.add_argument("--sentences", metavar="FILE", help="one sentence per line, or id|text lines")
    parser.add_argument("--hours", type=float, help="hours of audio to build (default 6)")
    parser.add_argument("--out", metavar="DIR", help="corpus folder (created; resumed when it exists)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--per-sentence", type=int, help="renderings per voice and sentence, neutral included "
                        "(default 4; 0 = every emotion plus two ADV points)")  # fmt: skip
    # "extend": repeated options add up (--set a=1 --set b=2), as in `emovox train`; several values after one
    # option work too. (A plain nargs option keeps only its last occurrence, silently dropping the others.)
    parser.add_argument("--config", nargs="+", action="extend", default=[], metavar="YAML",
                        help="config override files (repeatable)")  # fmt: skip
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. --set rules=tuned (repeatable)")  # fmt: skip
    parser.add_argument(
        "--list-voices", action="store_true", help="show installed and missing voices and exit"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _list_voices() -> int:
    from emovox.data_prep.synthetic import VOICES, detect_voices

    installed, missing = detect_voices()
    for name, voice in VOICES.items():
        state = "installed" if name in installed else f"missing ({missing[name]})"
        print(f"{name:<10} {voice.engine:<9} {state:<48} {voice.description}")
    print("RHVoice (bdl/slt/clb/alan), mbrola and pico voices need Debian's contrib/non-free components.")
    return 0


def run(args) -> int:
    if args.list_voices:
        return _list_voices()
    from emovox.data_prep.synthetic import SynthCorpusConfig, build_corpus

    if not args.out:
        raise ValueError("--out DIR is required")
    overrides = list(args.set)
    for key, value in (("voices", args.voices), ("sentences", args.sentences), ("hours", args.hours),
                       ("seed", args.seed), ("per_sentence", args.per_sentence)):  # fmt: skip
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    cfg = load_config(SynthCorpusConfig, args.config, overrides)
    if not cfg.sentences:
        raise ValueError("--sentences FILE is required")
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    summary = build_corpus(cfg, args.out, workers=args.workers, progress=not args.no_progress)
    json.dump(summary, sys.stdout, indent=1)
    print()
    return 0

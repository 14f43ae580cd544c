"""The ``emovox`` command line.

Each subcommand lives in its own module under :mod:`emovox.commands` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``. Only the module of the command being run is imported, so
``emovox --help`` answers without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from emovox import __version__

# name -> (module, one-line help). Keep alphabetical within groups.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("emovox.commands.synth", "synthesise emotional speech from text"),
    "convert": ("emovox.commands.convert", "emotional voice conversion: change the emotion of a recording"),
    "demo": ("emovox.commands.demo", "the Gradio web demo (TTS, conversion, markup)"),
    "serve": ("emovox.commands.serve", "the HTTP API (OpenAI-style /v1/audio/speech, conversion)"),
    "emotions": ("emovox.commands.emotions", "list a model's emotions, speakers and ADV ranges"),
    "bank": ("emovox.commands.bank", "compute a trained model's emotion bank from its training data"),
    "info": ("emovox.commands.info", "versions, model locations, threads and devices"),
    "vocode": ("emovox.commands.vocode", "copy-synthesis: audio -> mel -> HiFi-GAN -> audio"),
    "features": ("emovox.commands.features", "extract mel, F0, energy, phonemes into a resumable store"),
    "prep": ("emovox.commands.prep", "parse a corpus into a manifest (+ summary and Kaldi export)"),
    "train": ("emovox.commands.train", "train a model (vocoder, acoustic, ser) from a config"),
    "ser": ("emovox.commands.ser", "speech-emotion recogniser: train, cross-validate, predict"),
    "synthesize-corpus": (
        "emovox.commands.synthesize_corpus",
        "build a synthetic emotional corpus from open TTS voices",
    ),
    "tune-rules": (
        "emovox.commands.tune_rules",
        "tune the emotion rules against a recogniser of real emotional speech",
    ),
    "calibrate-adv": (
        "emovox.commands.calibrate_adv",
        "re-fit a voice's ADV axes to what a recogniser of real speech perceives",
    ),
    "calibrate-intensity": (
        "emovox.commands.calibrate_intensity",
        "bend an emotion's intensity curve beyond 1 towards what a recogniser of real speech hears",
    ),
    "phonemize": ("emovox.commands.phonemize", "show normalised text, IPA phonemes and token ids of a text"),
    "bench": ("emovox.commands.bench", "speed benchmarks against peer implementations"),
    "eval": ("emovox.commands.eval", "evaluation reports: a model's emotion control, a corpus's prosody"),
    "export": ("emovox.commands.export", "export a model to ONNX"),
    "recipes": ("emovox.commands.recipes", "list the training recipes: corpus, licence, status"),
}

EPILOG = """examples:
  emovox synth "I can't believe it!" --emotion angry:0.8 -o out.wav
  emovox vocode in.wav -o out.wav --vocoder universal
  emovox info

Run 'emovox COMMAND --help' for the options of one command."""


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emovox",
        description="Emotional text-to-speech and emotional voice conversion.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"emovox {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.INFO if verbose <= 1 else logging.DEBUG
    if verbose == 0 and not quiet:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


NEGATABLE = ("-e", "--emotion")
"""Options whose value may start with '-' (a negated emotion, ``-e -happy``)."""
_NEGATED = re.compile(r"^-[A-Za-z][\w.:+@,-]*$")


def _negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``-e -happy`` → ``-e=-happy``: argparse reads any ``-word`` as an option, so a negated emotion spec after
    ``--emotion`` would need ``--emotion=-happy``; join it when it is not one of the command's own options."""
    known = {s for action in parser._actions for s in action.option_strings}
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if a in NEGATABLE and a in known and nxt is not None and _NEGATED.match(nxt) and nxt not in known:
            out.append(f"{a}={nxt}")
            i += 2
        else:
            out.append(a)
            i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    # Find the subcommand: the first argument that names one; global flags may precede it.
    idx = next((i for i, a in enumerate(argv) if a in COMMANDS), None)
    if idx is None:
        top.parse_args(argv)  # handles --help / --version / unknown commands
        top.print_help()
        return 0 if not argv else 2
    global_args = top.parse_args(argv[:idx]) if idx else top.parse_args([])
    name = argv[idx]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(
        prog=f"emovox {name}",
        description=(module.__doc__ or COMMANDS[name][1]).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    args = parser.parse_args(_negative_values(parser, argv[idx + 1 :]))
    _setup_logging(global_args.verbose, global_args.quiet)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        # Every user-facing error class in emovox derives from ValueError; file-system errors (missing files,
        # permissions, I/O errors) are the user's to fix too. Reported in one line, without a traceback.
        if global_args.verbose >= 2:
            raise
        print(f"emovox {name}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

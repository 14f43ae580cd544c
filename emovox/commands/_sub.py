"""Helpers for commands that dispatch to a second-level target (``emovox bench vocoder``, ``emovox train acoustic``)."""

from __future__ import annotations

import argparse
import importlib


def add_target_arguments(parser: argparse.ArgumentParser, targets: dict[str, tuple[str, str]]) -> None:
    lines = "\n".join(f"  {name:<10} {help_text}" for name, (_, help_text) in targets.items())
    parser.epilog = f"targets:\n{lines}\n\nRun with TARGET --help for the options of one target."
    parser.add_argument("target", choices=sorted(targets), metavar="TARGET", help="what to run (see below)")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run_target(args: argparse.Namespace, targets: dict[str, tuple[str, str]], command: str) -> int:
    module = importlib.import_module(targets[args.target][0])
    parser = argparse.ArgumentParser(
        prog=f"emovox {command} {args.target}",
        description=(module.__doc__ or targets[args.target][1]).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    sub_args = parser.parse_args(args.rest)
    return int(module.run(sub_args) or 0)

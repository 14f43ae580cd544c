"""Evaluation reports. Each target writes tables (Markdown + JSON) and plots (PNG)."""

from __future__ import annotations

from emovox.commands._sub import add_target_arguments, run_target

TARGETS: dict[str, tuple[str, str]] = {
    "model": (
        "emovox.commands.eval_model",
        "emotion accuracy, intensity, ADV, mixtures, polarity, WER, MCD of a TTS model on a feature store",
    ),
    "corpus": ("emovox.commands.eval_corpus", "measured prosody per emotion and ADV axis of a corpus folder"),
    "evc": ("emovox.commands.eval_evc", "voice conversion on real recordings: emotion, speaker, words, MOS"),
    "vocoder": (
        "emovox.commands.eval_vocoder",
        "copy-synthesis quality (log-mel L1, PESQ) and speed of vocoders against a reference, with the bound",
    ),
    "transplant": (
        "emovox.commands.eval_transplant",
        "where a recogniser hears emotion: prosody/spectrum hybrids of emotional and neutral takes",
    ),
}


def add_arguments(parser):
    add_target_arguments(parser, TARGETS)


def run(args):
    return run_target(args, TARGETS, "eval")

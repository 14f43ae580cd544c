"""Train a model from a config: defaults, then each --config YAML (overrides only), then --set key=value.

The resolved config is written to OUT/config.yaml; training checkpoints go to OUT/checkpoints (the last few
are kept) and the inference model to OUT/model.safetensors. Re-running the same command resumes exactly
where a killed run stopped. Under torchrun the same command trains with PyTorch DDP:

  torchrun --nproc_per_node 2 -m emovox.cli train acoustic --config conf.yaml --out exp/acoustic
"""

from __future__ import annotations

import importlib

TARGETS: dict[str, tuple[str, str]] = {
    "vocoder": ("emovox.vocoder.training", "HiFi-GAN vocoder (GAN training or fine-tuning)"),
    "acoustic": ("emovox.tts.training", "FastSpeech2 acoustic model with the emotion space"),
    "ser": ("emovox.ser.train", "speech-emotion recogniser used by the evaluation"),
    "evc": ("emovox.evc.training", "voice conversion: emotion space -> prosody, from parallel renderings"),
    "content": (
        "emovox.evc.content_training",
        "voice conversion, neural path: log-mel -> the acoustic model's phonemes",
    ),
}


def add_arguments(parser):
    lines = "\n".join(f"  {name:<10} {help_text}" for name, (_, help_text) in TARGETS.items())
    parser.epilog = f"targets:\n{lines}"
    parser.add_argument("target", choices=sorted(TARGETS), metavar="TARGET", help="what to train (see below)")
    parser.add_argument(
        "--config", action="append", default=[], metavar="FILE", help="YAML overrides (repeatable)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one config value, e.g. --set train.max_steps=2000 (repeatable)",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="run folder (created; resumed if it exists)"
    )
    parser.add_argument("--no-resume", action="store_true", help="ignore checkpoints already in --out")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def run(args):
    import yaml

    from emovox.config import config_to_dict, load_config
    from emovox.engine import train

    module = importlib.import_module(TARGETS[args.target][0])
    cfg = load_config(module.CONFIG, args.config, args.overrides)
    if args.print_config:
        print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), end="")
        return 0
    state = train(module.build_task(cfg), args.out, resume=not args.no_resume)
    print(f"trained to step {state.step}; model: {args.out}/model.safetensors")
    return 0

"""Compute the emotion bank of a trained acoustic model (neutral centre, per-emotion and per-speaker
direction vectors, the ADV -> z map) from its training feature store, and store it in the checkpoint."""

from __future__ import annotations


def add_arguments(parser):
    parser.add_argument("checkpoint", help="acoustic model (model.safetensors of a training run)")
    parser.add_argument("store", help="feature store the model was trained on (`emovox features` output)")
    parser.add_argument("--split", default="train", help="store split to embed (default: train)")
    parser.add_argument("-o", "--output", help="write here instead of updating the checkpoint in place")
    parser.add_argument("--default-speaker", metavar="NAME",
                        help="speaker used when synthesis names none (default: the first)")  # fmt: skip
    parser.add_argument("--default-steps", type=int, metavar="N",
                        help="diffusion steps synthesis uses by default (0 = FastSpeech2 mel only)")  # fmt: skip
    parser.add_argument("--noise-scale", type=float, metavar="S",
                        help="diffusion start-noise scale synthesis uses by default (1 = sampled, 0 = deterministic)")  # fmt: skip
    parser.add_argument("--adv-fit", choices=("data", "anchors"), default="data",
                        help="fit the ADV -> z map on the store's ADV-annotated utterances (data, the default) or on "
                             "the emotions' literature anchors alone (anchors: for a corpus whose ADV values come "
                             "from rendering rules, as the synthetic corpus's do)")  # fmt: skip
    parser.add_argument("--half", action="store_true",
                        help="store weight matrices as float16 (half the size; how the built-in voice ships)")  # fmt: skip


def run(args):
    from emovox.tts.bank import write_bank
    from emovox.tts.data import open_acoustic_store

    data = open_acoustic_store(args.store, split=args.split)
    bank = write_bank(
        args.checkpoint,
        data.dataset,
        args.output,
        half=args.half,
        default_speaker=args.default_speaker,
        default_steps=args.default_steps,
        noise_scale=args.noise_scale,
        adv_fit=args.adv_fit,
    )
    counts = ", ".join(f"{e} ({int(c)})" for e, c in zip(bank.emotions, bank.counts))
    print(f"emotion bank: {counts}; written to {args.output or args.checkpoint}")
    if bank.curve_has is not None and bool(bank.curve_has.any()):
        curved = [e for e, has in zip(bank.emotions, bank.curve_has.tolist()) if has]
        print(f"intensity curves (knots {float(bank.curve_knots[0]):g}-{float(bank.curve_knots[-1]):g}): "
              f"{', '.join(curved)}")  # fmt: skip
    else:
        print("no intensity curves: the store's items carry no intensities (labels use straight directions)")
    return 0

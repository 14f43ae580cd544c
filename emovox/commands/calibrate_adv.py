"""Re-fit a voice's ADV map so that an axis (valence by default) moves what a recogniser of real emotional speech
perceives on that axis, and leaves the other perceived axes where they are.

The voice renders a probe set (every emotion at 0.5/1/1.5, the ADV axis ends and VA corners, on a few sentences and
speakers); the recogniser rates each clip's arousal, dominance and valence against the neutral rendering; the new
column of each calibrated axis is the smallest move of the emotion vector that changes that perceived axis alone.
Each candidate length (--scale, relative to the column it replaces) and the old column then sweep the axis from -1
to 1 on held-out sentences and speakers; the candidate the recogniser follows best is written, and only if it
beats the old column (--force writes it anyway). Judge the result with `emovox eval model`, and name the
recogniser: if it is also the judge, the number is measured in the calibration's own terms.

example:
  emovox calibrate-adv exp/voice.safetensors --ser ser/real/model.safetensors -o exp/voice_cal.safetensors
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("model", help="acoustic model checkpoint with an emotion bank, or 'default'")
    parser.add_argument(
        "--ser", required=True, metavar="CKPT", help="speech-emotion recogniser of real speech"
    )
    parser.add_argument("-o", "--output", required=True, help="write the calibrated checkpoint here")
    parser.add_argument("--axes", nargs="+", default=["valence"], choices=("arousal", "dominance", "valence"),
                        help="axes to calibrate (default: valence)")  # fmt: skip
    parser.add_argument("--scale", type=float, nargs="+", default=[0.75, 1.0, 1.5], metavar="X",
                        help="candidate lengths of each new column relative to the one it replaces; the held-out "
                             "sweep picks one (default: 0.75 1 1.5)")  # fmt: skip
    parser.add_argument("--held-out-speakers", nargs="+", metavar="NAME",
                        help="speakers the candidates are checked on (default: up to four not probed)")  # fmt: skip
    parser.add_argument("--force", action="store_true",
                        help="write the best candidate even if the old column follows the recogniser better")  # fmt: skip
    parser.add_argument("--speakers", nargs="+", metavar="NAME",
                        help="the voice's speakers to probe with (default: the default speaker and two others)")  # fmt: skip
    parser.add_argument("--sentences", metavar="FILE",
                        help="probe sentences, one per line (default: three built-in statements)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_output(output: str, ser: str) -> Path:
    """The output checkpoint path, refused before any work if it cannot be one; the recogniser must exist."""
    out = Path(output)
    if out.suffix.lower() != ".safetensors":
        raise ValueError(f"--output must name a .safetensors file, not {out}")
    if out.is_dir():
        raise IsADirectoryError(f"--output {out} is a folder; name a .safetensors file")
    if not Path(ser).is_file():
        raise FileNotFoundError(f"recogniser checkpoint not found: {ser} (fit one with `emovox ser fit`)")
    return out


def load_voice_and_recogniser(model: str, ser: str):
    """``(checkpoint path, EmotionalTTS, EmotionRecognizer)``; ``model`` may be 'default'."""
    from emovox.paths import default_voice_path
    from emovox.pipelines import EmotionalTTS
    from emovox.ser.infer import EmotionRecognizer

    path = default_voice_path() if model == "default" else Path(model)
    return path, EmotionalTTS.load(path), EmotionRecognizer.load(ser)


@contextmanager
def progress_bar(desc: str, disable: bool) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar driven by ``report(done, total)`` callbacks."""
    from tqdm import tqdm

    with tqdm(desc=desc, unit="clip", disable=disable) as bar:

        def report(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield report


def run(args) -> int:
    from emovox.adv_calibration import PROBE_SENTENCES, calibrate_adv
    from emovox.tts.bank import write_adv_map

    out = check_output(args.output, args.ser)
    sentences = PROBE_SENTENCES
    if args.sentences:
        lines = Path(args.sentences).read_text(encoding="utf-8").splitlines()
        sentences = tuple(line.strip() for line in lines if line.strip())
    model, tts, ser = load_voice_and_recogniser(args.model, args.ser)
    with progress_bar("probe renderings", args.no_progress) as report:
        cal = calibrate_adv(
            tts, ser, axes=args.axes, scales=args.scale, sentences=sentences, speakers=args.speakers,
            held_out_speakers=args.held_out_speakers, recogniser_name=Path(args.ser).name, progress=report,
        )  # fmt: skip
    fit = ", ".join(f"{a} r {r:.2f}" for a, r in zip(("arousal", "dominance", "valence"), cal.fit_r))
    print(f"{cal.clips} probe clips; perceived ADV predicted from z with {fit}")
    held = ", ".join(f"{k} {v:.2f}" for k, v in cal.held_out_r.items())
    print(f"held-out sweep, requested vs perceived {'/'.join(cal.axes)} r: {held}")
    if not cal.improved and not args.force:
        print(
            f"no candidate follows the recogniser better than the voice's own {'/'.join(cal.axes)} column on the "
            f"held-out sentences; nothing written (--force writes x{cal.scale:g} anyway)",
            file=sys.stderr,
        )
        return 1
    write_adv_map(model, cal.adv_map, out, cal.to_meta())
    print(f"calibrated {', '.join(cal.axes)} (x{cal.scale:g}); written to {out}")
    return 0

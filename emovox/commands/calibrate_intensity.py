"""Bend an emotion's intensity curve beyond 1 towards what a recogniser of real emotional speech hears as that
emotion, so that intensity 1.5 and 2 sound like more of it rather than like another emotion.

The voice renders the emotion at intensity 1 with its point moved in random directions (--perturbations,
--spread); the recogniser's log P(emotion) gives the local gradient, and loudness and F0 give theirs. Two
families of candidates continue past intensity 1 (--gain: the step, in lengths of the emotion's direction per
unit of intensity):
  gain<G>        from the point at 1, a step that moves loudness and F0 on at --cue-pace of their pace up to 1
                 and follows the gradient with the rest of its length;
  curve+gain<G>  the current curve, with the part of the gradient that leaves loudness and F0 alone added.
With --whole-curve two more families change the emotion at and below 1 as well, so that low intensities move
towards what the recogniser hears as the emotion too:
  whole+gain<G>  that part added along the whole curve, in proportion to intensity;
  below+gain<G>  that part added up to 1 only (a constant shift beyond, so a hold or bend beyond 1 is kept);
and every candidate is then checked at 0.25, 0.5, 0.75, 1, 1.5 and 2, the intensities of `emovox eval model`.
On held-out sentences and speakers the current curve and each candidate render the emotion at 0.5, 1, 1.5 and 2.
A candidate is eligible only if loudness and F0 keep moving beyond 1 the way they move up to 1 (intensity
extrapolates, it does not saturate). The eligible candidate whose P(emotion) rises most consistently with
intensity (Spearman rho) is written, and only if it beats the current curve (--force writes it anyway).
Without --whole-curve everything up to intensity 1 stays as it is.

--method prosody leaves the curve alone and continues the emotion's prosody instead: the acoustic model's own
move from intensity 0.5 to 1 (speaking rate, F0 level, energy, vocal effort -- the tilt of the mel's spectrum in
dB per octave above 500 Hz --, F0 range and the final F0 movement in semitones over a sentence's last sounds,
averaged over the probe sentences) is carried on beyond 1 for each set
of --cues (default: rate; rate+energy; rate+pitch+energy; effort), at --trend-gain times that pace. In a set,
cue*w runs a cue at w times the gain, and cue=v sets it to v per unit of intensity outright (for a cue the model
hardly moves up to 1, e.g. range=0.3). --hold H also tries each set with the curve of z held from intensity H on,
the trend alone carrying the cues beyond it. The same held-out check picks one, and only one that beats the
current voice is written (into the bank's prosody trend, with the held curve). Cues continued at their pace keep
the direction they have up to 1. Judge the result with `emovox eval model`, and name the recogniser: if it is also
the judge, the number is measured in the calibration's own terms.

--method prosody --whole-curve writes the cue sets as the emotion's prosody offset instead, applied from
intensity 0 in proportion to it, for a cue the voice moves against real speech at and below 1 (e.g. a cue the
corpus's rules got wrong: --cues rate=0.2 slows the emotion by e^0.2 per unit of intensity; --cues final=-1
lets its sentences end 1 semitone lower per unit, as real happy speech ends falling). Every candidate is then
checked at 0.25, 0.5, 0.75, 1, 1.5 and 2.

example:
  emovox calibrate-intensity exp/voice.safetensors angry --ser ser/real/model.safetensors -o exp/voice_cal.safetensors
  emovox calibrate-intensity exp/voice.safetensors surprise --method prosody --ser ser/real/model.safetensors -o exp/v2.safetensors
  emovox calibrate-intensity exp/v2.safetensors angry --method prosody --cues effort effort+pitch*0.5 --trend-gain 2 2.5 --hold 1.25 --ser ser/real/model.safetensors -o exp/v3.safetensors
  emovox calibrate-intensity exp/v3.safetensors happy --method prosody --cues range=0.3 --trend-gain 1 2 --ser ser/real/model.safetensors -o exp/v4.safetensors
  emovox calibrate-intensity exp/v4.safetensors fear --method prosody --whole-curve --cues rate=0.1 rate=0.2 --trend-gain 1 --ser ser/real/model.safetensors -o exp/v5.safetensors
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("model", help="acoustic model checkpoint with an emotion bank, or 'default'")
    parser.add_argument("emotion", help="the emotion whose curve to calibrate, e.g. angry")
    parser.add_argument(
        "--ser", required=True, metavar="CKPT", help="speech-emotion recogniser of real speech"
    )
    parser.add_argument("-o", "--output", required=True, help="write the calibrated checkpoint here")
    parser.add_argument("--method", choices=("gradient", "prosody"), default="gradient",
                        help="gradient: bend the curve of z beyond 1 (default); prosody: continue the emotion's "
                             "rate, F0, energy, vocal effort, F0 range and final F0 movement beyond 1 "
                             "instead")  # fmt: skip
    parser.add_argument("--cues", nargs="+", metavar="SET",
                        help="--method prosody: the cue sets to try, each cues joined by '+' from rate, pitch, "
                             "energy, effort, range, final; cue*w runs a cue at w times the gain (effort+pitch*0.25), "
                             "cue=v sets it outright per unit of intensity (range=0.3) "
                             "(default: rate rate+energy rate+pitch+energy effort)")  # fmt: skip
    parser.add_argument("--hold", type=float, nargs="+", default=[], metavar="H",
                        help="--method prosody: also try each cue set with the curve of z held from intensity H "
                             "on (a knot of the curve, >= 1), the trend alone carrying the cues beyond it")  # fmt: skip
    parser.add_argument("--trend-gain", type=float, nargs="+", default=[0.5, 1.0], metavar="K",
                        help="--method prosody: candidate paces beyond 1, as fractions of the pace from 0.5 to 1 "
                             "(default: 0.5 1)")  # fmt: skip
    parser.add_argument("--perturbations", type=int, default=48,
                        help="random moves of the point at intensity 1 (default 48)")  # fmt: skip
    parser.add_argument("--spread", type=float, default=0.2,
                        help="size of a move, as a fraction of the emotion's direction length (default 0.2)")  # fmt: skip
    parser.add_argument("--gain", type=float, nargs="+", default=[0.125, 0.25], metavar="G",
                        help="candidate slopes beyond 1, in direction lengths per unit of intensity "
                             "(default: 0.125 0.25)")  # fmt: skip
    parser.add_argument("--cue-pace", type=float, default=0.5, metavar="F",
                        help="beyond 1 the candidates move loudness and F0 on at this fraction of their pace from "
                             "0.5 to 1, and follow the recogniser's gradient with the rest of their step "
                             "(0: the gradient alone; default 0.5)")  # fmt: skip
    parser.add_argument("--speakers", nargs="+", metavar="NAME",
                        help="speakers to probe with (default: the default speaker and one other)")  # fmt: skip
    parser.add_argument("--held-out-speakers", nargs="+", metavar="NAME",
                        help="speakers the candidates are checked on (default: up to three not probed)")  # fmt: skip
    parser.add_argument("--whole-curve", action="store_true",
                        help="--method gradient: also try adding the gradient's cue-free part from intensity 0 on, "
                             "all along the curve (whole+gain<G>) or up to 1 (below+gain<G>), so that low "
                             "intensities sound more like the emotion too; --method prosody: the cue sets become "
                             "the emotion's prosody offset, applied from intensity 0 in proportion to it; every "
                             "candidate is then checked at 0.25, 0.5, 0.75, 1, 1.5 and 2")  # fmt: skip
    parser.add_argument("--force", action="store_true",
                        help="write the best candidate even if the current curve does as well")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from emovox.commands.calibrate_adv import check_output, load_voice_and_recogniser, progress_bar
    from emovox.intensity_calibration import calibrate_intensity
    from emovox.tts.bank import write_intensity_curve

    out = check_output(args.output, args.ser)
    model, tts, ser = load_voice_and_recogniser(args.model, args.ser)
    if args.method == "prosody":
        return _run_prosody(args, model, tts, ser, out)
    with progress_bar("renderings", args.no_progress) as report:
        cal = calibrate_intensity(
            tts, ser, args.emotion, perturbations=args.perturbations, spread=args.spread, gains=args.gain,
            cue_pace=args.cue_pace, speakers=args.speakers, held_out_speakers=args.held_out_speakers,
            recogniser_name=Path(args.ser).name, progress=report, whole_curve=args.whole_curve,
        )  # fmt: skip
    print(
        f"{cal.clips} perturbed renderings; gradient of log P({cal.emotion}) cross-validated r {cal.cv_r:.2f}"
    )
    for cue, fit in (cal.cue_fits or {}).items():
        print(
            f"  {cue}: pace up to 1 {fit['pace']:+.2f} per unit; gradient cross-validated r {fit['cv_r']:.2f}"
        )
    _print_held_out(cal, 15)
    if not cal.improved and not args.force:
        print(
            f"no candidate rises with intensity better than the current {cal.emotion} curve on the held-out "
            "sentences; nothing written",
            file=sys.stderr,
        )
        return 1
    write_intensity_curve(model, cal.emotion, cal.curve, out, cal.to_meta())
    kept = "the current curve" if cal.gain is None else cal.kept
    print(f"{cal.emotion}: {kept}; written to {out}")
    return 0


def _run_prosody(args, model, tts, ser, out) -> int:
    from emovox.commands.calibrate_adv import progress_bar
    from emovox.intensity_calibration import DEFAULT_CUE_SETS, PROSODY_CUES, calibrate_prosody_trend
    from emovox.tts.bank import write_prosody_offset, write_prosody_trend

    if args.whole_curve and args.hold:
        print("--hold: a prosody offset applies along the whole curve; it takes no hold", file=sys.stderr)
        return 2
    cue_sets = DEFAULT_CUE_SETS if not args.cues else [tuple(c.split("+")) for c in args.cues]
    with progress_bar("renderings", args.no_progress) as report:
        cal = calibrate_prosody_trend(
            tts, ser, args.emotion, gains=args.trend_gain, cue_sets=cue_sets, holds=[None, *args.hold],
            speakers=args.speakers,
            held_out_speakers=args.held_out_speakers, recogniser_name=Path(args.ser).name, progress=report,
            whole_curve=args.whole_curve,
        )  # fmt: skip
    pace = ", ".join(f"{c} {p:+.3f}" for c, p in zip(PROSODY_CUES, cal.pace))
    print(
        f"{cal.emotion}'s prosody from intensity 0.5 to 1, per unit (log duration, F0 sd, energy, tilt dB/octave, "
        f"log F0 range, final st): "
        f"{pace}"
    )
    _print_held_out(cal, 22)
    if not cal.improved and not args.force:
        print(
            f"no prosody {cal.table} rises with intensity better than the current {cal.emotion} on the held-out "
            "sentences; nothing written",
            file=sys.stderr,
        )
        return 1
    if cal.table == "offset":
        write_prosody_offset(model, cal.emotion, cal.trend, out, cal.to_meta())
    else:
        write_prosody_trend(model, cal.emotion, cal.trend, out, cal.to_meta(), curve=cal.curve)
    print(f"{cal.emotion}: prosody {cal.table} {cal.kept}; written to {out}")
    return 0


def _print_held_out(cal, width: int) -> None:
    """One line per candidate of the held-out check: ρ, P(emotion) and the cues at each intensity."""
    heads = " / ".join(f"{a:g}" for a in cal.intensities)
    for name, rho in cal.held_out_rho.items():
        ps = " / ".join(f"{p:.2f}" for p in cal.held_out_p[name])
        cues = "; ".join(
            f"{cue} {' / '.join(f'{v:.1f}' for v in values)}"
            for cue, values in cal.held_out_cues[name].items()
        )
        flag = "" if cal.eligible[name] else " (rejected: a cue stops moving beyond 1)"
        print(f"  {name:>{width}}: held-out rho {rho:.2f}, P({cal.emotion}) at {heads}: {ps}; {cues}{flag}")

"""Change the emotion of a recording, keeping its words and its speaker (emotional voice conversion).

The emotion controls are those of `emovox synth`:
  angry              a label at its natural intensity (0-2: 0 = unchanged, 2 = exaggerated)
  sad:0.7+angry:0.3  a mixture;  -happy  the opposite;  adv:a,d,v / va:v,a  a point in the emotion space
  same:1.5           the source's own (estimated) emotion, 1.5 times as strong ('same:0.5' = calmer)
  --ref-audio CLIP   "like this clip"
The source is taken to be neutral speech; --from estimate (or --from SPEC) says it is not.
Two methods: prosody (default; keeps the speaker) and neural (--method neural --neural-model M: the words are
recognised and spoken again by the acoustic model in one of its own voices).

One file:   emovox convert in.wav -e sad:1.5 -o out.wav
A folder:   emovox convert recordings/ -e angry --out-dir converted/   (resumable: done files are skipped)
Any rate and channel count is read (down-mixed; resampled into 16-48 kHz); files of any length are converted
chunk by chunk, cut at pauses, in bounded memory. Output: .wav (16-bit), .flac or .ogg.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")


def add_arguments(parser):
    parser.add_argument("input", metavar="IN", help="an audio file, or a folder of them (with --out-dir)")
    parser.add_argument("-e", "--emotion", default=None, help="target emotion spec (see above)")
    parser.add_argument("-o", "--output", metavar="OUT", help="output file (one input file)")
    parser.add_argument("--out-dir", metavar="DIR", help="output folder (an input folder; mirrors its tree)")
    parser.add_argument("--ref-audio", metavar="WAV", help="take the target emotion from this clip")
    parser.add_argument("--from", dest="source_emotion", default="neutral", metavar="SPEC",
                        help="the source's emotion: neutral (default), estimate (the reference encoder's "
                             "guess) or a spec")  # fmt: skip
    parser.add_argument("--method", choices=("prosody", "neural"), default=None,
                        help="prosody (default): the source resynthesised with the emotion's prosody, its speaker "
                             "kept; neural: its phonemes recognised and spoken again by the acoustic model in one "
                             "of that model's voices (needs --neural-model unless this emovox ships one)")  # fmt: skip
    parser.add_argument("--neural-model", metavar="PATH",
                        help="the neural path's content encoder (from `emovox train content`)")  # fmt: skip
    parser.add_argument("--speaker", help="--method neural: the acoustic model's voice to speak with "
                        "(default: the one nearest to the source in F0)")  # fmt: skip
    parser.add_argument("--keep-timing", action="store_true", help="keep the source's durations and pauses")
    parser.add_argument("--show-emotion", action="store_true",
                        help="print the source's estimated emotion (and only that, without -e)")  # fmt: skip
    parser.add_argument("--f0", choices=("harvest", "dio"), default="harvest",
                        help="F0 tracker: harvest (robust, default) or dio (about 10x faster)")  # fmt: skip
    parser.add_argument("--seed", type=int, help="random seed (jitter and tremor)")
    parser.add_argument("--model", help="conversion model, or a packaged model folder with evc.safetensors and "
                        "model.safetensors (default: the built-in one)")  # fmt: skip
    parser.add_argument(
        "--acoustic", help="acoustic model whose reference encoder is used (default: built-in)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="with --out-dir: redo files already converted"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _outputs(args) -> list[tuple[Path, Path]]:
    src = Path(args.input)
    if not src.exists():
        raise FileNotFoundError(f"input not found: {src}")
    if src.is_dir():
        if not args.out_dir:
            raise ValueError(f"{src} is a folder: give --out-dir DIR for the converted files")
        if args.output:
            raise ValueError("-o is for one input file; a folder takes --out-dir")
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            raise ValueError(f"{src} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
        out_dir = Path(args.out_dir)
        if out_dir.resolve() == src.resolve() or src.resolve() in out_dir.resolve().parents:
            raise ValueError("--out-dir must not be the input folder or inside it")
        return [(f, (out_dir / f.relative_to(src)).with_suffix(".wav")) for f in files]
    if args.out_dir:
        return [(src, Path(args.out_dir) / (src.stem + ".wav"))]
    out = Path(args.output or "converted.wav")
    if out.resolve() == src.resolve():
        raise ValueError("the output must not overwrite the input")
    return [(src, out)]


def run(args) -> int:
    from emovox.conversion import VoiceConversion

    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    if args.emotion is not None and not args.emotion.strip():
        raise ValueError("--emotion is empty; give a spec such as 'sad' or 'angry:1.5'")
    if args.emotion is None and not args.show_emotion and args.ref_audio is None:
        raise ValueError("say how it should sound: --emotion SPEC or --ref-audio CLIP (or --show-emotion)")
    if args.speaker is not None and args.method != "neural":
        raise ValueError(
            "--speaker chooses the voice of --method neural; the prosody path keeps the source's"
        )
    vc = VoiceConversion.load(args.model, acoustic=args.acoustic, neural=args.neural_model or "default")
    if args.method == "neural":
        vc.neural()  # a missing or mismatched neural model is refused before any file is touched
        if args.speaker is not None:
            vc.neural().tts.speaker_index(args.speaker)
    # A bad spec or reference clip is refused before any file is touched.
    if args.ref_audio is not None or (
        args.emotion is not None and not args.emotion.strip().startswith("same")
    ):
        vc.emotion_vector(args.emotion, ref_audio=args.ref_audio)
    jobs = _outputs(args)
    if args.show_emotion:
        from emovox.conversion import _read_head

        for src, _ in jobs:
            import soundfile as sf

            rate = sf.info(str(src)).samplerate
            print(f"{src}: {json.dumps(vc.estimate_emotion(_read_head(src, 30.0), rate))}")
        if args.emotion is None and args.ref_audio is None:
            return 0
    todo = [(s, o) for s, o in jobs if args.overwrite or not o.exists()]
    if len(todo) < len(jobs):
        print(f"{len(jobs) - len(todo)} of {len(jobs)} already converted; skipping them (--overwrite redoes them)",
              file=sys.stderr)  # fmt: skip
    failures: list[tuple[Path, str]] = []
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="file", disable=args.no_progress or len(todo) < 2, file=sys.stderr)
    for src, out in todo:
        try:
            info = vc.convert_file(
                src,
                out,
                args.emotion or "neutral",
                method=args.method,
                keep_timing=args.keep_timing,
                seed=args.seed,
                source_emotion=args.source_emotion,
                ref_audio=args.ref_audio,
                f0_method=args.f0,
                speaker=args.speaker,
            )
        except ValueError as exc:  # bad audio: report, go on with the others
            if len(jobs) == 1:
                raise
            failures.append((src, str(exc)))
        else:
            if len(jobs) == 1:
                notes = f" ({'; '.join(info['notes'])})" if info["notes"] else ""
                print(f"wrote {out}: {info['seconds_out']:.2f} s at {info['sample_rate']} Hz from "
                      f"{info['seconds_in']:.2f} s{notes}")  # fmt: skip
        bar.update(1)
    bar.close()
    if len(jobs) > 1:
        print(f"converted {len(todo) - len(failures)} of {len(todo)} files into {args.out_dir}")
    for src, msg in failures:
        print(f"failed: {src}: {msg}", file=sys.stderr)
    return 1 if failures else 0

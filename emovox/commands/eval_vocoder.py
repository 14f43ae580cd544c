"""Copy-synthesis quality of vocoders on real recordings, against a reference vocoder: log-mel L1, wide-band
PESQ (with the `pesq` package) and real-time factor, all measured in one run, and for each candidate whether it is
within the shipping bound (log-mel L1 at most 2 % worse, PESQ at most 0.05 lower than the reference).

A vocoder is a name (universal, ljspeech), a checkpoint of `emovox train vocoder` or its run folder, optionally
with @PRECISION (fp32, bf16, mixed): `universal@bf16` is the universal V1 in bfloat16.

examples:
  emovox eval vocoder exp/v2 --audio ~/data/LJSpeech-1.1/wavs --limit 50
  emovox eval vocoder universal@mixed universal@bf16 --audio clips/ --out eval/vocoder
"""

from __future__ import annotations

import json
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def add_arguments(parser) -> None:
    parser.add_argument("candidates", nargs="+", metavar="VOCODER", help="vocoders to judge (see above)")
    parser.add_argument(
        "--audio",
        nargs="+",
        required=True,
        metavar="PATH",
        help="recordings: files and/or folders (recursive)",
    )
    parser.add_argument(
        "--reference", default="universal@fp32", metavar="VOCODER", help="(default universal@fp32)"
    )
    parser.add_argument("--limit", type=int, default=0, help="at most this many clips (0 = all; default)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    parser.add_argument("--out", metavar="DIR", help="also write DIR/vocoder.md and DIR/vocoder.json")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _clips(paths: list[str], limit: int) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"--audio {p}: no such file or folder")
    if not found:
        raise ValueError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {' '.join(paths)}")
    return found[:limit] if limit else found


def _load(spec: str):
    from emovox.pipelines import Vocoder

    name, _, precision = spec.partition("@")
    return Vocoder.load(name, precision=precision or "fp32")


def run(args) -> int:
    import torch

    from emovox.eval.vocoder import compare_vocoders, render_markdown, to_json, verdicts
    from emovox.fileio import atomic_write_text

    if args.limit < 0:
        raise ValueError("--limit must be 0 (all) or positive")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    clips = _clips(args.audio, args.limit)
    names = [args.reference] + [c for c in args.candidates if c != args.reference]
    vocoders = {name: _load(name) for name in names}
    scores = compare_vocoders(vocoders, clips, progress=not args.no_progress)
    checks = verdicts(scores)
    text = render_markdown(scores, checks)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "vocoder.md", text)
        atomic_write_text(out / "vocoder.json", json.dumps(to_json(scores, checks), indent=1) + "\n")
        print(f"report: {out}/vocoder.md")
    return 0

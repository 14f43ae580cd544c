"""Synthesise emotional speech to a WAV file.

Emotion specs (the same everywhere in emovox):
  happy              a label at its natural intensity
  happy:0.6          weaker (0 = neutral, 1 = as in the data, up to 2 = exaggerated)
  sad:0.7+angry:0.3  a mixture (weights are normalised)
  -happy             the opposite direction (polarity)
  adv:0.8,0.4,-0.5   arousal, dominance, valence in [-1, 1]
  va:0.6,0.3         valence, arousal in [-1, 1]
  auto               each sentence's emotion estimated from its words (--explain shows why)
  auto:0.5           the estimated emotion at half its intensity
  auto+sad:0.3       70 % the text's emotion, 30 % sad

Markup (--markup, or text starting with '<'; --no-markup reads such text as plain) changes emotion inside one
request:
  <speak>Fine. <emotion name="sad" intensity="0.8">It is over.</emotion><break time="300ms"/></speak>

Long texts, scripts and data:
  emovox synth - --stream --emotion auto --timestamps json,srt -o chapter1.wav < chapter1.txt
  emovox synth --script dialogue.txt -o scene.wav        (lines 'speaker|emotion|text')
  emovox synth --batch rows.csv --out-dir data/gen       (columns text,emotion,speaker,intensity,seed,id)
  emovox synth --grid sentences.txt --emotions happy,sad,angry --intensities 0.5,1,1.5 --speakers all \\
      --out-dir data/grid --workers 2
"""

from __future__ import annotations

import contextlib
import sys
import time

from emovox.fileio import atomic_path


def add_arguments(parser):
    parser.add_argument(
        "text",
        nargs="?",
        help="the text to speak; '-' reads it from standard input (not with --batch/--grid/--script)",
    )
    parser.add_argument(
        "-e", "--emotion", default="neutral", help="emotion spec (see above; default: neutral)"
    )
    parser.add_argument("-o", "--output", default="out.wav",
                        help="output file: .wav (16-bit), .flac, .ogg (Vorbis) or .mp3 (default: out.wav)")  # fmt: skip
    parser.add_argument("--speaker", help="speaker name (see `emovox emotions`)")
    parser.add_argument("--ref-audio", metavar="WAV", help="take the emotion from this clip ('like this')")
    markup = parser.add_mutually_exclusive_group()
    markup.add_argument("--markup", action="store_true", help="parse the text as emotion markup")
    markup.add_argument("--no-markup", action="store_true",
                        help="plain text even if it starts with '<' (e.g. '<3 I love you')")  # fmt: skip
    parser.add_argument("--speed", type=float, default=1.0, help="speaking rate factor (0.25-4, default 1)")
    parser.add_argument("--seed", type=int, help="random seed for reproducible sampling")
    parser.add_argument("--steps", type=int, help="diffusion decoder steps (default: the model's; 0 = off)")
    parser.add_argument(
        "--mix-mode",
        choices=("latent", "noise"),
        default="latent",
        help="mixtures as one emotion vector (latent) or EmoMix noise mixing (noise)",
    )
    parser.add_argument(
        "--guidance", type=float, default=1.0, help="guidance scale towards the emotion (default 1)"
    )
    parser.add_argument("--noise-scale", type=float, help="diffusion start noise, 0-2 (default: the model's; "
                        "1 = sampled detail, 0 = deterministic)")  # fmt: skip
    parser.add_argument("--loudness", type=float, metavar="DBFS",
                        help="normalise the output to this active-speech level (-60 to -6 dBFS); by default the "
                             "level is the voice's own, so angry is louder than neutral and sad quieter")  # fmt: skip
    parser.add_argument(
        "--model", help="acoustic model checkpoint or model folder (default: the built-in voice)"
    )
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "mixed"), default="auto",
                        help="vocoder precision: auto (mixed bfloat16/float32 where the CPU has native bfloat16, "
                             "else fp32), fp32, bf16 (fastest, lower quality) or mixed")  # fmt: skip
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="torch (default) or onnx: ONNX Runtime on an `emovox export onnx` folder given as "
                             "--model")  # fmt: skip
    parser.add_argument(
        "--vocoder", default="universal", help="universal | ljspeech | PATH (default universal)"
    )
    parser.add_argument("--stream", action="store_true", help="write sentence by sentence (long texts)")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: torch's choice; 1 per --workers)"
    )
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N: run the models on a GPU (one process: --workers 1)")  # fmt: skip
    parser.add_argument("--explain", action="store_true",
                        help="print each sentence and the emotion spec it gets (with auto: the cues that chose it)")  # fmt: skip
    parser.add_argument("--timestamps", metavar="json|srt",
                        help="write each sentence's start/end, text and emotion beside the audio (out.json, out.srt; "
                             "'json,srt' for both)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = parser.add_argument_group("scripts, batches and grids")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--script", metavar="FILE", help="a dialogue: one 'speaker|emotion|text' line per utterance"
    )
    mode.add_argument(
        "--batch", metavar="FILE", help="a .csv or .jsonl table: text,emotion,speaker,intensity,seed,id"
    )
    mode.add_argument(
        "--grid", metavar="FILE", help="sentences (one per line) x --emotions x --intensities x --speakers"
    )
    group.add_argument(
        "--pause", type=int, default=400, metavar="MS", help="--script: silence between turns (default 400)"
    )
    group.add_argument(
        "--out-dir", metavar="DIR", help="--batch/--grid: wavs/, metadata.csv (emovox prep generic), ..."
    )
    group.add_argument(
        "--emotions", help="--grid: comma-separated specs, or 'all' (default: all the model's)"
    )
    group.add_argument("--intensities", default="1", help="--grid: comma-separated, 0-2 (default 1)")
    group.add_argument(
        "--speakers", help="--grid: comma-separated names or 'all' (default: the default speaker)"
    )
    group.add_argument(
        "--workers", type=int, default=1, help="--batch/--grid: parallel processes (default 1)"
    )


# extension -> (soundfile format, subtype)
FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
           ".mp3": ("MP3", "MPEG_LAYER_III")}  # fmt: skip


def output_format(path: str) -> tuple[str, str]:
    """The soundfile (format, subtype) an output path asks for by its extension; a clear error otherwise."""
    from pathlib import Path

    out = Path(path)
    if out.is_dir() or path.endswith(("/", "\\")):
        raise ValueError(f"-o {path} is a directory; give a file name, e.g. -o {out / 'out.wav'}")
    ext = out.suffix.lower()
    if ext not in FORMATS:
        raise ValueError(
            f"-o {path}: unsupported extension '{ext or '(none)'}'; use one of {', '.join(FORMATS)}"
        )
    return FORMATS[ext]


def _read_text(arg: str) -> str:
    if arg != "-":
        return arg
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"standard input is not valid UTF-8 (byte {exc.start}): {exc.reason}") from None


def _check_modes(args) -> str:
    """Which mode the arguments ask for, or a ValueError naming the option that does not fit."""
    mode = "batch" if args.batch else "grid" if args.grid else "script" if args.script else "text"
    if mode == "text" and args.text is None:
        raise ValueError("give the text to speak (or '-' for standard input), or --script, --batch or --grid")
    if mode != "text" and args.text is not None:
        raise ValueError(f"--{mode} reads its text from {getattr(args, mode)}; do not also give a text")
    table = mode in ("batch", "grid")
    if table and not args.out_dir:
        raise ValueError(f"--{mode} needs --out-dir DIR (one WAV per row and a manifest go there)")
    misplaced = [
        name for name, given, ok in (
            ("--out-dir", args.out_dir, table), ("--workers", args.workers != 1, table),
            ("--emotions", args.emotions, mode == "grid"), ("--intensities", args.intensities != "1", mode == "grid"),
            ("--speakers", args.speakers, mode == "grid"), ("--timestamps", args.timestamps, not table),
            ("--stream", args.stream, not table), ("--pause", args.pause != 400, mode == "script"),
            ("--ref-audio", args.ref_audio, not table and mode != "script"),
        ) if given and not ok
    ]  # fmt: skip
    if misplaced:
        raise ValueError(
            f"{misplaced[0]} does not apply to {'a plain text' if mode == 'text' else '--' + mode}"
        )
    return mode


def _check_device(name: str):
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name!r}: emovox runs on cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA GPU is available here (use --device cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def _timestamp_formats(value: str | None) -> list[str]:
    if value is None:
        return []
    formats = [f.strip().lower() for f in value.split(",")]
    if not formats or any(f not in ("json", "srt") for f in formats) or len(set(formats)) < len(formats):
        raise ValueError(f"--timestamps must be json, srt or json,srt, not {value!r}")
    return formats


def run(args):
    import torch

    from emovox.pipelines import EmotionalTTS

    mode = _check_modes(args)
    if mode in ("text", "script"):
        output_format(args.output)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if args.backend == "onnx" and getattr(args, "workers", 1) and getattr(args, "workers", 1) > 1:
        raise ValueError("--backend onnx runs in one process: use --workers 1 (and --threads N)")
    device = _check_device(args.device)
    if device.type != "cpu" and args.backend == "onnx":
        raise ValueError("--backend onnx runs on the CPU; drop --device or use --backend torch")
    if device.type != "cpu" and getattr(args, "workers", 1) and getattr(args, "workers", 1) > 1:
        raise ValueError(f"--device {args.device} runs in one process: use --workers 1")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    if args.steps is not None and args.steps < 0:
        raise ValueError(f"--steps must be at least 0 (0 = no diffusion decoder), got {args.steps}")
    if not args.emotion.strip():
        raise ValueError("--emotion is empty; give a spec such as 'happy', 'sad:0.5' or 'va:0.6,0.3'")
    formats = _timestamp_formats(args.timestamps)
    if args.threads:
        torch.set_num_threads(args.threads)
    text = _read_text(args.text) if mode == "text" else None
    if args.loudness is not None and args.stream:
        raise ValueError("--loudness needs the whole text at once; it cannot be combined with --stream")
    if args.loudness is not None and not -60.0 <= args.loudness <= -6.0:
        raise ValueError(f"--loudness must be between -60 and -6 dBFS, got {args.loudness}")
    t0 = time.perf_counter()
    tts = EmotionalTTS.load(
        args.model,
        vocoder=args.vocoder,
        backend=args.backend,
        threads=args.threads,
        precision=args.precision,
        device=str(device),
    )
    if args.steps is not None and tts.max_steps and args.steps > tts.max_steps:
        raise ValueError(
            f"--steps must be between 0 and {tts.max_steps} for this model's diffusion decoder, got {args.steps}"
        )
    if mode in ("batch", "grid"):
        return _run_table(args, tts, mode)
    return _run_speech(args, tts, mode, text, formats, t0)


def _run_speech(args, tts, mode: str, text: str | None, formats: list[str], t0: float) -> int:
    """One output file: a text (whole or streamed) or a dialogue script."""
    import numpy as np
    import soundfile as sf
    from tqdm import tqdm

    from emovox.batch import Turn, find_chapters, mark_chapters, read_script, speak_turns, write_timestamps
    from emovox.text.chunking import split_sentences
    from emovox.text.markup import opens_with_a_tag

    fmt, subtype = output_format(args.output)
    tts.check_emotion(args.emotion)
    markup = True if args.markup else False if args.no_markup else None
    opts = dict(speed=args.speed, ref_audio=args.ref_audio, markup=markup, seed=args.seed, steps=args.steps,
                mix_mode=args.mix_mode, guidance=args.guidance, noise_scale=args.noise_scale)  # fmt: skip
    guessed = False  # plain-looking text read as markup only because it starts with '<'
    if mode == "script":
        turns = read_script(args.script, tts, args.emotion)
        plain = " ".join(t.text for t in turns)
    else:
        turns = [Turn(text, args.emotion, args.speaker)]
        guessed = markup is None and text.lstrip().startswith("<") and not opens_with_a_tag(text)
        plain = "" if markup or (markup is None and text.lstrip().startswith("<")) else text
    bar = tqdm(total=len(split_sentences(plain)) or None, unit="sentence", dynamic_ncols=True,
               disable=args.no_progress or not (args.stream or mode == "script"))  # fmt: skip
    n = 0

    def on_segment(info, turn):
        bar.update(1)
        if args.explain:
            who = f"{turn.speaker}: " if mode == "script" else ""
            why = f"\n{'':10}{info.estimate.explain()}" if info.estimate is not None else ""
            bar.write(f"{info.start:8.2f}s  {who}[{info.emotion or 'reference clip'}] {info.text}{why}")

    with (
        _plain_text_hint(guessed),
        atomic_path(args.output, suffix=".part") as tmp,
        sf.SoundFile(tmp, "w", samplerate=tts.sample_rate, channels=1, subtype=subtype, format=fmt) as fh,
    ):

        def write(chunk):
            nonlocal n
            fh.write(np.clip(chunk, -1, 1))
            n += chunk.size

        entries = speak_turns(tts, turns, write, stream=args.stream, loudness=args.loudness,
                              pause_ms=args.pause if mode == "script" else 0, on_segment=on_segment, **opts)  # fmt: skip
    bar.close()
    seconds = n / tts.sample_rate
    if formats:
        chapters = mark_chapters(entries, find_chapters(plain)) if mode == "text" else []
        for path in write_timestamps(args.output, formats, entries, duration=seconds, sample_rate=tts.sample_rate,
                                     chapters=chapters):  # fmt: skip
            print(
                f"wrote {path}: {len(entries)} sentences"
                + (f", {len(chapters)} chapters" if chapters else "")
            )
    elapsed = time.perf_counter() - t0
    what = f"script {args.script}, {len(turns)} turns" if mode == "script" else f"emotion: {args.emotion}"
    print(f"wrote {args.output}: {seconds:.2f} s of audio in {elapsed:.2f} s ({what})")
    return 0


@contextlib.contextmanager
def _plain_text_hint(guessed: bool):
    """Text read as markup only because it starts with '<', not with a markup tag (e.g. "<3 I love you"): a markup
    error also says how to speak it as plain text."""
    from emovox.text.markup import MarkupError

    try:
        yield
    except MarkupError as exc:
        if not guessed:
            raise
        raise ValueError(
            f"{exc} (text starting with '<' is read as markup; --no-markup speaks it as plain text)"
        ) from exc


def _run_table(args, tts, mode: str) -> int:
    """--batch / --grid: one WAV per row and a manifest in --out-dir."""
    from emovox.batch import (
        grid_rows,
        parse_emotion_list,
        parse_intensities,
        parse_speakers,
        read_batch,
        read_sentences,
        run_batch,
    )

    if mode == "batch":
        rows = read_batch(args.batch)
    else:
        emotions = parse_emotion_list(args.emotions or "all", tts)
        rows = grid_rows(read_sentences(args.grid), emotions, parse_intensities(args.intensities),
                         parse_speakers(args.speakers, tts))  # fmt: skip
    tts.check_emotion(args.emotion)
    if args.speaker is not None:
        tts.speaker_index(args.speaker)
    markup = True if args.markup else False if args.no_markup else None
    options = dict(speed=args.speed, markup=markup, steps=args.steps, mix_mode=args.mix_mode,
                   guidance=args.guidance, noise_scale=args.noise_scale, loudness=args.loudness)  # fmt: skip
    result = run_batch(
        tts, rows, args.out_dir, defaults={"emotion": args.emotion, "speaker": args.speaker, "seed": args.seed},
        options=options, workers=args.workers, threads=args.threads, model=args.model, vocoder=args.vocoder,
        progress=not args.no_progress,
    )  # fmt: skip
    print(result.summary())
    return 1 if result.failures else 0

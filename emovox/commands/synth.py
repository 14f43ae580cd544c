"""Synthesise emotional speech to a WAV file.

Emotion specs (the same everywhere in emovox):
  happy              a label at its natural intensity
  happy:0.6          weaker (0 = neutral, 1 = as in the data, up to 2 = exaggerated)
  sad:0.7+angry:0.3  a mixture (weights are normalised)
  -happy             the opposite direction (polarity)
  adv:0.8,0.4,-0.5   arousal, dominance, valence in [-1, 1]
  va:0.6,0.3         valence, arousal in [-1, 1]

Markup (--markup, or text starting with '<'; --no-markup reads such text as plain) changes emotion inside one
request:
  <speak>Fine. <emotion name="sad" intensity="0.8">It is over.</emotion><break time="300ms"/></speak>
"""

from __future__ import annotations

import sys
import time


def add_arguments(parser):
    parser.add_argument("text", help="the text to speak; '-' reads it from standard input")
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
    parser.add_argument("--model", help="acoustic model checkpoint (default: the built-in voice)")
    parser.add_argument(
        "--vocoder", default="universal", help="universal | ljspeech | PATH (default universal)"
    )
    parser.add_argument("--stream", action="store_true", help="write sentence by sentence (long texts)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


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


def run(args):
    import numpy as np
    import soundfile as sf
    import torch

    from emovox.fileio import atomic_path
    from emovox.pipelines import EmotionalTTS

    fmt, subtype = output_format(args.output)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    if not args.emotion.strip():
        raise ValueError("--emotion is empty; give a spec such as 'happy', 'sad:0.5' or 'va:0.6,0.3'")
    if args.threads:
        torch.set_num_threads(args.threads)
    text = _read_text(args.text)
    if args.loudness is not None and args.stream:
        raise ValueError("--loudness needs the whole text at once; it cannot be combined with --stream")
    if args.loudness is not None and not -60.0 <= args.loudness <= -6.0:
        raise ValueError(f"--loudness must be between -60 and -6 dBFS, got {args.loudness}")
    t0 = time.perf_counter()
    tts = EmotionalTTS.load(args.model, vocoder=args.vocoder)
    opts = dict(speaker=args.speaker, speed=args.speed, ref_audio=args.ref_audio,
                markup=True if args.markup else False if args.no_markup else None, seed=args.seed, steps=args.steps,
                mix_mode=args.mix_mode, guidance=args.guidance, noise_scale=args.noise_scale)  # fmt: skip
    n = 0
    with (
        atomic_path(args.output, suffix=".part") as tmp,
        sf.SoundFile(tmp, "w", samplerate=tts.sample_rate, channels=1, subtype=subtype, format=fmt) as fh,
    ):
        if args.stream:
            for chunk in tts.stream(text, args.emotion, **opts):
                fh.write(np.clip(chunk, -1, 1))
                n += chunk.size
        else:
            audio, _ = tts.synthesize(text, args.emotion, loudness=args.loudness, **opts)
            fh.write(np.clip(audio, -1, 1))
            n = audio.size
    seconds = n / tts.sample_rate
    elapsed = time.perf_counter() - t0
    print(f"wrote {args.output}: {seconds:.2f} s of audio in {elapsed:.2f} s (emotion: {args.emotion})")
    return 0

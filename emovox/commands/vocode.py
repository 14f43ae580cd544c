"""Copy-synthesis: read audio, compute its mel, turn the mel back into audio with a HiFi-GAN vocoder.

Prints the mean absolute log-mel error between input and output (how much the vocoder changes the sound;
the pretrained "universal" vocoder gives 0.26-0.28 on LJ Speech clips) and the real-time factor.

examples:
  emovox vocode speech.wav -o resynth.wav
  emovox vocode --example -o example.wav --precision bf16
  emovox vocode speech.flac -o out.wav --vocoder runs/voc/model.safetensors
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

MAX_SECONDS = (
    3600.0  # mel and vocoder both work in windows: memory is the audio itself (about 0.6 GB an hour)
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", help="audio file (WAV, FLAC, OGG, MP3); omit with --example")
    parser.add_argument("-o", "--output", required=True, help="output WAV file")
    parser.add_argument(
        "--vocoder",
        default="universal",
        help="universal | ljspeech | a vocoder checkpoint (default universal)",
    )
    parser.add_argument("--example", action="store_true", help="use the bundled 4 s LJ Speech clip as input")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="compute precision (bf16: faster on CPUs with AVX-512 BF16)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def example_path() -> Path:
    """The bundled example clip."""
    return Path(str(resources.files("emovox") / "assets" / "example.flac"))


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from emovox.audio.io import load_audio, save_wav
    from emovox.audio.mel import mel_spectrogram_long
    from emovox.vocoder.inference import WINDOW_FRAMES, log_mel_l1, vocode_windows
    from emovox.vocoder.pretrained import load_vocoder, vocoder_mel_config

    if args.example == bool(args.input):
        raise ValueError("give exactly one of an input file or --example")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if Path(args.output).suffix.lower() != ".wav":
        raise ValueError(f"-o {args.output}: vocode writes 16-bit WAV; give a .wav file name")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but no CUDA GPU is available")
    source = example_path() if args.example else Path(args.input)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32

    mel_cfg = vocoder_mel_config(args.vocoder)
    audio, info = load_audio(source, mel_cfg.sample_rate, max_seconds=MAX_SECONDS)
    for warning in info.warnings:
        print(f"note: {source.name}: {warning}")
    model = load_vocoder(args.vocoder, device=device, dtype=dtype)
    mel = mel_spectrogram_long(audio, mel_cfg)
    t0 = time.perf_counter()
    out = np.zeros(mel.shape[1] * mel_cfg.hop_length, dtype=np.float32)
    n_windows = -(-mel.shape[1] // WINDOW_FRAMES)
    at = 0
    long_input = len(audio) > 60 * mel_cfg.sample_rate
    for piece in tqdm(vocode_windows(model, mel), total=n_windows, desc="vocode", unit="window",
                      disable=not long_input):  # fmt: skip
        out[at : at + piece.size] = piece
        at += piece.size
    seconds = time.perf_counter() - t0
    save_wav(args.output, out, mel_cfg.sample_rate)
    err = log_mel_l1(audio, out, mel_cfg)
    duration = len(out) / mel_cfg.sample_rate
    print(
        f"{source} -> {args.output}: {duration:.2f} s, log-mel L1 {err:.3f}, "
        f"RTF {seconds / duration:.3f} ({args.precision}, {torch.get_num_threads()} threads)"
    )
    return 0

"""Batched throughput of the whole text-to-speech pipeline (text -> FastSpeech2 [-> diffusion] -> HiFi-GAN), in
seconds of audio per second of wall time, at several batch sizes and precisions, on a CPU or a GPU.

Each batch holds different sentences in different emotions (the bank's labels in turn), padded to the longest;
only each item's own length counts as audio. The text front end runs once, outside the timing (it is per
request CPU work that a server overlaps with the GPU). Precision ``bf16`` runs the acoustic model, the
diffusion decoder and the vocoder under ``torch.autocast(bfloat16)``; ``fp32`` runs them in float32 (TF32 matrix
products off). Medians over ``--repeats`` timed runs after a warm-up; on a GPU every run ends with a
synchronisation. The vocoder alone is timed too, as the reference (HiFi-GAN V1 is most of the work).
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import time

import torch

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe you did that again, after everything we talked about.",
    "Please leave the package at the front door when you arrive.",
    "We finally made it to the top of the mountain this morning.",
    "Nobody told me the meeting had been moved to Thursday afternoon.",
    "Would you like a cup of tea before we start the lesson?",
    "The old house at the end of the street has been empty for years.",
    "Turn left at the second traffic light and keep going until the river.",
)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda"
    )
    parser.add_argument("--batch", default="1,64", help="comma-separated batch sizes (default 1,64)")
    parser.add_argument(
        "--precision", default="fp32,bf16", help="comma-separated: fp32 and/or bf16 (default both)"
    )
    parser.add_argument("--steps", default="0,4", help="diffusion steps per variant, 0 = none (default 0,4)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per setting (default 5)")
    parser.add_argument("--model", default=None, help="acoustic model (default: the built-in voice)")
    parser.add_argument(
        "--vocoder", default="universal", help="vocoder name or checkpoint (default universal)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{what} takes comma-separated integers, not {text!r}") from None
    return values


class Batch:
    """The inputs of one batch: padded token ids, lengths, speakers and emotion vectors."""

    def __init__(self, tts, size: int, device: torch.device) -> None:
        labels = tts.emotions or ["neutral"]
        pairs = list(itertools.islice(zip(itertools.cycle(SENTENCES), itertools.cycle(labels)), size))
        ids = [tts._tokens(text) for text, _ in pairs]
        width = max(map(len, ids))
        self.tokens = torch.tensor([x + [0] * (width - len(x)) for x in ids], device=device)
        self.lengths = torch.tensor([len(x) for x in ids], device=device)
        self.speakers = torch.zeros(size, dtype=torch.long, device=device)
        self.z = torch.stack([tts.emotion_vector(label) for _, label in pairs]).to(device)


class Pipeline:
    """One batched forward of the whole pipeline; returns seconds of audio produced."""

    def __init__(self, tts, device: torch.device) -> None:
        self.tts = tts
        self.device = device
        self.hop = tts.mel_config.hop_length
        self.sample_rate = tts.sample_rate

    @torch.inference_mode()
    def acoustic(self, batch: Batch, steps: int):
        from emovox.tts.diffusion import make_scheduler, sample

        tts = self.tts
        out = tts.model.infer(batch.tokens, batch.lengths, batch.speakers, batch.z)
        mel = out.mel
        if steps and tts.denoiser is not None:
            g = tts.model.speaker_embedding(batch.speakers)
            mel = sample(
                tts.denoiser, make_scheduler(tts.diffusion.sampler, tts.diffusion), out.mel,
                out.decoder_hidden.transpose(1, 2), g, out.y_mask.unsqueeze(1).to(out.mel.dtype),
                [(batch.z, 1.0)], n_steps=steps, k_shallow=tts.diffusion.k_shallow, mix_mode="noise",
                noise_scale=tts.diffusion.noise_scale, residual_std=tts.diffusion.residual_std,
            )  # fmt: skip
        return mel, out.mel_lengths

    @torch.inference_mode()
    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        generator = self.tts.vocoder.generator
        return generator.infer(mel.to(next(generator.parameters()).dtype))

    def __call__(self, batch: Batch, steps: int) -> float:
        mel, lengths = self.acoustic(batch, steps)
        self.vocode(mel.float())
        return float(lengths.sum()) * self.hop / self.sample_rate


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed(fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """(median seconds, audio seconds) of ``fn()`` over ``repeats`` runs after one warm-up."""
    audio = fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        audio = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), audio


def run(args) -> int:
    from emovox.pipelines import EmotionalTTS

    batches = _ints(args.batch, "--batch")
    steps_list = _ints(args.steps, "--steps")
    precisions = args.precision.split(",")
    if min(batches) < 1 or min(steps_list) < 0 or args.repeats < 1:
        raise ValueError("--batch and --repeats must be positive and --steps not negative")
    if not set(precisions) <= {"fp32", "bf16"}:
        raise ValueError(f"--precision takes fp32 and/or bf16, not {args.precision!r}")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device!r} is not a device; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but no CUDA GPU is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    tts = EmotionalTTS.load(args.model, vocoder=args.vocoder, device=str(device), precision="fp32")
    pipe = Pipeline(tts, device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"full pipeline throughput on {name}, torch {torch.__version__}; median of {args.repeats}")
    print("x RT = seconds of audio per second of wall time (text front end excluded, see --help)\n")
    header = f"{'batch':>5} {'precision':>9} {'diffusion':>9} {'audio s':>8} {'median s':>9} {'x RT':>9} {'vocoder x RT':>12}"
    print(header)
    print("-" * len(header))
    results = []
    for size in batches:
        batch = Batch(tts, size, device)
        for precision in precisions:
            for steps in steps_list:
                with _autocast(device, precision):
                    seconds, audio = timed(lambda b=batch, s=steps: pipe(b, s), device, args.repeats)
                    mel, _ = pipe.acoustic(batch, 0)
                    voc_seconds, _ = timed(lambda m=mel: pipe.vocode(m.float()), device, args.repeats)
                row = {
                    "batch": size, "precision": precision, "steps": steps, "audio_s": audio,
                    "seconds": seconds, "x_rt": audio / seconds, "vocoder_x_rt": audio / voc_seconds,
                }  # fmt: skip
                results.append(row)
                print(
                    f"{size:>5} {precision:>9} {steps or '-':>9} {audio:>8.1f} {seconds:>9.4f} "
                    f"{row['x_rt']:>9.1f} {row['vocoder_x_rt']:>12.1f}"
                )
    return 0

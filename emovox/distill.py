"""Training audio for distilling a vocoder on the acoustic model's own mels.

``python -m emovox.distill SENTENCES OUT --count N`` renders N utterances of the default voice (or
``--model``): random sentences, every speaker, every emotion of the bank at intensities 0.5-2, speaking rates
0.85-1.15, in batches on ``--device``, vocoded by the teacher (``--vocoder``, the universal V1 by default). The
WAVs are what ``emovox train vocoder --set teacher=universal --set data.path=OUT`` then learns from: the student
meets the mels it will vocode in synthesis, and (with ``teacher``) the targets are the teacher's renderings.
Levels are kept (no peak normalisation: emotions differ in loudness). Resumable: rendered files are skipped.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch

from emovox.fileio import atomic_path

INTENSITIES = (0.5, 1.0, 1.5, 2.0)


def plan(sentences: list[str], labels: list[str], speakers: int, count: int, seed: int) -> list[dict]:
    """``count`` reproducible render jobs: sentence, emotion label, intensity, speaker, rate."""
    rng = random.Random(seed)
    return [
        {
            "id": f"d{i:06d}",
            "text": rng.choice(sentences),
            "emotion": rng.choice(labels),
            "intensity": rng.choice(INTENSITIES),
            "speaker": rng.randrange(speakers),
            "rate": rng.uniform(0.85, 1.15),
        }
        for i in range(count)
    ]


@torch.inference_mode()
def render(tts, jobs: list[dict], out: Path, batch_size: int = 32) -> int:
    """Render ``jobs`` into ``out/ID.wav`` (16-bit PCM), skipping files that exist; returns the number written."""
    import soundfile as sf
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs if not (out / f"{j['id']}.wav").is_file()]
    device = tts.model.mel_mean.device
    hop = tts.mel_config.hop_length
    written = 0
    for start in tqdm(range(0, len(todo), batch_size), desc="rendering", unit="batch"):
        chunk = todo[start : start + batch_size]
        ids = [tts._tokens(j["text"]) for j in chunk]
        if not all(ids):
            raise ValueError(f"nothing to say in {chunk[ids.index([])]['text']!r}: give sentences with words")
        width = max(map(len, ids))
        tokens = torch.tensor([x + [0] * (width - len(x)) for x in ids], device=device)
        speakers = torch.tensor([j["speaker"] for j in chunk], device=device)
        z = torch.stack([tts.emotion_vector(f"{j['emotion']}:{j['intensity']}", j["speaker"]) for j in chunk])
        rates = torch.tensor([1.0 / j["rate"] for j in chunk], device=device)
        result = tts.model.infer(
            tokens, torch.tensor([len(x) for x in ids], device=device), speakers, z.to(device),
            length_scale=rates,
        )  # fmt: skip
        audio = tts.vocoder(result.mel)
        for job, wav, frames in zip(chunk, audio, result.mel_lengths.tolist()):
            wav = np.clip(wav[: frames * hop], -1.0, 1.0)
            with atomic_path(out / f"{job['id']}.wav") as tmp:
                sf.write(tmp, wav, tts.sample_rate, subtype="PCM_16", format="WAV")
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emovox.distill", description=__doc__)
    parser.add_argument(
        "sentences", help="text file: one sentence per line (an 'id|text' line uses the text)"
    )
    parser.add_argument("out", help="folder for the WAVs (created; existing files are kept)")
    parser.add_argument("--count", type=int, default=2000, help="utterances to render (default 2000)")
    parser.add_argument("--model", default=None, help="acoustic model (default: the built-in voice)")
    parser.add_argument("--vocoder", default="universal", help="the teacher vocoder (default universal)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="utterances per batch (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the plan (default 0)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.batch_size < 1:
        parser.error("--count and --batch-size must be positive")
    lines = Path(args.sentences).read_text(encoding="utf-8").splitlines()
    sentences = [line.split("|")[-1].strip() for line in lines if line.strip()]
    if not sentences:
        parser.error(f"{args.sentences} holds no sentences")
    from emovox.pipelines import EmotionalTTS

    tts = EmotionalTTS.load(args.model, vocoder=args.vocoder, device=args.device, precision="fp32")
    sentences = [s for s in sentences if tts._tokens(s)]  # lines of only punctuation or symbols are skipped
    if not sentences:
        parser.error(f"{args.sentences} holds no sentence with words")
    jobs = plan(sentences, tts.emotions or ["neutral"], len(tts.speakers), args.count, args.seed)
    written = render(tts, jobs, Path(args.out), args.batch_size)
    print(f"{written} rendered, {len(jobs) - written} already there, in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

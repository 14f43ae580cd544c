"""A tiny feature store (``items.jsonl`` + ``items/<id>.npz``) readable by ``open_acoustic_store``, for tests.

Mels are a smooth spectral envelope plus frame-to-frame detail (speech-like log-mel levels); tokens are random
ids of the default symbol table; F0 is voiced in the middle of each utterance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emovox.text.symbols import default_symbol_table


def make_tiny_store(
    root: Path, speakers: list[str], emotions: list[str], n: int = 4, split: str = "test", seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    n_symbols = len(default_symbol_table())
    (root / "items").mkdir(parents=True)
    records = []
    for i in range(n):
        utt, tokens = f"utt{i}", rng.integers(4, n_symbols, size=int(rng.integers(6, 10)))
        frames = 30 + 5 * i + int(rng.integers(0, 5))  # distinct lengths: tests can tell items apart
        band = np.linspace(0.0, 1.0, 80)[:, None]
        envelope = -4.0 - 4.0 * band + 0.5 * np.sin(6 * band + rng.normal())
        mel = (envelope + 0.6 * rng.normal(size=(80, frames))).astype(np.float32)
        voiced = np.zeros(frames, dtype=bool)
        voiced[5:-5] = True
        f0 = np.where(voiced, 120.0 + 20.0 * rng.random(frames), 0.0).astype(np.float32)
        energy = (1.0 + rng.random(frames)).astype(np.float32)
        np.savez(root / "items" / f"{utt}.npz", mel=mel, f0=f0, voiced=voiced, energy=energy, tokens=tokens)
        records.append({"utt_id": utt, "text": f"sentence {i}", "speaker": speakers[i % len(speakers)],
                        "emotion": emotions[i % len(emotions)], "split": split, "n_frames": frames})  # fmt: skip
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root

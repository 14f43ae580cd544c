"""A generated toy emotional corpus with exactly known durations, F0 and emotion, for acoustic-model tests.

Each symbol is rendered as a vowel-like harmonic complex whose formants depend on the symbol; the emotion sets
the F0 level and speaking rate from its arousal anchor (higher arousal: higher F0, faster, louder), so a
model that learns the corpus must reproduce those trends. Items are in the feature-store item format used by
``emovox.tts.training.collate_items``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from emovox.audio.mel import MelSpectrogram
from emovox.emotion.labels import adv_anchor

SR = 22050
HOP = 256
EMOTIONS = ["neutral", "happy", "sad", "angry"]


def _formants(symbol_id: int) -> tuple[float, float]:
    h = hashlib.md5(str(symbol_id).encode()).digest()
    return 300 + 500 * h[0] / 255, 900 + 1500 * h[1] / 255


def render(symbols, f0_hz: float, rate: float, loudness: float, rng: np.random.Generator):
    """Audio for a symbol sequence and the true frames per symbol."""
    durations = np.maximum(2, np.round(rng.integers(3, 7, size=len(symbols)) / rate)).astype(int)
    n = int(durations.sum()) * HOP
    t = np.arange(n) / SR
    f0 = f0_hz * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    audio = np.zeros(n)
    start = 0
    for sym, d in zip(symbols, durations):
        seg = slice(start * HOP, (start + d) * HOP)
        f1, f2 = _formants(int(sym))
        k = np.arange(1, int(7000 // f0_hz) + 1)
        freq = k * f0_hz
        amp = np.exp(-(((freq - f1) / 150) ** 2)) + 0.6 * np.exp(-(((freq - f2) / 200) ** 2)) + 0.02
        audio[seg] = amp @ np.sin(k[:, None] * phase[seg][None, :])
        start += d
    audio = loudness * 0.3 * audio / max(1e-6, np.abs(audio).max())
    return audio.astype(np.float32), durations


@dataclass
class ToyData:
    dataset: list
    lengths: list
    symbols: dict
    speakers: list
    emotions: list
    n_symbols: int
    durations: list


def make_toy_data(n_items: int = 48, n_symbols: int = 12, n_speakers: int = 2, seed: int = 0) -> ToyData:
    rng = np.random.default_rng(seed)
    mel_fn = MelSpectrogram()
    items, durs = [], []
    for i in range(n_items):
        emotion = EMOTIONS[i % len(EMOTIONS)]
        speaker = (i // len(EMOTIONS)) % n_speakers
        arousal = adv_anchor(emotion)[0]
        tokens = rng.integers(1, n_symbols, size=rng.integers(5, 10))
        f0 = (110 if speaker == 0 else 180) * 2 ** (0.7 * arousal)
        audio, d = render(tokens, f0, rate=1 + 0.3 * arousal, loudness=1 + 0.5 * arousal, rng=rng)
        y = torch.from_numpy(audio)
        mel = mel_fn(y)
        energy = torch.linalg.vector_norm(mel_fn.magnitude(y[None])[0], dim=0)
        t = mel.shape[1]
        items.append({
            "utt_id": f"toy{i:03d}", "tokens": torch.as_tensor(tokens), "mel": mel, "f0": torch.full((t,), float(f0)),
            "energy": energy, "speaker": speaker, "emotion": emotion, "adv": list(adv_anchor(emotion)),
        })  # fmt: skip
        durs.append(d)
    return ToyData(items, [it["mel"].shape[1] for it in items], {"toy": n_symbols}, [f"spk{s}" for s in range(n_speakers)],
                   list(EMOTIONS), n_symbols, durs)  # fmt: skip


def write_toy_corpus(root, sentences, n_speakers: int = 2, intensities=(0.5, 1.0), seed: int = 0):
    """Render a toy emotional corpus to ``root`` (WAVs + a generic ``metadata.csv``) from real sentences.

    Tokens come from the real text front end, so a model trained on it can be driven by ``emovox synth``.
    Word separators and punctuation are silent; other symbols are vowel-like.
    """
    from pathlib import Path

    import soundfile as sf

    from emovox.text.frontend import TextFrontend

    root = Path(root)
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    frontend = TextFrontend("en-us")
    silent = {frontend.tokenizer.table.id(s) for s in (" ", ",", ".", "!", "?", ";", ":")} - {None}
    rng = np.random.default_rng(seed)
    rows = ["audio|text|speaker|emotion|intensity|a|d|v"]
    k = 0
    for s in range(n_speakers):
        for i, text in enumerate(sentences):
            emotion = EMOTIONS[(i + s) % len(EMOTIONS)]
            intensity = 1.0 if emotion == "neutral" else intensities[(i // len(EMOTIONS)) % len(intensities)]
            a, d, v = (intensity * x for x in adv_anchor(emotion))
            ids = [t for t in frontend(text).ids[1:-1]]
            f0 = (110 if s == 0 else 190) * 2 ** (0.8 * a)
            audio, durs = render(ids, f0, rate=1 + 0.3 * a, loudness=1 + 0.4 * a, rng=rng)
            # silence the separator/punctuation symbols
            start = 0
            for t, dd in zip(ids, durs):
                if t in silent:
                    audio[start * HOP : (start + dd) * HOP] = 0.0
                start += dd
            name = f"wavs/toy{k:04d}.wav"
            sf.write(root / name, np.pad(audio, (2048, 2048)), SR, subtype="PCM_16")
            rows.append(f"{name}|{text}|spk{s}|{emotion}|{intensity:g}|{a:.3f}|{d:.3f}|{v:.3f}")
            k += 1
    (root / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "metadata.csv"

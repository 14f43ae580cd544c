"""Synthetic "voices" for the speaker-similarity and MOS tests: vowel sequences from a harmonic source (with
vibrato and declination) through three formant resonators. A voice is its F0 and its vocal-tract scale
(formants × scale), the two cues a speaker encoder relies on most; an "emotion" moves F0, loudness and tempo
but keeps the vocal tract."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.signal import lfilter

from emovox.audio.testsignals import harmonic_complex
from tests.eval_fakes import FakeTTS, requested_adv

SR = 22050
# Formants F1-F3 of five vowels, Hz (Peterson & Barney 1952, male averages).
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240), "e": (530, 1840, 2480),
          "o": (570, 840, 2410)}  # fmt: skip


def vowel_voice(
    f0: float,
    formant_scale: float = 1.0,
    vowels: str = "aiueoaeiou",
    amp: float = 0.1,
    syllable_s: float = 0.22,
    seed: int = 0,
    sample_rate: int = SR,
) -> np.ndarray:
    """Vowels separated by 30 ms gaps, RMS ``amp``, a -60 dBFS noise floor; float32 ``[T]``."""
    rng = np.random.default_rng(seed)
    pieces = []
    for v in vowels:
        n = int(syllable_s * sample_rate)
        t = np.arange(n) / sample_rate
        track = f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t)) * np.linspace(1.05, 0.95, n)
        source = harmonic_complex(track, sample_rate, rng, n_harmonics=40, tilt_db=-12.0)
        y = np.zeros(n)
        for k, formant in enumerate(VOWELS[v]):
            r = np.exp(-np.pi * (80 + 40 * k) / sample_rate)  # bandwidths 80, 120, 160 Hz
            theta = 2 * np.pi * formant * formant_scale / sample_rate
            y += lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], source) / (k + 1)
        pieces += [y * np.hanning(n) ** 0.3, np.zeros(int(0.03 * sample_rate))]
    x = np.concatenate(pieces)
    x = amp * x / np.sqrt(np.mean(x**2))
    return (x + rng.normal(scale=1e-3, size=x.size)).astype(np.float32)


class VoicesTTS(FakeTTS):
    """A fake multi-speaker TTS: each speaker a (F0, vocal-tract scale); arousal raises F0 by 2 semitones per unit
    and speeds up, valence sets loudness. Texts pick the vowel sequence."""

    VOICES: ClassVar[dict[str, tuple[float, float]]] = {"low": (110.0, 1.0), "high": (240.0, 1.3)}

    def __init__(self, emotions=("neutral", "happy", "sad"), speakers=("low", "high")):
        super().__init__(emotions, speakers)

    def synthesize(self, text, emotion="neutral", speaker=None, seed=None, **_):
        self.calls += 1
        a, _, v = requested_adv(emotion, self.emotions)
        f0, scale = self.VOICES[speaker or self.speakers[0]]
        vowels = "".join("aiueo"[len(w) % 5] for w in text.split()) * 3
        audio = vowel_voice(f0 * 2 ** (2 * a / 12), scale, vowels, amp=0.1 * 10 ** (6 * v / 20),
                            syllable_s=0.22 / (1 + 0.1 * a), seed=seed or 0)  # fmt: skip
        return audio, SR

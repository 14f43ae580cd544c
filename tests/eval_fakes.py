"""Small stand-ins for the evaluation tests: a tone "TTS" whose F0, loudness and tempo follow the requested
emotion's arousal/valence, a recogniser that reads arousal/valence back from F0 and loudness, a store of such
renderings, and a constant ASR."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emovox.emotion.labels import BASIC_EMOTIONS, adv_anchor
from emovox.emotion.spec import parse_emotion_spec
from emovox.eval.prosody import measure_prosody

SR = 22050
BASE_F0 = 160.0
ST_PER_AROUSAL = 12.0  # F0 rises one octave per unit of arousal
DB_PER_VALENCE = 12.0  # loudness rises 12 dB per unit of valence


def requested_adv(spec: str, known) -> tuple[float, float, float]:
    parsed = parse_emotion_spec(spec, known=known)
    if parsed.kind != "label":
        return parsed.adv
    adv = np.zeros(3)
    for c in parsed.components:
        adv += c.weight * c.intensity * np.asarray(adv_anchor(c.name))
    return tuple(float(x) for x in adv)


def _samples(seconds: float) -> int:
    return 8 * round(seconds * SR / 8)  # every segment a multiple of 8 samples: see FakeTTS.text_id


def tone_speech(n_syllables: int, f0: float, amp: float, syllable_s: float, tail: int = 0) -> np.ndarray:
    """Harmonic-complex syllables separated by short gaps, with 0.1 s (+ ``tail`` samples) of near-silence."""
    gap = np.zeros(_samples(0.04))
    t = np.arange(_samples(syllable_s)) / SR
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    tone = amp * tone / np.sqrt(np.mean(tone**2)) * np.hanning(t.size) ** 0.25
    pad = np.zeros(_samples(0.1))
    x = np.concatenate([pad, *([tone, gap] * n_syllables), pad, np.zeros(tail)])
    # A -60 dBFS noise floor (fixed seed) keeps int16 quantisation of the store's copy out of the log-mel.
    return (x + np.random.default_rng(0).normal(scale=1e-3, size=x.size)).astype(np.float32)


class FakeTTS:
    """Renders a text as 2 syllables per word; arousal sets F0 and tempo, valence the loudness."""

    def __init__(self, emotions=BASIC_EMOTIONS, speakers=("spk0",)):
        self.emotions = list(emotions)
        self.speakers = list(speakers)
        self.calls = 0
        self.texts: list[str] = []  # text k is rendered k samples longer than a multiple of 8 (OracleAsr)

    def describe(self):
        return {"speakers": self.speakers, "emotions": self.emotions,
                "adv_range": {"arousal": [-1.0, 1.0], "dominance": [-1.0, 1.0], "valence": [-1.0, 1.0]}}  # fmt: skip

    def synthesize(self, text, emotion="neutral", speaker=None, seed=None, **_):
        self.calls += 1
        a, _, v = requested_adv(emotion, self.emotions)
        f0 = BASE_F0 * 2.0 ** (ST_PER_AROUSAL * a / 12.0)
        amp = 0.05 * 10.0 ** (DB_PER_VALENCE * v / 20.0)
        if text not in self.texts:
            self.texts.append(text)
        tail = self.texts.index(text)
        assert tail < 8, "the fake voice tells at most 8 texts apart"
        return tone_speech(2 * len(text.split()), f0, amp, 0.16 / (1.0 + 0.3 * a), tail), SR


@dataclass
class FakeResult:
    probs: dict
    label: str
    adv: tuple


class FakeSER:
    """Arousal from F0, valence from loudness (calibrated on a neutral rendering); nearest anchor in A/V."""

    def __init__(self, emotions=BASIC_EMOTIONS, speakers=()):
        self.emotions = list(emotions)
        self.speakers = list(speakers)
        self.neutral_db = measure_prosody(tone_speech(6, BASE_F0, 0.05, 0.16), SR).energy_db

    def predict_batch(self, xs, sample_rate=None, batch_size=16):
        out = []
        for x in xs:
            p = measure_prosody(np.asarray(x), sample_rate or SR)
            a = 12.0 * math.log2(p.f0_hz / BASE_F0) / ST_PER_AROUSAL
            v = (p.energy_db - self.neutral_db) / DB_PER_VALENCE
            dist = np.array([math.hypot(a - adv_anchor(e)[0], v - adv_anchor(e)[2]) for e in self.emotions])
            w = np.exp(-20.0 * (dist - dist.min()))
            probs = w / w.sum()
            out.append(FakeResult(dict(zip(self.emotions, map(float, probs))),
                                  self.emotions[int(probs.argmax())], (a, 0.0, v)))  # fmt: skip
        return out


class ConstantAsr:
    name = "constant"

    def __init__(self, text: str = "the cat"):
        self.text = text

    def transcribe(self, audio, sample_rate):
        assert audio.ndim == 1 and sample_rate > 0
        return self.text


class OracleAsr:
    """Knows what the fake voice said from the clip's length mod 8: a perfect recogniser for its renderings."""

    name = "oracle"

    def __init__(self, tts: FakeTTS):
        self.tts = tts

    def transcribe(self, audio, sample_rate):
        return self.tts.texts[audio.size % 8]


SENTENCES = (
    "the cat sat on the mat",
    "a dog ran home",
    "it is very late now",
    "we saw the sea",
    "open the door",
)


def write_store(root: Path, tts: FakeTTS, sentences=SENTENCES, split="test") -> Path:
    """A feature store (items.jsonl, meta.json, items/*.npz with int16 audio) of the fake voice's renderings."""
    (root / "items").mkdir(parents=True)
    records = []
    for i, text in enumerate(sentences):
        for e in tts.emotions:
            audio, _ = tts.synthesize(text, e)
            utt = f"s{i}_{e}"
            np.savez(root / "items" / f"{utt}.npz", audio=np.round(audio * 32767).astype(np.int16))
            records.append({"utt_id": utt, "audio": f"{utt}.wav", "text": text, "speaker": tts.speakers[0],
                            "emotion": e, "intensity": 1.0, "adv": list(adv_anchor(e)), "split": split,
                            "n_frames": audio.size // 256})  # fmt: skip
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "meta.json").write_text(json.dumps({"mel": {"sample_rate": SR}}))
    return root


class NormalisedFakeSER(FakeSER):
    """:class:`FakeSER` behind the speaker-normalised recogniser's interface: it records the reference sets and
    the speaker labels it is given, and subtracts each speaker's reference arousal (as a speaker-mean recogniser
    would subtract the speaker's mean features)."""

    speaker_normalised = True
    normalise = "speaker-mean"
    min_group = 4
    type = "features"

    def __init__(self, emotions=BASIC_EMOTIONS):
        super().__init__(emotions)
        self.references: dict = {}
        self.seen_speakers: list = []

    def add_reference(self, speaker, xs, sample_rate=None):
        arousal = [r.adv[0] for r in super().predict_batch(xs, sample_rate)]
        self.references[speaker] = (len(xs), float(np.mean(arousal)))

    def predict_batch(self, xs, sample_rate=None, batch_size=16, speakers=None):
        assert speakers is not None and len(speakers) == len(xs), "speaker labels must come with the clips"
        self.seen_speakers += list(speakers)
        return super().predict_batch(xs, sample_rate, batch_size)

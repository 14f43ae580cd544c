"""Tiny pipelines for the HTTP API tests: the tiny acoustic model with a 16-channel random HiFi-GAN (no
download, milliseconds per sentence), a fake voice converter, and a TTS that blocks until released."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from emovox.audio.mel import MelConfig
from emovox.emotion.spec import parse_emotion_spec
from emovox.pipelines import EmotionalTTS, Vocoder
from emovox.vocoder.models.hifigan import Generator, GeneratorConfig
from tests.tiny_voice import make_tiny_voice


def tiny_tts(directory: Path) -> EmotionalTTS:
    """The tiny voice (speakers alice, bob; emotions neutral, happy, sad, angry) with a tiny vocoder."""
    import torch

    torch.manual_seed(0)
    generator = Generator(
        GeneratorConfig(
            upsample_initial_channel=16,
            resblock="2",
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 2]],
        )
    ).eval()
    return EmotionalTTS.load(
        make_tiny_voice(directory / "tiny.safetensors"), vocoder=Vocoder(generator, MelConfig())
    )


class FakeConverter:
    """The interface of ``emovox.conversion.VoiceConversion``: returns the input at half level."""

    sample_rate = 22050
    emotions = ("neutral", "happy", "sad", "angry")
    methods = ("direction", "diffusion")
    MAX_SECONDS = 20.0

    def __init__(self):
        self.calls: list[dict] = []

    def convert(self, audio, sample_rate, emotion="neutral", *, method=None, keep_timing=False, seed=None):
        if not isinstance(audio, np.ndarray) or audio.dtype != np.float32 or audio.ndim != 1:
            raise TypeError("audio must be float32 [T]")
        parse_emotion_spec(emotion, known=self.emotions)  # a ValueError naming the emotions, as the real one
        if float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) < 1e-4:
            raise ValueError("the recording is silent")
        self.calls.append(dict(sample_rate=sample_rate, emotion=emotion, method=method, keep_timing=keep_timing,
                               seed=seed, seconds=audio.size / sample_rate))  # fmt: skip
        return (0.5 * audio).astype(np.float32), sample_rate

    def estimate_emotion(self, audio, sample_rate):
        return {"emotion": "neutral", "probabilities": {"neutral": 1.0}}


class BlockingTTS:
    """Wraps a TTS; ``stream`` waits for :attr:`release` before its first chunk (overload and timeout tests)."""

    def __init__(self, tts: EmotionalTTS):
        self._tts = tts
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def __getattr__(self, name):
        return getattr(self._tts, name)

    def stream(self, *args, **kwargs):
        self.started.release()
        self.release.wait(30)
        yield from self._tts.stream(*args, **kwargs)

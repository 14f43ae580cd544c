"""Speaker similarity with a speaker-verification embedding: resemblyzer's bundled encoder, offline.

``resemblyzer`` (in the ``eval`` extra) ships the weights of a GE2E speaker encoder (3-layer LSTM over 40 mel
bands at 16 kHz, 256-d d-vector; Wan et al., "Generalized End-to-End Loss for Speaker Verification", ICASSP
2018) inside its wheel, so nothing is downloaded. A clip is resampled to 16 kHz (:func:`emovox.audio.io.resample`),
preprocessed the way the encoder was trained (volume raised to -30 dBFS, long silences cut by WebRTC VAD) and
embedded as the L2-normalised mean of its 1.6 s partial embeddings. The similarity of two clips is the cosine
of their embeddings; the encoder's ReLU output makes every embedding non-negative, so it lies in [0, 1], and
different speakers typically still score 0.5–0.8 — compare similarities with each other, not with 0.

Used by the evaluation report (emotional vs neutral renderings of one speaker, against pairs of speakers) and
by voice conversion (:func:`speaker_similarity`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SPEAKER_RATE",
    "SpeakerEncoder",
    "cosine_similarity",
    "load_speaker_encoder",
    "recorded_speaker_reference",
    "speaker_similarity",
    "unavailable_reason",
]

logger = logging.getLogger(__name__)

SPEAKER_RATE = 16000  # resemblyzer's encoder was trained on 16 kHz audio
MIN_VOICED_S = 0.5  # keep the untrimmed clip when the VAD leaves less than this (tones, very short clips)
INSTALL_HINT = "pip install resemblyzer (in emovox[eval])"


def unavailable_reason() -> str | None:
    """Why speaker similarity cannot be measured here (None when it can)."""
    try:
        _import_resemblyzer()
    except ImportError as exc:
        return str(exc)
    return None


def _import_resemblyzer():
    # resemblyzer imports scipy.ndimage.morphology and webrtcvad imports pkg_resources: both deprecated, not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            import resemblyzer
        except ImportError as exc:
            raise ImportError(f"speaker similarity needs resemblyzer ({exc}); {INSTALL_HINT}") from exc
    return resemblyzer


class SpeakerEncoder:
    """resemblyzer's ``VoiceEncoder`` behind a numpy interface that takes any sample rate."""

    def __init__(self, device: str = "cpu"):
        resemblyzer = _import_resemblyzer()
        with contextlib.redirect_stdout(None):  # it prints its loading time
            self.encoder = resemblyzer.VoiceEncoder(device, verbose=False)
        self.encoder.eval()
        self._resemblyzer = resemblyzer

    def preprocess(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``[T]`` at ``sample_rate`` -> ``[T']`` float32 at 16 kHz, volume-normalised, long silences cut."""
        from emovox.audio.io import resample

        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
            raise ValueError(f"speaker embedding needs finite mono audio [T]; got shape {x.shape}")
        x = resample(x, int(sample_rate), SPEAKER_RATE)
        if not np.any(x):
            raise ValueError("speaker embedding of a silent clip")
        x = self._resemblyzer.normalize_volume(x, -30.0, increase_only=True).astype(np.float32)
        voiced = self._resemblyzer.trim_long_silences(x)
        if voiced.size < MIN_VOICED_S * SPEAKER_RATE:
            logger.debug(
                "the VAD kept %.2f s of %.2f s: embedding the untrimmed clip",
                voiced.size / 16e3,
                x.size / 16e3,
            )
            return x
        return voiced.astype(np.float32, copy=False)

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The unit-norm speaker embedding ``[256]`` of one clip ``[T]``."""
        return self.encoder.embed_utterance(self.preprocess(audio, sample_rate)).astype(np.float32)

    def embed_batch(self, audios: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Embeddings ``[N, 256]`` of ``N`` clips (each embedded on its own: lengths differ)."""
        return (
            np.stack([self.embed(a, sample_rate) for a in audios])
            if audios
            else np.zeros((0, 256), np.float32)
        )


@functools.lru_cache(maxsize=2)
def load_speaker_encoder(device: str = "cpu") -> SpeakerEncoder:
    """The encoder, loaded once per device (about a second) and shared by the callers of this process."""
    return SpeakerEncoder(device)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of embeddings ``[..., D]`` and ``[..., D]`` (broadcast) -> ``[...]``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = np.sum(a * b, axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return num / np.maximum(den, 1e-12)


def speaker_similarity(
    a: np.ndarray, b: np.ndarray, sample_rate: int, encoder: SpeakerEncoder | None = None
) -> float:
    """Cosine similarity of the speaker embeddings of two clips ``[T]`` at ``sample_rate`` (≈1: same voice).

    Raises ImportError (with the install command) when resemblyzer is missing.
    """
    encoder = encoder or load_speaker_encoder()
    return float(cosine_similarity(encoder.embed(a, sample_rate), encoder.embed(b, sample_rate)))


def recorded_speaker_reference(records: Sequence[dict], encoder: SpeakerEncoder | None = None) -> dict:
    """The speaker check of the evaluation report, done on recordings of people: how far does acted emotion move
    a real speaker's voice, next to how alike two different real speakers are?

    ``records``: manifest rows (``audio``, ``speaker``, ``text``, ``emotion``, ``intensity``) of an acted corpus in
    which each speaker says the same texts neutrally and in other emotions (RAVDESS, CREMA-D, ESD). Each cell is
    one speaker's emotion at one intensity: the mean similarity of its takes to the mean embedding of the same
    speaker's neutral takes of the same text. Each pair of speakers: the similarity of their mean neutral
    embeddings of the same text, averaged over texts. Returns the cells' mean and lowest per intensity, the share
    of cells above the most similar pair, and the pairs' mean and max."""
    from emovox.audio.io import load_audio

    encoder = encoder or load_speaker_encoder()
    rows = [r for r in records if r.get("emotion") and r.get("speaker") is not None and r.get("text")]
    emb = {r["audio"]: encoder.embed(load_audio(r["audio"], SPEAKER_RATE)[0], SPEAKER_RATE) for r in rows}
    neutral: dict[tuple[str, str], np.ndarray] = {}
    for (spk, text), group in _group(rows, lambda r: (str(r["speaker"]), r["text"]), "neutral").items():
        neutral[spk, text] = np.mean([emb[r["audio"]] for r in group], axis=0)
    cells: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        key = (str(r["speaker"]), r["text"])
        if r["emotion"] == "neutral" or key not in neutral:
            continue
        level = "unmarked" if r.get("intensity") is None else f"{float(r['intensity']):g}"
        cells.setdefault((key[0], r["emotion"], level), []).append(
            float(cosine_similarity(emb[r["audio"]], neutral[key]))
        )
    speakers = sorted({spk for spk, _ in neutral})
    pairs = {}
    for i, a in enumerate(speakers):
        for b in speakers[i + 1 :]:
            shared = [t for (s, t) in neutral if s == a and (b, t) in neutral]
            if shared:
                pairs[f"{a} / {b}"] = float(
                    np.mean([cosine_similarity(neutral[a, t], neutral[b, t]) for t in shared])
                )
    if not cells or not pairs:
        raise ValueError(
            "the recordings need at least two speakers who say the same text neutrally and in another emotion"
        )
    highest = max(pairs.values())
    by_level: dict[str, list[float]] = {}
    for (_, _, level), values in cells.items():
        by_level.setdefault(level, []).append(float(np.mean(values)))
    different = {
        "mean": float(np.mean(list(pairs.values()))),
        "max": highest,
        "max_pair": max(pairs, key=pairs.get),
        "pairs": len(pairs),
    }
    same = {
        level: {
            "cells": len(v),
            "mean": float(np.mean(v)),
            "lowest": float(np.min(v)),
            "above_different_max": float(np.mean(np.asarray(v) > highest)),
        }
        for level, v in sorted(by_level.items())
    }
    return {"speakers": len(speakers), "clips": len(rows), "different": different, "same_speaker": same}


def _group(rows: Sequence[dict], key, emotion: str) -> dict:
    out: dict = {}
    for r in rows:
        if r["emotion"] == emotion:
            out.setdefault(key(r), []).append(r)
    return out

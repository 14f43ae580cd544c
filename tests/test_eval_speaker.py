"""Speaker similarity (resemblyzer's bundled encoder) on synthetic vowel voices."""

from __future__ import annotations

import numpy as np
import pytest

from emovox.audio.io import resample
from emovox.eval.speaker import cosine_similarity, unavailable_reason
from tests.speaker_fakes import SR, vowel_voice

REASON = unavailable_reason()
needs_resemblyzer = pytest.mark.skipif(REASON is not None, reason=f"speaker encoder unavailable: {REASON}")


def test_cosine_similarity_broadcasts():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(cosine_similarity(a, np.array([2.0, 0.0])), [1.0, np.sqrt(0.5)])
    assert cosine_similarity(np.zeros(3), np.ones(3)) == 0.0  # no division by zero


@pytest.fixture(scope="module")
def encoder():
    if REASON is not None:
        pytest.skip(f"speaker encoder unavailable: {REASON}")
    import torch

    from emovox.eval.speaker import load_speaker_encoder

    torch.set_num_threads(1)
    return load_speaker_encoder()


@needs_resemblyzer
def test_same_clip_is_the_same_voice_at_any_sample_rate(encoder):
    from emovox.eval.speaker import speaker_similarity

    x = vowel_voice(110.0)
    e = encoder.embed(x, SR)
    assert e.shape == (256,) and np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    assert speaker_similarity(x, x, SR, encoder=encoder) == pytest.approx(1.0, abs=1e-5)
    # The same clip given at 16 kHz embeds (almost) identically: resampling happens inside.
    assert cosine_similarity(e, encoder.embed(resample(x, SR, 16000), 16000)) > 0.99
    assert speaker_similarity(x, x, SR) == pytest.approx(1.0, abs=1e-5)  # the shared default encoder


@needs_resemblyzer
def test_another_voice_is_less_similar_than_the_same_voice_with_another_emotion(encoder):
    low = vowel_voice(110.0, 1.0, seed=1)
    low_aroused = vowel_voice(125.0, 1.0, vowels="eoaiuoiaue", amp=0.2, syllable_s=0.19, seed=2)
    high = vowel_voice(240.0, 1.3, seed=1)
    e_low, e_aroused, e_high = encoder.embed_batch([low, low_aroused, high], SR)
    same_voice = cosine_similarity(e_low, e_aroused)
    other_voice = cosine_similarity(e_low, e_high)
    assert same_voice > 0.85
    assert other_voice < same_voice - 0.15
    assert 0.0 <= other_voice <= 1.0  # ReLU embeddings: never negative


@needs_resemblyzer
def test_unusable_audio_is_refused(encoder):
    with pytest.raises(ValueError, match="mono"):
        encoder.embed(np.zeros((2, 100), np.float32), SR)
    with pytest.raises(ValueError, match="silent"):
        encoder.embed(np.zeros(SR, np.float32), SR)
    assert encoder.embed_batch([], SR).shape == (0, 256)


def test_missing_resemblyzer_is_a_clear_import_error(monkeypatch):
    import sys

    from emovox.eval import speaker

    monkeypatch.setitem(sys.modules, "resemblyzer", None)  # as if not installed
    reason = speaker.unavailable_reason()
    assert "resemblyzer" in reason and "pip install resemblyzer" in reason
    with pytest.raises(ImportError, match="pip install resemblyzer"):
        speaker.SpeakerEncoder()


class _CodedEncoder:
    """Embeds a clip as the vector its file was written for (the clip's sample count names it)."""

    def __init__(self, vectors):
        self.vectors = vectors

    def embed(self, audio, sample_rate):
        return np.asarray(self.vectors[audio.size], dtype=np.float64)


def _recordings(tmp_path, takes):
    """Write one short WAV per take (its length is its code) and return manifest rows and the code table."""
    import soundfile as sf

    rows, vectors = [], {}
    for i, (speaker, text, emotion, intensity, vector) in enumerate(takes):
        n = 1600 + 16 * i
        path = tmp_path / f"take{i}.wav"
        sf.write(path, np.full(n, 0.01, np.float32), 16000)
        vectors[n] = vector
        rows.append({"audio": str(path), "speaker": speaker, "text": text, "emotion": emotion,
                     "intensity": intensity})  # fmt: skip
    return rows, vectors


def test_recorded_speaker_reference_compares_acted_emotion_with_other_people(tmp_path):
    from emovox.eval.speaker import recorded_speaker_reference

    a, b = [1.0, 0.0, 0.0], [0.8, 0.6, 0.0]  # two people, cosine 0.8
    a_moved = [0.9, 0.0, float(np.sqrt(1 - 0.81))]  # A in anger: cosine 0.9 to A's neutral
    takes = [("A", t, "neutral", None, a) for t in ("one", "two")]
    takes += [("B", t, "neutral", None, b) for t in ("one", "two")]
    takes += [("A", "one", "angry", 1.0, a_moved), ("A", "two", "angry", 0.5, a),
              ("B", "one", "angry", 1.0, b), ("B", "two", "sad", 1.0, b)]  # fmt: skip
    rows, vectors = _recordings(tmp_path, takes)
    ref = recorded_speaker_reference(rows, encoder=_CodedEncoder(vectors))
    assert ref["speakers"] == 2 and ref["clips"] == len(takes)
    assert ref["different"]["max"] == pytest.approx(0.8) and ref["different"]["max_pair"] == "A / B"
    strong = ref["same_speaker"]["1"]  # cells: A angry 0.9, B angry 1.0, B sad 1.0
    assert strong["cells"] == 3 and strong["lowest"] == pytest.approx(0.9)
    assert strong["mean"] == pytest.approx((0.9 + 1.0 + 1.0) / 3) and strong["above_different_max"] == 1.0
    assert ref["same_speaker"]["0.5"]["lowest"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two speakers"):
        recorded_speaker_reference(rows[:2] + rows[4:5], encoder=_CodedEncoder(vectors))


def test_the_report_shows_the_recorded_people_beside_the_voice():
    from emovox.eval.report import _md_recorded_people

    ref = {"manifest": "manifest.jsonl", "speakers": 12, "clips": 720,
           "different": {"mean": 0.56, "max": 0.79, "max_pair": "03 / 07", "pairs": 66},
           "same_speaker": {"0.5": {"cells": 84, "mean": 0.76, "lowest": 0.63, "above_different_max": 0.33}}}  # fmt: skip
    text = "\n".join(_md_recorded_people(ref))
    assert "12 speakers, 720 clips" in text and "max 0.79 (03 / 07)" in text
    assert "| 0.5 | 84 | 0.76 | 0.63 | 0.33 |" in text
    assert _md_recorded_people(None) == []

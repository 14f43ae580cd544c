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

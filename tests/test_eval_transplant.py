"""`emovox eval transplant` on stand-ins: tone "takes" and a recogniser that hears only F0 (arousal) and loudness
(valence). For such a recogniser the emotion lives entirely in the prosody: the emotional take's prosody on the
neutral spectrum must be heard as the emotional take is, and its spectrum on the neutral prosody as neutral."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pyworld", reason="the WORLD hybrids need pyworld (the evc / dev extra)")

from emovox.cli import main
from emovox.emotion.labels import adv_anchor
from emovox.eval.transplant import HYBRIDS, band_log_energies, evaluate_transplant, render_markdown
from tests.eval_fakes import BASE_F0, DB_PER_VALENCE, SR, NormalisedFakeSER, tone_speech

EMOTIONS = ["neutral", "happy", "sad", "angry"]


def _take(emotion: str, syllable_s: float) -> np.ndarray:
    a, _, v = adv_anchor(emotion) if emotion != "neutral" else (0.0, 0.0, 0.0)
    return tone_speech(6, BASE_F0 * 2.0**a, 0.05 * 10.0 ** (DB_PER_VALENCE * v / 20.0), syllable_s)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("takes")
    out = []
    for emotion, syl in (("neutral", 0.16), ("happy", 0.13), ("sad", 0.2)):
        path = root / f"{emotion}.wav"
        sf.write(path, _take(emotion, syl), SR)
        out.append({"utt_id": emotion, "audio": str(path), "text": "one sentence", "speaker": "s1",
                    "emotion": emotion})  # fmt: skip
    # Another text by the same speaker with no neutral take: no pair.
    out.append(dict(out[1], utt_id="lonely", text="another sentence"))
    return out


def test_prosody_carries_the_emotion_for_a_prosody_only_recogniser(records, tmp_path):
    ser = NormalisedFakeSER(emotions=EMOTIONS)
    res = evaluate_transplant(records, ser, progress=False)
    assert res["pairs"] == 2 and res["speakers"] == ["s1"] and set(ser.references) == {"s1"}
    for emotion in ("happy", "sad"):
        row = res["table"][emotion]
        assert row["E resynthesised"]["accuracy"] == 1.0
        assert row["E prosody on N"]["accuracy"] == 1.0  # F0 and power came across
        assert (
            row["E spectrum on N"]["p_target"] < 0.3
        )  # the spectrum alone carries nothing for this recogniser
        assert row["N resynthesised"]["p_target"] < 0.3
    assert set(res["table"]["all"]) == set(HYBRIDS)
    assert "| happy | 1 |" in render_markdown(res)


def test_cli_writes_the_report_and_refuses_a_corpus_without_pairs(records, tmp_path, monkeypatch, capsys):
    import emovox.ser.infer as infer

    monkeypatch.setattr(
        infer.EmotionRecognizer, "load", staticmethod(lambda path: NormalisedFakeSER(EMOTIONS))
    )
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    ser = tmp_path / "ser.safetensors"
    ser.write_bytes(b"stand-in")
    assert main(["eval", "transplant", "--manifest", str(manifest), "--ser", str(ser), "--out",
                 str(tmp_path / "rep"), "--no-progress"]) == 0  # fmt: skip
    assert json.loads((tmp_path / "rep" / "transplant.json").read_text())["pairs"] == 2
    assert main(["eval", "transplant", "--manifest", str(manifest), "--ser", str(ser), "--out",
                 str(tmp_path / "rep2"), "--speakers", "nobody", "--no-progress"]) == 1  # fmt: skip
    assert "no (neutral, emotional) pair" in capsys.readouterr().err
    assert not (tmp_path / "rep2").exists()


def test_band_energies_follow_shape_not_level():
    rng = np.random.default_rng(0)
    sp = rng.uniform(0.1, 1.0, (5, 513))
    a, b = band_log_energies(sp, SR), band_log_energies(sp * 100.0, SR)
    assert a.shape == (5, 40) and np.allclose(a, b)

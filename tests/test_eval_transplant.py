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
from emovox.eval.transplant import (
    HYBRIDS,
    band_log_energies,
    evaluate_transplant,
    expand_contrast,
    render_markdown,
    smooth_envelope,
)
from tests.eval_fakes import BASE_F0, DB_PER_VALENCE, SR, FakeResult, NormalisedFakeSER, tone_speech

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
        # Spectral changes on E's prosody leave what this recogniser hears alone.
        assert row["+ E per-frame EQ"]["accuracy"] == 1.0
        assert row["+ E mean EQ, N contrast x2"]["accuracy"] == 1.0
    assert set(res["table"]["all"]) == set(HYBRIDS)
    assert "| happy | 1 |" in render_markdown(res)


class SadSER(NormalisedFakeSER):
    """A view that hears every clip as sad."""

    def predict_batch(self, xs, sample_rate=None, batch_size=16, speakers=None):
        probs = {e: float(e == "sad") for e in self.emotions}
        return [FakeResult(probs, "sad", (0.0, 0.0, 0.0)) for _ in xs]


def test_each_view_is_scored_on_the_same_hybrids_and_gets_its_own_table(records):
    views = {"prosody": NormalisedFakeSER(emotions=EMOTIONS), "sad": SadSER(emotions=EMOTIONS)}
    res = evaluate_transplant(records, views, progress=False)
    assert list(res["views"]) == ["prosody", "sad"] and res["table"] is res["views"]["prosody"]
    assert res["views"]["prosody"]["happy"]["E prosody on N"]["accuracy"] == 1.0
    assert res["views"]["sad"]["happy"]["E prosody on N"]["accuracy"] == 0.0
    assert res["views"]["sad"]["sad"]["N resynthesised"]["accuracy"] == 1.0
    assert all(set(v.references) == {"s1"} for v in views.values())  # both got the speaker's reference set
    text = render_markdown(res)
    assert "## prosody" in text and "## sad" in text and text.count("| happy | 1 |") == 2
    with pytest.raises(ValueError, match="no recogniser"):
        evaluate_transplant(records, {}, progress=False)


def _envelopes(frames: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Smooth power envelopes whose one formant moves from frame to frame, and a voicing mask."""
    freqs = np.linspace(0.0, SR / 2.0, 513)
    centres = np.linspace(500.0, 2500.0, frames)
    sp = np.stack([1e-3 * np.exp(-0.5 * ((freqs - c) / 300.0) ** 2) + 1e-6 for c in centres])
    voiced = np.ones(frames, dtype=bool)
    voiced[[0, -1]] = False
    return sp, voiced


def test_expand_contrast_moves_voiced_frames_away_from_the_average_and_keeps_their_power():
    sp, voiced = _envelopes()
    assert np.allclose(expand_contrast(sp, voiced, SR, 1.0), sp)
    out = expand_contrast(sp, voiced, SR, 2.0)
    assert np.allclose(out.sum(axis=1), sp.sum(axis=1))  # each frame's power is kept
    assert np.allclose(out[~voiced], sp[~voiced], rtol=1e-12, atol=0)  # unvoiced frames are left alone
    log_in, log_out = np.log(smooth_envelope(sp, SR)), np.log(smooth_envelope(out, SR))
    spread_in = (log_in[voiced] - log_in[voiced].mean(axis=0)).std()
    spread_out = (log_out[voiced] - log_out[voiced].mean(axis=0)).std()
    assert 1.6 < spread_out / spread_in < 2.4  # twice the articulation, up to the smoothing and level
    flatter = expand_contrast(sp, voiced, SR, 0.5)
    log_flat = np.log(smooth_envelope(flatter, SR))
    assert (log_flat[voiced] - log_flat[voiced].mean(axis=0)).std() < 0.7 * spread_in
    assert np.array_equal(expand_contrast(sp, np.zeros(len(sp), dtype=bool), SR, 2.0), sp)


def test_smooth_envelope_keeps_formants_and_drops_fine_ripple():
    sp, _ = _envelopes(3)
    ripple = sp * (1.0 + 0.5 * np.cos(np.arange(513) * np.pi / 2.0))  # a 4-bin ripple
    smooth = smooth_envelope(ripple, SR)
    assert smooth.shape == sp.shape
    peak = np.argmax(sp, axis=1)
    assert np.all(np.abs(np.argmax(smooth, axis=1) - peak) <= 12)  # the formant stays where it was
    wiggle = np.abs(np.diff(np.log(smooth), 2, axis=1)).mean()
    assert wiggle < 0.1 * np.abs(np.diff(np.log(ripple), 2, axis=1)).mean()


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
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"stand-in")
    assert main(["eval", "transplant", "--manifest", str(manifest), "--ser", str(ser), str(other), "--out",
                 str(tmp_path / "rep3"), "--no-progress"]) == 0  # fmt: skip
    assert list(json.loads((tmp_path / "rep3" / "transplant.json").read_text())["views"]) == [
        str(ser),
        str(other),
    ]
    assert main(["eval", "transplant", "--manifest", str(manifest), "--ser", str(ser), str(ser), "--out",
                 str(tmp_path / "rep4"), "--no-progress"]) == 1  # fmt: skip
    assert "each recogniser may be given once" in capsys.readouterr().err
    assert main(["eval", "transplant", "--manifest", str(manifest), "--ser", str(ser), str(tmp_path / "none"),
                 "--out", str(tmp_path / "rep5"), "--no-progress"]) == 1  # fmt: skip
    assert "recogniser checkpoint not found" in capsys.readouterr().err


def test_band_energies_follow_shape_not_level():
    rng = np.random.default_rng(0)
    sp = rng.uniform(0.1, 1.0, (5, 513))
    a, b = band_log_energies(sp, SR), band_log_energies(sp * 100.0, SR)
    assert a.shape == (5, 40) and np.allclose(a, b)

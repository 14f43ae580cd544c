"""Perceptual ADV axes (emovox.adv_calibration, `emovox calibrate-adv`)."""

from __future__ import annotations

import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emovox.adv_calibration import (
    SWEEP,
    AdvCalibration,
    calibrate_adv,
    fit_sensitivity,
    perceptual_columns,
    probe_specs,
    sweep_r,
)
from emovox.cli import main as cli
from emovox.emotion.spec import parse_emotion_spec
from tests.evc_fakes import EMOTIONS, Z, tiny_bank

J_TRUE = np.array([[1.0, 0.5, 0.0, 0.2], [0.0, 0.3, 0.8, 0.0], [-0.6, 0.0, 0.4, 0.9]])
"""Perceived (arousal, dominance, valence) per unit of z: valence rises with z[3] and falls with z[0]."""


def test_fit_sensitivity_recovers_a_linear_rater():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, Z))
    perceived = z @ J_TRUE.T + 0.01 * rng.normal(size=(200, 3))
    np.testing.assert_allclose(fit_sensitivity(z, perceived, ridge=1e-3), J_TRUE, atol=0.01)
    with pytest.raises(ValueError, match=r"need z \[N, Dz\] and perceived \[N, 3\]"):
        fit_sensitivity(z, perceived[:, :2])
    with pytest.raises(ValueError, match="ridge"):
        fit_sensitivity(z, perceived, ridge=-1.0)


def test_a_perceptual_column_moves_its_axis_alone_and_keeps_the_others():
    old = tiny_bank().adv_map
    new = perceptual_columns(J_TRUE, old, ["valence"], scale=1.5)
    torch.testing.assert_close(new[:, :2], old[:, :2])  # arousal and dominance as fitted
    moved = J_TRUE @ new[:, 2].numpy().astype(np.float64)
    assert moved[2] > 0  # more valence for a higher requested valence
    np.testing.assert_allclose(moved[:2], 0.0, atol=1e-6)  # and no perceived arousal or dominance change
    assert float(new[:, 2].norm()) == pytest.approx(1.5 * float(old[:, 2].norm()), rel=1e-5)
    # The old valence column moved perceived arousal too: that is what the calibration removes.
    assert abs(float((J_TRUE @ old[:, 2].numpy())[0])) > 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"axes": ["pleasure"]}, "axes must be among"),
        ({"axes": []}, "axes must be among"),
        ({"axes": ["valence"], "scale": 0.0}, "scale must be"),
        ({"axes": ["valence"], "scale": float("nan")}, "scale must be"),
    ],
)
def test_perceptual_columns_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        perceptual_columns(J_TRUE, tiny_bank().adv_map, **kwargs)


def test_a_rater_that_hears_one_axis_only_cannot_calibrate_the_others():
    flat = np.zeros((3, Z))
    flat[0, 0] = 1.0
    with pytest.raises(ValueError, match="do not separate the three axes"):
        perceptual_columns(flat, tiny_bank().adv_map, ["valence"])


class _CodeTTS:
    """A stand-in voice whose 'audio' carries the emotion vector it was asked for (first Z samples)."""

    sample_rate = 16000
    speakers = ("alice", "bob")

    def __init__(self):
        self.bank = tiny_bank()
        self.emotions = list(EMOTIONS)

    def speaker_index(self, speaker):
        return 0 if speaker is None else self.speakers.index(speaker)

    def emotion_vector(self, spec, speaker=0):
        return self.bank.resolve(parse_emotion_spec(spec, known=self.emotions))

    def synthesize(self, text, emotion="neutral", speaker=None, seed=None):
        z = (self.emotion_vector(emotion) - self.bank.center).numpy()
        return np.concatenate([z, np.full(len(text), 0.01)]).astype(np.float32), self.sample_rate


class _CodeRater:
    """A speaker-normalised 'recogniser' that rates ADV as J_TRUE @ z, read from the code in the audio."""

    speaker_normalised = True

    def __init__(self):
        self.references = {}

    def add_reference(self, speaker, clips, rate):
        assert len(clips) >= 8 and rate == _CodeTTS.sample_rate
        self.references[speaker] = len(clips)

    def predict_batch(self, clips, rate, speakers):
        assert len(speakers) == len(clips) and set(speakers) <= set(self.references)
        return [SimpleNamespace(adv=tuple(J_TRUE @ c[:Z].astype(np.float64))) for c in clips]


def test_calibrate_adv_measures_the_voice_and_replaces_the_valence_column():
    tts, rater = _CodeTTS(), _CodeRater()
    seen = []
    cal = calibrate_adv(
        tts, rater, sentences=["One two three.", "Four five six."], ridge=1e-4, recogniser_name="rater",
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert set(rater.references) == {"alice", "bob"}  # every probed speaker got its reference set first
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == list(range(1, len(seen) + 1))
    assert cal.clips == 2 * 2 * len(probe_specs(EMOTIONS))
    # A linear rater follows every column that moves valence the right way perfectly.
    assert set(cal.held_out_r) == {"fitted", "x0.75", "x1", "x1.5"}
    assert all(r == pytest.approx(1.0) for k, r in cal.held_out_r.items() if k != "fitted")
    assert cal.scale == 0.75  # ties go to the first candidate
    assert cal.held_out_r["fitted"] == pytest.approx(-1.0) and cal.improved  # the old column ran backwards
    assert min(cal.fit_r) > 0.999  # the rater is exactly linear in z
    moved = J_TRUE @ cal.adv_map[:, 2].numpy().astype(np.float64)
    assert moved[2] > 0 and np.abs(moved[:2]).max() < 1e-3 * moved[2]
    torch.testing.assert_close(cal.adv_map[:, :2], tts.bank.adv_map[:, :2])
    assert cal.to_meta()["axes"] == ["valence"] and cal.to_meta()["recogniser"] == "rater"
    with pytest.raises(ValueError, match="unknown speaker"):
        calibrate_adv(tts, rater, speakers=["carol"])
    with pytest.raises(ValueError, match="at least two non-empty probe sentences"):
        calibrate_adv(tts, rater, sentences=["Only one."])
    with pytest.raises(ValueError, match="scales must be"):
        calibrate_adv(tts, rater, scales=[0.0])
    with pytest.raises(ValueError, match="held-out sentence"):
        calibrate_adv(tts, rater, held_out_sentences=[" "])


def test_sweep_r_centres_each_sentence_and_speaker():
    # Two groups at different perceived levels: pooled they would blur, centred they follow exactly.
    requested = [-1, 0, 1, -1, 0, 1]
    perceived = [0.0, 0.1, 0.2, 5.0, 5.1, 5.2]
    assert sweep_r(requested, perceived, ["a"] * 3 + ["b"] * 3) == pytest.approx(1.0)
    assert sweep_r(requested, perceived, ["a"] * 6) < 0.5
    assert np.isnan(sweep_r(requested, [1.0] * 6, ["a"] * 6))
    with pytest.raises(ValueError, match="one length"):
        sweep_r([0, 1], [0.0], ["a", "a"])


class _FoldingRater(_CodeRater):
    """Linear near the probe points, but hears valence backwards once z is further out than ``radius``: the voice
    leaving what it learned far along a long new column."""

    def __init__(self, radius):
        super().__init__()
        self.radius = radius

    def predict_batch(self, clips, rate, speakers):
        out = super().predict_batch(clips, rate, speakers)
        for c, r in zip(clips, out):
            if np.linalg.norm(c[:Z]) > self.radius:
                r.adv = (r.adv[0], r.adv[1], -r.adv[2])
        return out


def test_the_held_out_sweep_rejects_a_column_that_overshoots():
    tts = _CodeTTS()
    old = float(tts.bank.adv_map[:, 2].norm())
    cal = calibrate_adv(
        tts, _FoldingRater(radius=1.5 * old), sentences=["One two three.", "Four five six."], ridge=1e-4,
        scales=(3.0, 1.0), held_out_sentences=["Seven eight."],
    )  # fmt: skip
    # x3 reaches past the radius at |v| = 1 (3x the old length) but not at 0.5 (1.5x): the ends fold back.
    assert cal.held_out_r["x3"] < 0.9 and cal.held_out_r["x1"] == pytest.approx(1.0)
    assert cal.scale == 1.0
    assert float(cal.adv_map[:, 2].norm()) == pytest.approx(old, rel=1e-5)
    assert len(SWEEP) == 5 and 0.0 in SWEEP


class _LengthRater:
    """Rates real audio by its length and a checksum of its samples (the tiny voice's audio differs in little else):
    enough to run the real pipeline, command and checkpoint writing end to end."""

    speaker_normalised = False

    def predict_batch(self, clips, rate, speakers):
        out = []
        for c in clips:
            seconds = c.size / rate
            code = zlib.crc32(np.ascontiguousarray(c).tobytes()) / 2**32
            out.append(SimpleNamespace(adv=(seconds, seconds**2, code)))
        return out


def test_calibrate_adv_command_writes_a_voice_that_loads(tmp_path, monkeypatch):
    """The real pipeline end to end (tiny voice, a stand-in recogniser): only the valence column changes, the
    calibration is recorded, and the result loads and speaks."""
    import emovox.ser.infer as infer
    from emovox.checkpoint import load_checkpoint
    from emovox.pipelines import EmotionalTTS
    from tests.server_fakes import tiny_tts

    tts = tiny_tts(tmp_path)
    source = tmp_path / "tiny.safetensors"
    ser = tmp_path / "ser.safetensors"
    ser.write_bytes(b"stand-in; loading is patched")
    monkeypatch.setattr(infer.EmotionRecognizer, "load", classmethod(lambda cls, path: _LengthRater()))
    monkeypatch.setattr(EmotionalTTS, "load", classmethod(lambda cls, path=None, **kw: tts))
    out = tmp_path / "calibrated.safetensors"
    assert (
        cli(["calibrate-adv", str(source), "--ser", str(ser), "-o", str(out), "--no-progress", "--force"])
        == 0
    )
    before = load_checkpoint(source, kind="acoustic")
    after = load_checkpoint(out, kind="acoustic")
    torch.testing.assert_close(after.tensors["bank.adv_map"][:, :2], before.tensors["bank.adv_map"][:, :2])
    assert not torch.allclose(after.tensors["bank.adv_map"][:, 2], before.tensors["bank.adv_map"][:, 2])
    assert after.meta["bank"]["adv_calibration"]["axes"] == ["valence"]
    monkeypatch.undo()
    loaded = EmotionalTTS.load(out, vocoder=tts.vocoder)
    audio, _ = loaded.synthesize("Hello there.", emotion="adv:0,0,0.8", seed=0)
    assert np.isfinite(audio).all() and audio.size > 0


def test_calibrate_adv_command_refuses_bad_paths(tmp_path, capsys):
    assert cli(["calibrate-adv", "default", "--ser", str(tmp_path / "none.safetensors"), "-o",
                str(tmp_path / "x.safetensors")]) != 0  # fmt: skip
    assert "recogniser checkpoint not found" in capsys.readouterr().err
    assert cli(["calibrate-adv", "default", "--ser", "x", "-o", str(tmp_path / "x.wav")]) != 0
    assert "must name a .safetensors file" in capsys.readouterr().err


def test_calibrate_adv_command_writes_nothing_when_no_candidate_is_better(tmp_path, monkeypatch, capsys):
    import emovox.adv_calibration as calibration
    from emovox.pipelines import EmotionalTTS
    from tests.server_fakes import tiny_tts

    tts = tiny_tts(tmp_path)
    ser = tmp_path / "ser.safetensors"
    ser.write_bytes(b"stand-in; loading is patched")
    import emovox.ser.infer as infer

    monkeypatch.setattr(infer.EmotionRecognizer, "load", classmethod(lambda cls, path: _LengthRater()))
    monkeypatch.setattr(EmotionalTTS, "load", classmethod(lambda cls, path=None, **kw: tts))
    worse = AdvCalibration(tts.bank.adv_map * 2, ("valence",), 2.0, (0.9, 0.8, 0.7), 10, "ser",
                           {"fitted": 0.47, "x2": -0.11}, improved=False)  # fmt: skip
    monkeypatch.setattr(calibration, "calibrate_adv", lambda *a, **kw: worse)
    out = tmp_path / "calibrated.safetensors"
    assert cli(["calibrate-adv", str(tmp_path / "tiny.safetensors"), "--ser", str(ser), "-o", str(out),
                "--no-progress"]) == 1  # fmt: skip
    captured = capsys.readouterr()
    assert "fitted 0.47, x2 -0.11" in captured.out and "nothing written" in captured.err
    assert not out.exists()

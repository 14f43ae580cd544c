"""Perceptual intensity curves (emovox.intensity_calibration, `emovox calibrate-intensity`)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emovox.cli import main as cli
from emovox.emotion.bank import EmotionBank
from emovox.intensity_calibration import (
    INTENSITIES,
    WHOLE_CURVE_INTENSITIES,
    calibrate_intensity,
    cues_keep_moving,
    fit_gradient,
    grouped_rho,
    steered_step,
)
from tests.evc_fakes import EMOTIONS, Z, tiny_bank
from tests.test_adv_calibration import _CodeTTS

ANGRY = EMOTIONS.index("angry")
TARGET = 2.0 * torch.eye(Z)[2]  # "more angry" lies further along angry's own axis


def curved_bank() -> EmotionBank:
    """tiny_bank with intensity curves; angry's turns sideways (into the free last axis) beyond 1, as the shipped
    voice's angry turns towards fear."""
    bank = tiny_bank()
    knots = torch.tensor([0.5, 1.0, 1.5, 2.0])
    curves = knots[None, :, None] * bank.directions[:, None, :]  # straight lines
    side = torch.eye(Z)[3]
    curves[ANGRY, 2] = bank.directions[ANGRY] + 0.5 * side
    curves[ANGRY, 3] = bank.directions[ANGRY] + 1.0 * side
    bank.curve_knots, bank.curves = knots, curves
    bank.curve_has = torch.tensor([False, True, True, True])
    return bank


def tiny_voice_with_curves(tmp_path):
    """The tiny voice's checkpoint (``tmp_path/tiny.safetensors``) with straight intensity curves at knots 0.5-2
    for every emotion but neutral, and the voice loaded from it: ``(path, tts)``."""
    from emovox.checkpoint import load_checkpoint, save_checkpoint
    from emovox.pipelines import EmotionalTTS
    from tests.server_fakes import tiny_tts

    vocoder = tiny_tts(tmp_path).vocoder
    source = tmp_path / "tiny.safetensors"
    ckpt = load_checkpoint(source, kind="acoustic")
    knots = torch.tensor([0.5, 1.0, 1.5, 2.0])
    tensors = dict(ckpt.tensors)
    tensors["bank.curve_knots"] = knots
    tensors["bank.curves"] = knots[None, :, None] * ckpt.tensors["bank.directions"][:, None, :]
    tensors["bank.curve_has"] = torch.tensor([n != "neutral" for n in ckpt.meta["bank"]["emotions"]])
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("format", "format_version", "kind", "sha256")}
    save_checkpoint(source, tensors, meta, kind="acoustic")
    return source, EmotionalTTS.load(source, vocoder=vocoder)


class _CurvedTTS(_CodeTTS):
    def __init__(self):
        super().__init__()
        self.bank = curved_bank()


class _AngerRater:
    """P(angry) = exp(-|z - target|^2 / 2), read from the emotion vector the stand-in voice writes into its audio."""

    speaker_normalised = False

    def __init__(self, target=TARGET):
        self.target = target

    def predict_batch(self, clips, rate, speakers):
        out = []
        for c in clips:
            z = torch.as_tensor(c[:Z].astype(np.float32))
            out.append(
                SimpleNamespace(probs={"angry": float(torch.exp(-0.5 * (z - self.target).pow(2).sum()))})
            )
        return out


def _loudness_is_angry_axis(audio, rate):
    """The stand-in voice's 'loudness' (dB): ten times how far along angry's axis its emotion vector lies."""
    return {"loudness_db": 10.0 * float(audio[2]), "f0_st": float("nan")}


def test_fit_gradient_recovers_a_linear_response_and_picks_a_penalty():
    rng = np.random.default_rng(0)
    eps = rng.normal(size=(120, 6))
    g_true = np.array([1.0, -0.5, 0.0, 0.0, 2.0, 0.0])
    g, cv_r = fit_gradient(eps, eps @ g_true + 0.01 * rng.normal(size=120), np.arange(120))
    assert cv_r > 0.99
    np.testing.assert_allclose(g, g_true, atol=0.05)
    with pytest.raises(ValueError, match="need eps"):
        fit_gradient(eps, np.zeros(3), np.arange(120))
    with pytest.raises(ValueError, match="two folds"):
        fit_gradient(eps, eps @ g_true, np.zeros(120, dtype=int))


def test_grouped_rho_ranks_within_each_sentence():
    x = [0.5, 1, 1.5, 2] * 2
    values = [0.1, 0.2, 0.3, 0.4, 5.1, 5.2, 5.3, 5.4]
    assert grouped_rho(x, values, ["a"] * 4 + ["b"] * 4) > 0.95  # (ties across sentences keep it below 1)
    assert grouped_rho(x, values, ["a"] * 8) < 0.5  # pooled, the louder sentence would blur the trend
    assert grouped_rho(x, [0.4, 0.3, 0.2, 0.1] * 2, ["a"] * 4 + ["b"] * 4) == pytest.approx(-1.0)
    assert np.isnan(grouped_rho(x, [1.0] * 8, ["a"] * 8))


def test_the_curve_beyond_1_turns_towards_the_emotion_and_the_rest_stays():
    tts = _CurvedTTS()
    before = tts.bank.curves.clone()
    seen = []
    cal = calibrate_intensity(
        tts, _AngerRater(), "angry", perturbations=16, spread=0.2, gains=(0.5,), recogniser_name="rater",
        sentences=["One two.", "Three four."], held_out_sentences=["Five six."], cues=_loudness_is_angry_axis,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    torch.testing.assert_close(tts.bank.curves, before)  # the voice itself is not changed
    assert seen[-1][0] == seen[-1][1]
    assert cal.cv_r > 0.9  # the rater is smooth: its gradient is predictable
    # The current curve walks sideways past 1 and P(angry) falls; the candidate walks on towards TARGET.
    assert cal.held_out_rho["current"] < 0.5 and cal.held_out_rho["gain0.5"] == pytest.approx(1.0)
    assert cal.gain == 0.5 and cal.kept == "gain0.5" and cal.improved
    # The current curve's cue stops past 1, and so does the candidate that keeps it.
    assert cal.eligible == {"current": True, "gain0.5": True, "curve+gain0.5": False}
    assert cal.held_out_cues["gain0.5"]["loudness_db"] == sorted(cal.held_out_cues["gain0.5"]["loudness_db"])
    torch.testing.assert_close(cal.curve[:2], before[ANGRY, :2])  # up to intensity 1 as it was
    # From 1 to 2: the cue (angry's axis) moves on at half its pace up to 1, which takes the whole step here.
    step = cal.curve[3] - cal.curve[1]
    assert float(step.norm()) == pytest.approx(0.5, rel=0.03)
    assert float(torch.nn.functional.cosine_similarity(step, torch.eye(Z)[2], dim=0)) > 0.9
    p = cal.held_out_p["gain0.5"]
    assert len(p) == len(INTENSITIES) and p == sorted(p)
    assert cal.to_meta()["gain"] == 0.5 and cal.to_meta()["recogniser"] == "rater"


def test_a_curve_that_already_rises_is_kept():
    tts = _CurvedTTS()
    tts.bank.curves[ANGRY] = tts.bank.curve_knots[:, None] * tts.bank.directions[ANGRY]  # straight at TARGET
    cal = calibrate_intensity(tts, _AngerRater(), "angry", perturbations=8, gains=(0.25,),
                              sentences=["One two.", "Three four."], cues=_loudness_is_angry_axis)  # fmt: skip
    assert cal.held_out_rho["current"] == pytest.approx(1.0)
    assert cal.gain is None and not cal.improved
    torch.testing.assert_close(cal.curve, tts.bank.curves[ANGRY])


SIDEWAYS = 0.3 * torch.eye(Z)[2] + 2.0 * torch.eye(Z)[3]  # 'more angry': less of the cue, much more sideways


def test_the_gradient_alone_stops_the_cue_and_is_rejected_the_curve_plus_gradient_is_kept():
    """'More angry' lies sideways here: the plain gradient (cue_pace 0) raises P(angry) all the way to 2, but angry's
    own cue stops past intensity 1, so the current curve is kept (intensity extrapolates, it does not saturate)."""
    tts = _CurvedTTS()
    tts.bank.curves[ANGRY] = tts.bank.curve_knots[:, None] * tts.bank.directions[ANGRY]
    cal = calibrate_intensity(tts, _AngerRater(SIDEWAYS), "angry", perturbations=16, gains=(1.0,), cue_pace=0.0,
                              sentences=["One two.", "Three four."], cues=_loudness_is_angry_axis)  # fmt: skip
    assert cal.held_out_rho["gain1"] > cal.held_out_rho["current"]
    assert not cal.eligible["gain1"] and cal.kept != "gain1"
    # Kept instead: the current curve (its cue rises to 2) with the gradient's cue-free part added, which turns
    # P(angry) back up past 1.5.
    assert cal.kept == "curve+gain1" and cal.improved
    assert cal.held_out_cues["curve+gain1"]["loudness_db"] == pytest.approx([5.0, 10.0, 15.0, 20.0], abs=0.1)
    p = cal.held_out_p["curve+gain1"]
    assert p[2] > p[1] and p[2] > cal.held_out_p["current"][2]


def test_the_steered_step_keeps_the_cue_moving_and_follows_the_gradient():
    """The same voice and rater, steered: beyond 1 the cue moves on at half its pace up to 1 (10 per unit here) and
    the rest of the step goes sideways, so P(angry) rises and the candidate is kept."""
    tts = _CurvedTTS()
    tts.bank.curves[ANGRY] = tts.bank.curve_knots[:, None] * tts.bank.directions[ANGRY]
    cal = calibrate_intensity(tts, _AngerRater(SIDEWAYS), "angry", perturbations=16, gains=(1.0,), cue_pace=0.5,
                              sentences=["One two.", "Three four."], cues=_loudness_is_angry_axis)  # fmt: skip
    assert cal.cue_fits["loudness_db"]["pace"] == pytest.approx(10.0, abs=1e-4)
    assert cal.cue_fits["loudness_db"]["cv_r"] > 0.99
    assert "f0_st" not in cal.cue_fits  # not measurable: steers nothing
    assert cal.eligible == {"current": True, "gain1": True, "curve+gain1": True}
    assert cal.improved and cal.gain == 1.0 and cal.kept == "gain1"
    assert cal.held_out_rho["gain1"] > cal.held_out_rho["curve+gain1"]
    assert cal.held_out_rho["gain1"] > cal.held_out_rho["current"]
    p = cal.held_out_p["gain1"]
    assert p[1] < p[2] < p[3]  # beyond 1, more angry at each step (the current curve: less)
    assert cal.held_out_p["current"][3] < cal.held_out_p["current"][1]
    loud = cal.held_out_cues["gain1"]["loudness_db"]
    np.testing.assert_allclose(np.diff(loud[1:]), [2.5, 2.5], atol=0.2)  # 5 per unit of intensity
    step = (cal.curve[3] - cal.curve[1]).numpy()  # from 1 to 2
    assert float(np.linalg.norm(step)) == pytest.approx(1.0, rel=1e-4)
    assert step[3] == pytest.approx(
        np.sqrt(0.75), abs=0.02
    )  # the rest of the length, sideways towards 'more angry'
    assert cal.to_meta()["cue_pace"] == 0.5


class _SidewaysRater:
    """P(angry) = sigmoid(3·z[3] - z[2]): 'more angry' lies sideways at every intensity, and angry's own axis (its
    loudness cue here) makes it sound less angry, as the shipped voice's angry sounds happy below 1."""

    speaker_normalised = False

    def predict_batch(self, clips, rate, speakers):
        return [
            SimpleNamespace(probs={"angry": float(torch.sigmoid(torch.tensor(3.0 * c[3] - c[2])))})
            for c in clips
        ]


def test_the_whole_curve_candidates_move_low_intensities_towards_the_emotion_and_keep_the_cues():
    tts = _CurvedTTS()
    tts.bank.curves[ANGRY] = (
        tts.bank.curve_knots[:, None] * tts.bank.directions[ANGRY]
    )  # straight along axis 2
    before = tts.bank.curves.clone()
    cal = calibrate_intensity(tts, _SidewaysRater(), "angry", perturbations=16, gains=(2.0,), whole_curve=True,
                              sentences=["One two.", "Three four."], cues=_loudness_is_angry_axis)  # fmt: skip
    torch.testing.assert_close(tts.bank.curves, before)
    assert cal.intensities == WHOLE_CURVE_INTENSITIES
    assert cal.to_meta()["intensities"] == [0.25, 0.5, 0.75, 1, 1.5, 2]
    assert set(cal.held_out_rho) == {"current", "gain2", "curve+gain2", "whole+gain2", "below+gain2"}
    assert all(len(p) == 6 for p in cal.held_out_p.values())
    # The current curve is heard as less angry the stronger it gets; the first two families change nothing up to 1.
    assert cal.held_out_rho["current"] == pytest.approx(-1.0)
    assert cal.held_out_p["gain2"][:4] == pytest.approx(cal.held_out_p["current"][:4])
    # Both new families rise from 0.25 to 1, the same up to 1; beyond it only the whole curve keeps rising.
    whole, below = cal.held_out_p["whole+gain2"], cal.held_out_p["below+gain2"]
    assert whole[:4] == sorted(whole[:4]) and whole[:4] == pytest.approx(below[:4])
    assert all(w > c for w, c in zip(whole, cal.held_out_p["current"]))
    assert whole == sorted(whole) and below[5] < below[3]
    assert cal.held_out_rho["whole+gain2"] == pytest.approx(1.0)
    assert 0.5 < cal.held_out_rho["below+gain2"] < 0.99
    assert cal.kept == "whole+gain2" and cal.improved and cal.eligible["whole+gain2"]
    # Loudness moves as before (the step is cue-free, to the precision of the fitted cue gradient).
    for name in ("whole+gain2", "below+gain2"):
        assert cal.held_out_cues[name]["loudness_db"] == pytest.approx(
            cal.held_out_cues["current"]["loudness_db"], rel=0.01
        )
    # o(α) + α·s: s of length 2 and free of the cue.
    knots = tts.bank.curve_knots.numpy()
    shift = (cal.curve - before[ANGRY]).numpy()
    s = shift[1]
    np.testing.assert_allclose(shift, knots[:, None] * s, atol=1e-6)
    assert float(np.linalg.norm(s)) == pytest.approx(2.0, rel=1e-4) and abs(s[2]) < 0.01 and s[3] > 1.9


def test_steered_step_solves_the_cue_moves_and_spends_the_rest_on_the_gradient():
    rng = np.random.default_rng(1)
    g, cue_g = rng.normal(size=8), rng.normal(size=(2, 8))
    step = steered_step(g, cue_g, np.array([0.3, -0.2]), 2.0)
    np.testing.assert_allclose(cue_g @ step, [0.3, -0.2], atol=1e-6)  # each cue moves as asked
    assert float(np.linalg.norm(step)) == pytest.approx(2.0)
    # Among steps of that length that move the cues so, it climbs the gradient furthest.
    cue_part = np.linalg.pinv(cue_g) @ np.array([0.3, -0.2])
    null = np.eye(8) - np.linalg.pinv(cue_g) @ cue_g
    rest = np.linalg.norm(step - cue_part)
    for _ in range(50):
        u = null @ rng.normal(size=8)
        other = cue_part + rest * u / np.linalg.norm(u)
        np.testing.assert_allclose(cue_g @ other, [0.3, -0.2], atol=1e-6)
        assert g @ other <= g @ step + 1e-9
    np.testing.assert_allclose(steered_step(g, np.zeros((0, 8)), np.zeros(0), 1.0), g / np.linalg.norm(g))
    short = steered_step(g, cue_g, np.array([30.0, 0.0]), 0.1)  # the cue move alone is longer than asked
    np.testing.assert_allclose(cue_g @ short, [30.0, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="one move per cue"):
        steered_step(g, cue_g, np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="length must be positive"):
        steered_step(g, cue_g, np.zeros(2), 0.0)


def test_cues_keep_moving_follows_each_cue_own_direction():
    assert cues_keep_moving({"loud": [1, 2, 3, 4], "f0": [0, -1, -2, -3]})  # up and down, both keep going
    assert not cues_keep_moving({"loud": [1, 2, 2.5, 2.4]})  # stops past 1.5
    assert not cues_keep_moving({"loud": [1, 2, 2, 3]})  # a plateau is a stop
    assert cues_keep_moving(
        {"loud": [2, 2, 1, 0], "f0": [float("nan")] * 4}
    )  # no move up to 1: no constraint
    assert cues_keep_moving(
        {"f0": [4.6, 4.6, 4.8, 5.5], "loud": [-32, -29, -27, -25]}
    )  # F0 flat up to 1: free
    assert not cues_keep_moving({"f0": [4.0, 5.0, 4.8, 5.5]})  # a real move (1 st) that turns back
    assert cues_keep_moving({"f0": [4.0, 5.0, 4.8, 5.5]}, min_move=2.0)


@pytest.mark.parametrize(
    ("emotion", "kwargs", "message"),
    [
        ("furious", {}, "unknown emotion 'furious'"),
        ("neutral", {}, "unknown emotion 'neutral'"),
        ("angry", {"perturbations": 2}, "perturbations must be"),
        ("angry", {"spread": 0.0}, "spread must be"),
        ("angry", {"gains": [float("inf")]}, "gains must be"),
        ("angry", {"cue_pace": -1.0}, "cue_pace must be"),
        ("angry", {"min_cue_move": float("nan")}, "min_cue_move must be"),
        ("angry", {"speakers": ["carol"]}, "unknown speaker"),
        ("angry", {"sentences": ["Only one."]}, "two non-empty probe sentences"),
    ],
)
def test_calibrate_intensity_refuses_bad_settings(emotion, kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibrate_intensity(_CurvedTTS(), _AngerRater(), emotion, **kwargs)


def test_an_emotion_without_a_curve_is_refused():
    tts = _CodeTTS()  # tiny_bank: no curves at all
    with pytest.raises(ValueError, match="no intensity curve"):
        calibrate_intensity(tts, _AngerRater(), "angry")


def test_calibrate_intensity_command_writes_the_curve_and_loads(tmp_path, monkeypatch, capsys):
    """The command end to end on the tiny voice (its bank given curves first), a stand-in recogniser: only angry's
    curve beyond 1 changes, the provenance is recorded, the result loads and speaks; without an improvement
    nothing is written."""
    import emovox.intensity_calibration as calibration
    import emovox.ser.infer as infer
    from emovox.checkpoint import load_checkpoint
    from emovox.pipelines import EmotionalTTS

    source, tts = tiny_voice_with_curves(tmp_path)
    e = len(tts.bank.emotions)
    emotion = next(n for n in tts.emotions if n != "neutral")
    ser = tmp_path / "ser.safetensors"
    ser.write_bytes(b"stand-in; loading is patched")

    class _LengthRater:  # P(emotion) from the clip's length: enough to run the real pipeline
        speaker_normalised = False

        def predict_batch(self, clips, rate, speakers):
            return [SimpleNamespace(probs={emotion: min(1.0, c.size / rate / 10)}) for c in clips]

    monkeypatch.setattr(infer.EmotionRecognizer, "load", classmethod(lambda cls, path: _LengthRater()))
    monkeypatch.setattr(EmotionalTTS, "load", classmethod(lambda cls, path=None, **kw: tts))
    real = (
        calibration.calibrate_intensity
    )  # the tiny voice's loudness does not follow emotion: a cue that does not move constrains nothing
    monkeypatch.setattr(calibration, "calibrate_intensity", lambda *a, **kw: real(
        *a, **kw, cues=lambda audio, rate: {"level": 1.0}))  # fmt: skip
    out = tmp_path / "calibrated.safetensors"
    args = ["calibrate-intensity", str(source), emotion, "--ser", str(ser), "-o", str(out), "--no-progress",
            "--perturbations", "8", "--gain", "0.5"]  # fmt: skip
    assert cli([*args, "--force"]) == 0
    before, after = load_checkpoint(source, kind="acoustic"), load_checkpoint(out, kind="acoustic")
    i = after.meta["bank"]["emotions"].index(emotion)
    torch.testing.assert_close(after.tensors["bank.curves"][i, :2], before.tensors["bank.curves"][i, :2])
    assert not torch.allclose(after.tensors["bank.curves"][i, 2:], before.tensors["bank.curves"][i, 2:])
    others = [k for k in range(e) if k != i]
    torch.testing.assert_close(after.tensors["bank.curves"][others], before.tensors["bank.curves"][others])
    assert after.meta["bank"]["intensity_calibration"][emotion]["gain"] == 0.5
    assert "held-out rho" in capsys.readouterr().out

    worse = calibration.IntensityCalibration(
        emotion, before.tensors["bank.curves"][i], None, 0.1, {"current": 0.5, "gain0.5": 0.2},
        {"current": [0.1] * 4, "gain0.5": [0.1] * 4}, {"current": {}, "gain0.5": {}},
        {"current": True, "gain0.5": True}, 8, "ser", improved=False,
    )  # fmt: skip
    monkeypatch.setattr(calibration, "calibrate_intensity", lambda *a, **kw: worse)
    again = tmp_path / "again.safetensors"
    assert cli([*args[:6], str(again), *args[7:]]) == 1
    assert "nothing written" in capsys.readouterr().err and not again.exists()
    seen = {}
    monkeypatch.setattr(calibration, "calibrate_intensity", lambda *a, **kw: seen.update(kw) or worse)
    assert cli([*args[:6], str(again), *args[7:], "--whole-curve"]) == 1 and seen["whole_curve"] is True
    monkeypatch.undo()
    loaded = EmotionalTTS.load(out, vocoder=tts.vocoder)
    audio, _ = loaded.synthesize("Hello there.", emotion=f"{emotion}:2", seed=0)
    assert np.isfinite(audio).all() and audio.size > 0
    assert after.tensors["bank.curves"].shape[-1] == tts.bank.center.shape[0]

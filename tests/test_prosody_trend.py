"""Prosody trends beyond intensity 1 (EmotionBank.prosody, the pipeline's variance controls,
emovox.intensity_calibration.calibrate_prosody_trend, `emovox calibrate-intensity --method prosody`)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emovox.cli import main as cli
from emovox.emotion.bank import NO_PROSODY, EmotionBank
from emovox.emotion.spec import parse_emotion_spec
from tests.evc_fakes import EMOTIONS, tiny_bank

TREND = torch.tensor([-0.2, 0.5, 1.0, 3.0, 0.2, -1.5])


def _bank_with_trend() -> EmotionBank:
    bank = tiny_bank()
    bank.prosody_trend = torch.zeros(len(bank.emotions), 6)
    bank.prosody_trend[bank.emotions.index("angry")] = TREND
    return bank


def _prosody(bank, spec):
    return np.array(bank.prosody(parse_emotion_spec(spec, known=EMOTIONS)))


def test_the_trend_applies_beyond_1_only_mirrored_and_weighted():
    bank = _bank_with_trend()
    for spec in ("angry", "angry:0.5", "angry:-1", "neutral", "sad:2", "adv:1,0,0", "va:0.5,0.5"):
        assert _prosody(bank, spec).tolist() == list(NO_PROSODY), spec
    np.testing.assert_allclose(_prosody(bank, "angry:2"), TREND.numpy(), rtol=1e-6)
    np.testing.assert_allclose(_prosody(bank, "angry:1.5"), 0.5 * TREND.numpy(), rtol=1e-6)
    np.testing.assert_allclose(_prosody(bank, "angry:-2"), -TREND.numpy(), rtol=1e-6)  # the opposite, further
    # A mixture weighs each component's trend like its z: 70 % angry at 2, 30 % sad (no trend).
    np.testing.assert_allclose(_prosody(bank, "angry:0.7@2+sad:0.3"), 0.7 * TREND.numpy(), rtol=1e-5)
    assert _prosody(tiny_bank(), "angry:2").tolist() == list(NO_PROSODY)  # a bank without trends has none


def test_trends_survive_the_checkpoint_and_bad_ones_are_refused():
    bank = _bank_with_trend()
    tensors, meta = bank.to_tensors()
    again = EmotionBank.from_tensors(tensors, meta)
    torch.testing.assert_close(again.prosody_trend, bank.prosody_trend)
    # Tables written before the effort, range and final columns read as ones without them.
    for width in (3, 4, 5):
        old = EmotionBank.from_tensors({**tensors, "bank.prosody_trend": bank.prosody_trend[:, :width]}, meta)
        torch.testing.assert_close(old.prosody_trend[:, :width], bank.prosody_trend[:, :width])
        assert float(old.prosody_trend[:, width:].abs().sum()) == 0.0 and old.prosody_trend.shape[1] == 6
    effort_ok = torch.zeros(len(EMOTIONS), 6)
    effort_ok[:, 3] = 10.0  # 10 dB per octave: within the effort column's bound, beyond the others'
    EmotionBank.from_tensors({**tensors, "bank.prosody_trend": effort_ok}, meta)
    for bad in (
        torch.zeros(2, 6),
        torch.zeros(len(EMOTIONS), 7),
        torch.zeros(len(EMOTIONS), 2),
        torch.full((len(EMOTIONS), 6), float("nan")),
        torch.full((len(EMOTIONS), 6), 50.0),
        effort_ok.roll(-1, dims=1),  # 10 in the energy column
        effort_ok.roll(1, dims=1),  # 10 in the range column (at most 1.5)
        effort_ok.roll(2, dims=1),  # 10 in the final column (at most 6 semitones)
    ):
        with pytest.raises(ValueError, match="prosody trends"):
            EmotionBank.from_tensors({**tensors, "bank.prosody_trend": bad}, meta)


class _LengthRater:
    """A stand-in recogniser of real speech that hears more of ``emotion`` in longer clips (``sign`` 1) or in
    shorter ones (-1)."""

    speaker_normalised = False

    def __init__(self, emotion, sign):
        self.emotion, self.sign = emotion, sign

    def predict_batch(self, clips, rate, speakers):
        return [
            SimpleNamespace(probs={self.emotion: 0.5 + self.sign * np.tanh(c.size / rate - 1.0) / 2})
            for c in clips
        ]


def _tiny_voice(tmp_path):
    from emovox.pipelines import EmotionalTTS
    from tests.server_fakes import tiny_tts

    tts = tiny_tts(tmp_path)
    return tmp_path / "tiny.safetensors", tts.vocoder, EmotionalTTS


def test_write_prosody_trend_sets_one_emotion_and_the_voice_follows_it(tmp_path):
    """Written into a checkpoint, a rate trend makes the emotion at 2 shorter and leaves it at 1 (and every other
    emotion) exactly as it was; refusals for neutral, unknown emotions and absurd trends write nothing."""
    from emovox.checkpoint import load_checkpoint
    from emovox.tts.bank import write_prosody_trend

    source, vocoder, EmotionalTTS = _tiny_voice(tmp_path)
    before = EmotionalTTS.load(source, vocoder=vocoder)
    emotion = next(n for n in before.emotions if n != "neutral")
    out = tmp_path / "trend.safetensors"
    write_prosody_trend(source, emotion, [-0.7, 0.0, 0.0], out, {"kept": "rate x1"})
    after = EmotionalTTS.load(out, vocoder=vocoder)
    ckpt = load_checkpoint(out, kind="acoustic")
    i = ckpt.meta["bank"]["emotions"].index(emotion)
    table = ckpt.tensors["bank.prosody_trend"]
    assert table[i].tolist() == pytest.approx([-0.7, 0.0, 0.0, 0.0, 0.0, 0.0]) and float(
        table.abs().sum()
    ) == pytest.approx(0.7)
    assert ckpt.meta["bank"]["prosody_calibration"][emotion] == {"kept": "rate x1"}

    text = "the old clock in the hall struck nine"
    one = [t.synthesize(text, emotion=emotion, seed=0)[0] for t in (before, after)]
    np.testing.assert_array_equal(one[0], one[1])
    two = [t.synthesize(text, emotion=f"{emotion}:2", seed=0)[0] for t in (before, after)]
    assert two[1].size < 0.75 * two[0].size  # durations scaled by e^-0.7 ≈ 0.5, up to rounding
    planned = [t.predict_prosody(text, f"{emotion}:2") for t in (before, after)]
    assert planned[1]["frames"] < 0.75 * planned[0]["frames"]  # the preview plans what synthesis speaks
    neutral = [t.synthesize(text, emotion="neutral:2", seed=0)[0] for t in (before, after)]
    np.testing.assert_array_equal(neutral[0], neutral[1])

    for emotion_, trend, message in (
        ("neutral", [0, 0, 0], "unknown emotion"),
        ("nosuch", [0, 0, 0], "unknown emotion"),
        (emotion, [0, 0], "3 to 6 finite numbers"),
        (emotion, [0, 0, 99], "3 to 6 finite numbers"),
        (emotion, [0, 0, 0, 13], "3 to 6 finite numbers"),
        (emotion, [0, 0, 0, float("nan")], "3 to 6 finite numbers"),
        (emotion, [0, 0, 0, 0, 2.0], "3 to 6 finite numbers"),
        (emotion, [0, 0, 0, 0, 0, 7.0], "3 to 6 finite numbers"),
        (emotion, [0, 0, 0, 0, 0, 0, 0], "3 to 6 finite numbers"),
    ):
        bad = tmp_path / "bad.safetensors"
        with pytest.raises(ValueError, match=message):
            write_prosody_trend(source, emotion_, trend, bad, {})
        assert not bad.exists()


def test_the_command_picks_a_trend_by_the_held_out_check(tmp_path, monkeypatch, capsys):
    """`calibrate-intensity --method prosody` end to end on the tiny voice with a stand-in recogniser that hears
    more of the emotion in longer clips: the kept candidate slows the emotion down beyond 1 (its own duration trend
    continued, so the trend's sign follows the model's pace), nothing up to 1 changes; with a recogniser that
    prefers shorter clips and a pace that lengthens them, nothing is written."""
    import emovox.ser.infer as infer
    from emovox.checkpoint import load_checkpoint
    from emovox.intensity_calibration import INTENSITIES, calibrate_prosody_trend, measure_prosody_pace

    source, vocoder, EmotionalTTS = _tiny_voice(tmp_path)
    tts = EmotionalTTS.load(source, vocoder=vocoder)
    emotion = next(n for n in tts.emotions if n != "neutral")
    from emovox.adv_calibration import PROBE_SENTENCES

    first = list(tts.speakers)[:1]
    pace = measure_prosody_pace(tts, emotion, PROBE_SENTENCES, first)
    assert pace.shape == (6,) and np.isfinite(pace).all()

    sign = -1.0 if pace[0] < 0 else 1.0  # the rater likes what the emotion's own rate trend does
    cal = calibrate_prosody_trend(tts, _LengthRater(emotion, sign), emotion, cue_sets=[("rate",)], gains=[1.0, 2.0],
                                  speakers=first, held_out_speakers=first, cues=lambda audio, rate: {"level": 1.0})  # fmt: skip
    assert cal.kept == "rate x2" and cal.improved, cal.held_out_rho
    np.testing.assert_allclose(cal.trend, [2.0 * pace[0], 0.0, 0.0, 0.0, 0.0, 0.0])
    assert len(cal.held_out_p["current"]) == len(INTENSITIES)
    assert cal.to_meta()["kept"] == "rate x2"
    # The stand-in recogniser hears the same clips at 0.5 and 1 for every candidate: nothing up to 1 changed.
    assert {tuple(p[:2]) for p in cal.held_out_p.values()} == {tuple(cal.held_out_p["current"][:2])}

    ser = tmp_path / "ser.safetensors"
    ser.write_bytes(b"stand-in; loading is patched")
    import emovox.intensity_calibration as calibration

    real = calibration.calibrate_prosody_trend
    monkeypatch.setattr(calibration, "calibrate_prosody_trend", lambda *a, **kw: real(
        *a, **kw, cues=lambda audio, rate: {"level": 1.0}))  # fmt: skip
    monkeypatch.setattr(EmotionalTTS, "load", classmethod(lambda cls, path=None, **kw: tts))
    out = tmp_path / "out.safetensors"
    args = ["calibrate-intensity", str(source), emotion, "--method", "prosody", "--ser", str(ser), "--no-progress",
            "--trend-gain", "1", "2", "--cues", "rate"]  # fmt: skip
    monkeypatch.setattr(
        infer.EmotionRecognizer, "load", classmethod(lambda cls, path: _LengthRater(emotion, sign))
    )
    assert cli([*args, "-o", str(out)]) == 0
    ckpt = load_checkpoint(out, kind="acoustic")
    i = ckpt.meta["bank"]["emotions"].index(emotion)
    written = ckpt.tensors["bank.prosody_trend"][i].tolist()
    # the rate trend, continued at twice its pace
    assert written[0] * sign > 0 and written[1:] == [0.0] * 5
    assert "held-out rho" in capsys.readouterr().out

    monkeypatch.setattr(
        infer.EmotionRecognizer, "load", classmethod(lambda cls, path: _LengthRater(emotion, -sign))
    )
    nothing = tmp_path / "nothing.safetensors"
    assert cli([*args, "-o", str(nothing)]) == 1
    assert not nothing.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gains": []}, "gains"),
        ({"gains": [5.0]}, "gains"),
        ({"cue_sets": [("tempo",)]}, "unknown: tempo"),
        ({"cue_sets": [()]}, "non-empty"),
        ({"cue_sets": [("pitch*0",)]}, "unknown: pitch\\*0"),
        ({"cue_sets": [("pitch*x",)]}, "unknown: pitch\\*x"),
        ({"cue_sets": [("effort", "effort*0.5")]}, "at most once"),
        ({"holds": [0.5]}, "curve to hold"),
        ({"min_cue_move": -1.0}, "min_cue_move"),
    ],
)
def test_calibrate_prosody_trend_refuses_bad_settings(kwargs, message):
    from emovox.intensity_calibration import calibrate_prosody_trend
    from tests.test_adv_calibration import _CodeTTS

    with pytest.raises(ValueError, match=message):
        calibrate_prosody_trend(_CodeTTS(), None, "angry", **kwargs)
    with pytest.raises(ValueError, match="unknown emotion"):
        calibrate_prosody_trend(_CodeTTS(), None, "neutral")


def test_tilt_gains_and_measure_tilt_agree_on_the_slope():
    """The effort cue: ``tilt_gains`` tilts a log-mel by a known slope above 500 Hz and leaves the channels below it
    alone; ``measure_tilt`` reads the slope back from a change of long-term spectrum, whatever the level change."""
    from emovox.audio.mel import TILT_PIVOT_HZ, MelConfig, measure_tilt, mel_centres, tilt_gains

    cfg = MelConfig()
    gains = tilt_gains(cfg, 4.0)
    centres = mel_centres(cfg)
    assert gains.shape == (cfg.n_mels,)
    assert float(gains[centres <= TILT_PIVOT_HZ].abs().max()) == 0.0
    top = float(gains[-1]) * 20 / np.log(10)  # dB at the top channel: 4 dB per octave above 500 Hz
    assert top == pytest.approx(4.0 * np.log2(centres[-1] / TILT_PIVOT_HZ), rel=1e-5)
    for slope in (-3.0, 0.0, 2.5):
        change = tilt_gains(cfg, slope) + 0.4  # a level change (+3.5 dB) too
        assert measure_tilt(change, cfg) == pytest.approx(slope, abs=1e-6)


def test_the_effort_trend_tilts_the_mel_beyond_1_only(tmp_path):
    """An effort trend written into the tiny voice: the emotion at 2 gets a flatter spectrum (more energy above
    500 Hz relative to below) by the trend's slope, intensity 1 and other emotions stay bit-identical."""
    from emovox.tts.bank import write_prosody_trend

    source, vocoder, EmotionalTTS = _tiny_voice(tmp_path)
    before = EmotionalTTS.load(source, vocoder=vocoder)
    emotion = next(n for n in before.emotions if n != "neutral")
    out = tmp_path / "effort.safetensors"
    write_prosody_trend(source, emotion, [0.0, 0.0, 0.0, 6.0], out, {"kept": "effort x1"})
    after = EmotionalTTS.load(out, vocoder=vocoder)
    ids = before._tokens("the old clock in the hall struck nine")
    mels = {}
    for name, tts in (("before", before), ("after", after)):
        for spec in (emotion, f"{emotion}:2", "neutral:2"):
            z = tts.emotion_vector(spec, 0)
            mels[name, spec] = tts._acoustic_mel(ids, 0, z, 1.0, 0.0, 0, prosody=tts.prosody_controls(spec))
    torch.testing.assert_close(mels["after", emotion], mels["before", emotion], rtol=0, atol=0)
    torch.testing.assert_close(mels["after", "neutral:2"], mels["before", "neutral:2"], rtol=0, atol=0)
    change = mels["after", f"{emotion}:2"][0] - mels["before", f"{emotion}:2"][0]
    from emovox.audio.mel import measure_tilt

    assert measure_tilt(change.mean(-1), after.mel_config) == pytest.approx(6.0, abs=1e-4)
    a = after.synthesize("the old clock in the hall struck nine", emotion=f"{emotion}:2", seed=0)[0]
    b = before.synthesize("the old clock in the hall struck nine", emotion=f"{emotion}:2", seed=0)[0]
    assert a.size == b.size and not np.array_equal(a, b)  # the vocoder hears the tilt; timing is untouched


def test_a_held_curve_stops_z_from_its_knot_on_and_is_written_with_the_trend(tmp_path):
    """``held_curve`` keeps the curve up to the hold and freezes it after (z at 2 equals z at the hold); a bad
    hold is refused; ``write_prosody_trend(..., curve=)`` writes both in one checkpoint and the voice follows."""
    from emovox.intensity_calibration import held_curve
    from emovox.pipelines import EmotionalTTS
    from emovox.tts.bank import write_prosody_trend
    from tests.test_intensity_calibration import tiny_voice_with_curves

    source, tts = tiny_voice_with_curves(tmp_path)
    bank = tts.bank
    emotion = next(e for e in bank.emotions if e != "neutral")
    knots = [float(k) for k in bank.curve_knots]
    hold = next(k for k in knots if k >= 1.0)
    curve = held_curve(bank, emotion, hold)
    i = bank.emotions.index(emotion)
    before = [k for k, x in enumerate(knots) if x <= hold]
    torch.testing.assert_close(curve[before], bank.curves[i][before])
    assert not torch.equal(curve, bank.curves[i]) or all(x <= hold for x in knots)
    for bad in (0.5, hold + 0.1, float("nan")):
        with pytest.raises(ValueError, match="knot"):
            held_curve(bank, emotion, bad)

    out = tmp_path / "held.safetensors"
    write_prosody_trend(source, emotion, [0.0, 0.0, 0.0, 2.0], out, {"kept": "effort x1 hold"}, curve=curve)
    after = EmotionalTTS.load(out, vocoder=tts.vocoder)
    at = lambda voice, a: voice.bank.offset(emotion, a)  # noqa: E731 (global direction: no speaker term)
    torch.testing.assert_close(at(after, 2.0), at(after, hold))
    torch.testing.assert_close(at(after, hold), at(tts, hold))
    assert after.bank.prosody_trend[i].tolist() == pytest.approx([0.0, 0.0, 0.0, 2.0, 0.0, 0.0])
    wrong = tmp_path / "wrong.safetensors"
    with pytest.raises(ValueError, match="curve"):
        write_prosody_trend(source, emotion, [0.0, 0.0, 0.0, 2.0], wrong, {}, curve=curve[:-1])
    assert not wrong.exists()


def test_a_hold_off_the_curve_knots_is_refused():
    from emovox.intensity_calibration import calibrate_prosody_trend
    from tests.test_intensity_calibration import _CurvedTTS

    for hold in (0.5, 1.2, float("inf")):
        with pytest.raises(ValueError, match="a knot of the intensity curve at 1 or above"):
            calibrate_prosody_trend(_CurvedTTS(), None, "angry", holds=[hold])


def test_cue_weights_weigh_each_cue_of_a_set():
    from emovox.intensity_calibration import PROSODY_CUES, cue_weights

    weights, values = cue_weights(("effort", "pitch*0.25", "range=0.3", "final=-1.5"))
    assert weights.tolist() == [0.0, 0.25, 0.0, 1.0, 0.0, 0.0]
    assert values.tolist() == [0.0, 0.0, 0.0, 0.0, 0.3, -1.5]
    assert cue_weights(PROSODY_CUES)[0].tolist() == [1.0] * 6
    for bad in (("range=2",), ("range=",), ("effort=x",), ("range=0.1", "range*2"), ("final=7",)):
        with pytest.raises(ValueError, match="cue sets"):
            cue_weights(bad)


def test_hold_candidates_change_nothing_up_to_1_and_the_bank_is_restored(tmp_path):
    """With holds, every candidate is tried with the curve as it is and held; up to intensity 1 all candidates
    render the same clips, the bank's curves and trends are restored afterwards, and a kept hold comes with its
    held curve."""
    from emovox.intensity_calibration import calibrate_prosody_trend, held_curve
    from tests.test_intensity_calibration import tiny_voice_with_curves

    _, tts = tiny_voice_with_curves(tmp_path)
    emotion = next(e for e in tts.emotions if e != "neutral")
    curves, trend = tts.bank.curves.clone(), tts.bank.prosody_trend

    class _Rater:
        speaker_normalised = False

        def predict_batch(self, clips, rate, speakers):
            return [SimpleNamespace(probs={emotion: float(np.abs(c).mean())}) for c in clips]

    first = list(tts.speakers)[:1]
    cal = calibrate_prosody_trend(tts, _Rater(), emotion, cue_sets=[("rate",)], gains=[1.0], holds=[None, 1.5],
                                  speakers=first, held_out_speakers=first, cues=lambda audio, rate: {"level": 1.0})  # fmt: skip
    assert list(cal.held_out_rho) == ["current", "rate x1", "rate x1 hold 1.5"]
    assert {tuple(p[:2]) for p in cal.held_out_p.values()} == {tuple(cal.held_out_p["current"][:2])}
    torch.testing.assert_close(tts.bank.curves, curves)
    assert tts.bank.prosody_trend is trend
    if cal.hold is None:
        assert cal.curve is None
    else:
        torch.testing.assert_close(cal.curve, held_curve(tts.bank, emotion, 1.5))
    assert cal.to_meta()["hold"] == cal.hold


def test_the_range_trend_widens_the_melody_beyond_1(tmp_path):
    """A range trend of 0.5 per unit: at intensity 2 the planned log-F0 contour's spread around its mean is e^0.5
    times as wide as without the trend, with the same timing; intensity 1 is unchanged."""
    from emovox.tts.bank import write_prosody_trend

    source, vocoder, EmotionalTTS = _tiny_voice(tmp_path)
    before = EmotionalTTS.load(source, vocoder=vocoder)
    emotion = next(n for n in before.emotions if n != "neutral")
    out = tmp_path / "range.safetensors"
    write_prosody_trend(source, emotion, [0.0, 0.0, 0.0, 0.0, 0.5], out, {"kept": "range=0.5 x1"})
    after = EmotionalTTS.load(out, vocoder=vocoder)
    text = "the old clock in the hall struck nine"
    for spec, ratio in ((emotion, 1.0), (f"{emotion}:2", float(np.exp(0.5)))):
        plans = [t.predict_prosody(text, spec) for t in (before, after)]
        np.testing.assert_array_equal(plans[0]["durations"], plans[1]["durations"])
        spread = [np.log(p["f0_hz"]).std() for p in plans]
        assert spread[1] / spread[0] == pytest.approx(ratio, rel=1e-4), spec


OFFSET = torch.tensor([0.3, -0.2, 0.5, 1.0, 0.1, -2.0])


def test_offsets_apply_from_0_in_proportion_mirrored_and_weighted_and_add_to_the_trend():
    bank = tiny_bank()
    bank.prosody_offset = torch.zeros(len(bank.emotions), 6)
    bank.prosody_offset[bank.emotions.index("angry")] = OFFSET
    for spec in ("neutral", "sad:2", "adv:1,0,0", "va:0.5,0.5", "angry:0"):
        assert _prosody(bank, spec).tolist() == list(NO_PROSODY), spec
    for a in (0.25, 0.5, 1.0, 2.0):
        np.testing.assert_allclose(_prosody(bank, f"angry:{a}"), a * OFFSET.numpy(), rtol=1e-6)
    np.testing.assert_allclose(_prosody(bank, "angry:-0.5"), -0.5 * OFFSET.numpy(), rtol=1e-6)
    np.testing.assert_allclose(_prosody(bank, "angry:0.7@2+sad:0.3"), 0.7 * 2 * OFFSET.numpy(), rtol=1e-5)
    bank.prosody_trend = _bank_with_trend().prosody_trend  # a trend beyond 1 adds to the offset
    np.testing.assert_allclose(_prosody(bank, "angry:1"), OFFSET.numpy(), rtol=1e-6)
    np.testing.assert_allclose(_prosody(bank, "angry:1.5"), (1.5 * OFFSET + 0.5 * TREND).numpy(), rtol=1e-6)
    np.testing.assert_allclose(_prosody(bank, "angry:-2"), -(2 * OFFSET + TREND).numpy(), rtol=1e-6)


def test_offsets_survive_the_checkpoint_and_bad_ones_are_refused():
    bank = tiny_bank()
    bank.prosody_offset = torch.zeros(len(bank.emotions), 6)
    bank.prosody_offset[bank.emotions.index("angry")] = OFFSET
    tensors, meta = bank.to_tensors()
    again = EmotionBank.from_tensors(tensors, meta)
    torch.testing.assert_close(again.prosody_offset, bank.prosody_offset)
    assert again.prosody_trend is None
    # A table written before the final column reads as one without it.
    old = EmotionBank.from_tensors({**tensors, "bank.prosody_offset": bank.prosody_offset[:, :5]}, meta)
    torch.testing.assert_close(old.prosody_offset[:, :5], bank.prosody_offset[:, :5])
    assert old.prosody_offset.shape[1] == 6 and float(old.prosody_offset[:, 5].abs().sum()) == 0.0
    for bad in (
        torch.zeros(2, 6),
        torch.zeros(len(EMOTIONS), 2),
        torch.full((len(EMOTIONS), 6), float("inf")),
        torch.full((len(EMOTIONS), 6), 50.0),
    ):
        with pytest.raises(ValueError, match="prosody offsets"):
            EmotionBank.from_tensors({**tensors, "bank.prosody_offset": bad}, meta)


def test_write_prosody_offset_moves_the_emotion_from_0_and_leaves_the_rest(tmp_path):
    """A rate offset written into the tiny voice slows the emotion at 0.5 and 1 (in proportion) and leaves neutral,
    the trend table and every other emotion as they were; its provenance has its own key."""
    from emovox.checkpoint import load_checkpoint
    from emovox.tts.bank import write_prosody_offset

    source, vocoder, EmotionalTTS = _tiny_voice(tmp_path)
    before = EmotionalTTS.load(source, vocoder=vocoder)
    emotion, other = [n for n in before.emotions if n != "neutral"][:2]
    out = tmp_path / "offset.safetensors"
    write_prosody_offset(source, emotion, [0.5, 0.0, 0.0], out, {"kept": "rate=0.5 x1"})
    after = EmotionalTTS.load(out, vocoder=vocoder)
    ckpt = load_checkpoint(out, kind="acoustic")
    i = ckpt.meta["bank"]["emotions"].index(emotion)
    assert ckpt.tensors["bank.prosody_offset"][i].tolist() == pytest.approx([0.5, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert "bank.prosody_trend" not in ckpt.tensors
    assert ckpt.meta["bank"]["prosody_offset_calibration"][emotion] == {"kept": "rate=0.5 x1"}
    assert "prosody_calibration" not in ckpt.meta["bank"]

    text = "the old clock in the hall struck nine"
    frames = {
        (name, spec): tts.predict_prosody(text, spec)["frames"]
        for name, tts in (("before", before), ("after", after))
        for spec in (f"{emotion}:0.5", emotion, "neutral", other)
    }
    assert frames["after", emotion] > 1.4 * frames["before", emotion]  # e^0.5 ≈ 1.65, up to rounding
    assert frames["before", f"{emotion}:0.5"] < frames["after", f"{emotion}:0.5"] < frames["after", emotion]
    for spec in ("neutral", other):
        assert frames["after", spec] == frames["before", spec]
        np.testing.assert_array_equal(
            after.synthesize(text, emotion=spec, seed=0)[0], before.synthesize(text, emotion=spec, seed=0)[0]
        )
    bad = tmp_path / "bad.safetensors"
    with pytest.raises(ValueError, match="prosody offset is 3 to 6"):
        write_prosody_offset(source, emotion, [9.0, 0.0, 0.0], bad, {})
    with pytest.raises(ValueError, match="unknown emotion"):
        write_prosody_offset(source, "neutral", [0.1, 0.0, 0.0], bad, {})
    assert not bad.exists()


def test_the_command_with_whole_curve_writes_an_offset_checked_at_every_intensity(
    tmp_path, monkeypatch, capsys
):
    """`calibrate-intensity --method prosody --whole-curve` with a stand-in recogniser that hears more of the
    emotion in longer clips: a rate offset that slows the emotion from intensity 0 on is kept and written as the
    bank's prosody offset (the trend table untouched), checked at the six intensities of `emovox eval model`; a
    rater that prefers shorter clips keeps nothing; a hold is refused."""
    import emovox.intensity_calibration as calibration
    import emovox.ser.infer as infer
    from emovox.checkpoint import load_checkpoint
    from emovox.intensity_calibration import WHOLE_CURVE_INTENSITIES, calibrate_prosody_trend

    source, vocoder, EmotionalTTS = _tiny_voice(tmp_path)
    tts = EmotionalTTS.load(source, vocoder=vocoder)
    emotion = next(n for n in tts.emotions if n != "neutral")
    first = list(tts.speakers)[:1]

    level = {"cues": lambda audio, rate: {"level": 1.0}}
    cal = calibrate_prosody_trend(tts, _LengthRater(emotion, 1.0), emotion, cue_sets=[("rate=0.4",)], gains=[1.0],
                                  speakers=first, held_out_speakers=first, whole_curve=True, **level)  # fmt: skip
    assert cal.table == "offset" and cal.kept == "rate=0.4 x1" and cal.improved, cal.held_out_rho
    assert cal.intensities == WHOLE_CURVE_INTENSITIES
    assert len(cal.held_out_p["current"]) == len(WHOLE_CURVE_INTENSITIES)
    # the offset lengthens the emotion from the lowest intensity on, unlike a trend beyond 1
    assert cal.held_out_p[cal.kept][0] > cal.held_out_p["current"][0]
    assert tts.bank.prosody_offset is None  # the voice itself is not changed
    with pytest.raises(ValueError, match="takes no hold"):
        calibrate_prosody_trend(tts, _LengthRater(emotion, 1.0), emotion, holds=[None, 1.0], whole_curve=True)

    ser = tmp_path / "ser.safetensors"
    ser.write_bytes(b"stand-in; loading is patched")
    real = calibration.calibrate_prosody_trend
    monkeypatch.setattr(calibration, "calibrate_prosody_trend", lambda *a, **kw: real(*a, **kw, **level))
    monkeypatch.setattr(EmotionalTTS, "load", classmethod(lambda cls, path=None, **kw: tts))
    args = ["calibrate-intensity", str(source), emotion, "--method", "prosody", "--whole-curve", "--ser", str(ser),
            "--no-progress", "--trend-gain", "1", "--cues", "rate=0.4"]  # fmt: skip
    monkeypatch.setattr(
        infer.EmotionRecognizer, "load", classmethod(lambda cls, path: _LengthRater(emotion, 1.0))
    )
    out = tmp_path / "out.safetensors"
    assert cli([*args, "-o", str(out)]) == 0
    ckpt = load_checkpoint(out, kind="acoustic")
    i = ckpt.meta["bank"]["emotions"].index(emotion)
    assert ckpt.tensors["bank.prosody_offset"][i].tolist() == pytest.approx([0.4, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert "bank.prosody_trend" not in ckpt.tensors
    meta = ckpt.meta["bank"]["prosody_offset_calibration"][emotion]
    assert meta["table"] == "offset" and meta["intensities"] == list(WHOLE_CURVE_INTENSITIES)
    assert "prosody offset rate=0.4 x1" in capsys.readouterr().out

    monkeypatch.setattr(
        infer.EmotionRecognizer, "load", classmethod(lambda cls, path: _LengthRater(emotion, -1.0))
    )
    nothing = tmp_path / "nothing.safetensors"
    assert cli([*args, "-o", str(nothing)]) == 1
    assert not nothing.exists()
    assert cli([*args, "--hold", "1", "-o", str(nothing)]) == 2
    assert not nothing.exists()


def test_final_ramp_bends_the_last_sounds_only():
    from emovox.emotion.bank import FINAL_SYMBOLS, final_ramp

    spoken = [False] + [True] * 9 + [False, False]  # <bos>, nine sounds, '.', <eos>
    ramp = final_ramp(spoken)
    assert ramp[: 10 - FINAL_SYMBOLS] == [0.0] * (10 - FINAL_SYMBOLS)
    assert ramp[10 - FINAL_SYMBOLS : 10] == pytest.approx(
        [k / FINAL_SYMBOLS for k in range(1, FINAL_SYMBOLS + 1)]
    )
    assert ramp[10:] == [1.0, 1.0]  # silent symbols after the last sound keep its value
    assert final_ramp([False, True, False]) == [0.0, 1.0, 1.0]  # one sound takes all of it
    assert final_ramp([False, False]) == [0.0, 0.0] and final_ramp([]) == []


def test_a_final_offset_bends_the_end_of_each_sentence_and_nothing_else(tmp_path):
    """A final-movement offset of -3 semitones per unit written into the tiny voice lowers the emotion's last sound
    by 3 semitones at intensity 1 and 6 at 2, the sounds before the ramp not at all, and keeps every duration;
    neutral is bit-identical."""
    from emovox.emotion.bank import FINAL_SYMBOLS
    from emovox.tts.bank import write_prosody_offset

    source, vocoder, EmotionalTTS = _tiny_voice(tmp_path)
    before = EmotionalTTS.load(source, vocoder=vocoder)
    emotion = next(n for n in before.emotions if n != "neutral")
    out = tmp_path / "final.safetensors"
    write_prosody_offset(source, emotion, [0.0, 0.0, 0.0, 0.0, 0.0, -3.0], out, {"kept": "final=-3 x1"})
    after = EmotionalTTS.load(out, vocoder=vocoder)
    text = "the old clock in the hall struck nine"
    spoken = np.array(after.frontend.tokenizer.table.spoken(after._tokens(text)))
    last = int(np.flatnonzero(spoken)[-1])
    first_bent = int(np.flatnonzero(spoken)[-FINAL_SYMBOLS])
    for a in (1.0, 2.0):
        plans = [t.predict_prosody(text, f"{emotion}:{a:g}") for t in (before, after)]
        np.testing.assert_array_equal(plans[0]["durations"], plans[1]["durations"])
        semitones = 12 * np.log2(plans[1]["f0_hz"] / plans[0]["f0_hz"])
        assert semitones[last] == pytest.approx(-3.0 * a, abs=1e-3)
        np.testing.assert_allclose(semitones[:first_bent], 0.0, atol=1e-4)
        bent = np.flatnonzero(spoken)[-FINAL_SYMBOLS:]
        assert np.all(np.diff(semitones[bent]) < 0)  # a ramp down to the last sound
    np.testing.assert_array_equal(
        after.synthesize(text, emotion="neutral", seed=0)[0],
        before.synthesize(text, emotion="neutral", seed=0)[0],
    )
    assert not np.array_equal(
        after.synthesize(text, emotion=emotion, seed=0)[0],
        before.synthesize(text, emotion=emotion, seed=0)[0],
    )

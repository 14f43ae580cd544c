"""Prosody rules calibrated on measured speech: the measurement of a real (manifest) corpus against each speaker's
neutral speech, and the function that turns the measured table into rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from emovox.data_prep.calibration import TRANSFER, intensity_slope, rules_from_summary, rules_to_json
from emovox.data_prep.prosody_rules import calibrated_rules, category_prosody, literature_prosody
from emovox.eval.corpus import measure_manifest, summarise

SR = 22050


def test_intensity_slope_fits_through_the_origin():
    assert intensity_slope([(1.0, 2.0), (2.0, 4.0)]) == pytest.approx(2.0)
    assert intensity_slope([(1.0, 8.0), (2.0, 24.0)]) == pytest.approx((8 + 48) / 5)
    # levels that disagree in sign: the weakest level decides
    assert intensity_slope([(1.0, -3.7), (2.0, 3.7)]) == pytest.approx(-3.7)
    assert intensity_slope([(2.0, 3.0), (1.0, -1.0)]) == pytest.approx(-1.0)
    assert intensity_slope([(1.0, math.nan), (2.0, 4.0)]) == pytest.approx(2.0)
    assert math.isnan(intensity_slope([]))


def _cell(**values) -> dict:
    base = {"n": 10, "mean_intensity": 0.5, "d_f0_st": 0.0, "r_f0_range": 1.0, "d_f0_final_st": 0.0, "rate": 1.0,
            "d_energy_db": 0.0, "d_tilt_db": 0.0, "d_jitter_pct": 0.0}  # fmt: skip
    return {**base, **values}


def test_rules_invert_the_measured_transfer():
    """A table with known deltas at two intensities gives the rule that, rendered, would measure them."""
    summary = {
        "emotions": {"neutral": _cell(), "angry": _cell()},
        "levels": {
            "angry@0.5": _cell(
                d_f0_st=3.0,
                r_f0_range=1.2,
                d_f0_final_st=0.366,
                rate=0.9,
                d_energy_db=8.0,
                d_tilt_db=2.3 + 0.18 * 3.0,
                d_jitter_pct=0.3,
            ),
            "angry@1": _cell(
                d_f0_st=6.0,
                r_f0_range=1.44,
                d_f0_final_st=0.732,
                rate=0.81,
                d_energy_db=16.0,
                d_tilt_db=2 * (2.3 + 0.18 * 3.0),
                d_jitter_pct=0.6,
            ),
        },
    }
    rule = rules_from_summary(summary)["angry"]
    p = rule.params
    assert p.f0_shift_st == pytest.approx(3.0)
    assert p.f0_range == pytest.approx(1.2, rel=1e-3)
    assert p.final_st == pytest.approx(1.0, rel=1e-3)
    assert p.rate == pytest.approx(0.9, rel=1e-3)
    assert p.gain_db == pytest.approx(8.0 - TRANSFER["energy_per_st"] * 3.0, rel=1e-3)
    assert p.tilt_db_oct == pytest.approx(1.0, rel=1e-3)
    assert p.jitter == pytest.approx(0.01, rel=1e-3)
    assert rule.levels == {1.0: 10, 2.0: 10}
    # what was not measured keeps the literature value
    lit = literature_prosody("angry")
    assert p.tension == lit.tension and p.formant_shift == lit.formant_shift
    assert rule.provenance["gain_db"] == "measured" and rule.provenance["tension"] == "literature"
    # the measured range and final movement contain the contour: no literature prominence or declination on top
    assert (p.accent_prominence, p.f0_slope_st) == (1.0, 0.0) != (lit.accent_prominence, lit.f0_slope_st)
    table = json.loads(rules_to_json({"angry": rule}, source="test"))
    assert table["rules"]["angry"]["params"]["gain_db"] == pytest.approx(p.gain_db, abs=1e-3)
    assert "tension" not in table["rules"]["angry"]["measured"]


def test_an_emotion_without_measurements_keeps_the_literature_rule():
    rule = rules_from_summary({"emotions": {"neutral": _cell()}}, emotions=["sleepy"])["sleepy"]
    assert rule.params == literature_prosody("sleepy") and set(rule.provenance.values()) == {"literature"}


def test_the_shipped_table_is_used_by_default():
    rules = calibrated_rules()
    assert {"happy", "sad", "angry", "fear", "surprise", "disgust", "calm"} <= set(rules)
    for emotion, params in rules.items():
        assert category_prosody(emotion, 1.0) == params.scaled(1.0).clamped()
    # the real-speech loudness ordering (RAVDESS): angry louder than neutral, sad quieter
    assert rules["angry"].gain_db > 3.0 > 0.0 > rules["sad"].gain_db


def _tone(f0: float, rms: float, seconds: float = 1.2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    x = x * np.hanning(t.size) ** 0.1
    return (rms * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def test_a_real_corpus_is_measured_against_each_speakers_own_neutral(tmp_path):
    """Two speakers of different pitch and level; 'angry' is +3 st and +6 dB on each, at intensity 0.5 and
    +6 st / +12 dB at 1.0: the table recovers the deltas, the rules the slope, whatever the speaker's own level."""
    records = []
    for spk, (f0, rms) in {"a": (110.0, 0.02), "b": (220.0, 0.08)}.items():
        takes = [("neutral", None, 0.0, 0.0), ("neutral", None, 0.0, 0.0),
                 ("angry", 0.5, 3.0, 6.0), ("angry", 1.0, 6.0, 12.0)]  # fmt: skip
        for i, (emotion, intensity, st, db) in enumerate(takes):
            path = tmp_path / f"{spk}_{i}.wav"
            sf.write(path, _tone(f0 * 2 ** (st / 12), rms * 10 ** (db / 20)), SR)
            records.append({"utt_id": f"{spk}{i}", "audio": str(path), "text": "the same words", "speaker": spk,
                            "emotion": emotion, "intensity": intensity, "adv": None})  # fmt: skip
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = measure_manifest(manifest, quality=False)
    summary = summarise(rows)
    assert summary["levels"]["angry@0.5"]["d_f0_st"] == pytest.approx(3.0, abs=0.15)
    assert summary["levels"]["angry@0.5"]["d_energy_db"] == pytest.approx(6.0, abs=0.3)
    assert summary["levels"]["angry@1"]["d_energy_db"] == pytest.approx(12.0, abs=0.3)
    assert summary["levels"]["angry@1"]["rate"] == pytest.approx(1.0, abs=0.05)
    rule = rules_from_summary(summary)["angry"]
    assert rule.params.f0_shift_st == pytest.approx(3.0, abs=0.15)
    assert rule.params.gain_db == pytest.approx(6.0 - TRANSFER["energy_per_st"] * 3.0, abs=0.4)
    with pytest.raises(ValueError, match="not found"):
        measure_manifest(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("table", ["calibrated", "tuned", "literature"])
def test_every_cue_keeps_moving_up_to_intensity_two(table):
    """Intensity past 1 extrapolates each rule: no cue of a packaged rule is clamped flat before intensity 2
    (the F0 range excepted: it is bounded together with the accent prominence, MAX_LOCAL_EXCURSION)."""
    bounded = {"f0_range", "accent_prominence", "final_s", "tremor_hz"}
    for emotion in ["happy", "sad", "angry", "fear", "surprise", "disgust", "calm"]:
        at = [category_prosody(emotion, a, rules=table).as_dict() for a in (0.0, 1.0, 1.5, 2.0)]
        for cue in set(at[0]) - bounded:
            steps = np.diff([p[cue] for p in at])
            if abs(steps[0]) < 1e-6:
                continue  # the rule does not use this cue
            assert np.all(np.sign(steps) == np.sign(steps[0])), (table, emotion, cue, [p[cue] for p in at])

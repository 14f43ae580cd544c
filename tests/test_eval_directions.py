"""Directions of real speech (emovox.eval.directions): the real table from `emovox eval corpus`, the comparison of
synthesised changes against neutral with it, and the bundled RAVDESS medians."""

from __future__ import annotations

import json
import math

import pytest

from emovox.emotion.labels import BASIC_EMOTIONS
from emovox.eval.directions import (
    CUES,
    DEFAULT_REAL_DIRECTIONS,
    SHOWN_CUES,
    direction_agreement,
    load_real_directions,
    real_directions,
)

SUMMARY = {  # the shape of prosody_report.json's "levels": normal (0.5) and strong (1) takes
    "levels": {
        "angry@0.5": {"d_f0_st": 2.0, "d_energy_db": 8.0, "rate": 0.9, "n": 4},
        "angry@1": {"d_f0_st": 10.0, "d_energy_db": 24.0, "rate": 0.85, "n": 4},
        "sad@0.5": {"d_f0_st": -1.0, "d_energy_db": -4.0, "rate": 0.8, "n": 4},
        "calm@1": {"d_f0_st": -0.5, "d_energy_db": -2.0, "rate": 0.7, "n": 4},
    }
}


CELL = {"f0_st": 1.0, "energy_db": 2.0, "rate": 1.0}


def _row(spec, sentence, speaker, f0, db, active):
    return {"spec": spec, "sentence": sentence, "speaker": speaker,
            "prosody": {"f0_st": f0, "energy_db": db, "active_s": active}}  # fmt: skip


def test_the_real_table_takes_the_lower_level_as_1_and_the_higher_as_2():
    table = real_directions(SUMMARY, source="toy")
    assert table["source"] == "toy" and table["cues"] == list(CUES)
    assert table["emotions"]["angry"] == {
        "1": {"f0_st": 2.0, "energy_db": 8.0, "rate": 0.9},
        "2": {"f0_st": 10.0, "energy_db": 24.0, "rate": 0.85},
    }
    assert set(table["emotions"]["sad"]) == {"1"} and set(table["emotions"]["calm"]) == {"1"}
    with pytest.raises(ValueError, match="no per-level table"):
        real_directions({"emotions": {}})


def test_agreement_counts_each_emotion_intensity_and_cue_against_the_same_sentences_neutral():
    rows = []
    for sentence, speaker in ((0, "a"), (1, "b")):
        rows.append(_row("neutral", sentence, speaker, 5.0, -30.0, 2.0))
        rows.append(_row("angry", sentence, speaker, 8.0, -20.0, 2.2))  # higher, louder, slower: as real
        rows.append(_row("angry:2", sentence, speaker, 12.0, -31.0, 2.5))  # quieter at 2: opposite
        rows.append(_row("sad", sentence, speaker, 3.0, -35.0, 1.6))  # faster: opposite to real sad
        rows.append(_row("angry:1.5", sentence, speaker, 0.0, -60.0, 9.0))  # not compared: no real level
    res = direction_agreement(rows, real_directions(SUMMARY), ["angry", "sad", "fear"])
    cells = {(r["emotion"], r["intensity"], r["cue"]): r for r in res["rows"]}
    assert len(cells) == 9  # angry 1 and 2, sad 1; fear has neither real data nor renderings
    assert cells[("angry", "1", "f0_st")]["synthesised"] == pytest.approx(3.0)
    assert cells[("angry", "1", "rate")]["synthesised"] == pytest.approx(2.0 / 2.2)
    assert cells[("angry", "2", "energy_db")]["agrees"] is False
    assert (
        cells[("sad", "1", "rate")]["synthesised"] == pytest.approx(1.25)
        and not cells[("sad", "1", "rate")]["agrees"]
    )
    assert all(cells[k]["n"] == 2 for k in cells)
    assert res["mismatches"] == ["angry:2 energy_db", "sad:1 rate"]
    assert res["agreement"] == pytest.approx(7 / 9)
    empty = direction_agreement([], real_directions(SUMMARY))
    assert empty["rows"] == [] and math.isnan(empty["agreement"])


def test_the_bundled_ravdess_table_has_every_basic_emotion_at_1_and_2():
    table = load_real_directions()
    assert DEFAULT_REAL_DIRECTIONS.stat().st_size < 10_000  # medians only
    for e in BASIC_EMOTIONS[1:]:
        assert set(table["emotions"][e]) == {"1", "2"}, e
    angry = table["emotions"]["angry"]
    assert angry["1"]["energy_db"] > 3 and angry["2"]["energy_db"] > angry["1"]["energy_db"]
    assert table["emotions"]["sad"]["1"]["energy_db"] < 0
    # how real sentences end: happy falls, surprise rises most (README, "How a sentence ends")
    assert table["emotions"]["happy"]["2"]["final_st"] < table["emotions"]["happy"]["1"]["final_st"] < 0
    assert max(table["emotions"], key=lambda e: table["emotions"][e]["2"]["final_st"]) == "surprise"


def test_the_final_movement_is_compared_and_shown_but_not_scored():
    summary = {"levels": {
        "happy@0.5": {"d_f0_st": 2.0, "d_energy_db": 5.0, "rate": 0.99, "d_f0_final_st": -0.7},
        "happy@1": {"d_f0_st": 9.0, "d_energy_db": 16.0, "rate": 0.9, "d_f0_final_st": -1.5},
    }}  # fmt: skip
    table = real_directions(summary)
    assert table["cues"] == [*CUES, *SHOWN_CUES] and table["emotions"]["happy"]["2"]["final_st"] == -1.5
    assert "final_st" not in real_directions(SUMMARY)["emotions"]["angry"]["1"]  # not measured: not invented
    rows = []
    for sentence in (0, 1):
        neutral = _row("neutral", sentence, "a", 5.0, -30.0, 2.0)
        neutral["prosody"]["f0_final_st"] = -1.0
        happy = _row("happy", sentence, "a", 8.0, -25.0, 2.1)  # every scored cue as real
        happy["prosody"]["f0_final_st"] = -0.5  # ends rising against neutral: opposite
        strong = _row("happy:2", sentence, "a", 12.0, -20.0, 2.1)
        strong["prosody"]["f0_final_st"] = -3.0  # falls more: as real
        rows += [neutral, happy, strong]
    res = direction_agreement(rows, table, ["happy"])
    final = {r["intensity"]: r for r in res["rows"] if r["cue"] == "final_st"}
    assert final["1"]["synthesised"] == pytest.approx(0.5) and final["1"]["agrees"] is False
    assert final["2"]["synthesised"] == pytest.approx(-2.0) and final["2"]["agrees"] is True
    assert not final["1"]["scored"] and all(r["scored"] for r in res["rows"] if r["cue"] in CUES)
    assert res["agreement"] == 1.0 and res["mismatches"] == []  # the unscored miss leaves the score alone
    assert res["shown_mismatches"] == ["happy:1 final_st"]


def test_loading_a_corpus_report_or_refusing_what_is_not_a_table(tmp_path):
    report = tmp_path / "prosody_report.json"
    report.write_text(json.dumps(SUMMARY))
    assert load_real_directions(report)["emotions"]["angry"]["2"]["f0_st"] == 10.0
    for name, text, message in (
        ("broken.json", "{not json", "cannot read"),
        ("list.json", "[1, 2]", "not a direction table"),
        ("other.json", json.dumps({"format": 2, "emotions": {}}), "not a direction table"),
        ("short.json", json.dumps({"format": 1, "emotions": {"angry": {"1": {"f0_st": 1.0}}}}), "needs"),
        (
            "final.json",
            json.dumps({"format": 1, "emotions": {"angry": {"1": {**CELL, "final_st": "up"}}}}),
            "needs",
        ),
    ):
        bad = tmp_path / name
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_real_directions(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_real_directions(tmp_path / "missing.json")

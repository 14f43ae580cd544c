"""`emovox eval evc` on stand-ins: a tiny conversion model, tone "actors" and a recogniser that reads arousal from
F0 and valence from loudness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pyworld", reason="the prosody path needs pyworld (the evc / dev extra)")

from emovox.conversion import VoiceConversion
from emovox.eval.evc import EvcPlan, evaluate_evc, render_markdown, write_report
from tests.eval_fakes import SR, NormalisedFakeSER
from tests.evc_fakes import save_tiny_evc, voice


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two actors, each with two neutral clips and one clip per other emotion (their reference set)."""
    root = tmp_path_factory.mktemp("actors")
    records = []
    for a, f0 in (("01", 120.0), ("02", 210.0)):
        for k, emotion in enumerate(["neutral", "neutral", "happy", "sad", "angry"]):
            path = root / f"{a}_{k}.wav"
            sf.write(path, voice(1.2, f0=f0, sr=SR, seed=k), SR)
            records.append({"utt_id": path.stem, "audio": str(path), "text": "the cat", "speaker": a,
                            "emotion": emotion})  # fmt: skip
    return records


@pytest.fixture(scope="module")
def vc(tmp_path_factory):
    return VoiceConversion.load(
        save_tiny_evc(tmp_path_factory.mktemp("m") / "evc.safetensors"), acoustic=None
    )


def plan(**kw):
    base = dict(emotions=("happy", "sad"), main=("happy", "sad"), intensities=(0.5, 1.0, 2.0), held_out=("02",),
                speaker_similarity=False, wer=False, mos=False)  # fmt: skip
    return EvcPlan(**(base | kw))


def test_conversion_moves_the_recogniser_the_way_the_map_says(vc, corpus, tmp_path):
    ser = NormalisedFakeSER(emotions=["neutral", "happy", "sad", "angry"])
    res = evaluate_evc(vc, corpus, ser, plan(), sample_rate=SR, progress=False)
    assert res["sources"] == 4 and res["speakers"] == ["01", "02"] and res["held_out"] == ["02"]
    assert set(ser.references) == {"01", "02"} and ser.references["01"][0] == 5  # each actor's own clips
    happy = res["emotion"]["per_emotion"]["happy"]
    # The tiny map raises F0 by 4 st and loudness by 4 dB per unit of happy: the stand-in hears more arousal and
    # valence, i.e. happy, and more of it at higher intensity.
    assert happy["p_after"] > happy["p_before"] and happy["raised"]
    assert happy["by_intensity"]["2"]["p_target"] >= happy["by_intensity"]["0.5"]["p_target"]
    assert happy["rho"] > 0.5
    assert res["timing"]["sad:1"] > 1.1  # the sad rule slows speech down (rate 0.8)
    assert res["timing"]["happy:1"] < 1.0
    text = render_markdown(res)
    assert "| happy |" in text and "## Targets" in text
    write_report(res, tmp_path / "rep")
    assert json.loads((tmp_path / "rep" / "evc_report.json").read_text())["sources"] == 4


def test_an_identity_converter_raises_nothing(vc, corpus, monkeypatch):
    from emovox.data_prep.prosody_rules import ProsodyParams

    monkeypatch.setattr(vc, "prosody_change", lambda spec, **kw: ProsodyParams())
    ser = NormalisedFakeSER(emotions=["neutral", "happy", "sad", "angry"])
    res = evaluate_evc(vc, corpus, ser, plan(), sample_rate=SR, progress=False)
    assert not res["emotion"]["all_raised"]
    assert not res["targets"]["P(target) raised for every emotion"]["met"]
    assert all(abs(v - 1.0) < 1e-6 for v in res["timing"].values())


def test_a_manifest_without_neutral_clips_is_refused(vc, corpus):
    angry_only = [r for r in corpus if r["emotion"] == "angry"]
    with pytest.raises(ValueError, match="no neutral clip"):
        evaluate_evc(vc, angry_only, NormalisedFakeSER(), plan(), sample_rate=SR, progress=False)


def test_speaker_section_with_resemblyzer(vc, corpus):
    pytest.importorskip("resemblyzer")
    ser = NormalisedFakeSER(emotions=["neutral", "happy", "sad", "angry"])
    res = evaluate_evc(vc, corpus, ser, plan(speaker_similarity=True, intensities=(1.0,)), sample_rate=SR,
                       progress=False)  # fmt: skip
    sp = res["speaker"]
    assert sp["available"] and -1.0 <= sp["to_source_min"] <= sp["to_source_mean"] <= 1.0
    assert 0.0 <= sp["identified"] <= 1.0
    assert np.isfinite(sp["same_speaker_corpus_mean"])


def test_before_after_f0_plot(vc, tmp_path):
    pytest.importorskip("matplotlib")
    from emovox.eval.plots import plot_conversion_f0

    x = voice(1.2, sr=SR)
    out = plot_conversion_f0(x, {"happy": vc.convert(x, SR, "happy")[0]}, SR, tmp_path / "f0.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_parallel_targets_are_reached(vc, tmp_path):
    """A parallel corpus: the speaker's emotional renderings are the neutral clip with the true rules applied, so
    converting with the exact map lands on them: every conversion is closer (MCD) than the unconverted source."""
    from emovox.evc.prosody import convert_chunk
    from tests.evc_fakes import RULES

    x = voice(1.4, f0=150.0, sr=SR, seed=5)
    sf.write(tmp_path / "n.wav", x, SR)
    records = [{"utt_id": "n", "audio": str(tmp_path / "n.wav"), "text": "a parallel sentence", "speaker": "s1",
                "emotion": "neutral", "intensity": None}]  # fmt: skip
    for e, a in (("happy", 1.0), ("sad", 0.8), ("angry", 0.5)):
        y = convert_chunk(x, SR, RULES[e].scaled(a), np.random.default_rng(0))
        sf.write(tmp_path / f"{e}.wav", y, SR)
        records.append({"utt_id": e, "audio": str(tmp_path / f"{e}.wav"), "text": "a parallel sentence",
                        "speaker": "s1", "emotion": e, "intensity": a})  # fmt: skip
    # Same speaker, another text: not a parallel target of this source.
    records.append(dict(records[1], utt_id="other", text="another sentence"))
    ser = NormalisedFakeSER(emotions=["neutral", "happy", "sad", "angry"])
    p = plan(emotions=("happy", "sad", "angry"), main=("happy",), intensities=(1.0,), held_out=())
    full = evaluate_evc(vc, records, ser, p, sample_rate=SR, progress=False)
    par = full["parallel"]
    assert "## Parallel targets" in render_markdown(full)
    assert par["available"] and par["pairs"] == 3 and set(par["per_emotion"]) == {"happy", "sad", "angry"}
    assert par["closer_share"] == 1.0 and par["mcd_after"] < 0.5 * par["mcd_before"]
    assert par["per_emotion"]["happy"]["f0_after"] < par["per_emotion"]["happy"]["f0_before"]
    res = evaluate_evc(vc, records, ser, EvcPlan(**{**p.__dict__, "parallel": False}), sample_rate=SR,
                       progress=False)  # fmt: skip
    assert "parallel" not in res and "## Parallel targets" not in render_markdown(res)

"""The evaluation report end to end with a tone "TTS", a recogniser that reads F0/loudness, and a fake store."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import numpy as np
import pytest

from emovox.eval.report import EvalPlan, Store, evaluate, render_markdown, write_report
from tests.eval_fakes import ST_PER_AROUSAL, ConstantAsr, FakeSER, FakeTTS, OracleAsr, write_store

PLAN = EvalPlan.quick(sentences=2, sub_sentences=1, intensities=(0.0, 0.5, 1.0, 1.5))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    tts = FakeTTS()
    store = write_store(root / "store", tts)
    twin = FakeSER(("neutral", "happy", "sad", "angry"))  # a second view with fewer classes
    result = evaluate(tts, store, FakeSER(), plan=PLAN, asr=OracleAsr(tts), seed=3, others={"twin": twin})
    paths = write_report(result, root / "out")
    return result, paths, tts


def test_target_posteriors_and_a_second_view_on_the_same_clips(evaluated):
    res, paths, _ = evaluated
    acc = res["accuracy"]
    probs = acc["synth_mean_probs"]
    assert set(probs) == set(acc["emotions"]) and acc["posterior_dominant"] == 1.0
    for e in acc["emotions"]:
        assert probs[e][e] == max(probs[f][e] for f in probs), e
    assert res["targets"]["posterior_dominant"]["status"] == "PASS"
    twin = res["other_recognisers"]["twin"]
    assert set(twin["per_emotion"]) == {"neutral", "happy", "sad", "angry"}
    # fewer classes cannot make the twin worse on the clips of its own classes
    for e, value in twin["per_emotion"].items():
        assert value >= acc["synth_per_emotion"][e], e
    assert set(twin["intensity_rho"]) == {"happy", "sad", "angry"}
    assert "Second view" in paths["markdown"].read_text()


def test_the_report_compares_directions_with_real_speech(evaluated):
    res, paths, _ = evaluated
    d = res["directions"]
    assert "RAVDESS" in d["source"]  # the bundled table by default
    assert {r["emotion"] for r in d["rows"]} == {"happy", "sad", "angry", "fear", "surprise", "disgust"}
    assert {r["intensity"] for r in d["rows"]} == {"1"}  # this plan renders nothing at 2 for the comparison
    # The fake voice makes angry quieter than neutral; real angry is louder.
    assert "angry:1 energy_db" in d["mismatches"]
    assert res["targets"]["real_directions"]["value"] == d["agreement"] < 1.0
    assert res["targets"]["real_directions"]["status"] == "MISS"
    text = paths["markdown"].read_text()
    assert "Directions of real speech" in text
    # the final movement is shown beside the scored cues, not counted in the agreement
    final = [r for r in d["rows"] if r["cue"] == "final_st"]
    assert len(final) == 6 and not any(r["scored"] for r in final)
    scored = [r["agrees"] for r in d["rows"] if r["scored"] and r["agrees"] is not None]
    assert d["agreement"] == pytest.approx(np.mean(scored))
    assert "How sentences end, shown and not scored" in text


def test_accuracy_of_a_perfectly_controllable_voice(evaluated):
    res, _, _ = evaluated
    acc = res["accuracy"]
    assert acc["emotions"] == ["neutral", "happy", "sad", "angry", "fear", "surprise", "disgust"]
    assert acc["synth_n"] == 2 * 7 and acc["synth_accuracy"] == 1.0
    assert acc["real_accuracy"] == 1.0 and acc["real_n"] == 7 * PLAN.real_per_emotion
    assert np.trace(np.asarray(acc["synth_confusion"])) == 14
    assert res["targets"]["emotion_accuracy"]["status"] == "PASS"


def test_intensity_tracks_f0_and_energy_with_the_emotions_sign(evaluated):
    per = evaluated[0]["intensity"]["per_emotion"]
    assert set(per) == {"happy", "sad", "angry", "fear", "surprise", "disgust"}
    assert per["happy"]["f0_st"]["rho"] > 0.95 and per["happy"]["energy_db"]["rho"] > 0.95
    assert per["sad"]["f0_st"]["rho"] < -0.95 and per["sad"]["energy_db"]["rho"] < -0.95
    assert per["angry"]["energy_db"]["rho"] < -0.95  # negative valence: quieter in the fake voice
    # The fake recogniser's target probability rises from intensity 0 to 1.
    for table in per.values():
        means = table["p_target"]["mean_by_intensity"]
        assert means[2] > means[0]


def test_intensity_reports_what_the_recogniser_hears(evaluated):
    res, paths, _ = evaluated
    per = res["intensity"]["per_emotion"]
    for e, table in per.items():
        cells = table["heard_as"]
        assert [c["intensity"] for c in cells] == list(PLAN.intensities)
        # the top class is at least as likely as the target
        assert all(c["p"] >= c["p_target"] for c in cells)
        # the fake voice is fully controllable: at intensity 1 the recogniser hears the requested emotion
        assert cells[2]["label"] == e and cells[2]["p"] == cells[2]["p_target"], (e, cells)
        # the centred means of the intensity table are these raw means minus the sentence mean
        raw_mean = np.mean([c["p_target"] for c in cells])
        centred = table["p_target"]["mean_by_intensity"][2]
        assert cells[2]["p_target"] == pytest.approx(centred + raw_mean, abs=1e-9)
    text = paths["markdown"].read_text()
    assert "What the recogniser hears at each intensity" in text
    assert f"| happy | {per['happy']['heard_as'][0]['label']} " in text


def test_adv_axes_map_to_f0_loudness_and_rate(evaluated):
    axes = evaluated[0]["adv"]["axes"]
    assert axes["arousal"]["f0_st"]["r"] > 0.999
    assert axes["arousal"]["f0_st"]["slope"] == pytest.approx(ST_PER_AROUSAL, rel=0.02)
    assert axes["arousal"]["rate"]["r"] > 0.9  # the fake voice speaks faster when aroused
    assert axes["valence"]["ser_valence"]["r"] > 0.99
    assert axes["valence"]["energy_db"]["slope"] == pytest.approx(12.0, rel=0.05)
    assert abs(axes["valence"]["f0_st"]["slope"]) < 0.1  # valence leaves F0 alone
    assert math.isnan(axes["dominance"]["ser_dominance"]["r"])  # the fake recogniser has no dominance
    targets = evaluated[0]["targets"]
    assert targets["arousal_f0_r"]["status"] == "PASS" and targets["valence_ser_r"]["status"] == "PASS"


def test_mixtures_and_polarity(evaluated):
    res = evaluated[0]
    curve = res["mixtures"]["pairs"]["happy+sad"]
    assert curve["weights"] == [0.0, 0.5, 1.0]
    assert curve["p_a"][-1] > 0.9 and curve["p_b"][0] > 0.9
    assert curve["rho_w_vs_pa_minus_pb"] > 0.9
    pol = res["polarity"]
    assert pol["n"] == 6 and pol["va_flip_fraction"] == 1.0
    assert pol["per_measure"]["f0_st"] == 1.0
    assert res["targets"]["polarity_flip"]["status"] == "PASS"


def test_wer_and_mcd_against_the_store(evaluated):
    res = evaluated[0]
    wer = res["wer"]
    assert wer["available"] and wer["backend"] == "oracle" and wer["informative"]
    assert wer["synth"]["wer"] == 0.0 and wer["synth"]["n_utterances"] == 14
    assert wer["real"]["wer"] == 0.0 and wer["real"]["n_utterances"] == 2 * PLAN.real_per_sentence
    assert wer["ratio"] == 1.0 and res["targets"]["wer_ratio"]["status"] == "PASS"
    mcd = res["mcd"]
    assert mcd["available"] and mcd["n"] == 14
    # Same signal up to trimming and int16: small distortion, F0 within a few cents.
    assert mcd["mcd_db"] < 2.5 and mcd["f0_rmse_cents"] < 5.0


def test_mos_per_emotion_when_distillmos_is_installed(evaluated):
    from emovox.eval.mos import unavailable_reason

    m = evaluated[0]["mos"]
    if unavailable_reason() is not None:
        assert m["available"] is False and "pip install --no-deps distillmos" in m["reason"]
        return
    assert m["synth_n"] == 14 and m["real_n"] == 2 * PLAN.real_per_sentence
    assert set(m["synth_per_emotion"]) == set(evaluated[0]["accuracy"]["emotions"])
    for v in [m["synth"], m["real"], *m["synth_per_emotion"].values()]:
        assert 1.0 <= v <= 5.0
    # The store holds the fake voice's own renderings: its recordings score like the synthesised clips.
    assert m["real_per_emotion"]["neutral"] == pytest.approx(m["synth_per_emotion"]["neutral"], abs=0.1)


def test_each_clip_is_synthesised_once(evaluated):
    res, _, tts = evaluated
    # + the store's own renderings + the speaker-similarity renderings the main ones do not already hold
    assert tts.calls == res["meta"]["clips"] + 7 * 5 + res["speaker"].get("clips", 0)
    specs = [(r["sentence"], r["spec"]) for r in res["renderings"]]
    assert len(specs) == len(set(specs))


def test_report_files(evaluated):
    res, paths, _ = evaluated
    data = json.loads(paths["json"].read_text())
    assert data["targets"]["emotion_accuracy"]["value"] == 1.0
    assert data["adv"]["axes"]["dominance"]["ser_dominance"]["r"] is None  # NaN -> null
    md = paths["markdown"].read_text()
    for heading in ("## Summary", "## 1. Emotion accuracy", "## 2. Intensity", "## 3. ADV control",
                    "## 4. Mixtures", "## 5. Polarity", "## 6. Intelligibility", "## 7. MCD", "## 8. MOS", "## 9. Speaker similarity"):  # fmt: skip
        assert heading in md
    assert md.count("— **PASS**") + md.count("— **MISS**") >= 6
    for name in ("confusion", "intensity", "adv", "mixtures", "polarity", "wer"):
        png = paths[f"plot:{name}"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](plots/{name}.png)" in md


def test_unavailable_parts_are_reported_not_hidden(evaluated):
    res = dict(evaluated[0])
    res["wer"] = {"available": False, "reason": "no backend"}
    res["targets"] = dict(res["targets"], wer_ratio={**res["targets"]["wer_ratio"], "value": math.nan,
                                                      "status": "N/A"})  # fmt: skip
    md = render_markdown(res)
    assert "WER unavailable: no backend" in md and "| N/A |" in md


def test_misses_are_reported(tmp_path):
    """A voice whose emotion control does nothing fails the targets, and the report says MISS."""

    class FlatTTS(FakeTTS):
        def synthesize(self, text, emotion="neutral", speaker=None, seed=None, **kw):
            return super().synthesize(text, "neutral", speaker, seed)

    emotions = ("neutral", "happy", "sad")
    tts = FlatTTS(emotions)
    store = write_store(tmp_path / "store", FakeTTS(emotions), sentences=("a dog ran home",))
    plan = EvalPlan.quick(sentences=1, sub_sentences=1, intensities=(0.0, 1.0), mixture_pairs=())
    res = evaluate(tts, store, FakeSER(emotions), plan=plan, asr=ConstantAsr("zzz"))
    t = res["targets"]
    assert t["emotion_accuracy"]["status"] == "MISS" and t["emotion_accuracy"]["value"] == pytest.approx(
        1 / 3
    )
    assert t["arousal_f0_r"]["status"] == "N/A"  # constant F0: r undefined
    assert t["polarity_flip"]["status"] == "MISS"
    # The ASR understands none of the store's recordings: the WER ratio is reported but not judged.
    assert res["wer"]["real"]["wer"] == 1.0 and not res["wer"]["informative"]
    assert t["wer_ratio"]["status"] == "N/A" and "not judged" in render_markdown(res)


def test_store_validation_and_held_out_split(tmp_path):
    with pytest.raises(ValueError, match="not a feature store"):
        Store.open(tmp_path)
    store = write_store(
        tmp_path / "s", FakeTTS(emotions=("neutral", "happy")), sentences=("a b",), split="train"
    )
    held, split = Store.open(store).held_out()
    assert split.startswith("all") and len(held) == 2
    with pytest.raises(ValueError, match="must know 'neutral'"):
        evaluate(FakeTTS(emotions=("happy",)), store, FakeSER(), plan=EvalPlan.quick(), asr="none")
    with pytest.raises(ValueError, match="at least one sentence"):
        EvalPlan(sentences=0)


def test_cli_eval_model_with_fakes(tmp_path, monkeypatch, capsys):
    from emovox.cli import main
    from emovox.commands import eval_model
    from emovox.pipelines import EmotionalTTS

    emotions = ("neutral", "happy", "sad")
    store = write_store(tmp_path / "store", FakeTTS(emotions), sentences=("a dog ran home", "we saw the sea"))
    ser_ckpt = tmp_path / "ser.safetensors"
    ser_ckpt.write_bytes(b"placeholder")
    loaded = {}

    def fake_load(model=None, **kwargs):
        loaded["model"] = model
        return FakeTTS(emotions)

    monkeypatch.setattr(EmotionalTTS, "load", staticmethod(fake_load))
    monkeypatch.setattr(eval_model, "_load_recogniser", lambda path, device: FakeSER(emotions))
    out = tmp_path / "report"
    argv = ["eval", "model", "default", "--corpus", str(store), "--ser", str(ser_ckpt), "--out", str(out),
            "--quick", "--sentences", "1", "--asr", "none"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert loaded["model"] is None
    assert "PASS" in printed and "emotion accuracy" in printed and str(out / "report.md") in printed
    data = json.loads((out / "report.json").read_text())
    assert data["meta"]["plan"]["sentences"] == 1
    assert data["wer"] == {"available": False, "reason": "disabled (asr='none')"}
    # User errors are one-line messages.
    assert main([*argv[:4], str(tmp_path), *argv[5:]]) == 1
    assert "not a feature store" in capsys.readouterr().err
    assert main([*argv[:6], str(tmp_path / "missing.safetensors"), *argv[7:]]) == 1
    assert "emovox train ser" in capsys.readouterr().err
    assert main([*argv, "--speaker-reference", str(tmp_path / "none.jsonl")]) == 1
    assert "--speaker-reference: manifest" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_with_the_real_pipeline_and_recogniser(tmp_path):
    """The real EmotionalTTS (tiny random voice + universal HiFi-GAN) and EmotionRecognizer (random weights)
    go through every section: checks that evaluate() speaks their APIs, not what the numbers are."""
    from emovox.audio.mel import MelConfig
    from emovox.pipelines import EmotionalTTS
    from emovox.ser.infer import EmotionRecognizer
    from emovox.ser.models.cnn import SERModel, SERModelConfig
    from tests.tiny_voice import EMOTIONS, SPEAKERS, make_tiny_voice

    tts = EmotionalTTS.load(make_tiny_voice(tmp_path / "tiny.safetensors"))
    ser = EmotionRecognizer(SERModel(SERModelConfig(n_emotions=len(EMOTIONS))).eval(), EMOTIONS, MelConfig())
    store = write_store(
        tmp_path / "store", FakeTTS(EMOTIONS, speakers=SPEAKERS[:1]), sentences=("Hello there.",)
    )
    plan = EvalPlan.quick(sentences=1, sub_sentences=1, intensities=(0.0, 1.0), adv_points=2)
    res = evaluate(tts, store, ser, plan=plan, asr=ConstantAsr("hello there"))
    assert res["meta"]["sentences"][0]["speaker"] == SPEAKERS[0]
    assert res["accuracy"]["synth_n"] == 4 and res["accuracy"]["real_n"] == 4  # one recording per emotion
    assert all(math.isfinite(r["ser_adv"][0]) for r in res["renderings"])
    assert res["wer"]["synth"]["wer"] == 0.0 and res["mcd"]["available"] and res["mcd"]["n"] == 4
    paths = write_report(res, tmp_path / "out")
    assert "## 7. MCD" in paths["markdown"].read_text()


def test_cli_eval_model_steps_reach_every_synthesis(tmp_path, monkeypatch):
    from emovox.cli import main
    from emovox.commands import eval_model
    from emovox.pipelines import EmotionalTTS

    emotions = ("neutral", "happy", "sad")
    seen = []

    class StepsTTS(FakeTTS):
        def synthesize(self, text, steps=None, **kwargs):
            seen.append(steps)
            return super().synthesize(text, **kwargs)

    store = write_store(tmp_path / "store", FakeTTS(emotions), sentences=("a dog ran home",))
    ser_ckpt = tmp_path / "ser.safetensors"
    ser_ckpt.write_bytes(b"placeholder")
    monkeypatch.setattr(EmotionalTTS, "load", staticmethod(lambda model=None, **kw: StepsTTS(emotions)))
    monkeypatch.setattr(eval_model, "_load_recogniser", lambda path, device: FakeSER(emotions))
    argv = ["eval", "model", "default", "--corpus", str(store), "--ser", str(ser_ckpt),
            "--out", str(tmp_path / "r"), "--quick", "--sentences", "1", "--asr", "none"]  # fmt: skip
    assert main([*argv, "--steps", "2"]) == 0
    assert seen and set(seen) == {2}
    assert json.loads((tmp_path / "r" / "report.json").read_text())["meta"]["model"]["diffusion_steps"] == 2
    assert main([*argv, "--steps", "-1"]) == 1


# ----------------------------------------------------------------------------------------------- speaker similarity

SPEAKER_PLAN = EvalPlan.quick(
    sentences=2, sub_sentences=2, intensities=(0.0, 1.0), mixture_pairs=(), adv_points=2
)


def _needs_resemblyzer():
    from emovox.eval.speaker import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"speaker encoder unavailable: {reason}")


def test_speaker_similarity_of_a_two_voice_model(tmp_path):
    """Two vowel voices (F0 and vocal tract) whose emotions move F0, loudness and tempo: each emotional
    rendering stays closer to its own speaker's neutral rendering than the two speakers are to each other."""
    from tests.speaker_fakes import VoicesTTS

    _needs_resemblyzer()
    tts = VoicesTTS()
    store = write_store(tmp_path / "store", VoicesTTS(), sentences=("a dog ran home", "we saw the sea"))
    res = evaluate(tts, store, FakeSER(tts.emotions), plan=SPEAKER_PLAN, asr="none")
    sp = res["speaker"]
    assert sp["available"] and sp["speakers"] == ["low", "high"] and sp["sentences"] == 2
    assert sp["intensities"] == [1.0, 2.0]
    # Reused from the main renderings: the store speaker's neutral and intensity-1 clips (2 sentences × 3).
    assert sp["clips"] == 2 * 2 * 5 - 2 * 3
    for spk in ("low", "high"):
        cells = sp["same_speaker"][spk]
        assert set(cells) == {"happy", "sad"} and set(cells["happy"]) == {"1", "2"}
        assert all(0.7 < v <= 1.0 for by_a in cells.values() for v in by_a.values())
    # Stronger emotion moves the voice further from neutral.
    assert sp["per_emotion"]["happy"]["2"] < sp["per_emotion"]["happy"]["1"]
    diff = sp["different"]
    assert list(diff["pairs"]) == ["low / high"] and diff["max"] == diff["mean"] < 0.75
    assert sp["margin"] == pytest.approx(sp["same_min"]["value"] - diff["max"]) and sp["margin"] > 0.05
    assert sp["above_different_max"] == 1.0
    assert sp["per_speaker"]["high"]["nearest_pair"] == "low / high"
    assert sp["per_speaker"]["high"]["nearest_other"] == diff["max"]
    assert sp["per_speaker"]["high"]["lowest"] == min(v for by_a in sp["same_speaker"]["high"].values()
                                                      for v in by_a.values())  # fmt: skip
    t = res["targets"]["speaker_margin"]
    assert t["status"] == "PASS" and t["value"] == sp["margin"]
    paths = write_report(res, tmp_path / "out")
    md = paths["markdown"].read_text()
    assert "## 9. Speaker similarity" in md and "| happy:2 |" in md and "low / high" in md
    assert json.loads(paths["json"].read_text())["speaker"]["same_speaker"]["high"]["sad"]["1"] > 0.7


def test_one_person_in_two_voices_is_not_two_different_speakers(tmp_path):
    from dataclasses import replace

    from tests.speaker_fakes import VoicesTTS

    _needs_resemblyzer()
    tts = VoicesTTS()
    store = write_store(tmp_path / "store", VoicesTTS(), sentences=("a dog ran home", "we saw the sea"))
    plan = replace(SPEAKER_PLAN, same_person=(("low", "high"),))
    sp = evaluate(tts, store, FakeSER(tts.emotions), plan=plan, asr="none")["speaker"]
    assert list(sp["same_person_pairs"]) == ["low / high"] and sp["different"]["pairs"] == {}
    assert math.isnan(sp["different"]["max"])


def test_a_voice_that_changes_with_the_emotion_misses(tmp_path):
    from tests.speaker_fakes import VoicesTTS

    _needs_resemblyzer()

    class Shapeshifter(VoicesTTS):
        """Every emotional rendering comes out in a third voice (a child's: high F0, short vocal tract)."""

        VOICES: ClassVar[dict[str, tuple[float, float]]] = {**VoicesTTS.VOICES, "child": (330.0, 1.6)}

        def synthesize(self, text, emotion="neutral", speaker=None, seed=None, **kw):
            speaker = speaker if emotion == "neutral" else "child"
            return super().synthesize(text, emotion, speaker, seed)

    store = write_store(tmp_path / "store", VoicesTTS(), sentences=("a dog ran home", "we saw the sea"))
    res = evaluate(Shapeshifter(), store, FakeSER(VoicesTTS().emotions), plan=SPEAKER_PLAN, asr="none")
    assert res["speaker"]["margin"] < 0 and res["targets"]["speaker_margin"]["status"] == "MISS"
    assert "— **MISS**" in render_markdown(res)


def test_one_speaker_has_no_different_speaker_pairs(evaluated):
    sp = evaluated[0]["speaker"]
    if not sp["available"]:
        pytest.skip(sp["reason"])
    assert sp["speakers"] == ["spk0"] and sp["different"]["pairs"] == {}
    assert math.isnan(sp["margin"]) and evaluated[0]["targets"]["speaker_margin"]["status"] == "N/A"


def test_missing_speaker_encoder_and_mos_are_reported(tmp_path, monkeypatch):
    from emovox.eval import mos, speaker

    monkeypatch.setattr(speaker, "unavailable_reason", lambda: "resemblyzer is not installed; pip install it")
    monkeypatch.setattr(mos, "unavailable_reason", lambda: "distillmos is not installed; pip install it")
    tts = FakeTTS(("neutral", "happy"))
    store = write_store(tmp_path / "store", tts, sentences=("a dog ran home",))
    plan = EvalPlan.quick(sentences=1, sub_sentences=1, intensities=(0.0, 1.0), mixture_pairs=())
    res = evaluate(tts, store, FakeSER(tts.emotions), plan=plan, asr="none")
    assert res["speaker"] == {"available": False, "reason": "resemblyzer is not installed; pip install it"}
    assert res["mos"] == {"available": False, "reason": "distillmos is not installed; pip install it"}
    assert res["targets"]["speaker_margin"]["status"] == "N/A"
    md = render_markdown(res)
    assert "Not measured: resemblyzer is not installed; pip install it." in md
    assert "Not computed: distillmos is not installed; pip install it." in md
    # A report written before these sections existed still renders.
    old = {k: v for k, v in res.items() if k != "speaker"}
    old["targets"] = {k: v for k, v in res["targets"].items() if k != "speaker_margin"}
    assert "Not measured: not in this report." in render_markdown(old)


def test_a_speaker_normalised_recogniser_gets_a_balanced_reference_per_voice(tmp_path):
    from tests.eval_fakes import NormalisedFakeSER

    tts = FakeTTS()
    store = write_store(tmp_path / "store", tts)
    ser = NormalisedFakeSER()
    res = evaluate(tts, store, ser, plan=EvalPlan.quick(), asr="none")
    speakers = {s["speaker"] for s in res["meta"]["sentences"]}
    assert set(ser.references) == speakers
    n_sentences = {spk: sum(s["speaker"] == spk for s in res["meta"]["sentences"]) for spk in speakers}
    known = [e for e in ser.emotions if e in tts.emotions]
    # As an actor's session: every sentence of the voice, neutral once and every other emotion at 1 and 2.
    per_sentence = 1 + 2 * (len(known) - 1)
    for spk, (clips, _) in ser.references.items():
        assert clips == n_sentences[spk] * per_sentence
    assert res["meta"]["recogniser"]["reference_clips"] == {k: v[0] for k, v in ser.references.items()}
    assert res["meta"]["recogniser"]["reference_session"] == {"neutral": [1.0], "other": [1.0, 2.0]}
    assert set(ser.seen_speakers) == speakers and len(ser.seen_speakers) >= res["meta"]["clips"]
    text = write_report(res, tmp_path / "r")["markdown"].read_text()
    assert "normalises each voice's features" in text
    assert "neutral at intensity 1 and every other emotion at 1, 2" in text


def test_the_reference_session_asks_for_neutral_once_and_each_emotion_at_normal_and_strong():
    from emovox.eval.report import Renderer
    from tests.eval_fakes import NormalisedFakeSER

    tts = FakeTTS(("neutral", "happy", "sad"))
    renderer = Renderer(tts, NormalisedFakeSER(tts.emotions), [], seed=0)
    specs = renderer._reference_specs(renderer.ser, ["neutral", "happy", "sad"])
    assert specs == ["neutral", "happy", "happy:2", "sad", "sad:2"]

"""The synthetic emotional corpus: rules, WORLD rendering, corpus build/resume, and measured prosody directions."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

pytest.importorskip("pyworld")
pytest.importorskip("parselmouth")

from emovox.data_prep import synthetic
from emovox.data_prep.prosody_rules import (
    CATEGORY_EMOTIONS,
    ProsodyParams,
    category_prosody,
    dimensional_prosody,
)
from emovox.data_prep.world_prosody import analyse, render, warp_positions
from emovox.eval.corpus import measure_corpus, summarise, write_report
from emovox.eval.prosody import measure_prosody

SR = 22050
SENTENCES = [
    "The old man sat by the window and watched the rain.",
    "She opened the letter and read it twice.",
    "We will meet at the station after lunch.",
    "The children played in the garden all afternoon.",
    "He found the keys under the kitchen table.",
    "The train was late again this morning.",
    "They painted the fence a bright shade of green.",
    "My brother bought a new bicycle last week.",
    "The river rose quickly after the storm.",
    "Please close the door when you leave the room.",
    "The museum opens at nine on Saturday.",
    "A small dog followed us all the way home.",
    "The teacher wrote the answer on the board.",
    "We heard a strange noise in the attic.",
    "The soup was too hot to eat right away.",
    "Her sister lives in a house by the sea.",
    "The meeting ended earlier than we expected.",
    "He carried the boxes up to the third floor.",
    "The lights went out during the concert.",
    "I left my umbrella on the bus yesterday.",
]
PREFERRED_VOICES = ["flite_slt", "flite_rms", "flite_awb", "slt_hts", "kal", "ked", "espeak_m", "espeak_f"]


def _two_voices() -> list[str]:
    installed, missing = synthetic.detect_voices(PREFERRED_VOICES)
    if len(installed) < 2:
        pytest.skip(
            "needs two Debian TTS voices (apt-get install flite festival festvox-us-slt-hts espeak-ng); missing: "
            + "; ".join(f"{k}: {v}" for k, v in missing.items())
        )
    return installed[:2]


def _harmonic(f0: float = 120.0, seconds: float = 1.2) -> np.ndarray:
    """A vowel-like test signal: harmonics with a falling envelope, a pause in the middle."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 30))
    x = x * (1.0 + 0.2 * np.sin(2 * np.pi * 3 * t))
    x[int(0.5 * SR) : int(0.7 * SR)] = 0.0
    return (0.1 * x / np.abs(x).max() + 1e-4 * np.random.default_rng(0).standard_normal(t.size)).astype(
        np.float64
    )


# ------------------------------------------------------------------------------------------- rules (no voices)
def test_intensity_zero_is_neutral_and_scaling_is_monotone():
    def effect(
        p,
    ):  # the fields that change the sound at any intensity (tremor rate and final span only shape it)
        return {k: v for k, v in p.as_dict().items() if k not in ("tremor_hz", "final_s")}

    for emotion in CATEGORY_EMOTIONS:
        assert effect(category_prosody(emotion, 0.0)) == effect(ProsodyParams())
    weak, strong = category_prosody("angry", 0.5), category_prosody("angry", 1.0)
    assert 0 < weak.f0_shift_st < strong.f0_shift_st and 0 < weak.gain_db < strong.gain_db
    assert strong.rate < weak.rate < 1  # calibrated on real speech: angry actors slow down
    lit = category_prosody("angry", 1.0, rules="literature")
    assert lit.rate > 1 and lit != strong
    with pytest.raises(ValueError, match="rule set"):
        category_prosody("angry", 1.0, rules="folklore")


def test_rules_reject_bad_input():
    with pytest.raises(ValueError, match="no prosody rule"):
        category_prosody("bored")
    with pytest.raises(ValueError, match="intensity"):
        category_prosody("happy", -0.5)
    with pytest.raises(ValueError, match="arousal"):
        dimensional_prosody(1.5, 0.0, 0.0)


def test_dimensional_rules_follow_schroeder():
    hi, lo = dimensional_prosody(0.8, 0.0, 0.0), dimensional_prosody(-0.8, 0.0, 0.0)
    assert hi.f0_shift_st > 0 > lo.f0_shift_st
    assert hi.rate > 1 > lo.rate and hi.gain_db > 0 > lo.gain_db and hi.f0_range > 1 > lo.f0_range
    # power > 0 → low (falling) boundary, power < 0 → high (rising) boundary
    assert dimensional_prosody(0.0, 0.8, 0.0).final_st < 0 < dimensional_prosody(0.0, -0.8, 0.0).final_st
    assert dimensional_prosody(0.0, 0.0, 0.0) == ProsodyParams()


def test_warp_positions_rate_and_pauses():
    pauses = np.zeros(200, dtype=bool)
    assert len(warp_positions(pauses, 2.0, 1.0)) == 100
    assert len(warp_positions(pauses, 0.5, 1.0)) == 400
    pauses[80:120] = True
    pos = warp_positions(pauses, 1.0, 2.0)
    assert len(pos) == 240 and np.all(np.diff(pos) >= 0) and pos[0] >= 0 and pos[-1] <= 199


def test_edge_silence_keeps_its_length():
    from emovox.data_prep.world_prosody import edge_mask

    pauses = np.zeros(200, dtype=bool)
    pauses[:50] = pauses[90:110] = pauses[170:] = True
    edges = edge_mask(pauses)
    assert edges[:50].all() and edges[170:].all() and not edges[50:170].any()
    # The 80 edge frames keep their length; the 100 sounding frames slow down (1 / 0.8) and the 20 inner pause
    # frames stretch by pause_factor / rate = 2 / 0.8.
    assert len(warp_positions(pauses, 0.8, 2.0, edges)) == 80 + round(100 / 0.8) + round(20 * 2.0 / 0.8)
    assert edge_mask(np.ones(5, dtype=bool)).all()


def test_render_moves_f0_level_as_requested():
    audio = _harmonic()
    analysis = analyse(audio, SR, f0_method="dio")
    base = measure_prosody(render(analysis, ProsodyParams(), np.random.default_rng(0)), SR)
    up = measure_prosody(render(analysis, ProsodyParams(f0_shift_st=4.0), np.random.default_rng(0)), SR)
    slow = render(analysis, ProsodyParams(rate=0.8), np.random.default_rng(0))
    assert base.f0_st == pytest.approx(12 * np.log2(120 / 100), abs=0.3)
    assert up.f0_st - base.f0_st == pytest.approx(4.0, abs=0.3)
    assert len(slow) / len(audio) == pytest.approx(1 / 0.8, rel=0.05)


def test_read_sentences_formats(tmp_path):
    f = tmp_path / "s.txt"
    f.write_text(
        "LJ001-0001|Printing, in the only sense.|Printing, in the only sense.\n\nA plain line here.\nx\n"
    )
    assert synthetic.read_sentences(f, min_chars=3) == [
        ("LJ001-0001", "Printing, in the only sense."),
        ("s000003", "A plain line here."),
    ]
    with pytest.raises(ValueError, match="not found"):
        synthetic.read_sentences(tmp_path / "missing.txt")


def test_plan_is_deterministic_and_balanced():
    cfg = synthetic.SynthCorpusConfig(voices=["a", "b"], seed=3, per_sentence=4)
    sentences = [(f"s{i}", f"sentence number {i}") for i in range(100)]
    plan1 = list(synthetic.plan_groups(sentences, cfg))
    plan2 = list(synthetic.plan_groups(sentences, cfg))
    assert plan1 == plan2 and len(plan1) == 100
    assert plan1 != list(
        synthetic.plan_groups(sentences, synthetic.SynthCorpusConfig(voices=["a", "b"], seed=4))
    )
    counts: dict[str, int] = {}
    for g in plan1:
        assert g.renderings[0].kind == "neutral" and len(g.renderings) == 4
        for r in g.renderings[1:]:
            counts[r.emotion or "adv"] = counts.get(r.emotion or "adv", 0) + 1
            assert all(-1 <= x <= 1 for x in r.adv)
    assert counts["adv"] == pytest.approx(2 * counts["angry"], abs=3)
    assert (
        max(v for k, v in counts.items() if k != "adv") - min(v for k, v in counts.items() if k != "adv") <= 3
    )


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(synthetic.VoiceError, match="known voices"):
        synthetic.detect_voices(["nonexistent"])


# ------------------------------------------------------------------------------------------- corpus (voices)
@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    voices = _two_voices()
    root = tmp_path_factory.mktemp("emosynth")
    sentences = root / "sentences.txt"
    sentences.write_text("\n".join(SENTENCES) + "\n")
    cfg = synthetic.SynthCorpusConfig(
        voices=voices,
        sentences=str(sentences),
        hours=1.0,
        per_sentence=0,
        intensity_min=1.0,
        intensity_max=1.0,
    )
    out = root / "corpus"
    summary = synthetic.build_corpus(cfg, out, workers=2, progress=False)
    rows = measure_corpus(out, workers=2)
    return cfg, out, summary, rows


def test_corpus_manifest_parses(corpus):
    cfg, out, summary, _ = corpus
    lines = (out / "metadata.csv").read_text().splitlines()
    assert lines[0] == "audio|text|speaker|emotion|intensity|a|d|v"
    rows = [line.split("|") for line in lines[1:]]
    assert len(rows) == 20 * 11 == summary["utterances"]
    assert {r[2] for r in rows} == set(cfg.voices)
    assert {r[3] for r in rows} == {"", "neutral", *cfg.emotions}
    for audio, text, _speaker, emotion, intensity, a, d, v in rows:
        assert (out / audio).is_file() and text in SENTENCES
        assert all(-1.0 <= float(x) <= 1.0 for x in (a, d, v))
        assert (intensity == "") == (emotion in ("", "neutral"))
    prosody = [json.loads(line) for line in (out / "prosody.jsonl").read_text().splitlines()]
    assert len(prosody) == len(rows) and all("f0_shift_st" in p["prosody"] for p in prosody)


def test_every_emotion_moves_in_its_rule_direction(corpus, tmp_path):
    """The rendered corpus, measured independently, moves F0 level, loudness, rate and tilt the way the rule asks
    (the calibrated table's signs, so the test follows the table rather than a copy of it)."""
    _, _, _, rows = corpus
    summary = summarise(rows)
    e = summary["emotions"]
    checked = 0
    for emotion in ("happy", "sad", "angry", "fear", "surprise", "disgust", "calm", "sleepy"):
        rule = category_prosody(emotion, 1.0)
        cues = (("d_f0_st", rule.f0_shift_st, 1.0), ("d_energy_db", rule.gain_db, 1.5),
                ("rate", math.log(rule.rate) * 10, 0.3), ("d_tilt_db", rule.tilt_db_oct, 0.5))  # fmt: skip
        for key, want, big_enough in cues:
            if abs(want) < big_enough:
                continue  # a cue the rule barely moves is not a direction
            got = math.log(e[emotion][key]) * 10 if key == "rate" else e[emotion][key]
            assert np.sign(got) == np.sign(want), (emotion, key, got, want)
            checked += 1
    assert checked >= 20
    # loudness survives rendering: angry is several dB louder than neutral, sad quieter
    assert e["angry"]["d_energy_db"] > 6 and e["sad"]["d_energy_db"] < -1
    # contour: surprise ends higher than happy (the calibrated final movements: +6.4 vs -2.0 st)
    assert e["surprise"]["d_f0_final_st"] > e["happy"]["d_f0_final_st"] + 0.5
    paths = write_report(rows, summary, tmp_path)
    assert paths["png"].stat().st_size > 1000 and "| angry |" in paths["md"].read_text()


def test_f0_level_follows_requested_arousal(corpus):
    """Arousal sweep (dominance = valence = 0) on the corpus's neutral renderings: Pearson r >= 0.9."""
    _, out, _, rows = corpus
    neutral = [r for r in rows if r["kind"] == "neutral"][:3]
    arousal, measured = [], []
    for r in neutral:
        from emovox.audio.io import load_audio

        audio, _ = load_audio(out / f"wavs/{r['speaker']}/{r['utt_id']}.wav")
        analysis = analyse(audio, SR)
        for a in np.linspace(-1.0, 1.0, 5):
            y = render(
                analysis, dimensional_prosody(a, 0.0, 0.0, exaggeration=1.25), np.random.default_rng(0)
            )
            arousal.append(a)
            measured.append(measure_prosody(y, SR).f0_st - r["f0_st"])
    assert np.corrcoef(arousal, measured)[0, 1] >= 0.9


def test_build_resumes_and_is_deterministic(corpus):
    cfg, out, summary, _ = corpus
    records = sorted((out / "records").glob("*.json"))
    victim = records[3]
    wavs = [out / r["audio"] for r in json.loads(victim.read_text())]
    before = {w: hashlib.sha256(w.read_bytes()).hexdigest() for w in wavs}
    manifest = (out / "metadata.csv").read_text()
    untouched = records[0].stat().st_mtime_ns
    victim.unlink()
    for w in wavs:
        w.unlink()
    again = synthetic.build_corpus(cfg, out, workers=1, progress=False)
    assert again["utterances"] == summary["utterances"]
    assert {w: hashlib.sha256(w.read_bytes()).hexdigest() for w in wavs} == before
    assert (out / "metadata.csv").read_text() == manifest
    assert records[0].stat().st_mtime_ns == untouched  # finished groups are never redone
    other = _with(cfg, seed=cfg.seed + 1)
    with pytest.raises(ValueError, match="other settings"):
        synthetic.build_corpus(other, out, workers=1, progress=False)


def test_cli_reports_errors_and_evaluates(corpus, tmp_path, capsys):
    from emovox.cli import main

    _, out, _, _ = corpus
    assert main(["synthesize-corpus", "--sentences", "x.txt"]) == 1
    assert "--out DIR is required" in capsys.readouterr().err
    assert (
        main(["synthesize-corpus", "--voices", "nope", "--sentences", "x.txt", "--out", str(tmp_path)]) == 1
    )
    assert "known voices" in capsys.readouterr().err
    assert main(["eval", "corpus", str(tmp_path / "missing")]) == 1
    assert (
        main(["eval", "corpus", str(out), "--out", str(tmp_path), "--limit-groups", "2", "--no-progress"])
        == 0
    )
    assert "| angry |" in (tmp_path / "prosody_report.md").read_text()
    assert json.loads((tmp_path / "prosody_report.json").read_text())["utterances"] == 22


def test_cli_applies_every_set_option(tmp_path, monkeypatch):
    """Repeated --set options all apply (a plain nargs option kept only the last one, so a corpus asked for
    `--set rules=tuned --set intensity_max=2` was silently rendered with the default rules)."""
    seen = {}

    def fake_build(cfg, out, workers, progress):
        seen["cfg"] = cfg
        return {}

    from emovox.cli import main

    monkeypatch.setattr(synthetic, "build_corpus", fake_build)
    base = ["synthesize-corpus", "--sentences", "x.txt", "--out", str(tmp_path)]
    sets = ["--set", "rules=tuned", "--set", "intensity_min=0.05", "--set", "intensity_max=2.0"]
    assert main([*base, *sets]) == 0
    cfg = seen["cfg"]
    assert (cfg.rules, cfg.intensity_min, cfg.intensity_max) == ("tuned", 0.05, 2.0)
    assert main([*base, "--set", "rules=literature", "level_dbfs=-30"]) == 0
    assert (seen["cfg"].rules, seen["cfg"].level_dbfs, seen["cfg"].intensity_max) == (
        "literature",
        -30.0,
        1.3,
    )


def test_build_stops_at_requested_hours_and_skips_unspeakable_sentences(tmp_path, monkeypatch):
    """No TTS needed: a stand-in voice speaks a harmonic test signal; one sentence makes it fail."""

    def fake_tts(voice, text, workdir):
        if "unspeakable" in text:
            raise synthetic.VoiceError("cannot say that")
        return _harmonic(seconds=1.0).astype(np.float32)

    monkeypatch.setattr(synthetic, "synthesize_neutral", fake_tts)
    monkeypatch.setattr(synthetic, "detect_voices", lambda names=None: (list(names or []), {}))
    sentences = tmp_path / "s.txt"
    sentences.write_text(
        "\n".join([f"plain sentence number {i}" for i in range(30)] + ["an unspeakable one"]) + "\n"
    )
    cfg = synthetic.SynthCorpusConfig(
        voices=["kal"], sentences=str(sentences), hours=30 / 3600, f0_method="dio"
    )
    summary = synthetic.build_corpus(cfg, tmp_path / "c", workers=1, progress=False)
    assert (
        30 <= summary["hours"] * 3600 < 30 + 4 * 1.6
    )  # the shortest prefix reaching 30 s, not every sentence
    assert summary["utterances"] == len((tmp_path / "c" / "metadata.csv").read_text().splitlines()) - 1
    everything = synthetic.build_corpus(_with(cfg, hours=1.0), tmp_path / "all", workers=1, progress=False)
    empty = [f for f in (tmp_path / "all" / "records").glob("*.json") if f.read_text() == "[]"]
    assert len(empty) == 1 and everything["groups"] == 31 and everything["utterances"] == 4 * 30
    assert "unspeakable" not in (tmp_path / "all" / "metadata.csv").read_text()


def _with(cfg, **changes):
    return synthetic.SynthCorpusConfig(**{**cfg.__dict__, **changes})

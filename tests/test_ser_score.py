"""`emovox ser test`: a trained recogniser scored on a labelled manifest of another corpus."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from emovox.audio.io import save_wav
from emovox.cli import main as cli_main
from emovox.ser import EmotionRecognizer
from emovox.ser.fit import FitConfig, feature_matrix, fit_recogniser, save_recogniser
from emovox.ser.score import format_score, score_manifest
from tests.test_ser_features import EMOTIONS, tone, tone_corpus


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, Path]:
    """A speaker-normalised stats recogniser fitted on four tone 'speakers' (the class is a pitch band above
    the speaker's base pitch), and a second 'corpus': two new speakers, other base pitches, longer clips."""
    root = tmp_path_factory.mktemp("ser_score")
    manifest = tone_corpus(root / "train", n_speakers=4, per_class=3)
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    cfg = FitConfig(normalise="speaker-mean", min_group=6)
    fit = fit_recogniser(feature_matrix([r["audio"] for r in records], cfg.features), records, cfg, EMOTIONS)
    model = save_recogniser(root / "model.safetensors", fit, {"manifest": str(manifest)})
    rng = np.random.default_rng(7)
    other = []
    for s, base in (("a", 131.0), ("b", 92.0)):
        for c, emo in enumerate(EMOTIONS):
            for i in range(3):
                f0 = base * 2 ** (c * 5 / 12) * rng.uniform(0.98, 1.02)
                path = save_wav(root / "other" / f"{s}_{emo}_{i}.wav", tone(f0, rng.uniform(0.9, 1.1)))
                other.append({"utt_id": path.stem, "audio": str(path), "speaker": s, "emotion": emo})
    out = root / "other.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in other))
    return Path(model), out


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_recogniser_carries_to_new_speakers_and_wrong_labels_score_low(fitted):
    model, manifest = fitted
    rec = EmotionRecognizer.load(model)
    records = _records(manifest)
    score = score_manifest(rec, records)
    r = score.result
    assert r.n_test == 18 and sum(map(sum, r.confusion)) == 18
    assert r.accuracy >= 0.8, format_score(score)  # chance 1/3
    assert set(score.speakers) == {"a", "b"} and all(v["clips"] == 9 for v in score.speakers.values())
    assert score.fallback_speakers == [] and score.skipped == {}
    assert set(score.recall) == set(EMOTIONS)
    # the same clips with the labels rotated: a scorer that ignored the labels would not notice
    rotated = {"neutral": "happy", "happy": "sad", "sad": "neutral"}
    wrong = score_manifest(rec, [{**x, "emotion": rotated[x["emotion"]]} for x in records])
    assert wrong.result.accuracy <= 0.2
    text = format_score(score)
    assert "accuracy per speaker: a " in text and "recall" in text
    assert "speaker-mean" not in text  # the report is about the data, not the settings


def test_unknown_labels_unreadable_audio_and_label_map(fitted, tmp_path):
    model, manifest = fitted
    rec = EmotionRecognizer.load(model)
    records = _records(manifest)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00not a wave file at all")
    renamed = [{**x, "emotion": "joy"} if x["emotion"] == "happy" else x for x in records]
    extra = [
        {"utt_id": "x1", "audio": str(bad), "speaker": "a", "emotion": "sad"},
        {"utt_id": "x2", "audio": records[0]["audio"], "speaker": "a", "emotion": "Bored"},
    ]
    score = score_manifest(rec, renamed + extra, label_map={"JOY": "happy"})
    assert score.result.n_test == 18
    assert score.skipped == {
        "label 'bored' is not a class of the recogniser": 1,
        "audio could not be read": 1,
    }
    assert [u["audio"] for u in score.unreadable] == [str(bad)]
    without_map = score_manifest(rec, renamed)
    assert without_map.result.n_test == 12 and "happy" not in without_map.recall
    with pytest.raises(ValueError, match="not classes of the recogniser"):
        score_manifest(rec, records, label_map={"joy": "elated"})
    with pytest.raises(ValueError, match="no clip to score"):
        score_manifest(rec, [{**x, "emotion": "bored"} for x in records])


def test_a_speaker_with_too_few_clips_is_named(fitted, caplog):
    model, manifest = fitted
    rec = EmotionRecognizer.load(model)
    few = [x for x in _records(manifest) if x["speaker"] == "b" or x["utt_id"].endswith("_0")]
    assert sum(x["speaker"] == "a" for x in few) == 3  # below the recogniser's 6
    with caplog.at_level(logging.WARNING):
        score = score_manifest(rec, few)
    assert score.fallback_speakers == ["a"] and "judged by the average training speaker" in format_score(
        score
    )
    lowered = score_manifest(rec, few, min_group=3)
    assert lowered.fallback_speakers == [] and rec.min_group == 6  # the override does not stick
    with pytest.raises(ValueError, match="at least 2"):
        score_manifest(rec, few, min_group=1)


def test_the_command(fitted, tmp_path, capsys):
    model, manifest = fitted
    out = tmp_path / "scores.json"
    args = ["ser", "test", "--model", str(model), "--manifest", str(manifest), "--no-progress"]
    assert cli_main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert f"accuracy {report['result']['accuracy']:.3f}" in printed
    assert report["emotions"] == EMOTIONS and report["chance"] == pytest.approx(1 / 3)
    assert report["result"]["n_test"] == 18 and report["label_map"] == {} and report["only_speakers"] == []
    assert cli_main([*args, "--speakers", "b", "--out", str(out)]) == 0
    only_b = json.loads(out.read_text())
    assert only_b["only_speakers"] == ["b"] and list(only_b["speakers"]) == ["b"]
    assert only_b["result"]["n_test"] == 9
    capsys.readouterr()
    assert cli_main([*args, "--speakers", "zz"]) == 1
    assert "zz not in" in capsys.readouterr().err
    assert cli_main([*args, "--map", "joy"]) == 1
    assert "FROM=TO" in capsys.readouterr().err
    assert cli_main([*args, "--map", "joy=elated"]) == 1
    assert "not classes of the recogniser" in capsys.readouterr().err


def test_answers_among_the_manifests_classes_only(fitted):
    model, manifest = fitted
    rec = EmotionRecognizer.load(model)
    two = [x for x in _records(manifest) if x["emotion"] != "happy"]
    full = score_manifest(rec, two)
    only = score_manifest(rec, two, present_only=True)
    happy = EMOTIONS.index("happy")
    assert only.answers == ["neutral", "sad"] and only.chance == pytest.approx(0.5)
    assert sum(row[happy] for row in only.result.confusion) == 0
    assert full.answers == EMOTIONS and full.chance == pytest.approx(1 / 3)
    assert only.result.accuracy >= full.result.accuracy
    # each answer is the more probable of the two present classes
    preds = rec.predict_batch([x["audio"] for x in two], speakers=[x["speaker"] for x in two])
    expected = sum(
        max(("neutral", "sad"), key=p.probs.__getitem__) == x["emotion"] for p, x in zip(preds, two)
    )
    assert round(only.result.accuracy * len(two)) == expected
    assert "answers among the manifest's classes only: neutral, sad" in format_score(only)


def test_the_cnn_is_scored_in_batches_as_predict_batch_scores_it(tmp_path):
    """A (random) log-mel CNN: 40 clips cross a batch boundary; the scores are exactly predict_batch's."""
    from emovox.checkpoint import save_checkpoint
    from tests.test_ser import _tiny_recognizer

    model, meta = _tiny_recognizer(emotions=("neutral", "happy", "sad"))
    rec = EmotionRecognizer.load(
        save_checkpoint(tmp_path / "cnn.safetensors", model.state_dict(), meta, kind="ser")
    )
    rng = np.random.default_rng(3)
    records = []
    for i in range(40):
        f0 = rng.uniform(90, 400)
        path = save_wav(tmp_path / f"c{i}.wav", tone(f0, rng.uniform(0.3, 0.6)))
        records.append({"audio": str(path), "speaker": f"s{i % 3}", "emotion": EMOTIONS[i % 3]})
    score = score_manifest(rec, records)
    preds = rec.predict_batch([r["audio"] for r in records])
    expected = np.zeros((3, 3), int)
    for p, r in zip(preds, records):
        expected[EMOTIONS.index(r["emotion"]), EMOTIONS.index(p.label)] += 1
    assert np.array_equal(score.result.confusion, expected)
    assert score.fallback_speakers == []  # the CNN does not normalise by speaker


def test_held_out_speakers_score_as_ser_fit_scored_them(tmp_path):
    """`ser fit --held-out-speakers` and `ser test --speakers` on the same clips: the same confusion."""
    manifest = tone_corpus(tmp_path, n_speakers=4, per_class=3)
    out = tmp_path / "fit"
    args = ["--manifest", str(manifest), "--features", "stats", "--held-out-speakers", "s1", "s2"]
    assert cli_main(["ser", "fit", *args, "--min-group", "6", "--out", str(out), "--no-progress"]) == 0
    held = json.loads((out / "fit.json").read_text())["held_out"]
    scores = tmp_path / "test.json"
    test = ["--model", str(out / "model.safetensors"), "--manifest", str(manifest), "--speakers", "s2", "s1"]
    assert cli_main(["ser", "test", *test, "--out", str(scores), "--no-progress"]) == 0
    result = json.loads(scores.read_text())["result"]
    assert result["confusion"] == held["confusion"] and result["n_test"] == held["n_test"] == 18
    assert result["accuracy"] == pytest.approx(held["accuracy"])

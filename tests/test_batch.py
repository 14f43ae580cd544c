"""Per-sentence ``auto`` emotion, timestamps, dialogue scripts, batch tables and grids (emovox.batch, synth)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from emovox.batch import (
    BatchRow,
    grid_rows,
    manifest_labels,
    parse_emotion_list,
    parse_intensities,
    parse_speakers,
    read_batch,
    run_batch,
)
from emovox.cli import main as cli
from emovox.emotion.spec import parse_emotion_spec
from emovox.pipelines import EmotionalTTS
from tests.tiny_voice import make_tiny_voice

HAPPY = "I love this, it is a wonderful day!"
SAD = "My dog died and I cried all night."


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    return make_tiny_voice(tmp_path_factory.mktemp("voice") / "tiny.safetensors")


@pytest.fixture(scope="module")
def tts(voice):
    return EmotionalTTS.load(voice)


# ------------------------------------------------------------------------------------------------ auto, per sentence


def test_auto_switches_emotion_sentence_by_sentence(tts):
    plan = tts.explain(f"{HAPPY} {SAD}", "auto")
    assert [s.text for s in plan] == [HAPPY, SAD]
    assert [s.estimate.label for s in plan] == ["happy", "sad"]
    assert plan[0].emotion.startswith("happy") and plan[1].emotion.startswith("sad")
    rendering = tts.render(f"{HAPPY} {SAD}", "auto", steps=0)
    # exactly what each sentence gives with its resolved spec, one after the other
    parts = [tts.synthesize(s.text, s.emotion, steps=0)[0] for s in plan]
    np.testing.assert_array_equal(rendering.audio, np.concatenate(parts))
    first, second = rendering.segments
    assert first.start == 0 and first.end == pytest.approx(parts[0].size / 22050)
    assert second.start == first.end and second.end == pytest.approx(rendering.audio.size / 22050)
    assert [s.emotion for s in rendering.segments] == [s.emotion for s in plan]
    # a fixed spec gives the same spec for every sentence and no estimate
    fixed = tts.render(f"{HAPPY} {SAD}", "angry:0.5", steps=0)
    assert [s.emotion for s in fixed.segments] == ["angry:0.5"] * 2
    assert all(s.estimate is None for s in fixed.segments)


def test_stream_segments_yield_the_same_audio_as_stream(tts):
    text = f'{HAPPY} <break time="200ms"/> {SAD}'
    segments = list(tts.stream_segments(f"<speak>{text}</speak>", "auto"))
    chunks = list(tts.stream(f"<speak>{text}</speak>", "auto"))  # windowed: several pieces per sentence
    assert len(segments) == 3 and segments[1].is_pause and segments[1].emotion is None
    assert len(chunks) >= 3
    whole = np.concatenate([seg.audio for seg in segments])
    assert np.concatenate(chunks).size == whole.size
    np.testing.assert_allclose(np.concatenate(chunks), whole, atol=1e-3)
    for seg in segments:
        assert seg.end - seg.start == pytest.approx(seg.audio.size / 22050)


def test_auto_blends_and_markup_spans(tts):
    blended = tts.explain(SAD, "auto+happy:0.3")[0]
    parts = {c.name: c for c in parse_emotion_spec(blended.emotion).components}
    assert parts["sad"].weight == pytest.approx(0.7) and parts["happy"].weight == pytest.approx(0.3)
    marked = tts.explain(f'<speak>{HAPPY} <emotion spec="auto:0.5">{SAD}</emotion></speak>', "angry")
    assert marked[0].emotion == "angry" and marked[1].emotion.startswith("sad")
    assert parse_emotion_spec(marked[1].emotion).components[0].intensity == pytest.approx(
        round(marked[1].estimate.intensity * 0.5, 2)
    )
    assert tts.estimate_emotion(HAPPY).label == "happy"


def test_auto_errors(tts, tmp_path):
    with pytest.raises(ValueError, match="more than once"):
        tts.synthesize(HAPPY, "auto+auto")
    with pytest.raises(ValueError, match="sulky"):
        tts.synthesize(HAPPY, "auto+sulky:0.3")
    ref = tmp_path / "ref.wav"
    sf.write(ref, 0.3 * np.sin(2 * np.pi * 180 * np.arange(22050) / 22050), 22050)
    with pytest.raises(ValueError, match="reference clip"):
        tts.synthesize(HAPPY, "auto", ref_audio=ref)
    with pytest.raises(ValueError, match="'auto' spec"):
        tts.estimate_emotion(HAPPY, "happy")


# ------------------------------------------------------------------------------------------------ CLI: text, timestamps


def test_cli_auto_explains_each_sentence(voice, tmp_path, capsys):
    out = tmp_path / "auto.wav"
    sentence = "I can't believe it, this is the best day of my life!"
    assert (
        cli(["synth", f"{sentence} {SAD}", "-e", "auto", "--explain", "--model", str(voice), "-o", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert re.search(r"\[happy:[\d.]+\] I can't believe it", printed)
    assert re.search(r"\[sad:[\d.]+\] My dog died", printed) and "'died' -> sad" in printed
    assert sf.info(out).frames > 0


def test_cli_stream_writes_sentence_and_chapter_timestamps(voice, tmp_path, monkeypatch, capsys):
    book = f"Chapter One\n\n{HAPPY} The birds sang.\n\nChapter Two\n\n{SAD}\n"
    monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": __import__("io").BytesIO(book.encode())})())
    out = tmp_path / "book.wav"
    argv = [
        "synth",
        "-",
        "--stream",
        "-e",
        "auto",
        "--timestamps",
        "json,srt",
        "--model",
        str(voice),
        "-o",
        str(out),
    ]
    assert cli(argv) == 0
    doc = json.loads((tmp_path / "book.json").read_text())
    segments = doc["segments"]
    assert doc["duration"] == pytest.approx(sf.info(out).duration, abs=1e-3)
    assert [s["label"] for s in segments] == ["happy", "neutral", "sad"]
    assert segments[0]["text"].startswith("Chapter One") and segments[-1]["end"] == pytest.approx(
        doc["duration"]
    )
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(segments))
    assert [c["title"] for c in doc["chapters"]] == ["Chapter One", "Chapter Two"]
    assert [s["chapter"] for s in segments] == [0, 0, 1] and doc["chapters"][1]["start"] == segments[2][
        "start"
    ]
    srt = (tmp_path / "book.srt").read_text()
    assert re.match(r"1\n00:00:00,000 --> 00:00:0\d,\d{3}\n\[happy:[\d.]+\] Chapter One", srt)
    assert srt.count(" --> ") == 3


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--grid", "x.txt"], "--grid needs --out-dir"),
        (["Hello.", "--batch", "x.csv", "--out-dir", "d"], "do not also give a text"),
        (["Hello.", "--timestamps", "xml"], "--timestamps must be"),
        (["Hello.", "--workers", "2"], "--workers does not apply"),
        (["--batch", "x.csv", "--out-dir", "d", "--stream"], "--stream does not apply"),
        (["--batch", "{tmp}/rows.txt", "--out-dir", "d"], ".csv or .jsonl"),
        ([], "give the text"),
    ],
)
def test_cli_mode_errors(voice, tmp_path, capsys, argv, match):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    (tmp_path / "rows.txt").write_text("text\nHello.\n")
    assert cli(["synth", *argv, "--model", str(voice), "-o", str(tmp_path / "x.wav")]) == 1
    assert match in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


# ------------------------------------------------------------------------------------------------ dialogue scripts


def test_script_renders_a_conversation_with_pauses(voice, tts, tmp_path, capsys):
    script = tmp_path / "scene.txt"
    script.write_text(
        "# a scene\nalice|happy|Hello Bob!\n\nbob|sad|I lost my keys.\nalice|auto|Oh no, that is awful.\n"
    )
    out = tmp_path / "scene.wav"
    argv = ["synth", "--script", str(script), "--pause", "500", "--timestamps", "json", "--model", str(voice)]
    assert cli([*argv, "-o", str(out)]) == 0
    audio, sr = sf.read(out)
    turns = [tts.synthesize(t, e, speaker=s)[0] for s, e, t in
             [("alice", "happy", "Hello Bob!"), ("bob", "sad", "I lost my keys.")]]  # fmt: skip
    gap = int(0.5 * sr)
    np.testing.assert_allclose(audio[: turns[0].size], turns[0], atol=1 / 32768 + 1e-6)
    assert np.abs(audio[turns[0].size : turns[0].size + gap]).max() == 0  # the pause between turns
    start = turns[0].size + gap
    np.testing.assert_allclose(audio[start : start + turns[1].size], turns[1], atol=1 / 32768 + 1e-6)
    entries = json.loads((tmp_path / "scene.json").read_text())["segments"]
    assert [(e["speaker"], e["turn"]) for e in entries] == [("alice", 0), ("bob", 1), ("alice", 2)]
    assert entries[1]["start"] == pytest.approx(entries[0]["end"] + 0.5, abs=1e-3)
    assert entries[2]["emotion"].startswith("sad")  # "awful" estimated
    bad = tmp_path / "bad.txt"
    for body, match in [("alice|happy|Hi.\ncarol|happy|Hi.", "bad.txt:2: unknown speaker 'carol'"),
                        ("alice|sulky|Hi.", "bad.txt:1: unknown emotion 'sulky'"),
                        ("alice|Hi there", "expected 'speaker|emotion|text'"), ("bob|sad|  ", "text is empty")]:  # fmt: skip
        bad.write_text(body)
        assert cli(["synth", "--script", str(bad), "--model", str(voice), "-o", str(tmp_path / "b.wav")]) == 1
        assert match in capsys.readouterr().err
        assert not (tmp_path / "b.wav").exists()


# ------------------------------------------------------------------------------------------------ batch


def test_batch_csv_writes_wavs_and_a_manifest_prep_generic_reads(voice, tmp_path, capsys):
    from emovox.data_prep.prep import prepare

    rows = tmp_path / "rows.csv"
    rows.write_text(
        "id,text,emotion,speaker,intensity,seed\n"
        'a1,"Hello there, friend.",happy,bob,0.5,3\n'
        f'a2,"{HAPPY}",auto,,,\n'
        "a3,It is over.,sad:0.7+angry:0.3,alice,,\n"
    )
    out = tmp_path / "gen"
    assert cli(["synth", "--batch", str(rows), "--out-dir", str(out), "--model", str(voice)]) == 0
    summary = capsys.readouterr().out
    assert "3 written, 0 already written (skipped), 0 failed" in summary and "x real time" in summary
    assert sorted(p.name for p in (out / "wavs").iterdir()) == ["a1.wav", "a2.wav", "a3.wav"]
    lines = (out / "metadata.csv").read_text().splitlines()
    assert lines[0] == "audio|text|speaker|emotion|intensity|a|d|v|spec|seed|id"
    assert lines[1].startswith("wavs/a1.wav|Hello there, friend.|bob|happy|0.25|")
    prepared = prepare("generic", out, tmp_path / "prepped", progress=False)
    utts = {u.utt_id: u for u in prepared.utterances}
    assert set(utts) == {"a1", "a2", "a3"}
    assert utts["a1"].emotion == "happy" and utts["a1"].intensity == 0.25 and utts["a1"].speaker == "bob"
    assert utts["a1"].adv == pytest.approx((0.255, 0.23, 0.405))  # half the happy anchor (0.51, 0.46, 0.81)
    assert utts["a2"].emotion == "happy" and utts["a3"].emotion == "sad" and utts["a3"].adv[2] < 0
    assert all(sf.info(u.audio).frames > 0 for u in utts.values())
    # the audio is what the pipeline gives for the row
    expected, _ = EmotionalTTS.load(voice).synthesize(
        "Hello there, friend.", "happy:0.5", speaker="bob", seed=3
    )
    got, _ = sf.read(out / "wavs" / "a1.wav", dtype="float32")
    np.testing.assert_allclose(got, np.clip(expected, -1, 1), atol=1 / 32768 + 1e-6)


def test_bad_rows_are_reported_and_the_batch_goes_on(voice, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "\n".join([
            json.dumps({"text": "Good row.", "id": "ok1"}),
            json.dumps({"text": "   ", "id": "empty"}),
            json.dumps({"text": "Bad spec.", "emotion": "sulky"}),
            "{not json",
            json.dumps({"text": "Unknown key.", "emotoin": "happy"}),
            json.dumps({"text": "Bad speaker.", "speaker": "carol"}),
            json.dumps({"text": "Bad seed.", "seed": 1.5}),
            json.dumps({"text": "Bad id.", "id": "../x"}),
            json.dumps({"text": "?!", "id": "silent"}),
            json.dumps({"text": "Duplicate.", "id": "ok1"}),
            json.dumps({"text": "Good too.", "emotion": "sad", "intensity": "1.5", "id": "ok2"}),
        ])
    )  # fmt: skip
    out = tmp_path / "gen"
    assert (
        cli(["synth", "--batch", str(rows), "--out-dir", str(out), "--model", str(voice), "--no-progress"])
        == 1
    )
    summary = capsys.readouterr().out
    assert "11 rows: 2 written, 0 already written (skipped), 9 failed" in summary
    for reason in ("line 2 (id empty): empty text", "line 3: unknown emotion 'sulky'", "line 4: not valid JSON",
                   "line 5: unknown key(s) emotoin", "line 6: unknown speaker 'carol'", "seed 1.5 is not an integer",
                   "id '../x' must be", "(id silent): nothing to say", "id ok1 appears more than once"):  # fmt: skip
        assert reason in summary, reason
    assert sorted(p.name for p in (out / "wavs").iterdir()) == ["ok1.wav", "ok2.wav"]
    failures = (out / "failures.tsv").read_text().splitlines()
    assert failures[0] == "line\tid\treason" and len(failures) == 10
    assert "sad|0.75|" in (out / "metadata.csv").read_text()  # intensity 1.5 -> α 1.5 -> 0.75 on [0, 1]


def test_read_batch_file_errors(tmp_path):
    for body, match in [("emotion\nhappy\n", "header must name"), ("text,emotoin\nHi,happy\n", "emotoin"),
                        ("text\n", "no rows"), ("", "empty")]:  # fmt: skip
        path = tmp_path / "rows.csv"
        path.write_text(body)
        with pytest.raises(ValueError, match=match):
            read_batch(path)
    (tmp_path / "latin.csv").write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        read_batch(tmp_path / "latin.csv")
    with pytest.raises(FileNotFoundError):
        read_batch(tmp_path / "missing.csv")


_SLOW_CHILD = """
import sys, time
import emovox.pipelines as pipelines

original = pipelines.EmotionalTTS.synthesize

def slow(self, *args, **kwargs):  # time to kill the batch between rows and inside a write
    time.sleep(0.25)
    return original(self, *args, **kwargs)

pipelines.EmotionalTTS.synthesize = slow
from emovox.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_batch_resumes_after_sigkill_without_redoing_rows(voice, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("text,id\n" + "".join(f"Row {i}.,r{i:02d}\n" for i in range(8)))
    out = tmp_path / "gen"
    child = tmp_path / "child.py"
    child.write_text(_SLOW_CHILD)
    argv = ["synth", "--batch", str(rows), "--out-dir", str(out), "--model", str(voice), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(child), *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    done_log = out / "done.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if done_log.is_file() and done_log.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert proc.returncode == -9, proc.stderr.read().decode()[-2000:]
    done_before = [json.loads(line)["id"] for line in done_log.read_text().splitlines()]
    assert 2 <= len(done_before) < 8
    wavs = sorted((out / "wavs").glob("*.wav"))
    for wav in wavs:  # whatever the kill interrupted, no file under a final name is partial
        audio, _ = sf.read(wav)
        assert audio.size > 0
    assert not (out / "metadata.csv").exists()
    mtimes = {w.name: w.stat().st_mtime_ns for w in wavs}
    assert cli(argv) == 0
    summary = capsys.readouterr().out
    assert (
        f"{8 - len(done_before)} written, {len(done_before)} already written (skipped), 0 failed" in summary
    )
    for name in (f"{i}.wav" for i in done_before):
        assert (out / "wavs" / name).stat().st_mtime_ns == mtimes[name]  # not redone
    assert sorted(p.name for p in (out / "wavs").iterdir()) == [f"r{i:02d}.wav" for i in range(8)]  # no .part
    assert (out / "metadata.csv").read_text().count("\n") == 9
    # a third run has nothing to do
    assert cli(argv) == 0
    assert "0 written, 8 already written (skipped)" in capsys.readouterr().out


def test_changed_rows_are_rendered_again(tts, tmp_path):
    out = tmp_path / "gen"
    first = run_batch(tts, [BatchRow(2, "Hello.", "happy", id="x")], out, progress=False)
    assert first.written == ["x"]
    again = run_batch(tts, [BatchRow(2, "Hello.", "sad", id="x")], out, progress=False)
    assert again.written == ["x"] and not again.skipped
    assert "|sad|" in (out / "metadata.csv").read_text()


# ------------------------------------------------------------------------------------------------ grids


def test_grid_rows_and_parsers(tts):
    assert parse_emotion_list("happy, adv:0.8,0.4,-0.5 ,sad", tts) == ["happy", "adv:0.8,0.4,-0.5", "sad"]
    assert parse_emotion_list("all", tts) == ["neutral", "happy", "sad", "angry"]
    assert parse_intensities("0.5,1,1.5") == [0.5, 1.0, 1.5]
    assert parse_speakers("all", tts) == ["alice", "bob"] and parse_speakers(None, tts) == ["alice"]
    for call, match in [(lambda: parse_emotion_list("happy,,sad", tts), "empty item"),
                        (lambda: parse_emotion_list("happy,sulky", tts), "sulky"),
                        (lambda: parse_intensities("0.5,x"), "not a number"),
                        (lambda: parse_intensities("3"), "outside"),
                        (lambda: parse_speakers("alice,carol", tts), "carol")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            call()
    rows = grid_rows(["One.", "Two."], ["neutral", "happy", "sad"], [0.5, 1.0], ["alice", "bob"])
    assert len(rows) == 2 * (1 + 2 + 2) * 2  # neutral has no intensities
    assert len({r.id for r in rows}) == len(rows) and rows[2].id == "s0001_happy_x0.5_alice"


def test_grid_with_two_workers_matches_one_worker(voice, tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("# grid\nHello.\nGood night.\n")
    # one torch thread in every process (the sums of a convolution depend on how many threads share it); the
    # conftest puts the test process's thread count back afterwards
    common = ["synth", "--grid", str(sentences), "--emotions", "happy,sad", "--intensities", "1.5",
              "--speakers", "all", "--model", str(voice), "--seed", "1", "--no-progress",
              "--threads", "1"]  # fmt: skip
    assert cli([*common, "--out-dir", str(tmp_path / "one")]) == 0
    assert cli([*common, "--out-dir", str(tmp_path / "two"), "--workers", "2"]) == 0
    assert "8 written" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "one" / "wavs").iterdir())
    assert len(names) == 8 and names == sorted(p.name for p in (tmp_path / "two" / "wavs").iterdir())
    for name in names:
        a, _ = sf.read(tmp_path / "one" / "wavs" / name)
        b, _ = sf.read(tmp_path / "two" / "wavs" / name)
        np.testing.assert_array_equal(a, b)
    one = (tmp_path / "one" / "metadata.csv").read_text().splitlines()
    assert one == (tmp_path / "two" / "metadata.csv").read_text().splitlines()
    assert "wavs/s0002_sad_x1.5_bob.wav|Good night.|bob|sad|0.75|" in "\n".join(one)


def test_manifest_labels_of_each_spec_kind():
    mix = manifest_labels(parse_emotion_spec("sad:0.7+angry:0.3"))
    assert mix["emotion"] == "sad" and mix["intensity"] == "0.5"
    assert float(mix["v"]) == pytest.approx(0.7 * -0.63 + 0.3 * -0.51, abs=1e-3)
    point = manifest_labels(parse_emotion_spec("va:0.6,0.3"))
    assert point["emotion"] == "" and (point["a"], point["d"], point["v"]) == ("0.3", "0", "0.6")
    flipped = manifest_labels(parse_emotion_spec("-happy"))
    assert flipped["emotion"] == "" and float(flipped["v"]) == pytest.approx(-0.81)
    assert manifest_labels(parse_emotion_spec("neutral"))["intensity"] == ""

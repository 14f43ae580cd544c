"""The manifest: records, validation, JSONL, merging, splits, duration filter, summary, Kaldi export, prep."""

from __future__ import annotations

import dataclasses
import json

import pytest

from emovox.cli import main
from emovox.data_prep.manifest import (
    ManifestError,
    SkipLog,
    Utterance,
    assign_splits,
    filter_by_duration,
    merge_manifests,
    read_manifest,
    summary_table,
    validate,
    write_kaldi,
    write_manifest,
)


def utt(i: int, speaker: str = "s1", **kw) -> Utterance:
    base = dict(utt_id=f"u{i:03d}", audio=f"/data/{speaker}/u{i}.wav", text=f"text {i}", speaker=speaker,
                gender="F", emotion="happy", emotion_raw="hap", intensity=0.5, adv=(0.1, 0.2, 0.3), duration=2.0)  # fmt: skip
    base.update(kw)
    return Utterance(**base)


def test_validate_reports_each_problem():
    assert validate(utt(1)) == []
    bad = utt(1, utt_id="has space", emotion="joyous", intensity=1.5, adv=(0, 0, 2), split="val", gender="x",
              duration=-1.0, speaker="")  # fmt: skip
    problems = " | ".join(validate(bad))
    for word in ("utt_id", "speaker", "joyous", "intensity", "adv", "split", "gender", "duration"):
        assert word in problems


def test_jsonl_roundtrip_and_errors(tmp_path):
    utts = [utt(1), utt(2, adv=None, intensity=None, emotion=None, text=None, split="dev")]
    path = write_manifest(tmp_path / "m.jsonl", utts)
    assert read_manifest(path) == utts
    assert json.loads(path.read_text().splitlines()[0])["adv"] == [0.1, 0.2, 0.3]
    with pytest.raises(ManifestError, match="appears more than once"):
        write_manifest(tmp_path / "dup.jsonl", [utt(1), utt(1)])
    assert not (tmp_path / "dup.jsonl").exists()
    (tmp_path / "bad.jsonl").write_text(
        json.dumps(utt(1).to_dict()) + "\n" + '{"utt_id": "x", "colour": 1}\n'
    )
    with pytest.raises(ManifestError, match=r"bad.jsonl:2: unknown field\(s\) colour"):
        read_manifest(tmp_path / "bad.jsonl")
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "absent.jsonl")


def test_merge_prefixes_only_collisions():
    a = [utt(1, "01"), utt(2, "02")]
    b = [utt(1, "01"), utt(3, "x9")]
    merged = merge_manifests({"ravdess": a, "tess": b})
    ids = [(u.utt_id, u.speaker) for u in merged]
    assert ids == [("ravdess_u001", "ravdess_01"), ("u002", "02"), ("tess_u001", "tess_01"), ("u003", "x9")]


def test_splits_are_deterministic_and_speaker_held_out():
    utts = [utt(i, f"spk{i % 10}", split=None) for i in range(400)]
    s1 = assign_splits(utts, dev=0.1, test=0.1)
    assert s1 == assign_splits(list(reversed(utts)), dev=0.1, test=0.1)[::-1]
    counts = {k: sum(u.split == k for u in s1) for k in ("train", "dev", "test")}
    assert 15 < counts["dev"] < 70 and 15 < counts["test"] < 70  # ~40 each
    # adding records never moves the others
    more = assign_splits([*utts, *(utt(i, "new") for i in range(400, 450))], dev=0.1, test=0.1)
    assert more[:400] == s1
    sp = assign_splits(utts, dev=0.1, test=0.2, by="speaker")
    by_spk = {}
    for u in sp:
        by_spk.setdefault(u.speaker, set()).add(u.split)
    assert all(len(v) == 1 for v in by_spk.values())
    assert sorted(next(iter(v)) for v in by_spk.values()).count("test") == 2
    official = assign_splits([utt(1, split="test"), utt(2)], dev=0.0, test=0.0)
    assert [u.split for u in official] == ["test", "train"]
    with pytest.raises(ValueError, match="dev"):
        assign_splits(utts, dev=0.6, test=0.5)


def test_duration_filter_reports_what_it_drops():
    skipped = SkipLog()
    kept = filter_by_duration([utt(1, duration=0.2), utt(2), utt(3, duration=30.0), utt(4, duration=None)],
                              0.5, 20.0, skipped)  # fmt: skip
    assert [u.utt_id for u in kept] == ["u002", "u004"]
    assert [s.reason.split(" ")[0] for s in skipped] == ["shorter", "longer"]


def test_summary_table_hours_per_speaker_and_emotion():
    utts = [
        utt(1, "a", duration=1800.0),
        utt(2, "a", emotion="sad", duration=3600.0),
        utt(3, "b", duration=900.0),
    ]
    skipped = SkipLog()
    skipped.add("/x/bad.wav", "unreadable audio")
    table = summary_table(utts, skipped)
    lines = table.splitlines()
    assert lines[0] == "3 utterances, 1.750 h, 2 speakers"
    row_a = next(line for line in lines if line.startswith("a "))
    assert row_a.split() == ["a", "0.500", "1.000", "1.500"]
    assert "1  unreadable audio  (e.g. bad.wav)" in table


def test_kaldi_export(tmp_path):
    utts = [
        utt(2, "b", adv=None),
        utt(1, "a", emotion=None, text=None),
        dataclasses.replace(utt(3, "a"), utt_id="a_x"),
    ]
    write_kaldi(tmp_path, utts)
    read = lambda n: (tmp_path / n).read_text().splitlines()  # noqa: E731
    assert read("wav.scp") == ["a-u001 /data/a/u1.wav", "a_x /data/a/u3.wav", "b-u002 /data/b/u2.wav"]
    assert read("utt2spk") == ["a-u001 a", "a_x a", "b-u002 b"]
    assert read("spk2utt") == ["a a-u001 a_x", "b b-u002"]
    assert read("text") == ["a_x text 3", "b-u002 text 2"]
    assert read("utt2emo") == ["a_x happy", "b-u002 happy"]
    assert read("utt2ADV") == ["a-u001 0.1000 0.2000 0.3000", "a_x 0.1000 0.2000 0.3000"]
    with pytest.raises(ManifestError, match="whitespace"):
        write_kaldi(tmp_path / "k2", [utt(1, audio="/my data/x.wav")])


def test_prep_command_on_cremad_and_merge(cremad_mini, ravdess_mini, tmp_path, capsys):
    assert (
        main(["prep", "cremad", "--root", str(cremad_mini), "--out", str(tmp_path / "c"), "--no-progress"])
        == 0
    )
    assert "12 utterances" in capsys.readouterr().out
    c = read_manifest(tmp_path / "c" / "manifest.jsonl")
    assert all(u.duration and 1.0 < u.duration < 6.0 and u.split for u in c)
    rc = main(["prep", "ravdess", "--root", str(ravdess_mini), "--out", str(tmp_path / "r"), "--no-progress",
               "--merge", str(tmp_path / "c" / "manifest.jsonl"), "--split-by", "speaker", "--max-duration", "3.5"])  # fmt: skip
    assert rc == 0
    merged = read_manifest(tmp_path / "r" / "manifest.jsonl")
    assert {u.speaker for u in merged} >= {"01", "04", "1001", "1002"}
    assert len(merged) == 12 + sum(u.duration <= 3.5 for u in merged if u.speaker in ("01", "02", "03", "04"))
    skipped = (tmp_path / "r" / "skipped.tsv").read_text().splitlines()
    assert skipped and all("longer than 3.5 s" in line for line in skipped)
    assert (tmp_path / "r" / "kaldi" / "utt2emo").is_file() and (tmp_path / "r" / "summary.txt").is_file()


def test_prep_reports_corrupt_audio(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    d = tmp_path / "Actor_01"
    d.mkdir()
    sf.write(d / "03-01-01-01-01-01-01.wav", np.zeros(1600), 16000)
    (d / "03-01-02-01-01-01-01.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEgarbage")
    assert (
        main(["prep", "ravdess", "--root", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    )
    out = capsys.readouterr().out
    assert "1 utterances" in out and "unreadable audio" in out
    assert main(["prep", "ravdess", "--root", str(tmp_path / "nothing"), "--out", str(tmp_path / "o2")]) == 1
    assert "root folder not found" in capsys.readouterr().err


def test_split_by_text_holds_out_whole_sentences():
    from emovox.data_prep.manifest import Utterance, assign_splits

    utts = [
        Utterance(utt_id=f"{spk}_{i}_{e}", audio="x.wav", text=f"sentence number {i}", speaker=spk, emotion=e)
        for spk in ("a", "b") for i in range(200) for e in ("neutral", "sad")
    ]  # fmt: skip
    out = assign_splits(utts, dev=0.1, test=0.1, by="text")
    by_text: dict[str, set[str]] = {}
    for u in out:
        by_text.setdefault(u.text, set()).add(u.split)
    assert all(len(s) == 1 for s in by_text.values())
    counts = {s: sum(1 for u in out if u.split == s) for s in ("train", "dev", "test")}
    assert counts["test"] > 0 and counts["dev"] > 0 and counts["train"] > 0.6 * len(out)

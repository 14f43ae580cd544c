"""The feature store on real RAVDESS clips: contents, stereo down-mix, bad files, resume after SIGKILL, reading."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emovox.data_prep.dataset import FeatureDataset, LengthBucketSampler, collate_features
from emovox.data_prep.features import FeatureConfig, StoreError, build_store, load_item
from emovox.data_prep.manifest import read_manifest, write_manifest
from emovox.data_prep.prep import prepare

STEREO = {"03-01-02-01-01-02-01", "03-01-08-01-02-02-01"}
REPO = Path(__file__).resolve().parents[1]


def subset(ravdess_mini, tmp_path, n: int) -> Path:
    """A manifest of n RAVDESS clips that always includes the two stereo files."""
    utts = prepare("ravdess", ravdess_mini, tmp_path / "prep").utterances
    chosen = [u for u in utts if u.utt_id in STEREO] + [u for u in utts if u.utt_id not in STEREO][: n - 2]
    return write_manifest(tmp_path / f"manifest{n}.jsonl", chosen)


def finished(items: Path) -> list[Path]:
    return [p for p in items.glob("*.npz") if not p.name.startswith(".")]


def store_hashes(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file()
    }


def test_store_contents_on_20_real_clips(ravdess_mini, tmp_path):
    manifest = subset(ravdess_mini, tmp_path, 20)
    report = build_store(manifest, tmp_path / "store")
    assert (report.done, report.computed, report.failed) == (20, 20, [])
    assert set(report.downmixed) == STEREO
    meta = json.loads((tmp_path / "store" / "meta.json").read_text())
    assert meta["mel"]["hop_length"] == 256 and meta["mel"]["n_mels"] == 80 and meta["feature_version"] == 1
    assert set(meta["stages"]) == {"audio", "mel", "energy", "pitch", "phonemes"}
    assert "symbol table" in meta["stages"]["phonemes"]
    records = [json.loads(x) for x in (tmp_path / "store" / "items.jsonl").read_text().splitlines()]
    originals = {u.utt_id: u for u in read_manifest(manifest)}
    for r in records:
        item = load_item(tmp_path / "store", r["utt_id"])
        mel, audio = item["mel"], item["audio"]
        assert mel.shape == (80, r["n_frames"]) and item["energy"].shape == (r["n_frames"],)
        assert audio.dtype == np.int16 and abs(audio.size // 256 - r["n_frames"]) <= 1
        assert r["duration"] == pytest.approx(audio.size / 22050, abs=1e-3)
        assert r["duration"] < originals[r["utt_id"]].duration  # trimmed
        level = 20 * np.log10(np.sqrt(np.mean((audio / 32767.0) ** 2)))
        assert -24.5 < level < -21.5 or np.abs(audio).max() > 0.9 * 32767  # loudness target or peak-limited
        assert np.isfinite(mel).all() and mel.max() > -3
        assert item["info"]["downmixed"] == (r["utt_id"] in STEREO)
        assert str(item["phonemes"]).startswith(("kˈɪdz", "dˈɑːɡz"))  # "Kids ..." / "Dogs ..." in espeak IPA
        assert item["tokens"].dtype == np.int32 and item["tokens"].size > len(str(item["phonemes"])) // 2
    stats = json.loads((tmp_path / "store" / "stats.json").read_text())
    assert set(stats["speakers"]) == {u.speaker for u in originals.values()}
    assert stats["mel"]["n"] == 80 * sum(r["n_frames"] for r in records)


def test_bad_files_are_listed_not_fatal(ravdess_mini, tmp_path):
    good = read_manifest(subset(ravdess_mini, tmp_path, 3))[:2]
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage garbage")
    sf.write(tmp_path / "empty.wav", np.zeros(0), 22050)
    sf.write(tmp_path / "silent.wav", np.zeros(22050), 22050)
    (tmp_path / "clip.webm").write_bytes(b"\x1aE\xdf\xa3")
    bad = [dataclasses.replace(good[0], utt_id=n, audio=str(tmp_path / f)) for n, f in
           (("corrupt", "corrupt.wav"), ("empty", "empty.wav"), ("silent", "silent.wav"), ("webm", "clip.webm"))]  # fmt: skip
    report = build_store([*good, *bad], tmp_path / "store", workers=2)
    assert report.done == 2
    reasons = dict(report.failed)
    assert set(reasons) == {"corrupt", "empty", "silent", "webm"}
    assert "cannot be read" in reasons["corrupt"] and "no samples" in reasons["empty"]
    assert "silent" in reasons["silent"] and "convert it to WAV" in reasons["webm"]
    assert (tmp_path / "store" / "failed.tsv").read_text().count("\n") == 4
    with pytest.raises(StoreError, match="another configuration"):
        build_store(good, tmp_path / "store", FeatureConfig(trim_db=30.0))


def test_resume_after_sigkill_gives_identical_store(ravdess_mini, tmp_path):
    manifest = subset(ravdess_mini, tmp_path, 40)
    build_store(manifest, tmp_path / "whole")
    cmd = [sys.executable, "-m", "emovox.cli", "features", str(manifest), "--out", str(tmp_path / "killed"),
           "--workers", "2", "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    items = tmp_path / "killed" / "items"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if items.is_dir() and len(finished(items)) >= 8:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(finished(items))
    leftovers = [p for p in items.iterdir() if p.name.startswith(".")]  # temp files of interrupted writes
    assert 0 < n_before < 40, f"the run was not killed halfway ({n_before} of 40 items)"
    assert not (tmp_path / "killed" / "items.jsonl").exists()
    report = build_store(manifest, tmp_path / "killed", workers=2)
    assert report.computed == 40 - n_before and report.done == 40
    assert store_hashes(tmp_path / "killed") == store_hashes(tmp_path / "whole")
    assert not any(p.exists() for p in leftovers)


@pytest.mark.slow
def test_prep_and_features_on_all_240_clips(ravdess_mini, tmp_path):
    from emovox.cli import main

    assert (
        main(["prep", "ravdess", "--root", str(ravdess_mini), "--out", str(tmp_path / "p"), "--no-progress"])
        == 0
    )
    report = build_store(tmp_path / "p" / "manifest.jsonl", tmp_path / "s", workers=2)
    assert report.done == 240 and not report.failed and set(report.downmixed) == STEREO


def test_dataset_collate_and_bucketing(ravdess_mini, tmp_path):
    manifest = subset(ravdess_mini, tmp_path, 12)
    build_store(manifest, tmp_path / "store")
    ds = FeatureDataset(tmp_path / "store", preload=True)
    assert len(ds) == 12 and ds.speakers == sorted({r["speaker"] for r in ds.records})
    sampler = LengthBucketSampler(ds.lengths, batch_size=4, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(12)) and all(len(b) <= 4 for b in batches)
    assert batches == list(LengthBucketSampler(ds.lengths, batch_size=4, seed=1))
    capped = list(LengthBucketSampler(ds.lengths, batch_size=12, max_frames=2 * max(ds.lengths)))
    assert all(len(b) * max(ds.lengths[i] for i in b) <= 2 * max(ds.lengths) for b in capped)
    batch = collate_features([ds[i] for i in batches[0]])
    b, t = len(batches[0]), int(batch.mel_lengths.max())
    assert batch.mel.shape == (b, 80, t) and batch.energy.shape == (b, t) and batch.mel_mask.shape == (b, t)
    for k, i in enumerate(batches[0]):
        n = ds.lengths[i]
        assert torch.equal(batch.mel[k, :, :n], ds[i]["mel"]) and not batch.mel_mask[k, n:].any()
        assert batch.emotion[k] == ds.emotions.index(ds.records[i]["emotion"])
    assert torch.isnan(batch.adv).all()  # RAVDESS has no ADV
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_features)
    assert sum(x.mel.shape[0] for x in loader) == 12
    assert len(FeatureDataset(tmp_path / "store", split="train")) < 12


def test_loudness_keep_preserves_level_differences_and_utterance_mode_removes_them():
    from emovox.data_prep.features import FeatureConfig, normalise_loudness

    rng = np.random.default_rng(0)
    quiet = (0.01 * rng.standard_normal(22050)).astype(np.float32)
    loud = quiet * 10.0  # +20 dB
    keep = FeatureConfig(loudness="keep")
    (q, gq), (lo, gl) = normalise_loudness(quiet, keep), normalise_loudness(loud, keep)
    assert gq == gl == 0.0 and np.array_equal(q, quiet) and np.array_equal(lo, loud)
    per_utt = FeatureConfig()
    (q, _), (lo, _) = normalise_loudness(quiet, per_utt), normalise_loudness(loud, per_utt)
    assert np.sqrt(np.mean(lo**2)) == pytest.approx(np.sqrt(np.mean(q**2)), rel=1e-4)
    with pytest.raises(ValueError, match="loudness mode"):
        normalise_loudness(quiet, FeatureConfig(loudness="speaker-ish"))

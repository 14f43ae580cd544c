"""The speech-emotion recogniser: model shapes and masking, training on the engine, checkpoints, inference,
a learnability check on synthetic tones, and (slow) leave-one-actor-out on the real RAVDESS clips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emovox.audio.io import save_wav
from emovox.audio.mel import MelConfig
from emovox.checkpoint import CheckpointError, save_checkpoint
from emovox.cli import main as cli_main
from emovox.config import load_config
from emovox.data_prep.corpora import ravdess
from emovox.data_prep.manifest import write_manifest
from emovox.ser.cv import cross_validate, format_cv, score_predictions
from emovox.ser.data import AudioMelProvider, FeatureStoreMelProvider, read_records, trim_silence
from emovox.ser.infer import EmotionRecognizer
from emovox.ser.models.cnn import SERModel, SERModelConfig, ser_losses, utterance_normalise
from emovox.ser.train import CONFIG, SERConfig, build_task, select_records

TINY = dict(conv_channels=4, d_model=16, n_layers=1, n_heads=2, pool_dim=8, embedding_dim=16)


def ravdess_manifest(root: Path, out: Path, actors: set[str] | None = None, per_actor: int = 0) -> Path:
    """A RAVDESS manifest through the corpus parser, optionally a few clips of some actors."""
    utts = sorted(ravdess.list_utterances(root), key=lambda u: u.utt_id)
    if actors is not None:
        utts = [u for u in utts if u.speaker in actors]
    if per_actor:
        utts = [
            u
            for spk in sorted({u.speaker for u in utts})
            for u in [v for v in utts if v.speaker == spk][::8][:per_actor]
        ]
    write_manifest(out, utts)
    return out


def tone_manifest(tmp_path: Path, n_per_class: int = 12, classes=("neutral", "happy", "sad")) -> Path:
    """Synthetic 'emotions': harmonic tones whose pitch band depends on the label, from 4 'speakers'."""
    rng = np.random.default_rng(0)
    sr = 22050
    base = {"neutral": 150.0, "happy": 320.0, "sad": 90.0, "angry": 500.0}
    records = []
    for c in classes:
        for i in range(n_per_class):
            f0 = base[c] * rng.uniform(0.9, 1.1)
            dur = rng.uniform(0.4, 0.8)
            t = np.arange(int(sr * dur)) / sr
            y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))
            y = 0.2 * y / np.abs(y).max() + 0.01 * rng.standard_normal(t.size)
            path = save_wav(tmp_path / "wav" / f"{c}_{i}.wav", y.astype(np.float32))
            records.append(
                {"utt_id": f"{c}_{i}", "audio": str(path), "speaker": f"s{i % 4}", "emotion": c, "adv": None}
            )
    out = tmp_path / "tones.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    return out


# ------------------------------------------------------------------------------------------------- model


@pytest.mark.parametrize("n_speakers", [0, 3])
@pytest.mark.parametrize("norm", ["utterance", "none"])
def test_model_forward_backward_shapes(n_speakers, norm):
    cfg = SERModelConfig(n_emotions=5, n_speakers=n_speakers, norm=norm, **TINY)
    model = SERModel(cfg)
    x, lengths = torch.randn(4, 80, 50), torch.tensor([50, 41, 17, 9])
    out = model(x, lengths)
    assert out.logits.shape == (4, 5) and out.adv.shape == (4, 3) and out.embedding.shape == (4, 16)
    assert out.adv.abs().max() <= 1.0
    assert (out.speaker_logits is None) == (n_speakers == 0)
    if n_speakers:
        assert out.speaker_logits.shape == (4, 3)
    losses = ser_losses(
        out,
        torch.tensor([0, 4, -1, 2]),
        torch.rand(4, 3) * 2 - 1,
        torch.tensor([True, False, True, True]),
        torch.tensor([0, 1, 2, -1]),
        speaker_weight=0.5,
    )
    assert set(losses) >= {"emotion/ce", "adv/mse", "emotion/acc", "total"}
    assert ("speaker/ce" in losses) == (n_speakers > 0)
    losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_padded_batch_matches_single_items():
    torch.manual_seed(0)
    model = SERModel(SERModelConfig(n_emotions=4, n_speakers=2, **TINY)).eval()
    lengths = [37, 64, 5, 20]
    mels = [torch.randn(80, n) for n in lengths]
    x = torch.full((4, 80, 64), 7.0)  # padding value must not matter
    for i, m in enumerate(mels):
        x[i, :, : m.shape[1]] = m
    with torch.no_grad():
        batch = model(x, torch.tensor(lengths))
        for i, m in enumerate(mels):
            one = model(m[None], torch.tensor([m.shape[1]]))
            torch.testing.assert_close(one.logits[0], batch.logits[i], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(one.adv[0], batch.adv[i], atol=1e-5, rtol=1e-4)


def test_utterance_normalise_ignores_padding():
    x = torch.randn(2, 3, 10) * 5 + 2
    mask = torch.arange(10)[None] < torch.tensor([10, 6])[:, None]
    y = utterance_normalise(x, mask)
    assert torch.allclose(y[1, :, :6].mean(-1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y[1, :, :6].std(-1, unbiased=False), torch.ones(3), atol=1e-3)
    assert (y[1, :, 6:] == 0).all()


def test_spec_augment_only_in_training():
    torch.manual_seed(0)
    model = SERModel(SERModelConfig(n_emotions=3, dropout=0.0, time_masks=4, freq_masks=4, **TINY))
    x, n = torch.randn(2, 80, 60), torch.tensor([60, 60])
    model.eval()
    a, b = model(x, n).logits, model(x, n).logits
    torch.testing.assert_close(a, b)
    model.train()
    assert not torch.allclose(model(x, n).logits, model(x, n).logits)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="norm"):
        SERModelConfig(norm="global")
    with pytest.raises(ValueError, match="n_heads"):
        SERModelConfig(d_model=30, n_heads=4)


# ------------------------------------------------------------------------------------------------- data


def test_read_records_errors_name_the_line(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"utt_id": "a", "audio": "a.wav", "speaker": "s", "emotion": "sad"}\n{"utt_id": "b"}\n')
    with pytest.raises(ValueError, match=r"m.jsonl:2: missing field\(s\) audio, speaker, emotion"):
        read_records(bad)
    with pytest.raises(ValueError, match="manifest not found"):
        read_records(tmp_path / "nope.jsonl")
    good = tmp_path / "g.jsonl"
    good.write_text('{"utt_id": "a", "audio": "x/a.wav", "speaker": "s", "emotion": "sad", "adv": null}\n')
    assert read_records(good)[0]["audio"] == str(tmp_path / "x" / "a.wav")


def test_select_records_holds_out_speakers_and_splits():
    recs = [
        {"utt_id": str(i), "audio": "", "speaker": f"s{i % 3}", "emotion": "sad", "split": s}
        for i, s in enumerate(["train", "dev", "train", "train", "test", "train"])
    ]
    cfg = SERConfig()
    cfg.data.held_out_speakers = ["s1"]
    cfg.data.splits = ["train"]
    assert [r["utt_id"] for r in select_records(recs, cfg.data)] == ["0", "2", "3", "5"]
    cfg.data.speakers = ["s0"]
    assert [r["utt_id"] for r in select_records(recs, cfg.data)] == ["0", "3"]


def test_task_resolves_classes_and_anchor_targets(tmp_path):
    manifest = tone_manifest(tmp_path, n_per_class=4)
    cfg = load_config(
        CONFIG, [], [f"data.manifest={manifest}", "train.batch_size=4", "data.held_out_speakers=[s3]"]
    )
    task = build_task(cfg)
    assert task.emotions == ["neutral", "happy", "sad"]  # canonical order, not alphabetical
    assert task.speakers == ["s0", "s1", "s2"]
    assert len(task.items) == 9 and cfg.model.n_emotions == 3
    happy = next(it for it in task.items if it.record["emotion"] == "happy")
    assert happy.has_adv and happy.adv[2] > 0.5  # valence anchor of 'happy'
    cfg.data.held_out_speakers = ["s0", "s1", "s2", "s3"]
    with pytest.raises(ValueError, match="no usable training records"):
        build_task(cfg)
    only_sad = load_config(CONFIG, [], [f"data.manifest={manifest}", "data.emotions=[sad]"])
    with pytest.raises(ValueError, match="at least 2 emotions"):
        build_task(only_sad)


# ------------------------------------------------------------------------------------------------- checkpoints


def _tiny_recognizer(emotions=("neutral", "sad", "angry")) -> tuple[SERModel, dict]:
    torch.manual_seed(1)
    mcfg = SERModelConfig(n_emotions=len(emotions), **TINY)
    model = SERModel(mcfg).eval()
    from emovox.config import config_to_dict

    meta = {
        "model": config_to_dict(mcfg),
        "emotions": list(emotions),
        "speakers": ["a"],
        "mel": config_to_dict(MelConfig()),
        "preprocess": {"trim_db": 40.0, "norm": "utterance"},
    }
    return model, meta


def test_checkpoint_round_trip_and_inputs(tmp_path):
    model, meta = _tiny_recognizer()
    path = save_checkpoint(tmp_path / "ser.safetensors", model.state_dict(), meta, kind="ser")
    rec = EmotionRecognizer.load(path)
    audio = (0.3 * np.sin(2 * np.pi * 200 * np.arange(11025) / 22050)).astype(np.float32)
    wav = save_wav(tmp_path / "a.wav", audio)
    mel = rec.mel(audio)
    r_audio, r_path, r_mel = rec.predict(audio), rec.predict(wav), rec.predict(mel)
    with torch.no_grad():
        expected = torch.softmax(model(mel[None], torch.tensor([mel.shape[1]])).logits, -1)[0]
    for r in (r_audio, r_path, r_mel):
        assert list(r.probs) == ["neutral", "sad", "angry"]
        assert abs(sum(r.probs.values()) - 1) < 1e-5
        assert r.label == max(r.probs, key=r.probs.get)
        # the WAV round trip quantises to 16 bits, hence the looser tolerance for the path input
        np.testing.assert_allclose(
            list(r.probs.values()), expected.numpy(), atol=1e-5 if r is not r_path else 2e-3
        )
    # 44.1 kHz input is resampled to the model rate
    r_44k = rec.predict(np.repeat(audio, 2), sample_rate=44100)
    assert abs(r_44k.probs["sad"] - r_audio.probs["sad"]) < 0.05
    batch = rec.predict_batch([audio, audio[:6000], mel], batch_size=2)
    np.testing.assert_allclose(batch[0].adv, r_audio.adv, atol=1e-5)
    with pytest.raises(ValueError, match="expected audio"):
        rec.predict(np.zeros((3, 4, 5)))
    with pytest.raises(CheckpointError):
        EmotionRecognizer.load(
            save_checkpoint(tmp_path / "x.safetensors", model.state_dict(), meta, kind="vocoder")
        )


def test_trim_silence_keeps_the_loud_part():
    rng = np.random.default_rng(0)
    quiet, loud = 0.001 * rng.standard_normal(10000), 0.5 * rng.standard_normal(20000)
    audio = np.concatenate([quiet, loud, quiet]).astype(np.float32)
    trimmed = trim_silence(audio, 40.0)
    assert 20000 <= trimmed.size <= 20000 + 4 * 256
    assert np.abs(trimmed).max() == np.abs(audio).max()
    np.testing.assert_array_equal(trim_silence(loud, 40.0), loud)  # nothing to trim


def test_feature_store_provider(tmp_path):
    store = tmp_path / "store"
    (store / "items").mkdir(parents=True)
    (store / "meta.json").write_text(json.dumps({"mel": dataclasses.asdict(MelConfig())}))
    mel = np.random.default_rng(0).standard_normal((80, 30)).astype(np.float32)
    np.savez(store / "items" / "u1.npz", mel=mel)
    provider = FeatureStoreMelProvider(store, MelConfig())
    np.testing.assert_array_equal(provider({"utt_id": "u1", "audio": "unused.wav"}), mel)
    with pytest.raises(ValueError, match="not in the feature store"):
        provider({"utt_id": "u2", "audio": "x"})
    with pytest.raises(ValueError, match="another mel configuration .*hop_length"):
        FeatureStoreMelProvider(store, MelConfig(hop_length=200, n_fft=1024, win_length=800))


def test_score_predictions():
    fold = score_predictions("a", ["x", "y", "z"], [0, 0, 0, 1, 2], [0, 0, 1, 1, 1])
    assert fold.accuracy == pytest.approx(3 / 5)
    assert fold.uar == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert fold.majority_baseline == pytest.approx(3 / 5)
    assert fold.confusion == [[2, 1, 0], [0, 1, 0], [0, 1, 0]]


# ------------------------------------------------------------------------------------------------- training


def test_two_step_train_on_ravdess_via_cli(ravdess_mini, tmp_path):
    manifest = ravdess_manifest(ravdess_mini, tmp_path / "rav.jsonl", actors={"01", "02"}, per_actor=6)
    out = tmp_path / "run"
    args = ["train", "ser", "--out", str(out), "--set", f"data.manifest={manifest}"]
    for k, v in {**TINY, "n_layers": 1}.items():
        args += ["--set", f"model.{k}={v}"]
    args += ["--set", "train.max_steps=2", "--set", "train.batch_size=4", "--set", "train.tensorboard=false"]
    args += ["--set", "train.progress=false", "--set", "data.held_out_speakers=['02']"]
    assert cli_main(args) == 0
    assert (out / "model.safetensors").is_file() and (out / "config.yaml").is_file()
    rec = EmotionRecognizer.load(out / "model.safetensors")
    assert rec.speakers == ["01"]
    assert set(rec.emotions) <= {"neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"}
    assert len(rec.emotions) >= 2
    held_out = next((ravdess_mini / "Actor_02").glob("*.wav"))
    assert (
        cli_main(["ser", "predict", "--model", str(out / "model.safetensors"), str(held_out), "--json"]) == 0
    )


def _tone_config(manifest: Path, steps: int) -> SERConfig:
    cfg = SERConfig()
    cfg.data.manifest = str(manifest)
    cfg.data.trim_db = 0.0
    cfg.model = SERModelConfig(**{**TINY, "conv_channels": 8, "d_model": 32, "embedding_dim": 32})
    cfg.optim.warmup_steps = 10
    cfg.train.max_steps = steps
    cfg.train.batch_size = 8
    cfg.train.ckpt_every = steps
    cfg.train.tensorboard = False
    cfg.train.progress = False
    return cfg


@pytest.fixture
def one_thread():
    """Training runs single-threaded: on a shared, oversubscribed CPU two intra-op threads are ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_learns_pitch_classes_of_held_out_speaker(tmp_path, one_thread):
    """~100 steps on tones whose pitch band is the class: the held-out speaker's tones are classified."""
    manifest = tone_manifest(tmp_path, n_per_class=12)
    records = read_records(manifest)
    cfg = _tone_config(manifest, steps=100)
    provider = AudioMelProvider(cfg.mel, trim_db=0.0)
    result = cross_validate(records, cfg, tmp_path / "cv", groups=["s3"], provider=provider)
    (fold,) = result.folds
    assert fold.n_test == 9
    assert fold.accuracy >= 0.8, format_cv(result)  # chance is 1/3
    assert result.chance == pytest.approx(1 / 3)
    # the ADV head learned the anchors' ordering of arousal: happy > neutral > sad
    rec = EmotionRecognizer.load(tmp_path / "cv" / "fold_s3" / "model.safetensors")
    test = [r for r in records if r["speaker"] == "s3"]
    preds = rec.predict_batch([r["audio"] for r in test])
    arousal = {
        e: np.mean([p.arousal for p, r in zip(preds, test) if r["emotion"] == e]) for e in result.emotions
    }
    assert arousal["happy"] > arousal["neutral"] > arousal["sad"]


@pytest.mark.slow
def test_ravdess_leave_one_actor_out(ravdess_mini, tmp_path, one_thread):
    """Leave-one-actor-out on the 240 real RAVDESS clips (8 classes, chance 12.5 %); ~6 min on a shared CPU.

    Measured once with these settings: mean accuracy 0.308 (folds 0.300 / 0.233 / 0.300 / 0.400), UAR 0.316;
    with model.norm=none 0.337, UAR 0.320 and a better arousal correlation.
    """
    manifest = ravdess_manifest(ravdess_mini, tmp_path / "rav.jsonl")
    cfg = load_config(CONFIG, [], ["train.max_steps=300", "train.tensorboard=false", "train.ckpt_every=300"])
    result = cross_validate(read_records(manifest), cfg, tmp_path / "cv")
    print(format_cv(result))
    assert len(result.folds) == 4 and result.chance == pytest.approx(1 / 8)
    assert result.mean_accuracy > 2 * result.chance


def test_cli_cv_and_train_actions(tmp_path, one_thread):
    manifest = tone_manifest(tmp_path, n_per_class=4)
    sets = [f"model.{k}={v}" for k, v in TINY.items()]
    sets += ["train.max_steps=2", "train.batch_size=4", "train.tensorboard=false", "train.progress=false"]
    set_args = [a for s in sets for a in ("--set", s)]
    out = tmp_path / "cv"
    only = ["--only", "s0", "--only", "s2"]
    args = ["ser", "cv", "--manifest", str(manifest), "--folds", "actor", *only, "--out", str(out), *set_args]
    assert cli_main(args) == 0
    report = json.loads((out / "cv.json").read_text())
    assert [f["held_out"] for f in report["folds"]] == ["s0", "s2"]
    assert [f["n_test"] for f in report["folds"]] == [3, 3] and report["chance"] == pytest.approx(1 / 3)
    assert 0.0 <= report["mean_accuracy"] <= 1.0
    assert cli_main(["ser", "cv", "--manifest", str(manifest), "--only", "s9", "--out", str(out)]) == 1
    run = tmp_path / "run"
    assert cli_main(["ser", "train", "--set", f"data.manifest={manifest}", "--out", str(run), *set_args]) == 0
    assert EmotionRecognizer.load(run / "model.safetensors").emotions == ["neutral", "happy", "sad"]


def test_spec_augment_fills_masks_with_the_channel_mean():
    from emovox.ser.models.cnn import SpecAugment

    torch.manual_seed(0)
    aug = SpecAugment(
        SERModelConfig(n_emotions=3, time_masks=2, freq_masks=2, freq_mask_width=20, **TINY)
    ).train()
    x = torch.randn(2, 80, 50) - 6.0  # raw log-mel level
    lengths = torch.tensor([50, 30])
    y = aug(x, lengths)
    mean = torch.stack([x[0].mean(-1), x[1, :, :30].mean(-1)])  # [2, 80]
    masked = y != x
    masked[1, :, 30:] = False
    assert masked.any()
    b, c, _ = torch.nonzero(masked, as_tuple=True)
    torch.testing.assert_close(y[masked], mean[b, c])
    assert (y[1, :, 30:] == 0).all()  # padding stays 0

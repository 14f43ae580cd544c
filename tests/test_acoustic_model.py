from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from emovox.emotion.encoder import EmotionEncoderConfig
from emovox.tts.losses import AcousticLossConfig, acoustic_losses
from emovox.tts.models.fastspeech2 import AcousticModel, AcousticModelConfig
from emovox.tts.models.layers import expand_by_durations, lengths_to_mask
from emovox.tts.training import collate_items
from tests.toy_corpus import make_toy_data

kernels = pytest.importorskip("emovox.audio.kernels")
maximum_path = kernels.maximum_path

TINY = AcousticModelConfig(
    n_symbols=12, n_speakers=2, n_emotions=4, hidden=16, n_heads=2, encoder_layers=1, decoder_layers=1,
    ffn_channels=16, predictor_channels=16, aligner_channels=8, dropout=0.0, predictor_dropout=0.0,
    emotion=EmotionEncoderConfig(channels=8, n_layers=1, z_dim=4, dropout=0.0),
)  # fmt: skip


@pytest.fixture(scope="module")
def toy():
    return make_toy_data(n_items=8, n_symbols=12)


def _batch(toy, idx):
    return collate_items([toy.dataset[i] for i in idx], toy.emotions)


def test_forward_backward_shapes(toy):
    torch.manual_seed(0)
    model = AcousticModel(TINY)
    batch = _batch(toy, [0, 1, 2])
    out = model(batch, maximum_path)
    b, n = batch.tokens.shape
    t = batch.mel.shape[2]
    assert out.mel.shape == (b, 80, t) and out.decoder_hidden.shape == (b, t, 16)
    assert out.attn_soft.shape == out.attn_hard.shape == (b, t, n)
    # hard durations cover every frame of every utterance exactly once
    assert torch.equal(out.dur_target.sum(1), batch.y_lengths.float())
    assert torch.equal(
        out.attn_hard.sum(2)[lengths_to_mask(batch.y_lengths)], torch.ones(int(batch.y_lengths.sum()))
    )
    loss, terms = acoustic_losses(out, batch, AcousticLossConfig(), step=10_000)
    loss.backward()
    assert all(torch.isfinite(v) for v in terms.values())
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert sum(g is not None and g.abs().sum() > 0 for g in grads) > 0.9 * len(grads)


@pytest.mark.parametrize("flags", [{}, {"prior_scaling": 0.0}, {"n_emotions": 0}, {"n_speakers": 1}])
def test_config_variants_run(toy, flags):
    cfg = replace(TINY, **flags)
    model = AcousticModel(cfg)
    items = [
        dict(toy.dataset[i], speaker=min(toy.dataset[i]["speaker"], cfg.n_speakers - 1)) for i in range(2)
    ]
    batch = collate_items(items, toy.emotions if cfg.n_emotions else [])
    loss, _ = acoustic_losses(model(batch, maximum_path), batch, AcousticLossConfig(), step=0)
    loss.backward()
    model.eval()
    out = model.infer(batch.tokens, batch.x_lengths, batch.speaker, torch.zeros(2, 4))
    assert out.mel.shape[2] == int(out.mel_lengths.max()) and (out.mel_lengths >= 1).all()


def test_batch_of_one_equals_batch_of_many(toy):
    torch.manual_seed(1)
    model = AcousticModel(TINY).eval()
    many = _batch(toy, [0, 1, 2, 3])
    one = _batch(toy, [2])
    with torch.no_grad():
        out_many = model(many, maximum_path)
        out_one = model(one, maximum_path)
    t = int(one.y_lengths[0])
    torch.testing.assert_close(out_many.mel[2, :, :t], out_one.mel[0, :, :t], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out_many.emotion.z[2], out_one.emotion.z[0], atol=1e-5, rtol=1e-5)
    z = torch.randn(4, 4)
    inf_many = model.infer(many.tokens, many.x_lengths, many.speaker, z)
    inf_one = model.infer(one.tokens, one.x_lengths, one.speaker, z[2:3])
    assert torch.equal(inf_many.durations[2, : one.tokens.shape[1]], inf_one.durations[0])
    t = int(inf_one.mel_lengths[0])
    torch.testing.assert_close(inf_many.mel[2, :, :t], inf_one.mel[0, :, :t], atol=1e-4, rtol=1e-4)


def test_inference_controls(toy):
    torch.manual_seed(2)
    model = AcousticModel(TINY).eval()
    with torch.no_grad():  # make the duration predictor output ~ log(4 + 1) everywhere
        model.duration_predictor.proj.bias.fill_(float(torch.log(torch.tensor(5.0))))
        model.duration_predictor.proj.weight.zero_()
    b = _batch(toy, [0])
    z = torch.zeros(1, 4)
    base = model.infer(b.tokens, b.x_lengths, b.speaker, z)
    slow = model.infer(b.tokens, b.x_lengths, b.speaker, z, length_scale=2.0)
    assert int(slow.mel_lengths[0]) == 2 * int(base.mel_lengths[0])
    shifted = model.infer(b.tokens, b.x_lengths, b.speaker, z, pitch_shift=1.0)
    torch.testing.assert_close(shifted.pitch, base.pitch + 1.0)
    assert not torch.allclose(shifted.mel, base.mel)


def test_length_regulator():
    x = torch.arange(6.0).reshape(1, 3, 2)
    y, mask, path = expand_by_durations(x, torch.tensor([[2, 0, 3]]))
    assert y.shape == (1, 5, 2) and mask.all()
    assert y[0, :, 0].tolist() == [0.0, 0.0, 4.0, 4.0, 4.0]
    assert path.sum().item() == 5


def test_batched_forward_sum_loss_equals_the_per_item_ctc():
    import torch.nn.functional as F

    from emovox.tts.models.aligner import forward_sum_loss

    torch.manual_seed(0)
    b, t, n = 5, 60, 17
    logits = torch.randn(b, t, n, requires_grad=True)
    x_lengths = torch.tensor([17, 9, 12, 3, 17])
    y_lengths = torch.tensor([60, 41, 30, 7, 52])
    per_item = []
    for i in range(b):  # each item alone: only its own text positions, its own frames
        lp = F.log_softmax(logits[i, : y_lengths[i], : x_lengths[i]], dim=-1)
        lp = F.log_softmax(F.pad(lp, (1, 0), value=-1.0), dim=-1).unsqueeze(1)
        target = torch.arange(1, int(x_lengths[i]) + 1).unsqueeze(0)
        per_item.append(
            F.ctc_loss(lp, target, y_lengths[i : i + 1], x_lengths[i : i + 1], zero_infinity=True)
        )
    expected = torch.stack(per_item).mean()
    masked = F.log_softmax(
        logits.masked_fill(torch.arange(n)[None, None] >= x_lengths[:, None, None], -1e4), dim=-1
    )
    got = forward_sum_loss(masked, x_lengths, y_lengths)
    torch.testing.assert_close(got, expected)
    g_got, g_exp = torch.autograd.grad(got, logits)[0], torch.autograd.grad(expected, logits)[0]
    torch.testing.assert_close(g_got, g_exp)


def test_intensity_head_regresses_each_emotions_intensity(toy):
    """The intensity loss is the squared error against r·onehot(e): zero for a head that outputs exactly that,
    neutral's target is all zeros, items without an intensity are left out, and the gradient reaches z."""
    cfg = replace(TINY, emotion=replace(TINY.emotion, intensity_head=True))
    model = AcousticModel(cfg)
    items = [dict(toy.dataset[i]) for i in range(4)]
    items[0].update(emotion="neutral", intensity=0.7)  # a manifest may give neutral an intensity: still 0
    items[1].update(emotion=toy.emotions[1], intensity=0.5)
    items[2].update(emotion=toy.emotions[2], intensity=None)  # unknown intensity: not in the loss
    items[3].update(emotion=toy.emotions[3], intensity=1.0)
    batch = collate_items(items, toy.emotions)
    assert batch.intensity[0] == 0.0 and batch.intensity[1] == 0.5 and torch.isnan(batch.intensity[2])
    out = model(batch, maximum_path)
    loss_cfg = AcousticLossConfig(intensity_mse=2.0)
    _, terms = acoustic_losses(out, batch, loss_cfg, step=0)
    target = torch.zeros(3, cfg.n_emotions)
    target[1, 1], target[2, 3] = 0.5, 1.0
    expected = (out.emotion.intensity[[0, 1, 3]] - target).pow(2).sum(1).mean()
    assert torch.allclose(terms["emotion/intensity_mse"], expected)
    perfect = torch.zeros(4, cfg.n_emotions)
    perfect[1, 1], perfect[3, 3], perfect[2, 0] = 0.5, 1.0, 7.0  # item 2's output is ignored
    out.emotion.intensity = perfect
    assert float(acoustic_losses(out, batch, loss_cfg, step=0)[1]["emotion/intensity_mse"]) == 0.0

    out = model(batch, maximum_path)
    total, terms = acoustic_losses(out, batch, loss_cfg, step=0)
    total.backward()
    assert model.emotion_encoder.bottleneck.weight.grad.abs().sum() > 0
    assert model.emotion_encoder.intensity_head.weight.grad.abs().sum() > 0


def test_intensity_loss_without_the_head_is_refused(toy):
    model = AcousticModel(TINY)  # no intensity head: old checkpoints keep their architecture
    assert model.emotion_encoder.intensity_head is None
    batch = _batch(toy, [0, 1])
    out = model(batch, maximum_path)
    assert out.emotion.intensity is None
    assert "emotion/intensity_mse" not in acoustic_losses(out, batch, AcousticLossConfig(), step=0)[1]
    with pytest.raises(ValueError, match="intensity_head"):
        acoustic_losses(out, batch, AcousticLossConfig(intensity_mse=1.0), step=0)

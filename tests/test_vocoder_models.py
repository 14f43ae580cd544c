"""HiFi-GAN generator and discriminators on tiny configurations: shapes, gradients, weight-norm folding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emovox.vocoder.models.discriminators import (
    DiscriminatorConfig,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
)
from emovox.vocoder.models.hifigan import PRESETS, Generator, GeneratorConfig, preset, select_resblocks


def tiny(resblock: str = "1") -> GeneratorConfig:
    if resblock == "1":
        return GeneratorConfig(n_mels=8, upsample_rates=[4, 2], upsample_kernel_sizes=[8, 4],
                               upsample_initial_channel=16, resblock_kernel_sizes=[3, 5],
                               resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]])  # fmt: skip
    return GeneratorConfig(n_mels=8, upsample_rates=[4, 2], upsample_kernel_sizes=[8, 4],
                           upsample_initial_channel=16, resblock="2", resblock_kernel_sizes=[3, 5],
                           resblock_dilation_sizes=[[1, 2], [2, 6]])  # fmt: skip


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_generator_shapes_and_backward(resblock):
    torch.manual_seed(0)
    gen = Generator(tiny(resblock))
    mel = torch.randn(2, 8, 13)
    wav = gen(mel)
    assert wav.shape == (2, 1, 13 * 8)
    assert wav.abs().max() <= 1
    wav.pow(2).mean().backward()
    grads = [p.grad for p in gen.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("resblock", ["1", "2"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_weight_norm_fold_and_infer_match_forward(resblock, channels_last):
    torch.manual_seed(0)
    gen = Generator(tiny(resblock)).eval()
    # Make every weight-norm gain differ from the direction's norm, so folding really has work to do.
    with torch.no_grad():
        for name, p in gen.named_parameters():
            if name.endswith("original0"):
                p.mul_(torch.rand_like(p) + 0.5)
    mel = torch.randn(2, 8, 17)
    with torch.no_grad():
        expected = gen(mel)
    assert gen.has_weight_norm
    gen.remove_weight_norm()
    assert not gen.has_weight_norm
    assert not any("parametrizations" in k for k in gen.state_dict())
    with torch.no_grad():
        folded = gen(mel)
    fast = gen.infer(mel, channels_last=channels_last)
    torch.testing.assert_close(folded, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)
    assert fast.is_contiguous()
    gen.remove_weight_norm()  # idempotent


def test_presets_are_the_official_sizes():
    sizes = {
        name: sum(p.numel() for p in Generator(preset(name)).remove_weight_norm().parameters())
        for name in PRESETS
    }
    # Parameter counts of the official V1/V2/V3 generators (the paper reports 13.92 M, 0.92 M, 1.46 M).
    assert round(sizes["v1"] / 1e6, 2) == 13.93
    assert round(sizes["v2"] / 1e6, 2) == 0.93
    assert round(sizes["v3"] / 1e6, 2) == 1.46
    assert all(preset(n).hop_length == 256 for n in PRESETS)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resblock": "3"}, "resblock"),
        ({"upsample_rates": [8, 8, 2]}, "same, non-zero length"),
        ({"upsample_kernel_sizes": [16, 16, 4, 5]}, "kernel 5"),
        ({"resblock_dilation_sizes": [[1, 3], [1, 3, 5], [1, 3, 5]]}, "3 dilations"),
        ({"resblock_kernel_sizes": [3, 7, 10]}, "odd"),
    ],
)
def test_generator_config_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**kwargs)


def _pruned(cfg: GeneratorConfig, keep: list[int]) -> GeneratorConfig:
    return GeneratorConfig(
        upsample_initial_channel=cfg.upsample_initial_channel,
        resblock_kernel_sizes=[cfg.resblock_kernel_sizes[j] for j in keep],
        resblock_dilation_sizes=[cfg.resblock_dilation_sizes[j] for j in keep],
    )


@pytest.mark.parametrize("keep", [[0], [2], [1, 2]])
def test_a_pruned_generator_takes_its_sources_weights(keep):
    source_cfg = GeneratorConfig(upsample_initial_channel=32)
    source = Generator(source_cfg).state_dict()
    target_cfg = _pruned(source_cfg, keep)
    pruned = Generator(target_cfg)
    pruned.load_state_dict(select_resblocks(source, source_cfg, target_cfg))  # strict: every tensor mapped
    got = pruned.state_dict()
    for stage in range(len(source_cfg.upsample_rates)):
        for new_j, old_j in enumerate(keep):
            prefix_new, prefix_old = (
                f"resblocks.{stage * len(keep) + new_j}.",
                f"resblocks.{stage * 3 + old_j}.",
            )
            keys = [k for k in got if k.startswith(prefix_new)]
            assert keys
            for k in keys:
                torch.testing.assert_close(got[k], source[prefix_old + k[len(prefix_new) :]], rtol=0, atol=0)
    for k in got:
        if not k.startswith("resblocks."):
            torch.testing.assert_close(got[k], source[k], rtol=0, atol=0)


def test_pruning_refuses_what_is_not_a_subset():
    source_cfg = GeneratorConfig(upsample_initial_channel=32)
    state = Generator(source_cfg).state_dict()
    with pytest.raises(ValueError, match="upsample_initial_channel differ"):
        select_resblocks(state, source_cfg, GeneratorConfig(upsample_initial_channel=64))
    five = GeneratorConfig(
        upsample_initial_channel=32, resblock_kernel_sizes=[5], resblock_dilation_sizes=[[1, 3, 5]]
    )
    with pytest.raises(ValueError, match="not an ordered subset"):
        select_resblocks(state, source_cfg, five)
    backwards = GeneratorConfig(
        upsample_initial_channel=32, resblock_kernel_sizes=[11, 3], resblock_dilation_sizes=[[1, 3, 5]] * 2
    )
    with pytest.raises(ValueError, match="not an ordered subset"):
        select_resblocks(state, source_cfg, backwards)


def test_infer_rejects_wrong_mel_shape():
    gen = Generator(tiny()).remove_weight_norm()
    with pytest.raises(ValueError, match=r"\[B, 8, T\]"):
        gen.infer(torch.randn(1, 80, 10))


def test_discriminators_shapes_names_and_gradients():
    torch.manual_seed(0)
    cfg = DiscriminatorConfig(periods=[2, 3], n_scales=2)
    mpd, msd = MultiPeriodDiscriminator(cfg), MultiScaleDiscriminator(cfg)
    y = torch.randn(3, 1, 301, requires_grad=True)  # odd length: the period discriminators pad
    out_p, out_s = mpd(y), msd(y)
    assert out_p.names == ["mpd2", "mpd3"]
    assert out_s.names == ["msd0", "msd1"]
    for out in (out_p, out_s):
        assert len(out.scores) == len(out.features) == len(out.names)
        assert all(s.dim() == 2 and s.shape[0] == 3 for s in out.scores)
    assert [len(f) for f in out_p.features] == [6, 6]  # five convs + conv_post
    assert [len(f) for f in out_s.features] == [8, 8]  # seven convs + conv_post
    # 301 samples padded to 302 = 151 x 2; kernel 5, stride 3, padding 2: (151 + 4 - 5) // 3 + 1 = 51 rows
    assert out_p.features[0][0].shape == (3, 32, 51, 2)
    real, fake = out_s.split(1)
    assert real.scores[0].shape[0] == 1 and fake.scores[0].shape[0] == 2
    assert fake.features[1][-1].shape[0] == 2
    loss = sum(s.mean() for s in out_p.scores + out_s.scores)
    loss.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_vocode_single_and_batch_agree_and_stay_in_range():
    from emovox.vocoder.inference import vocode

    torch.manual_seed(0)
    gen = Generator(tiny()).eval()
    mels = torch.randn(2, 8, 12) * 3 - 4
    batch = vocode(gen, mels)
    assert batch.shape == (2, 12 * 8) and batch.dtype.name == "float32"
    for i in range(2):
        single = vocode(gen, mels[i])
        assert single.shape == (12 * 8,)
        torch.testing.assert_close(torch.from_numpy(single), torch.from_numpy(batch[i]), atol=1e-5, rtol=0)
    assert abs(batch).max() <= 1.0
    with pytest.raises(ValueError, match="expected a mel"):
        vocode(gen, mels[0, 0])


def test_windowed_vocoding_joins_to_the_whole():
    from emovox.vocoder.inference import vocode, vocode_windows

    torch.manual_seed(0)
    gen = Generator(tiny()).eval()
    mel = torch.randn(8, 100) * 3 - 4
    whole = vocode(gen, mel)
    pieces = list(vocode_windows(gen, mel, window=24, pad=16))
    assert len(pieces) == 5 and [p.size for p in pieces] == [24 * 8] * 4 + [4 * 8]
    joined = np.concatenate(pieces)
    assert joined.shape == whole.shape and np.abs(joined - whole).max() < 1e-4
    # Without context the seams show: the pad is what makes the windows agree.
    bare = np.concatenate(list(vocode_windows(gen, mel, window=24, pad=0)))
    assert np.abs(bare - whole).max() > 10 * np.abs(joined - whole).max()
    with pytest.raises(ValueError, match="window must be positive"):
        next(vocode_windows(gen, mel, window=0))


def test_long_mel_in_chunks_equals_the_one_pass_mel():
    from emovox.audio.mel import mel_spectrogram, mel_spectrogram_long

    rng = np.random.default_rng(0)
    for n in (5000, 123457, 300001):  # shorter than a chunk, and chunk edges at every offset of the hop
        x = (0.1 * rng.standard_normal(n)).astype(np.float32)
        whole, chunked = mel_spectrogram(x), mel_spectrogram_long(x, chunk_frames=37)
        assert chunked.shape == whole.shape
        assert float((chunked - whole).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="expected a waveform"):
        mel_spectrogram_long(np.zeros((2, 100), dtype=np.float32))


def test_mixed_precision_keeps_the_edges_in_float32_and_the_output_close():
    torch.manual_seed(0)
    cfg = GeneratorConfig(n_mels=8, upsample_rates=[4, 2, 2], upsample_kernel_sizes=[8, 4, 4],
                          upsample_initial_channel=32, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]])  # fmt: skip
    fp32 = Generator(cfg).eval()
    mixed = Generator(cfg).eval()
    mixed.load_state_dict(fp32.state_dict())
    mixed.to_mixed_precision(torch.bfloat16)
    assert mixed.conv_pre.weight.dtype == mixed.conv_post.weight.dtype == torch.float32
    assert mixed.ups[-1].weight.dtype == torch.float32 and mixed.ups[0].weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for b in mixed._stage(0) for p in b.parameters())
    assert all(
        p.dtype == torch.float32 for b in mixed._stage(len(cfg.upsample_rates) - 1) for p in b.parameters()
    )
    mel = torch.randn(1, 8, 40)
    a, b = fp32.infer(mel), mixed.infer(mel)
    assert b.dtype == torch.float32 and b.shape == a.shape
    assert 0 < (a - b).abs().max() < 0.05  # bfloat16 rounding in the middle stages, nothing more


def test_vocoder_precision_is_validated():
    from emovox.pipelines import Vocoder

    with pytest.raises(ValueError, match="precision"):
        Vocoder.load("universal", precision="int4")

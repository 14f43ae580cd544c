from __future__ import annotations

import math

import pytest
import torch

from emovox.emotion.bank import CURVE_MIN_UTTERANCES as CURVE_MIN
from emovox.emotion.bank import EmotionBank
from emovox.emotion.labels import adv_anchor


def _clusters(seed=0, per=40, dz=8, with_adv=True):
    """z = c + M_true·adv(e) + noise, per speaker offset; returns bank inputs and the truth."""
    g = torch.Generator().manual_seed(seed)
    m_true = torch.randn(dz, 3, generator=g)
    c = torch.randn(dz, generator=g)
    names = ["neutral", "happy", "sad", "angry"]
    z, labels, speakers, adv = [], [], [], []
    for s in range(2):
        for e in names:
            a = torch.tensor(adv_anchor(e))
            for _ in range(per):
                z.append(c + m_true @ a + 0.3 * s + 0.05 * torch.randn(dz, generator=g))
                labels.append(e)
                speakers.append(s)
                adv.append(a)
    adv_t = torch.stack(adv)
    mask = torch.full((len(z),), with_adv)
    return torch.stack(z), labels, torch.tensor(speakers), adv_t, mask, m_true, c


def test_directions_and_algebra():
    z, labels, spk, adv, mask, m_true, c = _clusters()
    bank = EmotionBank.compute(z, labels, spk, 2, adv, mask)
    assert bank.emotions == ["neutral", "happy", "sad", "angry"]
    # neutral centre: mean over both speakers' neutral clusters
    torch.testing.assert_close(bank.center, c + 0.15, atol=0.03, rtol=0)
    d_angry = m_true @ torch.tensor(adv_anchor("angry"))
    torch.testing.assert_close(bank.direction("angry"), d_angry, atol=0.03, rtol=0)
    torch.testing.assert_close(bank.label("angry", 0.0), bank.center)
    torch.testing.assert_close(bank.label("angry", -1.0) - bank.center, -(bank.label("angry") - bank.center))
    torch.testing.assert_close(bank.mixture([("sad", 1.0, 1.0), ("angry", 0.0, 1.0)]), bank.label("sad"))
    mix = bank.mixture([("sad", 0.7, 1.0), ("angry", 0.3, 1.0)])
    torch.testing.assert_close(mix, 0.7 * bank.label("sad") + 0.3 * bank.label("angry"))
    # the ADV map reproduces the true linear relation at the data's ADV points, and is linear
    for e in ("happy", "sad", "angry"):
        a = torch.tensor(adv_anchor(e))
        torch.testing.assert_close(bank.adv_map @ a, m_true @ a, atol=0.05, rtol=0)
    a, b = torch.tensor([0.3, 0.1, -0.2]), torch.tensor([-0.1, 0.4, 0.5])
    torch.testing.assert_close(
        bank.from_adv(a + b) - bank.center,
        (bank.from_adv(a) - bank.center) + (bank.from_adv(b) - bank.center),
    )


def test_per_speaker_directions_and_errors():
    z, labels, spk, adv, mask, *_ = _clusters()
    bank = EmotionBank.compute(z, labels, spk, 3, adv, mask)
    assert bank.speaker_has[:2].all() and not bank.speaker_has[2].any()
    torch.testing.assert_close(bank.direction("sad", speaker=2), bank.direction("sad"))
    with pytest.raises(ValueError, match="knows: neutral, happy, sad, angry"):
        bank.direction("bored")
    with pytest.raises(ValueError, match="positive weight"):
        bank.mixture([("sad", 0.0, 1.0)])


def test_adv_map_from_anchors_only_and_round_trip():
    z, labels, spk, adv, mask, m_true, _ = _clusters(with_adv=False)
    bank = EmotionBank.compute(z, labels, spk, 2, adv, mask)
    for e in ("happy", "sad", "angry"):  # fitted on the emotions' anchors and mean directions
        torch.testing.assert_close(bank.from_adv(adv_anchor(e)), bank.label(e), atol=0.05, rtol=0)
    tensors, meta = bank.to_tensors()
    back = EmotionBank.from_tensors(tensors, meta)
    assert back.emotions == bank.emotions
    torch.testing.assert_close(back.label("happy", 0.5), bank.label("happy", 0.5))
    with pytest.raises(ValueError, match="incomplete"):
        EmotionBank.from_tensors({k: v for k, v in tensors.items() if "adv_map" not in k}, meta)


def test_adv_fit_anchors_ignores_utterance_adv_but_keeps_its_range():
    """A corpus whose ADV-only utterances move z along another map than its emotions do (ADV rendered by rules a
    listener does not hear as the emotions): ``adv_fit="data"`` follows those utterances, ``"anchors"`` puts each
    emotion's direction at its anchor and still reports the utterances' ADV range."""
    z, labels, spk, adv, mask, m_true, c = _clusters()
    g = torch.Generator().manual_seed(1)
    m_rules = torch.randn(m_true.shape, generator=g)
    extra_adv = torch.rand(400, 3, generator=g) * 2 - 1  # the ADV-only utterances span [-1, 1]
    extra_z = c + 0.15 + extra_adv @ m_rules.T + 0.05 * torch.randn(400, z.shape[1], generator=g)
    z_all, adv_all = torch.cat([z, extra_z]), torch.cat([adv, extra_adv])
    labels_all, spk_all = labels + [None] * 400, torch.cat([spk, torch.zeros(400, dtype=torch.long)])
    mask_all = torch.cat([torch.zeros(len(z), dtype=torch.bool), torch.ones(400, dtype=torch.bool)])
    data = EmotionBank.compute(z_all, labels_all, spk_all, 2, adv_all, mask_all)
    anchors = EmotionBank.compute(z_all, labels_all, spk_all, 2, adv_all, mask_all, adv_fit="anchors")
    # data: mostly the utterances' map (the anchors weigh like a few utterances); anchors: the emotions' map
    assert float((data.adv_map - m_rules).norm()) < 0.3 * float((data.adv_map - m_true).norm())
    for e in ("happy", "sad", "angry"):
        torch.testing.assert_close(anchors.from_adv(adv_anchor(e)), anchors.label(e), atol=0.05, rtol=0)
        assert float((data.from_adv(adv_anchor(e)) - data.label(e)).norm()) > 0.5, e
    assert anchors.adv_low.tolist() == data.adv_low.tolist() and float(anchors.adv_low.min()) < -0.95
    assert anchors.adv_high.tolist() == data.adv_high.tolist() and float(anchors.adv_high.max()) > 0.95
    with pytest.raises(ValueError, match="adv_fit must be one of data, anchors"):
        EmotionBank.compute(z, labels, spk, 2, adv, mask, adv_fit="listeners")


def test_write_bank_half_keeps_the_bank_and_buffers_in_float32(tmp_path):
    from emovox.checkpoint import load_checkpoint
    from emovox.tts.bank import HALF_MIN_NUMEL, load_acoustic, write_bank
    from tests.tiny_voice import EMOTIONS, make_tiny_voice

    path = make_tiny_voice(tmp_path / "voice.safetensors")
    g = torch.Generator().manual_seed(0)
    items = [
        {"utt_id": f"u{i}", "tokens": torch.randint(1, 50, (12,), generator=g),
         "mel": torch.randn(80, 40 + i, generator=g) - 5.0, "f0": torch.zeros(40 + i), "energy": torch.zeros(40 + i),
         "speaker": i % 2, "emotion": EMOTIONS[i % len(EMOTIONS)], "adv": None}
        for i in range(16)
    ]  # fmt: skip
    full = write_bank(path, items, tmp_path / "full.safetensors")
    half = write_bank(
        path, items, tmp_path / "half.safetensors", half=True, default_speaker="bob", default_steps=0
    )
    torch.testing.assert_close(half.center, full.center)  # the bank is computed before halving
    t_full = load_checkpoint(tmp_path / "full.safetensors", kind="acoustic").tensors
    t_half = load_checkpoint(tmp_path / "half.safetensors", kind="acoustic").tensors
    assert t_full.keys() == t_half.keys()
    halved = [k for k, v in t_half.items() if v.dtype == torch.float16]
    assert halved and all(t_half[k].numel() >= HALF_MIN_NUMEL and not k.startswith("bank.") for k in halved)
    assert t_half["model.mel_mean"].dtype == torch.float32
    for k in halved:
        torch.testing.assert_close(t_half[k].float(), t_full[k], rtol=1e-3, atol=1e-4)
    model, _ = load_acoustic(tmp_path / "half.safetensors")  # loads back into a float32 model
    assert all(p.dtype == torch.float32 for p in model.parameters())
    size = {n: (tmp_path / f"{n}.safetensors").stat().st_size for n in ("full", "half")}
    assert size["half"] < size["full"]

    # a bad ADV fit is refused before the items are embedded (a generator that fails if read), and nothing is written
    def unread():
        raise AssertionError("the items were read")
        yield

    with pytest.raises(ValueError, match="adv_fit must be one of data, anchors"):
        write_bank(path, unread(), tmp_path / "bad.safetensors", adv_fit="listeners")
    assert not (tmp_path / "bad.safetensors").exists()
    meta = {n: load_checkpoint(tmp_path / f"{n}.safetensors").meta for n in ("full", "half")}
    assert "default_speaker" not in meta["full"] and meta["half"]["default_speaker"] == "bob"
    assert "default_steps" not in meta["full"] and meta["half"]["default_steps"] == 0
    with pytest.raises(ValueError, match="default steps"):
        write_bank(path, items, tmp_path / "x.safetensors", default_steps=-1)
    with pytest.raises(ValueError, match="unknown speaker 'carol'; this model has: alice, bob"):
        write_bank(path, items, tmp_path / "x.safetensors", default_speaker="carol")
    with pytest.raises(ValueError, match="no diffusion decoder"):
        write_bank(path, items, tmp_path / "x.safetensors", noise_scale=0.5)
    assert not (tmp_path / "x.safetensors").exists()

    with_decoder = make_tiny_voice(tmp_path / "decoder.safetensors", denoiser=True)
    write_bank(with_decoder, items, tmp_path / "scaled.safetensors", noise_scale=0.25)
    meta = load_checkpoint(tmp_path / "scaled.safetensors").meta
    assert meta["diffusion_config"]["noise_scale"] == 0.25
    assert load_checkpoint(with_decoder).meta["diffusion_config"].get("noise_scale", 1.0) == 1.0
    for bad in (-0.1, 2.5, float("nan")):
        with pytest.raises(ValueError, match="noise scale must be between 0 and 2"):
            write_bank(with_decoder, items, tmp_path / "x.safetensors", noise_scale=bad)


def _saturating(seed=0, per=300, dz=4):
    """Neutral at the origin; happy's z saturates along axis 0 (tanh) and keeps drifting along axis 1 with its
    intensity, uniform on 0-2 — the shape of a classifier-shaped encoder's space."""
    g = torch.Generator().manual_seed(seed)
    r = torch.rand(per, generator=g) * 2
    z = torch.zeros(100 + per, dz)
    z[100:, 0], z[100:, 1] = torch.tanh(2 * r), r
    z += 0.01 * torch.randn(z.shape, generator=g)
    labels = ["neutral"] * 100 + ["happy"] * per
    intensity = torch.cat([torch.full((100,), float("nan")), r])
    return z, labels, intensity


def test_intensity_curves_follow_the_data_and_extrapolate_its_last_segment():
    z, labels, intensity = _saturating()
    bank = EmotionBank.compute(z, labels, torch.zeros(len(z), dtype=torch.long), 1, intensity=intensity)
    assert bank.curve_has.tolist() == [False, True]
    mean_r = float(intensity[100:].mean())
    for a in (0.5, 1.0, 1.5, 2.0):
        truth = torch.tensor([math.tanh(2 * a * mean_r), a * mean_r, 0.0, 0.0])
        assert torch.allclose(bank.offset("happy", a), truth, atol=0.08), a  # kernel smoothing bias
    # the straight direction overshoots the saturated axis; the curve does not
    assert float(bank.label("happy", 2.0)[0]) < 1.05 < float((bank.center + 2 * bank.direction("happy"))[0])
    # beyond the data the last segment continues; the opposite mirrors; 0 is neutral; a mixture sums offsets
    beyond = bank.offset("happy", 2.5) - bank.offset("happy", 2.0)
    last = bank.offset("happy", 2.0) - bank.offset("happy", 1.75)
    assert torch.allclose(beyond, 2 * last, atol=1e-4)
    assert torch.allclose(bank.offset("happy", -1.0), -bank.offset("happy", 1.0))
    assert torch.equal(bank.label("happy", 0.0), bank.center)
    assert torch.allclose(
        bank.mixture([("happy", 1, 1.5), ("neutral", 1, 1.0)]), bank.center + 0.5 * bank.offset("happy", 1.5)
    )
    # an emotion without intensities keeps the straight line
    assert torch.allclose(bank.offset("neutral", 1.0), torch.zeros(4))


def test_intensity_curves_round_trip_and_refuse_tampering():
    z, labels, intensity = _saturating()
    bank = EmotionBank.compute(z, labels, torch.zeros(len(z), dtype=torch.long), 1, intensity=intensity)
    tensors, meta = bank.to_tensors()
    back = EmotionBank.from_tensors(tensors, meta)
    assert torch.equal(back.label("happy", 1.7), bank.label("happy", 1.7))
    old = {k: v for k, v in tensors.items() if "curve" not in k}  # a bank written before curves existed
    assert EmotionBank.from_tensors(old, meta).curves is None
    for key, bad in (("bank.curve_knots", torch.tensor([0.5, 0.25])), ("bank.curves", torch.zeros(2, 3, 4)),
                     ("bank.curves", torch.full_like(tensors["bank.curves"], float("nan")))):  # fmt: skip
        with pytest.raises(ValueError, match="intensity curves"):
            EmotionBank.from_tensors({**tensors, key: bad}, meta)
    with pytest.raises(ValueError, match="intensity curves"):
        EmotionBank.from_tensors({k: v for k, v in tensors.items() if k != "bank.curve_has"}, meta)


def test_no_curves_without_intensities_or_with_a_single_one():
    z, labels, intensity = _saturating()
    spk = torch.zeros(len(z), dtype=torch.long)
    assert EmotionBank.compute(z, labels, spk, 1).curves is None
    one = torch.where(torch.isnan(intensity), intensity, torch.ones_like(intensity))
    assert EmotionBank.compute(z, labels, spk, 1, intensity=one).curves is None


def test_write_bank_stores_intensity_curves_that_synthesis_follows(tmp_path):
    from emovox.checkpoint import load_checkpoint
    from emovox.pipelines import EmotionalTTS
    from emovox.tts.bank import write_bank
    from tests.tiny_voice import EMOTIONS, make_tiny_voice

    path = make_tiny_voice(tmp_path / "voice.safetensors")
    g = torch.Generator().manual_seed(0)
    emotion = next(e for e in EMOTIONS if e != "neutral")
    items = [
        {"utt_id": f"u{i}", "tokens": torch.randint(1, 50, (12,), generator=g),
         "mel": torch.randn(80, 40, generator=g) - 5.0 + (0.1 * i if i % 2 else 0.0), "f0": torch.zeros(40),
         "energy": torch.zeros(40), "speaker": 0, "emotion": emotion if i % 2 else "neutral", "adv": None,
         "intensity": 0.05 * i if i % 2 else None}
        for i in range(2 * CURVE_MIN + 2)
    ]  # fmt: skip
    out = tmp_path / "curved.safetensors"
    bank = write_bank(path, items, out)
    assert bank.curve_has is not None and bank.curve_has.tolist() == [e == emotion for e in bank.emotions]
    assert "bank.curves" in load_checkpoint(out, kind="acoustic").tensors
    straight = bank.center + 1.7 * bank.direction(emotion)
    assert not torch.allclose(bank.label(emotion, 1.7), straight, atol=1e-3)  # the curve is not the line
    tts = EmotionalTTS.load(out)
    for a in (0.5, 1.0, 1.7):
        torch.testing.assert_close(tts.emotion_vector(f"{emotion}:{a}"), bank.label(emotion, a))

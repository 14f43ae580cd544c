"""HiFi-GAN losses on hand-computable inputs."""

from __future__ import annotations

import pytest
import torch

from emovox.vocoder.losses import LossWeights, discriminator_loss, feature_matching_loss, generator_loss
from emovox.vocoder.models.discriminators import DiscriminatorOutput


def out(scores, features):
    return DiscriminatorOutput(names=[f"d{i}" for i in range(len(scores))], scores=scores, features=features)


def const(value, *shape):
    return torch.full(shape, float(value))


def test_discriminator_loss_values():
    real = out([const(1, 2, 3), const(0, 2, 5)], [[], []])
    fake = out([const(0, 2, 3), const(2, 2, 5)], [[], []])
    d = discriminator_loss(real, fake)
    # (1 - D(x))^2: 0 for the first, 1 for the second; D(G(s))^2: 0 and 4.
    assert d["disc/real"].item() == pytest.approx(1.0)
    assert d["disc/fake"].item() == pytest.approx(4.0)
    assert d["total"].item() == pytest.approx(5.0)


def test_feature_matching_sums_layer_means():
    real = out([const(0, 1, 1)], [[const(1, 2, 4), const(3, 1, 8)]])
    fake = out([const(0, 1, 1)], [[const(0.5, 2, 4), const(0, 1, 8)]])
    assert feature_matching_loss(real, fake).item() == pytest.approx(0.5 + 3.0)


def test_generator_loss_terms_and_weights():
    real = out([const(1, 1, 4)], [[const(1, 1, 4)]])
    fake = out([const(0.5, 1, 4)], [[const(0, 1, 4)]])
    mel_real, mel_fake = const(-2, 1, 80, 10), const(-1.5, 1, 80, 10)
    g = generator_loss([fake, fake], [real, real], mel_real, mel_fake, LossWeights())
    assert g["gen/adv"].item() == pytest.approx(2 * 0.25)
    assert g["gen/fm"].item() == pytest.approx(2 * 1.0)
    assert g["mel/l1"].item() == pytest.approx(0.5)
    assert g["total"].item() == pytest.approx(1.0 * 0.5 + 2.0 * 2.0 + 45.0 * 0.5)
    w = LossWeights(adversarial=0.0, feature_matching=0.0, mel=1.0)
    assert generator_loss([fake], [real], mel_real, mel_fake, w)["total"].item() == pytest.approx(0.5)


def test_feature_matching_does_not_train_the_real_branch():
    r = torch.ones(1, 4, requires_grad=True)
    f = torch.zeros(1, 4, requires_grad=True)
    loss = feature_matching_loss(out([r], [[r]]), out([f], [[f]]))
    loss.backward()
    assert r.grad is None
    assert f.grad is not None and f.grad.abs().sum() > 0

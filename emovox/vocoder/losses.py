"""HiFi-GAN losses (Kong et al. 2020, eqs. 1-7): LSGAN adversarial, feature matching, mel L1.

Pure functions of tensors; each returns a dict with namespaced keys, weighted by :class:`LossWeights`.
The entry ``"total"`` of each dict is what is back-propagated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from emovox.vocoder.models.discriminators import DiscriminatorOutput

__all__ = ["LossWeights", "discriminator_loss", "feature_matching_loss", "generator_loss"]


@dataclass
class LossWeights:
    """Weights of the generator's loss terms (the paper's lambda_fm = 2, lambda_mel = 45)."""

    adversarial: float = 1.0  # LSGAN generator term
    feature_matching: float = 2.0  # L1 between real and generated discriminator features
    mel: float = 45.0  # L1 between real and generated log-mels

    def __post_init__(self) -> None:
        if min(self.adversarial, self.feature_matching, self.mel) < 0 or self.mel == 0:
            raise ValueError("loss weights must be >= 0, and loss.mel > 0")

    @property
    def adversarial_training(self) -> bool:
        """False when both discriminator terms are off: spectral training only (a distillation stage that runs
        several times faster on a CPU; the discriminators are then neither run nor updated)."""
        return self.adversarial > 0 or self.feature_matching > 0


def feature_matching_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    """Sum over sub-discriminators and layers of mean |real - fake| (real features are constants), eq. 4."""
    loss = real.scores[0].new_zeros(())
    for fr, ff in zip(real.features, fake.features):
        for r, g in zip(fr, ff):
            loss = loss + torch.mean(torch.abs(r.detach() - g))
    return loss


def discriminator_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> dict[str, torch.Tensor]:
    """LSGAN discriminator loss, eq. 1: sum over sub-discriminators of E[(D(x) - 1)^2] + E[D(G(s))^2].

    ``fake`` must come from detached generator output. Returns ``disc/real``, ``disc/fake``, ``total``.
    """
    loss_real = real.scores[0].new_zeros(())
    loss_fake = real.scores[0].new_zeros(())
    for dr, dg in zip(real.scores, fake.scores):
        loss_real = loss_real + torch.mean((1 - dr) ** 2)
        loss_fake = loss_fake + torch.mean(dg**2)
    return {"disc/real": loss_real, "disc/fake": loss_fake, "total": loss_real + loss_fake}


def generator_loss(
    fakes: list[DiscriminatorOutput],
    reals: list[DiscriminatorOutput],
    mel_real: torch.Tensor,
    mel_fake: torch.Tensor,
    weights: LossWeights,
) -> dict[str, torch.Tensor]:
    """Generator loss, eq. 7: adversarial E[(D(G(s)) - 1)^2] + lambda_fm * L_fm + lambda_mel * L1(mel).

    Args: discriminator outputs on generated and real audio (one per discriminator, same order), log-mels
    ``[B, n_mels, T]`` of the real and generated audio. Returns unweighted ``gen/adv``, ``gen/fm``, ``mel/l1``
    and the weighted ``total``.
    """
    adv = mel_real.new_zeros(())
    fm = mel_real.new_zeros(())
    for fake, real in zip(fakes, reals):
        for dg in fake.scores:
            adv = adv + torch.mean((1 - dg) ** 2)
        fm = fm + feature_matching_loss(real, fake)
    mel = F.l1_loss(mel_fake, mel_real)
    total = weights.adversarial * adv + weights.feature_matching * fm + weights.mel * mel
    return {"gen/adv": adv, "gen/fm": fm, "mel/l1": mel, "total": total}

"""The feature recogniser's network: standardisation, a linear (multinomial logistic) or small MLP emotion
classifier and a linear ADV regressor on utterance-level features (:mod:`emovox.ser.features`).

Pure ``nn.Module``: the standardiser's statistics (and the fallback statistics of an "average speaker" for
speaker-normalised models) are registered buffers filled by the trainer (:mod:`emovox.ser.fit`), so they
travel in the checkpoint; speaker grouping itself happens outside the network, in
:class:`emovox.ser.infer.EmotionRecognizer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["FeatureSERConfig", "FeatureSERModel", "FeatureSEROutput"]


@dataclass
class FeatureSERConfig:
    """Sizes of the feature recogniser; counts are filled in from the data by the trainer."""

    n_features: int = 1  # length of the feature vector
    n_emotions: int = 8  # emotion classes (the list itself is stored in the checkpoint metadata)
    hidden_dim: int = 0  # hidden width of the classifier; 0 = multinomial logistic regression
    dropout: float = 0.0  # dropout on the standardised features and the hidden layer (training only)

    def __post_init__(self) -> None:
        if self.n_features < 1:
            raise ValueError("the feature recogniser needs at least one feature")
        if self.n_emotions < 2:
            raise ValueError("the recogniser needs at least 2 emotion classes")
        if self.hidden_dim < 0 or not 0 <= self.dropout < 1:
            raise ValueError("hidden_dim must be >= 0 and dropout in [0, 1)")


@dataclass
class FeatureSEROutput:
    """Shapes: ``logits [B, n_emotions]``, ``adv [B, 3]`` in [-1, 1] (arousal, dominance, valence),
    ``embedding [B, hidden_dim or n_features]`` (the classifier's input layer activations)."""

    logits: torch.Tensor
    adv: torch.Tensor
    embedding: torch.Tensor


class FeatureSERModel(nn.Module):
    """``x [B, n_features]`` (raw, or speaker-normalised for models trained so) -> :class:`FeatureSEROutput`."""

    def __init__(self, cfg: FeatureSERConfig) -> None:
        super().__init__()
        self.cfg = cfg
        f = cfg.n_features
        self.register_buffer("feature_mean", torch.zeros(f))  # global standardiser, applied first
        self.register_buffer("feature_std", torch.ones(f))
        # Speaker-normalised models: mean over training speakers of each speaker's mean / std of the raw
        # features, used in place of a speaker's own statistics when no group is given.
        self.register_buffer("fallback_mean", torch.zeros(f))
        self.register_buffer("fallback_std", torch.ones(f))
        self.dropout = nn.Dropout(cfg.dropout)
        if cfg.hidden_dim:
            self.hidden: nn.Module = nn.Sequential(
                nn.Linear(f, cfg.hidden_dim), nn.GELU(), nn.Dropout(cfg.dropout)
            )
            width = cfg.hidden_dim
        else:
            self.hidden = nn.Identity()
            width = f
        self.classifier = nn.Linear(width, cfg.n_emotions)
        self.adv = nn.Linear(f, 3)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feature_mean) / self.feature_std

    def forward(self, x: torch.Tensor) -> FeatureSEROutput:
        """Args: ``x [B, n_features]``. Returns logits, ADV (clamped to [-1, 1]) and the embedding."""
        z = self.standardise(x)
        h = self.hidden(self.dropout(z))
        return FeatureSEROutput(logits=self.classifier(h), adv=self.adv(z).clamp(-1.0, 1.0), embedding=h)

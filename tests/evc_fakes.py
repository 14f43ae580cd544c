"""A tiny voice-conversion model with a known emotion → prosody map, and speech-like test signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from emovox.audio.testsignals import harmonic_complex
from emovox.data_prep.prosody_rules import ProsodyParams
from emovox.emotion.bank import EmotionBank
from emovox.evc.model import ProsodyPredictor, ProsodyPredictorConfig
from emovox.evc.params import FIELDS, to_vector

EMOTIONS = ["neutral", "happy", "sad", "angry"]
Z = 4


def tiny_bank() -> EmotionBank:
    """Emotion vectors: neutral at the origin, happy/sad/angry along the first three axes."""
    directions = torch.zeros(len(EMOTIONS), Z)
    directions[1:, :3] = torch.eye(3)
    adv_map = torch.zeros(Z, 3)
    adv_map[:3, :] = torch.tensor([[0.5, 0.2, 0.9], [-0.6, -0.3, -0.7], [0.9, 0.8, -0.6]])
    return EmotionBank(
        emotions=list(EMOTIONS), center=torch.zeros(Z), directions=directions,
        speaker_directions=directions[None].clone(), speaker_has=torch.ones(1, len(EMOTIONS), dtype=torch.bool),
        adv_map=adv_map, adv_low=-torch.ones(3), adv_high=torch.ones(3), counts=torch.full((len(EMOTIONS),), 5),
    )  # fmt: skip


# Ground truth of the toy corpus: each emotion's prosody at intensity 1.
RULES = {
    "happy": ProsodyParams(f0_shift_st=4.0, f0_range=1.3, gain_db=4.0, rate=1.1),
    "sad": ProsodyParams(f0_shift_st=-3.0, f0_range=0.7, gain_db=-4.0, rate=0.8, breathiness=0.2),
    "angry": ProsodyParams(f0_shift_st=2.0, gain_db=9.0, tilt_db_oct=1.5, tension=0.3),
}


def toy_records(n_per: int = 12, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = [{"kind": "neutral", "emotion": "neutral", "intensity": None, "prosody": ProsodyParams().as_dict()}]
    for e, rule in RULES.items():
        for a in rng.uniform(0.3, 1.3, n_per):
            out.append(
                {"kind": "category", "emotion": e, "intensity": float(a), "prosody": rule.scaled(a).as_dict()}
            )
    out.append(
        {"kind": "category", "emotion": "surprise", "intensity": 1.0, "prosody": ProsodyParams().as_dict()}
    )
    return out


def exact_predictor(bank: EmotionBank) -> ProsodyPredictor:
    """The linear map that reproduces RULES exactly (what training should find)."""
    net = ProsodyPredictor(ProsodyPredictorConfig(z_dim=Z), bank.center)
    w = torch.zeros(len(FIELDS), Z)
    for i, e in enumerate(EMOTIONS[1:]):
        w[:, i] = torch.from_numpy(to_vector(RULES[e]))
    net.linear.weight.data.copy_(w)
    return net


def voice(seconds: float = 1.6, f0: float = 140.0, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """A speech-like voiced signal: a harmonic complex with a falling contour, syllable envelope, short pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    track = f0 * (1.0 - 0.15 * t / seconds) * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))
    x = harmonic_complex(track, sr, rng, n_harmonics=30)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    env[(t % 0.8) > 0.7] = 0.0  # a 0.1 s pause every 0.8 s
    return (0.1 * x * env / np.abs(x).max()).astype(np.float32)


def save_tiny_evc(path: Path) -> Path:
    """A conversion-model checkpoint whose map is exactly :data:`RULES` (in :func:`tiny_bank`'s space)."""
    from emovox.checkpoint import save_checkpoint
    from emovox.config import config_to_dict

    bank = tiny_bank()
    net = exact_predictor(bank)
    tensors = {f"predictor.{k}": v for k, v in net.state_dict().items()}
    bank_tensors, bank_meta = bank.to_tensors()
    meta = {"method": "prosody", "fields": list(FIELDS), "bank": bank_meta,
            "predictor_config": config_to_dict(net.config)}  # fmt: skip
    return save_checkpoint(path, tensors | bank_tensors, meta, kind="evc")

"""A tiny acoustic-model checkpoint with random weights and a fitted emotion bank, for pipeline tests."""

from __future__ import annotations

from pathlib import Path

import torch

from emovox.audio.mel import MelConfig
from emovox.checkpoint import save_checkpoint
from emovox.config import config_to_dict
from emovox.emotion.bank import EmotionBank
from emovox.emotion.encoder import EmotionEncoderConfig
from emovox.emotion.labels import adv_anchor
from emovox.text.symbols import default_symbol_table
from emovox.tts.diffusion import DiffusionConfig
from emovox.tts.models.denoiser import Denoiser, DenoiserConfig
from emovox.tts.models.fastspeech2 import AcousticModel, AcousticModelConfig

EMOTIONS = ["neutral", "happy", "sad", "angry"]
SPEAKERS = ["alice", "bob"]


def make_tiny_voice(path: Path, seed: int = 0, denoiser: bool = False) -> Path:
    torch.manual_seed(seed)
    table = default_symbol_table()
    cfg = AcousticModelConfig(
        n_symbols=len(table), n_speakers=len(SPEAKERS), n_emotions=len(EMOTIONS), hidden=16, n_heads=2,
        encoder_layers=1, decoder_layers=1, ffn_channels=16, predictor_channels=16, aligner_channels=8,
        emotion=EmotionEncoderConfig(channels=8, n_layers=1, z_dim=4),
    )  # fmt: skip
    model = AcousticModel(cfg)
    with torch.no_grad():  # ~5 frames per phoneme, speech-like mel level
        model.duration_predictor.proj.bias.fill_(1.8)
        model.mel_mean.fill_(-5.0)
    m_true = torch.randn(4, 3)
    z, labels, speakers = [], [], []
    for s in range(len(SPEAKERS)):
        for e in EMOTIONS:
            for _ in range(5):
                z.append(m_true @ torch.tensor(adv_anchor(e)) + 0.05 * torch.randn(4))
                labels.append(e)
                speakers.append(s)
    bank = EmotionBank.compute(torch.stack(z), labels, torch.tensor(speakers), len(SPEAKERS))
    bank_tensors, bank_meta = bank.to_tensors()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | bank_tensors
    meta = {
        "model_config": config_to_dict(cfg), "mel_config": config_to_dict(MelConfig()), "symbols": table.to_dict(),
        "speakers": SPEAKERS, "emotions": EMOTIONS, "language": "en-us", "bank": bank_meta,
    }  # fmt: skip
    if denoiser:
        dcfg = DenoiserConfig(
            residual_channels=8, n_layers=2, cond_channels=16, emotion_dim=4, speaker_dim=16
        )
        net = Denoiser(dcfg)
        with (
            torch.no_grad()
        ):  # a trained denoiser's output depends on its inputs; the zero-initialised one not
            net.output_proj.weight.normal_(0.0, 0.3)
        net.set_mel_stats(model.mel_mean, model.mel_std)
        tensors |= {f"denoiser.{k}": v for k, v in net.state_dict().items()}
        meta |= {
            "denoiser_config": config_to_dict(dcfg),
            "diffusion_config": config_to_dict(DiffusionConfig(n_steps=2)),
        }
    return save_checkpoint(path, tensors, meta, kind="acoustic")

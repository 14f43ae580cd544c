"""The neural conversion path: recognise what is said, say it again with the acoustic model in the target emotion.

The content encoder (:mod:`emovox.evc.content`) turns the source's log-mel into the acoustic model's symbols with
their durations; the acoustic model speaks that sequence with the target emotion vector ``z`` (emotion on its
encoder, variance adaptor and decoder, the diffusion decoder when the voice has one), and the voice's vocoder
renders it. Everything the emotion space does in TTS happens here too, including the emotion's own timing (or the
source's timing with ``keep_timing``), because the acoustic model regenerates F0, energy, durations and spectrum.

The voice is one of the acoustic model's speakers: by default the one whose F0 is nearest to the source's, or the
one asked for. The path therefore changes who is speaking (unlike the prosody path, which keeps the source's own
spectral envelope); it suits data augmentation and anonymised emotional speech, and it is what a model trained
on more speakers would extend. ``emovox eval evc --method neural`` measures it beside the prosody path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from emovox.audio.io import resample
from emovox.audio.mel import MelSpectrogram
from emovox.checkpoint import check_architecture, load_checkpoint, load_module_state
from emovox.config import config_from_dict
from emovox.emotion.bank import NO_PROSODY, Prosody
from emovox.evc.content import ContentEncoder, ContentEncoderConfig, collapse

__all__ = ["NeuralConverter", "load_content_encoder"]


def load_content_encoder(path: str | Path) -> tuple[ContentEncoder, dict[str, Any]]:
    """A content encoder checkpoint of ``emovox train content`` (a file, or a run folder with model.safetensors)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    ckpt = load_checkpoint(path, kind="evc")
    if ckpt.meta.get("method") != "neural":
        raise ValueError(
            f"{path} is not a neural conversion model (method {ckpt.meta.get('method', 'prosody')!r})"
        )
    config = config_from_dict(ContentEncoderConfig, ckpt.meta["content_config"], source=str(path))
    check_architecture(lambda: ContentEncoder(config), ckpt.subset("content"), what="content encoder")
    encoder = ContentEncoder(config)
    load_module_state(encoder, ckpt.subset("content"), what="content encoder")
    return encoder.eval(), {**ckpt.meta, "path": str(path)}


class NeuralConverter:
    """A content encoder bound to the :class:`emovox.EmotionalTTS` whose symbols it learnt."""

    MIN_FRAMES = 2  # shorter runs of one symbol are flicker, absorbed by their neighbour

    def __init__(self, encoder: ContentEncoder, tts: Any, meta: dict[str, Any] | None = None):
        meta = dict(meta or {})
        if meta.get("symbols") is not None and meta["symbols"] != tts.meta.get("symbols"):
            raise ValueError(
                f"the content encoder {meta.get('path', '')} learnt another symbol table than the acoustic model "
                "it is used with: pass the acoustic model it was trained on (--acoustic)"
            )
        if (
            encoder.config.n_symbols != tts.model.cfg.n_symbols
            or encoder.config.n_mels != tts.model.cfg.n_mels
        ):
            raise ValueError(
                "the content encoder does not fit the acoustic model (symbols or mel bands differ)"
            )
        self.encoder = encoder.eval()
        self.tts = tts
        self.meta = meta
        self._mel = MelSpectrogram(tts.mel_config)

    @property
    def sample_rate(self) -> int:
        return self.tts.sample_rate

    def nearest_speaker(self, audio: np.ndarray) -> int:
        """The acoustic model's speaker whose mean log-F0 is nearest to that of ``audio`` (at :attr:`sample_rate`)."""
        from emovox.audio.pitch import PitchConfig, estimate_f0

        f0 = estimate_f0(audio, PitchConfig(sample_rate=self.sample_rate)).f0
        voiced = f0[f0 > 0]
        if voiced.size == 0:
            return self.tts.speaker_index(None)
        level = float(np.mean(np.log(voiced)))
        names = self.tts.speakers
        means = self.tts.model.pitch_stats[: len(names), 0].detach().cpu().numpy()
        return int(np.argmin(np.abs(means - level)))

    @torch.inference_mode()
    def units(self, audio: np.ndarray) -> tuple[list[int], list[int]]:
        """The symbols heard in ``audio`` (mono, at :attr:`sample_rate`) and their durations in frames."""
        mel = self._mel(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))[None]
        mask = torch.ones(1, mel.shape[2], dtype=torch.bool)
        labels = self.encoder(mel.float(), mask)[0].argmax(-1)
        return collapse(labels, self.MIN_FRAMES)

    def convert(
        self,
        audio: np.ndarray,
        sample_rate: int,
        z: torch.Tensor,
        *,
        keep_timing: bool = False,
        speaker: str | int | None = None,
        steps: int | None = None,
        seed: int | None = None,
        out_rate: int | None = None,
        prosody: Prosody = NO_PROSODY,
    ) -> np.ndarray:
        """``audio`` (mono float) spoken again in emotion ``z``, with ``prosody`` (the acoustic model's controls for
        the emotion: its trend past intensity 1, :meth:`EmotionalTTS.prosody_controls`); returned at
        ``out_rate`` (default: the input's)."""
        x = resample(np.asarray(audio, dtype=np.float32), sample_rate, self.sample_rate)
        ids, durs = self.units(x)
        if not ids:
            return np.zeros(0, dtype=np.float32)
        spk = self.nearest_speaker(x) if speaker is None else self.tts.speaker_index(speaker)
        y = self.tts.speak_symbols(
            ids,
            z,
            speaker=spk,
            durations=durs if keep_timing else None,
            steps=steps,
            seed=seed,
            prosody=prosody,
        )
        rate = out_rate or sample_rate
        return resample(y, self.sample_rate, rate) if rate != self.sample_rate else y

"""Audio: loading and saving (soundfile, soxr), the HiFi-GAN mel transform, and Numba feature kernels."""

from emovox.audio.io import AudioError, AudioInfo, load_audio, save_wav
from emovox.audio.mel import MelConfig, MelSpectrogram, mel_spectrogram

__all__ = [
    "AudioError",
    "AudioInfo",
    "MelConfig",
    "MelSpectrogram",
    "load_audio",
    "mel_spectrogram",
    "save_wav",
]

"""Audio input/output: any file soundfile reads, down-mixed, resampled with soxr, checked, saved atomically.

Internally emovox works on 22,050 Hz mono float32 in [-1, 1]. :func:`load_audio` returns that together with an
:class:`AudioInfo` that reports what was done (down-mix, resampling) and what looks wrong (clipping,
near-silence), so callers can warn a person instead of silently producing bad features.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emovox.fileio import atomic_path

__all__ = ["SAMPLE_RATE", "AudioError", "AudioInfo", "analyse", "load_audio", "resample", "save_wav"]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 22050
CLIP_LEVEL = 0.999
"""Samples at or above this magnitude count as clipped."""
CLIP_FRACTION = 1e-3
"""More than this fraction of clipped samples is reported as clipping."""
SILENCE_DBFS = -60.0
"""An RMS level below this (dB re full scale) is reported as near-silence."""
MIN_RATE, MAX_RATE = 1000, 768_000
"""Sample rates a file may declare (telephone speech is 8 kHz; studio audio at most 768 kHz)."""

MAX_PEAK = 1e6
"""The largest sample magnitude a float file may hold: 120 dB above full scale. Floats written on the 16-bit
scale (peaks near 32,768) still load, as clipped audio; values near float32's limit overflow down-mixing,
resampling and every level measure downstream, so a file holding them is refused as not audio."""


class AudioError(ValueError):
    """An audio file is missing, unreadable, empty, or otherwise unusable."""


@dataclass
class AudioInfo:
    """What :func:`load_audio` found and did."""

    path: str
    orig_sample_rate: int
    sample_rate: int
    orig_channels: int
    n_samples: int
    peak: float
    rms_dbfs: float
    clipped_fraction: float
    downmixed: bool = False
    resampled: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    @property
    def is_clipped(self) -> bool:
        return self.clipped_fraction > CLIP_FRACTION

    @property
    def is_silent(self) -> bool:
        return self.rms_dbfs < SILENCE_DBFS


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a 1-D float signal with soxr (high quality)."""
    if orig_sr == target_sr:
        return audio
    if orig_sr <= 0 or target_sr <= 0:
        raise AudioError(f"invalid sample rates {orig_sr} -> {target_sr}")
    import soxr

    return soxr.resample(audio, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def analyse(audio: np.ndarray) -> tuple[float, float, float]:
    """Peak, RMS level in dBFS and fraction of clipped samples of a float signal."""
    if audio.size == 0:
        return 0.0, -np.inf, 0.0
    mag = np.abs(audio)
    peak = float(mag.max())
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    rms_db = 20.0 * np.log10(rms) if rms > 0 else -np.inf
    clipped = float(np.count_nonzero(mag >= CLIP_LEVEL)) / audio.size
    return peak, rms_db, clipped


def load_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    *,
    max_seconds: float | None = None,
) -> tuple[np.ndarray, AudioInfo]:
    """Load an audio file as mono float32 at ``sample_rate``.

    Args:
        path: any format soundfile reads (WAV, FLAC, OGG/Vorbis, Opus, MP3 with libsndfile >= 1.1).
        sample_rate: target rate; other rates are resampled with soxr.
        max_seconds: refuse files longer than this (checked before decoding), to bound memory.

    Returns:
        ``(audio, info)``: audio with shape ``[T]`` in [-1, 1], and what was found/done.

    Raises:
        AudioError: missing, unreadable or empty file, a sample rate outside 1-768 kHz, non-finite samples, or
            longer than ``max_seconds``.
    """
    path = Path(path)
    if max_seconds is not None and not max_seconds > 0:
        raise AudioError(f"max_seconds must be positive, got {max_seconds}")
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    import soundfile as sf

    try:
        with sf.SoundFile(path) as fh:
            orig_sr, channels, frames = fh.samplerate, fh.channels, fh.frames
            if not MIN_RATE <= orig_sr <= MAX_RATE:
                # A header's rate sets how many samples resampling makes: 1 Hz would turn each sample into
                # 22,050, so a small hostile file could ask for gigabytes.
                raise AudioError(
                    f"{path}: sample rate {orig_sr} Hz is outside the {MIN_RATE}-{MAX_RATE} Hz of real audio"
                )
            if max_seconds is not None and frames > max_seconds * orig_sr:
                raise AudioError(
                    f"{path}: {frames / orig_sr:.1f} s long, more than the {max_seconds:.0f} s allowed here"
                )
            data = fh.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot be read as audio ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no samples")
    data_peak = float(np.abs(data).max())  # NaN if any sample is NaN
    if not np.isfinite(data_peak):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if data_peak > MAX_PEAK:
        raise AudioError(
            f"{path}: samples reach {data_peak:.3g}, more than {MAX_PEAK:,.0f} times full scale: not audio"
        )
    info_warnings: list[str] = []
    downmixed = channels > 1
    audio = data.mean(axis=1) if downmixed else data[:, 0]
    if downmixed:
        info_warnings.append(f"down-mixed {channels} channels to mono")
    resampled = orig_sr != sample_rate
    if resampled:
        audio = resample(audio, orig_sr, sample_rate)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise AudioError(f"{path}: {data.shape[0]} samples at {orig_sr} Hz are none at {sample_rate} Hz")
    peak, rms_db, clipped = analyse(audio)
    info = AudioInfo(
        path=str(path),
        orig_sample_rate=int(orig_sr),
        sample_rate=sample_rate,
        orig_channels=int(channels),
        n_samples=int(audio.size),
        peak=peak,
        rms_dbfs=rms_db,
        clipped_fraction=clipped,
        downmixed=downmixed,
        resampled=resampled,
        warnings=info_warnings,
    )
    if info.is_clipped:
        info.warnings.append(f"{100 * clipped:.2f}% of samples are clipped")
    if info.is_silent:
        info.warnings.append(f"near-silent (RMS {rms_db:.1f} dBFS)")
    for w in info.warnings:
        logger.info("%s: %s", path, w)
    return audio, info


def save_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono 16-bit PCM WAV atomically. Values outside [-1, 1] are clipped (and logged)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not np.isfinite(audio).all():
        raise AudioError("refusing to write audio with NaN or infinite samples")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 1.0:
        logger.warning("audio peak %.2f exceeds full scale; clipping on save", peak)
        audio = np.clip(audio, -1.0, 1.0)
    path = Path(path)
    import soundfile as sf

    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")
    return path

"""Audio in and out of the HTTP API: response encodings (whole files and streams) and bounded upload decoding.

Responses are 16-bit: WAV, FLAC and MP3 through soundfile (libsndfile >= 1.1 writes MP3), and raw PCM
(signed 16-bit little-endian, mono, at the model's sample rate). A streamed WAV starts with a header whose sizes
are 0xFFFFFFFF ("unknown length", as ffmpeg and browsers accept), so audio can follow as it is synthesised.
"""

from __future__ import annotations

import io
import struct

import numpy as np

__all__ = [
    "FORMATS",
    "STREAMABLE",
    "UploadError",
    "decode_upload",
    "encode",
    "to_pcm16",
    "wav_stream_header",
]

# response_format -> (media type, soundfile format or None for raw PCM)
FORMATS: dict[str, tuple[str, str | None]] = {
    "wav": ("audio/wav", "WAV"),
    "flac": ("audio/flac", "FLAC"),
    "mp3": ("audio/mpeg", "MP3"),
    "pcm": ("audio/pcm", None),
}
STREAMABLE = ("wav", "pcm")
"""Formats sent chunk by chunk; FLAC and MP3 are encoded once the whole text is synthesised."""

MIN_UPLOAD_RATE, MAX_UPLOAD_RATE = 8_000, 192_000
MAX_UPLOAD_CHANNELS = 32
BLOCK_SAMPLES = 1 << 20


class UploadError(ValueError):
    """An uploaded file that is not usable audio; the message says why."""


def _int16(audio: np.ndarray) -> np.ndarray:
    """float32 ``[T]`` in [-1, 1] -> int16, clipped and rounded: one conversion for every format, so a
    streamed response has exactly the samples of the same response sent whole."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")


def to_pcm16(audio: np.ndarray) -> bytes:
    """float32 ``[T]`` in [-1, 1] -> signed 16-bit little-endian bytes."""
    return _int16(audio).tobytes()


def wav_stream_header(sample_rate: int) -> bytes:
    """A 44-byte mono 16-bit PCM WAV header for a stream of unknown length."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """The whole signal as a file in ``fmt`` (a key of :data:`FORMATS`)."""
    import soundfile as sf

    if fmt not in FORMATS:
        raise ValueError(f"unsupported response_format {fmt!r}; use one of {', '.join(FORMATS)}")
    container = FORMATS[fmt][1]
    if container is None:
        return to_pcm16(audio)
    buf = io.BytesIO()
    subtype = "MPEG_LAYER_III" if container == "MP3" else "PCM_16"
    sf.write(buf, _int16(audio), sample_rate, format=container, subtype=subtype)
    return buf.getvalue()


def decode_upload(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode an uploaded audio file (any format soundfile reads) to mono float32 at its own rate.

    Decodes block by block and stops as soon as the audio passes ``max_seconds``, so a compressed file (or a
    header that lies about its length) cannot expand into unbounded memory.

    Raises:
        UploadError: empty, undecodable, an implausible sample rate, too long, or non-finite samples.
    """
    import soundfile as sf

    if not data:
        raise UploadError("the uploaded file is empty")
    try:
        with sf.SoundFile(io.BytesIO(data)) as fh:
            sample_rate, channels = int(fh.samplerate), int(fh.channels)
            if not MIN_UPLOAD_RATE <= sample_rate <= MAX_UPLOAD_RATE:
                raise UploadError(
                    f"the uploaded audio's sample rate {sample_rate} Hz is outside "
                    f"{MIN_UPLOAD_RATE}-{MAX_UPLOAD_RATE} Hz"
                )
            if not 1 <= channels <= MAX_UPLOAD_CHANNELS:
                raise UploadError(
                    f"the uploaded audio has {channels} channels; at most {MAX_UPLOAD_CHANNELS} are accepted"
                )
            limit = int(max_seconds * sample_rate)
            # soundfile allocates the requested block before reading: bound it in samples, not frames
            block = max(1, BLOCK_SAMPLES // channels)
            blocks, n = [], 0
            while True:
                part = fh.read(block, dtype="float32", always_2d=True)
                if not len(part):
                    break
                blocks.append(part.mean(axis=1) if channels > 1 else part[:, 0])
                n += len(part)
                if n > limit:
                    raise UploadError(
                        f"the uploaded audio is longer than the {max_seconds:g} s this server accepts"
                    )
    except UploadError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, MemoryError) as exc:
        reason = getattr(exc, "error_string", None) or str(
            exc
        )  # libsndfile's reason, without the object repr
        raise UploadError(f"the uploaded file cannot be read as audio ({reason})") from None
    if not n:
        raise UploadError("the uploaded audio contains no samples")
    audio = np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32)
    if not np.isfinite(audio).all():
        raise UploadError("the uploaded audio contains NaN or infinite samples")
    return audio, sample_rate

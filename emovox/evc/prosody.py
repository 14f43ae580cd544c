"""The prosody path's signal processing: WORLD analysis and resynthesis of a recording with a prosody change,
in bounded memory for recordings of any length.

A recording is cut into chunks of at most ``chunk_seconds`` at its quietest moments (pauses between phrases), so
the WORLD parameters of one chunk are all that is held at a time; chunks without speech pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from emovox.audio.level import soft_limit
from emovox.data_prep.prosody_rules import ProsodyParams
from emovox.evc.params import is_identity

__all__ = [
    "SILENCE_DBFS",
    "analyse_chunk",
    "convert_chunk",
    "convert_stream",
    "render_chunk",
    "split_at_pauses",
]

SILENCE_DBFS = -60.0
"""A chunk whose RMS is below this passes through unchanged (WORLD finds nothing to modify in it)."""

_FRAME_S = 0.025


def _frame_db(audio: np.ndarray, frame: int) -> np.ndarray:
    n = audio.shape[0] // frame
    if n == 0:
        return (
            np.array([20.0 * np.log10(max(float(np.sqrt(np.mean(audio**2))), 1e-10))])
            if audio.size
            else np.zeros(0)
        )
    frames = audio[: n * frame].reshape(n, frame).astype(np.float64)
    return 10.0 * np.log10(np.maximum((frames**2).mean(axis=1), 1e-20))


def split_at_pauses(
    audio: np.ndarray, sample_rate: int, chunk_seconds: float = 20.0
) -> list[tuple[int, int]]:
    """Cut points ``[(start, end)]`` covering ``audio [T]``: each piece at most ``chunk_seconds`` long, cut at the
    quietest 25 ms frame of the last third of each window (a pause, where a cut is inaudible)."""
    if chunk_seconds <= 0:
        raise ValueError("chunk_seconds must be positive")
    total = audio.shape[0]
    limit = int(chunk_seconds * sample_rate)
    frame = max(1, int(_FRAME_S * sample_rate))
    out, start = [], 0
    while total - start > limit:
        window = audio[start + (2 * limit) // 3 : start + limit]
        db = _frame_db(window, frame)
        cut = start + (2 * limit) // 3 + (int(np.argmin(db)) * frame + frame // 2 if db.size else 0)
        out.append((start, cut))
        start = cut
    out.append((start, total))
    return out


def analyse_chunk(audio: np.ndarray, sample_rate: int, *, f0_method: str = "harvest") -> Any | None:
    """WORLD analysis of a chunk, or None when the chunk has no speech to modify (too short or silent). One
    analysis serves any number of :func:`render_chunk` calls (the evaluation renders every emotion from one)."""
    from emovox.data_prep.world_prosody import analyse

    x = np.asarray(audio, dtype=np.float32)
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0
    if x.size < int(0.1 * sample_rate) or 20 * np.log10(max(rms, 1e-10)) < SILENCE_DBFS:
        return None
    return analyse(x, sample_rate, f0_method=f0_method)


def render_chunk(
    audio: np.ndarray, analysis: Any | None, params: ProsodyParams, rng: np.random.Generator
) -> np.ndarray:
    """``audio`` (the chunk ``analysis`` was made from) with ``params`` applied: float32, soft-limited below
    0 dBFS; the chunk itself when there is nothing to change or no speech in it."""
    from emovox.data_prep.world_prosody import render

    x = np.asarray(audio, dtype=np.float32)
    if analysis is None or is_identity(params):
        return x.copy()
    if not (analysis.f0 > 0).any():
        # No voiced frame (noise, breath, music without pitch): only level can change meaningfully.
        y = x * np.float32(10.0 ** (params.gain_db / 20.0))
    else:
        y = render(analysis, params, rng, keep_edges=True).astype(np.float32)
        if params.rate == 1.0 and params.pause_factor == 1.0:
            # Timing unchanged: exactly the source's length (WORLD rounds up to whole frames).
            y = np.pad(y[: x.size], (0, max(0, x.size - y.size)))
    return soft_limit(y, threshold=0.8, ceiling=0.99)[0].astype(np.float32)


def convert_chunk(
    audio: np.ndarray,
    sample_rate: int,
    params: ProsodyParams,
    rng: np.random.Generator,
    *,
    f0_method: str = "harvest",
) -> np.ndarray:
    """One chunk ``[T]`` float32 → the same voice with ``params`` applied (see :func:`render_chunk`)."""
    if is_identity(params):
        return np.asarray(audio, dtype=np.float32).copy()
    return render_chunk(audio, analyse_chunk(audio, sample_rate, f0_method=f0_method), params, rng)


def convert_stream(
    chunks: Iterable[np.ndarray],
    sample_rate: int,
    params: ProsodyParams,
    rng: np.random.Generator,
    *,
    f0_method: str = "harvest",
) -> Iterator[np.ndarray]:
    """Convert an iterable of chunks (cut at pauses) one by one: memory is bounded by the longest chunk."""
    for chunk in chunks:
        yield convert_chunk(chunk, sample_rate, params, rng, f0_method=f0_method)

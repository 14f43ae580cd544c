"""Prosody changes as vectors: the :class:`ProsodyParams` fields a conversion model predicts.

Additive fields (semitones, dB, ...) are used as they are; multiplicative ones (range, rate, ...) by their natural
logarithm, so that changes compose by addition and intensity scales them linearly in both cases — the same
convention as :meth:`ProsodyParams.scaled`, where intensity multiplies additive fields and raises factors to its
power.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from emovox.data_prep.prosody_rules import ProsodyParams

__all__ = ["FIELDS", "from_vector", "is_identity", "to_vector"]

FIELDS: tuple[str, ...] = (
    "f0_shift_st",
    "f0_range",
    "accent_prominence",
    "f0_slope_st",
    "final_st",
    "jitter",
    "tremor_st",
    "rate",
    "pause_factor",
    "gain_db",
    "tilt_db_oct",
    "breathiness",
    "tension",
    "formant_shift",
)
"""The predicted fields, in vector order (``final_s`` and ``tremor_hz`` keep their defaults)."""

_LOG = frozenset(ProsodyParams._FACTORS)
_TIMING = ("rate", "pause_factor")


def to_vector(params: ProsodyParams) -> np.ndarray:
    """``[len(FIELDS)]`` float32: additive fields as they are, factors as their natural logarithm."""
    return np.array(
        [math.log(getattr(params, f)) if f in _LOG else getattr(params, f) for f in FIELDS], dtype=np.float32
    )


def from_vector(vector: np.ndarray, *, keep_timing: bool = False) -> ProsodyParams:
    """The parameters of a vector, clamped to the renderer's safety limits; ``keep_timing`` leaves durations as
    they are (rate and pauses unchanged)."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    if v.shape[0] != len(FIELDS):
        raise ValueError(f"a prosody vector has {len(FIELDS)} values, not {v.shape[0]}")
    values = {f: (math.exp(x) if f in _LOG else float(x)) for f, x in zip(FIELDS, v)}
    params = ProsodyParams(**values)
    if keep_timing:
        params = replace(params, rate=1.0, pause_factor=1.0)
    return params.clamped()


def is_identity(params: ProsodyParams, tol: float = 1e-3) -> bool:
    """True when ``params`` changes nothing audible (every field within ``tol`` of neutral)."""
    return bool(np.all(np.abs(to_vector(params) - to_vector(ProsodyParams())) < tol))

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

from emovox.data_prep.prosody_rules import LIMITS, ProsodyParams

__all__ = ["CONVERSION_LIMITS", "FIELDS", "from_vector", "is_identity", "to_vector"]

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

CONVERSION_LIMITS: dict[str, tuple[float, float]] = {
    **LIMITS,
    "f0_shift_st": (-7.0, 12.0),
    "final_st": (-8.0, 9.0),
    "formant_shift": (0.9, 1.1),
}
"""The renderer's limits, with pitch and formants held to an octave and 10 %: a real recording moved further stops
sounding like its speaker and like the emotion. Measured with ``emovox eval evc`` on 48 neutral RAVDESS clips (one conversion map for both): with
the corpus's wider pitch limits, P(happy) fell from intensity 1.5 to 2 and its intensity ρ from 0.67 to 0.51
(fear 0.86 to 0.84), while these limits keep loudness, tilt and voice quality growing (angry ρ 0.73 to 0.79)."""

_LOG = frozenset(ProsodyParams._FACTORS)
_TIMING = ("rate", "pause_factor")


def to_vector(params: ProsodyParams) -> np.ndarray:
    """``[len(FIELDS)]`` float32: additive fields as they are, factors as their natural logarithm."""
    return np.array(
        [math.log(getattr(params, f)) if f in _LOG else getattr(params, f) for f in FIELDS], dtype=np.float32
    )


def from_vector(vector: np.ndarray, *, keep_timing: bool = False) -> ProsodyParams:
    """The parameters of a vector, clamped to :data:`CONVERSION_LIMITS`; ``keep_timing`` leaves durations as
    they are (rate and pauses unchanged)."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    if v.shape[0] != len(FIELDS):
        raise ValueError(f"a prosody vector has {len(FIELDS)} values, not {v.shape[0]}")
    values = {f: (math.exp(x) if f in _LOG else float(x)) for f, x in zip(FIELDS, v)}
    params = ProsodyParams(**values)
    if keep_timing:
        params = replace(params, rate=1.0, pause_factor=1.0)
    return params.clamped(CONVERSION_LIMITS)


def is_identity(params: ProsodyParams, tol: float = 1e-3) -> bool:
    """True when ``params`` changes nothing audible (every field within ``tol`` of neutral)."""
    return bool(np.all(np.abs(to_vector(params) - to_vector(ProsodyParams())) < tol))

"""Speaker normalisation of utterance features: each feature z-scored against its speaker's own statistics.

The standard device of speaker-independent emotion recognition (e.g. Schuller et al. 2009, "Acoustic emotion
recognition: a benchmark comparison of performances"; Busso et al. 2011, "Iterative feature normalization"):
what marks anger in a low voice is a rise *relative to that voice*, so the classifier sees
``(x − mean_speaker) / std_speaker``. The statistics come from a group of the speaker's clips, which should
span the speaker's emotions about as the training speakers' clips did (each RAVDESS actor speaks every emotion;
the evaluation renders every speaker in every emotion).

Modes: ``none``; ``speaker`` (mean and std of the group); ``speaker-mean`` (mean only: the std stays 1, the global
standardiser scales).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NORMALISE_MODES", "SpeakerStats", "group_indices", "normalise_groups", "speaker_stats"]

NORMALISE_MODES = ("none", "speaker", "speaker-mean")
STD_FLOOR = 1e-6


@dataclass
class SpeakerStats:
    """Statistics of one speaker's raw features: ``mean [F]``, ``std [F]`` (ones in ``speaker-mean`` mode) and
    the number of clips they come from."""

    mean: np.ndarray
    std: np.ndarray
    n: int

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def speaker_stats(x: np.ndarray, mode: str) -> SpeakerStats:
    """Statistics of the rows of ``x [N, F]`` for ``mode`` (``speaker`` or ``speaker-mean``)."""
    if mode not in NORMALISE_MODES[1:]:
        raise ValueError(f"speaker statistics are for modes {NORMALISE_MODES[1:]}, not '{mode}'")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"speaker statistics need a non-empty [N, F] matrix, got shape {x.shape}")
    std = np.maximum(x.std(0), STD_FLOOR) if mode == "speaker" else np.ones(x.shape[1])
    return SpeakerStats(x.mean(0), std, len(x))


def group_indices(groups: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
    """Row indices of each group value, in first-appearance order."""
    out: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        out.setdefault(g, []).append(i)
    return {g: np.asarray(ix) for g, ix in out.items()}


def normalise_groups(
    x: np.ndarray,
    groups: Sequence[Hashable],
    mode: str,
    references: Mapping[Hashable, SpeakerStats] | None = None,
    min_group: int = 1,
) -> tuple[np.ndarray, dict[Hashable, SpeakerStats]]:
    """Speaker-normalise the rows of ``x [N, F]``; returns the result and the statistics each group used.

    A group found in ``references`` uses those statistics; any other group uses its own rows, of which it must
    have at least ``min_group`` (fewer clips give statistics that say more about the clips than the speaker).
    """
    if mode == "none":
        return np.asarray(x, dtype=np.float64), {}
    if len(groups) != len(x):
        raise ValueError(f"{len(groups)} speaker labels for {len(x)} clips")
    references = references or {}
    out = np.empty(np.shape(x), dtype=np.float64)
    used: dict[Hashable, SpeakerStats] = {}
    for g, ix in group_indices(groups).items():
        stats = references.get(g)
        if stats is None:
            if len(ix) < min_group:
                raise ValueError(
                    f"speaker {g!r} has {len(ix)} clip(s); speaker normalisation needs at least {min_group} "
                    "of a speaker's clips (spanning its emotions) or a reference set for it"
                )
            stats = speaker_stats(np.asarray(x)[ix], mode)
        out[ix] = stats.apply(np.asarray(x, dtype=np.float64)[ix])
        used[g] = stats
    return out, used

"""Perceptual ADV axes: re-fit a voice's ADV map so that an axis moves what listeners hear on that axis.

The bank's ADV map (:meth:`emovox.emotion.bank.EmotionBank.from_adv`) is fitted on *requested* coordinates: each
emotion's direction sits at its literature anchor (happy at valence +0.81, sad at −0.63, …) and the corpus's ADV
renderings at theirs. Whether a move along its valence column *sounds* more positive is not part of that fit.
On the default voice it mostly did not: sweeping valence from −1 to 1 lowered loudness, tilt and perceived
arousal (the column points from the loud negative emotions towards calm), and a recogniser of real speech heard
the valence change with r 0.47.

This module measures instead of assuming:

1. it renders a probe set with the voice (every emotion at 0.5, 1 and 1.5, the six ADV axis ends and four VA
   corners, on a few sentences and speakers) and has a recogniser of real emotional speech rate each clip's
   (arousal, dominance, valence), relative to the neutral rendering of the same sentence and speaker;
2. it fits the sensitivity ``J`` (``[3, Dz]``, ridge regression) of the perceived ADV to the emotion vector ``z``;
3. the new column of each calibrated axis ``k`` is the smallest move in ``z`` that changes perceived ``k`` and
   leaves the other two perceived axes where they are, ``Jᵀ(JJᵀ)⁻¹e_k``, scaled to ``scale`` times the length of
   the column it replaces (the size of a step along the axis stays comparable; ``scale`` > 1 lets the ends of the
   axis reach further).

4. it checks the result on **held-out** sentences and speakers: each candidate length (``scales``) and the column
   it replaces sweep the axis from −1 to 1, the recogniser rates every rendering, and the candidate whose
   perceived axis follows the requested one best (Pearson r, per sentence and speaker) is kept. The linear fit
   holds near the probe points only: far along a new column the voice can leave what it learned (on the shipped
   voice a 1.5× valence column made both ends quieter, so the sweep's r fell from 0.47 to −0.11 under
   ``emovox eval model``). ``improved`` says whether any candidate beat the old column; if none did, keep the
   voice as it is.

The recogniser that rates the probe set is the judge the voice is then evaluated with, unless another is used:
state it next to any number measured after a calibration (``emovox eval model`` on held-out sentences still
shows how far the calibration carries). The arousal axis is usually left as fitted: it already moves F0,
loudness and perceived arousal together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emovox.emotion.labels import ADV_AXES

__all__ = [
    "HELD_OUT_SENTENCES",
    "PROBE_SENTENCES",
    "AdvCalibration",
    "add_voice_references",
    "calibrate_adv",
    "check_sentences",
    "choose_speakers",
    "counting_renderer",
    "fit_sensitivity",
    "perceptual_columns",
    "probe_specs",
    "sweep_r",
]

logger = logging.getLogger(__name__)

PROBE_SENTENCES = (
    "We walked along the river until the sun went down.",
    "The old clock in the hall struck nine.",
    "Please put the books back on the shelf.",
)
"""Probe sentences (ordinary statements, none from a corpus's test split)."""

HELD_OUT_SENTENCES = (
    "She opened the window and looked out at the garden.",
    "The train to the coast leaves at half past eight.",
)
"""Sentences the held-out check sweeps the axes on (none of them a probe sentence)."""

SWEEP = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""Requested values of an axis in the held-out sweep."""

REFERENCE_EMOTIONS = ("happy", "sad", "angry", "fear", "surprise", "disgust", "calm")


def probe_specs(emotions: Sequence[str]) -> list[str]:
    """The probe set's emotion specs: neutral first, every other emotion at 0.5/1/1.5, the ADV axis ends, VA corners."""
    specs = ["neutral"] + [f"{e}:{a:g}" for e in emotions if e != "neutral" for a in (0.5, 1.0, 1.5)]
    specs += [
        f"adv:{a:g},{d:g},{v:g}"
        for a, d, v in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))
    ]
    specs += [f"adv:{a:g},0,{v:g}" for a in (-0.5, 0.5) for v in (-0.7, 0.7)]
    return specs


def fit_sensitivity(z: np.ndarray, perceived: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """``J`` ``[3, Dz]`` with ``perceived ≈ z @ Jᵀ`` (ridge least squares; both are offsets from a reference point,
    so there is no intercept)."""
    z = np.asarray(z, dtype=np.float64)
    perceived = np.asarray(perceived, dtype=np.float64)
    if z.ndim != 2 or perceived.shape != (z.shape[0], 3):
        raise ValueError(f"need z [N, Dz] and perceived [N, 3], got {z.shape} and {perceived.shape}")
    if ridge < 0 or not np.isfinite(ridge):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")
    gram = z.T @ z + ridge * np.eye(z.shape[1])
    return np.linalg.solve(gram, z.T @ perceived).T


def perceptual_columns(
    sensitivity: np.ndarray, adv_map: torch.Tensor, axes: Sequence[str], scale: float = 1.5
) -> torch.Tensor:
    """``adv_map`` (``[Dz, 3]``) with the columns of ``axes`` replaced by the minimum-norm moves that change only that
    perceived axis (see the module docs), each ``scale`` times as long as the column it replaces."""
    unknown = [a for a in axes if a not in ADV_AXES]
    if unknown or not axes:
        raise ValueError(f"axes must be among {', '.join(ADV_AXES)}, got {list(axes)}")
    if not (np.isfinite(scale) and 0 < scale <= 10):
        raise ValueError(f"scale must be in (0, 10], got {scale}")
    j = np.asarray(sensitivity, dtype=np.float64)
    jjt = j @ j.T
    if np.linalg.cond(jjt) > 1e10:
        raise ValueError(
            "the recogniser's ratings do not separate the three axes on this voice (singular sensitivity); "
            "use more probe sentences or speakers"
        )
    out = adv_map.detach().clone()
    for name in axes:
        k = ADV_AXES.index(name)
        target = np.zeros(3)
        target[k] = 1.0
        col = j.T @ np.linalg.solve(jjt, target)
        length = float(adv_map[:, k].norm())
        if length == 0.0:
            raise ValueError(f"the ADV map's {name} column is zero: nothing to calibrate against")
        out[:, k] = torch.as_tensor(col / np.linalg.norm(col) * length * scale, dtype=out.dtype)
    return out


def check_sentences(sentences: Sequence[str], held_out_sentences: Sequence[str]) -> None:
    """Refuse fewer than two probe sentences, no held-out sentence, or an empty one."""
    if len(sentences) < 2 or any(not str(s).strip() for s in sentences):
        raise ValueError("need at least two non-empty probe sentences")
    if not held_out_sentences or any(not str(s).strip() for s in held_out_sentences):
        raise ValueError("need at least one non-empty held-out sentence")


def choose_speakers(
    tts: Any,
    speakers: Sequence[str] | None,
    held_out_speakers: Sequence[str] | None,
    *,
    probed: int,
    held_out: int,
) -> tuple[list[str], list[str]]:
    """The speakers to probe with (default: the voice's default speaker and ``probed - 1`` others) and to check on
    (default: up to ``held_out`` not probed, else the probed ones); unknown names are refused."""
    names = list(tts.speakers)
    if speakers is None:
        first = names[tts.speaker_index(None)]
        speakers = [first, *[s for s in names if s != first][: probed - 1]]
    if held_out_speakers is None:
        held_out_speakers = [s for s in names if s not in speakers][:held_out] or list(speakers)
    unknown = [s for s in [*speakers, *held_out_speakers] if s not in names]
    if unknown:
        raise ValueError(
            f"unknown speaker(s) {', '.join(map(str, unknown))}; this model has: {', '.join(names)}"
        )
    return list(speakers), list(held_out_speakers)


def counting_renderer(
    tts: Any, total: int, progress: Callable[[int, int], None] | None, seed: int = 0
) -> Callable[[str, str, str], np.ndarray]:
    """``render(text, spec, speaker)`` -> audio of ``tts`` (seeded), calling ``progress(done, total)`` after each
    rendering: the calibrations' one way to render and count."""
    done = 0

    def render(text: str, spec: str, speaker: str) -> np.ndarray:
        nonlocal done
        audio, _ = tts.synthesize(text, emotion=spec, speaker=speaker, seed=seed)
        done += 1
        if progress is not None:
            progress(done, total)
        return audio

    return render


def add_voice_references(
    recogniser: Any,
    speakers: Sequence[str],
    sentences: Sequence[str],
    emotions: Sequence[str],
    render: Callable[[str, str, str], np.ndarray],
    rate: int,
) -> None:
    """Give a speaker-normalised recogniser each speaker's statistics, as it was trained with each actor's session:
    the voice saying two sentences neutrally and every emotion at intensities 1 and 2."""
    for speaker in speakers:
        refs = [render(t, "neutral", speaker) for t in sentences[:2]]
        for e in emotions:
            refs += [render(sentences[0], f"{e}:1", speaker), render(sentences[1], f"{e}:2", speaker)]
        recogniser.add_reference(speaker, refs, rate)


def sweep_r(requested: Sequence[float], perceived: Sequence[float], groups: Sequence[Any]) -> float:
    """Pearson r between requested and perceived values of one axis, each centred within its group (a sentence
    and speaker), as ``emovox eval model`` measures a sweep; NaN when either side does not vary."""
    from emovox.eval.stats import centred_by_group, pearson

    if not len(requested) == len(perceived) == len(groups):
        raise ValueError("requested, perceived and groups must be three sequences of one length")
    return pearson(requested, centred_by_group(perceived, [str(g) for g in groups]))


@dataclass
class AdvCalibration:
    """The calibrated ADV map and how it was made."""

    adv_map: torch.Tensor
    axes: tuple[str, ...]
    scale: float
    fit_r: tuple[float, float, float]  # Pearson r of J's prediction vs the ratings, per axis (in-sample)
    clips: int
    recogniser: str
    held_out_r: dict[str, float]  # "fitted" (the column replaced) and "x<scale>" per candidate: mean sweep r
    improved: bool  # the kept candidate's held-out r is above the fitted column's

    def to_meta(self) -> dict[str, Any]:
        return {
            "axes": list(self.axes),
            "scale": self.scale,
            "fit_r": [round(r, 4) for r in self.fit_r],
            "clips": self.clips,
            "recogniser": self.recogniser,
            "held_out_r": {k: round(v, 4) for k, v in self.held_out_r.items()},
        }


def calibrate_adv(
    tts: Any,
    recogniser: Any,
    *,
    axes: Sequence[str] = ("valence",),
    scales: Sequence[float] = (0.75, 1.0, 1.5),
    sentences: Sequence[str] = PROBE_SENTENCES,
    speakers: Sequence[str] | None = None,
    held_out_sentences: Sequence[str] = HELD_OUT_SENTENCES,
    held_out_speakers: Sequence[str] | None = None,
    ridge: float = 1.0,
    recogniser_name: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> AdvCalibration:
    """Calibrate ``tts``'s (:class:`emovox.pipelines.EmotionalTTS`) ADV map against ``recogniser`` (an
    :class:`emovox.ser.infer.EmotionRecognizer`, speaker-normalised or not). ``speakers``: the voice's speakers
    to probe with (default: up to three, the default speaker first); ``held_out_speakers``: those the candidates
    are checked on (default: up to four others, or the probed ones for a voice with no others). ``scales``: the
    candidate lengths of the new columns relative to the old. ``progress(done, total)`` after each rendering.
    The voice is not changed; write the result with :func:`emovox.tts.bank.write_adv_map`."""
    if tts.bank is None:
        raise ValueError("this model has no emotion bank; run `emovox bank` on it first")
    check_sentences(sentences, held_out_sentences)
    scales = [float(x) for x in scales]
    if not scales or not all(np.isfinite(x) and 0 < x <= 10 for x in scales):
        raise ValueError(f"scales must be one or more numbers in (0, 10], got {scales}")
    speakers, held_out_speakers = choose_speakers(tts, speakers, held_out_speakers, probed=3, held_out=4)
    specs = probe_specs(tts.emotions)
    reference_specs = [e for e in REFERENCE_EMOTIONS if e in tts.emotions]
    normalised = bool(getattr(recogniser, "speaker_normalised", False))
    per_reference = 2 + 2 * len(reference_specs) if normalised else 0
    referenced = list(dict.fromkeys([*speakers, *held_out_speakers]))
    sweep_clips = len(held_out_sentences) * (1 + (len(SWEEP) - 1) * len(axes) * (1 + len(scales)))
    total = (
        len(referenced) * per_reference
        + len(speakers) * len(sentences) * len(specs)
        + len(held_out_speakers) * sweep_clips
    )
    render = counting_renderer(tts, total, progress)
    rate = tts.sample_rate
    if normalised:
        add_voice_references(recogniser, referenced, sentences, reference_specs, render, rate)
    z_rows, rated = [], []
    for speaker in speakers:
        spk = tts.speaker_index(speaker)
        for text in sentences:
            clips = [render(text, spec, speaker) for spec in specs]
            results = recogniser.predict_batch(clips, rate, speakers=[speaker] * len(clips))
            adv = np.array([r.adv for r in results], dtype=np.float64)
            rated.append(adv - adv[0])  # relative to the neutral rendering of this sentence and speaker
            centre = tts.bank.center
            z_rows += [(tts.emotion_vector(spec, speaker=spk).reshape(-1) - centre).numpy() for spec in specs]
    z = np.asarray(z_rows, dtype=np.float64)
    perceived = np.concatenate(rated)
    j = fit_sensitivity(z, perceived, ridge)
    predicted = z @ j.T
    fit_r = tuple(
        float(np.corrcoef(predicted[:, k], perceived[:, k])[0, 1])
        if perceived[:, k].std() > 0
        else float("nan")
        for k in range(3)
    )
    logger.info("perceived ADV fit r: %s", ", ".join(f"{a} {r:.2f}" for a, r in zip(ADV_AXES, fit_r)))
    candidates = {"fitted": tts.bank.adv_map.detach().clone()}
    candidates |= {f"x{x:g}": perceptual_columns(j, tts.bank.adv_map, axes, x) for x in scales}
    held = _held_out_r(tts, recogniser, candidates, axes, held_out_sentences, held_out_speakers, render)
    logger.info("held-out sweep r: %s", ", ".join(f"{k} {v:.2f}" for k, v in held.items()))
    # Ties (to 0.001) go to the candidate listed first.
    best = max(scales, key=lambda x: round(_finite(held[f"x{x:g}"]), 3))
    improved = round(_finite(held[f"x{best:g}"]), 3) > round(_finite(held["fitted"]), 3)
    return AdvCalibration(
        candidates[f"x{best:g}"], tuple(axes), best, fit_r, int(z.shape[0]), recogniser_name, held, improved
    )


def _finite(value: float) -> float:
    return value if np.isfinite(value) else -np.inf


def _held_out_r(
    tts: Any,
    recogniser: Any,
    candidates: dict[str, torch.Tensor],
    axes: Sequence[str],
    sentences: Sequence[str],
    speakers: Sequence[str],
    render: Callable[[str, str, str], np.ndarray],
) -> dict[str, float]:
    """Mean over ``axes`` of :func:`sweep_r` for each candidate ADV map, on ``sentences`` × ``speakers``. The
    neutral point (0 on every axis) is the same for all candidates and rendered once per sentence and speaker."""
    bank = tts.bank
    kept = bank.adv_map
    points = [v for v in SWEEP if v != 0.0]
    rows: dict[tuple[str, str], list[tuple[float, float, str]]] = {
        (name, axis): [] for name in candidates for axis in axes
    }
    try:
        for speaker in speakers:
            for t, text in enumerate(sentences):
                bank.adv_map = kept
                neutral = recogniser.predict_batch([render(text, "adv:0,0,0", speaker)], tts.sample_rate,
                                                   speakers=[speaker])[0].adv  # fmt: skip
                for name, adv_map in candidates.items():
                    bank.adv_map = adv_map
                    for axis in axes:
                        k = ADV_AXES.index(axis)
                        specs = [_axis_spec(k, v) for v in points]
                        clips = [render(text, spec, speaker) for spec in specs]
                        rated = recogniser.predict_batch(
                            clips, tts.sample_rate, speakers=[speaker] * len(clips)
                        )
                        group = f"{speaker}/{t}"
                        rows[name, axis].append((0.0, float(neutral[k]), group))
                        rows[name, axis] += [(v, float(r.adv[k]), group) for v, r in zip(points, rated)]
    finally:
        bank.adv_map = kept
    out = {}
    for name in candidates:
        rs = [sweep_r(*zip(*rows[name, axis])) for axis in axes]
        out[name] = float(np.mean(rs))
    return out


def _axis_spec(axis: int, value: float) -> str:
    adv = [0.0, 0.0, 0.0]
    adv[axis] = value
    return "adv:" + ",".join(f"{v:g}" for v in adv)

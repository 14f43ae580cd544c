"""Perceptual intensity: bend an emotion's intensity curve beyond 1 towards what a recogniser hears as that emotion.

An emotion's intensity curve (:class:`emovox.emotion.bank.EmotionBank`) follows the corpus up to its strongest
renderings and continues along its last segment. Where the corpus's strongest renderings sound like another
emotion, so does the voice: on the shipped voice angry rises to intensity 1 and then turns into fear (the curve's
last segments are almost orthogonal to angry's direction). Straight extrapolation along the direction vector or
the tangent at 1 made it worse.

This module measures where "more of this emotion" lies instead:

1. it perturbs the curve's point at intensity 1 in random directions of ``z`` (spread: a fraction of the
   direction's length), the voice renders each perturbed point on a few sentences and speakers, and a recogniser
   of real emotional speech gives ``log P(emotion)`` for each rendering;
2. a ridge fit (penalty chosen by cross-validation over the perturbations) gives the local gradient ``g`` of
   ``log P(emotion)`` in ``z``;
3. the same renderings give the local gradients of the emotion's cues (loudness and F0 level by default), and
   renderings at intensity 0.5 give each cue's pace up to 1;
4. candidate curves leave everything up to 1 as it is and continue from the point at 1 with a steered step:
   ``o(α) = o(1) + (α − 1)·s`` for each ``gain``, where ``s`` (of length ``gain·|d_e|``) moves each cue on at
   ``cue_pace`` times its pace up to 1 (the smallest move that does so) and spends the rest of its length along
   the part of ``g`` that leaves the cues alone (:func:`steered_step`); a second family (``curve+gain``) keeps the
   current curve beyond 1, so its cues move as they do now, and adds the cue-free part of ``g`` at the same rate;
5. on held-out sentences and speakers the recogniser rates the emotion at intensities 0.5, 1, 1.5 and 2 for the
   current curve and each candidate; the candidate with the highest Spearman ρ between intensity and P(emotion)
   (centred per sentence and speaker, as ``emovox eval model`` measures) is kept, and ``improved`` says whether it
   beat the current curve. A candidate is only eligible if the emotion's cues (loudness and F0 level by default)
   keep moving beyond 1 the way they move from 0.5 to 1: intensity extrapolates, it does not saturate. The first
   gradient found for the shipped voice's angry raised P(angry) from 0.19 to 0.40 at intensity 2 under
   ``emovox eval model`` (intensity ρ 0.26 → 0.87), but it did so by making angry at 2 no louder than at 1; the
   check rejects such a curve, and the steered step keeps the cues moving while it follows the gradient.

A second method continues the emotion's prosody instead (:func:`calibrate_prosody_trend`, ``--method prosody``):
the acoustic model's own move from intensity 0.5 to 1 (log durations, F0, energy, averaged over phonemes, sentences
and speakers; the tilt of its mel's long-term spectrum; the spread of its F0 contour) becomes the bank's prosody
trend (:meth:`emovox.emotion.bank.EmotionBank.prosody`), applied beyond 1 on top of the curve. Candidates continue
some of the five cues at a fraction of their pace (``cue*w``), or set one outright where the model hardly moves it
up to 1 (``range=0.3``: real happy speech widens its melody, the model's does not), optionally with the curve of
``z`` held from a knot on (:func:`held_curve`) so that the trend alone carries the cues beyond it. The same
held-out check picks one. Cues continued at their pace keep the sign they have up to 1, so this cannot turn an
emotion's rate, pitch or level around.

Vocal effort is what separates angry from fear to a recogniser of real speech: louder alone is heard as fear, a
flatter spectrum (more energy above 500 Hz, as in real shouted and angry speech) as angry. On the shipped voice,
angry's effort continued at twice its pace raised the held-out ρ from 0.46 to 0.75, and with the curve held from
1.25 and F0 carried on by the trend to 0.90.

A gradient is local: a long step along it overshoots (a gain of 0.25 on angry raised P(angry) at 1.5 and lost it
at 2), which is what the held-out check is for. The recogniser that rates the renderings is the project's
yardstick too: name it next to any number measured after a calibration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emovox.adv_calibration import (
    HELD_OUT_SENTENCES,
    PROBE_SENTENCES,
    REFERENCE_EMOTIONS,
    add_voice_references,
    check_sentences,
    choose_speakers,
    counting_renderer,
)
from emovox.audio.mel import measure_tilt
from emovox.emotion.bank import FINAL_SYMBOLS, PROSODY_TREND_LIMITS, prosody_trend_ok
from emovox.eval.stats import centred_by_group, finite_mean, spearman

__all__ = [
    "DEFAULT_CUE_SETS",
    "INTENSITIES",
    "PROSODY_CUES",
    "WHOLE_CURVE_INTENSITIES",
    "IntensityCalibration",
    "ProsodyTrendCalibration",
    "calibrate_intensity",
    "calibrate_prosody_trend",
    "cue_weights",
    "cues_keep_moving",
    "fit_gradient",
    "grouped_rho",
    "held_curve",
    "loudness_and_f0",
    "measure_prosody_pace",
    "steered_step",
]

logger = logging.getLogger(__name__)

INTENSITIES = (0.5, 1.0, 1.5, 2.0)
"""Intensities of the held-out check."""

WHOLE_CURVE_INTENSITIES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
"""Intensities of the held-out check when candidates change the curve below 1 too (those of ``emovox eval
model``): low intensities must rise as consistently as high ones."""


def fit_gradient(
    eps: np.ndarray, y: np.ndarray, index: np.ndarray, penalties: Sequence[float] = (0.01, 0.1, 1, 10)
) -> tuple[np.ndarray, float]:
    """Ridge fit of ``y ≈ eps @ g`` (``eps`` ``[N, Dz]`` perturbations, ``y`` ``[N]`` centred responses, ``index``
    ``[N]`` the perturbation each row belongs to); the penalty, in units of the mean diagonal of ``epsᵀeps`` (so
    that a well-determined gradient keeps its size), is the one with the best 4-fold cross-validated r over
    perturbations. Returns ``(g, cv_r)``."""
    eps = np.asarray(eps, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    index = np.asarray(index)
    if eps.ndim != 2 or y.shape != (eps.shape[0],) or index.shape != y.shape:
        raise ValueError(f"need eps [N, Dz], y [N] and index [N], got {eps.shape}, {y.shape}, {index.shape}")
    folds = np.unique(index) % 4
    if len(np.unique(folds)) < 2:
        raise ValueError("need perturbations in at least two folds to choose the ridge penalty")

    def solve(x, t, lam):
        gram = x.T @ x
        return np.linalg.solve(gram + lam * np.trace(gram) / len(gram) * np.eye(len(gram)), x.T @ t)

    best = (-np.inf, penalties[0])
    for lam in penalties:
        pred = np.zeros_like(y)
        for fold in np.unique(folds):
            test = (index % 4) == fold
            pred[test] = eps[test] @ solve(eps[~test], y[~test], lam)
        r = float(np.corrcoef(pred, y)[0, 1]) if pred.std() > 0 and y.std() > 0 else -np.inf
        if r > best[0]:
            best = (r, lam)
    return solve(eps, y, best[1]), best[0]


def steered_step(
    gradient: np.ndarray, cue_gradients: np.ndarray, cue_moves: np.ndarray, length: float
) -> np.ndarray:
    """A step of ``length`` in ``z`` that moves each cue by ``cue_moves`` (``[C]``, to first order: cue ``c``
    changes by ``cue_gradients[c] @ step``) and otherwise goes as far as it can along ``gradient`` (``[Dz]``): the
    smallest move that gives the cue changes, plus the part of ``gradient`` orthogonal to every cue gradient for
    the rest of the length. With no cues it is ``length`` along ``gradient``; when the cue moves alone need more
    than ``length``, the step is that move (longer than ``length``)."""
    g = np.asarray(gradient, dtype=np.float64)
    cg = np.asarray(cue_gradients, dtype=np.float64).reshape(-1, g.shape[0])
    c = np.asarray(cue_moves, dtype=np.float64).reshape(-1)
    if cg.shape[0] != c.shape[0]:
        raise ValueError(
            f"need one move per cue gradient, got {c.shape[0]} moves for {cg.shape[0]} gradients"
        )
    if not (np.isfinite(length) and length > 0):
        raise ValueError(f"length must be positive, got {length}")
    if cg.shape[0]:
        gram = cg @ cg.T
        gram += 1e-9 * (np.trace(gram) or 1.0) * np.eye(len(gram))
        cue_part = cg.T @ np.linalg.solve(gram, c)
        free = g - cg.T @ np.linalg.solve(gram, cg @ g)
    else:
        cue_part, free = np.zeros_like(g), g
    rest = length**2 - float(cue_part @ cue_part)
    norm = float(np.linalg.norm(free))
    if rest <= 0 or norm == 0:
        return cue_part
    return cue_part + np.sqrt(rest) * free / norm


def grouped_rho(intensity: Sequence[float], values: Sequence[float], groups: Sequence[Any]) -> float:
    """Spearman ρ between intensity and values centred within each group (a sentence and speaker)."""
    return spearman(intensity, centred_by_group(values, [str(g) for g in groups]))


def loudness_and_f0(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """The cues a calibrated curve must keep moving: active-speech loudness (dB) and median F0 (semitones re
    100 Hz; NaN when nothing is voiced)."""
    from emovox.audio.level import active_rms_db
    from emovox.audio.pitch import PitchConfig, estimate_f0

    f0 = estimate_f0(audio, PitchConfig(sample_rate=sample_rate)).f0
    voiced = f0[f0 > 0]
    st = float(12.0 * np.log2(np.median(voiced) / 100.0)) if voiced.size else float("nan")
    return {"loudness_db": float(active_rms_db(audio, sample_rate)), "f0_st": st}


MIN_CUE_MOVE = 0.5
"""A cue that moves less than this from intensity 0.5 to 1 (dB, semitones) has no direction to keep."""


def cues_keep_moving(
    means: dict[str, Sequence[float]],
    intensities: Sequence[float] = INTENSITIES,
    min_move: float = MIN_CUE_MOVE,
) -> bool:
    """Whether every cue (``means[cue]``: its mean at each of ``intensities``, which include 0.5, 1, 1.5 and 2)
    moves beyond 1 step by step in the direction it moves from 0.5 to 1. A cue that moves less than ``min_move``
    up to 1 (disgust's F0 hardly moves, in real speech too), or cannot be measured, constrains nothing."""
    at = {float(a): k for k, a in enumerate(intensities)}
    for values in means.values():
        v = [float(values[at[a]]) for a in (0.5, 1.0, 1.5, 2.0)]
        if not all(np.isfinite(v)) or abs(v[1] - v[0]) < min_move:
            continue
        sign = np.sign(v[1] - v[0])
        if not (sign * (v[2] - v[1]) > 0 and sign * (v[3] - v[2]) > 0):
            return False
    return True


@dataclass
class IntensityCalibration:
    """The calibrated curve of one emotion and how it was made."""

    emotion: str
    curve: torch.Tensor  # [K, Dz] offsets from c0 at the bank's knots
    gain: float | None  # None: the current curve was kept
    cv_r: float  # cross-validated r of the gradient fit
    held_out_rho: dict[str, float]  # "current" and "gain<g>": Spearman rho of intensity vs P(emotion)
    held_out_p: dict[str, list[float]]  # mean P(emotion) at INTENSITIES, per candidate
    held_out_cues: dict[str, dict[str, list[float]]]  # per candidate, each cue's mean at INTENSITIES
    eligible: dict[str, bool]  # per candidate: its cues keep moving beyond 1 (the current curve always is)
    clips: int
    recogniser: str
    improved: bool
    cue_pace: float = 0.0  # beyond 1 the candidates move each cue at this fraction of its pace up to 1
    cue_fits: dict[str, dict[str, float]] | None = (
        None  # per steering cue: pace up to 1 and its gradient's cv r
    )
    kept: str = "current"  # the candidate written: "current", "gain<g>", "curve+gain<g>", "whole+gain<g>" or "below+gain<g>"
    intensities: tuple[float, ...] = INTENSITIES  # those of the held-out check

    def to_meta(self) -> dict[str, Any]:
        return {
            "gain": self.gain,
            "kept": self.kept,
            "cv_r": round(self.cv_r, 4),
            **_held_out_meta(self),
            "cue_pace": self.cue_pace,
            "cue_fits": {c: {k: round(v, 4) for k, v in f.items()} for c, f in (self.cue_fits or {}).items()},
            "clips": self.clips,
            "recogniser": self.recogniser,
        }


def calibrate_intensity(
    tts: Any,
    recogniser: Any,
    emotion: str,
    *,
    perturbations: int = 48,
    spread: float = 0.2,
    gains: Sequence[float] = (0.125, 0.25),
    cue_pace: float = 0.5,
    min_cue_move: float = MIN_CUE_MOVE,
    sentences: Sequence[str] = PROBE_SENTENCES,
    speakers: Sequence[str] | None = None,
    held_out_sentences: Sequence[str] = HELD_OUT_SENTENCES,
    held_out_speakers: Sequence[str] | None = None,
    seed: int = 0,
    cues: Callable[[np.ndarray, int], dict[str, float]] = loudness_and_f0,
    recogniser_name: str = "",
    progress: Callable[[int, int], None] | None = None,
    whole_curve: bool = False,
) -> IntensityCalibration:
    """Calibrate ``emotion``'s intensity curve of ``tts`` (:class:`emovox.pipelines.EmotionalTTS`) beyond 1 against
    ``recogniser`` (see the module docs). ``speakers``: probed (default: the default speaker and one other);
    ``held_out_speakers``: checked on (default: up to three others, else the probed ones). The voice is not
    changed; write the result with :func:`emovox.tts.bank.write_intensity_curve`. ``cues(audio, rate)`` measures
    the cues a candidate must keep moving beyond 1 (see :func:`cues_keep_moving`); ``cue_pace``: how fast the
    candidates move them beyond 1, as a fraction of their pace from 0.5 to 1 (0: the plain gradient, orthogonal
    to the cues); a cue that moves less than ``min_cue_move`` from 0.5 to 1 neither steers nor constrains.

    ``whole_curve`` adds two families that change the emotion at and below 1 as well, so that low intensities move
    towards what the recogniser hears as the emotion too: ``whole+gain<g>`` adds the cue-free part ``s`` of the
    gradient in proportion to intensity all along the curve (``o(α) + α·s``), and ``below+gain<g>`` up to 1 only,
    as a constant shift beyond (``o(α) + min(α, 1)·s``: whatever the curve does beyond 1, a hold or a bend, is
    kept). The held-out check then renders every candidate at :data:`WHOLE_CURVE_INTENSITIES`."""
    bank = _bank_with(tts, emotion)
    i = bank.emotions.index(emotion)
    if bank.curves is None or bank.curve_has is None or not bool(bank.curve_has[i]):
        raise ValueError(
            f"'{emotion}' has no intensity curve in this model (its corpus has no intensities); "
            "nothing to calibrate"
        )
    knots = bank.curve_knots
    one = int((knots - 1.0).abs().argmin())
    if abs(float(knots[one]) - 1.0) > 1e-6 or one == len(knots) - 1:
        raise ValueError("the model's intensity curves need a knot at 1 and knots beyond it")
    if not 8 <= perturbations <= 1000:
        raise ValueError(f"perturbations must be between 8 and 1000, got {perturbations}")
    if not (np.isfinite(spread) and 0 < spread <= 1):
        raise ValueError(f"spread must be in (0, 1], got {spread}")
    gains = [float(g) for g in gains]
    if not gains or not all(np.isfinite(g) and 0 < g <= 2 for g in gains):
        raise ValueError(f"gains must be one or more numbers in (0, 2], got {gains}")
    if not (np.isfinite(cue_pace) and 0 <= cue_pace <= 2):
        raise ValueError(f"cue_pace must be in [0, 2], got {cue_pace}")
    if not (np.isfinite(min_cue_move) and min_cue_move >= 0):
        raise ValueError(f"min_cue_move must be a non-negative number, got {min_cue_move}")
    check_sentences(sentences, held_out_sentences)
    speakers, held_out_speakers = choose_speakers(tts, speakers, held_out_speakers, probed=2, held_out=3)

    normalised = bool(getattr(recogniser, "speaker_normalised", False))
    reference_specs = [e for e in REFERENCE_EMOTIONS if e in tts.emotions]
    referenced = list(dict.fromkeys([*speakers, *held_out_speakers]))
    checked = WHOLE_CURVE_INTENSITIES if whole_curve else INTENSITIES
    families = 4 if whole_curve else 2
    total = (
        (len(referenced) * (2 + 2 * len(reference_specs)) if normalised else 0)
        + (perturbations + 2) * len(speakers) * len(sentences)
        + (1 + families * len(gains)) * len(checked) * len(held_out_speakers) * len(held_out_sentences)
    )
    render = counting_renderer(tts, total, progress, seed)
    rate = tts.sample_rate
    if normalised:
        add_voice_references(recogniser, referenced, sentences, reference_specs, render, rate)

    original = bank.curves[i].clone()
    length = float(bank.directions[i].norm())
    dz = original.shape[1]
    rng = np.random.default_rng(seed)
    eps = np.concatenate(
        [np.zeros((1, dz)), rng.normal(0.0, spread * length / np.sqrt(dz), (perturbations, dz))]
    )
    rows_eps, rows_y, rows_index, rows_cues = [], [], [], []
    try:
        for j, e in enumerate(eps):
            # The perturbed point is the curve's knot at 1 moved by e: "emotion:1" renders it for every speaker.
            bank.curves[i, one] = original[one] + torch.as_tensor(e, dtype=original.dtype)
            for speaker in speakers:
                clips = [render(t, f"{emotion}:1", speaker) for t in sentences]
                rated = recogniser.predict_batch(clips, rate, speakers=[speaker] * len(clips))
                for t, (clip, r) in enumerate(zip(clips, rated)):
                    rows_eps.append(e)
                    rows_y.append((f"{speaker}/{t}", float(np.log(r.probs.get(emotion, 0.0) + 1e-4))))
                    rows_index.append(j)
                    rows_cues.append(cues(clip, rate))
    finally:
        bank.curves[i] = original
    # Each cue's pace up to 1 (per unit of intensity), from the unperturbed point at 1 and renderings at 0.5.
    at_one = {group: rows_cues[n] for n, ((group, _), j) in enumerate(zip(rows_y, rows_index)) if j == 0}
    paces: dict[str, list[float]] = {cue: [] for cue in rows_cues[0]}
    for speaker in speakers:
        for t, text in enumerate(sentences):
            half = cues(render(text, f"{emotion}:0.5", speaker), rate)
            for cue in paces:
                paces[cue].append((at_one[f"{speaker}/{t}"][cue] - half[cue]) / 0.5)

    groups = np.array([g for g, _ in rows_y])
    index = np.array(rows_index)
    eps_rows = np.array(rows_eps)

    def centred(values: np.ndarray) -> np.ndarray:
        return centred_by_group(values, list(groups))

    g, cv_r = fit_gradient(eps_rows, centred(np.array([v for _, v in rows_y])), index)
    logger.info("gradient of log P(%s): cross-validated r %.2f", emotion, cv_r)
    cue_gradients, cue_moves, cue_fits = [], [], {}
    for cue, pace in paces.items():
        values = np.array([m[cue] for m in rows_cues], dtype=np.float64)
        pace = finite_mean(pace)
        if not (np.isfinite(pace) and np.isfinite(values).all()) or abs(pace) * 0.5 < min_cue_move:
            continue  # a cue that cannot be measured everywhere, or hardly moves up to 1, steers nothing
        cue_g, cue_r = fit_gradient(eps_rows, centred(values), index)
        logger.info("gradient of %s: cross-validated r %.2f; pace up to 1 %.2f per unit", cue, cue_r, pace)
        cue_fits[cue] = {"pace": pace, "cv_r": cue_r}
        cue_gradients.append(cue_g)
        cue_moves.append(cue_pace * pace)

    # Two families per gain: from the point at 1 with the steered step ("gain<g>"), and the current curve with the
    # gradient's cue-free part added ("curve+gain<g>": its cues move as the current curve moves them); with
    # whole_curve two more add that part from intensity 0 on ("whole+gain<g>", "below+gain<g>": up to 1 only).
    candidates, gain_of = {"current": original}, {"current": None}
    for gain in gains:
        free = steered_step(g, np.array(cue_gradients), np.zeros(len(cue_moves)), gain * length)
        steps = {
            f"gain{gain:g}": steered_step(g, np.array(cue_gradients), np.array(cue_moves), gain * length),
            f"curve+gain{gain:g}": free,
        }
        for name, step in steps.items():
            step = torch.as_tensor(step, dtype=original.dtype)
            curve = original.clone()
            for k in range(one + 1, len(knots)):
                base = original[k] if name.startswith("curve+") else original[one]
                curve[k] = base + (float(knots[k]) - 1.0) * step
            candidates[name], gain_of[name] = curve, gain
        if whole_curve:
            step = torch.as_tensor(free, dtype=original.dtype)
            at = knots.to(original.dtype)[:, None]
            for name, reach in ((f"whole+gain{gain:g}", at), (f"below+gain{gain:g}", at.clamp(max=1.0))):
                candidates[name], gain_of[name] = original + reach * step, gain

    def apply(name: str) -> None:
        bank.curves[i] = candidates[name]

    def restore() -> None:
        bank.curves[i] = original

    rho, mean_p, mean_cues, eligible = _held_out_check(
        recogniser, emotion, list(candidates), apply, restore, render, rate, held_out_sentences,
        held_out_speakers, cues, min_cue_move, checked,
    )  # fmt: skip
    best, improved = _best(rho, eligible)
    return IntensityCalibration(
        emotion, candidates[best], gain_of[best], cv_r, rho, mean_p, mean_cues,
        eligible, len(rows_y), recogniser_name, improved, cue_pace, cue_fits, best, tuple(checked),
    )  # fmt: skip


def _held_out_check(
    recogniser: Any,
    emotion: str,
    names: Sequence[str],
    apply: Callable[[str], None],
    restore: Callable[[], None],
    render: Callable[[str, str, str], np.ndarray],
    rate: int,
    sentences: Sequence[str],
    speakers: Sequence[str],
    cues: Callable[[np.ndarray, int], dict[str, float]],
    min_cue_move: float,
    intensities: Sequence[float] = INTENSITIES,
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, dict[str, list[float]]], dict[str, bool]]:
    """Render ``emotion`` at ``intensities`` (which include 0.5, 1, 1.5 and 2) with each candidate in place (``apply(name)``; ``restore()`` after
    the last) on held-out sentences and speakers. Returns, per candidate, the Spearman ρ of intensity vs
    P(emotion) centred per sentence and speaker, mean P and mean cues at each intensity, and whether its cues keep
    moving beyond 1 (the first candidate, the current voice, always is)."""
    rho, mean_p, mean_cues, eligible = {}, {}, {}, {}
    try:
        for name in names:
            apply(name)
            xs, ps, gs, measured = [], [], [], []
            for speaker in speakers:
                for t, text in enumerate(sentences):
                    clips = [render(text, f"{emotion}:{a:g}", speaker) for a in intensities]
                    rated = recogniser.predict_batch(clips, rate, speakers=[speaker] * len(clips))
                    xs += list(intensities)
                    ps += [r.probs.get(emotion, 0.0) for r in rated]
                    gs += [f"{speaker}/{t}"] * len(clips)
                    measured += [cues(c, rate) for c in clips]
            rho[name] = grouped_rho(xs, ps, gs)
            mean_p[name] = [float(np.mean([p for x, p in zip(xs, ps) if x == a])) for a in intensities]
            mean_cues[name] = {
                cue: [finite_mean([m[cue] for x, m in zip(xs, measured) if x == a]) for a in intensities]
                for cue in (measured[0] if measured else {})
            }
            eligible[name] = name == names[0] or cues_keep_moving(
                mean_cues[name], intensities, min_move=min_cue_move
            )
    finally:
        restore()
    logger.info("held-out rho: %s", ", ".join(f"{k} {v:.2f}" for k, v in rho.items()))
    return rho, mean_p, mean_cues, eligible


def _best(rho: dict[str, float], eligible: dict[str, bool]) -> tuple[str, bool]:
    """The eligible candidate with the highest ρ (to 0.001; ties go to the first, the current voice) and whether
    it beats the first."""

    def score(name: str) -> float:
        return round(rho[name], 3) if np.isfinite(rho[name]) else -np.inf

    names = list(rho)
    best = max((n for n in names if eligible[n]), key=score)
    return best, best != names[0] and score(best) > score(names[0])


PROSODY_CUES = ("rate", "pitch", "energy", "effort", "range", "final")
"""The cues a prosody trend continues, in the order of the bank's trend vector: the variance adaptor's three, vocal
effort (the spectral tilt of the mel), the F0 range and the final F0 movement (semitones over a sentence's last
sounds)."""


DEFAULT_CUE_SETS = (("rate",), ("rate", "energy"), ("rate", "pitch", "energy"), ("effort",))
"""The cue sets :func:`calibrate_prosody_trend` tries by default."""


def cue_weights(cue_set: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A cue set's terms, per cue of :data:`PROSODY_CUES` (``[6]`` each): ``(weights, values)``. A name alone
    continues that cue at its pace from 0.5 to 1 (weight 1), ``cue*w`` at ``w`` times its pace (``0 < w <= 4``) and
    ``cue=v`` at ``v`` per unit of intensity whatever its pace (for a cue the model hardly moves up to 1 that real
    speech moves, e.g. a happy voice's F0 range: ``range=0.25``); the set's gain scales both. E.g.
    ``("effort", "pitch*0.25")``: effort at the gain, F0 at a quarter of it."""
    weights, values = np.zeros(len(PROSODY_CUES)), np.zeros(len(PROSODY_CUES))
    seen, bad = set(), []
    for item in cue_set:
        text = str(item)
        absolute = "=" in text
        name, sep, number = text.partition("=" if absolute else "*")
        try:
            x = float(number) if sep else 1.0
        except ValueError:  # "pitch*", "range=x"
            x = float("nan")
        known = name in PROSODY_CUES
        bound = PROSODY_TREND_LIMITS[PROSODY_CUES.index(name)] if absolute and known else 4.0
        ok = np.isfinite(x) and (abs(x) <= bound if absolute else 0 < x <= bound)
        if not known or name in seen or not ok:
            bad.append(text)
            continue
        seen.add(name)
        (values if absolute else weights)[PROSODY_CUES.index(name)] = x
    if not cue_set or bad:
        raise ValueError(
            f"cue sets must be non-empty sets of {', '.join(PROSODY_CUES)}, each at most once, optionally "
            "weighted as cue*w (0 < w <= 4) or set as cue=v" + (f"; unknown: {', '.join(bad)}" if bad else "")
        )
    return weights, values


def measure_prosody_pace(
    tts: Any, emotion: str, sentences: Sequence[str], speakers: Sequence[str]
) -> np.ndarray:
    """The acoustic model's move per unit of intensity from ``emotion`` at 0.5 to 1 (``[6]``, the cues of
    :data:`PROSODY_CUES`: mean log duration, mean normalised F0 and mean normalised energy over the phonemes, the
    tilt of the FastSpeech2 mel's long-term spectrum in dB per octave, the log ratio of the F0 contour's standard
    deviation over the spoken phonemes, and the final F0 movement in semitones), averaged over ``sentences`` ×
    ``speakers``. No audio is rendered: these are the model's own predictions."""
    model = tts.model
    device = model.mel_mean.device
    moves = []
    for speaker in speakers:
        spk = tts.speaker_index(speaker)
        semitones = 1.0 / tts.semitones_to_pitch(1.0, spk)
        for text in sentences:
            ids = tts._tokens(text)
            if not ids:
                raise ValueError(f"nothing to say in probe sentence {text!r}")
            spoken = torch.tensor(tts.frontend.tokenizer.table.spoken(ids), device=device)
            outs = []
            for a in (0.5, 1.0):
                z = tts.emotion_vector(f"{emotion}:{a:g}", spk).reshape(-1)
                outs.append(
                    model.infer(
                        torch.tensor([ids], device=device),
                        torch.tensor([len(ids)], device=device),
                        torch.tensor([spk], device=device),
                        z.to(device)[None],
                    )
                )
            lo, hi = outs
            moves.append(
                [
                    float((torch.log1p(hi.durations.double()) - torch.log1p(lo.durations.double())).mean()),
                    float((hi.pitch - lo.pitch).double().mean()),
                    float((hi.energy - lo.energy).double().mean()),
                    measure_tilt(hi.mel[0].mean(-1) - lo.mel[0].mean(-1), tts.mel_config),
                    float(torch.log(_spoken_std(hi) / _spoken_std(lo))),
                    semitones * (_final_move(hi, spoken) - _final_move(lo, spoken)),
                ]
            )
    return np.mean(moves, axis=0) / 0.5


def _final_move(out: Any, spoken: torch.Tensor) -> float:
    """Mean normalised F0 of a sentence's last :data:`FINAL_SYMBOLS` sounds minus its mean over all of them."""
    pitch = out.pitch[0].double()[spoken]
    return float(pitch[-FINAL_SYMBOLS:].mean() - pitch.mean()) if pitch.numel() else 0.0


def _spoken_std(out: Any) -> torch.Tensor:
    """Standard deviation of the predicted normalised F0 over the phonemes that last at least one frame."""
    pitch = out.pitch[0].double()[out.durations[0] > 0]
    return pitch.std().clamp(min=1e-6) if pitch.numel() > 1 else torch.tensor(1e-6, dtype=torch.float64)


@dataclass
class ProsodyTrendCalibration:
    """The prosody trend chosen for one emotion and how it was chosen."""

    emotion: str
    trend: np.ndarray  # [6] per unit of intensity: rate, pitch, energy, effort, range, final (PROSODY_CUES)
    pace: np.ndarray  # [6] the acoustic model's move per unit of intensity from 0.5 to 1
    kept: str  # "current" or "<cues>x<gain>", e.g. "rate+energy x1"
    held_out_rho: dict[str, float]
    held_out_p: dict[str, list[float]]
    held_out_cues: dict[str, dict[str, list[float]]]
    eligible: dict[str, bool]
    recogniser: str
    improved: bool
    # the intensity from which the kept candidate holds the curve of z (None: as it was)
    hold: float | None = None
    curve: torch.Tensor | None = None  # [K, Dz] the emotion's curve with that hold, to write with the trend
    intensities: tuple[float, ...] = INTENSITIES  # those of the held-out check
    # "trend": ``trend`` applies beyond intensity 1; "offset": from 0, in proportion to intensity (--whole-curve)
    table: str = "trend"

    def to_meta(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "hold": self.hold,
            "table": self.table,
            "trend": [round(float(x), 5) for x in self.trend],
            "pace": [round(float(x), 5) for x in self.pace],
            "cues": list(PROSODY_CUES),
            **_held_out_meta(self),
            "recogniser": self.recogniser,
        }


def calibrate_prosody_trend(
    tts: Any,
    recogniser: Any,
    emotion: str,
    *,
    gains: Sequence[float] = (0.5, 1.0),
    cue_sets: Sequence[Sequence[str]] = DEFAULT_CUE_SETS,
    holds: Sequence[float | None] = (None,),
    min_cue_move: float = MIN_CUE_MOVE,
    sentences: Sequence[str] = PROBE_SENTENCES,
    speakers: Sequence[str] | None = None,
    held_out_sentences: Sequence[str] = HELD_OUT_SENTENCES,
    held_out_speakers: Sequence[str] | None = None,
    cues: Callable[[np.ndarray, int], dict[str, float]] = loudness_and_f0,
    recogniser_name: str = "",
    progress: Callable[[int, int], None] | None = None,
    whole_curve: bool = False,
) -> ProsodyTrendCalibration:
    """Choose ``emotion``'s prosody trend beyond intensity 1 for ``tts`` against ``recogniser`` (module docs): the
    pace from 0.5 to 1 is measured on ``sentences`` × ``speakers``; each candidate continues the cues of one of
    ``cue_sets`` (names from :data:`PROSODY_CUES`) at ``gain`` times that pace, with the curve of ``z`` as it is
    (``None`` in ``holds``) or held from a knot ``h >= 1`` of the curve on (:func:`held_curve`: the trend alone
    carries the cues beyond ``h``); the held-out check on ``held_out_sentences`` × ``held_out_speakers`` keeps the
    best eligible one (or the current trend). The voice is not changed; write the result with
    :func:`emovox.tts.bank.write_prosody_trend` (its ``curve`` too, when the kept candidate holds it).

    With ``whole_curve`` the candidates are the emotion's prosody *offset* instead, applied from intensity 0 in
    proportion to it (``table="offset"``; write it with :func:`emovox.tts.bank.write_prosody_offset`), for a cue
    the voice moves the wrong way at and below 1; holds are refused, and every candidate is checked at
    :data:`WHOLE_CURVE_INTENSITIES`."""
    bank = _bank_with(tts, emotion)
    gains = [float(g) for g in gains]
    if not gains or not all(np.isfinite(g) and 0 < g <= 4 for g in gains):
        raise ValueError(f"gains must be one or more numbers in (0, 4], got {gains}")
    cue_sets = [tuple(c) for c in cue_sets]
    weights = [cue_weights(cs) for cs in cue_sets]
    if not (np.isfinite(min_cue_move) and min_cue_move >= 0):
        raise ValueError(f"min_cue_move must be a non-negative number, got {min_cue_move}")
    check_sentences(sentences, held_out_sentences)
    i = bank.emotions.index(emotion)
    holds = list(holds) or [None]
    if whole_curve and holds != [None]:
        raise ValueError("a prosody offset applies along the whole curve; it takes no hold")
    curves = {h: None if h is None else held_curve(bank, emotion, h) for h in holds}
    field = "prosody_offset" if whole_curve else "prosody_trend"
    checked = WHOLE_CURVE_INTENSITIES if whole_curve else INTENSITIES
    speakers, held_out_speakers = choose_speakers(tts, speakers, held_out_speakers, probed=2, held_out=3)
    pace = measure_prosody_pace(tts, emotion, sentences, speakers)
    logger.info("%s's prosody pace from 0.5 to 1: %s", emotion, np.round(pace, 4).tolist())

    original = None if getattr(bank, field) is None else getattr(bank, field).clone()
    original_curves = None if bank.curves is None else bank.curves.clone()
    current = np.zeros(len(PROSODY_CUES)) if original is None else original[i].double().numpy()
    trends: dict[str, tuple[np.ndarray, float | None]] = {"current": (current, None)}
    for hold in holds:
        for cue_set, (mask, values) in zip(cue_sets, weights):
            for gain in gains:
                name = f"{'+'.join(cue_set)} x{gain:g}" + ("" if hold is None else f" hold {hold:g}")
                trends[name] = (gain * (mask * pace + values), hold)
    beyond = [n for n, (t, _) in trends.items() if not prosody_trend_ok(t)]
    if beyond:
        raise ValueError(
            f"candidate trend(s) {', '.join(beyond)} exceed a checkpoint's bounds "
            f"({list(PROSODY_TREND_LIMITS)} per cue); use smaller gains or weights"
        )

    normalised = bool(getattr(recogniser, "speaker_normalised", False))
    reference_specs = [e for e in REFERENCE_EMOTIONS if e in tts.emotions]
    total = (len(held_out_speakers) * (2 + 2 * len(reference_specs)) if normalised else 0) + len(
        trends
    ) * len(checked) * len(held_out_speakers) * len(held_out_sentences)
    render = counting_renderer(tts, total, progress)
    rate = tts.sample_rate
    if normalised:
        add_voice_references(recogniser, held_out_speakers, sentences, reference_specs, render, rate)

    def apply(name: str) -> None:
        trend, hold = trends[name]
        table = torch.zeros(len(bank.emotions), len(PROSODY_CUES)) if original is None else original.clone()
        table[i] = torch.as_tensor(trend, dtype=table.dtype)
        setattr(bank, field, table)
        if original_curves is not None:
            bank.curves = original_curves.clone()
            if hold is not None:
                bank.curves[i] = curves[hold]

    def restore() -> None:
        setattr(bank, field, original)
        bank.curves = original_curves

    rho, mean_p, mean_cues, eligible = _held_out_check(
        recogniser, emotion, list(trends), apply, restore, render, rate, held_out_sentences,
        held_out_speakers, cues, min_cue_move, checked,
    )  # fmt: skip
    best, improved = _best(rho, eligible)
    trend, hold = trends[best]
    return ProsodyTrendCalibration(
        emotion, trend, pace, best, rho, mean_p, mean_cues, eligible, recogniser_name, improved, hold,
        None if hold is None else curves[hold], checked, "offset" if whole_curve else "trend",
    )  # fmt: skip


def held_curve(bank: Any, emotion: str, hold: float) -> torch.Tensor:
    """``emotion``'s intensity curve (``[K, Dz]``) held from knot ``hold`` (>= 1) on: every later knot takes the
    value at ``hold``, so ``z`` stops moving there (the last segment is flat, so it stays put beyond the last knot
    too). Up to ``hold`` nothing changes."""
    i = bank.emotions.index(emotion)
    if bank.curves is None or bank.curve_has is None or not bool(bank.curve_has[i]):
        raise ValueError(f"{emotion} has no intensity curve to hold")
    knots = [float(k) for k in bank.curve_knots]
    matches = [k for k, x in enumerate(knots) if abs(x - float(hold)) < 1e-6]
    if not (np.isfinite(hold) and hold >= 1.0) or not matches:
        raise ValueError(
            f"a hold must be a knot of the intensity curve at 1 or above ({', '.join(f'{k:g}' for k in knots if k >= 1)}), "
            f"got {hold}"
        )
    curve = bank.curves[i].clone()
    curve[matches[0] :] = curve[matches[0]]
    return curve


def _held_out_meta(cal: Any) -> dict[str, Any]:
    """The held-out check's results of a calibration, rounded for a checkpoint's metadata."""
    return {
        "held_out_rho": {k: round(v, 4) for k, v in cal.held_out_rho.items()},
        "held_out_p": {k: [round(p, 4) for p in v] for k, v in cal.held_out_p.items()},
        "held_out_cues": {
            k: {c: [round(x, 3) for x in v] for c, v in cues.items()} for k, cues in cal.held_out_cues.items()
        },
        "eligible": dict(cal.eligible),
        "intensities": list(cal.intensities),
    }


def _bank_with(tts: Any, emotion: str) -> Any:
    """``tts``'s emotion bank, refusing a voice without one or an emotion it does not have (or neutral)."""
    bank = tts.bank
    if bank is None:
        raise ValueError("this model has no emotion bank; run `emovox bank` on it first")
    if emotion not in bank.emotions or emotion == "neutral":
        known = ", ".join(e for e in bank.emotions if e != "neutral")
        raise ValueError(f"unknown emotion '{emotion}' for an intensity calibration; this model has: {known}")
    return bank

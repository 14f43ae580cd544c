"""Analysis-by-synthesis tuning of the emotion rules against a recogniser of real emotional speech.

The calibrated rules (:mod:`emovox.data_prep.calibration`) are each emotion's *median* change against the same
speaker's neutral speech. A median is not what makes an emotion recognisable: on RAVDESS actors the recogniser
never heard, the calibrated surprise and disgust rules applied to the actors' own neutral takes were heard as
their emotion in 0 of 8 takes, while the same actors' real prosody put on those takes was heard in 7 and 4 of 8
(``docs/transplant_ravdess.md``). Actors differ: the median of ten actors is nobody's way of being surprised.

This module starts from a rule table and searches, per emotion, the prosody change that a speech-emotion
recogniser trained on real recordings hears as that emotion when the prosody path itself (:mod:`emovox.evc.prosody`)
applies it to real neutral recordings:

- the search runs in the prosody-vector space of :mod:`emovox.evc.params` (semitones, dB and log-factors), each
  coordinate in its own unit (:data:`STEP_UNITS`: a step is a clearly audible change of that cue);
- the objective is the mean log P(target) over the sources and the intensities (the rule scaled by each, as the
  corpus and conversion scale it), minus ``prior`` times the squared distance to the starting rule in step units,
  so that a change which buys nothing is not made and the measured rule stays the anchor;
- the optimiser is a (1+λ) evolution strategy with step-size adaptation; every candidate is rendered with the same
  random numbers (jitter, tremor phase), so two candidates differ only in their parameters.

The recogniser sees only the sources given here: hold out the speakers it is judged on (``emovox tune-rules
--speakers``), and judge the result on those (``emovox eval evc --held-out``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emovox.data_prep.prosody_rules import ProsodyParams
from emovox.evc.params import CONVERSION_LIMITS, FIELDS, from_vector, to_vector
from emovox.evc.prosody import analyse_chunk, render_chunk

__all__ = ["STEP_UNITS", "RuleTuner", "TuneConfig", "TunedRule", "tuned_rules_json"]

logger = logging.getLogger(__name__)

STEP_UNITS: dict[str, float] = {
    "f0_shift_st": 1.5,
    "f0_range": 0.15,
    "accent_prominence": 0.15,
    "f0_slope_st": 1.5,
    "final_st": 2.0,
    "jitter": 0.004,
    "tremor_st": 0.3,
    "rate": 0.08,
    "pause_factor": 0.2,
    "gain_db": 2.0,
    "tilt_db_oct": 0.5,
    "breathiness": 0.1,
    "tension": 0.1,
    "formant_shift": 0.02,
}
"""One search step of each prosody-vector coordinate (factors as natural-log units)."""


@dataclass
class TuneConfig:
    """Settings of the search (the defaults took about 15 CPU-minutes per emotion with 20 sources)."""

    generations: int = 25  # rounds of the evolution strategy
    children: int = 6  # candidates per round
    intensities: tuple[float, ...] = (1.0, 2.0)  # the rule is judged scaled to each of these
    prior: float = 0.02  # pull toward the starting rule, per squared step
    floor: float = 1e-3  # P(target) below this counts as this in the log
    sigma: float = 1.0  # initial step size, in steps
    seed: int = 0
    frozen: tuple[str, ...] = ()  # prosody fields kept at the starting rule's value (e.g. formant_shift)

    def __post_init__(self) -> None:
        if self.generations < 0 or self.children < 1:
            raise ValueError("generations must be >= 0 and children >= 1")
        if not self.intensities or any(not (0 < x <= 2) for x in self.intensities):
            raise ValueError("intensities must be in (0, 2]")
        if self.prior < 0 or not (0 < self.floor < 1) or self.sigma <= 0:
            raise ValueError("prior must be >= 0, floor in (0, 1) and sigma > 0")
        unknown = [f for f in self.frozen if f not in FIELDS]
        if unknown:
            raise ValueError(
                f"cannot freeze {', '.join(unknown)}: the prosody fields are {', '.join(FIELDS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (tuples as lists), as a rules table records them."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class TunedRule:
    """The result for one emotion: the tuned and the starting rule, and how the recogniser heard each on the
    sources (mean P(target), accuracy) over all intensities."""

    emotion: str
    params: ProsodyParams
    start: ProsodyParams
    p_target: float
    accuracy: float
    p_target_start: float
    accuracy_start: float
    evaluations: int
    history: list[float] = field(default_factory=list)  # best objective after each round

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params.as_dict(),
            "start": self.start.as_dict(),
            "sources": {
                "p_target": round(self.p_target, 4),
                "accuracy": round(self.accuracy, 4),
                "p_target_start": round(self.p_target_start, 4),
                "accuracy_start": round(self.accuracy_start, 4),
            },
            "evaluations": self.evaluations,
        }


class RuleTuner:
    """Tunes rules on a fixed set of source recordings ``[(audio [T] float, speaker)]`` at ``sample_rate``.

    ``recogniser`` needs ``predict_batch(clips, sample_rate, speakers=[...])`` returning results with ``.probs``
    (emotion → probability) and ``.label``, as :class:`emovox.ser.infer.EmotionRecognizer` does (register each
    speaker's reference clips first when it is speaker-normalised). Each source is analysed once."""

    def __init__(
        self,
        sources: Sequence[tuple[np.ndarray, Hashable]],
        sample_rate: int,
        recogniser: Any,
        config: TuneConfig | None = None,
    ):
        self.config = config or TuneConfig()
        self.sample_rate = int(sample_rate)
        self.recogniser = recogniser
        self.sources: list[tuple[np.ndarray, Any, Hashable]] = []
        for audio, speaker in sources:
            x = np.asarray(audio, dtype=np.float32)
            analysis = analyse_chunk(x, self.sample_rate)
            if analysis is None or not (analysis.f0 > 0).any():
                logger.warning("a source of speaker %s has no voiced speech; it is left out", speaker)
                continue
            self.sources.append((x, analysis, speaker))
        if not self.sources:
            raise ValueError("no source recording with voiced speech to tune the rules on")
        self._step = np.array([STEP_UNITS[f] for f in FIELDS])

    def evaluate(self, emotion: str, params: ProsodyParams) -> tuple[float, float, float]:
        """``(mean log P(target), mean P(target), accuracy)`` of ``params`` (at intensity 1) on the sources."""
        vector = to_vector(params).astype(np.float64)
        clips, speakers = [], []
        for k in self.config.intensities:
            scaled = from_vector(vector * k)
            rng = np.random.default_rng(self.config.seed)
            for x, analysis, speaker in self.sources:
                clips.append(render_chunk(x, analysis, scaled, rng))
                speakers.append(speaker)
        preds = self.recogniser.predict_batch(clips, self.sample_rate, speakers=speakers)
        p = np.array([float(r.probs.get(emotion, 0.0)) for r in preds])
        acc = float(np.mean([r.label == emotion for r in preds]))
        return float(np.mean(np.log(np.maximum(p, self.config.floor)))), float(p.mean()), acc

    def tune(
        self, emotion: str, start: ProsodyParams, progress: Callable[[int, float], None] | None = None
    ) -> TunedRule:
        """Search from ``start`` (a rule at intensity 1); ``progress(round, best objective)`` after each round."""
        if emotion not in getattr(self.recogniser, "emotions", [emotion]):
            raise ValueError(f"the recogniser does not know the emotion '{emotion}'")
        cfg = self.config
        v0 = to_vector(start.clamped(CONVERSION_LIMITS)).astype(np.float64)

        def objective(v: np.ndarray) -> tuple[float, float, float]:
            logp, p, acc = self.evaluate(emotion, from_vector(v))
            return logp - cfg.prior * float(np.sum(((v - v0) / self._step) ** 2)), p, acc

        best = v0
        best_obj, p0, acc0 = objective(v0)
        best_p, best_acc = p0, acc0
        history, evaluations = [best_obj], 1
        sigma, rng = cfg.sigma, np.random.default_rng(cfg.seed + 1)
        step = np.where([f in cfg.frozen for f in FIELDS], 0.0, self._step)
        for g in range(cfg.generations):
            kids = [best + sigma * step * rng.standard_normal(len(FIELDS)) for _ in range(cfg.children)]
            kids = [
                to_vector(from_vector(k)).astype(np.float64) for k in kids
            ]  # within the renderer's limits
            scored = [objective(k) for k in kids]
            evaluations += len(kids)
            i = int(np.argmax([s[0] for s in scored]))
            if scored[i][0] > best_obj:
                best, (best_obj, best_p, best_acc) = kids[i], scored[i]
                sigma = min(sigma * 1.3, 3.0)
            else:
                sigma = max(sigma * 0.85, 0.05)
            history.append(best_obj)
            if progress is not None:
                progress(g + 1, best_obj)
        return TunedRule(
            emotion=emotion,
            params=from_vector(best),
            start=from_vector(v0),
            p_target=best_p,
            accuracy=best_acc,
            p_target_start=p0,
            accuracy_start=acc0,
            evaluations=evaluations,
            history=[round(h, 4) for h in history],
        )


def tuned_rules_json(tuned: dict[str, TunedRule], *, source: str, config: TuneConfig, start: str) -> str:
    """The rules table (read by :func:`emovox.data_prep.prosody_rules.read_rules_table`) with how it was made."""
    table = {
        "format": 1,
        "method": "tuned",
        "source": source,
        "start": start,
        "settings": config.to_dict(),
        "rules": {name: rule.to_dict() for name, rule in sorted(tuned.items())},
    }
    return json.dumps(table, indent=1, sort_keys=False) + "\n"

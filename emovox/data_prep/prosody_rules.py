"""Emotion → prosody rules from the literature, as numbers a WORLD renderer can apply.

Two rule sets produce the same :class:`ProsodyParams`:

* **Categories** — :func:`category_prosody`. The verbal table of Murray & Arnott (1993), "Toward the simulation
  of emotion in synthetic speech: a review of the literature on human vocal emotion", JASA 93(2), Table 1
  (anger, happiness, sadness, fear, disgust: speech rate, pitch average, pitch range, intensity, voice quality,
  pitch changes, articulation), read on a fixed numeric scale (below). Surprise is not in their table; its rule
  follows the surprise column commonly reproduced beside it ("much faster, much higher, much wider, higher
  intensity, breathy/blaring, rising contour"; e.g. en.wikibooks.org "Hypnosis/Voice Emotions Table"). Voice
  quality follows Gobl & Ní Chasaide (2003), "The role of voice quality in communicating emotion, mood and
  attitude", Speech Communication 40: tense voice for anger, breathy/lax voice for sadness and low activation.
  Burkhardt's emofilt (Burkhardt 2005, "Emofilt: the simulation of emotional speech by prosody-transformation",
  Interspeech) realises such rules as the same families of operations used here: pitch level/range/contour,
  duration (with separate pause handling), jitter and phonation. Calm and sleepy have no column in these tables;
  they are rendered by the dimensional rules at their ADV anchors plus lax/breathy voice quality.
* **Dimensions** — :func:`dimensional_prosody`. Schröder's rules from activation/evaluation/power to prosody
  (Schröder 2003, PhD thesis "Speech and emotion research", Saarland University; Schröder 2004,
  "Dimensional emotion representation as a basis for speech synthesis with non-extreme emotions", ADS), in the
  exact form MaryTTS's EmotionML-to-MaryXML stylesheet implements them (A, E, P scaled to [-100, 100]):
  pitch % = 0.3A + 0.1E − 0.1P; pitch-dynamics % = −15 + 0.3A − 0.3P; range = 4 + 0.04A semitones;
  accent prominence % = 0.5A − 0.5E; boundary low when P > 0, high otherwise; rate % = 0.5A + 0.2E;
  pause duration % = −0.2A; volume = 50 + 0.33A (of 100). Activation is also realised as vocal effort
  (spectral tilt), as in Schröder (2006), "Expressing degree of activation in synthetic speech", IEEE TASLP 14(4).

A smile raises formants (Tartter 1980, "Happy talk: perceptual and acoustic effects of smiling on speech",
Perception & Psychophysics 27); positive valence and happiness shift the spectral envelope up a few percent.

Numeric reading of Murray & Arnott's verbal scale (at intensity 1; chosen exaggerated so that the rendered
emotions are clearly distinct, since the corpus must teach a model):

=================  ==================  ==================  ======================
verbal             pitch average (st)  range (factor)      rate (factor)
=================  ==================  ==================  ======================
slightly           ∓2                  ×0.65 / ×1.25       ×0.82 / ×1.12
much               ±4.5                ×1.6                ×1.25
very much          ±6.5 (lower: −4)    —                   ×0.72 (slower)
=================  ==================  ==================  ======================

Intensity scales every rule continuously: additive quantities are multiplied by it and factors are raised to
its power (:meth:`ProsodyParams.scaled`), so intensity 0 is neutral and intensity > 1 extrapolates.

**Calibrated rules (the default since rules version 5).** The literature's verbal rules above are a fallback:
the rules the corpus renders by default are calibrated on measured real emotional speech
(:mod:`emovox.data_prep.calibration`; the table ships as ``calibrated_rules.json`` beside this module, made by
``emovox eval corpus MANIFEST --rules-out FILE`` from RAVDESS actors 1–12: each emotion's F0 level, F0 range,
final movement, speaking rate, loudness, spectral tilt and jitter are the measured medians against each actor's
own neutral speech; the other fields keep the literature values; accent prominence and declination are neutral there, as the measured range and final
movement contain them). ``rules="literature"`` renders the old set.

**Tuned rules.** ``tuned_rules.json`` (``rules="tuned"``) holds the calibrated rules after analysis-by-synthesis
tuning against a recogniser of real speech (:mod:`emovox.evc.tune`, ``emovox tune-rules``): a median change is
not what makes an emotion recognisable, and the tuning searches, near it, the change that is. Voice conversion uses
them; a rules table made by ``emovox tune-rules`` can be given by its path wherever a rule set is named.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from importlib import resources
from pathlib import Path

from emovox.emotion.labels import adv_anchor

__all__ = [
    "CATEGORY_EMOTIONS",
    "CATEGORY_SOURCES",
    "LIMITS",
    "RULES_VERSION",
    "RULE_SETS",
    "ProsodyParams",
    "calibrated_rules",
    "category_prosody",
    "dimensional_prosody",
    "literature_prosody",
    "read_rules_table",
    "rule_table",
    "tuned_rules",
]


RULES_VERSION = 6
"""Bumped whenever a rule or its rendering changes; a corpus folder records it so a resumed build never mixes rule sets."""


@dataclass(frozen=True)
class ProsodyParams:
    """One utterance's prosody modification relative to its neutral rendering."""

    f0_shift_st: float = 0.0  # change of the utterance's median F0, semitones
    f0_range: float = 1.0  # factor on phrase-level F0 excursions around the median
    accent_prominence: float = 1.0  # extra factor on accent-level (fast) F0 excursions
    f0_slope_st: float = 0.0  # added F0 change from first to last voiced frame (negative = more declination)
    final_st: float = 0.0  # final rise (+) or fall (−) over the last voiced stretch, semitones
    final_s: float = 0.35  # duration of that final movement, seconds
    jitter: float = 0.0  # relative s.d. of random frame-to-frame F0 perturbation (irregular voicing)
    tremor_st: float = 0.0  # amplitude of sinusoidal F0 tremor, semitones
    tremor_hz: float = 6.0  # tremor rate, Hz
    rate: float = 1.0  # speaking-rate factor (> 1 faster)
    pause_factor: float = 1.0  # extra lengthening of pauses on top of the rate (> 1 longer pauses)
    gain_db: float = 0.0  # loudness change, dB
    tilt_db_oct: float = 0.0  # spectral tilt change around 1 kHz, dB/octave (> 0 brighter, more effort)
    breathiness: float = 0.0  # 0..1: aperiodicity added in the upper bands of voiced frames
    tension: float = 0.0  # 0..1: fraction of aperiodicity removed from voiced frames (pressed voice)
    formant_shift: float = 1.0  # frequency scaling of the spectral envelope (> 1 raises formants)

    # Fields combined multiplicatively (scaled by raising to a power); all others are additive.
    _FACTORS = ("f0_range", "accent_prominence", "rate", "pause_factor", "formant_shift")
    _FIXED = ("final_s", "tremor_hz")

    def scaled(self, intensity: float) -> ProsodyParams:
        """The rule at ``intensity``: additive fields × intensity, factors ** intensity (0 → neutral)."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self._FIXED:
                continue
            changes[f.name] = value**intensity if f.name in self._FACTORS else value * intensity
        return replace(self, **changes)

    def clamped(self, limits: Mapping[str, tuple[float, float]] | None = None) -> ProsodyParams:
        """The same parameters within ``limits`` (default :data:`LIMITS`), so no extrapolated rule breaks the
        vocoder.

        Accent-level F0 excursions are scaled by ``f0_range * accent_prominence``; that product is also capped
        (:data:`MAX_LOCAL_EXCURSION`, by lowering the prominence) so wide range and strong accents never multiply
        into a squeaky contour."""
        bounds = LIMITS if limits is None else limits
        out = replace(self, **{k: min(max(getattr(self, k), lo), hi) for k, (lo, hi) in bounds.items()})
        if out.f0_range * out.accent_prominence > MAX_LOCAL_EXCURSION:
            out = replace(out, accent_prominence=MAX_LOCAL_EXCURSION / out.f0_range)
        return out

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


LIMITS: dict[str, tuple[float, float]] = {
    "f0_shift_st": (-9.0, 17.0),
    "f0_range": (0.25, 2.5),
    "accent_prominence": (0.4, 2.0),
    "f0_slope_st": (-9.0, 9.0),
    "final_st": (-10.0, 13.0),
    "jitter": (0.0, 0.06),
    "tremor_st": (0.0, 2.0),
    "rate": (0.35, 1.8),
    "pause_factor": (0.4, 3.0),
    "gain_db": (-15.0, 27.0),
    "tilt_db_oct": (-6.0, 6.0),
    "breathiness": (0.0, 0.95),
    "tension": (0.0, 0.95),
    "formant_shift": (0.88, 1.12),
}
"""Safety limits applied after scaling (extrapolated intensities and extreme ADV points). They are wide enough
that every packaged rule keeps moving up to intensity 2 (strong angry in real speech is about +24 dB over the
speaker's neutral), except the F0 range, which :data:`MAX_LOCAL_EXCURSION` bounds with the accent prominence so
that a wide range never turns into a squeak."""

MAX_LOCAL_EXCURSION = 2.5
"""Cap on ``f0_range * accent_prominence`` (accent-level excursions relative to neutral)."""

_MA = "Murray & Arnott 1993, Table 1"
_RULES: dict[str, tuple[ProsodyParams, str]] = {
    "neutral": (ProsodyParams(), "no modification"),
    # pitch average much higher, range much wider, rate faster or slower (→ slightly faster), intensity higher,
    # voice breathy/blaring (→ brighter, a little breath), pitch changes smooth with upward inflections
    # (→ less declination, small final rise), smile (Tartter 1980).
    "happy": (
        ProsodyParams(
            f0_shift_st=4.5,
            f0_range=1.6,
            accent_prominence=1.2,
            f0_slope_st=2.0,
            final_st=1.5,
            rate=1.1,
            pause_factor=0.9,
            gain_db=3.0,
            tilt_db_oct=1.5,
            breathiness=0.1,
            formant_shift=1.05,
        ),
        f"{_MA}: happiness; smile formant raise from Tartter 1980",
    ),
    # rate slightly slower, pitch average slightly lower, range slightly narrower, intensity lower, downward
    # inflections, slurred articulation (→ longer pauses); lax/breathy voice (Gobl & Ní Chasaide 2003).
    "sad": (
        ProsodyParams(
            f0_shift_st=-2.5,
            f0_range=0.55,
            accent_prominence=0.8,
            f0_slope_st=-2.0,
            final_st=-2.0,
            rate=0.78,
            pause_factor=1.6,
            gain_db=-4.0,
            tilt_db_oct=-2.5,
            breathiness=0.3,
            formant_shift=0.98,
        ),
        f"{_MA}: sadness; lax/breathy voice from Gobl & Ní Chasaide 2003",
    ),
    # rate slightly faster, pitch average very much higher, range much wider, intensity higher, abrupt pitch
    # changes on stressed syllables (→ accent prominence), tense articulation/voice (→ tension, flat tilt),
    # dominant → low (falling) boundary (Schröder).
    "angry": (
        ProsodyParams(
            f0_shift_st=5.5,
            f0_range=1.5,
            accent_prominence=1.7,
            f0_slope_st=-1.0,
            final_st=-3.0,
            rate=1.12,
            pause_factor=0.7,
            gain_db=6.0,
            tilt_db_oct=3.0,
            tension=0.4,
            formant_shift=1.02,
        ),
        f"{_MA}: anger; tense voice from Gobl & Ní Chasaide 2003",
    ),
    # rate much faster, pitch average very much higher, range much wider, intensity normal, irregular voicing
    # (→ jitter and tremor), precise articulation; submissive → high (rising) boundary (Schröder).
    "fear": (
        ProsodyParams(
            f0_shift_st=7.0,
            f0_range=1.35,
            final_st=2.0,
            jitter=0.03,
            tremor_st=0.8,
            tremor_hz=7.0,
            rate=1.3,
            pause_factor=0.8,
            gain_db=0.0,
            tilt_db_oct=0.5,
            breathiness=0.3,
        ),
        f"{_MA}: fear",
    ),
    # pitch average much higher, range much wider, rate much faster, intensity higher, breathy/blaring voice,
    # rising contour (→ rising slope and a strong final rise: what sets it apart from happiness).
    "surprise": (
        ProsodyParams(
            f0_shift_st=4.0,
            f0_range=1.7,
            accent_prominence=1.3,
            f0_slope_st=3.5,
            final_st=8.0,
            final_s=0.6,
            rate=1.2,
            gain_db=3.0,
            tilt_db_oct=1.5,
            breathiness=0.15,
            formant_shift=1.03,
        ),
        "surprise column reproduced beside Murray & Arnott's table (rising contour)",
    ),
    # rate very much slower, pitch average very much lower, range slightly wider, intensity lower, grumbled
    # chest tone (→ darker tilt, lowered formants), wide downward terminal inflections (→ big final fall).
    "disgust": (
        ProsodyParams(
            f0_shift_st=-4.0,
            f0_range=1.25,
            accent_prominence=1.2,
            final_st=-5.0,
            final_s=0.5,
            rate=0.72,
            pause_factor=1.3,
            gain_db=-3.0,
            tilt_db_oct=-1.5,
            jitter=0.01,
            formant_shift=0.96,
        ),
        f"{_MA}: disgust",
    ),
}

_DIMENSIONAL_CATEGORIES = {
    # Schröder's dimensional rules at the anchor, plus lax/breathy (calm) and lax/creaky-breathy (sleepy) voice
    # quality after Gobl & Ní Chasaide 2003. The dimensional part is amplified like the categories.
    "calm": (1.25, ProsodyParams(breathiness=0.2, tilt_db_oct=-1.0)),
    "sleepy": (1.25, ProsodyParams(breathiness=0.25, tilt_db_oct=-1.0, final_st=-3.0, pause_factor=1.2)),
}

CATEGORY_EMOTIONS = (*tuple(_RULES), *tuple(_DIMENSIONAL_CATEGORIES))
"""Every emotion :func:`category_prosody` renders."""

CATEGORY_SOURCES = {name: src for name, (_, src) in _RULES.items()} | {
    name: "Schröder 2003 dimensional rules at the ADV anchor + Gobl & Ní Chasaide 2003 voice quality"
    for name in _DIMENSIONAL_CATEGORIES
}


def _combine(a: ProsodyParams, b: ProsodyParams) -> ProsodyParams:
    """Apply ``b`` on top of ``a``: factors multiply, additive quantities add."""
    out = {}
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in ProsodyParams._FIXED:
            out[f.name] = x if x != f.default else y
        elif f.name in ProsodyParams._FACTORS:
            out[f.name] = x * y
        else:
            out[f.name] = x + y
    return ProsodyParams(**out)


RULE_SETS = ("calibrated", "tuned", "literature")
CALIBRATED_RULES_FILE = "calibrated_rules.json"
TUNED_RULES_FILE = "tuned_rules.json"


def read_rules_table(text: str, origin: str = "rules table") -> dict[str, ProsodyParams]:
    """The rules (emotion → :class:`ProsodyParams` at intensity 1) of a JSON rules table: the calibrated table
    (:func:`emovox.data_prep.calibration.rules_to_json`) or a tuned one (:func:`emovox.evc.tune.tuned_rules_json`).
    A malformed table is refused with ``origin`` in the message."""
    try:
        table = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{origin}: not a JSON rules table ({exc})") from exc
    try:
        if (
            not isinstance(table, dict)
            or table.get("format") != 1
            or not isinstance(table.get("rules"), dict)
        ):
            raise ValueError("not a rules table (format 1 with a 'rules' object)")
        out = {}
        for name, entry in table["rules"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
                raise ValueError(f"rule '{name}' has no 'params' object")
            out[str(name)] = ProsodyParams(**entry["params"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{origin}: {exc}") from exc
    return out


def _packaged_table(name: str) -> dict[str, ProsodyParams]:
    path = resources.files("emovox.data_prep").joinpath(name)
    if not path.is_file():
        return {}
    return read_rules_table(path.read_text(encoding="utf-8"), name)


@cache
def calibrated_rules() -> dict[str, ProsodyParams]:
    """The calibrated rules at intensity 1 shipped beside this module (empty if the file is absent)."""
    return _packaged_table(CALIBRATED_RULES_FILE)


@cache
def tuned_rules() -> dict[str, ProsodyParams]:
    """The tuned rules at intensity 1 shipped beside this module (``emovox tune-rules``; empty if absent)."""
    return _packaged_table(TUNED_RULES_FILE)


def rule_table(name: str) -> dict[str, ProsodyParams]:
    """Every categorical emotion's rule at intensity 1 from ``name``: a rule set of :data:`RULE_SETS` or the path
    of a JSON rules table (emotions the table lacks keep their calibrated rule)."""
    return {e: _base_rule(e, name) for e in CATEGORY_EMOTIONS}


@cache
def _rules_file(path: str, mtime_ns: int) -> dict[str, ProsodyParams]:
    return read_rules_table(Path(path).read_text(encoding="utf-8"), path)


def _base_rule(emotion: str, rules: str) -> ProsodyParams:
    base = literature_prosody(emotion)
    if rules == "literature":
        return base
    base = calibrated_rules().get(emotion, base)
    if rules == "calibrated":
        return base
    if rules == "tuned":
        return tuned_rules().get(emotion, base)
    path = Path(rules)
    if not path.is_file():
        raise ValueError(
            f"unknown rule set '{rules}': neither a rule set ({', '.join(RULE_SETS)}) nor a JSON rules table file"
        )
    return _rules_file(str(path), path.stat().st_mtime_ns).get(emotion, base)


def literature_prosody(emotion: str) -> ProsodyParams:
    """The literature rule of a categorical emotion at intensity 1, before any safety limit."""
    if emotion in _RULES:
        return _RULES[emotion][0]
    if emotion in _DIMENSIONAL_CATEGORIES:
        gain, quality = _DIMENSIONAL_CATEGORIES[emotion]
        arousal, dominance, valence = adv_anchor(emotion)
        return _combine(dimensional_prosody(arousal, dominance, valence, exaggeration=gain), quality)
    raise ValueError(
        f"no prosody rule for emotion '{emotion}'; rules exist for: {', '.join(CATEGORY_EMOTIONS)}"
    )


def category_prosody(
    emotion: str, intensity: float = 1.0, exaggeration: float = 1.0, rules: str = "calibrated"
) -> ProsodyParams:
    """The prosody rule of a categorical emotion at ``intensity`` (0 = neutral, 1 = the table's value).

    ``rules``: ``calibrated`` (measured on real speech, literature where an emotion or a cue was not measured),
    ``tuned`` (the calibrated rules tuned against a recogniser of real speech, :mod:`emovox.evc.tune`),
    ``literature``, or the path of a JSON rules table (``emovox tune-rules``; calibrated where it has no rule)."""
    if intensity < 0:
        raise ValueError(f"intensity must be >= 0, got {intensity}")
    return _base_rule(emotion, rules).scaled(intensity * exaggeration).clamped()


def _pct_to_st(pct: float) -> float:
    return 12.0 * math.log2(max(1.0 + pct / 100.0, 0.05))


def dimensional_prosody(
    arousal: float, dominance: float, valence: float, exaggeration: float = 1.0
) -> ProsodyParams:
    """Schröder's (2003) activation/evaluation/power rules, as implemented by MaryTTS, at one ADV point.

    Args:
        arousal, dominance, valence: in [-1, 1] (activation, power, evaluation in Schröder's terms).
        exaggeration: scales every deviation from neutral (1 = the published rules).
    """
    for name, value in (("arousal", arousal), ("dominance", dominance), ("valence", valence)):
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [-1, 1], got {value}")
    act, eva, pow_ = 100.0 * arousal, 100.0 * valence, 100.0 * dominance
    neutral_dynamics = 1.0 - 0.15  # pitch-dynamics −15 % is the neutral declination of the rule set
    base = ProsodyParams(
        f0_shift_st=_pct_to_st(0.3 * act + 0.1 * eva - 0.1 * pow_),
        f0_range=(4.0 + 0.04 * act) / 4.0,
        accent_prominence=1.0 + (0.5 * act - 0.5 * eva) / 100.0,
        f0_slope_st=12.0 * math.log2((1.0 + (-15.0 + 0.3 * act - 0.3 * pow_) / 100.0) / neutral_dynamics),
        # Schröder: low (falling) boundary when power > 0, high (rising) otherwise; made continuous here.
        final_st=-2.5 * dominance,
        rate=1.0 + (0.5 * act + 0.2 * eva) / 100.0,
        pause_factor=1.0 - 0.2 * act / 100.0,
        gain_db=20.0 * math.log10((50.0 + 0.33 * act) / 50.0),
        tilt_db_oct=2.0 * arousal,  # vocal effort rises with activation (Schröder 2006)
        breathiness=0.3 * max(0.0, -arousal),
        tension=0.25 * max(0.0, arousal) * max(0.0, dominance + 0.5),
        formant_shift=1.0 + 0.03 * max(0.0, valence),  # smile (Tartter 1980)
    )
    return base.scaled(exaggeration).clamped()

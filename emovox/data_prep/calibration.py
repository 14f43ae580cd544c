"""Prosody rules calibrated on measured real emotional speech.

``emovox eval corpus MANIFEST`` measures, per emotion and intensity, how real speakers change their prosody
against their own neutral speech (:mod:`emovox.eval.corpus`). :func:`rules_from_summary` turns that table into
one :class:`~emovox.data_prep.prosody_rules.ProsodyParams` per emotion, the rule the synthetic corpus renders at
intensity 1:

* each measured cue becomes the rule's value by inverting the renderer's **measured transfer**
  (:data:`TRANSFER`): how much of a rule parameter survives WORLD rendering and the same measurement, e.g. a
  final rise of 1 st over the last 0.35 s reads as 0.37 st in the last 250 ms of voicing;
* a corpus's discrete intensities map to rule intensities by their ratio to the weakest one (RAVDESS normal 0.5
  → 1, strong 1.0 → 2), and the rule is the least-squares slope through the origin over them
  (:func:`intensity_slope`), so intensity 1 sits between "normal" and half of "strong" and intensity 2
  extrapolates along the same line. Where the levels disagree in sign (RAVDESS *sad* is quieter than neutral
  when normal but louder when strong, because the strong takes are sobbed), the weakest level alone decides;
* accent prominence and declination are set neutral where the F0 range and final movement were measured, since
  those measurements already contain the whole contour;
* a cue the measurement cannot carry back into the renderer keeps the literature rule
  (:func:`emovox.data_prep.prosody_rules.literature_prosody`): tremor, formant shift, pauses (RAVDESS sentences
  have none) and breathiness/tension — the renderer's aperiodicity controls move Praat's HNR by only ~1 dB per
  unit (measured below), too little to map an HNR change onto.

Every field records its provenance (``measured`` or ``literature``) so the corpus documents what came from where.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace

from emovox.data_prep.prosody_rules import LIMITS, ProsodyParams, literature_prosody

__all__ = ["TRANSFER", "CalibratedRule", "intensity_slope", "rules_from_summary", "rules_to_json"]

TRANSFER = {
    "final_st": 0.366,  # measured final move (st) per st of rule final_st
    "tilt_db_oct": 2.30,  # alpha-ratio change (dB) per dB/octave of rule tilt
    "jitter": 0.30,  # Praat local jitter (percentage points) per 0.01 of rule jitter
    "energy_per_st": -0.26,  # loudness change (dB) per semitone of F0 shift (WORLD resynthesis side effect)
    "alpha_per_st": 0.18,  # alpha-ratio change (dB) per semitone of F0 shift
}
"""The renderer's transfer, measured by rendering neutral utterances of three voices (slt_hts, flite_rms,
flite_awb; two sentences each) with one parameter changed at a time and measuring them with
:func:`emovox.eval.prosody.measure_prosody` (medians): final_st 4 → final move +1.47 st; tilt 2 dB/oct → alpha
ratio +4.6 dB; jitter 0.03 → Praat jitter +0.9 points; F0 shift +4 st → loudness −1.03 dB and alpha +0.72 dB;
gain, rate and F0 range pass through unchanged (6.0 dB → 6.0 dB, ×1.25 → ×1.246, ×1.5 → ×1.47);
breathiness 0.4 → HNR −0.5 dB and tension 0.4 → HNR −0.1 dB (too weak to calibrate)."""

MEASURED_FIELDS = ("f0_shift_st", "f0_range", "final_st", "rate", "gain_db", "tilt_db_oct", "jitter")


@dataclass(frozen=True)
class CalibratedRule:
    """A rule at intensity 1 and where each of its fields came from."""

    params: ProsodyParams
    provenance: dict[str, str]  # field -> "measured" | "literature"
    levels: dict[float, int]  # rule intensity -> utterances measured at it


def intensity_slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope through the origin of ``(intensity, value)`` points; if the values disagree in sign,
    the value of the weakest intensity alone (divided by it). NaN values are ignored; no points → NaN."""
    pts = [(x, y) for x, y in points if math.isfinite(y)]
    if not pts:
        return math.nan
    if any(y > 0 for _, y in pts) and any(y < 0 for _, y in pts):
        x, y = min(pts)
        return y / x
    return sum(x * y for x, y in pts) / sum(x * x for x, _ in pts)


def _levels(summary: dict, emotion: str) -> dict[float, dict]:
    cells = {}
    for key, cell in (summary.get("levels") or {}).items():
        name, _, level = key.partition("@")
        if name == emotion:
            cells[float(level)] = cell
    if not cells and emotion in summary.get("emotions", {}):
        cells[1.0] = summary["emotions"][emotion]
    if not cells:
        return {}
    weakest = min(cells)
    return {level / weakest: cell for level, cell in cells.items()}


def _slope(levels: dict[float, dict], key: str, transform=lambda v: v) -> float:
    return intensity_slope([(x, transform(cell[key])) for x, cell in levels.items() if key in cell])


def _log(value: float) -> float:
    return math.log(value) if value > 0 else math.nan


def rules_from_summary(summary: dict, emotions: list[str] | None = None) -> dict[str, CalibratedRule]:
    """Calibrated rules (intensity 1) for ``emotions`` (default: every non-neutral emotion of ``summary``, the
    output of :func:`emovox.eval.corpus.summarise`). An emotion the table lacks gets the literature rule."""
    names = emotions if emotions is not None else [e for e in summary.get("emotions", {}) if e != "neutral"]
    return {name: _calibrate(summary, name) for name in names}


def _calibrate(summary: dict, emotion: str) -> CalibratedRule:
    base = literature_prosody(emotion)
    provenance = {f.name: "literature" for f in fields(ProsodyParams)}
    levels = _levels(summary, emotion)
    if not levels:
        return CalibratedRule(base, provenance, {})
    shift = _slope(levels, "d_f0_st")
    measured = {
        "f0_shift_st": shift,
        "f0_range": math.exp(_slope(levels, "r_f0_range", _log)),
        "final_st": _slope(levels, "d_f0_final_st") / TRANSFER["final_st"],
        "rate": math.exp(_slope(levels, "rate", _log)),
        "gain_db": _slope(levels, "d_energy_db") - TRANSFER["energy_per_st"] * shift,
        "tilt_db_oct": (_slope(levels, "d_tilt_db") - TRANSFER["alpha_per_st"] * shift)
        / TRANSFER["tilt_db_oct"],
        "jitter": max(0.0, _slope(levels, "d_jitter_pct")) * 0.01 / TRANSFER["jitter"],
    }
    changes = {}
    for name, value in measured.items():
        if math.isfinite(value):
            lo, hi = LIMITS.get(name, (-math.inf, math.inf))
            changes[name] = round(min(max(value, lo), hi), 4)
            provenance[name] = "measured"
    # The measured F0 range and final movement already contain the whole contour: the literature's accent
    # prominence and declination would widen the range and pull the end down on top of them (measured on the
    # corpus: sad rendered with a wider range than neutral, against the real narrower one).
    for name, neutral in (("accent_prominence", 1.0), ("f0_slope_st", 0.0)):
        if provenance["f0_range"] == "measured" or provenance["final_st"] == "measured":
            changes[name] = neutral
            provenance[name] = "measured"
    counts = {x: int(cell.get("n", 0)) for x, cell in sorted(levels.items())}
    return CalibratedRule(replace(base, **changes), provenance, counts)


def rules_to_json(rules: dict[str, CalibratedRule], source: str) -> str:
    """The JSON table :func:`emovox.data_prep.prosody_rules.calibrated_rules` reads."""
    table = {
        "format": 1,
        "source": source,
        "transfer": TRANSFER,
        "rules": {
            name: {
                "params": rule.params.as_dict(),
                "measured": sorted(k for k, v in rule.provenance.items() if v == "measured"),
                "utterances_per_intensity": {f"{k:g}": v for k, v in rule.levels.items()},
            }
            for name, rule in rules.items()
        },
    }
    return json.dumps(table, indent=1, sort_keys=True) + "\n"

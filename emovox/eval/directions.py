"""Directions of real speech: does each synthesised emotion change F0, loudness and speaking rate against neutral
the way real emotional speech does? (And, shown beside them but not scored, how its sentences end.)

The real side is the per-level table of ``emovox eval corpus`` on a real corpus (its ``prosody_report.json``,
``levels``: ``"angry@0.5"``, ``"angry@1"`` for RAVDESS's normal and strong takes, each the median change against the
same actor's neutral speech). Its lower level is compared with the voice's intensity 1 and its higher level with
intensity 2. The synthesised side is the median, over sentences and speakers, of each rendering's change against the
neutral rendering of the same sentence: F0 level (semitones), loudness (dB) and speaking rate (neutral's active
duration over the rendering's: > 1 is faster). The final F0 movement (the median F0 of the last 250 ms of voicing
against the utterance's, :mod:`emovox.eval.prosody`) is compared the same way where the real table has it; its rows
carry ``scored: False`` and stay out of the agreement, which covers the three cues of the target.

``real_directions_ravdess.json`` beside this module holds those medians for the 720 RAVDESS clips of actors 01-12
(``shared/data``): numbers only, no recordings and nothing trained on them.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emovox.emotion.spec import parse_emotion_spec

__all__ = [
    "CUES",
    "DEFAULT_REAL_DIRECTIONS",
    "SHOWN_CUES",
    "direction_agreement",
    "load_real_directions",
    "real_directions",
]

CUES = ("f0_st", "energy_db", "rate")
"""The cues whose direction is scored: F0 level change (st), loudness change (dB), rate (× neutral)."""

SHOWN_CUES = ("final_st",)
"""Cues compared and shown but not scored: the final F0 movement's change (st; > 0 = the end rises more than in
neutral). A table without them (written before they were measured) still loads; their rows are left out."""

_CORPUS_KEYS = {"f0_st": "d_f0_st", "energy_db": "d_energy_db", "rate": "rate", "final_st": "d_f0_final_st"}
_BASELINE = {"f0_st": 0.0, "energy_db": 0.0, "rate": 1.0, "final_st": 0.0}

DEFAULT_REAL_DIRECTIONS = Path(__file__).with_name("real_directions_ravdess.json")
"""RAVDESS medians (actors 01-12, normal and strong takes) as written by :func:`real_directions`."""


def real_directions(summary: Mapping[str, Any], source: str = "") -> dict[str, Any]:
    """The real corpus's direction table from an ``emovox eval corpus`` summary (``prosody_report.json``): per
    emotion, its lower level as intensity ``"1"`` and its higher level as ``"2"`` (one level only: intensity 1),
    each cue's median change. Raises ValueError when the summary has no per-level table."""
    levels: dict[str, dict[float, Mapping[str, Any]]] = defaultdict(dict)
    for key, cell in (summary.get("levels") or {}).items():
        emotion, _, level = key.rpartition("@")
        try:
            levels[emotion][float(level)] = cell
        except ValueError:
            continue
    if not levels:
        raise ValueError(
            "the corpus summary has no per-level table (levels: emotion@intensity); it must come from "
            "`emovox eval corpus` on a corpus with discrete intensities, e.g. RAVDESS"
        )
    table: dict[str, dict[str, dict[str, float]]] = {}
    for emotion, cells in levels.items():
        ordered = [cells[k] for k in sorted(cells)]
        picks = {"1": ordered[0]} if len(ordered) == 1 else {"1": ordered[0], "2": ordered[-1]}
        table[emotion] = {
            a: {
                cue: float(cell.get(_CORPUS_KEYS[cue], math.nan))
                for cue in CUES + SHOWN_CUES
                if cue in CUES or _CORPUS_KEYS[cue] in cell
            }
            for a, cell in picks.items()
        }
    shown = [c for c in SHOWN_CUES if any(c in v for per in table.values() for v in per.values())]
    return {"format": 1, "source": source, "cues": [*CUES, *shown], "emotions": table}


def load_real_directions(path: str | Path | None = None) -> dict[str, Any]:
    """A direction table: a file written from :func:`real_directions`, or an ``emovox eval corpus``
    ``prosody_report.json`` (converted); the bundled RAVDESS table when ``path`` is None."""
    path = Path(path) if path is not None else DEFAULT_REAL_DIRECTIONS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a real-speech direction table ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a direction table or an `emovox eval corpus` prosody_report.json")
    if "levels" in data:
        return real_directions(data, source=str(path))
    emotions = data.get("emotions")
    if data.get("format") != 1 or not isinstance(emotions, dict):
        raise ValueError(f"{path}: not a direction table or an `emovox eval corpus` prosody_report.json")
    for emotion, per in emotions.items():
        if not isinstance(per, dict) or not all(
            isinstance(v, dict)
            and all(isinstance(v.get(c), (int, float)) for c in CUES)
            and all(isinstance(v[c], (int, float)) for c in SHOWN_CUES if c in v)
            for v in per.values()
        ):
            raise ValueError(
                f"{path}: '{emotion}' needs {', '.join(CUES)} per intensity (and {', '.join(SHOWN_CUES)}, where "
                "given, as numbers)"
            )
    return data


def _sign(value: float, cue: str) -> int:
    return int(np.sign(value - _BASELINE[cue]))


def direction_agreement(
    renderings: Iterable[Mapping[str, Any]], real: Mapping[str, Any], emotions: Sequence[str] | None = None
) -> dict[str, Any]:
    """Compare synthesised changes against neutral with the real table (:func:`load_real_directions`).

    ``renderings``: rows with ``spec`` (``"angry"`` is intensity 1, ``"angry:2"``), ``sentence``, ``speaker`` and
    ``prosody`` (``f0_st``, ``energy_db``, ``active_s``, optionally ``f0_final_st``), among them ``"neutral"`` of
    each sentence and speaker. Returns ``rows`` (emotion, intensity, cue, synthesised and real median,
    ``agrees``, ``scored``), ``agreement`` (the share of compared scored rows whose sign matches; NaN when none
    could be compared), ``mismatches`` (scored rows) and ``shown_mismatches`` (the unscored ones)."""
    table = real.get("emotions", {})
    rows = list(renderings)
    neutral = {(r["sentence"], r.get("speaker")): r["prosody"] for r in rows if r.get("spec") == "neutral"}
    changes: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        label = _single_label(r.get("spec"))
        base = neutral.get((r.get("sentence"), r.get("speaker")))
        if label is None or base is None or label[0] == "neutral" or label[1] not in (1.0, 2.0):
            continue
        p = r["prosody"]
        cell = changes[(label[0], f"{label[1]:g}")]
        for cue, value in (
            ("f0_st", _diff(p.get("f0_st"), base.get("f0_st"))),
            ("energy_db", _diff(p.get("energy_db"), base.get("energy_db"))),
            ("rate", _ratio(base.get("active_s"), p.get("active_s"))),
            ("final_st", _diff(p.get("f0_final_st"), base.get("f0_final_st"))),
        ):
            if math.isfinite(value):
                cell[cue].append(value)
    wanted = list(emotions) if emotions is not None else sorted({e for e, _ in changes})
    out_rows = []
    for emotion in wanted:
        for a in ("1", "2"):
            real_cell = table.get(emotion, {}).get(a)
            measured = changes.get((emotion, a))
            if real_cell is None or not measured:
                continue
            for cue in [c for c in CUES + SHOWN_CUES if c in real_cell]:
                values = measured.get(cue, [])
                synth = float(np.median(values)) if values else math.nan
                target = float(real_cell[cue])
                ok = math.isfinite(synth) and math.isfinite(target)
                out_rows.append({
                    "emotion": emotion, "intensity": a, "cue": cue, "synthesised": synth, "real": target,
                    "n": len(values), "agrees": (_sign(synth, cue) == _sign(target, cue)) if ok else None,
                    "scored": cue in CUES,
                })  # fmt: skip
    judged = [r["agrees"] for r in out_rows if r["agrees"] is not None and r["scored"]]
    return {
        "source": real.get("source", ""),
        "rows": out_rows,
        "agreement": float(np.mean(judged)) if judged else math.nan,
        "mismatches": _mismatches(out_rows, scored=True),
        "shown_mismatches": _mismatches(out_rows, scored=False),
    }


def _mismatches(rows: Sequence[Mapping[str, Any]], scored: bool) -> list[str]:
    return [
        f"{r['emotion']}:{r['intensity']} {r['cue']}"
        for r in rows
        if r["agrees"] is False and r["scored"] == scored
    ]


def _single_label(spec: Any) -> tuple[str, float] | None:
    """``(emotion, intensity)`` of a one-emotion label spec (``"angry"``, ``"angry:2"``); None for anything else."""
    try:
        parsed = parse_emotion_spec(str(spec))
    except ValueError:
        return None
    if parsed.kind != "label" or len(parsed.components) != 1:
        return None
    return parsed.components[0].name, float(parsed.components[0].intensity)


def _diff(x: Any, y: Any) -> float:
    return float(x) - float(y) if _finite(x) and _finite(y) else math.nan


def _ratio(num: Any, den: Any) -> float:
    return float(num) / float(den) if _finite(num) and _finite(den) and float(den) > 0 else math.nan


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)

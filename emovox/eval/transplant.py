"""Where a recogniser hears emotion: WORLD hybrids of real emotional and neutral takes (``emovox eval transplant``).

For each emotional take *E* of a speaker and that speaker's neutral take *N* of the same text (a corpus such as
RAVDESS, where every sentence is spoken in every emotion), both are analysed with WORLD and aligned by DTW on
their spectral envelopes (log energies in bands, level removed). Then hybrids are synthesised and scored by a
speech-emotion recogniser:

- ``E resynthesised`` / ``N resynthesised``: WORLD's own ceiling and floor.
- ``E prosody on N``: *E*'s F0, timing and frame-by-frame power on *N*'s spectral shape and aperiodicity: what an
  ideal prosody-only conversion (or a rule-built corpus) could reach at best.
- ``+ E mean EQ``: the same plus *E*'s average spectral shape relative to *N* (a global equaliser).
- ``E spectrum on N``: *E*'s spectral shape and aperiodicity on *N*'s F0, timing and power.
- ``E F0 only``, ``E power only``, ``E timing only``: one prosodic dimension of *E* at a time, the rest *N*'s.
- ``+ E per-frame EQ``: ``E prosody on N``, each frame's envelope changed as *E*'s differs from the aligned
  *N* frame, smoothed to formant scale (WORLD's coded envelope, :data:`EQ_DIMENSIONS` coefficients): the
  most a spectral change of *N* can carry.
- ``+ E mean EQ, N contrast x2``: ``+ E mean EQ``, each voiced frame's smoothed envelope twice as far from
  *N*'s average envelope (:func:`expand_contrast`): a rule a corpus could apply to any voice, needing
  nothing of *E* but its mean spectrum.

The table of mean P(target) and accuracy per emotion and hybrid says which signal dimension carries each emotion
for that recogniser. With several recognisers (views: e.g. one on utterance statistics, one on a neural
encoder's features), one table per view: a hybrid that only one view hears is a cue that view's features pick
up, not necessarily what makes the emotion. Nothing is trained here; it is a diagnostic.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "EQ_DIMENSIONS",
    "HYBRIDS",
    "band_log_energies",
    "evaluate_transplant",
    "expand_contrast",
    "hybrids",
    "render_markdown",
    "smooth_envelope",
]

HYBRIDS = (
    "E resynthesised",
    "E prosody on N",
    "+ E mean EQ",
    "E spectrum on N",
    "E F0 only",
    "E power only",
    "E timing only",
    "N resynthesised",
    "+ E per-frame EQ",
    "+ E mean EQ, N contrast x2",
)

EQ_DIMENSIONS = 24
"""Coefficients of WORLD's coded envelope the per-frame hybrids keep: formant-scale detail."""


def band_log_energies(sp: np.ndarray, sample_rate: int, n_bands: int = 40) -> np.ndarray:
    """Log energies ``[frames, n_bands]`` of a WORLD power envelope in log-spaced bands (60 Hz to 0.95 x Nyquist),
    each frame's mean removed so that the alignment follows the spectral shape, not the level."""
    bins = sp.shape[1]
    freqs = np.linspace(0.0, sample_rate / 2.0, bins)
    edges = np.geomspace(60.0, 0.95 * sample_rate / 2.0, n_bands + 1)
    idx = np.clip(np.searchsorted(freqs, edges), 1, bins - 1)
    csum = np.concatenate([np.zeros((sp.shape[0], 1)), np.cumsum(sp, axis=1)], axis=1)
    hi = np.maximum(idx[1:], idx[:-1] + 1)
    energy = (csum[:, hi] - csum[:, idx[:-1]]) / (hi - idx[:-1])
    logs = np.log(np.maximum(energy, 1e-20))
    return logs - logs.mean(axis=1, keepdims=True)


def smooth_envelope(sp: np.ndarray, sample_rate: int, dims: int = EQ_DIMENSIONS) -> np.ndarray:
    """A WORLD power envelope ``[frames, bins]`` smoothed to its first ``dims`` coded coefficients
    (formant-scale detail; the fine structure between them is gone)."""
    from emovox.data_prep.world_prosody import _pyworld

    pw = _pyworld()
    sp = np.ascontiguousarray(np.maximum(sp, 1e-20), dtype=np.float64)
    coded = np.ascontiguousarray(pw.code_spectral_envelope(sp, sample_rate, dims))
    return np.maximum(pw.decode_spectral_envelope(coded, sample_rate, (sp.shape[1] - 1) * 2), 1e-20)


def expand_contrast(
    sp: np.ndarray, voiced: np.ndarray, sample_rate: int, factor: float, dims: int = EQ_DIMENSIONS
) -> np.ndarray:
    """``sp`` (``[frames, bins]``) with each voiced frame's smoothed log envelope ``factor`` times as far from
    the voiced frames' average (:func:`smooth_envelope`), its fine structure and its power unchanged; unvoiced
    frames are left alone. ``factor`` 1 is the identity; below 1 flattens the articulation."""
    if not voiced.any():
        return sp.copy()
    log_smooth = np.log(smooth_envelope(sp, sample_rate, dims))
    deviation = (log_smooth - log_smooth[voiced].mean(axis=0)) * voiced[:, None]
    return _with_power(sp * np.exp((factor - 1.0) * deviation), _frame_power(sp))


def _frame_power(sp: np.ndarray) -> np.ndarray:
    """Each frame's power ``[frames, 1]`` of an envelope ``[frames, bins]`` (floored, to divide by)."""
    return np.maximum(sp.sum(axis=1, keepdims=True), 1e-20)


def _with_power(sp: np.ndarray, power: np.ndarray) -> np.ndarray:
    """``sp`` with each frame scaled to ``power`` (``[frames, 1]``): a change of shape that keeps the level."""
    return sp * (power / _frame_power(sp))


def _align(neutral: Any, emotional: Any) -> tuple[np.ndarray, np.ndarray]:
    """For each frame of E its frame of N, and for each frame of N its frame of E (DTW on band log energies)."""
    from emovox.eval.mcd import dtw

    x = band_log_energies(neutral.sp, neutral.sample_rate)
    y = band_log_energies(emotional.sp, emotional.sample_rate)
    _, path = dtw(x, y)
    e2n = np.zeros(emotional.f0.size, dtype=np.int64)
    n2e = np.zeros(neutral.f0.size, dtype=np.int64)
    for i, j in path:  # the last pair of a frame wins, as along a monotonic path
        e2n[j] = i
        n2e[i] = j
    return e2n, n2e


def hybrids(neutral: Any, emotional: Any) -> dict[str, np.ndarray]:
    """Every hybrid of :data:`HYBRIDS` (float32 audio) of two WORLD analyses at the same rate and frame period."""
    from emovox.data_prep.world_prosody import _pyworld

    if neutral.sample_rate != emotional.sample_rate or neutral.frame_period_ms != emotional.frame_period_ms:
        raise ValueError("both takes must be analysed at the same sample rate and frame period")
    pw = _pyworld()
    sr, period = neutral.sample_rate, neutral.frame_period_ms

    def synth(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray) -> np.ndarray:
        y = pw.synthesize(
            np.ascontiguousarray(f0, dtype=np.float64),
            np.ascontiguousarray(sp, dtype=np.float64),
            np.ascontiguousarray(ap, dtype=np.float64),
            sr,
            period,
        )
        return np.clip(y, -1.0, 1.0).astype(np.float32)

    e2n, n2e = _align(neutral, emotional)
    pow_n, pow_e = _frame_power(neutral.sp), _frame_power(emotional.sp)
    shape_n, shape_e = neutral.sp / pow_n, emotional.sp / pow_e
    voiced_n, voiced_e = neutral.f0 > 0, emotional.f0 > 0
    # E's F0 on N's time axis: where both are voiced E's pitch, N's voicing decisions elsewhere.
    f0_e_on_n = np.where(voiced_n, np.where(emotional.f0[n2e] > 0, emotional.f0[n2e], neutral.f0), 0.0)
    on_e = shape_n[e2n] * pow_e  # N's spectral shape, on E's timeline with E's power
    eq = np.zeros(neutral.sp.shape[1])
    if voiced_e.any() and voiced_n.any():
        eq = np.log(shape_e[voiced_e]).mean(axis=0) - np.log(shape_n[voiced_n]).mean(axis=0)
    on_e_eq = _with_power(on_e * np.exp(eq)[None], pow_e)
    # Per frame: E's smoothed envelope against the aligned N frame's, on N's envelope.
    on_e_frames = _with_power(on_e * smooth_envelope(shape_e, sr) / smooth_envelope(shape_n, sr)[e2n], pow_e)
    contrast = expand_contrast(on_e_eq, voiced_n[e2n], sr, 2.0)
    return {
        "E resynthesised": synth(emotional.f0, emotional.sp, emotional.ap),
        "E prosody on N": synth(emotional.f0, on_e, neutral.ap[e2n]),
        "+ E mean EQ": synth(emotional.f0, on_e_eq, neutral.ap[e2n]),
        "E spectrum on N": synth(neutral.f0, shape_e[n2e] * pow_n, emotional.ap[n2e]),
        "E F0 only": synth(f0_e_on_n, neutral.sp, neutral.ap),
        "E power only": synth(neutral.f0, shape_n * pow_e[n2e], neutral.ap),
        "E timing only": synth(neutral.f0[e2n], neutral.sp[e2n], neutral.ap[e2n]),
        "N resynthesised": synth(neutral.f0, neutral.sp, neutral.ap),
        "+ E per-frame EQ": synth(emotional.f0, on_e_frames, neutral.ap[e2n]),
        "+ E mean EQ, N contrast x2": synth(emotional.f0, contrast, neutral.ap[e2n]),
    }


def _pairs(records: Sequence[dict[str, Any]], speakers: Sequence[str]) -> list[tuple[dict, dict]]:
    """(neutral record, emotional record) of the same speaker and text; among several neutral takes of a text,
    the one with the same position in the speaker's list (RAVDESS: repetition 1 with 1, 2 with 2)."""
    neutral: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r.get("emotion") == "neutral" and (not speakers or r["speaker"] in speakers):
            neutral[r["speaker"], r.get("text", "")].append(r)
    out, seen = [], defaultdict(int)
    for r in records:
        if r.get("emotion") in (None, "neutral") or (speakers and r["speaker"] not in speakers):
            continue
        key = (r["speaker"], r.get("text", ""))
        takes = neutral.get(key)
        if not takes:
            continue
        k = seen[key, r["emotion"], r.get("intensity")]
        seen[key, r["emotion"], r.get("intensity")] += 1
        out.append((takes[k % len(takes)], r))
    return out


def evaluate_transplant(
    records: Sequence[dict[str, Any]],
    ser: Any,
    *,
    speakers: Sequence[str] = (),
    sample_rate: int = 22050,
    f0_method: str = "dio",
    progress: bool = True,
) -> dict[str, Any]:
    """Score every hybrid of every (neutral, emotional) pair of ``records`` (manifest rows) with ``ser``: one
    recogniser, or several as ``{name: recogniser}`` (views of the same clips; the first is the headline and
    gives ``table``, every one is in ``views``)."""
    from tqdm import tqdm

    from emovox.audio.io import load_audio
    from emovox.data_prep.world_prosody import analyse
    from emovox.ser.infer import add_manifest_references

    views = dict(ser) if isinstance(ser, Mapping) else {"recogniser": ser}
    if not views:
        raise ValueError("no recogniser to score the hybrids with")
    pairs = _pairs(records, speakers)
    declared = [set(v.emotions) for v in views.values() if getattr(v, "emotions", None)]
    known = set.intersection(*declared) if declared else set()
    pairs = [(n, e) for n, e in pairs if not known or e["emotion"] in known]
    if not pairs:
        raise ValueError(
            "no (neutral, emotional) pair of the same speaker and text in the manifest"
            + (f" for speakers {', '.join(speakers)}" if speakers else "")
        )
    for view in views.values():
        add_manifest_references(view, records, [e["speaker"] for _, e in pairs], sample_rate)
    cache: dict[str, Any] = {}

    def analysis(r: dict) -> Any:
        if r["audio"] not in cache:
            cache[r["audio"]] = analyse(
                load_audio(r["audio"], sample_rate)[0], sample_rate, f0_method=f0_method
            )
        return cache[r["audio"]]

    scores: dict[tuple[str, str, str], list[tuple[float, bool]]] = defaultdict(list)
    for n, e in tqdm(pairs, desc="transplant", unit="pair", disable=not progress):
        clips = hybrids(analysis(n), analysis(e))
        for name, view in views.items():
            preds = view.predict_batch(
                list(clips.values()), sample_rate, speakers=[e["speaker"]] * len(clips)
            )
            for hybrid, p in zip(clips, preds):
                scores[name, e["emotion"], hybrid].append(
                    (float(p.probs.get(e["emotion"], math.nan)), p.label == e["emotion"])
                )
        cache.pop(e["audio"], None)  # each emotional take is used once; neutral takes are shared
    emotions = sorted({e["emotion"] for _, e in pairs})

    def cell(values: list[tuple[float, bool]]) -> dict[str, float]:
        return {
            "p_target": float(np.nanmean([p for p, _ in values])),
            "accuracy": float(np.mean([h for _, h in values])),
        }

    tables = {}
    for name in views:
        table = {e: {h: cell(scores[name, e, h]) for h in HYBRIDS} for e in emotions}
        table["all"] = {h: cell([v for e in emotions for v in scores[name, e, h]]) for h in HYBRIDS}
        tables[name] = table
    return {
        "pairs": len(pairs),
        "speakers": sorted({e["speaker"] for _, e in pairs}),
        "per_emotion_pairs": {e: sum(p["emotion"] == e for _, p in pairs) for e in emotions},
        "table": next(iter(tables.values())),
        "views": tables,
    }


def render_markdown(res: dict[str, Any]) -> str:
    views = res.get("views") or {"recogniser": res["table"]}
    lines = [
        "# Where the recogniser hears emotion (WORLD hybrids)",
        "",
        f"{res['pairs']} emotional takes of speakers {', '.join(res['speakers'])}, each paired with the same speaker's "
        "neutral take of the same text. Cells: mean P(target) / accuracy.",
    ]
    for name, table in views.items():
        if len(views) > 1:
            lines += ["", f"## {name}"]
        lines += [
            "",
            "| emotion | pairs | " + " | ".join(HYBRIDS) + " |",
            "|---|---|" + "---|" * len(HYBRIDS),
        ]
        for e, row in table.items():
            n = res["per_emotion_pairs"].get(e, res["pairs"])
            cells = " | ".join(f"{row[h]['p_target']:.2f} / {row[h]['accuracy']:.2f}" for h in HYBRIDS)
            lines.append(f"| {e} | {n} | {cells} |")
    return "\n".join(lines) + "\n"

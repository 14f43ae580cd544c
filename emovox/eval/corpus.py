"""Measure the prosody an emotional corpus actually carries, per emotion (and intensity) and per ADV axis.

Two kinds of corpus are measured the same way, with :func:`emovox.eval.prosody.measure_prosody` (the one prosody
measurement of emovox):

* a **synthetic corpus folder** (``prosody.jsonl`` as written by ``emovox synthesize-corpus``): every utterance is
  compared with the neutral rendering of the same (voice, sentence) group;
* a **real labelled corpus** (a ``manifest.jsonl`` of ``emovox prep``, e.g. RAVDESS): every utterance is compared
  with the same speaker's own neutral speech — the mean of that speaker's neutral clips of the same text when
  there are any, else of all that speaker's neutral clips.

``d_*`` are differences (semitones, dB, share), ``rate`` is the reference's active duration over this one (> 1 =
faster), ``r_f0_range`` the ratio of F0 ranges. Rows are summarised per emotion and, where the corpus has discrete
intensities, per ``emotion@intensity``; :mod:`emovox.data_prep.calibration` turns such a table into prosody rules.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from emovox.audio.io import load_audio
from emovox.eval.prosody import measure_prosody
from emovox.fileio import atomic_path, atomic_write_text

__all__ = [
    "LABELS",
    "MEASURES",
    "RELATIVE",
    "measure_corpus",
    "measure_file",
    "measure_manifest",
    "summarise",
    "write_report",
]

logger = logging.getLogger(__name__)

MEASURES = (
    "f0_st",
    "f0_range_st",
    "f0_final_st",
    "f0_roughness_st",
    "active_s",
    "pause_ratio",
    "energy_db",
    "tilt_db",
    "hammarberg_db",
    "jitter",
    "shimmer_db",
    "hnr_db",
)
"""The absolute measures kept per utterance (names of :class:`emovox.eval.prosody.Prosody`)."""

_DIFFERENCES = ("f0_st", "f0_range_st", "f0_final_st", "f0_roughness_st", "pause_ratio", "energy_db", "tilt_db",
                "hammarberg_db", "shimmer_db", "hnr_db")  # fmt: skip

RELATIVE = (
    "d_f0_st",
    "d_f0_range_st",
    "r_f0_range",
    "d_f0_final_st",
    "d_f0_roughness_st",
    "rate",
    "d_pause_ratio",
    "d_energy_db",
    "d_tilt_db",
    "d_hammarberg_db",
    "d_jitter_pct",
    "d_shimmer_db",
    "d_hnr_db",
)
LABELS = {
    "d_f0_st": "F0 level Δ (st)",
    "d_f0_range_st": "F0 range Δ (st)",
    "r_f0_range": "F0 range (× neutral)",
    "d_f0_final_st": "final F0 move Δ (st)",
    "d_f0_roughness_st": "F0 roughness Δ (st)",
    "rate": "rate (× neutral)",
    "d_pause_ratio": "pause share Δ",
    "d_energy_db": "loudness Δ (dB)",
    "d_tilt_db": "alpha ratio Δ (dB)",
    "d_hammarberg_db": "Hammarberg Δ (dB)",
    "d_jitter_pct": "jitter Δ (% points)",
    "d_shimmer_db": "shimmer Δ (dB)",
    "d_hnr_db": "HNR Δ (dB)",
}
_RATIOS = {"rate", "r_f0_range"}


def measure_file(args: tuple[str, int, bool]) -> dict[str, float]:
    """The absolute measures of one audio file: ``(path, sample_rate, voice_quality)``."""
    path, sample_rate, quality = args
    audio, _ = load_audio(path, sample_rate)
    p = measure_prosody(audio, sample_rate, quality=quality).to_dict()
    return {m: float(p[m]) for m in MEASURES}


def _measure_all(jobs: list, workers: int, progress: bool) -> list[dict[str, float]]:
    from tqdm import tqdm

    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(tqdm(pool.map(measure_file, jobs, chunksize=8), total=len(jobs), disable=not progress,
                             desc="measure", unit="utt"))  # fmt: skip
    return [measure_file(j) for j in tqdm(jobs, disable=not progress, desc="measure", unit="utt")]


def _load_records(corpus_dir: Path) -> list[dict]:
    prosody = corpus_dir / "prosody.jsonl"
    if not prosody.is_file():
        raise ValueError(
            f"{corpus_dir}: no prosody.jsonl (is this a folder built by 'emovox synthesize-corpus'?)"
        )
    return [json.loads(line) for line in prosody.read_text().splitlines() if line.strip()]


def measure_corpus(
    corpus_dir: str | os.PathLike,
    *,
    workers: int = 1,
    limit_groups: int | None = None,
    sample_rate: int = 22050,
    quality: bool = True,
    progress: bool = False,
) -> list[dict]:
    """Measure every utterance of a synthetic corpus folder (or those of the first ``limit_groups`` groups);
    one row per utterance, relative to the neutral rendering of its group."""
    corpus_dir = Path(corpus_dir)
    records = _load_records(corpus_dir)
    if limit_groups is not None:
        keep = set(list(dict.fromkeys(r["group"] for r in records))[:limit_groups])
        records = [r for r in records if r["group"] in keep]
    jobs = [(str(corpus_dir / r["audio"]), sample_rate, quality) for r in records]
    rows = [{**_row_keys(r), **m} for r, m in zip(records, _measure_all(jobs, workers, progress))]
    neutral = {r["group"]: r for r in rows if r["kind"] == "neutral"}
    for r in rows:
        _add_relative(r, neutral.get(r["group"]))
    return rows


def measure_manifest(
    manifest: str | os.PathLike,
    *,
    workers: int = 1,
    limit: int | None = None,
    sample_rate: int = 22050,
    quality: bool = True,
    progress: bool = False,
) -> list[dict]:
    """Measure every labelled utterance of a manifest (``emovox prep``) relative to the same speaker's neutral
    speech (same text where the speaker has neutral clips of it). One row per utterance."""
    path = Path(manifest)
    if not path.is_file():
        raise ValueError(f"manifest not found: {path}")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [r for r in records if r.get("emotion")][:limit]
    if not records:
        raise ValueError(f"{path}: no utterances with an emotion label")
    jobs = [(r["audio"], sample_rate, quality) for r in records]
    rows = []
    for r, m in zip(records, _measure_all(jobs, workers, progress)):
        adv = r.get("adv") or [math.nan] * 3
        rows.append({"utt_id": r["utt_id"], "group": f"{r['speaker']}|{r.get('text', '')}", "speaker": r["speaker"],
                     "kind": "neutral" if r["emotion"] == "neutral" else "category", "emotion": r["emotion"],
                     "intensity": r.get("intensity"), "a": adv[0], "d": adv[1], "v": adv[2], **m})  # fmt: skip
    by_group, by_speaker = _neutral_means(rows, "group"), _neutral_means(rows, "speaker")
    skipped = set()
    for r in rows:
        ref = by_group.get(r["group"]) or by_speaker.get(r["speaker"])
        if ref is None:
            skipped.add(r["speaker"])
        _add_relative(r, ref)
    if skipped:
        logger.warning(
            "no neutral speech for speaker(s) %s: their rows have no relative measures", sorted(skipped)
        )
    return rows


def _neutral_means(rows: list[dict], key: str) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["kind"] == "neutral":
            groups.setdefault(r[key], []).append(r)
    return {k: {m: float(np.nanmean([g[m] for g in v])) if any(np.isfinite(g[m]) for g in v) else math.nan
                for m in MEASURES} for k, v in groups.items()}  # fmt: skip


def _row_keys(r: dict) -> dict:
    a, d, v = r["adv"]
    return {
        "utt_id": r["utt_id"], "group": r["group"], "speaker": r["speaker"], "kind": r["kind"],
        "emotion": r["emotion"] or "adv", "intensity": r["intensity"], "a": a, "d": d, "v": v,
    }  # fmt: skip


def _add_relative(row: dict, ref: dict | None) -> None:
    """Add the ``d_*``/ratio measures of ``row`` against the reference measures ``ref`` (NaN without one)."""
    nan = math.nan
    for m in _DIFFERENCES:
        row[f"d_{m}"] = row[m] - ref[m] if ref else nan
    row["d_jitter_pct"] = 100.0 * (row["jitter"] - ref["jitter"]) if ref else nan
    row["rate"] = ref["active_s"] / row["active_s"] if ref and row["active_s"] > 0 else nan
    ok = ref and ref["f0_range_st"] > 0 and math.isfinite(row["f0_range_st"])
    row["r_f0_range"] = row["f0_range_st"] / ref["f0_range_st"] if ok else nan


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def _cell(sel: list[dict]) -> dict:
    entry = {"n": len(sel), "mean_intensity": None}
    intens = [r["intensity"] for r in sel if r["intensity"] is not None]
    if intens:
        entry["mean_intensity"] = float(np.mean(intens))
    for m in RELATIVE:
        vals = np.array([r[m] for r in sel], dtype=float)
        vals = vals[np.isfinite(vals)]
        # medians: robust to the odd pitch-tracking failure (octave jumps in very low, breathy speech)
        entry[m] = float(np.median(vals)) if vals.size else math.nan
        q1, q3 = np.percentile(vals, [25, 75]) if vals.size else (math.nan,) * 2
        entry[f"{m}_iqr"] = [float(q1), float(q3)]
    return entry


def _emotion_table(rows: list[dict]) -> dict[str, dict]:
    emotions = emotion_order(list(dict.fromkeys(r["emotion"] for r in rows)))
    return {e: _cell([r for r in rows if r["emotion"] == e]) for e in emotions}


def _level_table(rows: list[dict]) -> dict[str, dict]:
    """Per ``emotion@intensity`` for corpora with a few discrete intensities (e.g. RAVDESS normal/strong)."""
    levels = {r["intensity"] for r in rows if r["intensity"] is not None}
    if not levels or len(levels) > 4:
        return {}
    out = {}
    for e in emotion_order(list(dict.fromkeys(r["emotion"] for r in rows))):
        for level in sorted(levels):
            sel = [r for r in rows if r["emotion"] == e and r["intensity"] == level]
            if sel:
                out[f"{e}@{level:g}"] = _cell(sel)
    return out


def _reference(rows: list[dict]) -> dict[str, float]:
    """Medians of the absolute measures over the neutral utterances."""
    sel = [r for r in rows if r["kind"] == "neutral"]
    out = {}
    for m in MEASURES:
        vals = np.array([r[m] for r in sel], dtype=float)
        vals = vals[np.isfinite(vals)]
        out[m] = float(np.median(vals)) if vals.size else math.nan
    return out


def _adv_table(rows: list[dict]) -> dict[str, dict]:
    """Per measure: least-squares slope on (a, d, v) over the ADV-only utterances, R², and per-axis Pearson r."""
    sel = [r for r in rows if r["kind"] == "adv"]
    out: dict[str, dict] = {}
    if len(sel) < 5:
        return out
    x = np.array([[r["a"], r["d"], r["v"]] for r in sel], dtype=float)
    for m in RELATIVE:
        y = np.array([r[m] for r in sel], dtype=float)
        ok = np.isfinite(y)
        design = np.column_stack([x[ok], np.ones(ok.sum())])
        coef, *_ = np.linalg.lstsq(design, y[ok], rcond=None)
        resid = y[ok] - design @ coef
        r2 = 1.0 - resid.var() / max(y[ok].var(), 1e-12)
        out[m] = {
            "slope": dict(zip(("a", "d", "v"), map(float, coef[:3]))),
            "r2": float(r2),
            "r": {axis: _pearson(x[:, i], y) for i, axis in enumerate(("a", "d", "v"))},
        }
    return out


def summarise(rows: list[dict]) -> dict:
    """Per-emotion (and per emotion@intensity) medians and quartiles of the relative measures, the neutral
    reference, ADV-axis regressions and arousal correlations."""
    arousal = np.array([r["a"] for r in rows], dtype=float)
    f0 = np.array([r["d_f0_st"] for r in rows], dtype=float)
    adv_rows = [r for r in rows if r["kind"] == "adv"]
    return {
        "utterances": len(rows),
        "emotions": _emotion_table(rows),
        "levels": _level_table(rows),
        "reference": _reference(rows),
        "adv_axes": _adv_table(rows),
        "arousal_f0_r_all": _pearson(arousal, f0),
        "arousal_f0_r_adv": _pearson(
            np.array([r["a"] for r in adv_rows], dtype=float),
            np.array([r["d_f0_st"] for r in adv_rows], dtype=float),
        ),
    }


def _fmt(value: float, ratio: bool) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.2f}" if ratio else f"{value:+.2f}"


def _table(title: str, table: dict[str, dict]) -> list[str]:
    cols = list(RELATIVE)
    lines = [f"| {title} | n | mean intensity | " + " | ".join(LABELS[c] for c in cols) + " |",
             "|" + "---|" * (len(cols) + 3)]  # fmt: skip
    for name, e in table.items():
        inten = "" if e["mean_intensity"] is None else f"{e['mean_intensity']:.2f}"
        vals = " | ".join(_fmt(e[c], c in _RATIOS) for c in cols)
        lines.append(f"| {name} | {e['n']} | {inten} | {vals} |")
    return lines


def _markdown(summary: dict) -> str:
    lines = _table("emotion (medians)", summary["emotions"])
    if summary.get("levels"):
        lines += ["", "Per emotion and intensity:", "", *_table("emotion@intensity", summary["levels"])]
    if summary["adv_axes"]:
        lines += [
            "",
            "ADV-only utterances: slope per unit of each axis (least squares on a, d, v), R², Pearson r with arousal",
            "",
        ]
        lines += ["| measure | slope a | slope d | slope v | R² | r(arousal) |", "|---|---|---|---|---|---|"]
        for m, e in summary["adv_axes"].items():
            s = e["slope"]
            lines.append(
                f"| {LABELS[m]} | {s['a']:+.2f} | {s['d']:+.2f} | {s['v']:+.2f} | {e['r2']:.2f} | {e['r']['a']:+.2f} |"
            )
        lines += ["", f"Pearson r (F0 level Δ vs requested arousal): ADV-only {summary['arousal_f0_r_adv']:.3f}, "
                  f"all utterances {summary['arousal_f0_r_all']:.3f}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emotions = [e for e in summary["emotions"] if e != "adv"]
    panels = ("d_f0_st", "d_f0_range_st", "rate", "d_energy_db", "d_tilt_db", "d_hnr_db")
    fig, axes = plt.subplots(2, len(panels), figsize=(22, 7.5))
    levels = summary.get("levels") or {}
    bottom = (
        "per emotion@intensity" if levels else "ADV-only utterances vs requested arousal (colour = valence)"
    )
    fig.suptitle(f"top: per emotion, median and quartiles vs neutral speech; bottom: {bottom}")
    for ax, m in zip(axes[0], panels):
        _bars(ax, {e: summary["emotions"][e] for e in emotions}, m)
    adv = [r for r in rows if r["kind"] == "adv"]
    for ax, m in zip(axes[1], panels):
        if levels:
            _bars(ax, levels, m)
            continue
        if adv:
            x = np.array([r["a"] for r in adv])
            y = np.array([r[m] for r in adv])
            ax.scatter(x, y, s=6, c=[r["v"] for r in adv], cmap="coolwarm", vmin=-1, vmax=1)
            ok = np.isfinite(y)
            if ok.sum() > 2:
                k, b = np.polyfit(x[ok], y[ok], 1)
                ax.plot([-1, 1], [b - k, b + k], "k-", lw=1)
        ax.set_xlabel("requested arousal")
        ax.set_title(LABELS[m])
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=60, format="png")
    plt.close(fig)


def _bars(ax, table: dict[str, dict], m: str) -> None:
    names = list(table)
    med = np.array([table[e][m] for e in names])
    err = np.abs(np.array([table[e][f"{m}_iqr"] for e in names]).T - med)
    base = 1.0 if m in _RATIOS else 0.0
    ax.bar(names, np.nan_to_num(med - base), bottom=base, yerr=np.nan_to_num(err), color="tab:blue", alpha=0.8,
           capsize=2)  # fmt: skip
    ax.axhline(base, color="k", lw=0.8)
    ax.set_title(LABELS[m])
    ax.tick_params(axis="x", rotation=70)


def write_report(rows: list[dict], summary: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``prosody_report.md``, ``prosody_report.json`` and ``prosody_report.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / f"prosody_report.{k}" for k in ("md", "json", "png")}
    atomic_write_text(paths["md"], _markdown(summary))
    atomic_write_text(paths["json"], json.dumps(summary, indent=1))
    _plot(rows, summary, paths["png"])
    return paths


def emotion_order(names: Sequence[str]) -> list[str]:
    """Basic emotions first, in the canonical order, then the rest."""
    first = ["neutral", "happy", "sad", "angry", "fear", "surprise", "disgust", "calm", "sleepy", "adv"]
    return [n for n in first if n in names] + [n for n in names if n not in first]

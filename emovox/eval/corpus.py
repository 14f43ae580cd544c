"""Measure the prosody an emotional corpus actually carries, per emotion and per ADV axis.

For every utterance of a corpus folder (``metadata.csv`` + ``prosody.jsonl`` as written by
``emovox synthesize-corpus``) this measures, with Praat's autocorrelation pitch tracker (parselmouth) and plain
numpy — independent of the WORLD analysis that generated the audio:

* ``f0_mean_st``: mean F0 of voiced frames, semitones re 100 Hz; ``f0_range_st``: 95th − 5th percentile;
* ``f0_final_st``: median F0 of the last 250 ms of voicing minus the utterance median (final rise > 0);
* ``f0_roughness_st``: median absolute frame-to-frame F0 change (10 ms frames; jitter/tremor raise it);
* ``active_s``: duration of speech frames (20 ms frames within 40 dB of the loudest), ``voiced_rate``: voiced
  segments per active second (a syllable-rate proxy);
* ``energy_db``: RMS level of the speech frames, dBFS; ``alpha_db``: alpha ratio, energy 1–5 kHz over
  50 Hz–1 kHz of voiced frames (Patel et al. 2011; higher = flatter spectral tilt, more vocal effort).

Utterances are compared with the neutral rendering of the same (voice, sentence) group when the corpus has one:
``d_*`` are differences, ``rate`` is the neutral's active duration over this one (> 1 = faster).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from emovox.audio.io import load_audio
from emovox.fileio import atomic_path, atomic_write_text

__all__ = ["MEASURES", "measure_audio", "measure_corpus", "summarise", "write_report"]

logger = logging.getLogger(__name__)

MEASURES = (
    "f0_mean_st",
    "f0_range_st",
    "f0_final_st",
    "f0_roughness_st",
    "voiced_rate",
    "energy_db",
    "alpha_db",
)
RELATIVE = (
    "d_f0_mean_st",
    "d_f0_range_st",
    "d_f0_final_st",
    "d_f0_roughness_st",
    "rate",
    "d_energy_db",
    "d_alpha_db",
)
LABELS = {
    "d_f0_mean_st": "F0 level Δ (st)",
    "d_f0_range_st": "F0 range Δ (st)",
    "d_f0_final_st": "final F0 move Δ (st)",
    "d_f0_roughness_st": "F0 roughness Δ (st)",
    "rate": "rate (× neutral)",
    "d_energy_db": "energy Δ (dB)",
    "d_alpha_db": "alpha ratio Δ (dB)",
}


def _frames_db(audio: np.ndarray, hop: int) -> np.ndarray:
    n = audio.shape[0] // hop
    energy = np.mean(np.square(audio[: n * hop].reshape(n, hop), dtype=np.float64), axis=1)
    return 10.0 * np.log10(np.maximum(energy, 1e-20))


def _pitch_st(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    import parselmouth

    pitch = parselmouth.Sound(audio.astype(np.float64), sample_rate).to_pitch_ac(
        time_step=0.01, pitch_floor=50.0, pitch_ceiling=900.0
    )
    f0 = pitch.selected_array["frequency"]
    st = np.full(f0.shape, np.nan)
    st[f0 > 0] = 12.0 * np.log2(f0[f0 > 0] / 100.0)
    return st


def _alpha_ratio(audio: np.ndarray, sample_rate: int, voiced_mask_10ms: np.ndarray) -> float:
    n_fft, hop = 1024, int(0.01 * sample_rate)
    n = min((audio.shape[0] - n_fft) // hop, voiced_mask_10ms.shape[0])
    if n <= 0:
        return float("nan")
    idx = np.arange(n)[voiced_mask_10ms[:n]] * hop
    if idx.size == 0:
        return float("nan")
    frames = np.stack([audio[i : i + n_fft] for i in idx]) * np.hanning(n_fft)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    low = power[(freqs >= 50) & (freqs < 1000)].sum()
    high = power[(freqs >= 1000) & (freqs < 5000)].sum()
    return float(10.0 * np.log10(max(high, 1e-20) / max(low, 1e-20)))


def measure_audio(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """The absolute prosodic measures of one utterance ``[T]`` (see the module docstring)."""
    st = _pitch_st(audio, sample_rate)
    voiced = ~np.isnan(st)
    vals = st[voiced]
    db = _frames_db(audio, int(0.02 * sample_rate))
    active = db >= db.max() + -40.0
    active_s = float(active.sum() * 0.02)
    energy = float(10.0 * np.log10(np.mean(10.0 ** (db[active] / 10.0))))
    starts = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int)])) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate([voiced.astype(int), [0]])) == -1) + 1
    n_segments = int(np.sum((ends - starts) >= 3))
    if vals.size < 3:
        f0 = dict.fromkeys(("f0_mean_st", "f0_range_st", "f0_final_st", "f0_roughness_st"), float("nan"))
    else:
        steps = np.abs(np.diff(st))
        f0 = {
            "f0_mean_st": float(vals.mean()),
            "f0_range_st": float(np.percentile(vals, 95) - np.percentile(vals, 5)),
            "f0_final_st": float(np.median(vals[-25:]) - np.median(vals)),
            "f0_roughness_st": float(np.nanmedian(steps)) if np.isfinite(steps).any() else float("nan"),
        }
    return {
        **f0,
        "active_s": active_s,
        "voiced_rate": n_segments / max(active_s, 1e-3),
        "energy_db": energy,
        "alpha_db": _alpha_ratio(audio, sample_rate, voiced),
    }


def _measure_file(args: tuple[str, int]) -> dict[str, float]:
    path, sample_rate = args
    audio, _ = load_audio(path, sample_rate)
    return measure_audio(audio, sample_rate)


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
    progress: bool = False,
) -> list[dict]:
    """Measure every utterance (or those of the first ``limit_groups`` groups); one row per utterance."""
    from tqdm import tqdm

    corpus_dir = Path(corpus_dir)
    records = _load_records(corpus_dir)
    if limit_groups is not None:
        keep = list(dict.fromkeys(r["group"] for r in records))[:limit_groups]
        records = [r for r in records if r["group"] in set(keep)]
    jobs = [(str(corpus_dir / r["audio"]), sample_rate) for r in records]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            measured = list(
                tqdm(pool.map(_measure_file, jobs, chunksize=8), total=len(jobs), disable=not progress)
            )
    else:
        measured = [_measure_file(j) for j in tqdm(jobs, disable=not progress)]
    rows = [{**_row_keys(r), **m} for r, m in zip(records, measured)]
    return _add_relative(rows)


def _row_keys(r: dict) -> dict:
    a, d, v = r["adv"]
    return {
        "utt_id": r["utt_id"], "group": r["group"], "speaker": r["speaker"], "kind": r["kind"],
        "emotion": r["emotion"] or "adv", "intensity": r["intensity"], "a": a, "d": d, "v": v,
    }  # fmt: skip


def _add_relative(rows: list[dict]) -> list[dict]:
    neutral = {r["group"]: r for r in rows if r["kind"] == "neutral"}
    for r in rows:
        ref = neutral.get(r["group"])
        for m in MEASURES:
            if m != "voiced_rate":
                r[f"d_{m}"] = r[m] - ref[m] if ref else float("nan")
        r["rate"] = ref["active_s"] / r["active_s"] if ref and r["active_s"] > 0 else float("nan")
    return rows


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def _emotion_table(rows: list[dict]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for emotion in emotion_order(list(dict.fromkeys(r["emotion"] for r in rows))):
        sel = [r for r in rows if r["emotion"] == emotion]
        entry = {"n": len(sel), "mean_intensity": None}
        intens = [r["intensity"] for r in sel if r["intensity"] is not None]
        if intens:
            entry["mean_intensity"] = float(np.mean(intens))
        for m in RELATIVE:
            vals = np.array([r[m] for r in sel], dtype=float)
            vals = vals[np.isfinite(vals)]
            # medians: robust to the odd pitch-tracking failure (octave jumps in very low, breathy speech)
            entry[m] = float(np.median(vals)) if vals.size else float("nan")
            q1, q3 = np.percentile(vals, [25, 75]) if vals.size else (float("nan"),) * 2
            entry[f"{m}_iqr"] = [float(q1), float(q3)]
        table[emotion] = entry
    return table


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
    """Per-emotion medians (and quartiles) of the relative measures, ADV-axis regressions, arousal correlations."""
    arousal = np.array([r["a"] for r in rows], dtype=float)
    f0 = np.array([r["d_f0_mean_st"] for r in rows], dtype=float)
    adv_rows = [r for r in rows if r["kind"] == "adv"]
    return {
        "utterances": len(rows),
        "emotions": _emotion_table(rows),
        "adv_axes": _adv_table(rows),
        "arousal_f0_r_all": _pearson(arousal, f0),
        "arousal_f0_r_adv": _pearson(
            np.array([r["a"] for r in adv_rows], dtype=float),
            np.array([r["d_f0_mean_st"] for r in adv_rows], dtype=float),
        ),
    }


def _markdown(summary: dict) -> str:
    cols = list(RELATIVE)
    head = "| emotion (medians) | n | mean intensity | " + " | ".join(LABELS[c] for c in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 3)]
    for emotion, e in summary["emotions"].items():
        inten = "" if e["mean_intensity"] is None else f"{e['mean_intensity']:.2f}"
        vals = " | ".join(f"{e[c]:+.2f}" if c != "rate" else f"{e[c]:.2f}" for c in cols)
        lines.append(f"| {emotion} | {e['n']} | {inten} | {vals} |")
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
    panels = ("d_f0_mean_st", "d_f0_range_st", "rate", "d_energy_db", "d_alpha_db")
    fig, axes = plt.subplots(2, 5, figsize=(19, 7.5))
    fig.suptitle(
        "top: per emotion, median and quartiles vs the neutral rendering of the same sentence; "
        "bottom: ADV-only utterances vs requested arousal (colour = valence)"
    )
    for ax, m in zip(axes[0], panels):
        med = np.array([summary["emotions"][e][m] for e in emotions])
        err = np.abs(np.array([summary["emotions"][e][f"{m}_iqr"] for e in emotions]).T - med)
        base = 1.0 if m == "rate" else 0.0
        ax.bar(emotions, med - base, bottom=base, yerr=err, color="tab:blue", alpha=0.8, capsize=2)
        ax.axhline(base, color="k", lw=0.8)
        ax.set_title(LABELS[m])
        ax.tick_params(axis="x", rotation=60)
    adv = [r for r in rows if r["kind"] == "adv"]
    for ax, m in zip(axes[1], panels):
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

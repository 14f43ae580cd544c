"""PNG plots of an evaluation result (matplotlib, Agg backend; nothing is shown on screen)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from emovox.fileio import atomic_path

__all__ = ["write_plots"]


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def _rows_normalised(m: list[list[int]]) -> np.ndarray:
    a = np.asarray(m, dtype=float)
    if a.size == 0:
        return a
    return a / np.maximum(a.sum(axis=1, keepdims=True), 1)


def _confusion(res: dict[str, Any], plt: Any) -> Any:
    acc = res["accuracy"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, title in ((axes[0], "synth", "synthesised"), (axes[1], "real", "store recordings")):
        m = _rows_normalised(acc[f"{key}_confusion"])
        ax.imshow(m if m.size else np.zeros((1, 1)), vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(
            range(len(acc["recogniser_classes"])), acc["recogniser_classes"], rotation=45, ha="right"
        )
        ax.set_yticks(range(len(acc["emotions"])), acc["emotions"])
        for (i, j), v in np.ndenumerate(m):
            ax.text(
                j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.5 else "black"
            )
        value = acc[f"{key}_accuracy"]
        ax.set_title(f"{title}: accuracy {value:.2f}" if math.isfinite(value) else f"{title}: n/a")
        ax.set_xlabel("recognised")
        ax.set_ylabel("requested" if key == "synth" else "labelled")
    return fig


def _intensity(res: dict[str, Any], plt: Any) -> Any:
    inten = res["intensity"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = (
        ("p_target", "P(target) (re sentence mean)"),
        ("f0_st", "F0 level Δ (st)"),
        ("energy_db", "energy Δ (dB)"),
    )
    for ax, (m, label) in zip(axes, panels):
        for e, table in inten["per_emotion"].items():
            ax.plot(
                inten["intensities"],
                table[m]["mean_by_intensity"],
                marker="o",
                label=f"{e} ρ={table[m]['rho']:.2f}",
            )
        ax.set_xlabel("requested intensity")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    return fig


def _adv(res: dict[str, Any], plt: Any) -> Any:
    adv = res["adv"]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for col, (axis, table) in enumerate(adv["axes"].items()):
        for m in ("ser_arousal", "ser_dominance", "ser_valence"):
            axes[0, col].plot(
                adv["grid"][axis], table[m]["mean_by_value"], marker="o", label=f"{m} r={table[m]['r']:.2f}"
            )
        for m in ("f0_st", "f0_range_st", "energy_db", "tilt_db"):
            axes[1, col].plot(
                adv["grid"][axis], table[m]["mean_by_value"], marker="o", label=f"{m} r={table[m]['r']:.2f}"
            )
        axes[0, col].set_title(f"requested {axis}")
        axes[1, col].set_xlabel(f"requested {axis}")
        for ax in axes[:, col]:
            ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("recogniser ADV (re sentence mean)")
    axes[1, 0].set_ylabel("st / dB (re sentence mean)")
    return fig


def _mixtures(res: dict[str, Any], plt: Any) -> Any:
    pairs = res["mixtures"]["pairs"]
    fig, axes = plt.subplots(1, max(1, len(pairs)), figsize=(5 * max(1, len(pairs)), 4), squeeze=False)
    for ax, (name, c) in zip(axes[0], pairs.items()):
        ax.plot(c["weights"], c["p_a"], marker="o", label=f"P({c['a']})")
        ax.plot(c["weights"], c["p_b"], marker="s", label=f"P({c['b']})")
        ax.set_xlabel(f"w in {c['a']}:w+{c['b']}:(1-w)")
        ax.set_ylim(0, 1)
        ax.set_title(name)
        ax.legend()
    return fig


def _polarity(res: dict[str, Any], plt: Any) -> Any:
    pol = res["polarity"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(pol["per_emotion"])
    ax.bar(names, [pol["per_emotion"][e] for e in names])
    ax.axhline(0.9, color="red", linestyle="--", label="target 0.9")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of -e moving opposite to e")
    ax.legend()
    return fig


def _wer(res: dict[str, Any], plt: Any) -> Any:
    w = res["wer"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(w["per_emotion"])
    ax.bar(names, [w["per_emotion"][e] for e in names], label="synthesised")
    ax.axhline(w["real"]["wer"], color="black", label="store recordings")
    ax.axhline(1.5 * w["real"]["wer"], color="red", linestyle="--", label="1.5 × recordings")
    ax.set_ylabel("WER")
    ax.legend()
    return fig


def write_plots(res: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the plots that the result has data for; returns name -> path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    makers: dict[str, Callable[[dict[str, Any], Any], Any]] = {
        "confusion": _confusion, "intensity": _intensity, "adv": _adv, "polarity": _polarity,
    }  # fmt: skip
    if res["mixtures"]["pairs"]:
        makers["mixtures"] = _mixtures
    if res["wer"].get("available"):
        makers["wer"] = _wer
    return {name: _save(make(res, plt), out_dir / f"{name}.png") for name, make in makers.items()}


def plot_conversion_f0(
    source: np.ndarray, conversions: dict[str, np.ndarray], sample_rate: int, path: str | Path
) -> Path:
    """The F0 contour (emovox's tracker) and loudness of a source and its conversions, on one time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from emovox.audio.io import resample
    from emovox.audio.pitch import PitchConfig, estimate_f0

    cfg = PitchConfig()
    fig, (ax_f0, ax_db) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, height_ratios=[2, 1])
    for name, audio in {"source": source, **conversions}.items():
        x = resample(np.asarray(audio, dtype=np.float32), sample_rate, cfg.sample_rate)
        res = estimate_f0(x, cfg)
        t = np.arange(res.f0.size) * cfg.hop_length / cfg.sample_rate
        f0 = np.where(res.voiced, res.f0, np.nan)
        style = {"color": "black", "lw": 2.0} if name == "source" else {"lw": 1.2}
        ax_f0.plot(t, f0, label=name, **style)
        hop = cfg.hop_length
        n = x.size // hop
        db = 10 * np.log10(np.maximum((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1), 1e-10))
        ax_db.plot(np.arange(n) * hop / cfg.sample_rate, db, **style)
    ax_f0.set_ylabel("F0 (Hz, log scale)")
    ax_f0.set_yscale("log")
    ax_f0.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax_f0.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax_f0.set_yticks([100, 150, 200, 300, 400, 600])
    ax_f0.legend(ncol=4, fontsize=8)
    ax_f0.set_title("Emotional voice conversion: F0 and level before and after")
    ax_db.set_ylabel("level (dBFS)")
    ax_db.set_ylim(-70, 0)
    ax_db.set_xlabel("time (s)")
    return _save(fig, Path(path))

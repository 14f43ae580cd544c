"""The demo's figures (matplotlib, Agg backend): an output's mel, F0 and energy; before/after F0 of a conversion;
a request in the valence/arousal plane among the model's emotions; the emotion timeline of a markup script.

F0 and energy come from emovox's own trackers (:func:`emovox.audio.pitch.estimate_f0`,
:func:`emovox.audio.energy.frame_energy`) on the mel's frame grid, so the plots show what the models are trained
on. Figures are built with :class:`matplotlib.figure.Figure`, not pyplot, so concurrent requests share no state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display: Gradio's pyplot import must not pick an interactive backend

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

__all__ = [
    "Contours",
    "analyse",
    "conversion_figure",
    "emotion_colour",
    "prosody_figure",
    "timeline_figure",
    "va_plane_figure",
]

_COLOURS = {
    "neutral": "#8c8c8c", "happy": "#f2b701", "sad": "#3969ac", "angry": "#e73f74", "fear": "#7f3c8d",
    "surprise": "#11a579", "disgust": "#80ba5a", "calm": "#4b9fd5", "sleepy": "#a5aa99", "amused": "#f97b72",
    "contempt": "#a05195", "excited": "#e68310", "frustrated": "#cf1c90", "sarcastic": "#008695",
    "auto": "#444444",
}  # fmt: skip
_EXTRA = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def emotion_colour(name: str) -> str:
    """A fixed colour per emotion, the same in every figure."""
    if name in _COLOURS:
        return _COLOURS[name]
    return _EXTRA[sum(map(ord, name)) % len(_EXTRA)]


@dataclass
class Contours:
    """Frame-level analysis of one signal on the 22.05 kHz HiFi-GAN mel grid."""

    times: np.ndarray  # [frames] seconds
    mel: np.ndarray  # [n_mels, frames] log-mel
    f0: np.ndarray  # [frames] Hz, NaN where unvoiced
    energy_db: np.ndarray  # [frames] dB of the frame energy


def analyse(audio: np.ndarray, sample_rate: int) -> Contours:
    """Mel, F0 and energy of ``audio`` (resampled to the mel's rate if needed)."""
    import torch

    from emovox.audio.energy import frame_energy
    from emovox.audio.io import resample
    from emovox.audio.mel import MelConfig, MelSpectrogram
    from emovox.audio.pitch import PitchConfig, estimate_f0

    cfg = MelConfig()
    x = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    if sample_rate != cfg.sample_rate:
        x = resample(x, sample_rate, cfg.sample_rate)
    pitch_cfg = PitchConfig(sample_rate=cfg.sample_rate, hop_length=cfg.hop_length, n_fft=cfg.n_fft)
    f0 = estimate_f0(x, pitch_cfg).f0.astype(np.float64)
    f0[f0 <= 0] = np.nan
    energy = frame_energy(x, cfg).astype(np.float64)
    with torch.inference_mode():
        mel = MelSpectrogram(cfg)(torch.from_numpy(x)).numpy()
    n = min(mel.shape[-1], f0.size, energy.size)
    times = np.arange(n) * cfg.hop_length / cfg.sample_rate
    return Contours(times, mel[:, :n], f0[:n], 20.0 * np.log10(np.maximum(energy[:n], 1e-5)))


def _f0_axis(ax, contours: Sequence[tuple[str, Contours, str]]) -> None:
    for label, c, colour in contours:
        voiced = np.isfinite(c.f0)
        mean = f" (mean {np.nanmean(c.f0):.0f} Hz)" if voiced.any() else " (unvoiced)"
        ax.plot(c.times, c.f0, color=colour, lw=1.5, label=label + mean)
    ax.set_ylabel("F0 (Hz)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)


def prosody_figure(audio: np.ndarray, sample_rate: int, title: str = "") -> Figure:
    """Three rows on one time axis: the log-mel spectrogram, the F0 contour and the energy contour."""
    c = analyse(audio, sample_rate)
    fig = Figure(figsize=(8, 6), layout="constrained")
    ax_mel, ax_f0, ax_en = fig.subplots(3, 1, sharex=True, height_ratios=(2, 1, 1))
    end = float(c.times[-1]) if c.times.size else 0.0
    ax_mel.imshow(c.mel, origin="lower", aspect="auto", cmap="magma", extent=(0.0, end, 0, c.mel.shape[0]))
    ax_mel.set_ylabel("mel bin")
    ax_mel.set_title(title or "output", fontsize=10)
    _f0_axis(ax_f0, [("F0", c, "#e73f74")])
    ax_en.plot(c.times, c.energy_db, color="#3969ac", lw=1.2)
    ax_en.set_ylabel("energy (dB)")
    ax_en.set_xlabel("time (s)")
    ax_en.grid(alpha=0.3)
    return fig


def conversion_figure(
    before: tuple[np.ndarray, int], after: tuple[np.ndarray, int], title: str = ""
) -> Figure:
    """F0 and energy of a recording before and after conversion, each on its own time axis."""
    a, b = analyse(*before), analyse(*after)
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax_f0, ax_en = fig.subplots(2, 1, sharex=True)
    _f0_axis(ax_f0, [("before", a, "#8c8c8c"), ("after", b, "#e73f74")])
    ax_f0.set_title(title or "before / after", fontsize=10)
    ax_en.plot(a.times, a.energy_db, color="#8c8c8c", lw=1.0, label="before")
    ax_en.plot(b.times, b.energy_db, color="#e73f74", lw=1.0, label="after")
    ax_en.set_ylabel("energy (dB)")
    ax_en.set_xlabel("time (s)")
    ax_en.grid(alpha=0.3)
    ax_en.legend(loc="upper right", fontsize=8)
    return fig


def va_plane_figure(
    positions: Mapping[str, tuple[float, float, float]],
    request: tuple[float, float, float] | None = None,
    request_label: str = "",
    adv_range: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Figure:
    """The model's emotions in the valence (x) / arousal (y) plane, and the request among them.

    Args:
        positions: ``{emotion: (arousal, dominance, valence)}``.
        request: the request's (arousal, dominance, valence), or None when it has no position (reference clip,
            ``auto``); its dominance is written beside it.
        adv_range: ``(low, high)`` ADV the model was trained on, drawn as a dashed box.
    """
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    lim = 1.1
    if request is not None:
        lim = max(lim, abs(request[0]) + 0.15, abs(request[2]) + 0.15)
    ax.axhline(0, color="#cccccc", lw=0.8)
    ax.axvline(0, color="#cccccc", lw=0.8)
    if adv_range is not None:
        low, high = adv_range
        ax.add_patch(Rectangle((low[2], low[0]), high[2] - low[2], high[0] - low[0], fill=False, ls="--",
                               ec="#bbbbbb", lw=0.8, label="trained range"))  # fmt: skip
    placed: list[tuple[float, float]] = []
    for name, (a, _d, v) in positions.items():
        ax.scatter(v, a, s=70, color=emotion_colour(name), edgecolor="white", zorder=3)
        near = sum(abs(v - pv) < 0.25 and abs(a - pa) < 0.08 for pv, pa in placed)  # labels would overlap
        ax.annotate(name, (v, a), xytext=(5, 4 - 11 * near), textcoords="offset points", fontsize=9)
        placed.append((v, a))
    if request is not None:
        a, d, v = request
        ax.scatter(v, a, s=220, marker="*", color="black", zorder=4, label=f"request (dominance {d:+.2f})")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("valence")
    ax.set_ylabel("arousal")
    where = "" if request is not None else " (no position: the emotion comes from the clip or the text)"
    ax.set_title(f"{request_label}{where}", fontsize=9)
    if request is not None or adv_range is not None:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    return fig


def timeline_figure(items: Sequence) -> Figure:
    """The emotion timeline of a script: one bar per sentence along the estimated time, coloured by emotion, its
    height the intensity (hatched when negative: the opposite direction); pauses as gaps.

    ``items`` are :class:`emovox.web.demo_controls.TimelineItem`."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.subplots()
    seen: dict[str, str] = {}
    for item in items:
        if item.is_pause:
            ax.axvspan(item.start, item.start + item.duration, color="#eeeeee", zorder=0)
            continue
        colour = emotion_colour(item.emotion)
        seen.setdefault(item.emotion, colour)
        height = min(abs(item.intensity), 2.0)
        ax.bar(item.start, max(height, 0.05), width=item.duration, align="edge", color=colour,
               edgecolor="white", hatch="//" if item.intensity < 0 else None, alpha=0.9)  # fmt: skip
        snippet = item.text if len(item.text) <= 24 else item.text[:22] + "…"
        ax.text(item.start + item.duration / 2, max(height, 0.05) + 0.04, f"{item.index + 1}. {snippet}",
                ha="center", va="bottom", fontsize=7, rotation=20 if len(items) > 4 else 0)  # fmt: skip
    end = max((i.start + i.duration for i in items), default=1.0)
    ax.set_xlim(0, end * 1.02)
    ax.set_ylim(0, 2.4)
    ax.set_xlabel("estimated time (s)")
    ax.set_ylabel("intensity")
    ax.grid(axis="y", alpha=0.3)
    if seen:
        ax.legend(handles=[Patch(color=c, label=n) for n, c in seen.items()], loc="upper right", fontsize=8,
                  ncol=min(len(seen), 5))  # fmt: skip
    return fig

"""What the demo's controls mean, without Gradio: control values -> emotion spec strings, input limits, where a
request sits among the model's emotions in arousal/dominance/valence, and the emotion timeline of a markup script.

Everything here works on an :class:`emovox.EmotionalTTS` (or anything with its ``emotions``, ``bank``,
``parse_emotion``, ``predict_prosody`` and ``sample_rate``), so the demo's tests call it directly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emovox.emotion.labels import CANONICAL, adv_anchor

__all__ = [
    "MODES",
    "TimelineItem",
    "adv_spec",
    "build_spec",
    "check_spec",
    "emotion_positions",
    "is_auto",
    "label_spec",
    "markup_timeline",
    "mixture_spec",
    "nearest_emotion",
    "project_adv",
    "request_adv",
    "resolve_auto",
    "spec_colour_key",
    "supports_auto",
    "to_pcm16",
]

logger = logging.getLogger(__name__)

MODES: dict[str, str] = {
    "label": "Label",
    "mixture": "Mixture",
    "adv": "Valence / arousal (+ dominance)",
    "auto": "Auto (from the text)",
}
"""Which control defines the emotion: value -> what the mode selector shows."""

CHARS_PER_SECOND = 14.0
"""Speaking-time estimate for a sentence the model cannot plan (about 170 words a minute)."""


def _num(x: float) -> str:
    """A control value as it appears in a spec: at most three decimals, no trailing zeros."""
    value = round(float(x), 3)
    return f"{value + 0.0:g}"  # + 0.0 turns -0.0 into 0.0


def label_spec(name: str, intensity: float = 1.0) -> str:
    """``happy`` at intensity 1, ``happy:0.6``, and the opposite direction ``-happy:0.5`` for negative ones."""
    if not name:
        raise ValueError("pick an emotion")
    x = round(float(intensity), 3)
    if not math.isfinite(x):
        raise ValueError(f"intensity must be a number, got {intensity!r}")
    sign, size = ("-", -x) if x < 0 else ("", x)
    return f"{sign}{name}" if size == 1 else f"{sign}{name}:{_num(size)}"


def mixture_spec(weights: Mapping[str, float], intensity: float = 1.0) -> str:
    """``sad:0.7+angry:0.3`` from one weight per emotion (zero weights are left out; the parser normalises the
    rest); a common intensity other than 1 is written per component (``sad:0.7@1.5+angry:0.3@1.5``)."""
    parts = [(name, round(float(w), 3)) for name, w in weights.items() if w is not None and round(w, 3) > 0]
    if not parts:
        raise ValueError("the mixture is empty: move at least one emotion's slider above 0")
    if len(parts) == 1:
        return label_spec(parts[0][0], intensity)
    a = round(float(intensity), 3)
    at = "" if a == 1 else f"@{_num(a)}"
    return "+".join(f"{name}:{_num(w)}{at}" for name, w in parts)


def adv_spec(valence: float, arousal: float, dominance: float = 0.0) -> str:
    """``adv:A,D,V`` (the grammar's order: arousal, dominance, valence)."""
    return f"adv:{_num(arousal)},{_num(dominance)},{_num(valence)}"


def build_spec(
    mode: str,
    label: str | None = None,
    intensity: float = 1.0,
    weights: Mapping[str, float] | None = None,
    valence: float = 0.0,
    arousal: float = 0.0,
    dominance: float = 0.0,
) -> str:
    """The emotion spec the demo's controls ask for; ``mode`` (a key of :data:`MODES`) says which control
    defines it. The intensity applies to labels, mixtures and ``auto`` (scaling the estimate); a point in ADV space
    is taken as it is."""
    if mode == "label":
        return label_spec(label or "", intensity)
    if mode == "mixture":
        return mixture_spec(weights or {}, intensity)
    if mode == "adv":
        return adv_spec(valence, arousal, dominance)
    if mode == "auto":
        a = round(float(intensity), 3)
        return "auto" if a == 1 else f"auto:{_num(a)}"
    raise ValueError(f"unknown emotion mode {mode!r}; choose one of {', '.join(MODES)}")


def supports_auto(tts: Any) -> bool:
    """Whether ``tts`` takes ``emotion="auto"`` (the emotion estimated from the text): tried, not assumed, so the
    demo offers the mode exactly when the installed pipelines have it."""
    check = getattr(tts, "check_emotion", None) or tts.parse_emotion
    try:
        check("auto")
    except (ValueError, TypeError) as exc:
        logger.info("emotion 'auto' is not available: %s", exc)
        return False
    return True


def check_spec(tts: Any, spec: str) -> None:
    """Raise the ``ValueError`` of a spec ``tts`` cannot use (``auto`` specs included where it has them)."""
    (getattr(tts, "check_emotion", None) or tts.parse_emotion)(spec)


def is_auto(tts: Any, spec: str) -> bool:
    """Whether ``spec`` takes its emotion from the text (``auto``, ``auto:0.5``, ``auto+sad:0.3``)."""
    auto_spec = getattr(tts, "auto_spec", None)
    return auto_spec is not None and auto_spec(spec) is not None


def resolve_auto(tts: Any, text: str, spec: str) -> tuple[str, Any]:
    """``(spec, estimate)``: an ``auto`` spec resolved for ``text`` with the estimate behind it (what synthesis
    does per sentence); any other spec unchanged, with estimate None."""
    if not is_auto(tts, spec):
        return spec, None
    estimate = tts.estimate_emotion(text, spec)
    return estimate.spec, estimate


# ------------------------------------------------------------------------------------------------ ADV plane


def emotion_positions(emotions: Sequence[str], bank: Any = None) -> dict[str, tuple[float, float, float]]:
    """``{emotion: (arousal, dominance, valence)}``: the canonical anchors the bank's ADV map is fitted to
    (:mod:`emovox.emotion.bank`); an emotion without an anchor is placed by projecting its direction through the
    bank's map (least squares)."""
    out: dict[str, tuple[float, float, float]] = {}
    for name in emotions:
        if name in CANONICAL:
            out[name] = adv_anchor(name)
        elif bank is not None and name in bank.emotions:
            out[name] = project_adv(bank, bank.direction(name))
    return out


def project_adv(bank: Any, offset: Any) -> tuple[float, float, float]:
    """The ADV point whose image under the bank's map ``M`` is closest to the ``z`` offset (least squares)."""
    import torch

    solution = torch.linalg.lstsq(bank.adv_map.float(), offset.float()[:, None]).solution[:, 0]
    return tuple(float(x) for x in solution)


def request_adv(
    spec: Any, positions: Mapping[str, tuple[float, float, float]]
) -> tuple[float, float, float] | None:
    """Where a parsed spec sits in ADV space, by the algebra of the bank: ``Σ wᵢ·αᵢ·anchorᵢ`` for labels and
    mixtures (so ``happy`` lands on happy, ``-happy:0.5`` half-way to its mirror image), the point itself for
    ``adv``/``va``. None when a component has no position."""
    if spec.kind in ("adv", "va"):
        return tuple(float(x) for x in spec.adv)
    total = np.zeros(3)
    for c in spec.components:
        if c.name not in positions:
            return None
        total += c.weight * c.intensity * np.asarray(positions[c.name], dtype=float)
    return tuple(float(x) for x in total)


def nearest_emotion(adv: Sequence[float], positions: Mapping[str, tuple[float, float, float]]) -> str:
    """The emotion whose position is closest to ``adv``."""
    point = np.asarray(adv, dtype=float)
    return min(positions, key=lambda n: float(np.sum((np.asarray(positions[n]) - point) ** 2)))


def spec_colour_key(spec: Any, positions: Mapping[str, tuple[float, float, float]]) -> tuple[str, float]:
    """``(emotion, intensity)`` to draw a span with: the mixture's heaviest component and its weighted signed
    intensity, or for a point in ADV space the nearest emotion and the point's distance from neutral relative to
    that emotion's."""
    if spec.kind == "label":
        main = max(spec.components, key=lambda c: c.weight)
        return main.name, float(sum(c.weight * c.intensity for c in spec.components))
    if not positions:
        return "neutral", 0.0
    near = nearest_emotion(spec.adv, positions)
    scale = float(np.linalg.norm(positions[near])) or 1.0
    return near, float(np.linalg.norm(spec.adv)) / scale


# ------------------------------------------------------------------------------------------------ timeline


@dataclass(frozen=True)
class TimelineItem:
    """One sentence (or pause) of a markup script, as the timeline shows it."""

    index: int
    text: str  # "" for a pause
    spec: str  # the emotion spec in force, an ``auto`` one resolved for this sentence ("" for a pause)
    emotion: str  # the emotion it is drawn with
    intensity: float  # signed intensity (see spec_colour_key)
    start: float  # estimated seconds from the start
    duration: float  # estimated seconds
    rate: float = 1.0
    pitch: float = 0.0  # semitones
    volume: float = 1.0
    requested: str = ""  # the spec as written, when it differs from ``spec`` (``auto``)

    @property
    def is_pause(self) -> bool:
        return not self.text

    @property
    def label(self) -> str:
        """How the table names the emotion: ``happy:0.8``, or ``auto → happy:0.85``."""
        if self.is_pause:
            return "(pause)"
        return f"{self.requested} → {self.spec}" if self.requested else self.spec


def markup_timeline(
    tts: Any, script: str, default_emotion: str = "neutral", *, speaker: str | int | None = None
) -> list[TimelineItem]:
    """The sentences and pauses of ``script`` (markup or plain text) with the emotion each will be spoken with
    (``auto`` resolved per sentence, as synthesis does) and an estimate of when: the acoustic model's planned
    durations (no vocoding), or a reading-speed estimate where it cannot plan.

    Raises:
        ValueError: malformed markup (with its line and column) or an emotion the model does not know.
    """
    from emovox.text.chunking import chunk_text
    from emovox.text.markup import parse_markup

    if not script or not script.strip():
        raise ValueError("the script is empty")
    check_spec(tts, default_emotion)
    segments = parse_markup(script, validate_emotion=lambda spec: check_spec(tts, spec))
    positions = emotion_positions(tts.emotions, tts.bank)
    hop_seconds = _hop_seconds(tts)
    items: list[TimelineItem] = []
    clock = 0.0
    for seg in segments:
        if seg.is_pause:
            seconds = seg.break_ms / 1000.0
            items.append(TimelineItem(len(items), "", "", "", 0.0, clock, seconds))
            clock += seconds
            continue
        requested = seg.emotion or default_emotion
        for piece in chunk_text(seg.text):
            spec, estimate = resolve_auto(tts, piece, requested)
            emotion, intensity = spec_colour_key(tts.parse_emotion(spec), positions)
            seconds = _planned_seconds(tts, piece, spec, speaker, hop_seconds) / seg.rate
            shown_as = requested if estimate is not None else ""
            item = TimelineItem(len(items), piece, spec, emotion, intensity, clock, seconds,
                                seg.rate, seg.pitch, seg.volume, shown_as)  # fmt: skip
            items.append(item)
            clock += seconds
    if not any(not item.is_pause for item in items):
        raise ValueError("the script has no text to speak")
    return items


def _hop_seconds(tts: Any) -> float:
    mel = getattr(tts, "mel_config", None)
    return (mel.hop_length / mel.sample_rate) if mel is not None else 256 / 22050


def _planned_seconds(tts: Any, text: str, spec: str, speaker, hop_seconds: float) -> float:
    if any(ch.isalpha() for ch in text):
        try:
            frames = tts.predict_prosody(text, spec, speaker=speaker)["frames"]
            return max(frames * hop_seconds, 0.05)
        except ValueError as exc:  # e.g. a reference-only model: fall back to reading speed
            logger.debug("cannot plan %r: %s", text, exc)
    return max(len(text) / CHARS_PER_SECOND, 0.05)


# ------------------------------------------------------------------------------------------------ audio


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16 (what the browser's audio player gets, without Gradio's warning)."""
    x = np.nan_to_num(np.asarray(audio, dtype=np.float32))
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)

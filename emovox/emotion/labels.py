"""The canonical emotion set and its anchors in arousal/dominance/valence (ADV) space.

Every corpus label maps to one of these names (the raw label is kept beside it in the manifest). Each emotion has
an ADV anchor in [-1, 1]^3, ordered (arousal, dominance, valence) as everywhere in emovox. The anchors are the
pleasure-arousal-dominance ratings of emotion terms by Russell & Mehrabian (1977), "Evidence for a three-factor
theory of emotions", J. Research in Personality 11, as tabulated for affective agents by Gebhard (2005), "ALMA —
A Layered Model of Affect", AAMAS; terms the table lacks take the rating of the nearest listed term (noted per
entry). They place emotions relative to each other; they are not measurements of any corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ADV_AXES",
    "BASIC_EMOTIONS",
    "CANONICAL",
    "EmotionInfo",
    "adv_anchor",
    "canonical_names",
    "normalise_label",
]

ADV_AXES = ("arousal", "dominance", "valence")


@dataclass(frozen=True)
class EmotionInfo:
    name: str
    adv: tuple[float, float, float]  # (arousal, dominance, valence) in [-1, 1]
    source: str


def _e(name: str, arousal: float, dominance: float, valence: float, source: str) -> EmotionInfo:
    return EmotionInfo(name, (arousal, dominance, valence), source)


_RM = "Russell & Mehrabian 1977"
CANONICAL: dict[str, EmotionInfo] = {
    e.name: e
    for e in (
        _e("neutral", 0.00, 0.00, 0.00, "origin of the space"),
        _e("happy", 0.51, 0.46, 0.81, f"{_RM}, 'happy'"),
        _e("sad", -0.27, -0.33, -0.63, f"{_RM}, 'sad'"),
        _e("angry", 0.60, 0.25, -0.51, f"{_RM}, 'angry'"),
        _e("fear", 0.60, -0.43, -0.64, f"{_RM}, 'fearful'"),
        _e("surprise", 0.67, -0.13, 0.40, f"{_RM}, 'surprised'"),
        _e("disgust", 0.35, 0.11, -0.60, f"{_RM}, 'disgusted'"),
        _e("calm", -0.46, 0.06, 0.68, f"{_RM}, 'relaxed'"),
        _e("amused", 0.44, 0.24, 0.62, f"{_RM}, nearest term 'elated'"),
        _e("sleepy", -0.70, -0.34, 0.08, f"{_RM}, nearest term 'sleepy/tired'"),
        _e("contempt", 0.18, 0.42, -0.58, f"{_RM}, nearest term 'scornful'"),
        _e("excited", 0.75, 0.38, 0.62, f"{_RM}, 'excited'"),
        _e("frustrated", 0.40, -0.24, -0.64, f"{_RM}, nearest term 'frustrated/annoyed'"),
        _e("sarcastic", 0.23, 0.40, -0.36, "Att-HACK attitude; placed between contempt and neutral"),
        _e("friendly", 0.20, 0.10, 0.55, "Att-HACK attitude; nearest term 'friendly'"),
        _e("distant", -0.20, 0.30, -0.20, "Att-HACK attitude; placed as cool/aloof"),
        _e("dominant", 0.35, 0.70, -0.05, "Att-HACK attitude ('authoritarian'); high dominance"),
        _e("seductive", 0.25, 0.30, 0.55, "Att-HACK attitude; warm and moderately aroused"),
    )
}

BASIC_EMOTIONS = ("neutral", "happy", "sad", "angry", "fear", "surprise", "disgust")
"""The seven emotions most corpora share; evaluation reports accuracy over these."""

# Raw corpus spellings -> canonical names. Corpus modules may pass their own extra table to normalise_label.
_ALIASES = {
    "neu": "neutral", "neutral": "neutral", "normal": "neutral",
    "hap": "happy", "happy": "happy", "happiness": "happy", "joy": "happy", "joyful": "happy",
    "exc": "excited", "excited": "excited", "excitement": "excited",
    "sad": "sad", "sadness": "sad",
    "ang": "angry", "angry": "angry", "anger": "angry", "mad": "angry",
    "fea": "fear", "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "sur": "surprise", "surprise": "surprise", "surprised": "surprise", "ps": "surprise",
    "pleasant_surprise": "surprise", "pleasant_surprised": "surprise",
    "dis": "disgust", "disgust": "disgust", "disgusted": "disgust",
    "cal": "calm", "calm": "calm", "relaxed": "calm",
    "amused": "amused", "amusement": "amused",
    "sleepy": "sleepy", "sleepiness": "sleepy", "tired": "sleepy",
    "con": "contempt", "contempt": "contempt",
    "fru": "frustrated", "frustrated": "frustrated", "frustration": "frustrated",
    "sarcastic": "sarcastic", "sarcasm": "sarcastic",
    "friendly": "friendly", "distant": "distant", "dominant": "dominant", "seductive": "seductive",
}  # fmt: skip


def canonical_names() -> tuple[str, ...]:
    return tuple(CANONICAL)


def normalise_label(raw: str, extra: dict[str, str] | None = None) -> str | None:
    """Map a raw corpus label to a canonical emotion name, or None when it has no canonical equivalent."""
    key = raw.strip().lower().replace(" ", "_").replace("-", "_")
    if extra and key in extra:
        return extra[key]
    return _ALIASES.get(key)


def adv_anchor(name: str) -> tuple[float, float, float]:
    """The (arousal, dominance, valence) anchor of a canonical emotion."""
    try:
        return CANONICAL[name].adv
    except KeyError:
        raise ValueError(f"unknown emotion '{name}'; canonical emotions: {', '.join(CANONICAL)}") from None

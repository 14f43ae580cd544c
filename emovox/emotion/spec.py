"""The emotion spec grammar shared by the CLI, the Python API, the server, the demo and the markup.

Grammar (case-insensitive; spaces allowed around every token)::

    spec      := "adv" ":" a "," d "," v          arousal, dominance, valence, each in [-1, 1]
               | "va" ":" v "," a                  valence, arousal; dominance stays neutral
               | term                              one emotion: ":" gives its intensity
               | term ("+" term)+                  a mixture: ":" or a percent gives each weight
    term      := ["-"] [pct "%"] name [":" number ["%"]] ["@" number]

Examples: ``happy`` (intensity 1), ``happy:0.6`` (intensity 0.6), ``-happy`` (intensity -1, the polarity flip
of the algebra), ``sad:0.7+angry:0.3`` and ``70% sad + 30% angry`` (weights 0.7/0.3, each at intensity 1),
``sad:0.7@1.5+angry:0.3`` (a component intensity), ``adv:0.8,0.4,-0.5``, ``va:0.6,0.3``.

In the emotion space (DESIGN.md) a spec means z = c0 + Σ_i w_i·α_i·d_{e_i} for labels and
z = c0 + M·(adv − adv_neutral) for ADV/VA. Intensities lie in [-2, 2]; weights are positive and normalised to
sum to one; ADV coordinates lie in [-1, 1]; NaN and infinities are rejected.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from emovox.emotion.labels import CANONICAL, normalise_label

__all__ = ["EmotionComponent", "EmotionSpec", "EmotionSpecError", "parse_emotion_spec"]

MAX_INTENSITY = 2.0


class EmotionSpecError(ValueError):
    """A spec string that does not follow the grammar or names an emotion the model does not know."""


@dataclass(frozen=True)
class EmotionComponent:
    name: str  # an emotion the model knows
    weight: float  # mixture weight; the weights of a spec sum to 1
    intensity: float  # α in [-2, 2]; 1 = as in the data, negative = polarity flip


@dataclass(frozen=True)
class EmotionSpec:
    """A parsed spec: ``kind == "label"`` has ``components``; ``"adv"`` and ``"va"`` have ``adv``."""

    kind: Literal["label", "adv", "va"]
    components: tuple[EmotionComponent, ...] = ()
    adv: tuple[float, float, float] | None = None  # (arousal, dominance, valence); VA leaves dominance 0

    @property
    def is_mixture(self) -> bool:
        return len(self.components) > 1

    def __str__(self) -> str:
        """The canonical spec string; ``parse_emotion_spec(str(spec)) == spec``."""
        if self.kind == "adv":
            return "adv:" + ",".join(_fmt(x) for x in self.adv)
        if self.kind == "va":
            return f"va:{_fmt(self.adv[2])},{_fmt(self.adv[0])}"
        if len(self.components) == 1:
            c = self.components[0]
            if c.intensity in (1, -1):
                return c.name if c.intensity == 1 else f"-{c.name}"
            return f"{c.name}:{_fmt(c.intensity)}"
        return "+".join(
            f"{c.name}:{_fmt(c.weight)}" + ("" if c.intensity == 1 else f"@{_fmt(c.intensity)}")
            for c in self.components
        )


def _fmt(x: float) -> str:
    return f"{x:.6g}"


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
_TERM = re.compile(
    rf"^(?P<neg>-)?\s*(?:(?P<pct>{_NUMBER})\s*%\s*)?(?P<name>[a-z][a-z_\- ]*?)\s*"
    rf"(?::\s*(?P<num>{_NUMBER})\s*(?P<numpct>%)?)?\s*(?:@\s*(?P<at>{_NUMBER}))?$"
)


def _float(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise EmotionSpecError(f"{what} {text!r} in emotion spec {spec!r} is not a number") from None
    if not math.isfinite(value):
        raise EmotionSpecError(f"{what} in emotion spec {spec!r} must be a finite number, got {text!r}")
    return value


def _coords(body: str, n: int, spec: str, names: str) -> list[float]:
    parts = [p.strip() for p in body.split(",")]
    if len(parts) != n or not all(parts):
        raise EmotionSpecError(f"emotion spec {spec!r} needs {n} comma-separated numbers ({names})")
    values = [_float(p, "coordinate", spec) for p in parts]
    for value, axis in zip(values, names.split(", ")):
        if not -1.0 <= value <= 1.0:
            raise EmotionSpecError(f"{axis} {value} in emotion spec {spec!r} is outside [-1, 1]")
    return values


def _resolve_name(raw: str, known: Sequence[str], spec: str) -> str:
    name = raw.strip().lower().replace(" ", "_").replace("-", "_")
    lowered = {k.lower(): k for k in known}
    if name in lowered:
        return lowered[name]
    alias = normalise_label(name)
    if alias is not None and alias in lowered:
        return lowered[alias]
    close = difflib.get_close_matches(name, list(lowered), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(lowered[c]) for c in close)}?" if close else ""
    raise EmotionSpecError(
        f"unknown emotion {raw.strip()!r} in spec {spec!r}.{hint} Known emotions: {', '.join(known)}; "
        "or give adv:A,D,V or va:V,A"
    )


def parse_emotion_spec(spec: str, known: Sequence[str] | None = None) -> EmotionSpec:
    """Parse a spec string (see the module docstring) against the emotion names ``known``.

    Args:
        spec: e.g. ``"sad:0.7+angry:0.3"``.
        known: the model's emotion names; defaults to the canonical emotions. Aliases of canonical labels
            (``anger``, ``joy`` …) are accepted when their canonical name is known.
    Raises:
        EmotionSpecError: with a message that names the problem and lists the valid names.
    """
    if not isinstance(spec, str):
        raise EmotionSpecError(f"emotion spec must be a string, got {type(spec).__name__}")
    known = list(CANONICAL) if known is None else list(known)
    text = spec.strip().lower()
    if not text:
        raise EmotionSpecError("empty emotion spec; give a name such as 'happy', or adv:A,D,V / va:V,A")
    head, sep, body = text.partition(":")
    if sep and head.strip() == "adv":
        return EmotionSpec("adv", adv=tuple(_coords(body, 3, spec, "arousal, dominance, valence")))
    if sep and head.strip() == "va":
        valence, arousal = _coords(body, 2, spec, "valence, arousal")
        return EmotionSpec("va", adv=(arousal, 0.0, valence))
    terms = [t.strip() for t in text.split("+")]
    if any(not t for t in terms):
        raise EmotionSpecError(f"emotion spec {spec!r} has an empty term around '+'")
    components = [_parse_term(t, known, spec, mixture=len(terms) > 1) for t in terms]
    names = [c[0] for c in components]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise EmotionSpecError(f"emotion {dupes[0]!r} appears more than once in spec {spec!r}")
    total = sum(w for _, w, _ in components)
    return EmotionSpec("label", components=tuple(EmotionComponent(n, w / total, a) for n, w, a in components))


def _parse_term(term: str, known: Sequence[str], spec: str, mixture: bool) -> tuple[str, float, float]:
    m = _TERM.match(term)
    if not m:
        raise EmotionSpecError(
            f"cannot read {term!r} in emotion spec {spec!r}; expected e.g. 'happy', 'happy:0.6', "
            "'sad:0.7+angry:0.3', '-happy', 'adv:0.8,0.4,-0.5' or 'va:0.6,0.3'"
        )
    name = _resolve_name(m["name"], known, spec)
    number = None
    if m["num"] is not None:
        number = _float(m["num"], "number", spec) / (100.0 if m["numpct"] else 1.0)
    pct = None if m["pct"] is None else _float(m["pct"], "percentage", spec) / 100.0
    if pct is not None and number is not None:
        raise EmotionSpecError(f"{term!r} in spec {spec!r} gives both a percentage and ':number'; give one")
    given = pct if pct is not None else number
    # In a mixture the number is the component's weight; alone it is the intensity (a lone weight is moot).
    weight = given if mixture and given is not None else 1.0
    intensity = given if not mixture and given is not None else 1.0
    if m["at"] is not None:
        intensity = _float(m["at"], "intensity", spec)
    if m["neg"]:
        intensity = -intensity
    if not weight > 0:
        raise EmotionSpecError(f"weight of {name!r} in spec {spec!r} must be positive, got {weight}")
    if not -MAX_INTENSITY <= intensity <= MAX_INTENSITY:
        raise EmotionSpecError(
            f"intensity {intensity} of {name!r} in spec {spec!r} is outside [-{MAX_INTENSITY:g}, {MAX_INTENSITY:g}]"
        )
    return name, weight, intensity

"""The emotion a text means: an offline, rule-based estimator for ``--emotion auto``.

Each sentence becomes a point in the emotion space — arousal, dominance, valence in [-1, 1] — and the nearest
emotion the model knows, with an intensity, as a spec string (:mod:`emovox.emotion.spec`) that synthesis uses.

How (all offline, permissively licensed):

- **valence**: VADER's compound score (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for
  Sentiment Analysis of Social Media Text", ICWSM; the ``vaderSentiment`` package, MIT), which already handles
  negation, intensifiers, "but" clauses, capitals and exclamation marks for *valence*;
- **emotion words**: a small lexicon written for emovox (MIT, below) of words and phrases that name or signal
  one emotion category ("furious", "can't believe", "yawn"); a negated word ("not happy") gives no evidence;
- **arousal cues**: exclamation marks, words in capitals, intensifiers (VADER's booster list), elongated
  words ("sooo") raise arousal; hedges ("slightly", "kind of") and trailing ellipses lower it;
- **the point**: the evidence-weighted mean of the categories' ADV anchors (:mod:`emovox.emotion.labels`,
  Russell & Mehrabian 1977), its valence weighted 0.65:0.35 with VADER's, plus the arousal cues. Without emotion words,
  the point is VADER's valence and the cues' arousal, and the label is the nearest anchor in the
  valence-arousal plane (neutral near the origin);
- **intensity**: the projection of the point onto the label's anchor (``α = p·e / |e|²``), kept in [0.3, 1.5]
  and rounded to 0.05 so that nearby sentences share one emotion vector.

``auto`` specs (see :func:`parse_auto_spec`) blend the estimate with a user's spec: ``auto:0.5`` halves the
estimated intensity, ``auto+sad:0.3`` is 70 % the text's emotion and 30 % sad.

Measured on the labelled sentences in ``tests/data/text_emotion_set.tsv`` (see README, "Emotion from the text").
It is a heuristic: it reads words, not situations ("the bridge was gone" carries no emotion word), and irony is
beyond it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from emovox.emotion.labels import CANONICAL
from emovox.emotion.spec import (
    MAX_INTENSITY,
    EmotionComponent,
    EmotionSpec,
    EmotionSpecError,
    _parse_term,
)

__all__ = [
    "TEXT_EMOTIONS",
    "AutoSpec",
    "TextEmotion",
    "TextEmotionEstimator",
    "evaluate",
    "is_auto_spec",
    "parse_auto_spec",
]

TEXT_EMOTIONS = ("neutral", "happy", "sad", "angry", "fear", "surprise", "disgust", "calm", "sleepy")
"""The categories the lexicon has words for (the default candidates when no model's emotions are given)."""

MIN_INTENSITY, MAX_AUTO_INTENSITY = 0.3, 1.5
NEUTRAL_RADIUS = 0.35
"""A point closer than this to the origin of the valence-arousal plane, with no emotion word, is neutral."""

# Emotion words, written for emovox (MIT). "stem*" matches any word that starts with the stem; entries with a
# space are phrases; entries are separated by commas. STRONG entries count 1, WEAK ones (often used without
# the emotion) 0.5, phrases 1.5 times that.
_STRONG: dict[str, str] = {
    "happy": (
        "can't wait, so glad, happy, happily, happiness, glad, joy*, delight*, wonderful, "
        "fantastic, amazing, awesome, brilliant, excellent, thrill*, celebrat*, congratulat*, proud, smil*, "
        "laugh*, cheer*, hooray, hurray, yay, ecstatic, elated, overjoyed, pleased, terrific, marvel*, "
        "superb, bliss*, grateful, thankful, blessed, love, loved, lovely, adore*, enjoy*, best, perfect, "
        "delicious, beautiful"
    ),
    "sad": (
        "no longer, breaks my heart, break my heart, broke my heart, sad, sadly, sadness, "
        "unhappy, cry, cried, cries, crying, tear, tears, weep*, sob, sobb*, sobs, lonely, loneliness, grief, "
        "griev*, mourn*, sorrow*, heartbr*, depress*, gloom*, miserable, misery, despair*, hopeless*, died, "
        "death, funeral, buried, bury, miss, missed, missing, regret*, disappoint*, failed, failure, goodbye, "
        "farewell, tragic, tragedy, unfortunately, rejected, abandon*, alone, empty"
    ),
    "angry": (
        "enough is enough, won't forgive, will not forgive, never forgive, sick and tired, what the hell, who the hell, how dare, the hell, shut up, get out, sick of, fed up, angry, anger, angrily, "
        "furious, fury, rage, raging, livid, outrag*, hate, hated, hatred, annoy*, irritat*, infuriat*, "
        "resent*, damn, damned, idiot*, stupid, liar, lied, lying, cheat*, betray*, shout*, yell*, slam*, "
        "unacceptable, ridiculous, disgrace*, pathetic, demand*"
    ),
    "fear": (
        "somebody help, someone help, what if, help me, afraid, fear, fearful, feared, fears, scared, scary, scare, scares, terrif*, "
        "frighten*, horror, horrif*, panic*, anxious, anxiety, worry, worried, worrying, nervous, dread*, "
        "alarm*, danger*, threat*, trembl*, shaking, shaky, shiver*, nightmare*, ghost*, monster*, hiding"
    ),
    "surprise": (
        "couldn't believe, cannot believe, never expected, can't believe, my goodness, no idea, no way, oh my, surpris*, wow, whoa, woah, astonish*, unbelievabl*, "
        "incredibl*, shock*, stun*, suddenly, unexpected*, speechless, omg, goodness, gosh"
    ),
    "disgust": (
        "made me sick, feel sick, throw up, threw up, disgust*, gross, yuck, ugh, eww, ew, revolting, "
        "repuls*, repugnant, nause*, vomit*, puke, sickening, filth*, rotten, stink*, stank, stench, vile, "
        "nasty, foul, putrid, slimy, greasy"
    ),
    "calm": (
        "take your time, deep breath, don't worry, it's okay, it's fine, no hurry, at "
        "peace, no rush, at ease, calm*, peace*, relax*, serene*, tranquil*, breathe, soothing, sooth*, "
        "gently, softly, quietly, cosy, cozy, restful"
    ),
    "sleepy": (
        "worn out, sleep, sleepy, sleeping, asleep, "
        "tired, exhausted, exhaustion, yawn*, drows*, nap, naps, napping, doz*, bed, bedtime, weary, "
        "fatigue*, snooz*"
    ),
}
_WEAK: dict[str, str] = {
    "happy": "great, good, nice, fun, win, won, thank, thanks, smile, hug*, laughed",
    "sad": "lost, loss, lose, sorry, hurt, pain, broken, gone",
    "angry": "stop, mess, fault, blame*, refuse*",
    "fear": "dark, darkness, shadow*, creep*, scream*, attack*, crash*, emergency",
    "surprise": "oh, really, what, wait",
    "disgust": "dirty, smell*, sour, sick",
    "calm": "quiet, still, slow, slowly, soft, gentle, rest, warm, safe, comfort*, easy, fine",
    "sleepy": "rest, late, lazy",
}

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ELONGATED = re.compile(r"([a-z])\1{2,}")


@dataclass(frozen=True)
class _Entry:
    category: str
    words: tuple[str, ...]  # one word or a phrase
    prefix: bool  # the last word matches as a prefix
    weight: float


def _entries() -> list[_Entry]:
    out = []
    for table, weight in ((_STRONG, 1.0), (_WEAK, 0.5)):
        for category, text in table.items():
            for item in (i.strip() for i in text.split(",")):
                prefix = item.endswith("*")
                words = tuple(item.rstrip("*").split())
                out.append(_Entry(category, words, prefix, weight))
    # longest phrases first, so "sick and tired" wins over "tired"
    return sorted(out, key=lambda e: -len(e.words))


@functools.lru_cache(maxsize=1)
def _lexicon() -> list[_Entry]:
    return _entries()


@functools.lru_cache(maxsize=1)
def _vader():
    """VADER's analyser, its intensifiers (up), hedges (down) and negators (its list plus "no")."""
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SentimentIntensityAnalyzer

    boost_up = frozenset(k for k, v in BOOSTER_DICT.items() if v > 0 and " " not in k)
    boost_down = frozenset(k for k, v in BOOSTER_DICT.items() if v < 0)
    return SentimentIntensityAnalyzer(), boost_up, boost_down, frozenset(NEGATE) | {"no"}


@dataclass(frozen=True)
class TextEmotion:
    """The emotion estimated for one text: a point in ADV space, the nearest known label and its intensity.

    ``spec`` is what synthesis uses (``"happy:0.85"``, ``"neutral"``); ``cues`` explain the choice in words.
    """

    text: str
    arousal: float
    dominance: float
    valence: float
    label: str
    intensity: float
    spec: str
    cues: tuple[str, ...] = field(default=())

    @property
    def adv(self) -> tuple[float, float, float]:
        return (self.arousal, self.dominance, self.valence)

    def explain(self) -> str:
        """One line: the spec, the point and the cues that led there."""
        why = "; ".join(self.cues) or "no emotion cues"
        return (
            f"{self.spec}  (valence {self.valence:+.2f}, arousal {self.arousal:+.2f}, "
            f"dominance {self.dominance:+.2f}; {why})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields for the server, the demo and timestamp files."""
        return {
            "text": self.text, "spec": self.spec, "label": self.label, "intensity": self.intensity,
            "valence": self.valence, "arousal": self.arousal, "dominance": self.dominance, "cues": list(self.cues),
        }  # fmt: skip


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


class TextEmotionEstimator:
    """Text -> :class:`TextEmotion` for the emotions a model knows.

    Args:
        emotions: the model's emotion names; labels are chosen among those with a canonical ADV anchor.
            None = :data:`TEXT_EMOTIONS`.
    """

    def __init__(self, emotions: Sequence[str] | None = None):
        names = list(TEXT_EMOTIONS if emotions is None else emotions)
        if not all(isinstance(n, str) for n in names):
            raise TypeError("emotions must be a sequence of emotion names")
        self.candidates = [n for n in names if n in CANONICAL]
        if not self.candidates:
            raise ValueError(
                f"none of the model's emotions ({', '.join(names) or 'none'}) has an ADV anchor; the text-emotion "
                f"estimator needs at least one of {', '.join(CANONICAL)}"
            )
        self.has_neutral = "neutral" in self.candidates

    def _nearest(self, point: Sequence[float], exclude_neutral: bool = True, dims=(0, 1, 2)) -> str:
        pool = [n for n in self.candidates if not (exclude_neutral and n == "neutral")] or self.candidates
        return min(pool, key=lambda n: sum((CANONICAL[n].adv[i] - point[i]) ** 2 for i in dims))

    def estimate(self, text: str) -> TextEmotion:
        """Estimate the emotion of ``text`` (one sentence is best; a paragraph gets one overall estimate)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        analyser, boost_up, boost_down, negators = _vader()
        raw = text.replace("’", "'").replace("‘", "'")
        tokens = _TOKEN.findall(raw.lower())
        cues: list[str] = []
        evidence = self._evidence(tokens, negators, cues)
        compound = float(analyser.polarity_scores(raw)["compound"]) if raw.strip() else 0.0
        arousal_cue = self._arousal_cues(raw, tokens, boost_up, boost_down, cues)
        if (
            evidence
            and sum(evidence.values()) < 1.0
            and not self._supported(evidence, compound, arousal_cue, raw)
        ):
            cues.append("weak words alone: not enough")
            evidence = {}
        total = sum(evidence.values())
        if total > 0:
            confidence = total / (total + 0.5)
            anchor = [sum(w * CANONICAL[c].adv[i] for c, w in evidence.items()) / total for i in range(3)]
            point = [confidence * x for x in anchor]
            point[2] = 0.65 * point[2] + 0.35 * compound  # the words name the emotion; VADER weighs context
        else:
            point = [0.0, 0.0, compound]
        point[0] += arousal_cue
        point = [_clip(x) for x in point]
        if compound:
            cues.append(f"VADER valence {compound:+.2f}")
        label = self._label(evidence, point, compound)
        intensity = self._intensity(label, point)
        if intensity == 0.0:
            label = "neutral" if self.has_neutral else label
        spec = EmotionSpec("label", (EmotionComponent(label, 1.0, intensity or 1.0),))
        return TextEmotion(
            text=text,
            arousal=round(point[0], 3),
            dominance=round(point[1], 3),
            valence=round(point[2], 3),
            label=label,
            intensity=intensity if label != "neutral" else 1.0,
            spec="neutral" if label == "neutral" else str(spec),
            cues=tuple(cues),
        )

    @staticmethod
    def _evidence(tokens: list[str], negators: frozenset[str], cues: list[str]) -> dict[str, float]:
        used = [False] * len(tokens)
        evidence: dict[str, float] = {}
        for entry in _lexicon():
            n = len(entry.words)
            for i in range(len(tokens) - n + 1):
                if any(used[i : i + n]) or not _matches(entry, tokens[i : i + n]):
                    continue
                for j in range(i, i + n):
                    used[j] = True
                # "not happy", "can't get out"; a phrase that starts with a negator ("don't worry") is its own
                negated = entry.words[0] not in negators and any(
                    t in negators for t in tokens[max(0, i - 3) : i]
                )
                phrase = " ".join(tokens[i : i + n])
                if negated:
                    cues.append(f"'{phrase}' negated")
                    continue
                evidence[entry.category] = evidence.get(entry.category, 0.0) + entry.weight * (
                    1.5 if n > 1 else 1.0
                )
                cues.append(f"'{phrase}' -> {entry.category}")
        return evidence

    @staticmethod
    def _supported(evidence: dict[str, float], compound: float, arousal_cue: float, raw: str) -> bool:
        """Weak words alone ("wait", "fine") count only with support: an arousal cue, a question, or VADER
        valence of the same sign as the category's."""
        if arousal_cue > 0 or "?" in raw:
            return True
        return any(abs(compound) >= 0.2 and compound * CANONICAL[c].adv[2] > 0 for c in evidence)

    @staticmethod
    def _arousal_cues(raw, tokens, boost_up, boost_down, cues: list[str]) -> float:
        arousal = 0.0
        exclaim = min(raw.count("!"), 3)
        if exclaim:
            arousal += 0.2 * exclaim
            cues.append(f"{'!' * exclaim} (arousal +{0.2 * exclaim:.1f})")
        capitals = [
            w for w in re.findall(r"\b[A-Z]{2,}\b", raw) if w not in ("I", "OK", "TV", "UK", "US", "USA")
        ]
        if capitals and not raw.isupper():
            arousal += min(0.2 * len(capitals), 0.4)
            cues.append(f"capitals {' '.join(capitals[:3])}")
        boosters = [t for t in tokens if t in boost_up]
        if boosters:
            arousal += min(0.1 * len(boosters), 0.3)
            cues.append(f"intensifier {' '.join(boosters[:3])}")
        if any(_ELONGATED.search(t) for t in tokens):
            arousal += 0.15
            cues.append("elongated word")
        hedges = [t for t in tokens if t in boost_down]
        if hedges:
            arousal -= min(0.1 * len(hedges), 0.2)
            cues.append(f"hedge {' '.join(hedges[:3])}")
        if raw.rstrip().endswith(("...", "…")):
            arousal -= 0.15
            cues.append("trailing ellipsis")
        return arousal

    def _label(self, evidence: dict[str, float], point: Sequence[float], compound: float) -> str:
        if evidence:
            # Surprise colours other emotions ("I can't believe it, this is the best day"): with another
            # category's words it only wins by twice their weight. Near-ties go to the category whose valence
            # agrees with VADER's.
            others = sum(w for c, w in evidence.items() if c != "surprise")

            def score(c: str) -> float:
                weight = evidence[c] / 2 if c == "surprise" and others else evidence[c]
                return weight + 0.25 * compound * math.copysign(1.0, CANONICAL[c].adv[2])

            best = max(evidence, key=score)
            if best in self.candidates:
                return best
            return self._nearest(CANONICAL[best].adv)
        if math.hypot(point[0], point[2]) < NEUTRAL_RADIUS and self.has_neutral:
            return "neutral"
        return self._nearest(point, dims=(0, 2))

    def _intensity(self, label: str, point: Sequence[float]) -> float:
        """``α = p·e / |e|²`` (the point projected on the label's anchor), in [0.3, 1.5] by 0.05; 0 for neutral."""
        anchor = CANONICAL[label].adv
        norm = sum(x * x for x in anchor)
        if label == "neutral" or norm == 0:
            return 0.0
        alpha = sum(p * e for p, e in zip(point, anchor)) / norm
        return round(_clip(alpha, MIN_INTENSITY, MAX_AUTO_INTENSITY) * 20) / 20


def _matches(entry: _Entry, window: list[str]) -> bool:
    *head, last = entry.words
    if list(window[:-1]) != head:
        return False
    return window[-1].startswith(last) if entry.prefix else window[-1] == last


# ------------------------------------------------------------------------------------------------ auto specs

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
_AUTO_TERM = re.compile(
    rf"^(?P<neg>-)?\s*auto\s*(?::\s*(?P<num>{_NUMBER})\s*(?P<pct>%)?)?\s*(?:@\s*(?P<at>{_NUMBER}))?$"
)
_AUTO_HEAD = re.compile(r"^-?\s*auto\b")


def is_auto_spec(spec: object) -> bool:
    """True when ``spec`` is a string with an ``auto`` term (``auto``, ``auto:0.5``, ``auto+sad:0.3``)."""
    if not isinstance(spec, str):
        return False
    return any(_AUTO_HEAD.match(t.strip()) for t in spec.lower().split("+"))


@dataclass(frozen=True)
class AutoSpec:
    """A spec with an ``auto`` term: the text's emotion, scaled, optionally mixed with fixed emotions.

    ``scale`` multiplies the estimated intensity; ``weight`` is auto's share of the mixture and ``others`` the
    fixed components (weights as written, intensities as parsed).
    """

    scale: float = 1.0
    weight: float = 1.0
    others: tuple[EmotionComponent, ...] = ()

    def resolve(self, estimate: TextEmotion) -> str:
        """The concrete spec string for one estimate, e.g. ``happy:0.6`` or ``happy:0.7@0.85+sad:0.3``."""
        alpha = round(estimate.intensity * self.scale, 2) if estimate.label != "neutral" else 0.0
        label = estimate.label if alpha else "neutral"
        alpha = alpha or 1.0
        if not self.others:
            if label == "neutral":
                return "neutral"
            return str(EmotionSpec("label", (EmotionComponent(label, 1.0, alpha),)))
        weights: dict[str, float] = {label: self.weight}
        moments: dict[str, float] = {label: self.weight * alpha}
        for c in self.others:
            weights[c.name] = weights.get(c.name, 0.0) + c.weight
            moments[c.name] = moments.get(c.name, 0.0) + c.weight * c.intensity
        total = sum(weights.values())
        parts = tuple(
            EmotionComponent(name, w / total, round(moments[name] / w, 4)) for name, w in weights.items()
        )
        return str(EmotionSpec("label", parts))


def parse_auto_spec(spec: str, known: Sequence[str] | None = None) -> AutoSpec | None:
    """Parse an ``auto`` spec; None when ``spec`` has no auto term (it is an ordinary spec).

    Grammar: ``auto`` | ``auto:S`` (S scales the estimated intensity, 0-2) | ``auto@S`` |
    ``auto[:W][@S] + term + ...`` where the terms are emotion labels as in :mod:`emovox.emotion.spec` with their
    numbers read as mixture weights. Without ``W`` auto gets ``1 - Σ others`` when the others sum below 1
    (``auto+sad:0.3`` = 70 % auto, 30 % sad), else 1 (``auto+sad`` = half and half).
    """
    if not is_auto_spec(spec):
        return None
    known = list(CANONICAL) if known is None else list(known)
    terms = [t.strip() for t in spec.strip().lower().split("+")]
    if any(not t for t in terms):
        raise EmotionSpecError(f"emotion spec {spec!r} has an empty term around '+'")
    auto_terms = [t for t in terms if _AUTO_HEAD.match(t)]
    if len(auto_terms) > 1:
        raise EmotionSpecError(f"'auto' appears more than once in spec {spec!r}")
    m = _AUTO_TERM.match(auto_terms[0])
    if not m:
        raise EmotionSpecError(
            f"cannot read {auto_terms[0]!r} in spec {spec!r}; use 'auto', 'auto:0.5' (scaled), "
            "'auto+sad:0.3' (mixed with 30 % sad) or 'auto:0.6@1.2+angry:0.4'"
        )
    if m["neg"]:
        raise EmotionSpecError(f"'-auto' in spec {spec!r}: the text's emotion cannot be negated")
    others_raw = [t for t in terms if t is not auto_terms[0]]
    for t in others_raw:
        if t.split(":")[0].strip() in ("adv", "va"):
            raise EmotionSpecError(f"'auto' mixes with emotion labels only, not with {t!r} (spec {spec!r})")
    num = None
    if m["num"] is not None:
        num = float(m["num"]) / (100.0 if m["pct"] else 1.0)
    at = float(m["at"]) if m["at"] is not None else None
    others = tuple(EmotionComponent(*_parse_term(t, known, spec, mixture=True)) for t in others_raw)
    names = [c.name for c in others]
    if len(set(names)) < len(names):
        raise EmotionSpecError(f"an emotion appears more than once in spec {spec!r}")
    if not others:
        if num is not None and at is not None:
            raise EmotionSpecError(f"spec {spec!r}: give auto's scale once ('auto:0.5' or 'auto@0.5')")
        scale = num if num is not None else at if at is not None else 1.0
        weight = 1.0
    else:
        scale = 1.0 if at is None else at
        rest = sum(c.weight for c in others)
        weight = num if num is not None else (1.0 - rest if rest < 1.0 else 1.0)
        if not (math.isfinite(weight) and weight > 0):
            raise EmotionSpecError(f"auto's weight in spec {spec!r} must be positive, got {weight:g}")
    if not (math.isfinite(scale) and 0.0 <= scale <= MAX_INTENSITY):
        raise EmotionSpecError(
            f"auto's scale in spec {spec!r} must be between 0 and {MAX_INTENSITY:g}, got {scale:g}"
        )
    return AutoSpec(scale=scale, weight=weight, others=others)


# ------------------------------------------------------------------------------------------------ evaluation


def evaluate(estimator: TextEmotionEstimator, examples: Iterable[tuple[str, str, int]]) -> dict[str, float]:
    """Accuracy on ``(text, label, valence_sign)`` examples.

    Returns ``label`` (exact label), ``valence_sign`` (sign of the estimated valence on examples whose sign is
    ±1), ``valence_3way`` (+, -, or |v| < 0.15 counted as 0, on all examples) and ``n``.
    """
    n = label_ok = sign_n = sign_ok = three_ok = 0
    for text, label, sign in examples:
        est = estimator.estimate(text)
        n += 1
        label_ok += est.label == label
        estimated_sign = 0 if abs(est.valence) < 0.15 else (1 if est.valence > 0 else -1)
        three_ok += estimated_sign == sign
        if sign:
            sign_n += 1
            sign_ok += (est.valence > 0) == (sign > 0) and est.valence != 0
    if not n:
        raise ValueError("no examples to evaluate")
    return {
        "n": n,
        "label": label_ok / n,
        "valence_sign": sign_ok / sign_n if sign_n else float("nan"),
        "valence_3way": three_ok / n,
    }

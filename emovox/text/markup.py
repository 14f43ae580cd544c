"""Emotion markup: the SSML subset of DESIGN.md parsed into a flat list of :class:`Segment`.

Elements::

    <speak>                                   root (optional: added when the text starts with another tag)
    <emotion name="angry" intensity="0.6">    or adv="0.8,0.4,-0.5", va="0.6,0.3", spec="sad:0.7+angry:0.3"
    <prosody rate="slow" pitch="+2st" volume="loud">
    <break time="300ms"/>                     or strength="weak|medium|strong|x-strong|none|x-weak"

Nesting: an inner ``<emotion>`` replaces the outer one for its span; nested ``<prosody>`` rates and volumes
multiply and pitch shifts add, and the results must stay within the ranges of one element (rate 0.25-4, pitch
±24 st, gain at most 4). Text outside any ``<emotion>`` has ``emotion=None`` (the request's default).

The emotion of a segment is kept as a spec *string* in the grammar of :mod:`emovox.emotion.spec`: the text
package does not import ``emovox.emotion`` (package boundary). Callers that know the model's emotions pass
``validate_emotion=lambda s: parse_emotion_spec(s, known)`` so a bad name is reported with its line and column;
they turn each ``segment.emotion`` into an ``EmotionSpec`` the same way.

Parsing is defused (``defusedxml``): a DTD, entity declarations and external references are rejected, so no
entity expansion ("billion laughs") and no file or network access can happen.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

__all__ = ["MarkupError", "Segment", "opens_with_a_tag", "parse_markup"]

MAX_BREAK_MS = 10_000
RATE_RANGE = (0.25, 4.0)  # speaking-rate factors a span may have (also after nesting)
MAX_PITCH_ST = 24.0  # largest pitch shift in semitones, either way
MAX_VOLUME = 4.0  # largest linear gain
_BREAK_STRENGTH = {"none": 0, "x-weak": 100, "weak": 200, "medium": 400, "strong": 700, "x-strong": 1000}
_RATE_WORDS = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.75}
_PITCH_WORDS = {"x-low": -6.0, "low": -3.0, "medium": 0.0, "default": 0.0, "high": 3.0, "x-high": 6.0}
_VOLUME_DB = {"x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0, "loud": 6.0, "x-loud": 12.0}
_ALLOWED = {
    "speak": {"version", "{http://www.w3.org/XML/1998/namespace}lang"},
    "emotion": {"name", "intensity", "adv", "va", "spec"},
    "prosody": {"rate", "pitch", "volume"},
    "break": {"time", "strength"},
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z_\- ]*$")


def opens_with_a_tag(text: str) -> bool:
    """Whether ``text`` begins with one of the markup's tags (``<speak>``, ``<emotion ...>``, ...), as opposed to
    plain text that merely starts with '<' ("<3 I love you")."""
    m = re.match(r"\s*<\s*([A-Za-z]+)", text)
    return bool(m) and m.group(1) in _ALLOWED


class MarkupError(ValueError):
    """Malformed or unsupported markup; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"markup error at line {line}, column {column}: {message}")
        self.line, self.column = line, column


@dataclass(frozen=True)
class Segment:
    """A span of text with one emotion and prosody, or a pause (``text == ""`` and ``break_ms > 0``)."""

    text: str
    emotion: str | None = None  # emotion spec string (emovox.emotion.spec grammar); None = request default
    break_ms: int = 0  # silence in milliseconds (pause segments only)
    rate: float = 1.0  # speaking-rate factor; 2 = twice as fast
    pitch: float = 0.0  # pitch shift in semitones
    volume: float = 1.0  # linear gain; 0 = silent

    @property
    def is_pause(self) -> bool:
        return not self.text and self.break_ms > 0


@dataclass(frozen=True)
class _State:
    emotion: str | None = None
    rate: float = 1.0
    pitch: float = 0.0
    volume: float = 1.0


def _number(value: str, what: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return x


def _relative(value: str, what: str) -> float | None:
    """'+20%' -> 1.2, '-20%' -> 0.8, '150%' -> 1.5; None when it is not a percentage."""
    if not value.endswith("%"):
        return None
    pct = _number(value[:-1], what) / 100.0
    return 1.0 + pct if value[:1] in "+-" else pct


def _rate(value: str) -> float:
    v = value.strip().lower()
    rate = _RATE_WORDS.get(v)
    if rate is None:
        rate = _relative(v, "rate")
    if rate is None:
        rate = _number(v, "rate")
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise ValueError(f"rate {value!r} gives factor {rate:g}, outside [0.25, 4]")
    return rate


def _pitch(value: str) -> float:
    v = value.strip().lower()
    if v in _PITCH_WORDS:
        return _PITCH_WORDS[v]
    if v.endswith("st"):
        st = _number(v[:-2], "pitch")
    elif (factor := _relative(v, "pitch")) is not None:
        if factor <= 0:
            raise ValueError(f"pitch {value!r} must keep a positive frequency")
        st = 12.0 * math.log2(factor)
    else:
        raise ValueError(f"pitch {value!r} must be x-low/low/medium/high/x-high, '+2st' or '+10%'")
    if not -MAX_PITCH_ST <= st <= MAX_PITCH_ST:
        raise ValueError(f"pitch {value!r} is outside ±24 semitones")
    return st


def _volume(value: str) -> float:
    v = value.strip().lower()
    if v == "silent":
        return 0.0
    if v in _VOLUME_DB:
        gain = 10.0 ** (_VOLUME_DB[v] / 20.0)
    elif v.endswith("db"):
        gain = 10.0 ** (_number(v[:-2], "volume") / 20.0)
    elif (factor := _relative(v, "volume")) is not None:
        gain = factor
    else:
        raise ValueError(f"volume {value!r} must be silent/x-soft/soft/medium/loud/x-loud, '+6dB' or '+10%'")
    if not 0.0 <= gain <= MAX_VOLUME:
        raise ValueError(f"volume {value!r} gives gain {gain:g}, outside [0, 4]")
    return gain


def _break_ms(attrs: dict[str, str]) -> int:
    if "time" in attrs:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)\s*", attrs["time"].lower())
        if not m:
            raise ValueError(f"break time {attrs['time']!r} must look like '300ms' or '1.5s'")
        ms = float(m[1]) * (1000.0 if m[2] == "s" else 1.0)
    elif "strength" in attrs:
        if attrs["strength"] not in _BREAK_STRENGTH:
            raise ValueError(f"break strength must be one of {', '.join(_BREAK_STRENGTH)}")
        ms = _BREAK_STRENGTH[attrs["strength"]]
    else:
        ms = _BREAK_STRENGTH["medium"]
    if ms > MAX_BREAK_MS:
        raise ValueError(f"break of {ms:g} ms is longer than the {MAX_BREAK_MS} ms allowed")
    return round(ms)


def _emotion_spec(attrs: dict[str, str]) -> str:
    given = [k for k in ("name", "adv", "va", "spec") if k in attrs]
    if len(given) != 1:
        raise ValueError("<emotion> needs exactly one of name=, adv=, va= or spec=")
    if "intensity" in attrs and given != ["name"]:
        raise ValueError("intensity= goes with name= only")
    if "name" in attrs:
        name = attrs["name"].strip()
        if not _NAME.match(name):
            raise ValueError(f"emotion name {name!r} must be a word such as 'angry'")
        if "intensity" not in attrs:
            return name
        return f"{name}:{_number(attrs['intensity'], 'intensity'):g}"
    if "spec" in attrs:
        return attrs["spec"].strip()
    key, n = ("adv", 3) if "adv" in attrs else ("va", 2)
    parts = [p.strip() for p in attrs[key].split(",")]
    if len(parts) != n:
        raise ValueError(f"{key}= needs {n} comma-separated numbers, got {attrs[key]!r}")
    return f"{key}:" + ",".join(f"{_number(p, key):g}" for p in parts)


class _Builder:
    """Tree-builder target of the defused parser: turns start/end/data events into segments."""

    def __init__(self, validate: Callable[[str], object] | None, offset: int) -> None:
        self.parser: DefusedXMLParser | None = None
        self.validate, self.offset = validate, offset
        self.stack: list[tuple[str, _State]] = []
        self.segments: list[Segment] = []
        self.text: list[str] = []

    def position(self) -> tuple[int, int]:
        line, col = self.parser.parser.CurrentLineNumber, self.parser.parser.CurrentColumnNumber
        return line, col + 1 - (self.offset if line == 1 else 0)

    def fail(self, message: str) -> MarkupError:
        return MarkupError(message, *self.position())

    def flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self.text)).strip()
        self.text = []
        if text:
            s = self.stack[-1][1]
            self.segments.append(
                Segment(text, s.emotion, 0, round(s.rate, 6), round(s.pitch, 6), round(s.volume, 6))
            )

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = tag.rsplit("}", 1)[-1]
        if tag not in _ALLOWED:
            raise self.fail(f"unsupported element <{tag}>; use {', '.join(f'<{t}>' for t in _ALLOWED)}")
        unknown = sorted(set(attrs) - _ALLOWED[tag])
        if unknown:
            raise self.fail(
                f"<{tag}> has no attribute {unknown[0]!r}; allowed: {', '.join(sorted(_ALLOWED[tag]))}"
            )
        if (tag == "speak") != (not self.stack):
            raise self.fail("<speak> must be the root element and appear once")
        if self.stack:
            self.flush()
        state = self.stack[-1][1] if self.stack else _State()
        try:
            state = self._apply(tag, attrs, state)
        except ValueError as exc:
            raise self.fail(str(exc)) from None
        self.stack.append((tag, state))

    def _apply(self, tag: str, attrs: dict[str, str], state: _State) -> _State:
        if tag == "emotion":
            spec = _emotion_spec(attrs)
            if self.validate is not None:
                self.validate(spec)
            return replace(state, emotion=spec)
        if tag == "prosody":
            rate = state.rate * (_rate(attrs["rate"]) if "rate" in attrs else 1.0)
            pitch = state.pitch + (_pitch(attrs["pitch"]) if "pitch" in attrs else 0.0)
            volume = state.volume * (_volume(attrs["volume"]) if "volume" in attrs else 1.0)
            # Nested elements compound: each is in range, their product or sum must be too (20 nested
            # rate="x-slow" would otherwise ask for a millionfold duration).
            if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
                raise ValueError(f"nested <prosody> rates multiply to {rate:g}, outside [0.25, 4]")
            if not -MAX_PITCH_ST <= pitch <= MAX_PITCH_ST:
                raise ValueError(f"nested <prosody> pitch shifts add up to {pitch:+g} st, outside ±24 st")
            if not volume <= MAX_VOLUME:
                raise ValueError(f"nested <prosody> volumes multiply to a gain of {volume:g}, more than 4")
            return _State(state.emotion, rate, pitch, volume)
        if tag == "break":
            ms = _break_ms(attrs)
            if ms:
                if self.segments and self.segments[-1].is_pause:
                    last = self.segments.pop()
                    ms = min(MAX_BREAK_MS, ms + last.break_ms)
                self.segments.append(Segment("", state.emotion, ms, state.rate, state.pitch, state.volume))
        return state

    def end(self, tag: str) -> None:
        if tag.rsplit("}", 1)[-1] == "break" and "".join(self.text).strip():
            raise self.fail("<break> must be empty")
        self.flush()
        self.stack.pop()

    def data(self, text: str) -> None:
        self.text.append(text)

    def close(self) -> list[Segment]:
        return _merge(self.segments)


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbouring text segments that share emotion and prosody."""
    out: list[Segment] = []
    for seg in segments:
        prev = out[-1] if out else None
        if (
            prev
            and not prev.is_pause
            and not seg.is_pause
            and replace(prev, text="") == replace(seg, text="")
        ):
            out[-1] = replace(prev, text=f"{prev.text} {seg.text}")
        else:
            out.append(seg)
    return out


def parse_markup(text: str, validate_emotion: Callable[[str], object] | None = None) -> list[Segment]:
    """Parse emotion markup into segments; text that does not start with ``<`` is one plain segment.

    Args:
        text: plain text or markup.
        validate_emotion: called with each emotion spec string; a ``ValueError`` it raises becomes a
            :class:`MarkupError` at the element's position.
    Raises:
        MarkupError: malformed XML, an unsupported element or attribute, a bad value, a DTD or entity.
    """
    if not isinstance(text, str):
        raise TypeError(f"markup must be str, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        return []
    if not stripped.startswith("<"):
        return [Segment(stripped)]
    wrap = not re.match(r"<(\?xml|!|speak[\s>/])", stripped)
    source = f"<speak>{text.lstrip()}</speak>" if wrap else text.lstrip()
    lead = text[: len(text) - len(text.lstrip())]
    builder = _Builder(validate_emotion, offset=len("<speak>") if wrap else 0)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(source)
        segments = parser.close()
    except MarkupError as exc:
        raise _shift(exc, lead) from None
    except ET.ParseError as exc:
        line, col = exc.position
        col = col + 1 - (len("<speak>") if wrap and line == 1 else 0)
        message = str(exc).split(":")[0]
        raise _shift(MarkupError(message, line, max(col, 1)), lead) from None
    except defusedxml.DefusedXmlException as exc:
        raise _shift(
            builder.fail(f"forbidden construct ({type(exc).__name__}): DTDs and entities are not allowed"),
            lead,
        ) from None
    except ValueError as exc:  # a validator error raised outside an element start
        raise _shift(builder.fail(str(exc)), lead) from None
    return segments


def _shift(exc: MarkupError, lead: str) -> MarkupError:
    """Re-express a position in the caller's text, which may start with blank lines we stripped."""
    extra_lines = lead.count("\n")
    if not extra_lines and not lead:
        return exc
    column = exc.column + (len(lead) if not extra_lines and exc.line == 1 else 0)
    if extra_lines and exc.line == 1:
        column += len(lead) - lead.rfind("\n") - 1
    message = str(exc).split(": ", 1)[1]
    return MarkupError(message, exc.line + extra_lines, column)

"""Property-based fuzzing (hypothesis, bounded): the text front end, the markup parser, the emotion-spec parser and
the audio loader either work or raise their documented ValueError subclass — never another exception.

Budgets (max_examples) keep the whole file well under a minute on two shared cores; every test also records how
many inputs it tried in ``FUZZ_STATS`` (printed at the end with ``-s``).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emovox.audio.io import AudioError, load_audio
from emovox.emotion.spec import EmotionSpecError, parse_emotion_spec
from emovox.text.markup import MarkupError, parse_markup

FUZZ = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
FUZZ_STATS: dict[str, int] = {}


def _count(name: str) -> None:
    FUZZ_STATS[name] = FUZZ_STATS.get(name, 0) + 1


# ------------------------------------------------------------------------------------------------ text front end

ODD_TEXT = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.from_regex(
        r"[A-Za-z0-9 $€£%.,:;!?'\"()/&@#+\-]{0,80}", fullmatch=True
    ),  # numbers, currency, abbreviations
    st.sampled_from(
        [
            "Dr. St. Mr.",
            "$1,000,000.99",
            "1/2/2023",
            "3rd 21st",
            "10:30pm",
            "1e309",
            "-0",
            "٣٤٥",
            "ｈｅｌｌｏ",
            "\u202e\u200b",
            "\x00\x01\x02",
            "9" * 400,
            "...",
            "a\u0301" * 30,
        ]
    ),
)


@pytest.fixture(scope="module")
def frontend():
    from emovox.text.frontend import TextFrontend

    return TextFrontend("en-us")


@settings(FUZZ, max_examples=300)
@given(text=ODD_TEXT)
def test_text_front_end_handles_every_string(frontend, text):
    """Normalise + phonemise + symbol ids: any str gives ids inside the table (unknowns are <unk>, never lost)."""
    _count("text front end")
    out = frontend(text)
    n = len(frontend.tokenizer.table)
    assert all(isinstance(i, int) and 0 <= i < n for i in out.ids)
    assert isinstance(out.normalized, str) and isinstance(out.phonemes, str)


@settings(FUZZ, max_examples=500)
@given(text=ODD_TEXT)
def test_normalizer_handles_every_string(text):
    from emovox.text.normalize import Normalizer

    _count("normalizer")
    assert isinstance(Normalizer("en")(text), str)


# -------------------------------------------------------------------------------------------------------- markup

ATTR = st.sampled_from(
    [
        'name="sad"',
        'name="x y"',
        'intensity="0.5"',
        'intensity="nan"',
        'adv="0.1,0.2,0.3"',
        'va="1,1"',
        'va="2"',
        'spec="sad:0.7+angry:0.3"',
        'rate="x-slow"',
        'rate="+50%"',
        'rate="0"',
        'pitch="+2st"',
        'pitch="-90%"',
        'volume="loud"',
        'volume="+6dB"',
        'time="300ms"',
        'time="1e9s"',
        'strength="strong"',
        'bogus="1"',
        "",
    ]
)
TAG = st.sampled_from(["speak", "emotion", "prosody", "break", "b", "x:emotion"])
PIECE = st.one_of(
    st.builds(lambda t, a: f"<{t} {a}>", TAG, ATTR),
    st.builds(lambda t: f"</{t}>", TAG),
    st.builds(lambda t, a: f"<{t} {a}/>", TAG, ATTR),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12),
    st.sampled_from(
        [
            "&amp;",
            "&lt;",
            "&bogus;",
            "&#0;",
            "&#x41;",
            "<!--c-->",
            "<![CDATA[<x>]]>",
            "<?pi x?>",
            '<!DOCTYPE s [<!ENTITY e "x">]>',
            "<",
            ">",
            '"',
            "\n",
        ]
    ),
)
MARKUP = st.one_of(st.lists(PIECE, max_size=14).map("".join), st.text(max_size=80))


@settings(FUZZ, max_examples=1500)
@given(text=MARKUP)
def test_markup_parser_works_or_raises_markup_error(text):
    _count("markup parser")
    try:
        segments = parse_markup(text, validate_emotion=parse_emotion_spec)
    except MarkupError as exc:
        assert exc.line >= 1 and exc.column >= 1
        return
    for seg in segments:
        assert 0.25 <= seg.rate <= 4 and -24 <= seg.pitch <= 24 and 0 <= seg.volume <= 4
        assert 0 <= seg.break_ms <= 10_000
        if seg.emotion is not None:
            parse_emotion_spec(seg.emotion)  # every emotion the parser passes on is a valid spec


# -------------------------------------------------------------------------------------------------- emotion spec

SPEC_ATOM = st.sampled_from(
    [
        "happy",
        "sad",
        "angry",
        "neutral",
        "joy",
        "anger",
        "fear",
        "xyz",
        "adv",
        "va",
        "same",
        ":",
        ",",
        "+",
        "-",
        "%",
        "@",
        " ",
        ".",
        "0",
        "0.5",
        "1",
        "2",
        "1e3",
        "nan",
        "inf",
        "-1",
        "70",
        "1e-400",
        "1e400",
    ]
)
SPEC = st.one_of(st.lists(SPEC_ATOM, max_size=10).map("".join), st.text(max_size=40))


@settings(FUZZ, max_examples=3000)
@given(spec=SPEC)
def test_emotion_spec_parser_works_or_raises_spec_error(spec):
    _count("emotion spec")
    try:
        parsed = parse_emotion_spec(spec)
    except EmotionSpecError:
        return
    if parsed.kind == "label":
        assert abs(sum(c.weight for c in parsed.components) - 1) < 1e-9
        assert all(-2 <= c.intensity <= 2 and c.weight > 0 for c in parsed.components)
    else:
        assert all(-1 <= x <= 1 for x in parsed.adv)
    again = parse_emotion_spec(str(parsed))  # the canonical string reads back to (nearly) the same spec
    assert again.kind == parsed.kind and [c.name for c in again.components] == [
        c.name for c in parsed.components
    ]


# --------------------------------------------------------------------------------------------------- audio loader


def _valid_wav(seconds: float, sr: int, subtype: str) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


SEEDS = [_valid_wav(0.05, sr, sub) for sr in (8000, 22050, 48000) for sub in ("PCM_16", "FLOAT", "PCM_U8")]


@st.composite
def mutated_audio(draw) -> bytes:
    """A valid WAV with header fields overwritten (sizes, rate, channels, format), bytes flipped or truncated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        offset = draw(st.sampled_from([4, 20, 22, 24, 28, 32, 34, 40, draw(st.integers(0, len(data) - 4))]))
        value = draw(
            st.sampled_from([0, 1, 2, 3, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, draw(st.integers(0, 2**32 - 1))])
        )
        width = 2 if offset in (20, 22, 32, 34) else 4
        data[offset : offset + width] = struct.pack("<I", value)[:width]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


AUDIO_BYTES = st.one_of(mutated_audio(), st.binary(max_size=300))


@settings(FUZZ, max_examples=1000)
@given(data=AUDIO_BYTES)
def test_audio_loader_works_or_raises_audio_error(tmp_path, data):
    _count("audio loader")
    path = tmp_path / "fuzz.wav"
    path.write_bytes(data)
    try:
        audio, info = load_audio(path, max_seconds=60.0)
    except AudioError:
        return
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size > 0
    assert np.isfinite(audio).all() and info.sample_rate == 22050
    assert audio.size <= 60 * 22050 + 22050


def test_report_fuzz_stats(capsys):
    """Runs last in this file: prints how many inputs each fuzz target tried."""
    with capsys.disabled():
        print("\nfuzz inputs tried:", FUZZ_STATS, "total", sum(FUZZ_STATS.values()))

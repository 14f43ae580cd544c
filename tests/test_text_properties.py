"""Property tests: arbitrary input never crashes the front end; it gives tokens or a ValueError subclass."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emovox.emotion.spec import EmotionSpecError, parse_emotion_spec
from emovox.text.chunking import chunk_text
from emovox.text.frontend import TextFrontend
from emovox.text.markup import MarkupError, parse_markup

FRONTEND = TextFrontend("en-us")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_tag = st.sampled_from(["speak", "emotion", "prosody", "break", "foo", "emotion name='sad'", "break time='5ms'",
                        "emotion adv='1,0,0'", "prosody rate='fast'", "emotion name='x' intensity='y'"])  # fmt: skip
_piece = st.one_of(
    st.text(max_size=12),
    _tag.map(lambda t: f"<{t}>"),
    _tag.map(lambda t: f"</{t.split()[0]}>"),
    _tag.map(lambda t: f"<{t}/>"),
    st.sampled_from(
        ["&amp;", "&lt;", "&bogus;", "<!DOCTYPE x>", "<?xml version='1.0'?>", "]]>", "<![CDATA[x]]>"]
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_unicode_gives_tokens(text):
    out = FRONTEND(text)
    table = FRONTEND.tokenizer.table
    assert out.ids[0] == table.bos_id and out.ids[-1] == table.eos_id
    assert all(0 <= i < len(table) for i in out.ids)


@FAST
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=120), st.sampled_from(["de", "zh", "hi", "fr"])
)
def test_any_unicode_other_languages(text, lang):
    out = _frontends(lang)(text)
    assert out.ids


_CACHE = {}


def _frontends(lang):
    if lang not in _CACHE:
        _CACHE[lang] = TextFrontend(lang)
    return _CACHE[lang]


@FAST
@given(st.lists(_piece, max_size=12).map("".join))
def test_any_markup_parses_or_raises_markup_error(text):
    try:
        segments = parse_markup(text, validate_emotion=parse_emotion_spec)
    except MarkupError as exc:
        assert exc.line >= 1 and exc.column >= 1
        return
    for seg in segments:
        if seg.text:
            assert FRONTEND(seg.text).ids


@FAST
@given(st.text(max_size=40))
def test_any_spec_parses_or_raises_spec_error(text):
    try:
        spec = parse_emotion_spec(text)
    except EmotionSpecError:
        return
    assert parse_emotion_spec(str(spec)) == spec or spec.is_mixture


@FAST
@given(st.text(max_size=300), st.integers(min_value=1, max_value=40))
def test_chunking_never_loses_text(text, limit):
    chunks = chunk_text(text, limit, measure=len)
    assert "".join("".join(chunks).split()) == "".join(text.split())

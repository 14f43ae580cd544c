import math

import pytest

from emovox.emotion.spec import parse_emotion_spec
from emovox.text.markup import MarkupError, Segment, opens_with_a_tag, parse_markup


def test_plain_text_is_one_segment():
    assert parse_markup("  Hello & <world>  ") == [Segment("Hello & <world>")]
    assert parse_markup("   ") == []


def test_tree_with_nesting_breaks_and_prosody():
    text = (
        '<speak>Hello <emotion name="angry" intensity="0.6">you <emotion adv="0.8, 0.4,-0.5">there</emotion> '
        'now</emotion><break time="300ms"/><break strength="weak"/>'
        '<prosody rate="slow" pitch="+2st"><prosody rate="+20%" volume="+6dB">bye</prosody></prosody>'
        '<emotion va="0.6,0.3">calm</emotion><emotion spec="sad:0.7+angry:0.3">mixed</emotion></speak>'
    )
    segs = parse_markup(text)
    assert [(s.text, s.emotion, s.break_ms) for s in segs] == [
        ("Hello", None, 0),
        ("you", "angry:0.6", 0),
        ("there", "adv:0.8,0.4,-0.5", 0),
        ("now", "angry:0.6", 0),
        ("", None, 500),
        ("bye", None, 0),
        ("calm", "va:0.6,0.3", 0),
        ("mixed", "sad:0.7+angry:0.3", 0),
    ]
    bye = segs[5]
    assert (
        bye.rate == pytest.approx(0.9)
        and bye.pitch == 2.0
        and bye.volume == pytest.approx(10 ** (6 / 20), rel=1e-5)
    )
    assert segs[4].is_pause


def test_speak_is_optional_and_neighbours_merge():
    segs = parse_markup('<emotion name="sad">a <prosody>b</prosody></emotion> c')
    assert segs == [Segment("a b", "sad"), Segment("c")]


def test_prosody_words_and_percentages():
    (seg,) = parse_markup('<prosody rate="x-fast" pitch="-10%" volume="soft">x</prosody>')
    assert seg.rate == 1.75 and seg.pitch == pytest.approx(12 * math.log2(0.9), abs=1e-5)
    assert seg.volume == pytest.approx(10 ** (-6 / 20), rel=1e-5)


def test_entities_are_text_not_expansion():
    assert parse_markup("<speak>a &amp; b &lt; c</speak>") == [Segment("a & b < c")]


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("<speak>\n  <emotion name='sad'>a</emotion\n</speak>", 3, 1, "not well-formed"),
        ("<speak><foo/></speak>", 1, 8, "unsupported element <foo>"),
        ("<speak><emotion nme='x'>a</emotion></speak>", 1, 8, "no attribute 'nme'"),
        ("<speak>&nbsp;</speak>", 1, 8, "undefined entity"),
        ("<speak><break time='20s'/></speak>", 1, 8, "longer than"),
        ("<speak>a</speak><speak>b</speak>", 1, 17, "junk after document element"),
        ("<emotion name='sad' adv='1,1,1'>x</emotion>", 1, 1, "exactly one of"),
        ("<emotion adv='1,1'>x</emotion>", 1, 1, "3 comma-separated"),
        ("<emotion name='sad' intensity='lots'>x</emotion>", 1, 1, "not a number"),
        ("<prosody rate='0'>x</prosody>", 1, 1, "outside"),
        ("<prosody pitch='+50Hz'>x</prosody>", 1, 1, "pitch"),
        ("<speak><break time='1s'>x</break></speak>", 1, 26, "must be empty"),
        ("<speak><speak>x</speak></speak>", 1, 8, "root element"),
        ("\n\n  <speak><emotion name='hapy'>x</emotion></speak>", 3, 10, "Did you mean 'happy'"),
    ],
)
def test_errors_have_positions(text, line, column, message):
    with pytest.raises(MarkupError) as info:
        parse_markup(text, validate_emotion=parse_emotion_spec)
    assert (info.value.line, info.value.column) == (line, column)
    assert message in str(info.value) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?>\n<!DOCTYPE speak [<!ENTITY a "aaaa">]><speak>&a;</speak>',
        '<!DOCTYPE speak SYSTEM "file:///etc/passwd"><speak>x</speak>',
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><speak>&lol2;</speak>',
    ],
)
def test_dtd_and_entities_forbidden(text):
    with pytest.raises(MarkupError, match="forbidden"):
        parse_markup(text)


def test_validator_sees_every_spec():
    seen = []
    parse_markup(
        '<emotion name="sad">a<emotion adv="0,0,0">b</emotion></emotion>', validate_emotion=seen.append
    )
    assert seen == ["sad", "adv:0,0,0"]
    specs = [
        parse_emotion_spec(s.emotion) for s in parse_markup('<emotion name="joy" intensity="1.5">x</emotion>')
    ]
    assert str(specs[0]) == "happy:1.5"


def test_opens_with_a_tag_tells_markup_from_plain_text_starting_with_a_bracket():
    for text in (
        "<speak>Hi</speak>",
        "  <emotion name='sad'>a</emotion>",
        "< break time='1s'/>",
        "<prosody rate='slow'>",
    ):
        assert opens_with_a_tag(text), text
    for text in ("<3 I love you", "<<hello>>", "< 5 apples", "<b>bold</b>", "plain", ""):
        assert not opens_with_a_tag(text), text

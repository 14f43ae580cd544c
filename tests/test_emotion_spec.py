import math

import pytest

from emovox.emotion.spec import EmotionComponent, EmotionSpec, EmotionSpecError, parse_emotion_spec

C = EmotionComponent


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("happy", EmotionSpec("label", (C("happy", 1.0, 1.0),))),
        ("happy:0.6", EmotionSpec("label", (C("happy", 1.0, 0.6),))),
        ("  HAPPY : 0.6 ", EmotionSpec("label", (C("happy", 1.0, 0.6),))),
        ("happy:60%", EmotionSpec("label", (C("happy", 1.0, 0.6),))),
        ("-happy", EmotionSpec("label", (C("happy", 1.0, -1.0),))),
        ("-happy:0.5", EmotionSpec("label", (C("happy", 1.0, -0.5),))),
        ("happy:2", EmotionSpec("label", (C("happy", 1.0, 2.0),))),
        ("joy", EmotionSpec("label", (C("happy", 1.0, 1.0),))),
        ("adv:0.8,0.4,-0.5", EmotionSpec("adv", adv=(0.8, 0.4, -0.5))),
        ("va:0.6,0.3", EmotionSpec("va", adv=(0.3, 0.0, 0.6))),
    ],
)
def test_single(spec, expected):
    assert parse_emotion_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "weights", "intensities"),
    [
        ("sad:0.7+angry:0.3", (0.7, 0.3), (1, 1)),
        ("70% sad + 30% angry", (0.7, 0.3), (1, 1)),
        ("sad:7+angry:3", (0.7, 0.3), (1, 1)),
        ("sad+angry", (0.5, 0.5), (1, 1)),
        ("sad:0.7@1.5+-angry:0.3", (0.7, 0.3), (1.5, -1)),
    ],
)
def test_mixtures_normalised(spec, weights, intensities):
    parsed = parse_emotion_spec(spec)
    assert parsed.is_mixture and [c.name for c in parsed.components] == ["sad", "angry"]
    assert [c.weight for c in parsed.components] == pytest.approx(weights)
    assert [c.intensity for c in parsed.components] == pytest.approx(intensities)
    assert math.isclose(sum(c.weight for c in parsed.components), 1.0)


@pytest.mark.parametrize("spec", ["happy", "happy:0.6", "-happy", "sad:0.7+angry:0.3", "sad:0.25@1.5+fear:0.75",
                                  "adv:0.8,0.4,-0.5", "va:0.6,0.3"])  # fmt: skip
def test_str_round_trip(spec):
    parsed = parse_emotion_spec(spec)
    assert parse_emotion_spec(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hapy", "Did you mean 'happy'"),
        ("xyz", "Known emotions: neutral, happy"),
        ("", "empty"),
        ("happy:nan", "cannot read"),
        ("adv:nan,0,0", "finite"),
        ("adv:1,1,inf", "finite"),
        ("adv:2,0,0", "outside [-1, 1]"),
        ("va:1", "2 comma-separated"),
        ("happy:3", "outside [-2, 2]"),
        ("-happy:2.5", "outside [-2, 2]"),
        ("sad:0+angry:1", "must be positive"),
        ("sad:-1+angry:1", "must be positive"),
        ("sad+sad", "more than once"),
        ("happy+", "empty term"),
        ("50% happy:0.5", "both a percentage"),
    ],
)
def test_errors(spec, message):
    with pytest.raises(EmotionSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_emotion_spec(spec)


def test_known_names_restrict_and_are_listed():
    assert parse_emotion_spec("Whisper", known=["whisper", "shout"]).components[0].name == "whisper"
    with pytest.raises(EmotionSpecError, match="Known emotions: whisper, shout"):
        parse_emotion_spec("happy", known=["whisper", "shout"])


def test_non_string_rejected():
    with pytest.raises(EmotionSpecError):
        parse_emotion_spec(None)

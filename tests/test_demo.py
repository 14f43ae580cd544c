"""The Gradio demo (emovox.web.demo) with a tiny model and a fake converter: the Blocks app builds, and its
handlers — called directly, no browser — synthesise, plot, preview markup and convert, and turn bad input into
messages. The browser test (tests/browser) drives the same app through Chromium."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("gradio")
pytest.importorskip("matplotlib")

import gradio as gr

from emovox.cli import main as cli
from emovox.emotion.labels import adv_anchor
from emovox.emotion.spec import parse_emotion_spec
from emovox.pipelines import EmotionalTTS
from emovox.web import demo_controls as controls
from emovox.web.demo import EmovoxDemo, build_demo, load_converter
from tests.tiny_voice import EMOTIONS, make_tiny_voice

NO_WEIGHTS = (0.0,) * len(EMOTIONS)  # one mixer slider per emotion of the tiny voice


@pytest.fixture(scope="module")
def tts(tmp_path_factory):
    return EmotionalTTS.load(make_tiny_voice(tmp_path_factory.mktemp("voice") / "tiny.safetensors"))


class FakeConverter:
    """The VoiceConversion interface: halves the level, so "after" is measurably different from "before"."""

    sample_rate = 22050
    methods = ("prosody",)
    MAX_SECONDS = 600.0

    def __init__(self):
        self.emotions = list(EMOTIONS)
        self.calls = []

    def convert(self, audio, sample_rate, emotion="neutral", *, method=None, keep_timing=False, seed=None):
        parse_emotion_spec(emotion, self.emotions)
        self.calls.append((emotion, method, keep_timing, seed))
        return (0.5 * audio).astype(np.float32), sample_rate

    def estimate_emotion(self, audio, sample_rate):
        return {"label": "sad", "intensity": 0.4, "spec": "sad:0.40"}


@pytest.fixture(scope="module")
def demo(tts):
    return EmovoxDemo(tts, FakeConverter(), max_text_chars=300, max_audio_seconds=5.0)


def voice_clip(path, seconds=1.0, sr=16000, level=0.3):
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    x = level * np.sign(np.sin(2 * np.pi * np.cumsum(f0) / sr)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sf.write(path, x.astype(np.float32), sr)
    return str(path)


def controls_for(mode="label", label="happy", intensity=1.0, valence=0.0, arousal=0.0, dominance=0.0,
                 weights=NO_WEIGHTS):  # fmt: skip
    return (mode, label, intensity, valence, arousal, dominance, *weights)


@pytest.mark.parametrize(
    ("args", "spec", "intensities"),
    [
        (("label", "happy", 1.0), "happy", [1.0]),
        (("label", "happy", 0.6), "happy:0.6", [0.6]),
        (("label", "happy", -0.5), "-happy:0.5", [-0.5]),
        (("label", "sad", -1.0), "-sad", [-1.0]),
        (("mixture", None, 1.0, {"sad": 0.7, "angry": 0.3, "happy": 0.0}), "sad:0.7+angry:0.3", [1.0, 1.0]),
        (("mixture", None, 1.5, {"sad": 0.5, "angry": 0.5}), "sad:0.5@1.5+angry:0.5@1.5", [1.5, 1.5]),
        (("mixture", None, 0.8, {"sad": 0.4}), "sad:0.8", [0.8]),
        (("auto", None, 0.5), "auto:0.5", None),
    ],
)
def test_controls_make_specs_the_parser_reads(args, spec, intensities):
    assert controls.build_spec(*args) == spec
    if intensities is not None:
        parsed = parse_emotion_spec(spec, EMOTIONS)
        assert [c.intensity for c in parsed.components] == pytest.approx(intensities)
    adv = controls.build_spec("adv", valence=0.6, arousal=-0.25, dominance=0.1)
    assert adv == "adv:-0.25,0.1,0.6" and parse_emotion_spec(adv).adv == (-0.25, 0.1, 0.6)
    with pytest.raises(ValueError, match="move at least one"):
        controls.build_spec("mixture", weights={"sad": 0.0})


def test_auto_mode_is_offered_only_when_the_pipelines_take_it(tts, demo):
    assert "auto" in demo.modes  # the pipelines resolve emotion="auto" from the text

    class NoAuto:
        def __init__(self, inner):
            self.__dict__.update(inner.__dict__)
            self.bank, self.emotions = inner.bank, inner.emotions

        def parse_emotion(self, spec):
            return parse_emotion_spec(spec, self.emotions)

    assert not controls.supports_auto(NoAuto(tts))


def test_tts_tab_synthesises_plots_and_places_the_request(demo):
    audio, prosody, va, details = demo.synthesize(
        "Hello there.", "bob", None, 0, 3, *controls_for(intensity=-0.5)
    )
    sr, pcm = audio
    assert sr == 22050 and pcm.dtype == np.int16 and np.abs(pcm).max() > 100
    assert "`-happy:0.5`" in details and "bob" in details
    mel_ax, f0_ax, energy_ax = prosody.axes
    assert (
        f0_ax.get_ylabel() == "F0 (Hz)" and len(f0_ax.lines) == 1 and len(energy_ax.lines[0].get_xdata()) > 10
    )
    assert mel_ax.images and mel_ax.images[0].get_array().shape[0] == 80
    # the request sits at -0.5 x happy's anchor (valence on x, arousal on y)
    a, _, v = adv_anchor("happy")
    star = va.axes[0].collections[-1].get_offsets()[0]
    np.testing.assert_allclose(star, [-0.5 * v, -0.5 * a], atol=1e-6)
    for args in (
        controls_for("mixture", weights=(0, 0, 0.7, 0.3)),
        controls_for("adv", valence=0.6, arousal=0.3),
    ):
        audio, _, va, details = demo.synthesize("Fine.", "", None, 0, None, *args)
        assert np.abs(audio[1]).max() > 100
    assert "`adv:0.3,0,0.6`" in details
    np.testing.assert_allclose(va.axes[0].collections[-1].get_offsets()[0], [0.6, 0.3])
    _, _, va, details = demo.synthesize("What a wonderful day!", "alice", None, 0, 0, *controls_for("auto"))
    assert "`auto` → `" in details and "(from the text)" in details


def test_examples_work_with_the_model(demo):
    for text, mode, label, intensity, valence, arousal, dominance in demo._tts_examples():
        spec, _ = demo.preview(text, *controls_for(mode, label, intensity, valence, arousal, dominance))
        assert spec.startswith("**Emotion spec:**"), spec  # a spec this model takes (synthesis: tests above)
    for (script,) in demo._markup_examples():
        _, rows = demo.timeline(script, "neutral", None)
        assert len(rows) >= 2


def test_preview_names_the_spec_or_the_problem(demo):
    text, figure = demo.preview("Hi.", *controls_for("mixture", intensity=1.0, weights=(0, 0, 0.7, 0.3)))
    assert text == "**Emotion spec:** `sad:0.7+angry:0.3`" and figure.axes
    text, _ = demo.preview("Hi.", *controls_for("mixture"))
    assert text.startswith("⚠️") and "mixture is empty" in text
    text, _ = demo.preview("", *controls_for("auto"))
    assert "from the text" in text


def test_bad_input_is_a_message_not_a_traceback(demo, tts):
    cases = [
        (("", "bob", None, 0, 0, *controls_for()), "Type some text"),
        (("x" * 301, "bob", None, 0, 0, *controls_for()), "301 characters; this demo takes up to 300"),
        (("Hi.", "bob", None, 0, 0, *controls_for("mixture")), "mixture is empty"),
        (
            ("<speak><emotion name='sad'>Hi.</speak>", "bob", None, 0, 0, *controls_for()),
            "markup error at line 1",
        ),
        (("...", "bob", None, 0, 0, *controls_for()), "nothing to say"),
        (("Hi.", "bob", None, 0, 0, *controls_for("auto", intensity=-1)), "must be between 0 and 2"),
    ]
    for args, message in cases:
        with pytest.raises(gr.Error, match=message):
            demo.synthesize(*args)

    class Broken:
        def __getattr__(self, name):
            return getattr(tts, name)

        def synthesize(self, *args, **kwargs):
            raise RuntimeError("boom")

    with pytest.raises(gr.Error, match=r"internal error \(RuntimeError\)"):
        EmovoxDemo(Broken()).synthesize("Hi.", None, None, 0, 0, *controls_for())


def test_reference_clip_gives_the_emotion_and_is_capped(demo, tmp_path):
    clip = voice_clip(tmp_path / "ref.wav", seconds=1.0)
    _, _, va, details = demo.synthesize("Hello.", "alice", clip, 0, 0, *controls_for(intensity=1.5))
    assert "reference clip ×1.5" in details and len(va.axes[0].collections[-1].get_offsets()) == 1
    long = voice_clip(tmp_path / "long.wav", seconds=31.0, sr=8000)
    with pytest.raises(gr.Error, match="31.0 s long; this demo takes up to 30 s"):
        demo.synthesize("Hello.", "alice", long, 0, 0, *controls_for())


SCRIPT = (
    '<speak>Fine. <emotion name="sad" intensity="0.8">It is over. Really over.</emotion>'
    '<break time="300ms"/><emotion name="angry" intensity="-1">No!</emotion>'
    '<emotion name="auto">What a wonderful surprise!</emotion></speak>'
)


def test_markup_timeline_previews_each_sentence(demo):
    figure, rows = demo.timeline(SCRIPT, "neutral", "alice")
    assert [r[3] for r in rows[:5]] == ["neutral", "sad:0.8", "sad:0.8", "(pause)", "angry:-1"]
    assert rows[5][3].startswith("auto → ") and rows[5][4] == "What a wonderful surprise!"
    starts = [r[1] for r in rows]
    assert starts == sorted(starts) and rows[3][2] == pytest.approx(0.3)
    assert rows[4][1] == pytest.approx(rows[3][1] + 0.3, abs=0.01)
    items = controls.markup_timeline(demo.tts, SCRIPT, "neutral")
    assert items[1].emotion == "sad" and items[1].intensity == pytest.approx(0.8)
    assert items[4].intensity == pytest.approx(-1.0)
    bars = figure.axes[0].patches
    assert len(bars) == 6 and bars[4].get_hatch() == "//"  # 5 sentences + the pause; the negated one hatched
    with pytest.raises(gr.Error, match="column 14: unknown emotion 'sadd'"):
        demo.timeline('<speak>Fine. <emotion name="sadd">x</emotion></speak>', "neutral", None)
    with pytest.raises(gr.Error, match="unknown emotion 'glum'"):
        demo.timeline("Fine.", "glum", None)


def test_markup_tab_synthesises_the_script(demo):
    audio, prosody, timeline, rows = demo.synthesize_script(SCRIPT, "neutral", "bob", 0, 1)
    sr, pcm = audio
    planned = rows[-1][1] + rows[-1][2]
    assert np.abs(pcm).max() > 100 and len(rows) == 6
    assert 0.5 * planned < pcm.size / sr < 2.0 * planned  # the preview's timing is the synthesis's, roughly


def test_conversion_tab_converts_and_checks_input(demo, tmp_path):
    clip = voice_clip(tmp_path / "src.wav", seconds=1.0, sr=16000)
    before, after, figure, details = demo.convert(
        clip, "prosody", True, 7, *controls_for("label", "sad", 0.5)
    )
    assert before[0] == after[0] == 16000
    np.testing.assert_allclose(after[1], before[1] // 2, atol=1)
    assert demo.converter.calls[-1] == ("sad:0.5", "prosody", True, 7)
    assert "`sad:0.5`" in details and "sounds like `sad:0.40`" in details
    assert [line.get_label().split(" ")[0] for line in figure.axes[0].lines] == ["before", "after"]
    with pytest.raises(gr.Error, match="Upload or record"):
        demo.convert(None, "prosody", False, 0, *controls_for())
    with pytest.raises(gr.Error, match="6.0 s long; this demo takes up to 5 s"):
        demo.convert(voice_clip(tmp_path / "long.wav", seconds=6.0), "prosody", False, 0, *controls_for())
    with pytest.raises(gr.Error, match="silent"):
        demo.convert(voice_clip(tmp_path / "quiet.wav", level=0.0), "prosody", False, 0, *controls_for())


def test_blocks_build_with_controls_from_the_model(demo):
    blocks = demo.build(concurrency=1)
    config = blocks.get_config_file()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    assert {"tts-text", "tts-label", "tts-intensity", "tts-run", "tts-audio", "tts-prosody", "tts-va",
            "convert-run", "markup-timeline"} <= ids  # fmt: skip
    assert {f"tts-mix-{e}" for e in EMOTIONS} <= ids
    radio = next(c for c in config["components"] if c["props"].get("elem_id") == "tts-label")
    assert [choice[1] for choice in radio["props"]["choices"]] == EMOTIONS
    speakers = next(c for c in config["components"] if c["props"].get("elem_id") == "tts-speaker")
    assert [choice[1] for choice in speakers["props"]["choices"]] == ["alice", "bob"]
    assert blocks._queue.default_concurrency_limit == 1
    heavy = [fn for fn in blocks.fns.values() if fn.concurrency_id == "synthesis"]
    assert len(heavy) == 4 and {fn.concurrency_limit for fn in heavy} == {1}
    api = {d.get("api_name") for d in config["dependencies"]}
    assert {"synthesize", "timeline", "synthesize_markup", "convert"} <= api


class FailingConversion:
    class VoiceConversion:
        @classmethod
        def load(cls, model=None, *, device="cpu"):
            raise FileNotFoundError("gone")


def test_without_conversion_the_tab_says_why(tts, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "emovox.conversion", None)
    converter, notice = load_converter()
    assert converter is None and "not available" in notice
    blocks = build_demo(tts=tts, conversion=True, examples=False)
    texts = [c["props"].get("value") or "" for c in blocks.get_config_file()["components"]]
    assert any("Voice conversion is unavailable" in str(t) and "not available" in str(t) for t in texts)
    monkeypatch.setitem(__import__("sys").modules, "emovox.conversion", FailingConversion)
    assert load_converter("missing.safetensors") == (
        None,
        "The voice-conversion model could not be loaded: gone",
    )
    bare = EmovoxDemo(tts, None, converter_notice="switched off")
    with pytest.raises(gr.Error, match="switched off"):
        bare.convert("x.wav", "prosody", False, 0, *controls_for())


def test_demo_command_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["demo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--share {off,on}" in out and "Voice conversion" in out and "127.0.0.1" in out
    assert cli(["demo", "--port", "70000"]) == 1
    assert "--port must be between 0 and 65535" in capsys.readouterr().err


def test_demo_off_loopback_needs_a_login(capsys, monkeypatch):
    from emovox.commands.demo import AUTH_ENV, parse_auth

    monkeypatch.delenv(AUTH_ENV, raising=False)
    assert cli(["demo", "--host", "0.0.0.0"]) == 1
    assert "reachable from other machines" in capsys.readouterr().err
    assert cli(["demo", "--share", "on"]) == 1
    assert "--share on publishes it" in capsys.readouterr().err
    assert cli(["demo", "--host", "0.0.0.0", "--auth", "me:short"]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert cli(["demo", "--auth", "nocolon"]) == 1
    assert "USER:PASSWORD" in capsys.readouterr().err
    assert parse_auth("me:long-secret:with-colon") == ("me", "long-secret:with-colon")
    assert parse_auth(None) is None


def test_demo_login_is_enforced(tts):
    """With a login the demo's pages and API answer 401 until the user logs in."""
    import httpx

    from emovox.web.demo import build_demo, launch

    blocks = build_demo(tts=tts, converter=None)
    app, url = launch(
        blocks, host="127.0.0.1", port=None, block=False, quiet=True, auth=("me", "long-secret")
    )
    try:
        assert httpx.get(url + "config", timeout=10).status_code == 401
        with httpx.Client(base_url=url, timeout=10) as c:
            assert c.post("/login", data={"username": "me", "password": "wrong-one"}).status_code == 400
            assert c.post("/login", data={"username": "me", "password": "long-secret"}).status_code == 200
            assert c.get("/config").status_code == 200
    finally:
        blocks.close()

"""The Gradio web demo: a thin client of :mod:`emovox.pipelines` (``emovox demo``, ``python demos/app.py``).

Three tabs:

- **Text to speech**: text (plain or markup), the emotion from a label (with intensity; negative = the opposite),
  a mixture (one slider per emotion), a valence/arousal point with dominance, or ``auto`` (from the text, when the
  installed pipelines offer it), or a reference clip; speaker, diffusion steps, seed. The output's mel, F0 and
  energy, and where the request sits in the valence/arousal plane among the model's emotions.
- **Voice conversion**: upload or record, the same emotion controls, before/after audio and F0 (shown as a
  notice when :mod:`emovox.conversion` is not installed or its model cannot be loaded).
- **Markup**: a script with an emotion per sentence or span, previewed as an emotion timeline before synthesis.

Models are loaded once; the controls are built from the model's metadata (emotions, speakers, diffusion decoder).
Inputs are capped (text length, audio duration) with messages; a bad request (a ``ValueError`` from the
pipelines: an unknown emotion, malformed markup, a silent clip) is shown as a message, never a traceback.

>>> from emovox.web.demo import build_demo                                 # doctest: +SKIP
>>> build_demo().launch()                       # the default voice; or build_demo(tts=..., converter=...)
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no phoning home

import gradio as gr
import numpy as np

from emovox.pipelines import MAX_REFERENCE_SECONDS, EmotionalTTS
from emovox.web import plots
from emovox.web.demo_controls import (
    MODES,
    TimelineItem,
    build_spec,
    check_spec,
    emotion_positions,
    is_auto,
    markup_timeline,
    project_adv,
    request_adv,
    resolve_auto,
    supports_auto,
    to_pcm16,
)

__all__ = [
    "DEFAULT_MAX_AUDIO_SECONDS",
    "DEFAULT_MAX_TEXT_CHARS",
    "EmovoxDemo",
    "build_demo",
    "load_converter",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_TEXT_CHARS = 1000
"""Longest text (or markup script, tags included) one demo request takes: about a minute of speech."""
DEFAULT_MAX_AUDIO_SECONDS = 60.0
"""Longest recording the conversion tab takes (``emovox convert`` converts files of any length)."""
MAX_STEPS = 50


def _user_errors(fn: Callable) -> Callable:
    """Show a bad request as a message: ``ValueError`` (every user-facing emovox error) with its text, anything
    else as a short notice (the traceback goes to the server log only)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:
            logger.exception("demo request failed")
            raise gr.Error(
                f"internal error ({type(exc).__name__}); see the server log", print_exception=False
            ) from None

    return wrapper


def load_converter(model: str | None = None, device: str = "cpu") -> tuple[Any | None, str | None]:
    """``(converter, None)``, or ``(None, why)`` when voice conversion is not installed or cannot be loaded."""
    try:
        from emovox.conversion import VoiceConversion
    except ImportError as exc:
        return None, f"Voice conversion is not available in this emovox installation ({exc})."
    try:
        return VoiceConversion.load(model, device=device), None
    except (FileNotFoundError, ValueError) as exc:
        return None, f"The voice-conversion model could not be loaded: {exc}"


@dataclass
class EmotionInputs:
    """The emotion controls of one tab, in the order :meth:`EmovoxDemo.spec_of` reads them."""

    mode: gr.Radio
    label: gr.Radio
    intensity: gr.Slider
    valence: gr.Slider
    arousal: gr.Slider
    dominance: gr.Slider
    weights: list[gr.Slider]
    groups: tuple  # what the mode shows or hides: the label, the intensity, the mixer, the ADV sliders

    def components(self) -> list[gr.components.Component]:
        return [
            self.mode,
            self.label,
            self.intensity,
            self.valence,
            self.arousal,
            self.dominance,
            *self.weights,
        ]


class EmovoxDemo:
    """The demo's handlers (plain methods: tests call them directly) and the Blocks that wires them.

    Args:
        tts: a loaded :class:`emovox.EmotionalTTS` (or an object with its interface).
        converter: a loaded :class:`emovox.conversion.VoiceConversion`, or None (the tab shows ``converter_notice``).
        max_text_chars, max_audio_seconds: input caps, with messages.
    """

    def __init__(
        self,
        tts: Any,
        converter: Any | None = None,
        *,
        converter_notice: str | None = None,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
    ):
        self.tts = tts
        self.converter = converter
        self.converter_notice = converter_notice or "Voice conversion is not loaded."
        self.max_text_chars = int(max_text_chars)
        self.max_audio_seconds = float(max_audio_seconds)
        if converter is not None:
            self.max_audio_seconds = min(self.max_audio_seconds, float(converter.MAX_SECONDS))
        self.modes = [m for m in MODES if m != "auto" or supports_auto(tts)]
        self.positions = emotion_positions(tts.emotions, tts.bank)
        bank = tts.bank
        self.adv_range = (bank.adv_low.tolist(), bank.adv_high.tolist()) if bank is not None else None

    # ------------------------------------------------------------------------------------------ emotion

    def spec_of(self, emotions: Sequence[str], mode, label, intensity, valence, arousal, dominance, *weights):
        """The spec string the controls ask for (``emotions`` names the mixer's sliders in order)."""
        return build_spec(mode, label, intensity, dict(zip(emotions, weights)), valence, arousal, dominance)

    def preview(self, text, mode, label, intensity, valence, arousal, dominance, *weights):
        """Live preview of the TTS tab's controls: ``(spec markdown, valence/arousal figure)``; ``auto`` is
        estimated from ``text`` as a whole (synthesis estimates sentence by sentence)."""
        try:
            spec = self.spec_of(
                self.tts.emotions, mode, label, intensity, valence, arousal, dominance, *weights
            )
            point, shown = self._request_point(spec, text)
        except ValueError as exc:
            return f"⚠️ {exc}", self._va_figure(None, "")
        return f"**Emotion spec:** {shown}", self._va_figure(point, shown.replace("`", ""))

    def _request_point(self, spec: str, text: str | None = None):
        """``(ADV position or None, markdown name)`` of a spec; an ``auto`` spec is resolved on the text as a
        whole (synthesis resolves it sentence by sentence) and placed where the resolved spec sits."""
        check_spec(self.tts, spec)
        if is_auto(self.tts, spec):
            if not (text and text.strip()):
                return None, f"`{spec}` (from the text)"
            words = re.sub(r"<[^>]*>", " ", text)  # markup: the words, not the tags
            spec_resolved, _ = resolve_auto(self.tts, words, spec)
            point = request_adv(self.tts.parse_emotion(spec_resolved), self.positions)
            return point, f"`{spec}` → `{spec_resolved}` (from the text)"
        return request_adv(self.tts.parse_emotion(spec), self.positions), f"`{spec}`"

    def _va_figure(self, point, label: str):
        return plots.va_plane_figure(self.positions, point, label, self.adv_range)

    def _check_text(self, text: str | None, what: str = "text") -> str:
        if not text or not text.strip():
            raise gr.Error(f"Type some {what} first.", print_exception=False)
        if len(text) > self.max_text_chars:
            raise gr.Error(
                f"The {what} has {len(text)} characters; this demo takes up to {self.max_text_chars}. "
                "Shorten it, or use `emovox synth --stream` for long texts.",
                print_exception=False,
            )
        return text

    def _check_clip(self, path: str | None, limit: float) -> str | None:
        if not path:
            return None
        import soundfile as sf

        try:
            seconds = sf.info(path).duration
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise gr.Error(f"The clip cannot be read as audio ({exc}).", print_exception=False) from None
        if seconds > limit:
            raise gr.Error(
                f"The clip is {seconds:.1f} s long; this demo takes up to {limit:.0f} s.",
                print_exception=False,
            )
        return path

    @staticmethod
    def _seed(seed) -> int | None:
        return None if seed is None or seed == "" else int(seed)

    # ------------------------------------------------------------------------------------------ TTS tab

    @_user_errors
    def synthesize(self, text, speaker, ref_audio, steps, seed, mode, label, intensity, valence, arousal,
                   dominance, *weights):  # fmt: skip
        """TTS tab: ``((rate, int16 audio), prosody figure, valence/arousal figure, details markdown)``."""
        text = self._check_text(text)
        ref = self._check_clip(ref_audio, MAX_REFERENCE_SECONDS)
        if ref is not None:
            # The clip gives the emotion; the intensity scales it around neutral (any single label carries it).
            names = self.tts.emotions
            spec = (
                build_spec("label", "neutral" if "neutral" in names else names[0], intensity)
                if names
                else None
            )
            point, shown = self._clip_point(spec, speaker, ref), f"reference clip ×{float(intensity):g}"
            gr.Info("The emotion comes from the reference clip, scaled by the intensity.")
        else:
            spec = self.spec_of(
                self.tts.emotions, mode, label, intensity, valence, arousal, dominance, *weights
            )
            point, shown = self._request_point(spec, text)
        t0 = time.perf_counter()
        audio, sr = self.tts.synthesize(
            text, spec, speaker=speaker or None, ref_audio=ref, steps=int(steps), seed=self._seed(seed)
        )
        elapsed = time.perf_counter() - t0
        if audio.size == 0 or not np.any(audio):
            gr.Warning("The output is silent.")
        details = (
            f"**Emotion:** {shown} · **speaker:** {speaker or self.tts.default_speaker} · "
            f"{audio.size / sr:.2f} s of audio in {elapsed:.2f} s"
        )
        return (
            (sr, to_pcm16(audio)),
            plots.prosody_figure(audio, sr, f"{shown.replace('`', '')}: mel, F0 and energy"),
            self._va_figure(point, shown.replace("`", "")),
            details,
        )

    def _clip_point(self, spec: str | None, speaker, ref: str):
        """A reference clip's ADV position: its emotion vector projected through the bank's ADV map."""
        bank = self.tts.bank
        if bank is None:
            return None
        z = self.tts.emotion_vector(spec, self.tts.speaker_index(speaker or None), ref)
        return project_adv(bank, z - bank.center)

    # ------------------------------------------------------------------------------------------ markup tab

    @_user_errors
    def timeline(self, script, default_emotion, speaker):
        """Markup tab preview: ``(timeline figure, rows [#, start, seconds, emotion, text])``."""
        items = self._timeline_items(script, default_emotion, speaker)
        return plots.timeline_figure(items), self._rows(items)

    def _timeline_items(self, script, default_emotion, speaker) -> list[TimelineItem]:
        script = self._check_text(script, "script")
        default = (default_emotion or "").strip() or "neutral"
        return markup_timeline(self.tts, script, default, speaker=speaker or None)

    @staticmethod
    def _rows(items: Sequence[TimelineItem]) -> list[list]:
        return [[i.index + 1, round(i.start, 2), round(i.duration, 2), i.label, i.text] for i in items]

    @_user_errors
    def synthesize_script(self, script, default_emotion, speaker, steps, seed):
        """Markup tab: ``((rate, audio), prosody figure, timeline figure, rows)``."""
        items = self._timeline_items(script, default_emotion, speaker)
        default = (default_emotion or "").strip() or "neutral"
        audio, sr = self.tts.synthesize(
            script, default, speaker=speaker or None, markup=True, steps=int(steps), seed=self._seed(seed)
        )
        return (
            (sr, to_pcm16(audio)),
            plots.prosody_figure(audio, sr, "script: mel, F0 and energy"),
            plots.timeline_figure(items),
            self._rows(items),
        )

    # ------------------------------------------------------------------------------------------ conversion tab

    @_user_errors
    def convert(self, source, method, keep_timing, seed, mode, label, intensity, valence, arousal, dominance,
                *weights):  # fmt: skip
        """Conversion tab: ``(before (rate, audio), after (rate, audio), F0 figure, details markdown)``."""
        if self.converter is None:
            raise gr.Error(self.converter_notice, print_exception=False)
        path = self._check_clip(source, self.max_audio_seconds)
        if path is None:
            raise gr.Error("Upload or record a clip first.", print_exception=False)
        import soundfile as sf

        from emovox.audio.io import load_audio

        audio, info = load_audio(path, sf.info(path).samplerate, max_seconds=self.max_audio_seconds)
        if info.is_silent:
            raise gr.Error("The clip is silent.", print_exception=False)
        for message in info.warnings:
            gr.Warning(message)
        spec = self.spec_of(
            self.converter.emotions, mode, label, intensity, valence, arousal, dominance, *weights
        )
        t0 = time.perf_counter()
        out, rate = self.converter.convert(
            audio,
            info.sample_rate,
            spec,
            method=method or None,
            keep_timing=bool(keep_timing),
            seed=self._seed(seed),
        )
        elapsed = time.perf_counter() - t0
        details = f"**Target:** `{spec}` · {out.size / rate:.2f} s converted in {elapsed:.2f} s"
        try:
            heard = self.converter.estimate_emotion(audio, info.sample_rate)
            details += f" · the source sounds like `{heard['spec']}` to the model"
        except ValueError as exc:  # no acoustic model to estimate with: the conversion itself still stands
            logger.info("no emotion estimate: %s", exc)
        return (
            (info.sample_rate, to_pcm16(audio)),
            (rate, to_pcm16(out)),
            plots.conversion_figure((audio, info.sample_rate), (out, rate), f"{spec}: F0 and energy"),
            details,
        )

    # ------------------------------------------------------------------------------------------ layout

    def build(self, *, examples: bool = True, concurrency: int = 1, max_queue: int = 16) -> gr.Blocks:
        """The Blocks app with its queue: ``concurrency`` requests synthesise at a time across all tabs (one
        concurrency group: the models are shared), ``max_queue`` wait; previews of the controls run beside them."""
        self._heavy = {"concurrency_id": "synthesis", "concurrency_limit": int(concurrency)}
        with gr.Blocks(title="emovox demo", analytics_enabled=False) as blocks:
            gr.Markdown(self._header())
            with gr.Tab("Text to speech", id="tts"):
                self._tts_tab(examples)
            with gr.Tab("Voice conversion", id="convert"):
                self._conversion_tab(examples)
            with gr.Tab("Markup", id="markup"):
                self._markup_tab(examples)
        blocks.queue(default_concurrency_limit=concurrency, max_size=max_queue)
        return blocks

    def _header(self) -> str:
        info = self.tts.describe()
        return (
            "# emovox: emotional speech\n"
            f"Voice with {len(info['speakers'])} speaker(s) and the emotions "
            f"{', '.join(info['emotions']) or '(none: reference clips only)'}. "
            "Every control becomes one emotion spec, the same string `emovox synth --emotion` takes."
        )

    def _emotion_inputs(self, prefix: str, emotions: Sequence[str], modes: Sequence[str]) -> EmotionInputs:
        default_label = next((e for e in ("happy", *emotions) if e in emotions), None)
        mode = gr.Radio([(MODES[m], m) for m in modes], value=modes[0], label="The emotion comes from",
                        elem_id=f"{prefix}-mode")  # fmt: skip
        label = gr.Radio(list(emotions), value=default_label, label="Emotion", elem_id=f"{prefix}-label")
        intensity = gr.Slider(-2, 2, value=1.0, step=0.05, label="Intensity", elem_id=f"{prefix}-intensity",
                              info=_INTENSITY_INFO[prefix])  # fmt: skip
        with gr.Column(visible=False) as mixer:
            gr.Markdown("Mixture weights (normalised; 0 = left out).")
            defaults = {"sad": 0.7, "angry": 0.3}
            with gr.Row():
                weights = [self._weight_slider(prefix, e, defaults.get(e, 0.0)) for e in emotions]
        with gr.Row(visible=False) as adv:
            valence = gr.Slider(-1, 1, value=0.6, step=0.05, label="Valence (unpleasant → pleasant)",
                                elem_id=f"{prefix}-valence")  # fmt: skip
            arousal = gr.Slider(-1, 1, value=0.3, step=0.05, label="Arousal (calm → excited)",
                                elem_id=f"{prefix}-arousal")  # fmt: skip
            dominance = gr.Slider(-1, 1, value=0.0, step=0.05, label="Dominance (submissive → in control)",
                                  elem_id=f"{prefix}-dominance")  # fmt: skip
        inputs = EmotionInputs(mode, label, intensity, valence, arousal, dominance, weights,
                               (label, intensity, mixer, adv))  # fmt: skip
        mode.change(_visibility, mode, list(inputs.groups), queue=False, show_progress="hidden")
        return inputs

    @staticmethod
    def _weight_slider(prefix: str, emotion: str, value: float) -> gr.Slider:
        return gr.Slider(0, 1, value=value, step=0.05, label=emotion, min_width=120,
                         elem_id=f"{prefix}-mix-{emotion}")  # fmt: skip

    def _tts_tab(self, examples: bool) -> None:
        tts = self.tts
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label=f"Text (plain or markup; up to {self.max_text_chars} characters)",
                                  value="I can't believe we actually won the match!", lines=3,
                                  max_length=self.max_text_chars, elem_id="tts-text")  # fmt: skip
                emo = self._emotion_inputs("tts", tts.emotions, self.modes)
                spec_md = gr.Markdown("Pick an emotion: the spec and its place among the model's emotions update "
                                      "on the right.", elem_id="tts-spec")  # fmt: skip
                with gr.Accordion("Speaker, reference clip, sampling", open=False), gr.Row():
                    speaker = gr.Dropdown(tts.speakers, value=tts.default_speaker, label="Speaker",
                                          elem_id="tts-speaker")  # fmt: skip
                    steps = self._steps_slider("tts")
                    seed = gr.Number(0, precision=0, minimum=0, maximum=2**31 - 1, label="Seed")
                    ref = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                   label=f"Reference clip (optional, up to {MAX_REFERENCE_SECONDS:.0f} s): "
                                   "'say it like this'")  # fmt: skip
                button = gr.Button("Synthesise", variant="primary", elem_id="tts-run")
            with gr.Column(scale=2):
                spec = build_spec(self.modes[0], emo.label.value, 1.0)
                point, shown = self._request_point(spec, text.value)
                va_plot = gr.Plot(self._va_figure(point, shown.replace("`", "")), label="Valence / arousal",
                                  format="png", elem_id="tts-va")  # fmt: skip
        audio = gr.Audio(label="Output", type="numpy", format="wav", interactive=False, elem_id="tts-audio")
        details = gr.Markdown(elem_id="tts-details")
        prosody = gr.Plot(label="Mel, F0 and energy of the output", format="png", elem_id="tts-prosody")
        controls = emo.components()
        button.click(self.synthesize, [text, speaker, ref, steps, seed, *controls],
                     [audio, prosody, va_plot, details], api_name="synthesize", **self._heavy)  # fmt: skip
        for comp in controls:  # sliders fire while dragged: only the last value of a burst is drawn
            comp.change(self.preview, [text, *controls], [spec_md, va_plot], show_progress="hidden",
                        api_visibility="private", trigger_mode="always_last", concurrency_limit=2,
                        concurrency_id="preview")  # fmt: skip
        if examples:
            gr.Examples(self._tts_examples(), [text, emo.mode, emo.label, emo.intensity, emo.valence,
                        emo.arousal, emo.dominance], label="Examples (the default voice)",
                        cache_examples=False)  # fmt: skip

    def _steps_slider(self, prefix: str) -> gr.Slider:
        has_decoder = getattr(self.tts, "denoiser", None) is not None
        return gr.Slider(0, MAX_STEPS, value=self.tts.default_steps, step=1, label="Diffusion steps",
                         info="0 = the FastSpeech2 mel alone" if has_decoder else "this voice has no diffusion "
                         "decoder", interactive=has_decoder, elem_id=f"{prefix}-steps")  # fmt: skip

    def _tts_examples(self) -> list[list]:
        known = set(self.tts.emotions)
        rows = [
            ["I can't believe you did that again!", "label", "angry", 0.8, 0.0, 0.0, 0.0],
            ["We won! We actually won the match!", "label", "happy", 1.2, 0.0, 0.0, 0.0],
            ["I waited all day, but nobody came.", "label", "sad", 1.0, 0.0, 0.0, 0.0],
            ["What a lovely surprise to see you.", "label", "happy", -0.5, 0.0, 0.0, 0.0],
            ["Everything is going to be fine.", "adv", None, 1.0, 0.7, -0.4, 0.2],
            ["Could you please close the door?", "adv", None, 1.0, -0.5, 0.7, 0.4],
        ]
        out = [r for r in rows if r[2] in known or r[1] != "label"]
        if "auto" in self.modes:
            out.append(["Thank you so much, this is wonderful news!", "auto", None, 1.0, 0.0, 0.0, 0.0])
        return out

    def _markup_tab(self, examples: bool) -> None:
        tts = self.tts
        with gr.Row():
            with gr.Column(scale=3):
                script = gr.Textbox(label=f"Script (up to {self.max_text_chars} characters)", lines=7,
                                    value=self._markup_examples()[0][0], max_length=self.max_text_chars,
                                    elem_id="markup-script")  # fmt: skip
                with gr.Row():
                    default = gr.Textbox("neutral", label="Emotion outside <emotion> spans (a spec)", scale=2)
                    speaker = gr.Dropdown(tts.speakers, value=tts.default_speaker, label="Speaker", scale=1)
                    steps = self._steps_slider("markup")
                    seed = gr.Number(0, precision=0, minimum=0, maximum=2**31 - 1, label="Seed")
                with gr.Row():
                    preview = gr.Button("Preview timeline", elem_id="markup-preview")
                    run = gr.Button("Synthesise", variant="primary", elem_id="markup-run")
            with gr.Column(scale=2):
                gr.Markdown(_MARKUP_HELP)
        timeline = gr.Plot(label="Emotion timeline (estimated)", format="png", elem_id="markup-timeline")
        rows = gr.Dataframe(headers=["#", "start (s)", "seconds", "emotion", "text"], interactive=False,
                            label="Sentences and pauses")  # fmt: skip
        audio = gr.Audio(
            label="Output", type="numpy", format="wav", interactive=False, elem_id="markup-audio"
        )
        prosody = gr.Plot(label="Mel, F0 and energy of the output", format="png")
        preview.click(self.timeline, [script, default, speaker], [timeline, rows], api_name="timeline",
                      **self._heavy)  # fmt: skip
        run.click(self.synthesize_script, [script, default, speaker, steps, seed],
                  [audio, prosody, timeline, rows], api_name="synthesize_markup", **self._heavy)  # fmt: skip
        if examples:
            gr.Examples(self._markup_examples(), [script], label="Example scripts", cache_examples=False)

    def _markup_examples(self) -> list[list[str]]:
        known = set(self.tts.emotions)
        sad = "sad" if "sad" in known else "neutral"
        angry = "angry" if "angry" in known else "neutral"
        happy = "happy" if "happy" in known else "neutral"
        return [
            [f'<speak>Fine. <emotion name="{sad}" intensity="0.8">It is over. I really thought it would work.'
             f'</emotion><break time="400ms"/><emotion name="{angry}" intensity="1.3">And you knew all along!'
             "</emotion></speak>"],
            [f'<speak><emotion name="{happy}">Good morning everyone!</emotion> Today we have a short agenda. '
             '<emotion adv="-0.5,-0.2,-0.4">Sadly, the picnic is cancelled.</emotion>'
             '<break time="300ms"/><emotion va="0.8,0.5">But there is cake!</emotion></speak>'],
            [f'<speak><emotion spec="{sad}:0.6+{angry}:0.4">I asked you twice.</emotion> '
             '<prosody rate="slow" pitch="-2st">Please, listen this time.</prosody></speak>'],
        ]  # fmt: skip

    def _conversion_tab(self, examples: bool) -> None:
        vc = self.converter
        if vc is None:
            gr.Markdown(
                f"**Voice conversion is unavailable.** {self.converter_notice}", elem_id="convert-notice"
            )
            return
        modes = [m for m in self.modes if m != "auto"]
        with gr.Row():
            with gr.Column(scale=3):
                source = gr.Audio(sources=["upload", "microphone"], type="filepath", elem_id="convert-source",
                                  label=f"Recording to convert (up to {self.max_audio_seconds:.0f} s)")  # fmt: skip
                emo = self._emotion_inputs("convert", vc.emotions, modes)
                with gr.Row():
                    method = gr.Dropdown(list(vc.methods), value=vc.methods[0], label="Method")
                    keep = gr.Checkbox(False, label="Keep the timing (change only pitch, loudness and voice)")
                    seed = gr.Number(0, precision=0, minimum=0, maximum=2**31 - 1, label="Seed")
                button = gr.Button("Convert", variant="primary", elem_id="convert-run")
            with gr.Column(scale=2):
                before = gr.Audio(label="Before", type="numpy", format="wav", interactive=False)
                after = gr.Audio(label="After", type="numpy", format="wav", interactive=False,
                                 elem_id="convert-audio")  # fmt: skip
                details = gr.Markdown()
        plot = gr.Plot(label="F0 and energy, before and after", format="png", elem_id="convert-f0")
        button.click(self.convert, [source, method, keep, seed, *emo.components()],
                     [before, after, plot, details], api_name="convert", **self._heavy)  # fmt: skip
        if examples:
            clip = str(example_clip())
            rows = [[clip, "label", e, a] for e, a in (("angry", 1.0), ("sad", 1.2)) if e in vc.emotions]
            if rows:
                gr.Examples(rows, [source, emo.mode, emo.label, emo.intensity], cache_examples=False,
                            label="Example (LJ Speech, public domain)")  # fmt: skip


_INTENSITY_INFO = {
    "tts": "1 = as in the data, 0 = neutral, negative = the opposite; also scales a mixture, the text's emotion "
    "(auto: 0-2) and a reference clip",
    "convert": "1 = as in the data, 0 = neutral, negative = the opposite; also scales a mixture",
}

_MARKUP_HELP = """**Markup** (an SSML subset; text outside `<emotion>` uses the default):

- `<emotion name="sad" intensity="0.8">…</emotion>`
- `<emotion adv="0.8,0.4,-0.5">` (arousal, dominance, valence) or `va="0.6,0.3"`
- `<emotion spec="sad:0.7+angry:0.3">` (any emotion spec)
- `<break time="300ms"/>`, `<prosody rate="slow" pitch="+2st" volume="loud">`

*Preview timeline* plans the durations with the acoustic model (no audio) and shows each sentence's emotion."""


def _visibility(mode: str):
    """The label, intensity, mixer and ADV controls a mode uses are shown; the others hidden."""
    return (
        gr.update(visible=mode == "label"),
        gr.update(visible=mode != "adv"),
        gr.update(visible=mode == "mixture"),
        gr.update(visible=mode == "adv"),
    )


def example_clip() -> Path:
    """The bundled public-domain example recording (LJ Speech LJ001-0001, first 4.3 s)."""
    from importlib import resources

    return Path(str(resources.files("emovox") / "assets" / "example.flac"))


def build_demo(
    model: str | None = None,
    *,
    tts: Any | None = None,
    converter: Any | None = None,
    conversion: bool = True,
    conversion_model: str | None = None,
    vocoder: str = "universal",
    device: str = "cpu",
    examples: bool = True,
    concurrency: int = 1,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
) -> gr.Blocks:
    """Load the models once (unless given) and build the demo.

    Args:
        model: acoustic model path (None = the built-in voice); ignored when ``tts`` is given.
        tts, converter: loaded pipelines to use instead (tests pass tiny or fake ones).
        conversion: load the conversion model when ``converter`` is None (False: the tab says it is off).
    """
    if tts is None:
        tts = EmotionalTTS.load(model, vocoder=vocoder, device=device)
    notice = None
    if converter is None and conversion:
        converter, notice = load_converter(conversion_model, device)
    elif converter is None:
        notice = "It is switched off for this demo (--no-conversion)."
    demo = EmovoxDemo(tts, converter, converter_notice=notice, max_text_chars=max_text_chars,
                      max_audio_seconds=max_audio_seconds)  # fmt: skip
    return demo.build(examples=examples, concurrency=concurrency)


def offline_theme() -> gr.themes.Base:
    """Gradio's default theme with the system's fonts: the page loads nothing from font CDNs (works offline)."""
    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )


def launch(
    blocks: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    quiet: bool = False,
    auth: tuple[str, str] | None = None,
) -> tuple[Any, str]:
    """Serve the demo; ``block=False`` returns ``(app, local_url)`` and keeps serving in a thread. ``auth``
    ``(user, password)`` puts the demo behind Gradio's login page."""
    app, url, _ = blocks.launch(
        auth=auth,
        auth_message="emovox demo: log in" if auth else None,
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=quiet,
        ssr_mode=False,
        theme=offline_theme(),
        allowed_paths=[str(example_clip())],
        show_error=False,
        footer_links=["api"],
    )
    return app, url

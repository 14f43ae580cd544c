"""The user-facing pipelines: text (+ emotion) -> speech. The only module that joins ``tts`` and ``vocoder``.

>>> from emovox import EmotionalTTS                                  # doctest: +SKIP
>>> tts = EmotionalTTS.load()                      # the built-in default voice + universal HiFi-GAN
>>> audio, sr = tts.synthesize("Where were you?", emotion="angry:0.8")
>>> audio, sr = tts.synthesize("<speak>Fine. <emotion name='sad'>It is over.</emotion></speak>")
>>> for chunk in tts.stream(long_text, emotion="va:0.6,0.3"): ...    # sentence by sentence
>>> for seg in tts.stream_segments(book, emotion="auto"): ...        # each sentence's emotion from its words
...     print(seg.start, seg.end, seg.emotion, seg.text)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emovox.audio.io import load_audio
from emovox.audio.level import normalise_level, soft_limit
from emovox.audio.mel import MelConfig, MelSpectrogram, tilt_gains
from emovox.config import config_from_dict
from emovox.emotion.bank import NO_PROSODY, EmotionBank, Prosody, final_ramp
from emovox.emotion.from_text import AutoSpec, TextEmotion, TextEmotionEstimator, parse_auto_spec
from emovox.emotion.spec import EmotionSpec, parse_emotion_spec
from emovox.paths import default_voice_path
from emovox.tts.bank import load_acoustic, load_denoiser
from emovox.tts.diffusion import DiffusionConfig, make_scheduler, sample
from emovox.tts.models.denoiser import Denoiser
from emovox.tts.models.fastspeech2 import AcousticModel

__all__ = ["DEFAULT_VOICE", "EmotionalTTS", "Rendering", "SegmentInfo", "SpeechSegment", "Vocoder"]

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "default"
MAX_TEXT_CHARS = 20_000
"""``synthesize`` returns all audio at once; longer texts must be streamed (``stream`` or ``--stream``)."""
MAX_REFERENCE_SECONDS = 30.0
FIRST_WINDOW_FRAMES = 16
"""Streaming: the first vocoder window of each sentence, in mel frames (16 x 256 samples = 0.19 s at 22 kHz)."""
MAX_WINDOW_FRAMES = 256
WINDOW_PAD_FRAMES = 16
"""Context on each side of a vocoder window: with 16 frames the universal HiFi-GAN's windows join to the sentence
vocoded whole within 1.5e-4 (measured on a 655-frame sentence); with 8 they differ by up to 0.16 (a seam)."""


def _cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN: AVX-512 BF16 / AMX); emulated bfloat16 is slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class Vocoder:
    """A HiFi-GAN generator ready for inference: log-mel ``[B, 80, T]`` -> audio ``[B, T * hop]``."""

    def __init__(self, generator: torch.nn.Module, mel_config: MelConfig, device: str = "cpu"):
        self.generator = generator
        self.precision = "fp32" if next(generator.parameters()).dtype == torch.float32 else "bf16"
        self.mel_config = mel_config
        self.device = torch.device(device)

    @classmethod
    def load(
        cls, name_or_path: str | os.PathLike = "universal", device: str = "cpu", precision: str = "auto"
    ):
        """``precision``: ``fp32``; ``bf16`` (fastest, +19 % copy-synthesis log-mel error on the universal V1);
        ``mixed`` (bfloat16 but the input, last stage and output in float32: 0.63x the float32 time, +0.5 %);
        ``auto`` (the default) = ``mixed`` on a CPU with native bfloat16, ``fp32`` elsewhere."""
        from emovox.vocoder.pretrained import load_vocoder, vocoder_mel_config

        if precision not in ("auto", "fp32", "bf16", "mixed"):
            raise ValueError(f"vocoder precision must be auto, fp32, bf16 or mixed, not '{precision}'")
        if precision == "auto":
            precision = "mixed" if str(device) == "cpu" and _cpu_bf16() else "fp32"
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        generator = load_vocoder(name_or_path, device=device, dtype=dtype)
        if precision == "mixed":
            generator.to_mixed_precision(torch.bfloat16)
        vocoder = cls(generator, vocoder_mel_config(name_or_path), device)
        vocoder.precision = precision
        return vocoder

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    def __call__(self, mel: torch.Tensor) -> np.ndarray:
        """Log-mel ``[n_mels, T]`` -> audio ``[T * hop]``, or ``[B, n_mels, T]`` -> ``[B, T * hop]`` (float32)."""
        from emovox.vocoder.inference import vocode

        return vocode(self.generator, mel)


@dataclass
class _Chunk:
    text: str
    emotion: str | None
    break_ms: int = 0
    rate: float = 1.0
    pitch: float = 0.0
    volume: float = 1.0
    estimate: TextEmotion | None = None  # set when the emotion was estimated from the text ("auto")


@dataclass(frozen=True)
class SegmentInfo:
    """One synthesised chunk (a sentence, or a pause) and where it lies in the output.

    ``emotion`` is the spec actually used (an ``auto`` spec resolved for this sentence; None for a pause or a
    reference clip); ``estimate`` is the text-emotion estimate when the emotion came from the text; ``start``
    and ``end`` are seconds from the start of the audio."""

    index: int
    text: str
    emotion: str | None
    start: float
    end: float
    estimate: TextEmotion | None = None

    @property
    def is_pause(self) -> bool:
        return not self.text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (timestamp files, the server); the estimate's point and cues when there is one."""
        out: dict[str, Any] = {
            "index": self.index, "start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
            "emotion": self.emotion,
        }  # fmt: skip
        if self.estimate is not None:
            est = self.estimate
            out |= {"label": est.label, "intensity": est.intensity, "valence": est.valence,
                    "arousal": est.arousal, "dominance": est.dominance, "cues": list(est.cues)}  # fmt: skip
        return out


@dataclass(frozen=True)
class SpeechSegment(SegmentInfo):
    """A :class:`SegmentInfo` with its audio (float32 ``[T]``)."""

    audio: np.ndarray = dataclasses.field(kw_only=True)

    def info(self) -> SegmentInfo:
        """The metadata without the audio."""
        return SegmentInfo(self.index, self.text, self.emotion, self.start, self.end, self.estimate)


@dataclass(frozen=True)
class Rendering:
    """A whole synthesis: the audio ``[T]`` (float32), its sample rate and each chunk's :class:`SegmentInfo`."""

    audio: np.ndarray
    sample_rate: int
    segments: list[SegmentInfo]


class EmotionalTTS:
    """Emotional text-to-speech with one acoustic model and one vocoder."""

    def __init__(
        self,
        model: AcousticModel,
        meta: dict[str, Any],
        bank: EmotionBank | None,
        vocoder: Vocoder,
        denoiser: Denoiser | None = None,
        diffusion: DiffusionConfig | None = None,
    ):
        from emovox.text.frontend import TextFrontend
        from emovox.text.symbols import SymbolTable

        self.model = model.eval()
        self.denoiser = denoiser.eval() if denoiser is not None else None
        self.diffusion = diffusion or DiffusionConfig()
        self.meta = meta
        self.bank = bank
        self.vocoder = vocoder
        self.speakers: list[str] = list(meta.get("speakers") or ["default"])
        self.emotions: list[str] = list(bank.emotions if bank is not None else [])
        self.language: str = meta.get("language", "en-us")
        self.frontend = TextFrontend(self.language, SymbolTable.from_dict(meta["symbols"]))
        self.mel_config = config_from_dict(MelConfig, meta.get("mel_config", {}))
        self._mel = MelSpectrogram(self.mel_config)
        self._text_emotion: TextEmotionEstimator | None = None
        if self.mel_config.sample_rate != vocoder.sample_rate:
            raise ValueError(
                f"the acoustic model uses {self.mel_config.sample_rate} Hz mels but the vocoder expects "
                f"{vocoder.sample_rate} Hz"
            )

    # ----------------------------------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        model: str | os.PathLike | None = None,
        *,
        vocoder: str | os.PathLike | Vocoder = "universal",
        device: str = "cpu",
        backend: str = "torch",
        threads: int | None = None,
        precision: str = "auto",
    ) -> EmotionalTTS:
        """Load an acoustic model (a path, or None / "default" for the built-in voice) and a vocoder (a name or
        path for :meth:`Vocoder.load`, or a loaded :class:`Vocoder`).

        ``backend="onnx"`` runs an ONNX export instead (``emovox export onnx``: ``model`` is its folder, which
        holds the vocoder too) with ONNX Runtime on ``threads`` threads; every control works the same.
        ``precision`` is the vocoder's (:meth:`Vocoder.load`: auto, fp32, bf16 or mixed)."""
        if backend not in ("torch", "onnx"):
            raise ValueError(f"backend must be 'torch' or 'onnx', not {backend!r}")
        if backend == "onnx":
            if model in (None, DEFAULT_VOICE) or not Path(model).is_dir():
                raise ValueError(
                    "the onnx backend needs the folder of an ONNX export as the model "
                    "(make one with `emovox export onnx default DIR`)"
                )
            if not (isinstance(vocoder, str) and vocoder == "universal"):
                raise ValueError(
                    "with the onnx backend the vocoder is the one inside the export; do not pass one"
                )
            from emovox.export.runtime import load_onnx

            return cls(*load_onnx(model, threads=threads))
        path = default_voice_path() if model in (None, DEFAULT_VOICE) else Path(model)
        if model in (None, DEFAULT_VOICE) and not path.is_file():
            raise FileNotFoundError(
                f"this emovox has no built-in default voice yet ({path} is missing): pass a trained acoustic "
                "model with --model PATH (see recipes/emosynth or `emovox train acoustic --help`)"
            )
        net, ckpt = load_acoustic(path)
        denoiser, diffusion = load_denoiser(ckpt, path), None
        if denoiser is not None:
            denoiser = denoiser.to(device)
            diffusion = config_from_dict(
                DiffusionConfig, ckpt.meta.get("diffusion_config", {}), source=str(path)
            )
        bank = None
        if "bank" in ckpt.meta:
            bank = EmotionBank.from_tensors(ckpt.tensors, ckpt.meta["bank"])
        else:
            logger.warning("%s has no emotion bank yet: run `emovox bank` (only reference clips work)", path)
        if not isinstance(vocoder, Vocoder):
            vocoder = Vocoder.load(vocoder, device=device, precision=precision)
        return cls(net.to(device), ckpt.meta, bank, vocoder, denoiser, diffusion)

    @property
    def sample_rate(self) -> int:
        return self.vocoder.sample_rate

    # ----------------------------------------------------------------------------------------- controls

    @property
    def default_steps(self) -> int:
        """Diffusion steps when none are asked for: the checkpoint's ``default_steps`` (0 = the FastSpeech2 mel
        alone), else the diffusion config's ``n_steps``; 0 without a diffusion decoder."""
        if self.denoiser is None:
            return 0
        return int(self.meta.get("default_steps", self.diffusion.n_steps))

    @property
    def max_steps(self) -> int:
        """The most diffusion steps this model's decoder can take; 0 without a diffusion decoder."""
        return self.diffusion.max_steps if self.denoiser is not None else 0

    @property
    def default_speaker(self) -> str:
        """The speaker used when none is asked for: the checkpoint's ``default_speaker``, else the first."""
        name = self.meta.get("default_speaker")
        return name if name in self.speakers else self.speakers[0]

    def speaker_index(self, speaker: str | int | None) -> int:
        if speaker is None:
            return self.speakers.index(self.default_speaker)
        if isinstance(speaker, bool) or not isinstance(speaker, (str, int)):
            raise TypeError(f"speaker must be a speaker name or index, not {type(speaker).__name__}")
        if isinstance(speaker, int) and 0 <= speaker < len(self.speakers):
            return speaker
        if isinstance(speaker, str) and speaker in self.speakers:
            return self.speakers.index(speaker)
        raise ValueError(f"unknown speaker {speaker!r}; this model has: {', '.join(self.speakers)}")

    def parse_emotion(self, emotion: str | EmotionSpec) -> EmotionSpec:
        if isinstance(emotion, EmotionSpec):
            return emotion
        return parse_emotion_spec(emotion, known=self.emotions or None)

    @property
    def text_emotion(self) -> TextEmotionEstimator:
        """The text-emotion estimator behind ``emotion="auto"``, choosing among this model's emotions."""
        if self._text_emotion is None:
            self._text_emotion = TextEmotionEstimator(self.emotions or None)
        return self._text_emotion

    def auto_spec(self, emotion: str | EmotionSpec | None) -> AutoSpec | None:
        """The parsed ``auto`` spec (``auto``, ``auto:0.5``, ``auto+sad:0.3``), or None for any other emotion."""
        if not isinstance(emotion, str):
            return None
        auto = parse_auto_spec(emotion, known=self.emotions or None)
        if auto is not None and self.bank is None:
            raise ValueError("emotion 'auto' needs a model with an emotion bank; run `emovox bank` on it")
        return auto

    def check_emotion(self, emotion: str | EmotionSpec) -> None:
        """Raise the spec's ValueError now (before any audio) if ``emotion`` is not valid for this model."""
        if self.auto_spec(emotion) is None:
            self.parse_emotion(emotion)

    def estimate_emotion(self, text: str, emotion: str = "auto") -> TextEmotion:
        """The emotion ``text`` means (one estimate for the whole text; synthesis estimates sentence by
        sentence); with an ``auto`` spec such as ``auto+sad:0.3`` the result's ``spec`` is the blend."""
        auto = self.auto_spec(emotion)
        if auto is None:
            raise ValueError(
                f"estimate_emotion needs an 'auto' spec (auto, auto:0.5, auto+sad:0.3), not {emotion!r}"
            )
        estimate = self.text_emotion.estimate(text)
        return dataclasses.replace(estimate, spec=auto.resolve(estimate))

    def emotion_vector(
        self, emotion: str | EmotionSpec | None, speaker: int = 0, ref_audio: str | os.PathLike | None = None
    ) -> torch.Tensor:
        """The emotion vector ``z`` ``[z_dim]`` for a spec string / parsed spec, or a reference clip."""
        if ref_audio is not None:
            z_ref = self.reference_vector(ref_audio)
            if emotion is None or self.bank is None:
                return z_ref
            spec = self.parse_emotion(emotion)
            if spec.kind != "label" or len(spec.components) != 1:
                raise ValueError(
                    f"with a reference clip the emotion comes from the clip; the spec may only scale it (e.g. "
                    f"'neutral:1.5' for 1.5x the clip's emotion), not be '{spec}'"
                )
            return self.bank.from_reference(z_ref, spec.components[0].intensity)
        if self.bank is None:
            raise ValueError(
                "this model has no emotion bank; run `emovox bank` on it or pass a reference clip"
            )
        return self.bank.resolve(self.parse_emotion(emotion or "neutral"), speaker)

    def prosody_controls(
        self, emotion: str | EmotionSpec | None, ref_audio: str | os.PathLike | None = None
    ) -> Prosody:
        """The prosody controls of an emotion spec: its emotions' offsets in proportion to intensity and trends
        beyond intensity 1 (log duration scale, F0 shift in speaker standard deviations, energy shift, mel tilt
        in dB per octave, log F0 range scale, final F0 movement in semitones; :meth:`EmotionBank.prosody`); none
        for reference clips, ADV/VA specs and models with neither."""
        if ref_audio is not None or self.bank is None:
            return NO_PROSODY
        return self.bank.prosody(self.parse_emotion(emotion or "neutral"))

    def mixture_components(
        self, emotion: str | EmotionSpec | None, speaker: int = 0
    ) -> list[tuple[torch.Tensor, float]]:
        """``[(z_i, w_i)]`` of a label mixture for EmoMix noise mixing; one component for anything else."""
        spec = self.parse_emotion(emotion or "neutral") if self.bank is not None else None
        if spec is None or spec.kind != "label" or len(spec.components) < 2:
            return []
        return [(self.bank.label(c.name, c.intensity, speaker), c.weight) for c in spec.components]

    def reference_vector(self, path: str | os.PathLike) -> torch.Tensor:
        audio, info = load_audio(path, self.mel_config.sample_rate, max_seconds=MAX_REFERENCE_SECONDS)
        if info.is_silent:
            raise ValueError(f"{path}: the reference clip is silent (RMS {info.rms_dbfs:.0f} dBFS)")
        if info.duration < 0.3:
            raise ValueError(
                f"{path}: the reference clip is too short ({info.duration:.2f} s; need >= 0.3 s)"
            )
        device = self.model.mel_mean.device
        mel = self._mel(torch.from_numpy(audio)).unsqueeze(0).to(device)
        return self.model.embed_reference(mel, torch.tensor([mel.shape[2]], device=device))[0].cpu()

    # ----------------------------------------------------------------------------------------- synthesis

    def _chunks(self, text: str, emotion: str | None, markup: bool | None) -> Iterator[_Chunk]:
        from emovox.text.chunking import chunk_text
        from emovox.text.markup import parse_markup

        use_markup = text.lstrip().startswith("<") if markup is None else markup
        if use_markup:
            segments = parse_markup(text, validate_emotion=self.check_emotion)
        else:
            from emovox.text.markup import Segment

            segments = [Segment(text.strip())]
        for seg in segments:
            if seg.is_pause:
                yield _Chunk("", None, break_ms=seg.break_ms)
                continue
            spec = seg.emotion or emotion
            auto = self.auto_spec(spec)
            for piece in chunk_text(seg.text):
                estimate = None
                if auto is not None:  # each sentence gets the emotion its words mean
                    estimate = self.text_emotion.estimate(piece)
                    spec = auto.resolve(estimate)
                yield _Chunk(piece, spec, 0, seg.rate, seg.pitch, seg.volume, estimate)

    def explain(
        self, text: str, emotion: str | EmotionSpec | None = "auto", *, markup: bool | None = None
    ) -> list[SegmentInfo]:
        """The chunks ``text`` is spoken in and the emotion spec each gets, without synthesising (cheap: text
        processing only; ``start`` and ``end`` are 0). With ``emotion="auto"`` each sentence's ``estimate``
        says why."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text is empty")
        base = emotion if isinstance(emotion, str) or emotion is None else str(emotion)
        if base is not None:
            self.check_emotion(base)
        return [
            SegmentInfo(i, c.text, c.emotion, 0.0, 0.0, c.estimate)
            for i, c in enumerate(self._chunks(text, base, markup))
        ]

    def _tokens(self, text: str) -> list[int]:
        """Token ids of ``text``, or ``[]`` when it has nothing to speak (only punctuation, emoji, symbols)."""
        out = self.frontend(text)
        return out.ids if any(ch.isalpha() for ch in out.phonemes) else []

    def stream(
        self, text: str, emotion: str | EmotionSpec | None = "neutral", **kwargs: Any
    ) -> Iterator[np.ndarray]:
        """Yield audio as soon as it is ready, in bounded memory; the options are those of
        :meth:`stream_segments`, which also says which sentence and emotion each chunk is.

        Each sentence's mel is vocoded in growing windows (:data:`FIRST_WINDOW_FRAMES`, doubling up to
        :data:`MAX_WINDOW_FRAMES`), each with :data:`WINDOW_PAD_FRAMES` of context on both sides, so the first
        audio comes after a fraction of the first sentence and the joined windows equal the sentence vocoded
        whole (no seam)."""
        for segment in self.stream_segments(text, emotion, windowed=True, **kwargs):
            yield segment.audio

    def stream_segments(
        self,
        text: str,
        emotion: str | EmotionSpec | None = "neutral",
        *,
        speaker: str | int | None = None,
        speed: float = 1.0,
        ref_audio: str | os.PathLike | None = None,
        markup: bool | None = None,
        seed: int | None = None,
        steps: int | None = None,
        mix_mode: str = "latent",
        guidance: float = 1.0,
        noise_scale: float | None = None,
        windowed: bool = False,
    ) -> Iterator[SpeechSegment]:
        """Yield :class:`SpeechSegment`\\ s chunk by chunk (sentence-sized), so long texts use bounded memory:
        each has its audio, text, the emotion spec used and its start/end time in seconds. With ``windowed``, each
        sentence comes in several pieces (same index and text, consecutive times) as soon as each window of its
        mel is vocoded: the lowest latency, see :meth:`stream`.

        Args:
            text: plain text or emotion markup; emotion: a spec string (see the module docs), or ``auto``
                (each sentence's emotion estimated from its words), ``auto:0.5`` (scaled), ``auto+sad:0.3``
                (blended with a fixed emotion); markup spans may use ``auto`` too.
            speaker: a speaker name or index; speed: speaking-rate factor (0.25-4).
            ref_audio: take the emotion from this clip instead (optionally scaled by the spec's intensity).
            markup: force (True) or forbid (False) markup parsing; None = when the text starts with ``<``.
            seed: makes diffusion sampling reproducible.
            steps: diffusion sampling steps (None = the model's default, 0 = FastSpeech2 mel only).
            mix_mode: ``latent`` mixes emotions as one vector; ``noise`` mixes the diffusion decoder's
                predictions under each emotion per step (EmoMix).
            guidance: classifier-free guidance scale between neutral and the target emotion (1 = plain).
            noise_scale: the diffusion decoder's start noise (None = the model's; 1 = sampled detail,
                0 = deterministic, closest to the mean; 0-2).
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text is empty")
        for name, value in (("steps", steps), ("seed", seed)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be an integer or None, not {type(value).__name__} {value!r}")
        if seed is not None and not 0 <= seed < 2**63:
            raise ValueError(f"seed must be between 0 and 2**63 - 1, got {seed}")
        if not (math.isfinite(speed) and 0.25 <= speed <= 4.0):
            raise ValueError(f"speed must be between 0.25 and 4, got {speed}")
        spk = self.speaker_index(speaker)
        if mix_mode not in ("latent", "noise"):
            raise ValueError(f"mix_mode must be 'latent' or 'noise', not '{mix_mode}'")
        if not (math.isfinite(guidance) and 0.0 <= guidance <= 10.0):
            raise ValueError(f"guidance must be between 0 and 10, got {guidance}")
        if noise_scale is not None and not (math.isfinite(noise_scale) and 0.0 <= noise_scale <= 2.0):
            raise ValueError(f"noise_scale must be between 0 and 2, got {noise_scale}")
        if steps is None:
            steps = self.default_steps
        limit = self.max_steps or 1000  # without a decoder steps are ignored, but nonsense is still refused
        if not 0 <= steps <= limit:
            where = " for this model's diffusion decoder" if self.max_steps else ""
            raise ValueError(f"steps must be between 0 and {limit}{where}, got {steps}")
        if steps and self.denoiser is None:
            logger.info("this model has no diffusion decoder; --steps is ignored")
            steps = 0
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        base = emotion if isinstance(emotion, str) or emotion is None else str(emotion)
        if ref_audio is not None and self.auto_spec(base) is not None:
            raise ValueError(
                "emotion 'auto' takes the emotion from the text; with a reference clip it comes from the clip "
                "(give one or the other)"
            )
        cache: dict[str | None, tuple[torch.Tensor, list, tuple[float, ...]]] = {}
        spoken = index = 0
        position = 0  # samples written so far
        sr = self.sample_rate
        for chunk in self._chunks(text, base, markup):
            if chunk.break_ms:
                pause = np.zeros(int(sr * chunk.break_ms / 1000), dtype=np.float32)
                yield SpeechSegment(index, "", None, position / sr, (position + pause.size) / sr, audio=pause)
                index += 1
                position += pause.size
                continue
            if chunk.emotion not in cache:
                mix = (
                    self.mixture_components(chunk.emotion, spk)
                    if mix_mode == "noise" and not ref_audio
                    else []
                )
                cache[chunk.emotion] = (
                    self.emotion_vector(chunk.emotion, spk, ref_audio),
                    mix,
                    self.prosody_controls(chunk.emotion, ref_audio),
                )
            ids = self._tokens(chunk.text)
            if not ids:
                continue
            z, mix, prosody = cache[chunk.emotion]
            spoken += 1
            mel = self._acoustic_mel(
                ids, spk, z, speed * chunk.rate, chunk.pitch, steps, mix, guidance, generator, noise_scale,
                prosody,
            )  # fmt: skip
            used = None if ref_audio is not None and chunk.emotion is None else chunk.emotion
            for audio in self._vocode_windows(mel) if windowed else [self._vocode(mel)]:
                audio = (audio * chunk.volume).astype(np.float32)
                yield SpeechSegment(
                    index,
                    chunk.text,
                    used,
                    position / sr,
                    (position + audio.size) / sr,
                    chunk.estimate,
                    audio=audio,
                )
                position += audio.size
            index += 1
        if not spoken:
            raise ValueError(
                f"nothing to say: {text[:60]!r} has no speakable words (only punctuation or symbols)"
            )

    def synthesize(
        self,
        text: str,
        emotion: str | EmotionSpec | None = "neutral",
        *,
        loudness: float | None = None,
        **kwargs: Any,
    ) -> tuple[np.ndarray, int]:
        """Synthesise ``text``; returns ``(audio float32 [T], sample_rate)``. See :meth:`stream_segments` for
        options.

        The level is the model's: emotions differ in loudness (angry louder than neutral, sad quieter) and nothing
        re-normalises it. ``loudness`` (active-speech RMS in dBFS, −60 to −6) normalises the result explicitly."""
        rendering = self.render(text, emotion, loudness=loudness, **kwargs)
        return rendering.audio, rendering.sample_rate

    def render(
        self,
        text: str,
        emotion: str | EmotionSpec | None = "neutral",
        *,
        loudness: float | None = None,
        **kwargs: Any,
    ) -> Rendering:
        """:meth:`synthesize` that also returns each chunk's text, emotion spec and start/end time."""
        if loudness is not None and not isinstance(loudness, (int, float)):
            raise TypeError(f"loudness must be a number (dBFS) or None, not {type(loudness).__name__}")
        if loudness is not None and not (math.isfinite(loudness) and -60.0 <= loudness <= -6.0):
            raise ValueError(f"loudness must be between -60 and -6 dBFS, got {loudness}")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            raise ValueError(
                f"text has {len(text)} characters, more than {MAX_TEXT_CHARS} for one call; "
                "use EmotionalTTS.stream() or `emovox synth --stream` for long texts"
            )
        pieces, infos = [], []
        for segment in self.stream_segments(text, emotion, **kwargs):
            pieces.append(segment.audio)
            infos.append(segment.info())
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        if loudness is not None and audio.size:
            audio = normalise_level(audio, self.sample_rate, float(loudness))
        return Rendering(audio, self.sample_rate, infos)

    def _acoustic_mel(
        self,
        ids: Sequence[int],
        speaker: int,
        z: torch.Tensor,
        speed: float,
        semitones: float,
        steps: int = 0,
        mix: Sequence[tuple[torch.Tensor, float]] = (),
        guidance: float = 1.0,
        generator: torch.Generator | None = None,
        noise_scale: float | None = None,
        prosody: Prosody = NO_PROSODY,
        durations: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """The mel ``[1, n_mels, T]`` of one chunk: FastSpeech2 with the prosody controls (and ``durations``,
        frames per symbol, instead of the predicted ones when given), refined by the diffusion decoder for
        ``steps``, then tilted by the prosody's effort (dB per octave above 500 Hz)."""
        device = self.model.mel_mean.device
        tokens = torch.tensor([list(ids)], device=device)
        log_length, pitch_shift, energy_shift, tilt, log_range, final = prosody
        out = self.model.infer(
            tokens,
            torch.tensor([len(ids)], device=device),
            torch.tensor([speaker], device=device),
            z.to(device).unsqueeze(0),
            length_scale=math.exp(log_length) / speed,
            pitch_shift=self.semitones_to_pitch(semitones, speaker) + pitch_shift,
            pitch_scale=math.exp(log_range),
            energy_shift=energy_shift,
            pitch_offset=self._final_offset(ids, speaker, final),
            durations=None if durations is None else torch.tensor([list(durations)], device=device),
        )
        mel = out.mel
        if steps and self.denoiser is not None:
            mel = self._refine(out, speaker, z, steps, mix, guidance, generator, noise_scale)
        if tilt:
            mel = mel + tilt_gains(self.mel_config, tilt).to(mel)[:, None]
        return mel

    def _final_offset(self, ids: Sequence[int], speaker: int, semitones: float) -> torch.Tensor | None:
        """The pitch offset ``[1, N]`` (normalised log-F0) that bends the end of a sentence by ``semitones``
        (:func:`final_ramp`); ``None`` for 0."""
        if not semitones:
            return None
        ramp = torch.tensor(final_ramp(self.frontend.tokenizer.table.spoken(ids)), dtype=torch.float32)
        return (ramp * self.semitones_to_pitch(semitones, speaker))[None].to(self.model.mel_mean.device)

    def semitones_to_pitch(self, semitones: float, speaker: int) -> float:
        """``semitones`` in the acoustic model's pitch units (normalised log-F0: the speaker's standard deviations)."""
        return math.log(2.0) * semitones / 12.0 / float(self.model.pitch_stats[speaker, 1])

    def _vocode(self, mel: torch.Tensor) -> np.ndarray:
        """Mel ``[1, n_mels, T]`` -> audio ``[T * hop]``. Loud emotions (angry at intensity 2) may pass full scale:
        the soft limiter compresses only the peaks, sample by sample, keeping the level."""
        return soft_limit(self.vocoder(mel)[0], threshold=0.8, ceiling=0.99)[0]

    def _vocode_windows(self, mel: torch.Tensor) -> Iterator[np.ndarray]:
        """:meth:`_vocode` in growing windows with context on both sides; the pieces join to the whole."""
        hop = self.mel_config.hop_length
        total = mel.shape[2]
        start, width = 0, FIRST_WINDOW_FRAMES
        while start < total:
            end = min(total, start + width)
            if total - end < FIRST_WINDOW_FRAMES:  # no sliver of a last window
                end = total
            lo, hi = max(0, start - WINDOW_PAD_FRAMES), min(total, end + WINDOW_PAD_FRAMES)
            yield self._vocode(mel[:, :, lo:hi])[(start - lo) * hop : (end - lo) * hop]
            start, width = end, min(2 * width, MAX_WINDOW_FRAMES)

    @torch.inference_mode()
    def _refine(
        self,
        out,
        speaker: int,
        z,
        steps: int,
        mix,
        guidance: float,
        generator,
        noise_scale: float | None = None,
    ) -> torch.Tensor:
        """Shallow diffusion on the FastSpeech2 mel (DiffSinger), with EmoMix mixing and guidance."""
        device = out.mel.device
        components = [(zi.to(device)[None], w) for zi, w in mix] or [(z.to(device)[None], 1.0)]
        z_neutral = self.bank.center.to(device)[None] if (self.bank is not None and guidance != 1.0) else None
        g = self.model.speaker_embedding(torch.tensor([speaker], device=device))
        return sample(
            self.denoiser,
            make_scheduler(self.diffusion.sampler, self.diffusion),
            out.mel,
            out.decoder_hidden.transpose(1, 2),
            g,
            out.y_mask.unsqueeze(1).to(out.mel.dtype),
            components,
            n_steps=steps,
            k_shallow=self.diffusion.k_shallow,
            guidance_scale=guidance,
            z_neutral=z_neutral,
            mix_mode="noise",
            generator=generator,
            noise_scale=self.diffusion.noise_scale if noise_scale is None else noise_scale,
            residual_std=self.diffusion.residual_std,
        )

    @torch.inference_mode()
    def speak_symbols(
        self,
        ids: Sequence[int],
        z: torch.Tensor,
        *,
        speaker: int,
        durations: Sequence[int] | None = None,
        steps: int | None = None,
        seed: int | None = None,
        prosody: Prosody = NO_PROSODY,
    ) -> np.ndarray:
        """Audio for a symbol sequence (ids of the model's table) in emotion ``z``: with the given ``durations``
        (frames per symbol) or the model's own, refined by the diffusion decoder for ``steps`` (default: the
        model's), with ``prosody`` (:meth:`prosody_controls`: an emotion's offset and trend; its duration
        scale does not apply to given durations), then vocoded. The neural voice-conversion path speaks what it
        recognised this way."""
        steps = self.default_steps if steps is None else int(steps)
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed) % 2**63)
        mel = self._acoustic_mel(
            ids, speaker, z, 1.0, 0.0, steps, generator=generator, prosody=prosody, durations=durations
        )
        return self._vocode(mel)

    @torch.inference_mode()
    def predict_prosody(
        self, text: str, emotion: str | EmotionSpec | None = "neutral", *, speaker: str | int | None = None
    ) -> dict[str, Any]:
        """The prosody the acoustic model plans for ``text``, without vocoding: per-phoneme F0 (Hz, from the
        pitch predictor and the speaker's statistics), durations (frames) and the mean F0 over phonemes that
        last at least one frame, with the emotion's prosody offset and trend applied as in synthesis.
        Cheap; useful to preview or test emotion controls."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text is empty")
        spk = self.speaker_index(speaker)
        ids = self._tokens(text)
        device = self.model.mel_mean.device
        z = self.emotion_vector(emotion, spk).to(device)
        log_length, pitch_shift, energy_shift, _, log_range, final = self.prosody_controls(emotion)
        out = self.model.infer(
            torch.tensor([ids], device=device),
            torch.tensor([len(ids)], device=device),
            torch.tensor([spk], device=device),
            z[None],
            length_scale=math.exp(log_length),
            pitch_shift=pitch_shift,
            pitch_scale=math.exp(log_range),
            energy_shift=energy_shift,
            pitch_offset=self._final_offset(ids, spk, final),
        )
        mean, std = self.model.pitch_stats[spk].tolist()
        f0 = torch.exp(out.pitch[0] * std + mean)
        durations = out.durations[0]
        spoken = durations > 0
        return {
            "f0_hz": f0.cpu().numpy(),
            "durations": durations.cpu().numpy(),
            "mean_f0_hz": float(f0[spoken].mean()) if spoken.any() else float("nan"),
            "frames": int(durations.sum()),
        }

    def describe(self) -> dict[str, Any]:
        """Emotions, speakers and ADV ranges of the model (for `emovox emotions`, the server and the demo)."""
        info: dict[str, Any] = {
            "speakers": self.speakers,
            "default_speaker": self.default_speaker,
            "emotions": self.emotions,
            "language": self.language,
            "diffusion_steps": self.default_steps,
        }
        if self.bank is not None:
            info["adv_range"] = {
                axis: [float(lo), float(hi)]
                for axis, lo, hi in zip(
                    ("arousal", "dominance", "valence"), self.bank.adv_low, self.bank.adv_high
                )
            }
            info["utterances_per_emotion"] = dict(zip(self.bank.emotions, map(int, self.bank.counts)))
        return info

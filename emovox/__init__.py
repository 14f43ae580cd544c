"""emovox: emotional text-to-speech and emotional voice conversion.

``import emovox`` is cheap: heavy modules (torch models, Numba kernels) load on first use.

    >>> from emovox import EmotionalTTS          # doctest: +SKIP
    >>> tts = EmotionalTTS.load()                 # the built-in default voice
    >>> audio, sr = tts.synthesize("Hello there.", emotion="happy:0.8")
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "EmotionalTTS": "emovox.pipelines",
    "VoiceConversion": "emovox.conversion",
    "Vocoder": "emovox.pipelines",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'emovox' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

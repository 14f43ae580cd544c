"""Where emovox keeps converted pretrained weights and other caches (``$EMOVOX_CACHE`` overrides), and where
the built-in default voice and conversion model are."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$EMOVOX_CACHE``, else ``$XDG_CACHE_HOME/emovox``, else ``~/.cache/emovox`` (created on demand)."""
    env = os.environ.get("EMOVOX_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emovox"


def default_voice_path() -> Path:
    """The acoustic model shipped inside the package (``emovox/assets/default_voice.safetensors``)."""
    from importlib import resources

    return Path(str(resources.files("emovox") / "assets" / "default_voice.safetensors"))


def default_evc_path() -> Path:
    """The voice-conversion model shipped inside the package (``emovox/assets/default_evc.safetensors``)."""
    from importlib import resources

    return Path(str(resources.files("emovox") / "assets" / "default_evc.safetensors"))


def default_content_path() -> Path:
    """The neural conversion path's content encoder shipped inside the package, when this emovox has one
    (``emovox/assets/default_content.safetensors``)."""
    from importlib import resources

    return Path(str(resources.files("emovox") / "assets" / "default_content.safetensors"))


def is_builtin_voice(path: str | os.PathLike) -> bool:
    """Whether ``path`` is the package's own default-voice file (trusted: it ships with this emovox)."""
    try:
        return Path(path).resolve() == default_voice_path().resolve()
    except OSError:
        return False

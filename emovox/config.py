"""Typed configuration: dataclasses, YAML overrides, ``--set a.b=c``, strict keys.

Every component has one dataclass with defaults. A run's configuration is that dataclass, updated by zero or
more YAML files (overrides only) and then by ``key=value`` strings from the command line. OmegaConf's
structured configs do the merging and type checking; this module turns their errors into :class:`ConfigError`
messages that name the offending key, and converts the result back into the plain dataclass so the rest of
the code never sees OmegaConf objects.

Example::

    cfg = load_config(VocoderTrainConfig, ["recipes/ljspeech/conf/vocoder.yaml"], ["optim.lr=1e-4"])
    save_config(cfg, run_dir / "config.yaml")
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from emovox.fileio import atomic_write_text

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "parse_overrides",
    "save_config",
]


class ConfigError(ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad syntax)."""


def _describe(exc: OmegaConfBaseException, source: str) -> str:
    key = getattr(exc, "full_key", None)
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    where = f" (key '{key}')" if key else ""
    return f"{source}: {msg}{where}"


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Parse ``a.b=c`` strings into a nested dict; values are read as YAML scalars (``1e-4``, ``true``, ``[1,2]``)."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. optim.lr=1e-4)")
        key, _, raw = item.partition("=")
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override '{item}' has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override '{item}': value is not valid YAML ({exc})") from exc
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' conflicts with an earlier override of '{part}'")
        node[parts[-1]] = value
    return out


def _merge(base, update: Mapping[str, Any], source: str):
    try:
        return OmegaConf.merge(base, OmegaConf.create(dict(update)))
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc, source)) from exc


def load_config(
    schema: type[T] | T,
    files: Iterable[str | os.PathLike] = (),
    overrides: Iterable[str] = (),
) -> T:
    """Build a config: ``schema`` defaults, then each YAML file, then ``key=value`` overrides.

    Args:
        schema: a dataclass type (its defaults are the base) or an instance (its values are the base).
        files: YAML files holding overrides only; unknown keys or wrong types raise :class:`ConfigError`.
        overrides: strings ``a.b=c``.

    Returns:
        An instance of the dataclass, fully validated.
    """
    try:
        base = OmegaConf.structured(schema)
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc, "schema")) from exc
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
        base = _merge(base, data, str(path))
    overrides = list(overrides)
    if overrides:
        base = _merge(base, parse_overrides(overrides), "--set")
    try:
        return OmegaConf.to_object(base)
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc, "config")) from exc


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as a plain JSON/YAML-serialisable dict."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass config, got {type(cfg).__name__}")
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True, enum_to_str=True)


def config_from_dict(schema: type[T], data: Mapping[str, Any], source: str = "checkpoint") -> T:
    """Rebuild a dataclass config from a dict (e.g. checkpoint metadata), strictly."""
    return OmegaConf.to_object(_merge(OmegaConf.structured(schema), data, source))


def save_config(cfg: Any, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    return atomic_write_text(path, text)

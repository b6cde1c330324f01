"""Traditional/Simplified conversion behind one small interface.

Two packages install a module named ``opencc``; only one can be present. The native
``opencc`` (OpenCC's own C++ library) is the default and matches upstream OpenCC's test
cases; ``opencc-python-reimplemented`` is a pure-Python fallback with fewer
configurations and a weaker dictionary. Which one is installed is detected, not assumed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

NONE = "none"


class ConversionError(ValueError):
    """An unknown or unusable OpenCC configuration."""


def _opencc_module():
    try:
        import opencc
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConversionError(
            "no OpenCC module is installed: pip install opencc (or opencc-python-reimplemented)"
        ) from exc
    return opencc


def backend() -> str:
    """``native`` or ``reimplemented``: which ``opencc`` package is installed."""
    opencc = _opencc_module()
    return "native" if hasattr(opencc, "CONFIGS") or hasattr(opencc, "clib") else "reimplemented"


def backend_description() -> str:
    """``native 1.4.2``: the backend in use and its package's version."""
    from importlib import metadata

    name = backend()
    package = "opencc" if name == "native" else "opencc-python-reimplemented"
    try:
        return f"{name} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return name


def available_configs() -> list[str]:
    """The configuration names the installed backend can load, e.g. ``t2s``."""
    opencc = _opencc_module()
    if backend() == "native":
        names = getattr(opencc, "CONFIGS", [])
    else:
        config_dir = Path(opencc.__file__).parent / "config"
        names = os.listdir(config_dir) if config_dir.is_dir() else []
    return sorted(name[: -len(".json")] for name in names if name.endswith(".json"))


def normalise_config(config: str) -> str:
    """``T2S.json`` -> ``t2s``; the name records carry."""
    name = config.strip().lower()
    return name[: -len(".json")] if name.endswith(".json") else name


@functools.cache
def make_converter(config: str) -> Callable[[str], str]:
    """A function converting text with OpenCC configuration ``config`` (or ``none``)."""
    name = normalise_config(config)
    if name == NONE:
        return _identity
    known = available_configs()
    if name not in known:
        raise ConversionError(
            f"unknown OpenCC configuration {config!r} (choose from: {', '.join([*known, NONE])})"
        )
    opencc = _opencc_module()
    try:
        converter = opencc.OpenCC(name)
    except Exception as exc:
        raise ConversionError(f"OpenCC could not load {config!r}: {exc}") from exc
    return converter.convert


def _identity(text: str) -> str:
    return text

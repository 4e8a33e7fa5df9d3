"""Readers registered by name, so ``read("widerface", path)`` finds the right parser.

Add a format of your own with one line::

    import seqloaders as sl

    @sl.register_format("myformat")
    def read_myformat(path, **options) -> list[sl.Sample]:
        ...

    samples = sl.read("myformat", "annotations.txt")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["available_formats", "get_reader", "read", "register_format"]

_READERS: dict[str, Callable[..., Any]] = {}


def register_format(name: str, reader: Callable[..., Any] | None = None, *, overwrite: bool = False):
    """Register ``reader(path, **options) -> list[Sample]`` under ``name``; usable as a decorator."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = name.lower()
        if key in _READERS and not overwrite and _READERS[key] is not fn:
            raise ValueError(f"format {name!r} is already registered; pass overwrite=True to replace it")
        _READERS[key] = fn
        return fn

    return add if reader is None else add(reader)


def available_formats() -> list[str]:
    """Names of every registered format, sorted."""
    return sorted(_READERS)


def get_reader(name: str) -> Callable[..., Any]:
    """The reader registered under ``name``."""
    try:
        return _READERS[name.lower().replace("-", "").replace("_", "")] if name.lower() not in _READERS \
            else _READERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; available: {', '.join(available_formats())}") from None


def read(name: str, path: Any, **options: Any):
    """Read annotations in the registered format ``name``; ``options`` go to its reader."""
    return get_reader(name)(path, **options)

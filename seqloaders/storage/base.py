"""The `Storage` protocol: where encoded image bytes come from."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Storage"]


@runtime_checkable
class Storage(Protocol):
    """Anything with ``read(key) -> bytes``; ``key`` is a :attr:`Sample.image`.

    A minimal implementation, serving images from a dict::

        class DictStorage:
            def __init__(self, files):
                self.files = files

            def read(self, key):
                try:
                    return self.files[key]
                except KeyError:
                    raise FileNotFoundError(key) from None
    """

    def read(self, key: str) -> bytes:
        """The encoded bytes stored under ``key``; raises ``FileNotFoundError`` if absent."""
        ...

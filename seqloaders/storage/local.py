"""Images on the local file system."""

from __future__ import annotations

import os

__all__ = ["LocalStorage"]


class LocalStorage:
    """Reads ``key`` as a file path, optionally relative to ``root``.

    Args:
        root: folder that relative keys are resolved against (default: the working directory).

    Example:
        >>> LocalStorage("/data/WIDER_train/images")  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = None if root is None else os.fspath(root)

    def read(self, key: str) -> bytes:
        path = key if self.root is None or os.path.isabs(key) else os.path.join(self.root, key)
        with open(path, "rb") as f:
            return f.read()

    def __repr__(self) -> str:
        return f"LocalStorage(root={self.root!r})"

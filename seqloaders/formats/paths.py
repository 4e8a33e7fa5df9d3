"""File helpers shared by readers: text decoding with line-numbered errors, safe path joins."""

from __future__ import annotations

import os

from ..errors import AnnotationError

__all__ = ["read_text", "join_image_path"]


def read_text(path: str) -> str:
    """Read a text annotation file as UTF-8 (a BOM is accepted; CRLF is handled by splitlines)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise AnnotationError(f"not valid UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                              path, line) from None


def join_image_path(root: str, relative: str, allow_outside_root: bool = False) -> str:
    """Join an image path from an annotation file to its root, refusing paths that leave the root.

    Raises:
        ValueError: ``relative`` is absolute or climbs out of ``root`` with ``..``.
    """
    if not allow_outside_root and (".." in relative or relative[:1] in ("/", "\\") or "\x00" in relative
                                   or os.path.isabs(relative)):
        norm = os.path.normpath(relative)
        if os.path.isabs(relative) or norm == ".." or norm.startswith(".." + os.sep) or "\x00" in relative:
            raise ValueError(
                f"image path {relative!r} leaves the images root {root!r}; "
                "pass allow_outside_root=True if this is intended")
    return os.path.join(root, relative) if root else relative

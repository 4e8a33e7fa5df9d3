"""File helpers shared by readers: text decoding with line-numbered errors, safe path joins."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from ..errors import AnnotationError
from ..storage import files

__all__ = ["join_image_path", "read_text"]


def read_text(path: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """Read a text annotation file (a path or an fsspec URL) as UTF-8 (a BOM is accepted; CRLF
    is handled by splitlines). ``storage_options`` go to fsspec for URLs.

    Unlike :func:`seqloaders.storage.files.read_text`, which it builds on (through ``read_bytes``),
    text that is not UTF-8 raises an :class:`~seqloaders.AnnotationError` naming the file and the
    line of the first bad byte (and saying so when the file is UTF-16), not a bare
    ``UnicodeDecodeError``: this is the readers' version.

    Raises:
        AnnotationError: the bytes are not UTF-8 text.
    """
    data = files.read_bytes(path, storage_options)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise AnnotationError("the file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as "
                                  "UTF-8", path, 1) from None
        line = data.count(b"\n", 0, exc.start) + 1
        raise AnnotationError(f"not valid UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                              path, line) from None


def join_image_path(root: str, relative: str, allow_outside_root: bool = False) -> str:
    """Join an image path from an annotation file to its root, refusing paths that leave the root.

    The check is lexical (``..``, absolute paths) and, where the path exists on disk, follows
    symbolic links: a link inside ``root`` that points outside it is refused too. Only the
    components of ``relative`` are examined (one ``lstat`` each, stopping at the first that does
    not exist), so the cost per image is a few microseconds; ``realpath`` runs only when a link
    is met.

    Raises:
        ValueError: ``relative`` is absolute, climbs out of ``root`` with ``..``, or goes through
            a symbolic link that leads outside ``root``.

    Example:
        >>> join_image_path("images", "a/b.jpg").replace(os.sep, "/")
        'images/a/b.jpg'
    """
    if not allow_outside_root and (".." in relative or relative[:1] in ("/", "\\") or "\x00" in relative
                                   or os.path.isabs(relative)):
        norm = os.path.normpath(relative)
        if os.path.isabs(relative) or norm == ".." or norm.startswith(".." + os.sep) or "\x00" in relative:
            raise ValueError(
                f"image path {relative!r} leaves the images root {root!r}; "
                "pass allow_outside_root=True if this is intended")
    if not root:
        return relative
    if files.is_url(root):  # an object store: "/" separators and no symbolic links
        return files.join(root, relative)
    joined = os.path.join(root, relative)
    if not allow_outside_root:
        target = _link_target_outside(root, relative)
        if target is not None:
            raise ValueError(
                f"image path {relative!r} goes through a symbolic link to {target!r}, outside the images root "
                f"{root!r}; pass allow_outside_root=True if this is intended")
    return joined


def _link_target_outside(root: str, relative: str) -> str | None:
    """The real path of ``root/relative`` when a symbolic link inside ``root`` leads out of it, else None."""
    current = root
    for part in os.path.normpath(relative).split(os.sep):
        if not part or part == ".":
            continue
        current = os.path.join(current, part)
        try:
            if not stat.S_ISLNK(os.lstat(current).st_mode):
                continue
        except (OSError, ValueError):  # missing (or not a file system path): nothing to resolve
            return None
        real_root = os.path.realpath(root)
        real = os.path.realpath(os.path.join(root, relative))
        return None if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep) else real
    return None

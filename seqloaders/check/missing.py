"""Most images of a dataset missing: one finding that says where they were looked for and where they are.

:func:`locate_missing_images` turns a long list of missing local images into one
:class:`MissingImages`, after a bounded search of the folders around the one they were looked
for in; :func:`~seqloaders.check_dataset` and :func:`~seqloaders.summarize` report it.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from ..storage import files

__all__ = ["MANY_MISSING", "MissingImages", "locate_missing_images"]

#: From this many missing images on, and when they are more than half, one finding reports them all.
MANY_MISSING = 3
_PROBES = 20  # missing images tried in each candidate folder
_SEARCH_DEPTH = 3  # folder levels searched below the starting folder
_SEARCH_FOLDERS = 2000  # folders looked at, at most


@dataclasses.dataclass(frozen=True)
class MissingImages:
    """Most images of a dataset are missing: where they were looked for, and where they may be.

    Attributes:
        images: every missing image path, in the samples' order.
        num_images: distinct images of the dataset.
        looked_in: the folder the missing paths share (the images root they were joined to).
        found_in: the nearest folder that holds the same relative paths, or None.
        is_root: whether ``looked_in`` is the images root the reader was given (then ``found_in``
            is the root to pass instead), rather than the folder the missing paths share.
    """

    images: tuple[str, ...]
    num_images: int
    looked_in: str
    found_in: str | None
    is_root: bool = False

    @property
    def where(self) -> str:
        """The folder looked in, relative to the current folder when inside it."""
        return _shown(self.looked_in)

    @property
    def message(self) -> str:
        """One sentence for a person: how many are missing, where, and what to pass instead."""
        text = (f"{len(self.images)} of {self.num_images} images are missing: not found under "
                f"{_shown(self.looked_in)} (e.g. {self.images[0]})")
        if self.found_in is not None and self.is_root:
            return text + (f"; they are under {_shown(self.found_in)}: pass that as the images root "
                           f"(--images-dir {_shown(self.found_in)}, or images_dir= when reading)")
        if self.found_in is not None:
            return text + f"; the same paths exist under {_shown(self.found_in)}: is that the images root?"
        return text + "; check the images root (images_dir, --images-dir) and the paths in the annotation file"

    def details(self) -> dict[str, Any]:
        """Machine-readable: the folders, the count and every missing image."""
        return {"looked_in": self.looked_in, "found_in": self.found_in, "missing": len(self.images),
                "num_images": self.num_images, "images": list(self.images)}


def locate_missing_images(missing: Sequence[str], num_images: int,
                          images_dir: str | os.PathLike | None = None) -> MissingImages | None:
    """Report missing local images as one problem when they are most of the dataset.

    Looks for the folder that holds them: below, beside and just above the folder they were looked
    for in (a few levels, a bounded number of folders), the one where most of a sample of their
    relative paths exist.

    Args:
        missing: the paths of the images not found (local paths; URLs are not searched).
        num_images: distinct images of the dataset.
        images_dir: the images root the reader joined the annotation's paths to, if known; the
            finding then names it, and the folder found is one to pass instead. Without it the
            folder the missing paths share is named.

    Returns:
        A :class:`MissingImages`, or None when fewer than :data:`MANY_MISSING` or not more than
        half of the images are missing (each is then reported by itself), or when they are URLs.
    """
    missing = [str(p) for p in missing]
    if len(missing) < MANY_MISSING or 2 * len(missing) <= num_images or any(files.is_url(p) for p in missing):
        return None
    folders = [os.path.dirname(os.path.abspath(p)) for p in missing]
    looked_in = os.path.commonpath(folders)
    if images_dir is not None and not files.is_url(images_dir):
        root = os.path.abspath(images_dir)
        if os.path.commonpath([root, looked_in]) == root:
            looked_in = root
    relative = [os.path.relpath(os.path.abspath(p), looked_in) for p in missing[:_PROBES]]
    return MissingImages(tuple(missing), num_images, looked_in, _folder_holding(relative, looked_in),
                         images_dir is not None)


def _folder_holding(relative: list[str], looked_in: str) -> str | None:
    """The folder nearest ``looked_in`` under which most ``relative`` paths exist, or None."""
    anchor = looked_in
    while not os.path.isdir(anchor) and os.path.dirname(anchor) != anchor:
        anchor = os.path.dirname(anchor)  # a mistyped folder: start from what exists
    start = os.path.dirname(anchor) if anchor == looked_in else anchor  # its parent: siblings, children, itself
    best, best_score = None, (len(relative) + 1) // 2  # at least half of the probes
    queue, seen = collections.deque([(start, 0)]), 0
    while queue and seen < _SEARCH_FOLDERS:
        folder, depth = queue.popleft()
        seen += 1
        if folder != looked_in:
            score = sum(os.path.isfile(os.path.join(folder, rel)) for rel in relative)
            if score > best_score or (score == best_score and best is not None and
                                      _distance(folder, looked_in) < _distance(best, looked_in)):
                best, best_score = folder, score
        if depth < _SEARCH_DEPTH:
            try:
                entries = sorted(e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
            except OSError:
                continue
            queue.extend((path, depth + 1) for path in entries)
    return best


def _shown(folder: str) -> str:
    """``folder`` relative to the current folder when it is inside it, else absolute."""
    here = os.path.abspath(os.curdir)
    if folder == here:
        return "."
    return os.path.relpath(folder, here) if os.path.commonpath([folder, here]) == here else folder


def _distance(a: str, b: str) -> int:
    common = os.path.commonpath([a, b])
    return len(os.path.relpath(a, common).split(os.sep)) + len(os.path.relpath(b, common).split(os.sep))


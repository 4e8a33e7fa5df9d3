"""Helpers shared by the readers of this package: image sizes from headers, result assembly."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..records import ReadReport, Sample, SampleList
from .errorpolicy import warn_summary

__all__ = ["IMAGE_EXTENSIONS", "image_size_of", "finish", "is_image_file", "list_images", "natural_key"]

#: File extensions treated as images when a reader lists a folder (lower case, with the dot).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jfif", ".pbm", ".pgm", ".ppm")

_HEADER_BYTES = 1 << 16


def is_image_file(name: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> bool:
    """True when ``name`` has one of ``extensions`` (case-insensitive) and is not hidden."""
    base = os.path.basename(name)
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in tuple(extensions)


def natural_key(text: str) -> tuple:
    """Sort key that orders ``img2`` before ``img10``."""
    import re

    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text))


def list_images(folder: str, recursive: bool = True, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[str]:
    """Image files under ``folder`` (hidden files and folders skipped), sorted by path."""
    extensions = tuple(e.lower() for e in extensions)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in filenames if is_image_file(f, extensions)]
        if not recursive:
            break
    return sorted(found, key=lambda p: natural_key(os.path.relpath(p, folder)))


def image_size_of(path: str) -> tuple[int, int]:
    """(H, W) of an image file as displayed (after EXIF orientation), read from its header.

    JPEG and PNG sizes come from the first bytes of the file without decoding; other formats
    are decoded once.

    Raises:
        FileNotFoundError: the file does not exist.
        ImageError: the file is not a decodable image.
    """
    from ..imageio import decode_image, probe_image

    with open(path, "rb") as f:
        head = f.read(_HEADER_BYTES)
        info = probe_image(head)
        if info is None and len(head) == _HEADER_BYTES:  # large EXIF block: read the rest
            head += f.read()
            info = probe_image(head)
    if info is not None:
        return info.size
    return tuple(decode_image(head, path=path).shape[:2])  # type: ignore[return-value]


def finish(samples: list[Sample], report: ReadReport, class_names: Iterable[str], on_error: str,
           meta: Mapping[str, Any] | None = None) -> SampleList:
    """Fill the report's counts, warn once for what ``on_error="skip"`` skipped, and wrap the result.

    ``meta`` (format-level extras such as COCO's category ids) is attached as ``result.meta``.
    """
    report.num_samples = len(samples)
    report.num_boxes = sum(s.num_boxes for s in samples)
    warn_summary(report, on_error)
    result = SampleList(samples, report=report, class_names=tuple(class_names))
    result.meta = dict(meta or {})
    return result

"""Helpers shared by the readers of this package: image sizes from headers, result assembly."""

from __future__ import annotations

import bisect
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..records import ReadReport, Sample, SampleList
from ..storage import files
from .errorpolicy import warn_summary

__all__ = [
    "IMAGE_EXTENSIONS",
    "JsonLocator",
    "finish",
    "image_size_of",
    "is_image_file",
    "is_number",
    "list_images",
    "natural_key",
]

#: File extensions treated as images when a reader lists a folder (lower case, with the dot).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jfif", ".pbm", ".pgm", ".ppm")

_FIRST_BYTES = 1 << 12
_HEADER_BYTES = 1 << 16


def is_number(text: str) -> bool:
    """True when ``text`` parses as a float (``nan`` and ``inf`` included)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_image_file(name: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> bool:
    """True when ``name`` has one of ``extensions`` (case-insensitive) and is not hidden."""
    base = os.path.basename(name)
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in tuple(extensions)


def natural_key(text: str) -> tuple:
    """Sort key that orders ``img2`` before ``img10``."""
    import re

    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text))


def list_images(folder: str, recursive: bool = True, extensions: Iterable[str] = IMAGE_EXTENSIONS,
                storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Image files under ``folder`` (a path or URL; hidden files and folders skipped), sorted by path."""
    extensions = tuple(e.lower() for e in extensions)
    if files.is_url(folder):
        found = [p for p in files.list_files(folder, storage_options, recursive=recursive)
                 if is_image_file(p, extensions)]
        prefix = len(folder.rstrip("/")) + 1
        return sorted(found, key=lambda p: natural_key(p[prefix:]))
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in filenames if is_image_file(f, extensions)]
        if not recursive:
            break
    # every path is os.path.join(folder, relative): slicing gives relpath's answer at a tenth of its cost
    prefix = len(os.path.join(folder, ""))
    return sorted(found, key=lambda p: natural_key(p[prefix:]))


def image_size_of(path: str, storage_options: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """(H, W) of an image file (a path or URL) as displayed (after EXIF orientation), read from its header.

    JPEG and PNG sizes come from the first bytes of the file without decoding (for a URL, one
    ranged read); other formats are decoded once.

    Raises:
        FileNotFoundError: the file does not exist.
        ImageError: the file is not a decodable image.
    """
    from ..imageio import decode_image, probe_image

    if files.is_url(path):
        head = files.read_range(path, 0, _HEADER_BYTES, storage_options)
        info = probe_image(head)
        if info is not None:
            return info.size
        data = head if len(head) < _HEADER_BYTES else files.read_bytes(path, storage_options)
        return tuple(decode_image(data, path=path).shape[:2])  # type: ignore[return-value]
    with open(path, "rb") as f:
        head = f.read(_FIRST_BYTES)
        info = probe_image(head)
        for more in (_HEADER_BYTES - _FIRST_BYTES, -1):  # a large EXIF block comes before the size
            if info is not None or len(head) < _FIRST_BYTES:
                break
            chunk = f.read(more)
            if not chunk:
                break
            head += chunk
            info = probe_image(head)
    if info is not None:
        return info.size
    with open(path, "rb") as f:
        data = f.read()
    return tuple(decode_image(data, path=path).shape[:2])  # type: ignore[return-value]


def finish(samples: list[Sample], report: ReadReport, class_names: Iterable[str], on_error: str,
           meta: Mapping[str, Any] | None = None) -> SampleList:
    """End a reader: count samples and boxes into ``report``, warn once for what was skipped, wrap the result.

    Every built-in reader returns through it, and a format of your own can too
    (``examples/custom_format.py``): parse into ``samples``, send each bad entry to
    :func:`handle_error` (which raises, or records it in ``report.skipped``), then return
    ``finish(...)``. Under ``on_error="skip"`` this gives the one summary warning that says how
    many entries were skipped (``"warn"`` has warned for each already).

    Args:
        samples: the samples parsed, in file order.
        report: the reader's report (``path`` and ``skipped`` filled while parsing); its
            ``num_samples`` and ``num_boxes`` are set here.
        class_names: the class names, index = label.
        on_error: the reader's policy, ``"raise" | "warn" | "skip"``.
        meta: format-level extras (such as COCO's category ids), attached as ``result.meta``.

    Returns:
        A :class:`~seqloaders.SampleList` with ``report``, ``class_names`` and ``meta``.

    Example:
        >>> import seqloaders as sl
        >>> report = sl.ReadReport(path="boxes.txt")
        >>> samples = [sl.Sample("a.jpg", boxes=[[1, 2, 11, 12]], labels=[0]), sl.Sample("b.jpg")]
        >>> result = finish(samples, report, ("cat",), on_error="raise")
        >>> result, str(result.report)
        (SampleList(2 samples, 1 boxes, class_names=['cat']), 'boxes.txt: 2 images, 1 boxes')
    """
    report.num_samples = len(samples)
    report.num_boxes = sum(s.num_boxes for s in samples)
    warn_summary(report, on_error)
    result = SampleList(samples, report=report, class_names=tuple(class_names))
    result.meta = dict(meta or {})
    return result


_WS = re.compile(r"[ \t\n\r]*")


class JsonLocator:
    """Finds the line where a top-level key's value, or ``key[index]``, starts in JSON text.

    Used only to word errors: the text is scanned once, on the first error, so valid files cost
    nothing.
    """

    def __init__(self, text: str | None):
        self.text = text
        self._values: dict[str, int] | None = None
        self._items: dict[str, list[int]] = {}
        self._newlines: list[int] | None = None

    def line(self, key: str, index: int | None = None) -> int | None:
        """The 1-based line of ``key``'s value (``index`` None) or of its ``index``-th element."""
        if self.text is None:
            return None
        if self._values is None:
            self._scan()
        if index is None:
            pos = self._values.get(key)  # type: ignore[union-attr]
        else:
            items = self._items.get(key, [])
            pos = items[index] if index < len(items) else None
        if pos is None:
            return None
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def _scan(self) -> None:
        self._values = {}
        text, decoder = self.text or "", json.JSONDecoder()
        try:
            pos = _WS.match(text, 0).end()
            if text[pos:pos + 1] != "{":
                return
            pos = _WS.match(text, pos + 1).end()
            while text[pos:pos + 1] == '"':
                key, pos = json.decoder.scanstring(text, pos + 1)
                pos = _WS.match(text, pos).end() + 1  # the colon
                pos = _WS.match(text, pos).end()
                self._values.setdefault(key, pos)
                if text[pos:pos + 1] == "[":
                    starts: list[int] = []
                    pos = _WS.match(text, pos + 1).end()
                    while text[pos:pos + 1] not in ("]", ""):
                        starts.append(pos)
                        _, pos = decoder.raw_decode(text, pos)
                        pos = _WS.match(text, pos).end()
                        if text[pos:pos + 1] != ",":
                            break
                        pos = _WS.match(text, pos + 1).end()
                    self._items.setdefault(key, starts)
                    pos += 1  # the closing bracket
                else:
                    _, pos = decoder.raw_decode(text, pos)
                pos = _WS.match(text, pos).end()
                if text[pos:pos + 1] != ",":
                    break
                pos = _WS.match(text, pos + 1).end()
        except (ValueError, IndexError):
            pass

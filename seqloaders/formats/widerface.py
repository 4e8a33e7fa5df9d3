"""WIDER FACE ``wider_face_*_bbx_gt.txt`` annotations.

Source box format: XYWH pixels (``x1 y1 w h``), converted to XYXY pixels.

The file is a sequence of entries::

    0--Parade/0_Parade_marchingband_1_849.jpg      image path, relative to the images root
    1                                              number of boxes N
    449 330 122 149 0 0 0 0 0 0                    N lines: x1 y1 w h blur expression
                                                   illumination invalid occlusion pose

An image with N = 0 is followed by one placeholder line of zeros, which is not a box. Every
declared box is kept, invalid and zero-size ones included, with its six attributes; dropping
boxes is an explicit option (``drop_invalid``, ``min_size``) and is counted in the report.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import AnnotationError
from ..records import ReadReport, Sample, SampleList
from ..storage import files
from ..storage.remote import attach_storage
from .common import is_number
from .errorpolicy import check_on_error, handle_error, warn_summary
from .paths import join_image_path, read_text
from .registry import register_format

__all__ = ["WIDER_FACE_ATTRIBUTES", "parse_wider_face", "read_wider_face"]

#: Attribute names in the order of the official readme.
WIDER_FACE_ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
_FIELDS = 4 + len(WIDER_FACE_ATTRIBUTES)
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # boxes are float32, attributes int32: larger values are refused
_INT32 = 1 << 31
_NOT_PLAIN = re.compile(r"[^\x20-\x7e\t]")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


class _Entry:
    __slots__ = ("count", "first", "path", "path_line")

    def __init__(self, path: str, path_line: int, first: int, count: int):
        self.path, self.path_line, self.first, self.count = path, path_line, first, count


def parse_wider_face(
    text: str,
    images_dir: str | os.PathLike = "",
    *,
    path: str = "<string>",
    on_error: str = "raise",
    drop_invalid: bool = False,
    min_size: float = 0.0,
    allow_outside_root: bool = False,
) -> SampleList:
    """Parse the text of a WIDER FACE ground-truth file into samples (no file I/O).

    Args:
        text: the file's content.
        images_dir: root that the image paths in the file are relative to.
        path: the file name used in error messages.
        on_error: "raise" (default), "warn" or "skip" a malformed entry.
        drop_invalid: drop boxes whose ``invalid`` flag is 1 (counted in the report).
        min_size: drop boxes narrower or shorter than this many pixels (counted in the report).
        allow_outside_root: accept image paths that leave ``images_dir`` (``../``, absolute).

    Returns:
        A :class:`SampleList` (a list of :class:`Sample`, label 0 = "face") with ``.report``.

    Raises:
        AnnotationError: malformed entry (with ``on_error="raise"``), naming file and line.
    """
    check_on_error(on_error)
    report = ReadReport(path=path)
    lines = text.splitlines()
    entries, errors = _scan(lines, path, check_fields=False)
    if errors:  # broken structure: rescan checking every box line, so errors point at the right line
        entries, errors = _scan(lines, path, check_fields=True)
        for exc in errors:
            handle_error(exc, on_error, report)

    boxes, attrs, bad = _parse_numbers(lines, entries)
    if bad:  # slow path, only for broken files: find each broken entry and apply the policy
        keep = []
        for entry in entries:
            try:
                _read_entry(lines, entry.path_line - 1, path, check_fields=True)
                _parse_entry_numbers(lines, entry, path)
                keep.append(entry)
            except AnnotationError as exc:
                handle_error(exc, on_error, report)
        entries = keep
        boxes, attrs, bad = _parse_numbers(lines, entries)
        if bad:  # pragma: no cover - the slow path accepts only what the fast path parses
            raise AnnotationError("could not parse box lines", path)

    samples: list[Sample] = []
    root = os.fspath(images_dir)
    offset = 0
    dropped_invalid = dropped_small = 0
    invalid_col = WIDER_FACE_ATTRIBUTES.index("invalid")
    for entry in entries:
        try:
            image = join_image_path(root, entry.path, allow_outside_root)
        except ValueError as exc:
            handle_error(AnnotationError(str(exc), path, entry.path_line), on_error, report)
            offset += entry.count
            continue
        b = boxes[offset:offset + entry.count]
        a = attrs[offset:offset + entry.count]
        offset += entry.count
        if drop_invalid or min_size > 0:
            keep_mask = np.ones(len(b), bool)
            if drop_invalid:
                inv = a[:, invalid_col] == 1
                dropped_invalid += int(inv.sum())
                keep_mask &= ~inv
            if min_size > 0:
                small = ((b[:, 2] - b[:, 0]) < min_size) | ((b[:, 3] - b[:, 1]) < min_size)
                dropped_small += int((small & keep_mask).sum())
                keep_mask &= ~small
            b, a = b[keep_mask], a[keep_mask]
        samples.append(Sample.unchecked(
            image=image,
            boxes=b,
            labels=np.zeros(len(b), np.int64),
            attributes={name: a[:, k] for k, name in enumerate(WIDER_FACE_ATTRIBUTES)},
            meta={"line": entry.path_line},
        ))
    if dropped_invalid:
        report.dropped_boxes["invalid"] = dropped_invalid
    if dropped_small:
        report.dropped_boxes[f"smaller than {min_size:g} px"] = dropped_small
    report.num_samples = len(samples)
    report.num_boxes = sum(s.num_boxes for s in samples)
    warn_summary(report, on_error)
    return SampleList(samples, report=report, class_names=("face",))


def _scan(lines: list[str], path: str, check_fields: bool) -> tuple[list[_Entry], list[AnnotationError]]:
    """Split the file into entries; an error skips to the next line that looks like an image path."""
    entries: list[_Entry] = []
    errors: list[AnnotationError] = []
    i, n = 0, len(lines)
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        try:
            entry, i = _read_entry(lines, i, path, check_fields)
            entries.append(entry)
        except AnnotationError as exc:
            errors.append(exc)
            if not check_fields:
                break
            i = _next_path_line(lines, max(i + 1, exc.line or 0))
    return entries, errors


def _read_entry(lines: list[str], i: int, path: str, check_fields: bool) -> tuple[_Entry, int]:
    """Read the path and count lines at ``i``; return the entry and the index after it."""
    n = len(lines)
    image = lines[i].strip()
    if len(image.split()) != 1 or is_number(image):
        raise AnnotationError(f"expected an image path, got {image[:80]!r}", path, i + 1)
    if i + 1 >= n or not lines[i + 1].strip():
        raise AnnotationError(f"missing box count after image path {image!r}", path, i + 2)
    count_text = lines[i + 1].strip()
    try:
        count = int(count_text)
    except ValueError:
        raise AnnotationError(f"expected a box count, got {count_text[:80]!r}", path, i + 2) from None
    if count < 0:
        raise AnnotationError(f"box count must be >= 0, got {count}", path, i + 2)
    first = i + 2
    if count == 0:
        # The official files follow a count of 0 with one placeholder line of numbers.
        if first < n and lines[first].strip() and is_number(lines[first].split()[0]):
            first += 1
        return _Entry(image, i + 1, first, 0), first
    if first + count > n:
        raise AnnotationError(
            f"count promises {count} box lines for {image!r} but the file ends after {n - first}", path, i + 2)
    for k in range(first, first + count) if check_fields else ():
        fields = lines[k].split()
        if len(fields) != _FIELDS:
            got = "an empty line" if not fields else f"{len(fields)} fields: {lines[k].strip()[:80]!r}"
            raise AnnotationError(
                f"expected {count} box lines of {_FIELDS} numbers for {image!r}; box {k - first + 1} has {got}",
                path, k + 1)
    return _Entry(image, i + 1, first, count), first + count


def _next_path_line(lines: list[str], i: int) -> int:
    """Resynchronise after an error: the next line that looks like an image path."""
    while i < len(lines):
        fields = lines[i].split()
        if len(fields) == 1 and not is_number(fields[0]):
            return i
        i += 1
    return i


def _parse_numbers(lines: list[str], entries: list[_Entry]) -> tuple[np.ndarray, np.ndarray, bool]:
    """Parse all box lines at once; ``bad`` is True when a line has the wrong number of fields,
    a field is not a number, a value is not finite or an attribute is not an integer."""
    total = sum(e.count for e in entries)
    if total == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0, 6), np.int32), False
    blob = "\n".join("\n".join(lines[e.first:e.first + e.count]) for e in entries if e.count)
    raw = np.frombuffer(blob.encode("utf-8"), np.uint8)
    # fields per line, vectorised: a field starts where a non-space byte follows a space
    is_field = raw > 32
    starts = is_field.copy()
    starts[1:] &= ~is_field[:-1]
    line_of_byte = np.cumsum(raw == 10)
    fields_per_line = np.bincount(line_of_byte[starts], minlength=total)
    if fields_per_line.size != total or (fields_per_line != _FIELDS).any():
        return np.zeros((0, 4), np.float32), np.zeros((0, 6), np.int32), True
    values = None
    for dtype in (np.int64, np.float64):  # official files hold integers: the fast C parser first
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # older numpy warns and stops at a bad token
                values = np.fromstring(blob, dtype=dtype, sep=" ")
        except ValueError:  # newer numpy raises at a bad token
            values = None
        if values is not None and values.size == total * _FIELDS:
            if dtype is np.int64 and ((values > 1 << 53) | (values < -(1 << 53))).any():
                continue  # strtoll saturates: let the float parser (and its range checks) see the real value
            break
    if values is None or values.size != total * _FIELDS:
        return np.zeros((0, 4), np.float32), np.zeros((0, 6), np.int32), True
    values = values.reshape(total, _FIELDS)
    xywh = values[:, :4].astype(np.float64)
    attrs = values[:, 4:]
    if values.dtype != np.int64 and not (np.isfinite(values).all() and (attrs == np.round(attrs)).all()):
        return np.zeros((0, 4), np.float32), np.zeros((0, 6), np.int32), True
    corners = xywh[:, :2] + xywh[:, 2:]
    if not ((np.abs(xywh) <= _FLOAT32_MAX).all() and (np.abs(corners) <= _FLOAT32_MAX).all()
            and ((attrs >= -_INT32) & (attrs < _INT32)).all()):
        return np.zeros((0, 4), np.float32), np.zeros((0, 6), np.int32), True
    boxes = np.empty((total, 4), np.float32)
    boxes[:, :2] = xywh[:, :2]
    boxes[:, 2:] = xywh[:, :2] + xywh[:, 2:]
    return boxes, attrs.astype(np.int32), False


def _parse_entry_numbers(lines: list[str], entry: _Entry, path: str) -> None:
    """Find the first bad box line of an entry; accepts exactly what :func:`_parse_numbers` parses."""
    for k in range(entry.first, entry.first + entry.count):
        odd = _NOT_PLAIN.search(lines[k])  # str.split and float() accept Unicode spaces and digits, numpy does not
        if odd:
            raise AnnotationError(f"box line holds {odd.group()!r}, which is not printable ASCII (numbers and spaces "
                                  "only)", path, k + 1)
        for col, token in enumerate(lines[k].split()):
            try:
                value = float(token)
            except ValueError:
                raise AnnotationError(f"field {col + 1} is not a number: {token[:40]!r}", path, k + 1) from None
            if not np.isfinite(value):
                raise AnnotationError(f"field {col + 1} is not finite: {token[:40]!r}", path, k + 1)
            if not _DECIMAL.match(token):
                raise AnnotationError(f"field {col + 1} is not a plain decimal number: {token[:40]!r}", path, k + 1)
            if col >= 4 and (value != round(value) or not -_INT32 <= value < _INT32):
                name = WIDER_FACE_ATTRIBUTES[col - 4]
                raise AnnotationError(f"attribute {name!r} must be an integer (32-bit), got {token[:40]!r}", path,
                                      k + 1)
        x, y, w, h = (float(t) for t in lines[k].split()[:4])
        if max(abs(x), abs(y), abs(w), abs(h), abs(x + w), abs(y + h)) > _FLOAT32_MAX:
            raise AnnotationError(f"box {' '.join(lines[k].split()[:4])[:80]!r} is out of float32 range", path, k + 1)


@register_format("widerface")
def read_wider_face(
    annotation_file: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    *,
    on_error: str = "raise",
    drop_invalid: bool = False,
    min_size: float = 0.0,
    allow_outside_root: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> SampleList:
    """Read a WIDER FACE ground-truth file (``wider_face_train_bbx_gt.txt``).

    Args:
        annotation_file: path or URL (``s3://...``) of the ``*_bbx_gt.txt`` file.
        images_dir: the ``WIDER_train/images`` folder (path or URL); default: the annotation
            file's folder.
        on_error, drop_invalid, min_size, allow_outside_root: see :func:`parse_wider_face`.
        storage_options: options of the fsspec file system when paths are URLs (``s3://...``);
            default: the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...).

    Returns:
        A list of :class:`Sample` (one per image, every declared box with the attributes
        ``blur, expression, illumination, invalid, occlusion, pose``), with ``.report``.

    Raises:
        FileNotFoundError: the annotation file does not exist.
        AnnotationError: malformed or truncated file, naming file and line.

    Example:
        >>> import seqloaders as sl
        >>> paths = sl.make_toy_dataset("/tmp/toy", num_images=4)       # doctest: +SKIP
        >>> samples = sl.read_wider_face(paths.annotations, paths.images)  # doctest: +SKIP
    """
    annotation_file = os.fspath(annotation_file)
    text = read_text(annotation_file, storage_options)
    if images_dir is None:
        images_dir = files.dirname(annotation_file)
    samples = parse_wider_face(text, images_dir, path=annotation_file, on_error=on_error, drop_invalid=drop_invalid,
                               min_size=min_size, allow_outside_root=allow_outside_root)
    return attach_storage(samples, storage_options)

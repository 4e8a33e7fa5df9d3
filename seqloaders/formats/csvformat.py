"""CSV annotations: one row per box, columns named by the user.

Source box format: any :class:`~seqloaders.BoxFormat`, given with ``box_format`` (default
XYXY pixels), converted to XYXY pixels. Relative formats use each image's size, from ``width``
and ``height`` columns when named, else from the image header.

Rows of the same image are grouped into one :class:`~seqloaders.Sample` (in order of first
appearance). A row whose four box cells are empty stands for an image without objects (N = 0),
as in ``image.jpg,,,,,``. ``columns`` maps roles to column names (a file with a header row) or
to 0-based column indices (a file without one)::

    columns={"image": "filename", "boxes": ["xmin", "ymin", "xmax", "ymax"], "label": "class"}
    columns={"image": 0, "boxes": [1, 2, 3, 4], "label": 5}      # keras-retinanet CSV

Labels are class names, turned into indices of ``class_names`` (default: the names found,
sorted; when every label is an integer, the integers themselves).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AnnotationError, ImageError
from ..geometry import convert_boxes
from ..records import BoxFormat, ReadReport, Sample, SampleList
from ..storage import files
from ..storage.remote import attach_storage
from .common import finish, image_size_of
from .errorpolicy import check_on_error, handle_error
from .paths import join_image_path, read_text
from .registry import register_format

__all__ = ["parse_csv", "read_csv"]

_ROLES = ("image", "boxes", "label", "width", "height")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_SIDE = 1 << 31
_INT64 = 1 << 63
#: Integer labels name classes 0..max only below this; larger ones need explicit class names.
_MAX_IMPLICIT_CLASSES = 1 << 16


class _Row:
    __slots__ = ("box", "extra", "label", "line", "size")

    def __init__(self, line: int, box: tuple | None, label: str | None, size: tuple | None, extra: list[str]):
        self.line, self.box, self.label, self.size, self.extra = line, box, label, size, extra


def _resolve_columns(columns: Mapping[str, Any], attributes: Sequence[str | int], header: list[str] | None,
                     path: str) -> tuple[dict[str, Any], list[int]]:
    unknown = set(columns) - set(_ROLES)
    if unknown:
        raise ValueError(f"unknown column roles {sorted(unknown)}; use {', '.join(_ROLES)}")
    if "image" not in columns or "boxes" not in columns:
        raise ValueError("columns must name at least 'image' and 'boxes' (4 columns in box_format order)")
    if len(columns["boxes"]) != 4 or isinstance(columns["boxes"], str):
        raise ValueError(f"columns['boxes'] must list 4 columns, got {columns['boxes']!r}")

    def index(ref: Any, role: str) -> int:
        if header is None:
            if not isinstance(ref, int) or ref < 0:
                raise ValueError(f"without a header row, column {role!r} must be a 0-based index, got {ref!r}")
            return ref
        if isinstance(ref, int):
            return ref
        if ref not in header:
            raise AnnotationError(f"column {ref!r} (for {role!r}) is not in the header; header columns: "
                                  f"{', '.join(header)}", path, 1)
        return header.index(ref)

    resolved = {role: ([index(r, role) for r in ref] if role == "boxes" else index(ref, role))
                for role, ref in columns.items() if ref is not None}
    return resolved, [index(a, "attributes") for a in attributes]


def parse_csv(
    text: str,
    columns: Mapping[str, Any],
    *,
    box_format: BoxFormat | str = "xyxy",
    images_dir: str | os.PathLike = "",
    class_names: Sequence[str] | None = None,
    attributes: Sequence[str | int] = (),
    delimiter: str = ",",
    header: bool | None = None,
    path: str = "<string>",
    on_error: str = "raise",
    allow_outside_root: bool = False,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> SampleList:
    """Parse CSV text with one row per box into samples (no file I/O).

    Source box format: ``box_format`` (default XYXY pixels), converted to XYXY pixels.

    Args:
        text: the CSV content.
        columns: role → column name (or 0-based index without a header): ``image``, ``boxes``
            (4 columns in ``box_format`` order), and optionally ``label``, ``width``, ``height``.
        box_format: the source box format; relative formats need ``width``/``height`` columns
            or ``image_sizes``.
        images_dir: root that image paths are relative to.
        class_names: the class list (unknown labels are errors); default: the labels found,
            sorted (integers if every label is an integer); ``("object",)`` without a label column.
        attributes: extra columns kept as per-box attributes (numbers when every value parses).
        delimiter: the field separator.
        header: whether the first row names the columns; default: True when ``columns`` uses names.
        path: the file name used in error messages.
        on_error: "raise" (default), "warn" or "skip" an image with a malformed row.
        allow_outside_root: accept image paths that leave ``images_dir``.
        image_sizes: (H, W) per image path as written in the file, for relative formats.

    Returns:
        A :class:`SampleList` with ``class_names`` and ``report``.

    Raises:
        AnnotationError: a missing column, a non-numeric or inverted box, an unknown class,
            naming file and line.

    Example:
        >>> text = "file,x0,y0,x1,y1,cls\\na.jpg,1,2,11,22,dog\\nb.jpg,,,,,\\n"
        >>> s = parse_csv(text, {"image": "file", "boxes": ["x0", "y0", "x1", "y1"], "label": "cls"})
        >>> [x.num_boxes for x in s], s[0].boxes.tolist(), s.class_names
        ([1, 0], [[1.0, 2.0, 11.0, 22.0]], ('dog',))
    """
    check_on_error(on_error)
    fmt = BoxFormat.parse(box_format)
    report = ReadReport(path=path)
    uses_names = any(isinstance(v, str) for k, v in columns.items() if k != "boxes") or \
        any(isinstance(v, str) for v in columns.get("boxes", ())) or any(isinstance(a, str) for a in attributes)
    if header is None:
        header = uses_names
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    head = None
    if header:
        try:
            head = [h.strip() for h in next(reader)]
        except StopIteration:
            raise AnnotationError("empty CSV file: expected a header row", path, 1) from None
    roles, extra_cols = _resolve_columns(columns, attributes, head, path)
    if fmt.is_relative and not ("width" in roles and "height" in roles) and image_sizes is None:
        raise ValueError(f"box_format {fmt.value!r} is relative: name 'width' and 'height' columns or pass "
                         "image_sizes (read_csv reads them from the image headers)")
    needed = max([roles["image"], *roles["boxes"], *[roles[r] for r in ("label", "width", "height") if r in roles],
                  *extra_cols])

    groups: dict[str, list[_Row]] = {}
    bad: set[str] = set()
    line_before = reader.line_num
    for fields in reader:
        line = line_before + 1
        line_before = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        image = fields[roles["image"]].strip() if len(fields) > roles["image"] else ""
        try:
            if len(fields) <= needed:
                raise AnnotationError(f"expected at least {needed + 1} columns, got {len(fields)}", path, line)
            if not image:
                raise AnnotationError("empty image path", path, line)
            groups.setdefault(image, [])
            if image not in bad:
                groups[image].append(_parse_row(fields, roles, extra_cols, path, line))
        except AnnotationError as exc:
            if image:
                bad.add(image)
            handle_error(exc, on_error, report)

    all_labels = {r.label for rows in groups.values() for r in rows if r.box is not None and r.label is not None}
    if class_names is None:
        if "label" not in roles:
            class_names = ("object",)
        elif all_labels and all(_is_int(v) for v in all_labels):
            top = max(int(v) for v in all_labels)
            if top >= _MAX_IMPLICIT_CLASSES:  # the class list would be larger than any file could justify
                line = next(r.line for rows in groups.values() for r in rows
                            if r.box is not None and r.label is not None and int(r.label) == top)
                raise AnnotationError(f"integer label {top} would make {top + 1} classes; integer labels are class "
                                      f"ids only below {_MAX_IMPLICIT_CLASSES}: pass class_names=[...]", path, line)
            class_names = tuple(str(k) for k in range(top + 1))
        else:
            class_names = tuple(sorted(all_labels))
    label_of = {name: k for k, name in enumerate(class_names)}
    if all(_is_int(n) for n in class_names):
        label_of.update({str(int(n)): k for k, n in enumerate(class_names)})

    root = os.fspath(images_dir)
    samples: list[Sample] = []
    extras: list[dict[str, np.ndarray]] = []
    for image, rows in groups.items():
        if image in bad:
            continue
        try:
            image_path = join_image_path(root, image, allow_outside_root)
        except ValueError as exc:
            handle_error(AnnotationError(str(exc), path, rows[0].line), on_error, report)
            continue
        objects = [r for r in rows if r.box is not None]
        try:
            for r in objects:
                if r.label is not None and r.label not in label_of:
                    raise AnnotationError(f"unknown class {r.label!r}; known: {', '.join(class_names)}", path, r.line)
            sizes = {r.size for r in rows if r.size is not None}
            if len(sizes) > 1:
                raise AnnotationError(f"rows of {image!r} disagree on the image size: {sorted(sizes)}", path,
                                      rows[-1].line)
            size = sizes.pop() if sizes else (image_sizes or {}).get(image)
            raw = np.array([r.box for r in objects], np.float64).reshape(-1, 4)
            if fmt.is_relative and objects and size is None:
                raise AnnotationError(f"no image size for {image!r}: relative boxes need it", path, objects[0].line)
            converted = convert_boxes(raw, fmt, "xyxy", image_size=size)
            too_big = np.flatnonzero(~(np.abs(converted) <= _FLOAT32_MAX).all(axis=1))
            if too_big.size:
                r = objects[too_big[0]]
                raise AnnotationError(f"box {r.box} in {fmt.value} is out of float32 range in pixels", path, r.line)
            boxes = converted.astype(np.float32)
            inverted = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
            if inverted.size:
                r = objects[inverted[0]]
                raise AnnotationError(f"box {r.box} in {fmt.value} gives x_max < x_min or y_max < y_min", path,
                                      r.line)
        except AnnotationError as exc:
            handle_error(exc, on_error, report)
            continue
        labels = np.array([label_of[r.label] if r.label is not None else 0 for r in objects], np.int64)
        samples.append(Sample.unchecked(image=image_path, boxes=boxes, labels=labels, image_size=size,
                                       attributes={}, meta={"line": rows[0].line}))
        extras.append({str(a): [r.extra[k] for r in objects] for k, a in enumerate(attributes)})
    if attributes:
        samples = _typed_attributes(samples, extras, [str(a) for a in attributes])
    return finish(samples, report, class_names, on_error)


def _parse_row(fields: list[str], roles: dict[str, Any], extra_cols: list[int], path: str, line: int) -> _Row:
    cells = [fields[c].strip() for c in roles["boxes"]]
    label = fields[roles["label"]].strip() if "label" in roles else None
    size = None
    if "width" in roles and "height" in roles:
        try:
            w, h = float(fields[roles["width"]]), float(fields[roles["height"]])
        except ValueError:
            raise AnnotationError(f"width and height must be numbers, got {fields[roles['width']]!r} and "
                                  f"{fields[roles['height']]!r}", path, line) from None
        if not (0 < w < _MAX_SIDE and 0 < h < _MAX_SIDE and w == int(w) and h == int(h)):
            raise AnnotationError(f"width and height must be positive integers below 2**31, got {w:g} and {h:g}",
                                  path, line)
        size = (int(h), int(w))
    extra = [fields[c].strip() for c in extra_cols]
    if all(not c for c in cells):
        return _Row(line, None, None, size, extra)
    try:
        box = tuple(float(c) for c in cells)
    except ValueError:
        raise AnnotationError(f"box cells must be 4 numbers (or all empty for an image without objects), "
                              f"got {cells}", path, line) from None
    if not (np.abs(box) <= _FLOAT32_MAX).all():  # NaN fails too
        raise AnnotationError(f"box cells must be finite numbers of float32 range, got {cells}", path, line)
    if label is not None and not label:
        raise AnnotationError("empty class label for a box", path, line)
    return _Row(line, box, label, size, extra)


def _is_int(text: str) -> bool:
    """An integer that fits int64."""
    try:
        value = int(text)
    except ValueError:
        return False
    return -_INT64 <= value < _INT64


def _typed_attributes(samples: list[Sample], extras: list[dict[str, list[str]]], names: list[str]) -> list[Sample]:
    """Give each attribute column one dtype over the whole file: int64, float32, else str."""
    dtypes = {}
    for name in names:
        values = [v for e in extras for v in e[name]]
        if all(_is_int(v) for v in values):
            dtypes[name] = np.int64
        elif all(_is_float(v) for v in values):
            dtypes[name] = np.float32
        else:
            dtypes[name] = str
    out = []
    for s, e in zip(samples, extras):
        attrs = {n: np.array([dtypes[n](v) if dtypes[n] is not str else v for v in e[n]],
                             dtype=dtypes[n]).reshape(s.num_boxes) for n in names}
        out.append(s.replace(attributes=attrs))
    return out


def _is_float(text: str) -> bool:
    """A number that float32 holds (NaN and infinities included, finite values beyond its range not)."""
    try:
        value = float(text)
    except ValueError:
        return False
    return not (math.isfinite(value) and abs(value) > _FLOAT32_MAX)


@register_format("csv")
def read_csv(
    path: str | os.PathLike,
    columns: Mapping[str, Any],
    *,
    box_format: BoxFormat | str = "xyxy",
    images_dir: str | os.PathLike | None = None,
    class_names: Sequence[str] | None = None,
    attributes: Sequence[str | int] = (),
    delimiter: str = ",",
    header: bool | None = None,
    on_error: str = "raise",
    allow_outside_root: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> SampleList:
    """Read a CSV file with one row per box.

    Source box format: ``box_format`` (default XYXY pixels), converted to XYXY pixels.

    Args:
        path: the ``.csv`` file.
        columns: role → column name or index; see :func:`parse_csv`.
        box_format: the source box format (``"xyxy"``, ``"xywh"``, ``"rel_cxcywh"``, ``"coco"``,
            ``"yolo"`` ...). For relative formats without ``width``/``height`` columns, image
            sizes are read from the image headers.
        images_dir: root that image paths are relative to; default: the CSV file's folder.
        class_names, attributes, delimiter, header, on_error, allow_outside_root: see
            :func:`parse_csv`.
        storage_options: options of the fsspec file system when paths are URLs (``s3://...``);
            default: the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...).

    Returns:
        A :class:`SampleList`, one sample per image, with ``class_names`` and ``report``.

    Raises:
        FileNotFoundError: the CSV file (or, for relative boxes, an image) is missing.
        AnnotationError: a malformed row, naming file and line.

    Example:
        >>> samples = sl.read_csv("boxes.csv", columns={"image": "filename",       # doctest: +SKIP
        ...     "boxes": ["xmin", "ymin", "xmax", "ymax"], "label": "class"})
    """
    path = os.fspath(path)
    text = read_text(path, storage_options)
    root = files.dirname(path) if images_dir is None else os.fspath(images_dir)
    fmt = BoxFormat.parse(box_format)
    image_sizes = None
    if fmt.is_relative and not ("width" in columns and "height" in columns):
        image_sizes = _sizes_from_headers(text, columns, delimiter, header, root, path, allow_outside_root,
                                          storage_options)
    samples = parse_csv(text, columns, box_format=fmt, images_dir=root, class_names=class_names,
                        attributes=attributes, delimiter=delimiter, header=header, path=path, on_error=on_error,
                        allow_outside_root=allow_outside_root, image_sizes=image_sizes)
    return attach_storage(samples, storage_options)


def _sizes_from_headers(text: str, columns: Mapping[str, Any], delimiter: str, header: bool | None, root: str,
                        path: str, allow_outside_root: bool = False,
                        storage_options: Mapping[str, Any] | None = None) -> dict[str, tuple[int, int]]:
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    ref = columns["image"]
    if header is None:
        header = isinstance(ref, str)
    col = rows[0].index(ref) if header and isinstance(ref, str) and ref in rows[0] else ref
    if not isinstance(col, int):
        return {}
    sizes = {}
    for fields in rows[1 if header else 0:]:
        if len(fields) > col and fields[col].strip() and fields[col].strip() not in sizes:
            name = fields[col].strip()
            try:
                sizes[name] = image_size_of(join_image_path(root, name, allow_outside_root), storage_options)
            except (ValueError, ImageError, FileNotFoundError):
                continue  # reported by the parser as "no image size"
    return sizes

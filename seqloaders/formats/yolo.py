"""YOLO (Ultralytics / Darknet) ``labels/*.txt`` annotations: boxes, segments and poses.

Source box format: REL_CXCYWH (``class cx cy w h``, normalised by the image width and height),
converted to XYXY pixels with each image's size, read from the image header (JPEG and PNG are
not decoded).

Layout: every image ``.../images/<split>/<name>.jpg`` has its labels in
``.../labels/<split>/<name>.txt`` (the last ``images`` folder of the path becomes ``labels``;
an image path without an ``images`` folder has its ``.txt`` next to it). An image without a
label file, or with an empty one, has no objects (N = 0). One line per object:

- detection: ``class cx cy w h``;
- segment: ``class x1 y1 x2 y2 ... xn yn`` (n >= 3, normalised): the box is the polygon's
  extent and the polygon is kept as a lazy mask (:class:`~seqloaders.masks.SegmentationMasks`);
  lines with boxes in a segment dataset get their box as mask;
- pose (the dataset YAML has ``kpt_shape: [K, D]``): ``class cx cy w h`` followed by K keypoints
  of D values ``x y [v]``; with D = 2, a keypoint at (0, 0) is "not labelled" (v = 0) and every
  other one visible (v = 2).

Class names come from the dataset YAML (``names``: a list or ``{id: name}``), read with
``yaml.safe_load``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AnnotationError, ImageError
from ..masks import SegmentationMasks, box_polygon
from ..records import ReadReport, Sample, SampleList
from ..storage import files
from ..storage.remote import attach_storage
from ..table import SampleTable
from .common import finish, image_size_of, is_number
from .errorpolicy import check_on_error, handle_error
from .foldercache import cached_listing
from .paths import read_text
from .readahead import default_threads, read_ahead
from .registry import register_format
from .yolo_config import images_of, load_yolo_config, split_images, split_locations

__all__ = ["YoloLabels", "detection_labels", "load_yolo_config", "parse_yolo_labels", "read_yolo", "yolo_label_path"]

_TOLERANCE = 1e-6


class YoloLabels:
    """The objects of one YOLO label file, in pixels.

    Attributes:
        boxes: (N, 4) float32 XYXY pixels.
        labels: (N,) int64 class ids.
        polygons: N entries, a (2P,) float64 pixel polygon or None (box lines), or None when the
            file has no segment line.
        keypoints: (N, K, 3) float32 pixels and visibility, or None (not a pose dataset).
    """

    __slots__ = ("boxes", "keypoints", "labels", "polygons")

    def __init__(self, boxes: np.ndarray, labels: np.ndarray, polygons: list | None, keypoints: np.ndarray | None):
        self.boxes, self.labels, self.polygons, self.keypoints = boxes, labels, polygons, keypoints


def parse_yolo_labels(
    text: str,
    image_size: tuple[int, int],
    *,
    path: str = "<string>",
    keypoint_shape: tuple[int, int] | None = None,
    num_classes: int | None = None,
) -> YoloLabels:
    """Parse the text of one YOLO label file (no file I/O).

    Source box format: REL_CXCYWH, converted to XYXY pixels of an image of ``image_size``.

    Args:
        text: the file's content.
        image_size: (H, W) of the image the labels belong to.
        path: the file name used in error messages.
        keypoint_shape: (K, D) for pose labels (D = 2 or 3), None otherwise.
        num_classes: refuse class ids >= this, if given.

    Returns:
        A :class:`YoloLabels`.

    Raises:
        AnnotationError: a malformed line (wrong field count, not a number, a class id that is
            not a non-negative integer, a coordinate outside [0, 1]), naming file and line.

    Example:
        >>> parse_yolo_labels("0 0.5 0.5 0.5 1.0", (100, 200)).boxes.tolist()
        [[50.0, 0.0, 150.0, 100.0]]
    """
    if keypoint_shape is None:
        fast = detection_labels([text], [image_size], num_classes)[0]
        if fast is not None:
            return fast
    return _parse_lines(text, image_size, path, keypoint_shape, num_classes)


def _parse_lines(text: str, image_size: tuple[int, int], path: str, keypoint_shape: tuple[int, int] | None,
                 num_classes: int | None) -> YoloLabels:
    """:func:`parse_yolo_labels` line by line: every kind of line, and the error of the first bad one."""
    h, w = image_size
    scale = np.array([w, h], np.float64)
    boxes, labels, polygons, keypoints = [], [], [], []
    any_polygon = False
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = np.array([float(f) for f in fields], np.float64)
        except ValueError:
            bad = next(f for f in fields if not is_number(f))
            raise AnnotationError(f"expected numbers, got {bad[:40]!r}", path, lineno) from None
        cls = values[0]
        if not np.isfinite(values).all():
            raise AnnotationError("every value must be finite", path, lineno)
        if cls < 0 or cls != int(cls) or cls >= 1 << 31:
            raise AnnotationError(f"class id must be a non-negative integer (below 2**31), got {fields[0]!r}", path,
                                  lineno)
        if num_classes is not None and cls >= num_classes:
            raise AnnotationError(f"class id {int(cls)} is out of range: the dataset has {num_classes} classes "
                                  f"(ids 0..{num_classes - 1})", path, lineno)
        coords = values[1:]
        n = len(fields)
        if keypoint_shape is not None:
            k, d = keypoint_shape
            if n != 5 + k * d:
                raise AnnotationError(f"a pose line has 5 + {k} keypoints x {d} values = {5 + k * d} fields, "
                                      f"got {n}", path, lineno)
            kp = coords[4:].reshape(k, d)
            _check_normalised(np.concatenate([coords[:4], kp[:, :2].reshape(-1)]), fields, path, lineno)
            points = np.zeros((k, 3), np.float32)
            points[:, :2] = kp[:, :2] * scale
            if d == 3:
                if not np.isin(kp[:, 2], (0, 1, 2)).all():
                    raise AnnotationError("keypoint visibility must be 0, 1 or 2", path, lineno)
                points[:, 2] = kp[:, 2]
            else:
                points[:, 2] = np.where((kp[:, :2] != 0).any(axis=1), 2, 0)
            keypoints.append(points)
            box = _centre_box(coords[:4], scale)
            polygon = None
        elif n == 5:
            _check_normalised(coords, fields, path, lineno)
            box, polygon = _centre_box(coords, scale), None
        elif n >= 7 and n % 2 == 1:
            _check_normalised(coords, fields, path, lineno)
            polygon = coords.reshape(-1, 2) * scale
            box = (*polygon.min(axis=0), *polygon.max(axis=0))
            polygon = polygon.reshape(-1)
            any_polygon = True
        else:
            raise AnnotationError(
                f"expected 5 fields (class cx cy w h) or an odd count of at least 7 (class and x y pairs of a "
                f"polygon), got {n}" + (" (a pose line? give the dataset YAML with kpt_shape)" if n > 7 else ""),
                path, lineno)
        boxes.append(box)
        labels.append(int(cls))
        polygons.append(polygon)
    count = len(boxes)
    return YoloLabels(
        boxes=np.array(boxes, np.float32).reshape(count, 4),
        labels=np.array(labels, np.int64),
        polygons=polygons if any_polygon else None,
        keypoints=np.array(keypoints, np.float32).reshape(count, *keypoint_shape[:1], 3)
        if keypoint_shape is not None else None,
    )


def detection_labels(texts: Sequence[str], sizes: Sequence[tuple[int, int]],
                     num_classes: int | None = None) -> list[YoloLabels | None]:
    """Many label files of ``class cx cy w h`` lines parsed at once, with one array per column.

    The fast path of :func:`parse_yolo_labels` and :func:`read_yolo`: the fields of all the files
    are converted with ``float`` (as the line parser does) into one array, checked and converted
    to pixels there, and each file's boxes are a slice of it. A file it cannot vouch for (a line
    that is not 5 fields, a value the line parser would refuse) gives None: the line parser then
    parses it and words the error. The boxes are computed with the same float64 operations, so a
    file gives the same float32 boxes either way.

    Args:
        texts: the files' contents.
        sizes: (H, W) of each file's image.
        num_classes: refuse class ids >= this, if given.

    Returns:
        One :class:`YoloLabels` (or None) per text, in order.
    """
    rows = np.zeros(len(texts), np.int64)
    fast = np.ones(len(texts), bool)
    tokens: list[str] = []
    for k, text in enumerate(texts):
        fields = text.split()
        if not fields:
            continue
        if len(fields) % 5 or not all(len(line.split()) in (0, 5) for line in text.splitlines()):
            fast[k] = False
            continue
        rows[k] = len(fields) // 5
        tokens += fields
    try:
        values = np.fromiter(map(float, tokens), np.float64, len(tokens))
    except ValueError:  # a field that is not a number: find the files, convert the others
        values = _floats_per_file(texts, rows, fast)
    values = values.reshape(-1, 5)
    cls, coords = values[:, 0], values[:, 1:]
    frame = np.array(sizes, np.float64).reshape(-1, 2)  # (H, W) per file
    heights, widths = np.repeat(frame[:, 0], rows), np.repeat(frame[:, 1], rows)
    with np.errstate(invalid="ignore", over="ignore"):  # rows with NaN or huge values are refused below
        ok = np.isfinite(values).all(axis=1) & (cls >= 0) & (cls == np.floor(cls)) & (cls < 1 << 31)
        if num_classes is not None:
            ok &= cls < num_classes
        ok &= ((coords >= -_TOLERANCE) & (coords <= 1 + _TOLERANCE)).all(axis=1)
        cx, cy = coords[:, 0] * widths, coords[:, 1] * heights  # the line parser's operations, in its order
        hw, hh = coords[:, 2] * widths / 2, coords[:, 3] * heights / 2
        boxes = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1).astype(np.float32)
        labels = cls.astype(np.int64)
    fast[np.repeat(np.arange(len(texts)), rows)[~ok]] = False
    ends = np.cumsum(rows).tolist()
    out: list[YoloLabels | None] = []
    for k, end in enumerate(ends):
        start = end - int(rows[k])
        out.append(YoloLabels(boxes[start:end], labels[start:end], None, None) if fast[k] else None)
    return out


def _floats_per_file(texts: Sequence[str], rows: np.ndarray, fast: np.ndarray) -> np.ndarray:
    """The fields of each fast file as floats; a file with a field ``float`` refuses leaves the fast path."""
    values = []
    for k, text in enumerate(texts):
        if not rows[k] or not fast[k]:
            continue
        try:
            values.append(np.array([float(f) for f in text.split()], np.float64))
        except ValueError:
            fast[k] = False
            values.append(np.zeros(rows[k] * 5, np.float64))  # a placeholder: the file leaves the fast path
    return np.concatenate(values) if values else np.zeros(0, np.float64)


def _check_normalised(positions: np.ndarray, fields: list[str], path: str, lineno: int) -> None:
    if (positions < -_TOLERANCE).any() or (positions > 1 + _TOLERANCE).any():
        raise AnnotationError("coordinates must be normalised to [0, 1] by the image width and height, got "
                              f"{' '.join(fields[1:])[:80]!r}", path, lineno)


def _centre_box(c: np.ndarray, scale: np.ndarray) -> tuple[float, float, float, float]:
    cx, cy = c[0] * scale[0], c[1] * scale[1]
    hw, hh = c[2] * scale[0] / 2, c[3] * scale[1] / 2
    return cx - hw, cy - hh, cx + hw, cy + hh


def yolo_label_path(image_path: str) -> str:
    """The label file of an image: the last ``images`` folder becomes ``labels``, the suffix ``.txt``.

    Example:
        >>> yolo_label_path("data/images/train/a.jpg").replace(os.sep, "/")
        'data/labels/train/a.txt'
    """
    url = files.is_url(image_path)
    sep = "/" if url else os.sep
    path = files.normpath(image_path) if url else os.path.normpath(image_path)
    last = path.rfind(f"{sep}images{sep}")  # the last "images" folder that is not the file's name
    if last >= 0:
        path = f"{path[:last + 1]}labels{path[last + 7:]}"
    elif path.startswith(f"images{sep}"):
        path = f"labels{path[6:]}"
    return os.path.splitext(path)[0] + ".txt"


@register_format("yolo")
def read_yolo(
    path: str | os.PathLike,
    *,
    split: str = "train",
    class_names: Sequence[str] | None = None,
    keypoint_shape: tuple[int, int] | None = None,
    on_error: str = "raise",
    allow_outside_root: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    threads: int | None = None,
    cache: bool = True,
) -> SampleList:
    """Read a YOLO dataset: boxes, segment polygons or pose keypoints.

    Source box format: REL_CXCYWH (normalised centre boxes), converted to XYXY pixels with the
    size read from each image's header.

    Args:
        path: the dataset YAML (``data.yaml``, then ``split`` picks ``train``/``val``/``test``),
            an images folder (``.../images/train``), or a ``.txt`` list of image paths.
        split: the YAML entry to read.
        class_names: the class names; default: ``names`` from the YAML, else ``"0".."C-1"``.
        keypoint_shape: (K, D) of pose labels; default: ``kpt_shape`` from the YAML.
        on_error: "raise" (default), "warn" or "skip" an image with a malformed label file
            (or an unreadable image).
        allow_outside_root: accept entries of a ``.txt`` image list that leave the list's
            folder (``../``, absolute paths, symbolic links leading outside).
        storage_options: options of the fsspec file system when paths are URLs (``s3://...``);
            default: the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...).
        threads: threads reading image headers and label files ahead of the parser (which runs
            in the calling thread); default ``min(8, os.cpu_count())``; 0 or 1 reads in the
            calling thread. The result is the same whatever the count.
        cache: keep the samples in the parse cache (:mod:`seqloaders.formats.foldercache`: in
            ``$SEQLOADERS_CACHE`` or ``~/.cache/seqloaders``, never beside the dataset) and read
            them from it while the YAML, the image lists, every image and every label file keep
            their size and mtime and the options are unchanged; local datasets only. False
            parses every time.

    Returns:
        A :class:`SampleList`, one sample per image (``image_size`` set), with
        ``class_names`` and ``report`` (with ``cache``, a :class:`~seqloaders.table.SampleTable`
        holding the same samples). Pose datasets also carry ``meta["flip_idx"]`` when the
        YAML has it.

    Raises:
        FileNotFoundError: the YAML, folder, list or an image is missing.
        AnnotationError: malformed YAML or label line, or an image list entry that leaves the
            list's folder, naming file and line.

    Example:
        >>> samples = sl.read_yolo("coco8/data.yaml", split="val")          # doctest: +SKIP
        >>> samples.class_names[:2]                                         # doctest: +SKIP
        ('person', 'bicycle')
    """
    check_on_error(on_error)
    threads = default_threads() if threads is None else threads
    path = os.fspath(path)
    given_names, given_shape = class_names, keypoint_shape
    meta: dict[str, Any] = {}
    if path.lower().endswith((".yaml", ".yml")) and files.is_file(path, storage_options):
        config = load_yolo_config(path, storage_options)
        images = split_images(config, split, path, allow_outside_root, storage_options)
        if class_names is None and config.get("names") is not None:
            class_names = config["names"]
        if keypoint_shape is None and config.get("kpt_shape") is not None:
            keypoint_shape = config["kpt_shape"]
        if config.get("flip_idx") is not None:
            meta["flip_idx"] = tuple(config["flip_idx"])
        locations = [path, *split_locations(config, split)]
    else:
        images = images_of(path, allow_outside_root, storage_options)
        locations = [path]
    candidates = images  # images_of lists image files only
    label_files = [yolo_label_path(image) for image in candidates]

    def build() -> SampleList:
        return _read_images(path, candidates, label_files, class_names, keypoint_shape, on_error, meta,
                            storage_options, threads)

    if not cache or any(map(files.is_url, locations)) or any(map(files.is_url, candidates)):
        return attach_storage(build(), storage_options)
    options = {"path": path, "root": os.path.abspath(path), "split": split, "keypoint_shape": given_shape,
               "class_names": None if given_names is None else list(given_names),
               "allow_outside_root": allow_outside_root}
    table = cached_listing("yolo", [*locations, *candidates, *label_files], options,
                           lambda: SampleTable.from_samples(build()), on_error=on_error)
    return attach_storage(table, storage_options)


def _read_images(path: str, candidates: list[str], label_files: list[str], class_names: Sequence[str] | None,
                 keypoint_shape: tuple[int, int] | None, on_error: str, meta: dict[str, Any],
                 storage_options: Mapping[str, Any] | None, threads: int) -> SampleList:
    """:func:`read_yolo` on the listed images, without the cache."""
    report = ReadReport(path=path)
    num_classes = len(class_names) if class_names is not None else None
    parsed: list[tuple[str, str, tuple[int, int], YoloLabels]] = []
    with contextlib.closing(read_ahead(lambda k: _fetch(candidates[k], label_files[k], storage_options),
                                       range(len(candidates)), threads)) as fetched:
        for first in range(0, len(candidates), _BLOCK):
            block = [next(fetched) for _ in range(min(_BLOCK, len(candidates) - first))]
            # the detection files of the block parsed at once (nothing raised here); then, in order, what a
            # loop over the images does: the image's error, else its labels (the line parser where needed)
            fast = _fast_labels(block, num_classes) if keypoint_shape is None else [None] * len(block)
            for k, got in enumerate(block):
                image, label_file = candidates[first + k], label_files[first + k]
                if isinstance(got, BaseException):  # the read itself failed (not an image error)
                    raise got
                size, text = got
                if isinstance(size, ImageError):
                    if on_error == "raise":
                        raise size
                    handle_error(AnnotationError(f"cannot read the image size: {size.reason}", image), on_error, report)
                    continue
                try:
                    if isinstance(text, BaseException):
                        raise text
                    labels = fast[k] if fast[k] is not None else \
                        _parse_lines(text, size, label_file, keypoint_shape, num_classes)
                except AnnotationError as exc:
                    handle_error(exc, on_error, report)
                    continue
                parsed.append((image, label_file, size, labels))

    has_masks = any(lab.polygons is not None for _, _, _, lab in parsed)
    samples = []
    for image, label_file, size, lab in parsed:
        masks = None
        if has_masks:
            polygons = lab.polygons or [None] * len(lab.boxes)
            masks = SegmentationMasks(
                [("polygon", [p if p is not None else box_polygon(b)]) for p, b in zip(polygons, lab.boxes)], size)
        samples.append(Sample.unchecked(image=image, boxes=lab.boxes, labels=lab.labels, image_size=size,
                                       attributes={}, keypoints=lab.keypoints, masks=masks,
                                       meta={"label_file": label_file}))
    if class_names is None:
        every = np.concatenate([s.labels for s in samples]) if samples else np.zeros(0, np.int64)
        top = int(every.max()) if len(every) else -1
        if top >= 1 << 16:  # the class list would be larger than any label file could justify
            where = next(s.meta["label_file"] for s in samples if s.num_boxes and int(s.labels.max()) == top)
            raise AnnotationError(f"class id {top} would make {top + 1} classes; without names (a dataset YAML or "
                                  "class_names=[...]) class ids must be below 65536", where)
        class_names = tuple(str(k) for k in range(top + 1))
    return finish(samples, report, class_names, on_error, meta)


#: images whose label files are parsed together by detection_labels (bounds what is held at once)
_BLOCK = 4096


def _fetch(image: str, label_file: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """(image size or its ImageError, label text or its error): the I/O of one image, for a thread.

    Any other error of the image size is raised (and yielded by ``read_ahead`` in its place).
    """
    try:
        size = image_size_of(image, storage_options)
    except ImageError as exc:
        return exc, None
    try:
        return size, _label_text(label_file, storage_options)
    except Exception as exc:
        return size, exc


def _fast_labels(block: list, num_classes: int | None) -> list[YoloLabels | None]:
    """:func:`detection_labels` of the block's readable files; None for the others (and where it says None)."""
    readable = [k for k, got in enumerate(block) if not isinstance(got, BaseException)
                and not isinstance(got[0], BaseException) and not isinstance(got[1], BaseException)]
    out: list[YoloLabels | None] = [None] * len(block)
    parsed = detection_labels([block[k][1] for k in readable], [block[k][0] for k in readable], num_classes)
    for k, labels in zip(readable, parsed):
        out[k] = labels
    return out


def _label_text(label_file: str, storage_options: Mapping[str, Any] | None) -> str:
    """The label file's text; "" when there is none (an image without objects)."""
    if not files.is_url(label_file):
        try:  # one open, not an existence check and an open
            return read_text(label_file)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return ""
        except PermissionError:  # a folder on Windows
            if os.path.isdir(label_file):
                return ""
            raise
    try:  # one request, not an existence check and a read
        return read_text(label_file, storage_options)
    except (FileNotFoundError, IsADirectoryError):
        return ""


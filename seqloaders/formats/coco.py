"""COCO JSON annotations (``instances_*.json``, ``person_keypoints_*.json``).

Source box format: XYWH pixels (``bbox = [x, y, width, height]``), converted to XYXY pixels.

What is kept, per image (one :class:`Sample` each, in the order of ``images``):

- ``labels``: contiguous training ids ``0..C-1``, given to the categories in increasing order of
  their COCO ``id``. COCO ids have gaps (1..90 for 80 classes), so the mapping is kept:
  ``samples.class_names[label]`` is the name and ``samples.category_ids[label]`` the COCO id;
  every box also carries its COCO id in ``attributes["category_id"]``.
- ``attributes``: ``iscrowd`` (int32), ``area`` (float32, from the file; the box area when
  absent), ``category_id`` and ``annotation_id`` (int64).
- ``masks``: when the file has segmentations, a lazy :class:`~seqloaders.masks.SegmentationMasks`
  (polygons with several parts, compressed RLE, uncompressed RLE) rendered by
  :func:`~seqloaders.decode_masks` with pycocotools, exactly as ``COCO.annToMask`` renders them.
- ``keypoints``: (N, K, 3) float32 ``x, y, v`` when the file has keypoints (``v``: 0 not
  labelled, 1 labelled but hidden, 2 visible); objects without keypoints get zeros.
- ``image_size``: ``(height, width)`` from the image record; images without annotations
  give N = 0.

Errors name the file, the line where the record starts and the record (``annotations[17]
(id 42)``). A malformed image record or annotation skips its whole image under
``on_error="skip"``/``"warn"`` (never a partly labelled image); errors in ``categories`` always
raise, because the class list cannot be read in part.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import AnnotationError
from ..masks import SegmentationMasks, box_polygon, rle_counts_from_string
from ..records import ReadReport, Sample, SampleList
from ..storage import files
from ..storage.remote import attach_storage
from .common import JsonLocator, finish
from .errorpolicy import check_on_error, handle_error
from .paths import join_image_path, read_text
from .registry import register_format

__all__ = ["parse_coco", "read_coco"]

class _Where:
    """Builds errors that name the file, the line and the record."""

    def __init__(self, path: str, locator: JsonLocator):
        self.path, self.locator = path, locator

    def error(self, section: str, index: int, record: Any, message: str) -> AnnotationError:
        ident = ""
        if isinstance(record, Mapping) and "id" in record:
            ident = f" (id {record['id']!r})"
        line = self.locator.line(section, index)
        return AnnotationError(f"{section}[{index}]{ident}: {message}", self.path, line)


_INT64 = 1 << 63
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Keypoint arrays are dense (objects, K, 3): their size is bounded by this or 16x the file's size.
_DENSE_KEYPOINT_BYTES = 64 << 20


def _is_int(value: Any) -> bool:
    """An integer that fits the int64 arrays ids are stored in."""
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def _is_number(value: Any) -> bool:
    """A finite number that fits the float32 arrays boxes, areas and keypoints are stored in."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= _FLOAT32_MAX


def _json_limit_error(text: str, exc: Exception, path: str) -> AnnotationError:
    """Word a JSON error that ``json`` reports without a position, finding the line ourselves."""
    if isinstance(exc, RecursionError):
        depth, pos = 0, 0
        for pos, char in enumerate(text):  # noqa: B007 (pos is used after the loop)  the first place nested deeper than 1,000 (strings not skipped)
            depth += (char in "[{") - (char in "]}")
            if depth > 1000:
                break
        reason = "nested too deeply (more than 1,000 levels of lists or objects)"
    else:
        match = re.search(r"\d{4300,}", text)
        pos = match.start() if match else 0
        reason = f"a number with more than 4,300 digits ({str(exc).split(':')[0]})"
    return AnnotationError(f"not valid JSON for a COCO file: {reason}", path, text.count("\n", 0, pos) + 1)


def _parse_categories(categories: Any, where: _Where) -> tuple[list[int], list[str], list[list[str]], list]:
    if not isinstance(categories, list):
        raise AnnotationError(f"'categories' must be a list, got {type(categories).__name__}", where.path)
    seen: dict[int, int] = {}
    parsed = []
    for i, cat in enumerate(categories):
        if not isinstance(cat, Mapping):
            raise where.error("categories", i, cat, f"expected an object, got {type(cat).__name__}")
        cid, name = cat.get("id"), cat.get("name")
        if not _is_int(cid):
            raise where.error("categories", i, cat, f"'id' must be an integer (int64), got {cid!r}")
        if not isinstance(name, str) or not name:
            raise where.error("categories", i, cat, f"'name' must be a non-empty string, got {name!r}")
        if cid in seen:
            raise where.error("categories", i, cat, f"duplicate category id {cid} (also categories[{seen[cid]}])")
        seen[cid] = i
        names = cat.get("keypoints") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise where.error("categories", i, cat, "'keypoints' must be a list of keypoint names")
        parsed.append((cid, name, list(names), cat.get("skeleton") or []))
    parsed.sort(key=lambda c: c[0])
    return [c[0] for c in parsed], [c[1] for c in parsed], [c[2] for c in parsed], [c[3] for c in parsed]


def _check_polygons(segm: list, image_size: tuple[int, int] | None) -> list[np.ndarray]:
    if image_size is None:
        raise ValueError("the image record has no 'height'/'width', which masks need")
    parts = []
    for k, part in enumerate(segm):
        arr = np.array(part) if isinstance(part, list) else None
        if arr is None or arr.ndim != 1 or arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
            raise ValueError(f"segmentation polygon {k} must be a list of finite numbers")
        if len(arr) % 2 or len(arr) < 6:
            raise ValueError(f"segmentation polygon {k} must hold x, y pairs of at least 3 points, "
                             f"got {len(arr)} numbers")
        parts.append(arr.astype(np.float64, copy=False))
    return parts


def _check_rle(segm: Mapping, image_size: tuple[int, int] | None) -> tuple[str, dict]:
    size, counts = segm.get("size"), segm.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v >= 0 for v in size)):
        raise ValueError(f"RLE 'size' must be [height, width], got {size!r}")
    h, w = size
    if image_size is not None and (h, w) != tuple(image_size):
        raise ValueError(f"RLE size {h}x{w} (HxW) differs from the image's {image_size[0]}x{image_size[1]}")
    if isinstance(counts, str):
        try:
            total = sum(rle_counts_from_string(counts))
        except ValueError as exc:
            raise ValueError(f"compressed RLE 'counts' is invalid: {exc}") from None
        kind, data = "rle", {"size": [h, w], "counts": counts.encode("ascii")}
    elif isinstance(counts, list) and all(_is_int(c) and 0 <= c < 1 << 32 for c in counts):
        total = sum(counts)
        kind, data = "urle", {"size": [h, w], "counts": np.asarray(counts, np.uint32)}
    else:
        raise ValueError("RLE 'counts' must be a string (compressed) or a list of non-negative integers "
                         "below 2**32")
    if total != h * w:
        raise ValueError(f"RLE runs cover {total} pixels but the mask has {h}x{w} = {h * w}")
    return kind, data


class _Annotation:
    __slots__ = ("ann_id", "area", "box", "category_id", "iscrowd", "keypoints", "label", "segmentation")

    def __init__(self, box, label, category_id, ann_id, iscrowd, area, segmentation, keypoints):
        self.box, self.label, self.category_id, self.ann_id = box, label, category_id, ann_id
        self.iscrowd, self.area, self.segmentation, self.keypoints = iscrowd, area, segmentation, keypoints


def _parse_annotation(ann: Any, images: dict, label_of: dict[int, int]) -> tuple[Any, _Annotation]:
    """Validate one annotation record; raises ValueError with a message (the caller adds where)."""
    if not isinstance(ann, Mapping):
        raise ValueError(f"expected an object, got {type(ann).__name__}")
    image_id = ann.get("image_id")
    if image_id not in images:
        raise KeyError(f"'image_id' {image_id!r} is not the id of any record in 'images'")
    image_size = images[image_id]
    cid = ann.get("category_id")
    if not _is_int(cid) or cid not in label_of:
        known = ", ".join(map(str, sorted(label_of)[:20]))
        raise ValueError(f"'category_id' {cid!r} is not in 'categories' (ids: {known})")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        raise ValueError(f"'bbox' must be [x, y, width, height] (4 finite numbers of float32 range), got {bbox!r}")
    x, y, bw, bh = bbox
    if bw < 0 or bh < 0:
        raise ValueError(f"'bbox' width and height must be >= 0, got {bbox!r}")
    if abs(x + bw) > _FLOAT32_MAX or abs(y + bh) > _FLOAT32_MAX:
        raise ValueError(f"'bbox' corner x + width, y + height is out of float32 range, got {bbox!r}")
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1) or isinstance(iscrowd, float):
        raise ValueError(f"'iscrowd' must be 0 or 1, got {iscrowd!r}")
    area = ann.get("area", bw * bh)
    if not _is_number(area) or area < 0:
        raise ValueError(f"'area' must be a non-negative number, got {area!r}")
    segm = ann.get("segmentation")
    segmentation = None
    if isinstance(segm, list) and segm:
        segmentation = ("polygon", _check_polygons(segm, image_size))
    elif isinstance(segm, Mapping):
        segmentation = _check_rle(segm, image_size)
    elif segm not in (None, []):
        raise ValueError(f"'segmentation' must be a list of polygons or an RLE object, got {type(segm).__name__}")
    kps = ann.get("keypoints")
    keypoints = None
    if kps is not None:
        if not (isinstance(kps, list) and len(kps) % 3 == 0 and all(_is_number(v) for v in kps)):
            raise ValueError("'keypoints' must be a flat list of x, y, v triplets (finite numbers)")
        keypoints = np.asarray(kps, np.float32).reshape(-1, 3)
        if not np.isin(keypoints[:, 2], (0, 1, 2)).all():
            raise ValueError("keypoint visibility must be 0 (not labelled), 1 (hidden) or 2 (visible)")
    ann_id = ann.get("id", -1)
    box = (float(x), float(y), float(x) + float(bw), float(y) + float(bh))
    return image_id, _Annotation(box, label_of[cid], cid, ann_id if _is_int(ann_id) else -1, int(iscrowd),
                                 float(area), segmentation, keypoints)


def parse_coco(
    data: str | bytes | Mapping[str, Any],
    images_dir: str | os.PathLike = "",
    *,
    path: str = "<string>",
    on_error: str = "raise",
    drop_crowd: bool = False,
    allow_outside_root: bool = False,
) -> SampleList:
    """Parse COCO JSON (text, bytes or an already loaded dict) into samples (no file I/O).

    Source box format: XYWH pixels, converted to XYXY pixels.

    Args:
        data: the JSON text, or the dict ``json.load`` returned.
        images_dir: root that ``file_name`` is relative to.
        path: the file name used in error messages.
        on_error: "raise" (default), "warn" or "skip" an image with a malformed record.
        drop_crowd: drop ``iscrowd=1`` boxes (counted in ``report.dropped_boxes["crowd"]``);
            by default they are kept with ``attributes["iscrowd"] == 1``.
        allow_outside_root: accept ``file_name`` values that leave ``images_dir``.

    Returns:
        A :class:`SampleList` with ``class_names`` (ordered by COCO id), ``category_ids``
        (``category_ids[label]`` is the COCO id), ``meta`` (``category_ids``,
        ``keypoint_names``, ``skeleton``) and ``report``.

    Raises:
        AnnotationError: invalid JSON or a malformed record (naming file, line and record).

    Example:
        >>> text = ('{"images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 6}],'
        ...         ' "annotations": [{"id": 9, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2]}],'
        ...         ' "categories": [{"id": 3, "name": "car"}]}')
        >>> s = parse_coco(text)[0]
        >>> s.boxes.tolist(), s.labels.tolist(), s.attributes["category_id"].tolist()
        ([[1.0, 1.0, 3.0, 3.0]], [0], [3])
    """
    check_on_error(on_error)
    report = ReadReport(path=path)
    text: str | None = None
    if isinstance(data, (str, bytes)):
        text = data if isinstance(data, str) else data.decode("utf-8-sig")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
        except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits, or nesting too deep
            raise _json_limit_error(text, exc, path) from None
    where = _Where(path, JsonLocator(text))
    if not isinstance(data, Mapping) or not isinstance(data.get("images"), list):
        raise AnnotationError("expected a JSON object with an 'images' list (COCO format)", path,
                              1 if text is not None else None)
    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        raise AnnotationError(f"'annotations' must be a list, got {type(annotations).__name__}", path)

    category_ids, class_names, keypoint_names, skeletons = _parse_categories(data.get("categories", []), where)
    label_of = {cid: k for k, cid in enumerate(category_ids)}

    # images: id -> (H, W) or None, in file order
    root = os.fspath(images_dir)
    sizes: dict[Any, tuple[int, int] | None] = {}
    records: list[tuple[Any, str, tuple[int, int] | None, str]] = []
    bad_images: set = set()
    for i, img in enumerate(data["images"]):
        try:
            if not isinstance(img, Mapping):
                raise ValueError(f"expected an object, got {type(img).__name__}")
            image_id, file_name = img.get("id"), img.get("file_name")
            if not (_is_int(image_id) or isinstance(image_id, str)):
                raise ValueError(f"'id' must be an integer (int64) or a string, got {image_id!r}")
            if image_id in sizes or image_id in bad_images:
                raise ValueError(f"duplicate image id {image_id!r}")
            if not isinstance(file_name, str) or not file_name:
                raise ValueError(f"'file_name' must be a non-empty string, got {file_name!r}")
            h, w = img.get("height"), img.get("width")
            size = None
            if h is not None or w is not None:
                if not (_is_int(h) and _is_int(w) and h > 0 and w > 0):
                    raise ValueError(f"'height' and 'width' must be positive integers, got {h!r} and {w!r}")
                size = (h, w)
            image = join_image_path(root, file_name, allow_outside_root)
        except ValueError as exc:
            if isinstance(img, Mapping) and (_is_int(img.get("id")) or isinstance(img.get("id"), str)) \
                    and img.get("id") not in sizes:
                bad_images.add(img.get("id"))
            handle_error(where.error("images", i, img, str(exc)), on_error, report)
            continue
        sizes[image_id] = size
        records.append((image_id, image, size, file_name))

    per_image: dict[Any, list[_Annotation]] = {}
    has_masks = has_keypoints = False
    num_keypoints = max((len(n) for n in keypoint_names), default=0)
    for i, ann in enumerate(annotations):
        try:
            image_id, parsed = _parse_annotation(ann, sizes, label_of)
        except KeyError as exc:
            image_id = ann.get("image_id") if isinstance(ann, Mapping) else None
            if image_id in bad_images:  # its image was skipped (and reported) already
                continue
            handle_error(where.error("annotations", i, ann, exc.args[0]), on_error, report)
            continue
        except ValueError as exc:
            image_id = ann.get("image_id") if isinstance(ann, Mapping) else None
            if image_id in sizes:  # skip the whole image rather than leave an object unlabelled
                bad_images.add(image_id)
            handle_error(where.error("annotations", i, ann, str(exc)), on_error, report)
            continue
        per_image.setdefault(image_id, []).append(parsed)
        has_masks = has_masks or parsed.segmentation is not None
        if parsed.keypoints is not None:
            has_keypoints = True
            num_keypoints = max(num_keypoints, len(parsed.keypoints))
    has_keypoints = has_keypoints or any(keypoint_names)
    if has_keypoints and text is not None:  # names x objects must not allocate more than the file could hold
        objects = sum(len(v) for v in per_image.values())
        dense = objects * num_keypoints * 12
        if dense > max(_DENSE_KEYPOINT_BYTES, 16 * len(text)):
            raise AnnotationError(
                f"{objects} objects with {num_keypoints} keypoints each would need {dense / 2**20:.0f} MiB of keypoint "
                f"arrays, far more than a file of {len(text) / 2**20:.1f} MiB holds; check the 'keypoints' names in "
                "'categories' and the length of the annotations' 'keypoints'", path, where.locator.line("categories"))

    samples: list[Sample] = []
    dropped_crowd = 0
    for image_id, image, size, file_name in records:
        if image_id in bad_images:
            continue
        anns = per_image.get(image_id, [])
        if drop_crowd:
            dropped_crowd += sum(a.iscrowd for a in anns)
            anns = [a for a in anns if not a.iscrowd]
        n = len(anns)
        boxes = np.array([a.box for a in anns], np.float32).reshape(n, 4)
        keypoints = None
        if has_keypoints:
            keypoints = np.zeros((n, num_keypoints, 3), np.float32)
            for k, a in enumerate(anns):
                if a.keypoints is not None:
                    keypoints[k, :len(a.keypoints)] = a.keypoints
        masks = None
        if has_masks and size is not None:
            masks = SegmentationMasks([a.segmentation or ("polygon", [box_polygon(a.box)]) for a in anns], size)
        samples.append(Sample._trusted(
            image=image,
            boxes=boxes,
            labels=np.array([a.label for a in anns], np.int64).reshape(n),
            image_size=size,
            attributes={
                "iscrowd": np.array([a.iscrowd for a in anns], np.int32).reshape(n),
                "area": np.array([a.area for a in anns], np.float32).reshape(n),
                "category_id": np.array([a.category_id for a in anns], np.int64).reshape(n),
                "annotation_id": np.array([a.ann_id for a in anns], np.int64).reshape(n),
            },
            keypoints=keypoints,
            masks=masks,
            meta={"image_id": image_id, "file_name": file_name},
        ))
    if dropped_crowd:
        report.dropped_boxes["crowd"] = dropped_crowd
    meta = {
        "category_ids": tuple(category_ids),
        "keypoint_names": {name: tuple(kn) for name, kn in zip(class_names, keypoint_names) if kn},
        "skeleton": {name: [list(e) for e in sk] for name, sk in zip(class_names, skeletons) if sk},
    }
    result = finish(samples, report, class_names, on_error, meta)
    result.category_ids = tuple(category_ids)
    return result


@register_format("coco")
def read_coco(
    annotation_file: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    *,
    on_error: str = "raise",
    drop_crowd: bool = False,
    allow_outside_root: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> SampleList:
    """Read a COCO JSON annotation file (boxes, crowd flags, masks, keypoints).

    Source box format: XYWH pixels (``bbox``), converted to XYXY pixels.

    Args:
        annotation_file: the ``.json`` file (e.g. ``annotations/instances_val2017.json``).
        images_dir: the folder ``file_name`` is relative to (e.g. ``val2017/``); default: the
            annotation file's folder.
        on_error: "raise" (default), "warn" or "skip" an image with a malformed record.
        drop_crowd: drop ``iscrowd=1`` boxes (counted in the report).
        allow_outside_root: accept ``file_name`` values that leave ``images_dir``.
        storage_options: options of the fsspec file system when paths are URLs (``s3://...``);
            default: the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...).

    Returns:
        A :class:`SampleList`: one sample per image record, labels ``0..C-1``, with
        ``class_names``, ``category_ids`` and ``report``. See :func:`parse_coco`.

    Raises:
        FileNotFoundError: the annotation file does not exist.
        AnnotationError: invalid JSON or a malformed record, naming file, line and record.

    Example:
        >>> samples = sl.read_coco("annotations/instances_val2017.json", "val2017")  # doctest: +SKIP
        >>> samples.class_names[0], samples.category_ids[0]                         # doctest: +SKIP
        ('person', 1)
    """
    annotation_file = os.fspath(annotation_file)
    text = read_text(annotation_file, storage_options)
    if images_dir is None:
        images_dir = files.dirname(annotation_file)
    samples = parse_coco(text, images_dir, path=annotation_file, on_error=on_error, drop_crowd=drop_crowd,
                         allow_outside_root=allow_outside_root)
    return attach_storage(samples, storage_options)

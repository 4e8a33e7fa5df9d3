"""COCO annotation records to flat arrays, a chunk at a time.

:class:`AnnotationColumns` takes the annotation dicts of a chunk and appends their boxes, ids,
flags, areas, keypoints and segmentations to column arrays. A chunk whose records are all
well-formed is converted with a few NumPy calls per field (:meth:`AnnotationColumns.add_fast`);
a chunk that holds anything unusual (a malformed record, ``true``/``false`` values, a string
id, ...) goes record by record through :func:`parse_annotation`, the reference checks,
which word the errors (:meth:`AnnotationColumns.add_exact`). Both give the same arrays.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..masks import rle_counts_from_string
from ..table.columns import compact_coords, compact_ints

__all__ = [
    "BOOLEAN_LITERALS",
    "FLOAT32_MAX",
    "AnnotationColumns",
    "ImageIndex",
    "is_float32_number",
    "is_int64",
    "parse_annotation",
]

_INT64 = 1 << 63
FLOAT32_MAX = float(np.finfo(np.float32).max)
_NO_SEGMENTATION, _POLYGON, _RLE, _URLE = 0, 1, 2, 3
#: a chunk holding these goes through the checks: NumPy would read true/false as numbers (null
#: needs no scan: it makes an object array, which the fast path refuses)
BOOLEAN_LITERALS = (b"true", b"false")


def is_int64(value: Any) -> bool:
    """An integer that fits the int64 arrays ids are stored in."""
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def is_float32_number(value: Any) -> bool:
    """A finite number that fits the float32 arrays boxes, areas and keypoints are stored in."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= FLOAT32_MAX


def check_polygons(segm: list, image_size: tuple[int, int] | None) -> list[np.ndarray]:
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


def check_rle(segm: Mapping, image_size: tuple[int, int] | None) -> tuple[str, dict]:
    size, counts = segm.get("size"), segm.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(is_int64(v) and v >= 0 for v in size)):
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
    elif isinstance(counts, list) and all(is_int64(c) and 0 <= c < 1 << 32 for c in counts):
        total = sum(counts)
        kind, data = "urle", {"size": [h, w], "counts": np.asarray(counts, np.uint32)}
    else:
        raise ValueError("RLE 'counts' must be a string (compressed) or a list of non-negative integers "
                         "below 2**32")
    if total != h * w:
        raise ValueError(f"RLE runs cover {total} pixels but the mask has {h}x{w} = {h * w}")
    return kind, data


def parse_annotation(ann: Any, images: Mapping[Any, Any], label_of: Mapping[int, int]) -> tuple[Any, tuple]:
    """Validate one annotation record: (image id, (box, label, category id, annotation id, iscrowd,
    area, segmentation, keypoints)); raises KeyError (unknown image) or ValueError with a message."""
    if not isinstance(ann, Mapping):
        raise ValueError(f"expected an object, got {type(ann).__name__}")
    image_id = ann.get("image_id")
    if image_id not in images:
        raise KeyError(f"'image_id' {image_id!r} is not the id of any record in 'images'")
    image_size = images[image_id]
    cid = ann.get("category_id")
    if not is_int64(cid) or cid not in label_of:
        known = ", ".join(map(str, sorted(label_of)[:20]))
        raise ValueError(f"'category_id' {cid!r} is not in 'categories' (ids: {known})")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_float32_number(v) for v in bbox)):
        raise ValueError(f"'bbox' must be [x, y, width, height] (4 finite numbers of float32 range), got {bbox!r}")
    x, y, bw, bh = bbox
    if bw < 0 or bh < 0:
        raise ValueError(f"'bbox' width and height must be >= 0, got {bbox!r}")
    if abs(x + bw) > FLOAT32_MAX or abs(y + bh) > FLOAT32_MAX:
        raise ValueError(f"'bbox' corner x + width, y + height is out of float32 range, got {bbox!r}")
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1) or isinstance(iscrowd, float):
        raise ValueError(f"'iscrowd' must be 0 or 1, got {iscrowd!r}")
    area = ann.get("area", bw * bh)
    if not is_float32_number(area) or area < 0:
        raise ValueError(f"'area' must be a non-negative number, got {area!r}")
    segm = ann.get("segmentation")
    segmentation = None
    if isinstance(segm, list) and segm:
        segmentation = ("polygon", check_polygons(segm, image_size))
    elif isinstance(segm, Mapping):
        segmentation = check_rle(segm, image_size)
    elif segm not in (None, []):
        raise ValueError(f"'segmentation' must be a list of polygons or an RLE object, got {type(segm).__name__}")
    kps = ann.get("keypoints")
    keypoints = None
    if kps is not None:
        if not (isinstance(kps, list) and len(kps) % 3 == 0 and all(is_float32_number(v) for v in kps)):
            raise ValueError("'keypoints' must be a flat list of x, y, v triplets (finite numbers)")
        keypoints = np.asarray(kps, np.float32).reshape(-1, 3)
        if not np.isin(keypoints[:, 2], (0, 1, 2)).all():
            raise ValueError("keypoint visibility must be 0 (not labelled), 1 (hidden) or 2 (visible)")
    ann_id = ann.get("id", -1)
    box = (float(x), float(y), float(x) + float(bw), float(y) + float(bh))
    return image_id, (box, label_of[cid], cid, ann_id if is_int64(ann_id) else -1, int(iscrowd), float(area),
                      segmentation, keypoints)


class ImageIndex:
    """The valid image records: id -> record index and size, with sorted arrays for integer ids."""

    def __init__(self, ids: list[Any], sizes: list[tuple[int, int] | None]):
        self.position = {image_id: k for k, image_id in enumerate(ids)}
        self.size_of = dict(zip(ids, sizes))
        self.sizes = np.array([s or (0, 0) for s in sizes], np.int64).reshape(-1, 2)
        self.sorted_ids = self.sorted_pos = None
        if all(type(i) is int for i in ids):
            arr = np.array(ids, np.int64)
            self.sorted_pos = np.argsort(arr, kind="stable")
            self.sorted_ids = arr[self.sorted_pos]

    def forget_ids(self) -> None:
        """Drop the id dicts once every annotation is read (only ``sizes`` is used afterwards)."""
        self.position, self.size_of = {}, {}
        self.sorted_ids = self.sorted_pos = None

    def lookup(self, image_ids: list[Any]) -> np.ndarray | None:
        """Record index of each id, or None when one is unknown or not a plain integer."""
        if self.sorted_ids is None:
            return None
        try:
            ids = np.array(image_ids)
        except (ValueError, OverflowError):
            return None
        if ids.dtype.kind != "i" or ids.shape != (len(image_ids),) or not len(self.sorted_ids):
            return None if len(image_ids) else np.zeros(0, np.int64)
        at = np.minimum(np.searchsorted(self.sorted_ids, ids), len(self.sorted_ids) - 1)
        if not (self.sorted_ids[at] == ids).all():
            return None
        return self.sorted_pos[at]


def _numbers(values: list, shape: tuple[int, ...]) -> np.ndarray | None:
    """``values`` as a float64 array of ``shape`` when they are all plain numbers, else None."""
    try:
        arr = np.array(values)
    except (ValueError, OverflowError):
        return None
    if arr.shape != shape or arr.dtype.kind not in "iuf":
        return None
    return arr.astype(np.float64, copy=False)


class AnnotationColumns:
    """Per-annotation columns appended chunk by chunk, in file order.

    Args:
        images: the valid image records.
        label_of: COCO category id -> training label.
        report_error: called as ``report_error(index, record, message, skips_image)`` for a
            malformed record (``skips_image``: its whole image is left out).
    """

    def __init__(self, images: ImageIndex, label_of: Mapping[int, int],
                 report_error: Callable[[int, Any, str, bool], None]):
        self.images, self.label_of, self.report_error = images, label_of, report_error
        self.count = 0
        cats = np.array(sorted(label_of), np.int64)
        self._cat_ids, self._cat_labels = cats, np.array([label_of[c] for c in cats.tolist()], np.int64)
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in ("record", "box", "label", "category_id",
                                                                   "annotation_id", "iscrowd", "area", "kind",
                                                                   "kp_count", "kp")}
        self.polygon_parts: list[np.ndarray] = []  # parts per polygon annotation
        self.part_lengths: list[np.ndarray] = []
        self.coords: list[tuple[np.ndarray, int]] = []  # x, y: (float64, 0) or (int32, scale) from compact_coords
        self.rles: list[tuple[str, dict]] = []  # (kind, data) of each RLE annotation, in order
        self.bad_records: set[int] = set()
        self.any_keypoints = False  # an annotation had a 'keypoints' list (even an empty one)

    def _append(self, n: int, **cols: np.ndarray) -> None:
        for key, value in cols.items():  # integers narrowed per chunk: 10 M boxes must fit in memory
            self.cols[key].append(compact_ints(value) if value.dtype.kind in "iu" else value)
        self.count += n

    def add(self, anns: list, data: bytes | None) -> None:
        """Append a chunk (``data``: its JSON bytes, which tell whether the fast path may run)."""
        if not isinstance(anns, list):
            anns = list(anns)
        if data is None or any(lit in data for lit in BOOLEAN_LITERALS) or not self.add_fast(anns):
            self.add_exact(anns)

    def add_fast(self, anns: list) -> bool:
        """Convert a chunk with NumPy; False (nothing appended) when a record needs the checks."""
        n = len(anns)
        if n == 0:
            return True
        if set(map(type, anns)) != {dict}:
            return False
        record = self.images.lookup([a.get("image_id") for a in anns])
        if record is None:
            return False
        try:
            cids = np.array([a.get("category_id") for a in anns])
        except (ValueError, OverflowError):
            return False
        if cids.shape != (n,) or cids.dtype.kind != "i" or not len(self._cat_ids):
            return False
        at = np.minimum(np.searchsorted(self._cat_ids, cids), len(self._cat_ids) - 1)
        if not (self._cat_ids[at] == cids).all():
            return False
        bbox_lists = [a.get("bbox") for a in anns]
        if set(map(type, bbox_lists)) != {list} or set(map(len, bbox_lists)) != {4}:
            return False
        bbox = _numbers(list(itertools.chain.from_iterable(bbox_lists)), (4 * n,))
        if bbox is None:
            return False
        bbox = bbox.reshape(n, 4)
        x, y, w, h = bbox.T
        with np.errstate(over="ignore", invalid="ignore"):
            x1, y1 = x + w, y + h
            if not (np.isfinite(bbox).all() and (np.abs(bbox) <= FLOAT32_MAX).all() and (w >= 0).all()
                    and (h >= 0).all() and (np.abs(x1) <= FLOAT32_MAX).all() and (np.abs(y1) <= FLOAT32_MAX).all()):
                return False
        try:
            crowd = np.array([a.get("iscrowd", 0) for a in anns])
            area = _numbers([a["area"] if "area" in a else b[2] * b[3] for a, b in zip(anns, bbox_lists)], (n,))
        except (ValueError, OverflowError):
            return False
        if crowd.shape != (n,) or crowd.dtype.kind != "i" or ((crowd != 0) & (crowd != 1)).any():
            return False
        if area is None or not (np.isfinite(area).all() and (area >= 0).all() and (area <= FLOAT32_MAX).all()):
            return False
        segments = self._fast_segments([a.get("segmentation") for a in anns], record)
        kps = [a.get("keypoints") for a in anns]
        keypoints = self._fast_keypoints(kps)
        if segments is None or keypoints is None:
            return False
        ann_ids = [a.get("id", -1) for a in anns]
        try:
            ids = np.array(ann_ids, np.int64) if set(map(type, ann_ids)) == {int} else None
        except OverflowError:
            ids = None
        if ids is None:
            ids = np.array([v if is_int64(v) else -1 for v in ann_ids], np.int64)
        kinds, poly_parts, part_lengths, coords, rles = segments
        self.any_keypoints = self.any_keypoints or kps.count(None) < n
        self.polygon_parts += poly_parts
        self.part_lengths += part_lengths
        self.coords += coords
        self.rles += rles
        self._append(n, record=record, box=np.stack([x, y, x1, y1], axis=1), label=self._cat_labels[at],
                     category_id=cids.astype(np.int64), annotation_id=ids, iscrowd=crowd.astype(np.int8),
                     area=area.astype(np.float32), kind=kinds, kp_count=keypoints[0], kp=keypoints[1])
        return True

    def _fast_segments(self, segs: list, record: np.ndarray) -> tuple | None:
        n = len(segs)
        kinds = np.zeros(n, np.uint8)
        poly_at = np.array([k for k, seg in enumerate(segs) if type(seg) is list and seg], np.int64)
        poly_parts: list[np.ndarray] = []
        part_lengths: list[np.ndarray] = []
        coords: list[np.ndarray] = []
        if poly_at.size:
            if (self.images.sizes[record[poly_at], 0] == 0).any():
                return None  # a polygon on an image without a size: the checks word the error
            polys = [segs[k] for k in poly_at.tolist()] if len(poly_at) < n else segs
            parts = list(itertools.chain.from_iterable(polys))
            if set(map(type, parts)) != {list}:
                return None
            lengths = np.fromiter(map(len, parts), np.int64, len(parts))
            if (lengths % 2).any() or (lengths < 6).any():
                return None
            flat = _numbers(list(itertools.chain.from_iterable(parts)), (int(lengths.sum()),))
            if flat is None or not np.isfinite(flat).all():
                return None
            kinds[poly_at] = _POLYGON
            poly_parts.append(np.fromiter(map(len, polys), np.int64, len(polys)))
            part_lengths.append(lengths)
            coords.append(compact_coords(flat))
        rles: list[tuple[str, dict]] = []
        others = np.ones(n, bool)
        others[poly_at] = False
        for k in np.flatnonzero(others).tolist():
            seg = segs[k]
            if seg is None or (type(seg) is list and not seg):
                continue
            if type(seg) is not dict:
                return None
            h, w = self.images.sizes[record[k]].tolist()
            try:
                kind, data = check_rle(seg, (h, w) if h else None)
            except ValueError:
                return None
            kinds[k] = _RLE if kind == "rle" else _URLE
            rles.append((kind, data))
        return kinds, poly_parts, part_lengths, coords, rles

    @staticmethod
    def _fast_keypoints(kps: list) -> tuple[np.ndarray, np.ndarray] | None:
        n = len(kps)
        if kps.count(None) == n:
            return np.zeros(n, np.int64), np.zeros((0, 3), np.float32)
        if not set(map(type, kps)) <= {list, type(None)}:
            return None
        counts = np.fromiter((0 if k is None else len(k) for k in kps), np.int64, n)
        if (counts % 3).any():
            return None
        flat = _numbers(list(itertools.chain.from_iterable(k for k in kps if k is not None)), (int(counts.sum()),))
        if flat is None or not (np.isfinite(flat).all() and (np.abs(flat) <= FLOAT32_MAX).all()):
            return None
        flat = flat.astype(np.float32).reshape(-1, 3)
        if not np.isin(flat[:, 2], (0, 1, 2)).all():
            return None
        return counts // 3, flat

    def add_exact(self, anns: list) -> None:
        """Append a chunk record by record with the reference checks, reporting malformed ones."""
        sizes, position = self.images.size_of, self.images.position
        rows = []
        base = self.count
        for k, ann in enumerate(anns):
            try:
                image_id, parsed = parse_annotation(ann, sizes, self.label_of)
            except KeyError as exc:
                self.report_error(base + k, ann, exc.args[0], False)
                rows.append(None)
                continue
            except ValueError as exc:
                image_id = ann.get("image_id") if isinstance(ann, Mapping) else None
                if image_id in sizes:  # skip the whole image rather than leave an object unlabelled
                    self.bad_records.add(position[image_id])
                self.report_error(base + k, ann, str(exc), True)
                rows.append(None)
                continue
            rows.append((position[image_id], parsed))
        n = len(rows)
        kinds = np.zeros(n, np.uint8)
        kp_count = np.zeros(n, np.int64)
        kp_rows = []
        box = np.zeros((n, 4), np.float64)
        record = np.full(n, -1, np.int64)
        ints = np.zeros((n, 4), np.int64)  # label, category id, annotation id, iscrowd
        area = np.zeros(n, np.float32)
        for k, row in enumerate(rows):
            if row is None:
                continue
            rec, (b, label, cid, aid, crowd, ar, segmentation, keypoints) = row
            record[k], box[k], ints[k], area[k] = rec, b, (label, cid, aid, crowd), ar
            if segmentation is not None:
                kind, data = segmentation
                if kind == "polygon":
                    kinds[k] = _POLYGON
                    self.polygon_parts.append(np.array([len(data)], np.int64))
                    self.part_lengths.append(np.array([len(p) for p in data], np.int64))
                    self.coords += [(p, 0) for p in data]
                else:
                    kinds[k] = _RLE if kind == "rle" else _URLE
                    self.rles.append((kind, data))
            if keypoints is not None:
                self.any_keypoints = True
                kp_count[k] = len(keypoints)
                kp_rows.append(keypoints)
        self._append(n, record=record, box=box, label=ints[:, 0], category_id=ints[:, 1], annotation_id=ints[:, 2],
                     iscrowd=ints[:, 3].astype(np.int8), area=area, kind=kinds, kp_count=kp_count,
                     kp=np.concatenate(kp_rows) if kp_rows else np.zeros((0, 3), np.float32))

    def flat_coords(self) -> tuple[np.ndarray, int]:
        """All polygon coordinates: (int32 hundredths, 100) when every chunk stored them so, else
        (float64, 0)."""
        scales = {scale for _, scale in self.coords}
        if scales == {100}:
            return np.concatenate([c for c, _ in self.coords]), 100
        if not self.coords:
            return np.zeros(0, np.float64), 0
        return np.concatenate([c / scale if scale else c for c, scale in self.coords]), 0

    def pop(self, name: str, dtype: Any = None, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
        """:meth:`column`, then forget it (the arrays of 10 M boxes are freed as they are used)."""
        out = self.column(name, dtype, shape_tail)
        self.cols[name] = []
        return out

    def column(self, name: str, dtype: Any = None, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
        """All chunks of a column as one array, in ``dtype`` (default: the narrowest that holds every
        chunk). The chunks are freed as they are copied, and the array becomes the only chunk."""
        parts = self.cols[name]
        if not parts:
            return np.zeros((0, *shape_tail), dtype or np.int64)
        if len(parts) > 1:
            total = sum(len(p) for p in parts)
            out = np.empty((total, *parts[0].shape[1:]), np.result_type(*parts))
            pos = 0
            while parts:
                part = parts.pop(0)
                out[pos:pos + len(part)] = part
                pos += len(part)
            parts.append(out)
        return parts[0] if dtype is None else parts[0].astype(dtype, copy=False)

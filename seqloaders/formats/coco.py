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

import contextlib
import gc
import mmap
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..errors import AnnotationError
from ..parsecache import cached
from ..records import ReadReport
from ..storage import files
from ..storage.remote import attach_storage
from ..table import SampleTable
from ..table.columns import BOX, POLYGON, RLE, URLE, mask_columns, ragged_index
from .cocoanns import BOOLEAN_LITERALS, AnnotationColumns, ImageIndex, is_int64
from .cocojson import ChunksDoNotParse, load_coco_json
from .common import JsonLocator
from .errorpolicy import check_on_error, handle_error, warn_summary
from .paths import join_image_path
from .registry import register_format

__all__ = ["parse_coco", "read_coco"]

#: Keypoint arrays are dense (objects, K, 3): their size is bounded by this or 16x the file's size.
_DENSE_KEYPOINT_BYTES = 64 << 20
#: annotations handed to the converter at once when the document was parsed whole
_LIST_CHUNK = 20_000


class _Where:
    """Builds errors that name the file, the line and the record (the text is decoded on the first error)."""

    def __init__(self, path: str, raw: bytes | mmap.mmap | None):
        self.path, self.raw, self._locator = path, raw, None

    @property
    def locator(self) -> JsonLocator:
        if self._locator is None:
            self._locator = JsonLocator(None if self.raw is None else self.raw[:].decode("utf-8-sig", "replace"))
        return self._locator

    def error(self, section: str, index: int, record: Any, message: str) -> AnnotationError:
        ident = ""
        if isinstance(record, Mapping) and "id" in record:
            ident = f" (id {record['id']!r})"
        line = self.locator.line(section, index)
        return AnnotationError(f"{section}[{index}]{ident}: {message}", self.path, line)


def _parse_categories(categories: Any, where: _Where) -> tuple[list[int], list[str], list[list[str]], list]:
    if not isinstance(categories, list):
        raise AnnotationError(f"'categories' must be a list, got {type(categories).__name__}", where.path)
    seen: dict[int, int] = {}
    parsed = []
    for i, cat in enumerate(categories):
        if not isinstance(cat, Mapping):
            raise where.error("categories", i, cat, f"expected an object, got {type(cat).__name__}")
        cid, name = cat.get("id"), cat.get("name")
        if not is_int64(cid):
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


def _join_all(root: str, names: list[str], allow_outside_root: bool) -> list[str]:
    """``join_image_path`` of every name, one ``scandir`` of ``root`` instead of one ``lstat`` per
    image for the plain file names (no separator, no ``..``) that are not symbolic links.

    Raises:
        ValueError: as ``join_image_path``.
    """
    if allow_outside_root or not root or files.is_url(root):
        return [join_image_path(root, name, allow_outside_root) for name in names]
    links: set[str] = set()
    if os.path.isdir(root):
        with os.scandir(root) as entries:
            links = {e.name for e in entries if e.is_symlink()}
    unusual = ("/", "\\", os.sep, "..", "\x00")
    return [join_image_path(root, name) if name in links or any(u in name for u in unusual)
            else os.path.join(root, name) for name in names]


def _fast_images(records: list, root: str, allow_outside_root: bool) -> tuple[list, list, list, list] | None:
    """The image records checked a field at a time; None when one needs the record-by-record checks."""
    if not all(type(r) is dict for r in records):
        return None
    ids = [r.get("id") for r in records]
    names = [r.get("file_name") for r in records]
    hs, ws = [r.get("height") for r in records], [r.get("width") for r in records]
    if not (all(type(v) is int for v in ids) and all(type(v) is str and v for v in names)):
        return None
    if len(set(ids)) != len(ids) or not all(-(1 << 63) <= v < 1 << 63 for v in (min(ids, default=0),
                                                                                  max(ids, default=0))):
        return None
    if hs.count(None) == len(hs) and ws.count(None) == len(ws):
        sizes: list = [None] * len(ids)
    elif all(type(v) is int for v in hs) and all(type(v) is int for v in ws) \
            and min(hs + ws, default=1) > 0 and max(hs + ws, default=1) < 1 << 63:
        sizes = list(zip(hs, ws))
    else:
        return None
    try:
        images = _join_all(root, names, allow_outside_root)
    except ValueError:
        return None
    return ids, images, sizes, names


def _parse_images(records: list, root: str, allow_outside_root: bool, where: _Where, on_error: str,
                  report: ReadReport) -> tuple[list, list, list, list, set]:
    """The valid image records: (ids, image paths, sizes, file names, ids of the invalid ones)."""
    fast = _fast_images(records, root, allow_outside_root)
    if fast is not None:
        return (*fast, set())
    ids: list[Any] = []
    images: list[str] = []
    sizes: list[tuple[int, int] | None] = []
    names: list[str] = []
    seen: set = set()
    bad: set = set()
    for i, img in enumerate(records):
        try:
            if not isinstance(img, Mapping):
                raise ValueError(f"expected an object, got {type(img).__name__}")
            image_id, file_name = img.get("id"), img.get("file_name")
            if not (is_int64(image_id) or isinstance(image_id, str)):
                raise ValueError(f"'id' must be an integer (int64) or a string, got {image_id!r}")
            if image_id in seen or image_id in bad:
                raise ValueError(f"duplicate image id {image_id!r}")
            if not isinstance(file_name, str) or not file_name:
                raise ValueError(f"'file_name' must be a non-empty string, got {file_name!r}")
            h, w = img.get("height"), img.get("width")
            size = None
            if h is not None or w is not None:
                if not (is_int64(h) and is_int64(w) and h > 0 and w > 0):
                    raise ValueError(f"'height' and 'width' must be positive integers, got {h!r} and {w!r}")
                size = (h, w)
            image = join_image_path(root, file_name, allow_outside_root)
        except ValueError as exc:
            if isinstance(img, Mapping) and (is_int64(img.get("id")) or isinstance(img.get("id"), str)) \
                    and img.get("id") not in seen:
                bad.add(img.get("id"))
            handle_error(where.error("images", i, img, str(exc)), on_error, report)
            continue
        seen.add(image_id)
        ids.append(image_id)
        images.append(image)
        sizes.append(size)
        names.append(file_name)
    return ids, images, sizes, names, bad


def parse_coco(
    data: str | bytes | mmap.mmap | Mapping[str, Any],
    images_dir: str | os.PathLike = "",
    *,
    path: str = "<string>",
    on_error: str = "raise",
    drop_crowd: bool = False,
    allow_outside_root: bool = False,
) -> SampleTable:
    """Parse COCO JSON (text, bytes or an already loaded dict) into samples (no file I/O).

    Source box format: XYWH pixels, converted to XYXY pixels.

    Args:
        data: the JSON text or bytes (or a read-only ``mmap`` of a file), or the dict ``json.load``
            returned.
        images_dir: root that ``file_name`` is relative to.
        path: the file name used in error messages.
        on_error: "raise" (default), "warn" or "skip" an image with a malformed record.
        drop_crowd: drop ``iscrowd=1`` boxes (counted in ``report.dropped_boxes["crowd"]``);
            by default they are kept with ``attributes["iscrowd"] == 1``.
        allow_outside_root: accept ``file_name`` values that leave ``images_dir``.

    Returns:
        A :class:`~seqloaders.table.SampleTable` (a :class:`SampleList`) with ``class_names``
        (ordered by COCO id), ``category_ids`` (``category_ids[label]`` is the COCO id), ``meta``
        (``category_ids``, ``keypoint_names``, ``skeleton``) and ``report``.

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
    with _no_cyclic_gc():
        return _parse_any(data, os.fspath(images_dir), path, on_error, drop_crowd, allow_outside_root)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: parsing makes millions of acyclic objects (freed by
    reference counting), and the collector's passes over them took half of orjson's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_any(data: Any, images_dir: str, path: str, on_error: str, drop_crowd: bool,
               allow_outside_root: bool) -> SampleTable:
    options = {"images_dir": images_dir, "path": path, "on_error": on_error, "drop_crowd": drop_crowd,
               "allow_outside_root": allow_outside_root}
    if not isinstance(data, (str, bytes, bytearray, mmap.mmap)):
        return _parse(data, None, **options)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        return _parse(None, raw, **options)
    except ChunksDoNotParse:  # an annotation holding a list of objects: parse the text whole
        return _parse(None, raw, whole=True, **options)


def _parse(data: Any, raw: bytes | mmap.mmap | None, *, images_dir: str, path: str, on_error: str, drop_crowd: bool,
           allow_outside_root: bool, whole: bool = False) -> SampleTable:
    report = ReadReport(path=path)
    chunks = None
    if raw is not None:
        data, chunks = load_coco_json(raw, path, whole=whole)
    where = _Where(path, raw)
    if not isinstance(data, Mapping) or not isinstance(data.get("images"), list):
        raise AnnotationError("expected a JSON object with an 'images' list (COCO format)", path,
                              1 if raw is not None else None)
    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        raise AnnotationError(f"'annotations' must be a list, got {type(annotations).__name__}", path)
    category_ids, class_names, keypoint_names, skeletons = _parse_categories(data.get("categories", []), where)
    label_of = {cid: k for k, cid in enumerate(category_ids)}
    ids, images, sizes, file_names, bad_images = _parse_images(data["images"], images_dir, allow_outside_root,
                                                              where, on_error, report)
    del data  # the image records (a few hundred MB for Objects365's 600,000 images) are in the lists now

    def report_error(index: int, ann: Any, message: str, skips_image: bool) -> None:
        if not skips_image and (ann.get("image_id") if isinstance(ann, Mapping) else None) in bad_images:
            return  # its image was skipped (and reported) already
        handle_error(where.error("annotations", index, ann, message), on_error, report)

    columns = AnnotationColumns(ImageIndex(ids, sizes), label_of, report_error)
    if chunks is None:  # parsed whole (or given a dict): the fast path only where no true/false/null can hide
        plain = b"" if raw is not None and not any(raw.find(lit) >= 0 for lit in BOOLEAN_LITERALS) else None
        chunks = ((annotations[k:k + _LIST_CHUNK], plain) for k in range(0, len(annotations), _LIST_CHUNK))
    for anns, chunk_bytes in chunks:
        columns.add(anns, chunk_bytes)
    columns.images.forget_ids()
    del annotations

    num_keypoints = max((len(n) for n in keypoint_names), default=0)
    kp_count = columns.column("kp_count")
    if kp_count.size:
        num_keypoints = max(num_keypoints, int(kp_count.max()))
    has_keypoints = columns.any_keypoints or any(keypoint_names)
    record = columns.column("record")
    if has_keypoints and raw is not None:  # names x objects must not allocate more than the file could hold
        objects = int((record >= 0).sum())
        dense = objects * num_keypoints * 12
        if dense > max(_DENSE_KEYPOINT_BYTES, 16 * len(raw)):
            raise AnnotationError(
                f"{objects} objects with {num_keypoints} keypoints each would need {dense / 2**20:.0f} MiB of keypoint "
                f"arrays, far more than a file of {len(raw) / 2**20:.1f} MiB holds; check the 'keypoints' names in "
                "'categories' and the length of the annotations' 'keypoints'", path, where.locator.line("categories"))
    table = _assemble(columns, record, kp_count, ids, images, sizes, file_names, num_keypoints, has_keypoints,
                      drop_crowd, report, class_names)
    report.num_samples, report.num_boxes = len(table), table.num_boxes
    warn_summary(report, on_error)
    table.meta = {
        "category_ids": tuple(category_ids),
        "keypoint_names": {name: tuple(kn) for name, kn in zip(class_names, keypoint_names) if kn},
        "skeleton": {name: [list(e) for e in sk] for name, sk in zip(class_names, skeletons) if sk},
    }
    table.category_ids = tuple(category_ids)
    return table


def _assemble(columns: AnnotationColumns, record: np.ndarray, kp_count: np.ndarray, ids: list, images: list,
              sizes: list, file_names: list, num_keypoints: int, has_keypoints: bool, drop_crowd: bool,
              report: ReadReport, class_names: list[str]) -> SampleTable:
    """The table of the valid images, each with its valid annotations in file order."""
    keep_image = np.ones(len(ids), bool)
    keep_image[sorted(columns.bad_records)] = False
    valid = record >= 0
    valid[valid] = keep_image[record[valid]]
    crowd = columns.pop("iscrowd")
    if drop_crowd:
        dropped = int((crowd[valid] == 1).sum())
        if dropped:
            report.dropped_boxes["crowd"] = dropped
        valid &= crowd == 0
    order = np.flatnonzero(valid)
    del valid
    chosen_records = record[order]
    if (np.diff(chosen_records) < 0).any():  # annotations not grouped by image: sort them, stably
        permutation = np.argsort(chosen_records, kind="stable")
        order, chosen_records = order[permutation], chosen_records[permutation]
        del permutation
    new_index = np.cumsum(keep_image) - 1
    offsets = np.zeros(int(keep_image.sum()) + 1, np.int64)
    np.cumsum(np.bincount(new_index[chosen_records], minlength=len(offsets) - 1), out=offsets[1:])
    del chosen_records, new_index
    kept = np.flatnonzero(keep_image).tolist()
    size_array = columns.images.sizes[keep_image]
    kind = columns.column("kind")
    masks = None
    if (kind[record >= 0] != 0).any():
        masks = _mask_columns(columns, kind, order, columns.column("box", np.float64, (4,)), keep_image, size_array)
    del kind, record
    all_boxes = columns.pop("box", np.float64, (4,))
    boxes = np.empty((len(order), 4), np.float32)
    for lo in range(0, len(order), 1 << 20):  # gathered in blocks: no (N, 4) float64 copy
        boxes[lo:lo + (1 << 20)] = all_boxes[order[lo:lo + (1 << 20)]]
    del all_boxes
    keypoints = None
    if has_keypoints:
        keypoints = np.zeros((len(order), num_keypoints, 3), np.float32)
        kp_offsets = np.zeros(len(kp_count) + 1, np.int64)
        np.cumsum(kp_count, out=kp_offsets[1:])
        at, new = ragged_index(kp_offsets, order)
        rows = np.repeat(np.arange(len(order)), np.diff(new))
        cols = np.arange(len(at)) - np.repeat(new[:-1], np.diff(new))
        keypoints[rows, cols] = columns.pop("kp", np.float32, (3,))[at]
    attributes = {"iscrowd": crowd[order]}
    del crowd
    attributes["area"] = columns.pop("area", np.float32)[order]
    for name in ("category_id", "annotation_id"):
        attributes[name] = columns.pop(name)[order]
    return SampleTable.from_columns(
        [images[k] for k in kept], offsets, boxes, columns.pop("label")[order], image_sizes=size_array,
        attributes=attributes, dtypes={"iscrowd": np.int32, "category_id": np.int64, "annotation_id": np.int64},
        keypoints=keypoints, masks=masks,
        image_meta={"image_id": [ids[k] for k in kept], "file_name": [file_names[k] for k in kept]},
        report=report, class_names=class_names)


def _mask_columns(columns: AnnotationColumns, kind: np.ndarray, order: np.ndarray, all_boxes: np.ndarray,
                  keep_image: np.ndarray, size_array: np.ndarray) -> dict[str, np.ndarray]:
    """Mask sources of the chosen boxes; objects without segmentation get their box's polygon."""
    ranks = {k: np.cumsum(kind == k) - 1 for k in (POLYGON, RLE, URLE)}
    chosen_kind = kind[order]
    refs = np.zeros(len(order), np.int64)
    for k, rank in ranks.items():
        sel = chosen_kind == k
        refs[sel] = rank[order[sel]]
    no_segmentation = chosen_kind == 0
    refs[no_segmentation] = np.arange(int(no_segmentation.sum()))
    chosen_kind = np.where(no_segmentation, BOX, chosen_kind).astype(np.uint8)
    parts_per = np.concatenate(columns.polygon_parts) if columns.polygon_parts else np.zeros(0, np.int64)
    lengths = np.concatenate(columns.part_lengths) if columns.part_lengths else np.zeros(0, np.int64)
    polygon_parts = np.concatenate([[0], np.cumsum(parts_per)])
    part_offsets = np.concatenate([[0], np.cumsum(lengths)])
    coords, scale = columns.flat_coords()
    stores = {}
    for name in ("rle", "urle"):
        entries = [data for kind_name, data in columns.rles if kind_name == name]
        values = [np.frombuffer(d["counts"], np.uint8) if name == "rle" else d["counts"] for d in entries]
        offsets = np.concatenate([[0], np.cumsum([len(v) for v in values], dtype=np.int64)])
        stores[name] = (offsets, np.concatenate(values) if values else np.zeros(0, np.uint8 if name == "rle"
                                                                                 else np.uint32),
                        np.array([d["size"] for d in entries], np.int64).reshape(-1, 2))
    return mask_columns(chosen_kind, refs, polygon_parts=polygon_parts, part_offsets=part_offsets, coords=coords,
                        coords_scale=scale, rle=stores["rle"], urle=stores["urle"],
                        boxes=all_boxes[order[no_segmentation]], present=size_array[:, 0] > 0)


@contextlib.contextmanager
def _contents(path: str, storage_options: Mapping[str, Any] | None) -> Iterator[bytes | mmap.mmap]:
    """A local file mapped read-only (its pages released as it is parsed: 10 M boxes fit in 2 GB), a
    URL's bytes."""
    if files.is_url(path) or not os.path.isfile(path) or os.path.getsize(path) == 0:
        yield files.read_bytes(path, storage_options)
        return
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        yield mapped


@register_format("coco")
def read_coco(
    annotation_file: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    *,
    on_error: str = "raise",
    drop_crowd: bool = False,
    allow_outside_root: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    cache: bool = True,
) -> SampleTable:
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
        cache: keep the parsed samples in the parse cache (:mod:`seqloaders.parsecache`, under
            ``$SEQLOADERS_CACHE`` or ``~/.cache/seqloaders``, never beside the dataset) and read
            them from it while the file and these options are unchanged: the second read of
            COCO train2017 is a memory map (well under a second) instead of a parse. Remote
            files are cached when the store reports their size and version. False parses every
            time and keeps nothing.

    Returns:
        A :class:`~seqloaders.table.SampleTable` (a :class:`SampleList`): one sample per image
        record, labels ``0..C-1``, with ``class_names``, ``category_ids`` and ``report``. See
        :func:`parse_coco`.

    Raises:
        FileNotFoundError: the annotation file does not exist.
        AnnotationError: invalid JSON or a malformed record, naming file, line and record.

    Example:
        >>> samples = sl.read_coco("annotations/instances_val2017.json", "val2017")  # doctest: +SKIP
        >>> samples.class_names[0], samples.category_ids[0]                         # doctest: +SKIP
        ('person', 1)
    """
    annotation_file = os.fspath(annotation_file)
    check_on_error(on_error)
    if images_dir is None:
        images_dir = files.dirname(annotation_file)
    images_dir = os.fspath(images_dir)

    def build() -> SampleTable:
        with _contents(annotation_file, storage_options) as raw:
            if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise AnnotationError("the file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it "
                                      "as UTF-8", annotation_file, 1)
            return parse_coco(raw, images_dir, path=annotation_file, on_error=on_error, drop_crowd=drop_crowd,
                              allow_outside_root=allow_outside_root)

    if cache:
        root = images_dir if files.is_url(images_dir) else os.path.abspath(images_dir)
        options = {"images_dir": images_dir, "images_root": root, "drop_crowd": drop_crowd,
                   "allow_outside_root": allow_outside_root}
        samples = cached("coco", [annotation_file], options,
                         build, storage_options=storage_options, on_error=on_error)
    else:
        samples = build()
    return attach_storage(samples, storage_options)

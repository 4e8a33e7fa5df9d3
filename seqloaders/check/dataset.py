"""Dataset checks that open every image: what ``seqloaders check`` reports, without changing any file.

:func:`~seqloaders.summarize` (``seqloaders inspect``) finds problems from the annotations and
the image headers alone. :func:`check_dataset` goes further: it reads and decodes every image
(in parallel, OpenCV releases the GIL) and compares the annotations with the real, decoded
pixels, after EXIF orientation. It uses the same vocabulary for the problems both find
("missing image", "box outside image", "zero-size box", "unknown class"), and adds its own.

Finding kinds (severity in brackets):

- ``missing image`` [error]: the image file does not exist. When most images are missing (at
  least :data:`MANY_MISSING`, and more than half), one finding says so instead of one per image:
  it names the folder looked in and, when there is an obvious one nearby, the folder that holds
  the images (see :func:`locate_missing_images`).
- ``empty image`` [error]: a file of 0 bytes.
- ``truncated image`` [error]: a JPEG without its end-of-image marker, a PNG without its IEND chunk.
- ``unreadable image`` [error]: any other file OpenCV cannot decode.
- ``exif orientation`` [warning]: an EXIF orientation (5-8) that swaps width and height; boxes
  must be given in the turned frame, which is easy to get wrong.
- ``image size mismatch`` [warning]: the annotation declares another size than the decoded image.
- ``box outside image`` [error]: a box reaching past the decoded image.
- ``zero-size box`` [warning]: a box without area.
- ``duplicate image`` [warning]: files with the same content (SHA-256 of the bytes), all copies
  grouped in one finding.
- ``duplicate entry`` [warning]: one image listed by several samples.
- ``missing mask``, ``unreadable mask``, ``mask size mismatch``, ``mask count mismatch``
  [error]: mask files, RLE sizes or rendered masks that do not fit the decoded image.
- ``unknown class`` [error]: a label outside the reader's class list.
- ``class not in class map`` [error, or warning when the map drops or ignores unknown classes].
- ``malformed annotation`` [error]: an entry the reader skipped (``on_error="skip"``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..classmap import ClassMap
from ..errors import ImageError
from ..geometry import outside_box_mask
from ..imageio import decode_image, decode_mask, probe_image
from ..records import ArrayMasks, Sample
from ..storage.remote import default_storage
from .findings import FINDING_KINDS, CheckReport, Finding
from .missing import locate_missing_images

__all__ = ["check_dataset"]

_TOLERANCE = 1e-3  # pixels: a box may touch the border, float noise included


@dataclasses.dataclass
class _ImageResult:
    """What opening one image file gave (computed on a worker thread)."""

    sha256: str | None = None
    size: tuple[int, int] | None = None  # decoded (H, W), after EXIF orientation
    stored: tuple[int, int] | None = None  # (H, W) as stored, before orientation
    orientation: int = 1
    error: tuple[str, str] | None = None  # (kind, message)
    masks: dict[int, list[tuple[str, str, dict]]] = dataclasses.field(default_factory=dict)  # sample → findings


def check_dataset(
    samples: Sequence[Sample],
    *,
    class_map: ClassMap | None = None,
    class_names: Sequence[str] | None = None,
    threads: int | None = None,
    progress: bool = True,
    storage: Any = None,
    annotation_file: str | None = None,
    images_dir: str | os.PathLike | None = None,
    workers: int | None = None,
) -> CheckReport:
    """Open every image of a dataset and report what does not fit, without changing any file.

    Each distinct image is read once, hashed (SHA-256) and decoded in full, on a thread pool.
    Boxes are compared with the *decoded* image (after EXIF orientation), masks with its size,
    labels with the class list and the class map. Nothing is written anywhere.

    Args:
        samples: the samples of a reader (a :class:`~seqloaders.SampleList` also brings its
            ``class_names`` and the entries it skipped under ``on_error="skip"``).
        class_map: report source classes this map neither maps nor drops.
        class_names: the source class names (default: ``samples.class_names``).
        threads: decoding threads (default: the number of cores, at most 8).
        progress: show a tqdm progress bar (only when stderr is a terminal).
        storage: where the images are read from (default: ``samples.storage`` if any, else
            local files).
        annotation_file: the annotation file named in findings (default: the reader's
            ``report.path``; per-sample ``meta["annotation_file"]`` or ``meta["label_file"]``
            win, and ``meta["line"]`` gives the line).
        images_dir: the images root the samples were read with, if known: when most images are
            missing, the one finding that says so names it (see :func:`locate_missing_images`).
        workers: deprecated name of ``threads`` (a DeprecationWarning; ``workers`` means Keras
            worker processes or threads elsewhere in the library).

    Returns:
        A :class:`CheckReport`; ``report.ok`` is False when any finding is an error.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
        >>> report = sl.check_dataset(sl.read_wider_face(toy.annotations, toy.images), progress=False)
        >>> report.ok, report.num_images
        (True, 8)
    """
    start = time.perf_counter()
    if class_names is None:
        class_names = tuple(getattr(samples, "class_names", ()) or ())
    if storage is None:  # the source's own, FsspecStorage for URLs, else local files: as a Sequence does
        storage = default_storage(samples)
    reader_report = getattr(samples, "report", None)
    if annotation_file is None and reader_report is not None and getattr(reader_report, "path", ""):
        annotation_file = str(reader_report.path)
    if workers is not None:
        warnings.warn("check_dataset(workers=...) is deprecated: the decoding threads are threads=..., as for "
                      "the Loader and the Sequences", DeprecationWarning, stacklevel=2)
        if threads is not None and threads != workers:
            raise TypeError(f"check_dataset got threads={threads} and its deprecated alias workers={workers}; "
                            "pass threads= only")
        threads = workers
    threads = max(1, int(threads if threads is not None else min(8, os.cpu_count() or 1)))

    samples = list(samples)
    by_image: dict[str, list[int]] = {}
    for i, sample in enumerate(samples):
        by_image.setdefault(sample.image, []).append(i)

    results: dict[str, _ImageResult] = {}
    bar = _progress_bar(len(by_image), progress)
    try:
        if threads == 1 or len(by_image) <= 1:
            for image, indices in by_image.items():
                results[image] = _open_image(image, [samples[i] for i in indices], indices, storage)
                bar.update(1)
        else:
            with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="seqloaders-check") as pool:
                futures = {pool.submit(_open_image, image, [samples[i] for i in indices], indices, storage): image
                           for image, indices in by_image.items()}
                for future in concurrent.futures.as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(1)
    finally:
        bar.close()

    findings: list[Finding] = []
    if reader_report is not None:
        for line, message in getattr(reader_report, "skipped", ()):
            findings.append(Finding("malformed annotation", "error", None, f"entry skipped by the reader: {message}",
                                    annotation_file, line))
    reported_images: set[str] = set()
    for i, sample in enumerate(samples):
        where = _locate(sample, annotation_file)
        result = results[sample.image]
        if sample.image not in reported_images:
            reported_images.add(sample.image)
            findings += _image_findings(sample, result, where, by_image[sample.image])
        findings += _box_findings(sample, result.size, where)
        for kind, message, details in result.masks.get(i, ()):
            findings.append(_finding(kind, sample.image, message, where, details))
        findings += _class_findings(sample, class_names, class_map, where)
    findings += _duplicate_findings(results, samples, by_image, annotation_file)
    missing = [image for image, result in results.items() if result.error and result.error[0] == "missing image"]
    many = locate_missing_images(sorted(missing, key=lambda p: by_image[p][0]), len(by_image), images_dir)
    if many is not None:  # one finding instead of one per image
        findings = [f for f in findings if f.kind != "missing image"]
        findings.insert(0, Finding("missing image", FINDING_KINDS["missing image"], None, many.message,
                                   annotation_file, None, many.details()))
    return CheckReport(findings, num_samples=len(samples), num_images=len(by_image),
                       num_boxes=sum(s.num_boxes for s in samples), seconds=time.perf_counter() - start)


# ------------------------------------------------------------------------ one image, on a thread
def _open_image(image: str, group: list[Sample], indices: list[int], storage: Any) -> _ImageResult:
    result = _ImageResult()
    try:
        data = storage.read(image)
    except FileNotFoundError:
        result.error = ("missing image", "image file not found")
        return result
    except OSError as exc:
        result.error = ("unreadable image", f"cannot read the file: {exc.strerror or exc}")
        return result
    except Exception as exc:
        result.error = ("unreadable image", f"the storage cannot read it: {type(exc).__name__}: {exc}")
        return result
    result.sha256 = hashlib.sha256(data).hexdigest()
    if not data:
        result.error = ("empty image", "empty file (0 bytes)")
        return result
    info = probe_image(data)
    if info is not None:
        result.stored = (info.height, info.width)
        result.orientation = info.orientation
        if info.format == "png" and b"IEND" not in data[-16:]:
            result.error = ("truncated image", "truncated PNG: no IEND chunk at the end of the file")
            return result
    try:
        decoded = decode_image(data, path=image, info=info)
    except ImageError as exc:
        reason = exc.reason
        kind = "truncated image" if reason.startswith("truncated") else "unreadable image"
        result.error = (kind, reason)
        return result
    result.size = (int(decoded.shape[0]), int(decoded.shape[1]))
    del decoded
    for index, sample in zip(indices, group):
        found = _mask_findings(sample, result.size)
        if found:
            result.masks[index] = found
    return result


def _mask_findings(sample: Sample, size: tuple[int, int]) -> list[tuple[str, str, dict]]:
    """Masks of one sample against the decoded image size (H, W)."""
    masks = sample.masks
    if masks is None:
        return []
    h, w = size
    out: list[tuple[str, str, dict]] = []
    try:
        count = len(masks)
    except TypeError:
        count = None
    if count is not None and count != sample.num_boxes:
        out.append(("mask count mismatch", f"{count} masks for {sample.num_boxes} boxes; there must be one mask per "
                    "box", {"masks": count, "boxes": sample.num_boxes}))
    if isinstance(masks, ArrayMasks):  # masks given as an array
        masks = masks.array
    if isinstance(masks, np.ndarray):
        if masks.ndim != 3 or masks.shape[1:] != (h, w):
            out.append(("mask size mismatch", f"rendered masks have shape {masks.shape} but the image is {w}x{h} "
                        "(W x H)", {"mask_shape": list(masks.shape), "image_size": [h, w]}))
        return out
    paths = getattr(masks, "paths", None)
    if paths is not None:  # one mask file per object
        for k, path in enumerate(paths):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                out.append(("missing mask", f"mask file of box {k} not found: {path}", {"box": k, "mask": path}))
                continue
            except OSError as exc:
                out.append(("unreadable mask", f"cannot read mask file {path}: {exc.strerror or exc}",
                            {"box": k, "mask": path}))
                continue
            try:
                mask = decode_mask(data, path=path)
            except ImageError as exc:
                out.append(("unreadable mask", f"{path}: {exc.reason}",
                            {"box": k, "mask": path}))
                continue
            if mask.shape != (h, w):
                out.append(("mask size mismatch", f"mask file {path} is {mask.shape[1]}x{mask.shape[0]} but the "
                            f"image is {w}x{h} (W x H); every mask must have the size of its image",
                            {"box": k, "mask": path, "mask_size": list(mask.shape), "image_size": [h, w]}))
        return out
    entries = getattr(masks, "entries", None)
    if entries is not None:  # polygons and RLE (COCO)
        for k, (kind, data) in enumerate(entries):
            if kind in ("rle", "urle"):
                mh, mw = (int(v) for v in data["size"])
                if (mh, mw) != (h, w):
                    out.append(("mask size mismatch", f"RLE of box {k} is {mw}x{mh} but the image is {w}x{h} "
                                "(W x H)", {"box": k, "mask_size": [mh, mw], "image_size": [h, w]}))
    declared = getattr(masks, "image_size", None)
    if declared is not None and tuple(declared) != (h, w) and not any(f[0] == "mask size mismatch" for f in out):
        mh, mw = declared
        out.append(("mask size mismatch", f"masks are rendered at {mw}x{mh} but the image is {w}x{h} (W x H)",
                    {"mask_size": [int(mh), int(mw)], "image_size": [h, w]}))
    return out


# ----------------------------------------------------------------------------------- findings
def _locate(sample: Sample, annotation_file: str | None) -> tuple[str | None, int | None]:
    meta = sample.meta
    file = meta.get("annotation_file") or meta.get("label_file") or annotation_file
    line = meta.get("line")
    return (None if file is None else str(file)), (None if line is None else int(line))


def _finding(kind: str, image: str | None, message: str, where: tuple[str | None, int | None],
             details: Mapping[str, Any] | None = None, severity: str | None = None) -> Finding:
    return Finding(kind, severity or FINDING_KINDS[kind], image, message, where[0], where[1], dict(details or {}))


def _image_findings(sample: Sample, result: _ImageResult, where, indices: list[int]) -> list[Finding]:
    out = []
    if len(indices) > 1:
        out.append(_finding("duplicate entry", sample.image, f"the image is listed by {len(indices)} samples; "
                            "their boxes are not merged", where, {"samples": indices}))
    if result.error is not None:
        kind, message = result.error
        out.append(_finding(kind, sample.image, message, where))
        return out
    h, w = result.size
    if result.orientation in (5, 6, 7, 8) and result.stored is not None and result.stored[0] != result.stored[1]:
        sh, sw = result.stored
        out.append(_finding("exif orientation", sample.image,
                            f"EXIF orientation {result.orientation} turns the stored {sw}x{sh} image into {w}x{h} "
                            "(W x H); boxes must be given in the turned frame", where,
                            {"orientation": result.orientation, "stored_size": [sh, sw], "image_size": [h, w]}))
    if sample.image_size is not None and tuple(sample.image_size) != (h, w):
        dh, dw = sample.image_size
        hint = " (width and height swapped: EXIF orientation?)" if (dh, dw) == (w, h) else ""
        out.append(_finding("image size mismatch", sample.image,
                            f"the annotation declares {dw}x{dh} but the decoded image is {w}x{h} (W x H){hint}",
                            where, {"declared_size": [dh, dw], "image_size": [h, w]}))
    return out


def _box_findings(sample: Sample, size: tuple[int, int] | None, where) -> list[Finding]:
    b = sample.boxes
    if not len(b):
        return []
    out = []
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    for k in np.flatnonzero((bw <= 0) | (bh <= 0)):
        out.append(_finding("zero-size box", sample.image, f"box {k} {_box(b[k])} has no area", where,
                            {"box": int(k), "xyxy": b[k].tolist()}))
    if size is not None:
        h, w = size
        for k in np.flatnonzero(outside_box_mask(b, size, _TOLERANCE)):
            out.append(_finding("box outside image", sample.image,
                                f"box {k} {_box(b[k])} exceeds the decoded image of {w}x{h} (W x H)", where,
                                {"box": int(k), "xyxy": b[k].tolist(), "image_size": [h, w]}))
    return out


def _class_findings(sample: Sample, class_names: Sequence[str], class_map: ClassMap | None, where) -> list[Finding]:
    labels = sample.labels
    if not len(labels):
        return []
    out = []
    known = np.ones(len(labels), bool)
    if class_names:
        known = (labels >= 0) & (labels < len(class_names))
        for k in np.flatnonzero(~known):
            out.append(_finding("unknown class", sample.image, f"box {k} has label {int(labels[k])}, outside the "
                                f"{len(class_names)} classes", where, {"box": int(k), "label": int(labels[k])}))
    if class_map is None:
        return out
    ids = sample.attributes.get("category_id")
    by_id = {s for s in (*class_map.sources, *class_map.drop) if isinstance(s, int)}
    missing: dict[str, list[int]] = {}
    for k in np.flatnonzero(known):
        label = int(labels[k])
        name = class_names[label] if class_names else str(label)
        source_id = int(ids[k]) if ids is not None else label
        if by_id and source_id in by_id:
            continue
        if name in class_map.sources or name in class_map.drop:
            continue
        missing.setdefault(name, []).append(int(k))
    severity = "error" if class_map.unknown == "error" else "warning"
    effect = {"error": "reading with this map fails", "drop": "its boxes will be dropped",
              "ignore": f"its boxes will get label {class_map.ignore_index} (ignored)"}[class_map.unknown]
    for name, boxes in missing.items():
        out.append(_finding("class not in class map", sample.image,
                            f"class {name!r} ({len(boxes)} boxes) is neither mapped nor dropped by class map "
                            f"{class_map.name!r}; {effect}", where, {"class": name, "boxes": boxes}, severity))
    return out


def _duplicate_findings(results: Mapping[str, _ImageResult], samples: list[Sample],
                        by_image: Mapping[str, list[int]], annotation_file: str | None) -> list[Finding]:
    groups: dict[str, list[str]] = {}
    for image, result in results.items():
        if result.sha256 is not None and result.error is None:
            groups.setdefault(result.sha256, []).append(image)
    out = []
    for digest, images in groups.items():
        if len(images) < 2:
            continue
        images = sorted(images, key=lambda p: by_image[p][0])
        first = samples[by_image[images[0]][0]]
        where = _locate(first, annotation_file)
        copies = [{"image": p, "line": samples[by_image[p][0]].meta.get("line")} for p in images]
        out.append(_finding("duplicate image", images[0],
                            f"{len(images)} files have the same content: {', '.join(images)}", where,
                            {"sha256": digest, "copies": copies}))
    return out


# ------------------------------------------------------------------------------------ helpers
def _box(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box.tolist()) + "]"


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool):
    if not progress or not hasattr(sys.stderr, "isatty") or not sys.stderr.isatty():
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="checking images", unit="img", leave=False)

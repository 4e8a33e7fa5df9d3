"""Write samples to TFRecord shards: parallel, resumable, and never stopped by one bad image.

Samples are assigned to shards in contiguous blocks (shard ``s`` of ``S`` holds samples
``[s * n // S, (s + 1) * n // S)``), so the assignment depends only on the sample list and
the shard count. Worker threads read and check the images ahead; one thread writes the records
in order, so any shard count works with any worker count and the output is the same bytes
whatever the number of workers. A shard is written to a temporary name, then its index, then
renamed, then recorded in the manifest: the manifest is the commit point, and a second run
rewrites only the shards the manifest does not vouch for.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import glob
import hashlib
import json
import logging
import math
import os
import re
import struct
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError
from ..imageio import DEFAULT_MAX_PIXELS, decode_image, probe_image
from ..records import Sample
from ..storage.local import LocalStorage
from .framing import encode_record, index_path, read_index, write_index
from .schema import encode_sample

__all__ = ["write_tfrecords", "WriteReport", "shard_names", "manifest_path", "SCHEMA_VERSION"]

logger = logging.getLogger(__name__)

#: Version of the Example layout written (recorded in the manifest and in shard fingerprints).
SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclasses.dataclass
class WriteReport:
    """What :func:`write_tfrecords` wrote and what it could not.

    Attributes:
        out_dir: the output folder.
        name: the shard name prefix (``train``).
        shards: paths of every shard, in order.
        manifest: path of the JSON manifest.
        num_samples: samples given.
        num_written: records in the shards (this run's and those kept from an earlier run).
        failed: (image, error message) of every sample that was not written.
        resumed_shards: shards kept from an earlier run instead of being rewritten.
    """

    out_dir: str
    name: str
    shards: list[str]
    manifest: str
    num_samples: int = 0
    num_written: int = 0
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    resumed_shards: int = 0

    @property
    def num_failed(self) -> int:
        return len(self.failed)

    @property
    def pattern(self) -> str:
        """A glob pattern matching exactly these shards (for :class:`TFRecordSource`)."""
        return os.path.join(self.out_dir, f"{self.name}-*-of-{len(self.shards):05d}.tfrecord")

    def __str__(self) -> str:
        text = (f"{self.num_written} of {self.num_samples} samples written to {len(self.shards)} shards in "
                f"{self.out_dir}")
        if self.resumed_shards:
            text += f" ({self.resumed_shards} shards kept from an earlier run)"
        if self.failed:
            image, error = self.failed[0]
            text += f"; {len(self.failed)} failed (first: {image}: {error}); see {self.manifest}"
        return text


def shard_names(name: str, num_shards: int) -> list[str]:
    """File names of the shards: ``train-00000-of-00016.tfrecord``, ..."""
    return [f"{name}-{s:05d}-of-{num_shards:05d}.tfrecord" for s in range(num_shards)]


def manifest_path(out_dir: str, name: str) -> str:
    """The manifest that :func:`write_tfrecords` writes beside the shards: ``<name>.manifest.json``."""
    return os.path.join(os.fspath(out_dir), f"{name}.manifest.json")


@dataclasses.dataclass(frozen=True)
class _Options:
    reencode: bool
    quality: int
    verify: bool
    max_pixels: int | None
    label_offset: int
    class_names: tuple[str, ...]


def _png_bit_depth(data: bytes) -> int | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 26 and data[12:16] == b"IHDR":
        return data[24]
    return None


def _encode(image: np.ndarray, fmt: str, quality: int, path: str) -> bytes:
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)]) if fmt == "jpeg" else (".png", [])
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover
        raise ImageError(f"OpenCV could not encode the image as {fmt.upper()}", path)
    return buf.tobytes()


def prepare_image(data: bytes, path: str, *, reencode: bool = False, quality: int = 95, verify: bool = True,
                  max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[bytes, str, tuple[int, int]]:
    """The bytes, format and (H, W) to store for one encoded image.

    JPEG and PNG (8-bit) are carried over as they are. Everything else is converted: other
    formats (BMP, TIFF, WebP, GIF, ...) and 16-bit PNGs become 8-bit PNG (lossless for 8-bit
    content), and JPEGs with an EXIF orientation are re-encoded upright as JPEG, because
    TensorFlow's decoders ignore EXIF and the boxes are in the upright frame.

    Args:
        data: the encoded image.
        path: its name, for error messages.
        reencode: re-encode every image as JPEG at ``quality``.
        quality: JPEG quality for re-encoded images.
        verify: decode carried-over images once (JPEGs at 1/8 scale) to refuse corrupt files.
        max_pixels: refuse images whose header declares more pixels.

    Returns:
        (bytes, "jpeg" or "png", (H, W) upright).

    Raises:
        ImageError: the image cannot be decoded.
    """
    info = probe_image(data)
    convert_to = None
    if reencode:
        convert_to = "jpeg"
    elif info is None:
        convert_to = "png"
    elif info.format == "png" and _png_bit_depth(data) == 16:
        convert_to = "png"
    elif info.format == "jpeg" and info.orientation != 1:
        convert_to = "jpeg"
    if convert_to is None:
        if verify:
            decode_image(data, reduce=8 if info.format == "jpeg" else 1, path=path, max_pixels=max_pixels, info=info)
        return data, info.format, info.size
    image = decode_image(data, path=path, max_pixels=max_pixels, info=info)
    return _encode(image, convert_to, quality, path), convert_to, image.shape[:2]


def _prepare_record(sample: Sample, storage: Any, options: _Options) -> bytes:
    data = storage.read(sample.image)
    encoded, fmt, size = prepare_image(data, sample.image, reencode=options.reencode, quality=options.quality,
                                       verify=options.verify, max_pixels=options.max_pixels)
    if sample.image_size is not None and tuple(sample.image_size) != tuple(size):
        raise ValueError(f"the annotation gives image_size {tuple(sample.image_size)} (H, W) but the image is "
                         f"{tuple(size)}; fix the annotation or drop image_size")
    if "filename" not in sample.meta:  # keep the original name when the key is a storage key
        sample = sample.replace(meta={**sample.meta, "filename": sample.image})
    return encode_record(encode_sample(sample, encoded, fmt, size, label_offset=options.label_offset,
                                       class_names=options.class_names))


def _fingerprint(samples: Sequence[Sample], options: _Options, shard: int, num_shards: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([SCHEMA_VERSION, dataclasses.asdict(options), shard, num_shards]).encode())
    for s in samples:
        h.update(s.image.encode("utf-8", "surrogatepass"))
        h.update(struct.pack("<q", s.num_boxes))
        h.update(s.boxes.tobytes())
        h.update(s.labels.tobytes())
        h.update(repr(s.image_size).encode())
        for key in sorted(s.attributes):
            h.update(key.encode())
            h.update(np.asarray(s.attributes[key]).tobytes() if np.asarray(s.attributes[key]).dtype != object
                     else repr(s.attributes[key].tolist()).encode())
        if s.keypoints is not None:
            h.update(s.keypoints.tobytes())
        h.update(b"m" if s.masks is not None else b"-")
    return h.hexdigest()


def _read_manifest(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (FileNotFoundError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _write_json(path: str, value: Any) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def write_tfrecords(
    samples: Sequence[Sample],
    out_dir: str | os.PathLike,
    name: str = "train",
    num_shards: int | None = None,
    workers: int | None = None,
    *,
    reencode: bool = False,
    quality: int = 95,
    verify: bool = True,
    storage: Any = None,
    class_names: Sequence[str] | None = None,
    label_offset: int = 1,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    overwrite: bool = False,
    progress: bool | None = None,
) -> WriteReport:
    """Write samples and their images to TFRecord shards in the Object Detection API layout.

    Every shard is ``<out_dir>/<name>-SSSSS-of-NNNNN.tfrecord`` with its record index beside it
    (``.tfrecord.index``) and ``<name>.manifest.json`` lists the shards and every failed sample.
    A sample whose image cannot be read, decoded or stored is left out and reported; it never
    stops the run. Run the same call again after an interruption: shards that the manifest
    records as complete (same samples, same options) are kept, the rest are written anew.

    Args:
        samples: the samples (a list, :class:`SampleList` or any sequence, e.g. a
            :class:`TFRecordSource` to re-shard). Boxes are XYXY pixels of the upright image.
        out_dir: output folder (created).
        name: shard name prefix; letters, digits and ``_.+-``.
        num_shards: number of shards (default: one per 1,000 samples, at least 1). Any count
            works with any number of workers; shards beyond the sample count are empty.
        workers: threads reading and checking images (default: cores, at most 8).
        reencode: re-encode every image as JPEG at ``quality`` (default: keep the bytes).
        quality: JPEG quality of re-encoded images (also for EXIF-rotated JPEGs).
        verify: decode each carried-over image once (JPEG at 1/8 scale) to keep corrupt files out.
        storage: where the images are read from (default: ``samples.storage`` if the source has
            one, else local files).
        class_names: names for ``image/object/class/text`` (default: ``samples.class_names``).
        label_offset: added to the labels on writing (1: the API's 1-based class ids).
        max_pixels: refuse images whose header declares more pixels.
        overwrite: rewrite every shard even if an earlier run completed it.
        progress: show a tqdm progress bar (default: when stderr is a terminal).

    Returns:
        A :class:`WriteReport`: shards, written count and every failed sample with its error.

    Raises:
        ValueError: bad ``name``, ``num_shards`` or ``workers``.
        OSError: the output folder cannot be written (a disk error stops the run; a partial
            shard keeps its temporary name and is rewritten by the next run).

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)          # doctest: +SKIP
        >>> report = write_tfrecords(toy.samples, "/tmp/toy-tfr", num_shards=2)     # doctest: +SKIP
        >>> report.num_written                                                      # doctest: +SKIP
        8
    """
    if not _NAME.match(name):
        raise ValueError(f"name must be letters, digits and _.+- only, got {name!r}")
    if not isinstance(samples, Sequence):
        samples = list(samples)
    n = len(samples)
    if num_shards is None:
        num_shards = max(1, math.ceil(n / 1000))
    if int(num_shards) < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    num_shards = int(num_shards)
    workers = int(workers) if workers is not None else min(8, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if storage is None:
        storage = getattr(samples, "storage", None) or LocalStorage()
    if class_names is None:
        class_names = getattr(samples, "class_names", ()) or ()
    options = _Options(reencode=bool(reencode), quality=int(quality), verify=bool(verify), max_pixels=max_pixels,
                       label_offset=int(label_offset), class_names=tuple(str(c) for c in class_names))
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    names = shard_names(name, num_shards)
    paths = [os.path.join(out_dir, f) for f in names]
    manifest_file = manifest_path(out_dir, name)
    bounds = [s * n // num_shards for s in range(num_shards + 1)]
    fingerprints = [_fingerprint(samples[bounds[s]:bounds[s + 1]], options, s, num_shards) for s in range(num_shards)]
    _warn_foreign_shards(out_dir, name, num_shards)

    previous = {} if overwrite else _read_manifest(manifest_file)
    old_shards = {e.get("file"): e for e in previous.get("shards", []) if isinstance(e, dict)}
    old_failed = [f for f in previous.get("failed", []) if isinstance(f, dict)]
    entries: list[dict[str, Any] | None] = [None] * num_shards
    failed: dict[int, list[dict[str, Any]]] = {}
    todo = []
    for s, path in enumerate(paths):
        entry = old_shards.get(names[s])
        if entry is not None and entry.get("fingerprint") == fingerprints[s] and _shard_is_whole(path, entry):
            entries[s] = entry
            failed[s] = [f for f in old_failed if f.get("shard") == s]
        else:
            todo.append(s)
            for stale in glob.glob(glob.escape(path) + ".tmp-*") + glob.glob(glob.escape(index_path(path)) + ".tmp-*"):
                os.remove(stale)
    resumed = num_shards - len(todo)
    if resumed:
        logger.info("%s: %d of %d shards already complete, writing %d", out_dir, resumed, num_shards, len(todo))

    def save_manifest() -> None:
        done = [e for e in entries if e is not None]
        _write_json(manifest_file, {
            "format": "seqloaders-tfrecord",
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "num_shards": num_shards,
            "num_samples": n,
            "num_written": sum(e["num_records"] for e in done),
            "num_failed": sum(len(v) for v in failed.values()),
            "complete": len(done) == num_shards,
            "label_offset": options.label_offset,
            "class_names": list(options.class_names),
            "options": {"reencode": options.reencode, "quality": options.quality, "verify": options.verify},
            "shards": done,
            "failed": [f for s in sorted(failed) for f in failed[s]],
        })

    jobs = [(s, i) for s in todo for i in range(bounds[s], bounds[s + 1])]
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _progress_bar(len(jobs), show, f"{name} → {out_dir}")
    try:
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="seqloaders-tfr") as pool:
            results = _ordered_map(pool, lambda job: _try_prepare(samples[job[1]], storage, options), jobs,
                                   window=4 * workers)
            for s in todo:
                failed[s] = []
                path = paths[s]
                tmp = f"{path}.tmp-{os.getpid()}"
                offsets: list[int] = []
                sizes: list[int] = []
                pos = 0
                with open(tmp, "wb") as f:
                    for i in range(bounds[s], bounds[s + 1]):
                        record, error = next(results)
                        if error is None:
                            f.write(record)
                            offsets.append(pos)
                            sizes.append(len(record))
                            pos += len(record)
                        else:
                            failed[s].append({"image": samples[i].image, "index": i, "shard": s, "error": error})
                        bar.update(1)
                    f.flush()
                    os.fsync(f.fileno())
                write_index(index_path(path), np.asarray(offsets, np.int64), np.asarray(sizes, np.int64))
                os.replace(tmp, path)
                entries[s] = {"file": names[s], "num_records": len(offsets), "num_bytes": pos,
                              "fingerprint": fingerprints[s]}
                save_manifest()
    finally:
        bar.close()
    if not todo:
        save_manifest()
    failures = [(f["image"], f["error"]) for s in sorted(failed) for f in failed[s]]
    report = WriteReport(out_dir=out_dir, name=name, shards=paths, manifest=manifest_file, num_samples=n,
                         num_written=sum(e["num_records"] for e in entries if e is not None), failed=failures,
                         resumed_shards=resumed)
    if failures:
        warnings.warn(f"{len(failures)} of {n} samples could not be written (first: {failures[0][0]}: "
                      f"{failures[0][1]}); every one is listed in {manifest_file}", UserWarning, stacklevel=2)
    return report


def _try_prepare(sample: Sample, storage: Any, options: _Options) -> tuple[bytes | None, str | None]:
    try:
        return _prepare_record(sample, storage, options), None
    except Exception as exc:  # noqa: BLE001 - every failure is reported in the manifest, never swallowed
        return None, f"{type(exc).__name__}: {exc}"


def _ordered_map(pool: concurrent.futures.Executor, fn, items: list, window: int):
    """``map(fn, items)`` on ``pool`` in order, with at most ``window`` results in flight."""
    pending: collections.deque = collections.deque()
    it = iter(items)
    for item in it:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            break
    while pending:
        yield pending.popleft().result()
        for item in it:
            pending.append(pool.submit(fn, item))
            break


def _shard_is_whole(path: str, entry: dict[str, Any]) -> bool:
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    if size != entry.get("num_bytes"):
        return False
    index = read_index(index_path(path), size)
    return index is not None and len(index[0]) == entry.get("num_records")


def _warn_foreign_shards(out_dir: str, name: str, num_shards: int) -> None:
    suffix = f"-of-{num_shards:05d}.tfrecord"
    others = sorted(p for p in glob.glob(os.path.join(glob.escape(out_dir), f"{glob.escape(name)}-*.tfrecord"))
                    if not p.endswith(suffix))
    if others:
        warnings.warn(f"{out_dir} already holds {len(others)} '{name}' shards of another shard count (e.g. "
                      f"{os.path.basename(others[0])}); a pattern like {name}-*.tfrecord would read both sets. "
                      "Remove them, or read with report.pattern", UserWarning, stacklevel=3)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool, desc: str):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc=desc, file=sys.stderr, dynamic_ncols=True)

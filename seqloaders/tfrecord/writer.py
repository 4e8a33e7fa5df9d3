"""Write samples to TFRecord shards: parallel, resumable, and never stopped by one bad image.

Samples are assigned to shards in contiguous blocks (shard ``s`` of ``S`` holds samples
``[s * n // S, (s + 1) * n // S)``), so the assignment depends only on the sample list and
the shard count. Worker threads read and check the images ahead; one thread writes the records
in order, so any shard count works with any worker count and the output is the same bytes
whatever the number of workers. A shard is written to a temporary name, then its index, then
renamed, then recorded in the manifest: the manifest is the commit point, and a second run
rewrites only the shards the manifest does not vouch for.

The output may be an fsspec URL (``s3://bucket/shards``, ``gs://...``): each shard and its index
are then written to a local temporary folder by the same code, and uploaded (the index, then the
shard; a PUT is atomic, so no reader sees a partial object), and the manifest is uploaded after
each shard, as it is rewritten locally. The objects are the bytes a local run writes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import errno
import glob
import hashlib
import json
import logging
import math
import os
import re
import struct
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError
from ..imageio import DEFAULT_MAX_PIXELS, decode_image, probe_image
from ..records import Sample
from ..storage import files
from ..storage.remote import default_storage
from .framing import encode_record, index_path, parse_index, read_index, write_index
from .schema import encode_sample

__all__ = ["SCHEMA_VERSION", "WriteReport", "manifest_path", "shard_bounds", "shard_names", "write_tfrecords"]

logger = logging.getLogger(__name__)

#: Version of the Example layout written (recorded in the manifest and in shard fingerprints).
SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclasses.dataclass
class WriteReport:
    """What :func:`write_tfrecords` wrote and what it could not.

    Attributes:
        out_dir: the output folder or URL.
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
        return files.join(self.out_dir, f"{self.name}-*-of-{len(self.shards):05d}.tfrecord")

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
    return files.join(os.fspath(out_dir), f"{name}.manifest.json")


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
    content), and images with an EXIF orientation are re-encoded upright in their own format,
    because TensorFlow's decoders ignore EXIF and the boxes are in the upright frame.

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
    elif info is None or (info.format == "png" and _png_bit_depth(data) == 16):
        convert_to = "png"
    elif info.orientation != 1:  # JPEG EXIF, or a PNG eXIf chunk: store the upright pixels
        convert_to = info.format
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


def _read_manifest(path: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    try:
        manifest = json.loads(files.read_bytes(path, storage_options).decode("utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _write_json(path: str, value: Any, storage_options: Mapping[str, Any] | None = None) -> None:
    """Write ``value`` as indented JSON, replacing the file or object whole."""
    text = json.dumps(value, indent=1, sort_keys=False) + "\n"
    files.write_bytes(path, text.encode("utf-8"), storage_options)


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
    storage_options: Mapping[str, Any] | None = None,
) -> WriteReport:
    """Write samples and their images to TFRecord shards in the Object Detection API layout.

    Every shard is ``<out_dir>/<name>-SSSSS-of-NNNNN.tfrecord`` with its record index beside it
    (``.tfrecord.index``) and ``<name>.manifest.json`` lists the shards and every failed sample.
    A sample whose image cannot be read, decoded or stored is left out and reported; it never
    stops the run. Run the same call again after an interruption: shards that the manifest
    records as complete (same samples, same options) are kept, the rest are written anew.

    ``out_dir`` may be an fsspec URL (``s3://bucket/shards``, ``gs://...``, needs the ``s3``
    extra or the store's fsspec backend): every shard is written to a local temporary folder
    (``$TMPDIR``; room for one shard), then its index and the shard are uploaded, each object
    in one atomic PUT, and the manifest after them. The objects are byte for byte the files a
    local run writes, and resuming works the same way.

    Args:
        samples: the samples (a list, :class:`SampleList` or any sequence, e.g. a
            :class:`TFRecordSource` to re-shard). Boxes are XYXY pixels of the upright image.
        out_dir: output folder (created) or URL (the bucket must exist).
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
        storage_options: options of the fsspec file system of a URL ``out_dir``
            (``{"endpoint_url": ..., "key": ..., "secret": ...}`` for S3); default: the
            environment. The images are read through ``storage``, which has its own.

    Returns:
        A :class:`WriteReport`: shards, written count and every failed sample with its error.

    Raises:
        ValueError: bad ``name``, ``num_shards`` or ``workers``.
        OSError: the output folder cannot be written (a disk error stops the run; a partial
            shard keeps its temporary name and is rewritten by the next run), or an upload
            failed after its retries (the next run rewrites that shard).
        FileNotFoundError: the bucket of a URL ``out_dir`` does not exist.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)          # doctest: +SKIP
        >>> report = write_tfrecords(toy.samples, "/tmp/toy-tfr", num_shards=2)     # doctest: +SKIP
        >>> report.num_written                                                      # doctest: +SKIP
        8
        >>> write_tfrecords(toy.samples, "s3://bucket/toy-tfr", num_shards=2)     # doctest: +SKIP
    """
    workers = int(workers) if workers is not None else min(8, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    plan = _plan_write(samples, out_dir, name, num_shards, reencode=reencode, quality=quality, verify=verify,
                       storage=storage, class_names=class_names, label_offset=label_offset, max_pixels=max_pixels,
                       overwrite=overwrite, storage_options=storage_options)
    samples, bounds = plan.samples, plan.bounds
    jobs = [(s, i) for s in plan.todo for i in range(bounds[s], bounds[s + 1])]
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _progress_bar(len(jobs), show, f"{plan.name} → {plan.out_dir}")
    try:
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="seqloaders-tfr") as pool:
            results = _ordered_map(pool, lambda job: _try_prepare(samples[job[1]], plan.storage, plan.options), jobs,
                                   window=4 * workers)
            for s in plan.todo:
                failed: list[dict[str, Any]] = []
                records = _shard_records(results, ((i, samples[i]) for i in range(bounds[s], bounds[s + 1])), s,
                                         failed, bar)
                num_records, num_bytes = _write_shard(plan.paths[s], records,
                                                      storage_options=plan.storage_options)
                plan.finish_shard(s, num_records, num_bytes, failed)
                plan.save_manifest()
    finally:
        bar.close()
    if not plan.todo:
        plan.save_manifest()
    return plan.report(stacklevel=2)


def shard_bounds(num_samples: int, num_shards: int) -> list[int]:
    """Where each shard starts: shard ``s`` holds samples ``[bounds[s], bounds[s + 1])``.

    Example:
        >>> shard_bounds(10, 3)
        [0, 3, 6, 10]
    """
    return [s * num_samples // num_shards for s in range(num_shards + 1)]


@dataclasses.dataclass
class _Plan:
    """One conversion, worked out before any record is written; shared by the local and Beam writers.

    ``entries[s]`` is the manifest entry of shard ``s`` once complete (kept from an earlier run or
    written now), ``failed[s]`` its failed samples, ``todo`` the shards still to write.
    ``bounds[-1]`` is the sample count, so a copy without ``samples`` still writes the manifest.
    """

    samples: Sequence[Sample]
    storage: Any
    options: _Options
    out_dir: str
    name: str
    num_shards: int
    names: list[str]
    paths: list[str]
    manifest_file: str
    bounds: list[int]
    fingerprints: list[str]
    entries: list[dict[str, Any] | None]
    failed: dict[int, list[dict[str, Any]]]
    todo: list[int]
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def finish_shard(self, shard: int, num_records: int, num_bytes: int, failed: list[dict[str, Any]]) -> None:
        """Record shard ``shard`` as complete (call :meth:`save_manifest` to commit it)."""
        self.failed[shard] = failed
        self.entries[shard] = {"file": self.names[shard], "num_records": num_records, "num_bytes": num_bytes,
                               "fingerprint": self.fingerprints[shard]}

    def manifest(self) -> dict[str, Any]:
        """The manifest's content: the complete shards and every failed sample, in shard order."""
        done = [e for e in self.entries if e is not None]
        options = self.options
        return {
            "format": "seqloaders-tfrecord",
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "num_shards": self.num_shards,
            "num_samples": self.bounds[-1],
            "num_written": sum(e["num_records"] for e in done),
            "num_failed": sum(len(v) for v in self.failed.values()),
            "complete": len(done) == self.num_shards,
            "label_offset": options.label_offset,
            "class_names": list(options.class_names),
            "options": {"reencode": options.reencode, "quality": options.quality, "verify": options.verify},
            "shards": done,
            "failed": [f for s in sorted(self.failed) for f in self.failed[s]],
        }

    def save_manifest(self) -> None:
        _write_json(self.manifest_file, self.manifest(), self.storage_options)

    def report(self, stacklevel: int = 2) -> WriteReport:
        """The :class:`WriteReport`; warns once if any sample failed."""
        n = self.bounds[-1]
        failures = [(f["image"], f["error"]) for s in sorted(self.failed) for f in self.failed[s]]
        report = WriteReport(out_dir=self.out_dir, name=self.name, shards=list(self.paths),
                             manifest=self.manifest_file, num_samples=n,
                             num_written=sum(e["num_records"] for e in self.entries if e is not None),
                             failed=failures, resumed_shards=self.num_shards - len(self.todo))
        if failures:
            warnings.warn(f"{len(failures)} of {n} samples could not be written (first: {failures[0][0]}: "
                          f"{failures[0][1]}); every one is listed in {self.manifest_file}", UserWarning,
                          stacklevel=stacklevel + 1)
        return report


def _plan_write(samples: Sequence[Sample], out_dir: str | os.PathLike, name: str, num_shards: int | None, *,
                reencode: bool, quality: int, verify: bool, storage: Any, class_names: Sequence[str] | None,
                label_offset: int, max_pixels: int | None, overwrite: bool,
                storage_options: Mapping[str, Any] | None = None) -> _Plan:
    """Check the arguments, create ``out_dir``, and find the shards an earlier run already completed."""
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
    if storage is None:
        storage = default_storage(samples)
    if class_names is None:
        class_names = getattr(samples, "class_names", ()) or ()
    options = _Options(reencode=bool(reencode), quality=int(quality), verify=bool(verify), max_pixels=max_pixels,
                       label_offset=int(label_offset), class_names=tuple(str(c) for c in class_names))
    out_dir = os.fspath(out_dir)
    storage_options = dict(storage_options or {})
    remote = files.is_url(out_dir)
    if remote:
        files.invalidate_cache(out_dir, storage_options)  # other processes may have written there since
    else:
        os.makedirs(out_dir, exist_ok=True)
    names = shard_names(name, num_shards)
    paths = [files.join(out_dir, f) for f in names]
    manifest_file = manifest_path(out_dir, name)
    bounds = shard_bounds(n, num_shards)
    fingerprints = [_fingerprint(samples[bounds[s]:bounds[s + 1]], options, s, num_shards) for s in range(num_shards)]
    _warn_foreign_shards(out_dir, name, num_shards, storage_options)

    previous = {} if overwrite else _read_manifest(manifest_file, storage_options)
    old_shards = {e.get("file"): e for e in previous.get("shards", []) if isinstance(e, dict)}
    old_failed = [f for f in previous.get("failed", []) if isinstance(f, dict)]
    entries: list[dict[str, Any] | None] = [None] * num_shards
    failed: dict[int, list[dict[str, Any]]] = {}
    candidates = [s for s in range(num_shards)
                  if (old_shards.get(names[s]) or {}).get("fingerprint") == fingerprints[s]]
    if remote and len(candidates) > 1:  # two requests per shard: many at a time
        with concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="seqloaders-resume") as pool:
            whole = list(pool.map(lambda s: _shard_is_whole(paths[s], old_shards[names[s]], storage_options),
                                  candidates))
    else:
        whole = [_shard_is_whole(paths[s], old_shards[names[s]], storage_options) for s in candidates]
    complete = {s for s, ok in zip(candidates, whole) if ok}
    todo = []
    for s, path in enumerate(paths):
        if s in complete:
            entries[s] = old_shards[names[s]]
            failed[s] = [f for f in old_failed if f.get("shard") == s]
        else:
            todo.append(s)
            if remote:  # nothing temporary is ever written to a store
                continue
            for stale in glob.glob(glob.escape(path) + ".tmp-*") + glob.glob(glob.escape(index_path(path)) + ".tmp-*"):
                os.remove(stale)
    resumed = num_shards - len(todo)
    if resumed:
        logger.info("%s: %d of %d shards already complete, writing %d", out_dir, resumed, num_shards, len(todo))
    return _Plan(samples=samples, storage=storage, options=options, out_dir=out_dir, name=name,
                 num_shards=num_shards, names=names, paths=paths, manifest_file=manifest_file, bounds=bounds,
                 fingerprints=fingerprints, entries=entries, failed=failed, todo=todo,
                 storage_options=storage_options)


def _shard_records(results: Iterator[tuple[bytes | None, str | None]], samples: Iterable[tuple[int, Sample]],
                   shard: int, failed: list[dict[str, Any]], bar: Any = None) -> Iterator[bytes]:
    """The records of one shard, in sample order, from ``(record, error)`` results (one per sample).

    Args:
        results: :func:`_try_prepare` results, consumed one per sample.
        samples: (index in the whole sample list, sample) of the shard's samples.
        shard: the shard number, for the failure entries.
        failed: receives ``{"image", "index", "shard", "error"}`` for every failed sample.
        bar: a progress bar, updated once per sample.
    """
    for i, sample in samples:
        record, error = next(results)
        if error is None:
            yield record
        else:
            failed.append({"image": sample.image, "index": i, "shard": shard, "error": error})
        if bar is not None:
            bar.update(1)


def _write_shard(path: str, records: Iterable[bytes], tmp: str | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """Write framed ``records`` to ``tmp``, fsync, write the index, rename to ``path``.

    For a URL ``path``, the same is done in a local temporary folder (``tmp`` is ignored), then
    the index and the shard are uploaded, in that order, each replacing its object whole.

    Returns:
        (number of records, bytes written).
    """
    if files.is_url(path):
        with tempfile.TemporaryDirectory(prefix="seqloaders-shard-") as folder:
            local = os.path.join(folder, files.basename(path))
            result = _write_local_shard(local, records, f"{local}.tmp", sync=False)
            files.upload(index_path(local), index_path(path), storage_options)
            files.upload(local, path, storage_options)
        return result
    return _write_local_shard(path, records, tmp)


def _write_local_shard(path: str, records: Iterable[bytes], tmp: str | None = None,
                       sync: bool = True) -> tuple[int, int]:
    tmp = tmp or f"{path}.tmp-{os.getpid()}"
    offsets: list[int] = []
    sizes: list[int] = []
    pos = 0
    with open(tmp, "wb") as f:
        for record in records:
            f.write(record)
            offsets.append(pos)
            sizes.append(len(record))
            pos += len(record)
        f.flush()
        if sync:
            os.fsync(f.fileno())
    write_index(index_path(path), np.asarray(offsets, np.int64), np.asarray(sizes, np.int64))
    os.replace(tmp, path)
    return len(offsets), pos



def _try_prepare(sample: Sample, storage: Any, options: _Options) -> tuple[bytes | None, str | None]:
    try:
        return _prepare_record(sample, storage, options), None
    except Exception as exc:
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


def _shard_is_whole(path: str, entry: dict[str, Any], storage_options: Mapping[str, Any] | None = None) -> bool:
    """True when the shard (file or object) has the size the manifest gives and an index that
    ends there with the manifest's record count."""
    try:
        size = files.size(path, storage_options)
    except OSError:
        return False
    if size != entry.get("num_bytes"):
        return False
    if files.is_url(path):
        try:
            index = parse_index(files.read_bytes(index_path(path), storage_options), size)
        except OSError:  # missing, or unreachable after the retries: written anew
            return False
    else:
        index = read_index(index_path(path), size)
    return index is not None and len(index[0]) == entry.get("num_records")


def _warn_foreign_shards(out_dir: str, name: str, num_shards: int,
                         storage_options: Mapping[str, Any] | None = None) -> None:
    suffix = f"-of-{num_shards:05d}.tfrecord"
    if files.is_url(out_dir):  # shard names never hold glob characters; a bucket folder rarely does
        try:
            found = files.glob(files.join(out_dir, f"{name}-*.tfrecord"), storage_options)
        except FileNotFoundError as exc:  # an empty prefix lists as nothing: the bucket itself is missing
            raise FileNotFoundError(errno.ENOENT, "no such bucket to write into; create the bucket first, or "
                                                  "check the URL", out_dir) from exc
    else:
        found = glob.glob(os.path.join(glob.escape(out_dir), f"{glob.escape(name)}-*.tfrecord"))
    others = sorted(p for p in found if not p.endswith(suffix))
    if others:
        warnings.warn(f"{out_dir} already holds {len(others)} '{name}' shards of another shard count (e.g. "
                      f"{files.basename(others[0])}); a pattern like {name}-*.tfrecord would read both sets. "
                      "Remove them, or read with report.pattern", UserWarning, stacklevel=4)


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

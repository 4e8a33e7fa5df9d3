"""A conversion to TFRecord shards worked out before any record is written: which samples go to which
shard, which shards an earlier run completed, and the manifest that commits each one.

Shared by the local writer (:func:`~seqloaders.tfrecord.write_tfrecords`) and the Beam writer
(:func:`~seqloaders.tfrecord.write_tfrecords_beam`), so both write the same shards and can finish
each other's runs. Samples are assigned in contiguous blocks (:func:`shard_bounds`); each
shard has a fingerprint of its samples and options, and a shard is kept on resuming only when
the manifest vouches for it with the same fingerprint and its file and index are whole.
"""

from __future__ import annotations

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
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..records import Sample
from ..storage import files
from ..storage.remote import default_storage
from .framing import index_path, parse_index, read_index
from .shard import RecordOptions

__all__ = ["SCHEMA_VERSION", "Plan", "WriteReport", "manifest_path", "plan_write", "shard_bounds", "shard_names"]

logger = logging.getLogger("seqloaders.tfrecord.writer")  # the name it logged under before the split

#: Version of the Example layout written (recorded in the manifest and in shard fingerprints).
SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclasses.dataclass
class WriteReport:
    """What :func:`~seqloaders.tfrecord.write_tfrecords` wrote and what it could not.

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
    """The manifest that :func:`~seqloaders.tfrecord.write_tfrecords` writes beside the shards:
    ``<name>.manifest.json``."""
    return files.join(os.fspath(out_dir), f"{name}.manifest.json")


def shard_bounds(num_samples: int, num_shards: int) -> list[int]:
    """Where each shard starts: shard ``s`` holds samples ``[bounds[s], bounds[s + 1])``.

    Example:
        >>> shard_bounds(10, 3)
        [0, 3, 6, 10]
    """
    return [s * num_samples // num_shards for s in range(num_shards + 1)]


def _fingerprint(samples: Sequence[Sample], options: RecordOptions, shard: int, num_shards: int) -> str:
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


@dataclasses.dataclass
class Plan:
    """One conversion, worked out before any record is written; shared by the local and Beam writers.

    ``entries[s]`` is the manifest entry of shard ``s`` once complete (kept from an earlier run or
    written now), ``failed[s]`` its failed samples, ``todo`` the shards still to write.
    ``bounds[-1]`` is the sample count, so a copy without ``samples`` still writes the manifest.
    """

    samples: Sequence[Sample]
    storage: Any
    options: RecordOptions
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


def plan_write(samples: Sequence[Sample], out_dir: str | os.PathLike, name: str, num_shards: int | None, *,
               reencode: bool, quality: int, verify: bool, storage: Any, class_names: Sequence[str] | None,
               label_offset: int, max_pixels: int | None, overwrite: bool,
               storage_options: Mapping[str, Any] | None = None) -> Plan:
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
    options = RecordOptions(reencode=bool(reencode), quality=int(quality), verify=bool(verify), max_pixels=max_pixels,
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
    return Plan(samples=samples, storage=storage, options=options, out_dir=out_dir, name=name,
                 num_shards=num_shards, names=names, paths=paths, manifest_file=manifest_file, bounds=bounds,
                 fingerprints=fingerprints, entries=entries, failed=failed, todo=todo,
                 storage_options=storage_options)


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

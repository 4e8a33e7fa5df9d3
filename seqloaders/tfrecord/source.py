"""Random access to the samples of TFRecord shards: ``TFRecordSource`` and its ``TFRecordStorage``.

A source is a ``Sequence[Sample]``: every Sequence of the library takes it in place of a list of
samples, and finds the image bytes through its ``storage`` attribute. A sample's ``image`` is
the storage key ``"<shard path>#<record number>"``; the name the image had when the shards were
written is in ``sample.meta["filename"]``.

Nothing here imports TensorFlow: records are framed and checked in :mod:`.framing` and parsed
with plain protobuf (:mod:`.example`). File handles open lazily in each process, so a source
pickles cheaply into worker processes.
"""

from __future__ import annotations

import glob
import json
import os
import re
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

from ..records import Sample
from ..storage import files
from ..storage.remote import FsspecStorage
from .framing import RecordReader, index_path, read_index, scan_records, write_index
from .schema import decode_sample

__all__ = ["TFRecordSource", "TFRecordStorage", "expand_shards", "find_manifest"]

_KEY_SEPARATOR = "#"
_SHARD_NAME = re.compile(r"^(.*)-\d{5}-of-\d{5}\.tfrecord$")


def expand_shards(pattern: str | os.PathLike | Sequence[str | os.PathLike],
                  storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Shard paths (or URLs) from a glob pattern, a folder, a path or a list of them, sorted per pattern.

    Raises:
        FileNotFoundError: nothing matches.
    """
    if isinstance(pattern, (str, os.PathLike)):
        patterns = [os.fspath(pattern)]
    else:
        patterns = [os.fspath(p) for p in pattern]
    paths: list[str] = []
    for p in patterns:
        if files.is_url(p):
            if glob.has_magic(p.split("://", 1)[-1]):
                found = files.glob(p, storage_options)
            elif files.is_dir(p, storage_options):
                found = files.glob(files.join(p, "*.tfrecord"), storage_options)
            else:
                found = [p] if files.exists(p, storage_options) else []
        elif os.path.isdir(p):
            found = sorted(glob.glob(os.path.join(glob.escape(p), "*.tfrecord")))
        elif glob.has_magic(p):
            found = sorted(glob.glob(p))
        else:
            found = [p] if os.path.exists(p) else []
        if not found:
            raise FileNotFoundError(f"no TFRecord shards match {p!r}; check the path, e.g. 'out/train-*.tfrecord'")
        paths.extend(found)
    return paths


class _Cache(threading.local):
    key: str | None = None
    data: bytes | None = None


class TFRecordStorage:
    """``read(key) -> bytes`` for keys ``"<shard path>#<record number>"``: the record's image bytes.

    It shares its readers with the :class:`TFRecordSource` it belongs to. The record that a thread
    parsed last for its sample is remembered, so a Sequence that asks for a sample and then its
    bytes reads and checks the record once.

    Example:
        >>> source = TFRecordSource("out/train-*.tfrecord")          # doctest: +SKIP
        >>> source.storage.read(source[0].image)[:2]                  # doctest: +SKIP
        b'\\xff\\xd8'
    """

    def __init__(self, source: TFRecordSource):
        self._source = source

    def read(self, key: str) -> bytes:
        """The encoded image of the record named by ``key``.

        Raises:
            FileNotFoundError: ``key`` names no shard of this source.
            IndexError: the record number is out of range.
            RecordError: the record is corrupt.
        """
        cache = self._source._cache
        if cache.key == key and cache.data is not None:
            return cache.data
        shard, record = self._source._locate_key(key)
        _, data = self._source._read(shard, record)
        return data

    def __repr__(self) -> str:
        return f"TFRecordStorage({len(self._source._paths)} shards)"


class TFRecordSource(Sequence):
    """The samples of TFRecord shards as a random-access sequence.

    Each shard's record offsets come from its ``.index`` file (written by
    :func:`write_tfrecords`; DALI's ``tfrecord2idx`` files are the same format), or from a scan
    of the shard when it has none or the index does not match, as for files written by other
    tools. Every record read is CRC-checked; a corrupt record raises
    :class:`~seqloaders.errors.RecordError` naming the shard and the record number.

    Args:
        pattern: a glob pattern (``"out/train-*.tfrecord"``), a folder, a shard path, or a list.
        label_offset: subtracted from stored class ids (1: the Object Detection API's 1-based ids;
            use the ``label_offset`` the shards were written with, 0 if they hold 0-based ids).
        check_crc: verify the CRCs of every record read.
        save_index: write the ``.index`` of shards that lack one (the folder must be writable;
            ignored for URLs).
        storage_options: options of the fsspec file system when the shards are URLs
            (``s3://bucket/shards/train-*.tfrecord``); default: the environment.
        remote: the :class:`~seqloaders.storage.FsspecStorage` that reads records of remote
            shards (one ranged read per record, cached and retried); default:
            ``FsspecStorage(storage_options=storage_options)``.

    Attributes:
        storage: a :class:`TFRecordStorage` for the image bytes (``DetectionSequence`` uses it).
        class_names: from the manifest when the shards have one, else ().
        shards: the shard paths.

    Raises:
        FileNotFoundError: no shard matches ``pattern``.
        RecordError: a shard without a valid index is truncated or has a corrupt header.

    Example:
        >>> import seqloaders as sl
        >>> source = sl.TFRecordSource("out/train-*.tfrecord")                    # doctest: +SKIP
        >>> seq = sl.DetectionSequence(source, batch_size=8, image_size=(224, 224),
        ...                            encoder=sl.GridEncoder(grid_size=7))     # doctest: +SKIP
    """

    def __init__(
        self,
        pattern: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        label_offset: int | None = None,
        check_crc: bool = True,
        save_index: bool = False,
        storage_options: Mapping[str, Any] | None = None,
        remote: Any = None,
    ):
        self._paths = expand_shards(pattern, storage_options)
        manifest = find_manifest(self._paths, storage_options)
        if label_offset is None:
            label_offset = int(manifest.get("label_offset", 1))
        self.label_offset = int(label_offset)
        self.class_names = tuple(manifest.get("class_names", ()))
        self.check_crc = check_crc
        self._readers: list[RecordReader] = []
        for path in self._paths:
            if files.is_url(path):
                if remote is None:
                    remote = FsspecStorage(storage_options=storage_options)
                self._readers.append(_remote_reader(path, remote, storage_options, check_crc))
                continue
            size = os.path.getsize(path)
            index = read_index(index_path(path), size)
            if index is None:
                index = scan_records(path)
                if save_index:
                    write_index(index_path(path), *index)
            self._readers.append(RecordReader(path, index[0], index[1], check_crc))
        counts = np.array([len(r) for r in self._readers], np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self._by_path = {path: k for k, path in enumerate(self._paths)}
        self._indices: np.ndarray | None = None  # a view's selection of global record numbers
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._cache = _Cache()
        self.storage = TFRecordStorage(self)

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_cache"], state["storage"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_runtime()

    # -- Sequence ---------------------------------------------------------------------------------

    @property
    def shards(self) -> list[str]:
        return list(self._paths)

    def __len__(self) -> int:
        return int(self._starts[-1]) if self._indices is None else len(self._indices)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> TFRecordSource: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.subset(np.arange(len(self))[index])
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sample index {index} out of range for {n} samples")
        global_index = i if self._indices is None else int(self._indices[i])
        shard = int(np.searchsorted(self._starts, global_index, side="right")) - 1
        record = global_index - int(self._starts[shard])
        key = f"{self._paths[shard]}{_KEY_SEPARATOR}{record}"
        sample, data = self._read(shard, record, key)
        cache = self._cache
        cache.key, cache.data = key, data
        return sample

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def subset(self, indices: Sequence[int] | np.ndarray) -> TFRecordSource:
        """A source with only the samples at ``indices`` (positions in this source), sharing readers."""
        positions = np.asarray(indices, np.int64)
        if positions.size and (positions.min() < -len(self) or positions.max() >= len(self)):
            raise IndexError(f"subset indices out of range for {len(self)} samples")
        positions = positions % max(len(self), 1)
        view = object.__new__(TFRecordSource)
        view.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("_cache", "storage")})
        view._indices = positions if self._indices is None else self._indices[positions]
        view._init_runtime()
        return view

    # -- records ----------------------------------------------------------------------------------

    def _read(self, shard: int, record: int, key: str | None = None) -> tuple[Sample, bytes]:
        reader = self._readers[shard]
        data = reader.read(record)
        if key is None:
            key = f"{self._paths[shard]}{_KEY_SEPARATOR}{record}"
        return decode_sample(data, key, path=reader.path, record=record, label_offset=self.label_offset)

    def _locate_key(self, key: str) -> tuple[int, int]:
        path, sep, number = key.rpartition(_KEY_SEPARATOR)
        shard = self._by_path.get(path) if sep else None
        if shard is None or not number.isdigit():
            raise FileNotFoundError(f"{key!r} is not a record of this TFRecordSource; keys look like "
                                    f"'{self._paths[0]}{_KEY_SEPARATOR}0'")
        return shard, int(number)

    def read_record(self, index: int) -> tuple[Sample, bytes]:
        """The sample at ``index`` and its encoded image bytes, from one read of the record."""
        sample = self[index]
        return sample, self._cache.data

    def close(self) -> None:
        """Close the file handles of this process (reads reopen them)."""
        for reader in self._readers:
            reader.close()

    def __repr__(self) -> str:
        return f"TFRecordSource({len(self)} samples in {len(self._paths)} shards, first={self._paths[0]!r})"


def find_manifest(paths: list[str], storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest written beside the shards, if any (for label_offset and class names).

    Args:
        paths: the shard paths or URLs; the manifest is looked for beside the first
            (``train-00000-of-00016.tfrecord`` → ``train.manifest.json``).
        storage_options: fsspec options for URLs.

    Returns:
        The manifest's content, or ``{}`` when there is none (a warning when it is not valid JSON).
    """
    first = files.basename(paths[0])
    match = _SHARD_NAME.match(first)
    name = match.group(1) if match else os.path.splitext(first)[0]
    path = files.join(files.dirname(paths[0]), f"{name}.manifest.json")
    try:
        manifest = json.loads(files.read_bytes(path, storage_options).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        warnings.warn(f"ignoring {path}: not valid JSON", UserWarning, stacklevel=3)
        return {}
    return manifest if isinstance(manifest, dict) else {}


class _RemoteRecordReader(RecordReader):
    """A :class:`RecordReader` of a shard in an object store: one ranged (cached) read per record."""

    def __init__(self, path: str, offsets: np.ndarray, sizes: np.ndarray, check_crc: bool, remote: Any):
        super().__init__(path, offsets, sizes, check_crc)
        self.remote = remote

    def _pread(self, size: int, offset: int) -> bytes:
        return self.remote.read_range(self.path, offset, offset + size)


def _remote_reader(path: str, remote: Any, storage_options: Mapping[str, Any] | None,
                   check_crc: bool) -> _RemoteRecordReader:
    """A reader of the shard at URL ``path``, indexed by its ``.index`` object (written locally by
    :func:`write_tfrecords` and uploaded), or by a scan of a downloaded copy when that is missing
    or stale."""
    import tempfile

    size = files.size(path, storage_options)
    index = None
    try:
        data = files.read_bytes(index_path(path), storage_options)
    except FileNotFoundError:
        data = None
    with tempfile.TemporaryDirectory(prefix="seqloaders-") as tmp:
        if data is not None:
            local_index = os.path.join(tmp, "shard.index")
            with open(local_index, "wb") as f:
                f.write(data)
            index = read_index(local_index, size)
        if index is None:  # no usable index: scan a local copy (errors name the URL)
            local_shard = os.path.join(tmp, "shard.tfrecord")
            files.download(path, local_shard, storage_options)
            with open(local_shard, "rb") as f:
                index = scan_records(path, f)
    return _RemoteRecordReader(path, index[0], index[1], check_crc, remote)

"""Images in object stores (S3, GCS, Azure, HTTP ...) through fsspec, with a local read-through cache.

:class:`FsspecStorage` is the :class:`~seqloaders.Storage` of remote datasets: ``read(key)``
fetches an object (retrying transient errors with back-off) and keeps a copy in a size-bounded
on-disk cache, so the second epoch reads from local disk. Each cache entry stores the object's
length and SHA-256; an entry that no longer matches (a torn write, a flipped bit) is dropped and
fetched again. The least recently used entries are evicted when the cache outgrows its bound.

Objects are assumed not to change while they are cached (datasets are written once); after
replacing objects in place, call :meth:`FsspecStorage.clear_cache` or use another ``cache_dir``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from . import files
from .local import LocalStorage

__all__ = ["DEFAULT_CACHE_BYTES", "FsspecStorage", "attach_storage", "default_cache_dir", "default_storage"]

logger = logging.getLogger(__name__)

#: Default bound of the on-disk cache: 4 GiB.
DEFAULT_CACHE_BYTES = 4 << 30

_MAGIC = b"SLCACHE1"
_HEAD = struct.Struct("<8s32sQI")  # magic, sha256 of the data, data length, key length


def default_cache_dir() -> str:
    """``$SEQLOADERS_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqloaders/objects``, else
    ``~/.cache/seqloaders/objects``."""
    env = os.environ.get("SEQLOADERS_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "seqloaders", "objects")


class _DiskCache:
    """A size-bounded folder of verified entries, shared safely by threads and processes.

    An entry is one file: a header (magic, SHA-256 and length of the data, the key) and the data.
    Writes go to a temporary name and are renamed into place; a hit refreshes the file's
    modification time, which orders the least-recently-used eviction.
    """

    def __init__(self, folder: str, max_bytes: int):
        self.folder = folder
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._bytes: int | None = None  # this process's estimate of the folder's size
        self.stats = {"hits": 0, "misses": 0, "corrupt": 0, "evicted": 0}

    def _path(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self.folder, digest[:2], digest[2:] + ".entry")

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            with self._lock:
                self.stats["misses"] += 1
            return None
        data = self._verify(raw, key)
        if data is None:
            logger.warning("cache entry %s for %s is corrupt; dropping it and fetching the object again", path, key)
            self._remove(path, len(raw))
            with self._lock:
                self.stats["corrupt"] += 1
                self.stats["misses"] += 1
            return None
        try:
            os.utime(path)  # most recently used
        except OSError:
            pass
        with self._lock:
            self.stats["hits"] += 1
        return data

    @staticmethod
    def _verify(raw: bytes, key: str) -> bytes | None:
        if len(raw) < _HEAD.size:
            return None
        magic, digest, length, key_length = _HEAD.unpack_from(raw)
        start = _HEAD.size + key_length
        if magic != _MAGIC or len(raw) != start + length:
            return None
        if raw[_HEAD.size:start] != key.encode("utf-8", "surrogatepass"):
            return None
        data = raw[start:]
        if hashlib.sha256(data).digest() != digest:
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        encoded_key = key.encode("utf-8", "surrogatepass")
        total = _HEAD.size + len(encoded_key) + len(data)
        if total > self.max_bytes:
            return
        path = self._path(key)
        tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(_HEAD.pack(_MAGIC, hashlib.sha256(data).digest(), len(data), len(encoded_key)))
                f.write(encoded_key)
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk must not stop training: read uncached
            logger.warning("cannot write the cache entry %s: %s", path, exc)
            try:
                os.remove(tmp)
            except OSError:
                pass
            return
        with self._lock:
            if self._bytes is None:
                self._bytes = self._scan_size()
            else:
                self._bytes += total
            if self._bytes > self.max_bytes:
                self._evict()

    def _entries(self) -> list[tuple[float, int, str]]:
        out = []
        try:
            subdirs = list(os.scandir(self.folder))
        except OSError:
            return out
        for sub in subdirs:
            if not sub.is_dir():
                continue
            try:
                for entry in os.scandir(sub.path):
                    if entry.name.endswith(".entry"):
                        try:
                            st = entry.stat()
                        except OSError:
                            continue
                        out.append((st.st_mtime, st.st_size, entry.path))
            except OSError:
                continue
        return out

    def _scan_size(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _evict(self) -> None:
        """Delete the least recently used entries until the folder is at 90 % of its bound."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        target = int(self.max_bytes * 0.9)
        for _, size, path in entries:
            if total <= target:
                break
            try:
                os.remove(path)
                self.stats["evicted"] += 1
            except OSError:
                pass
            total -= size
        self._bytes = total

    def _remove(self, path: str, size: int) -> None:
        try:
            os.remove(path)
        except OSError:
            return
        with self._lock:
            if self._bytes is not None:
                self._bytes = max(0, self._bytes - size)

    def size(self) -> int:
        return self._scan_size()

    def clear(self) -> None:
        with self._lock:
            for _, _, path in self._entries():
                try:
                    os.remove(path)
                except OSError:
                    pass
            self._bytes = 0


class FsspecStorage:
    """Reads keys from an object store (any fsspec URL), with retries and a local cache.

    A key is a URL (``s3://bucket/images/a.jpg``), or a path relative to ``root``. Without a
    ``root``, a key that is not a URL is read from the local disk, so one storage serves a mix.

    Args:
        root: URL prefix that relative keys are joined to (``"s3://bucket/wider/images"``).
        storage_options: options of the fsspec file system (``{"endpoint_url": ..., "key": ...,
            "secret": ...}`` for S3); default: the environment (``AWS_ENDPOINT_URL``,
            ``AWS_ACCESS_KEY_ID`` ...) and the user's config files.
        cache_dir: folder of the read-through cache; default: :func:`default_cache_dir`.
        cache_bytes: bound of the cache in bytes (least recently used entries are evicted);
            0 turns the cache off.
        retries: retries of a transient error (connection reset, timeout, HTTP 429/5xx,
            throttling); a missing object or a refused permission is never retried.
        backoff: first wait before a retry, in seconds; it doubles every retry.
        filesystem: an fsspec file system to use for every URL instead of the one the scheme
            names (a custom or wrapped file system).

    Raises:
        ImportError: (on the first read of a URL) fsspec or the store's client is missing; the
            message says ``pip install "seqloaders[s3]"``.

    Example:
        >>> storage = FsspecStorage("s3://bucket/wider/images", cache_bytes=10 << 30)  # doctest: +SKIP
        >>> storage.read("0--Parade/0_Parade_marchingband_1_849.jpg")[:2]              # doctest: +SKIP
        b'\\xff\\xd8'
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        storage_options: Mapping[str, Any] | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        retries: int = files.DEFAULT_RETRIES,
        backoff: float = files.DEFAULT_BACKOFF,
        filesystem: Any = None,
    ):
        self.root = None if root is None else os.fspath(root)
        self.storage_options = dict(storage_options or {})
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
        self.cache_bytes = int(cache_bytes)
        if self.cache_bytes < 0 or int(retries) < 0 or backoff < 0:
            raise ValueError(f"cache_bytes, retries and backoff must be >= 0, got {cache_bytes}, {retries}, {backoff}")
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.filesystem = filesystem
        self._endpoint = self._endpoint_identity()
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._cache = _DiskCache(self.cache_dir, self.cache_bytes) if self.cache_bytes > 0 else None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_cache"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def _endpoint_identity(self) -> str:
        """Where ``s3://bucket/key`` points: part of the cache key, so two servers never share entries."""
        options = self.storage_options
        endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get("endpoint_url")
        if endpoint is None and self.filesystem is None:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if self.filesystem is not None:
            endpoint = f"{type(self.filesystem).__name__}:{endpoint or ''}"
        return str(endpoint or "")

    # -- Storage ----------------------------------------------------------------------------------

    def url(self, key: str) -> str:
        """The URL (or local path) that ``key`` names."""
        key = os.fspath(key)
        if self.root is None or files.is_url(key):
            return key
        return files.join(self.root, key)

    def read(self, key: str) -> bytes:
        """The bytes of the object ``key`` names, from the cache when it holds a valid copy.

        Raises:
            FileNotFoundError: no such object (naming its URL).
            PermissionError: the store refused the read.
            OSError: a transient error persisted through every retry.
        """
        url = self.url(key)
        if not files.is_url(url):
            return LocalStorage().read(url)
        return self._cached(url, None, None)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of the object ``key`` names (cached like whole objects)."""
        url = self.url(key)
        if not files.is_url(url):
            return files.read_range(url, start, end)
        return self._cached(url, int(start), int(end))

    def _cached(self, url: str, start: int | None, end: int | None) -> bytes:
        cache_key = f"{self._endpoint}|{url}" if start is None else f"{self._endpoint}|{url}#bytes={start}-{end}"
        if self._cache is not None:
            data = self._cache.get(cache_key)
            if data is not None:
                return data
        data = self._fetch(url, start, end)
        if self._cache is not None:
            self._cache.put(cache_key, data)
        return data

    def _fs(self, url: str) -> tuple[Any, str]:
        if self.filesystem is not None:
            fs = self.filesystem
            return fs, fs._strip_protocol(url) if hasattr(fs, "_strip_protocol") else url
        return files.filesystem(url, self.storage_options)

    def _fetch(self, url: str, start: int | None, end: int | None) -> bytes:
        fs, inner = self._fs(url)
        if start is None:
            return files.call_with_retries(lambda: fs.cat_file(inner), url, self.retries, self.backoff)
        data = files.call_with_retries(lambda: fs.cat_file(inner, start=start, end=end), url, self.retries,
                                       self.backoff)
        if len(data) > end - start:  # a server that ignores ranges sends the whole object
            data = data[start:end]
        return data

    # -- cache ------------------------------------------------------------------------------------

    def cache_info(self) -> dict[str, int]:
        """This process's cache counters (``hits``, ``misses``, ``corrupt``, ``evicted``) and the
        cache folder's current size in ``bytes``."""
        if self._cache is None:
            return {"hits": 0, "misses": 0, "corrupt": 0, "evicted": 0, "bytes": 0}
        return {**self._cache.stats, "bytes": self._cache.size()}

    def clear_cache(self) -> None:
        """Delete every entry of the cache folder (shared with other storages using it)."""
        if self._cache is not None:
            self._cache.clear()

    def __repr__(self) -> str:
        cache = f"{self.cache_dir!r}, cache_bytes={self.cache_bytes}" if self.cache_bytes else "None"
        return f"FsspecStorage(root={self.root!r}, cache={cache}, retries={self.retries})"


def default_storage(samples: Sequence[Any]) -> Any:
    """The storage a Sequence uses when none is given.

    ``samples.storage`` when the source brings one (TFRecord shards, a remote reader's result),
    else an :class:`FsspecStorage` when an image is a URL, else a :class:`LocalStorage`.

    Example:
        >>> default_storage([])
        LocalStorage(root=None)
    """
    storage = getattr(samples, "storage", None)
    if storage is not None:
        return storage
    if hasattr(samples, "image_paths"):  # a SampleTable: its paths without making every Sample
        remote = any(files.is_url(p) for p in samples.image_paths())
    elif isinstance(samples, list):
        remote = any(files.is_url(getattr(s, "image", None)) for s in samples)
    else:
        remote = len(samples) > 0 and files.is_url(getattr(samples[0], "image", None))
    return FsspecStorage() if remote else LocalStorage()


def attach_storage(samples: Any, storage_options: Mapping[str, Any] | None) -> Any:
    """Give a reader's result an :class:`FsspecStorage` with the reader's ``storage_options``
    when they were given and its images are URLs, so a Sequence reads images as the annotations
    were read. Returns ``samples``."""
    if not storage_options or not isinstance(samples, list):
        return samples
    paths = samples.image_paths() if hasattr(samples, "image_paths") else [s.image for s in samples]
    if any(files.is_url(p) for p in paths):
        try:
            samples.storage = FsspecStorage(storage_options=storage_options)
        except AttributeError:  # a plain list cannot carry it; pass storage= to the Sequence
            pass
    return samples

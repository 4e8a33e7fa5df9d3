"""The one place that knows about URLs: file access for local paths and fsspec URLs alike.

Every reader goes through these helpers for the files it opens, lists or probes. A local path
takes the plain ``os`` route (no fsspec import, no new cost); a URL such as ``s3://bucket/key``,
``gs://...``, ``https://...`` or any other fsspec URL (chained ones like ``simplecache::s3://...``
included) goes through `fsspec <https://filesystem-spec.readthedocs.io>`_, which is an optional
extra::

    pip install "seqloaders[s3]"

Credentials and endpoints come from the usual places (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``~/.aws/config`` for S3) or from
``storage_options``, passed unchanged to the fsspec file system (``{"endpoint_url": ...,
"key": ..., "secret": ...}`` for S3, ``{"token": ...}`` for GCS ...).

Errors are those of local files: a missing object raises ``FileNotFoundError`` naming the URL,
a refused one ``PermissionError``. Transient errors (connection resets, timeouts, HTTP 5xx and
throttling) are retried with exponential back-off.

Writing (:func:`write_bytes`, :func:`upload`) is atomic on both routes: a local file is written
to a temporary name and renamed; an object is one PUT (or one multipart upload, completed at the
end), which a store makes visible only whole. A reader never sees a partial file or object.

Path and URL arithmetic lives in :mod:`.urls`, the retry policy in :mod:`.retries`; their names are
re-exported here, so ``files.join`` and ``files.call_with_retries`` keep working.

Example:
    >>> from seqloaders.storage import files
    >>> files.is_url("s3://bucket/wider/train.txt"), files.is_url("/data/train.txt")
    (True, False)
    >>> files.join("s3://bucket/wider", "images", "0--Parade/a.jpg")
    's3://bucket/wider/images/0--Parade/a.jpg'
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .retries import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    call_with_retries,
    is_transient,
    stop_retries_when,
    translate_error,
)
from .urls import abspath, basename, dirname, is_url, join, normpath, split_scheme

__all__ = [
    "INSTALL_HINT",
    "abspath",
    "basename",
    "call_with_retries",
    "dirname",
    "download",
    "exists",
    "filesystem",
    "glob",
    "invalidate_cache",
    "is_dir",
    "is_file",
    "is_transient",
    "is_url",
    "join",
    "list_dir",
    "list_files",
    "makedirs",
    "normpath",
    "read_bytes",
    "read_range",
    "read_text",
    "remove",
    "size",
    "stop_retries_when",
    "upload",
    "write_bytes",
]

#: What to install for URLs.
INSTALL_HINT = 'pip install "seqloaders[s3]"'

_FS_MEMO: dict[tuple, Any] = {}
_T = TypeVar("_T")


# -- fsspec -------------------------------------------------------------------------------------


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError as exc:
        raise ImportError(f"reading URLs needs fsspec and the client of the store (s3fs for s3://); "
                          f"install them with `{INSTALL_HINT}`") from exc
    return fsspec


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path inside it.

    Args:
        url: an fsspec URL (``s3://bucket/key``).
        storage_options: keyword arguments for the file system (``endpoint_url``, ``key``,
            ``secret``, ``anon`` ... for S3); default: the environment and config files.

    Returns:
        ``(fs, path)``, e.g. ``(S3FileSystem, "bucket/key")``.

    Raises:
        ImportError: fsspec, or the store's client (s3fs, gcsfs ...), is not installed; the
            message says what to install.
    """
    fsspec = _fsspec()
    scheme = split_scheme(url)[0]
    memo_key = None
    if scheme and "::" not in url:  # one file system per scheme and options: url_to_fs costs ~0.3 ms
        memo_key = (os.getpid(), scheme, repr(sorted((storage_options or {}).items())))
        fs = _FS_MEMO.get(memo_key)
        if fs is not None:
            return fs, fs._strip_protocol(url)
    try:
        fs, inner = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        raise ImportError(f"reading {scheme or url!r} URLs needs the fsspec backend of that store ({exc}); for S3 "
                          f"install it with `{INSTALL_HINT}`") from exc
    if memo_key is not None:
        if len(_FS_MEMO) > 64:
            _FS_MEMO.clear()
        _FS_MEMO[memo_key] = fs
    return fs, inner


# -- file operations ----------------------------------------------------------------------------


def read_bytes(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None, *,
               retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF) -> bytes:
    """The whole content of a local file or of a URL.

    Raises:
        FileNotFoundError: no such file or object (naming it).
        ImportError: a URL without fsspec installed (says what to install).

    Example:
        >>> read_bytes("s3://bucket/wider/train.txt")[:10]                 # doctest: +SKIP
        b'0--Parade/'
    """
    path = os.fspath(path)
    if not is_url(path):
        with open(path, "rb") as f:
            return f.read()
    fs, inner = filesystem(path, storage_options)
    return call_with_retries(lambda: fs.cat_file(inner), path, retries, backoff)


def read_range(path: str | os.PathLike, start: int, end: int, storage_options: Mapping[str, Any] | None = None,
               *, retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF) -> bytes:
    """Bytes ``start:end`` of a file or URL (fewer at the end of the file).

    A server that ignores HTTP ranges and sends the whole object is handled too.
    """
    path = os.fspath(path)
    start, end = int(start), int(end)
    if end <= start:
        return b""
    if not is_url(path):
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(end - start)
    fs, inner = filesystem(path, storage_options)
    data = call_with_retries(lambda: fs.cat_file(inner, start=start, end=end), path, retries, backoff)
    if len(data) > end - start:  # the range was ignored: the whole object came back
        data = data[start:end]
    return data


def read_text(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None,
              encoding: str = "utf-8-sig") -> str:
    """A text file or object, decoded (``utf-8-sig`` by default: a BOM is accepted)."""
    return read_bytes(path, storage_options).decode(encoding)


def _remote(path: str, storage_options: Mapping[str, Any] | None, op: Callable[[Any, str], _T]) -> _T:
    fs, inner = filesystem(path, storage_options)
    return call_with_retries(lambda: op(fs, inner), path)


def exists(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> bool:
    """True when a file, folder or object (or a prefix holding objects) exists."""
    path = os.fspath(path)
    if not is_url(path):
        return os.path.exists(path)
    return bool(_remote(path, storage_options, lambda fs, p: fs.exists(p)))


def is_dir(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> bool:
    """True for a local folder, or a URL prefix that holds objects."""
    path = os.fspath(path)
    if not is_url(path):
        return os.path.isdir(path)
    return bool(_remote(path, storage_options, lambda fs, p: fs.isdir(p)))


def is_file(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> bool:
    """True for a local file or a URL that names an object."""
    path = os.fspath(path)
    if not is_url(path):
        return os.path.isfile(path)
    return bool(_remote(path, storage_options, lambda fs, p: fs.isfile(p)))


def size(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> int:
    """Size in bytes of a file or object.

    Raises:
        FileNotFoundError: it does not exist.
    """
    path = os.fspath(path)
    if not is_url(path):
        return os.path.getsize(path)
    return int(_remote(path, storage_options, lambda fs, p: fs.size(p)))


def _relative(entry: str, inner: str, fs: Any) -> str:
    """``entry`` (as fsspec lists it) relative to the folder ``inner``."""
    entry = fs._strip_protocol(entry) if hasattr(fs, "_strip_protocol") else entry
    base = fs._strip_protocol(inner) if hasattr(fs, "_strip_protocol") else inner
    base = base.rstrip("/")
    if entry.startswith(base + "/"):
        return entry[len(base) + 1:]
    return entry.rstrip("/").rsplit("/", 1)[-1]


def list_dir(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None,
             kind: str | None = None) -> list[str]:
    """The names in a folder (not full paths), like ``os.listdir``, unsorted.

    Args:
        path: a folder or URL prefix.
        storage_options: fsspec options for URLs.
        kind: None (everything), ``"file"`` or ``"dir"``.

    Raises:
        FileNotFoundError: the folder does not exist (for a URL: nothing is under it).
    """
    if kind not in (None, "file", "dir"):
        raise ValueError(f"kind must be None, 'file' or 'dir', got {kind!r}")
    path = os.fspath(path)
    if not is_url(path):
        names = os.listdir(path)
        if kind is None:
            return names
        want_dir = kind == "dir"
        return [n for n in names if os.path.isdir(os.path.join(path, n)) == want_dir]

    def op(fs: Any, inner: str) -> list[str]:
        entries = fs.ls(inner, detail=True)
        out = []
        for entry in entries:
            etype = entry.get("type")
            if (kind == "dir" and etype != "directory") or (kind == "file" and etype == "directory"):
                continue
            name = _relative(entry["name"], inner, fs)
            if name and name not in out:
                out.append(name.rstrip("/"))
        return out

    names = _remote(path, storage_options, op)
    return [n for n in names if n and "/" not in n]


def list_files(folder: str | os.PathLike, storage_options: Mapping[str, Any] | None = None,
               recursive: bool = True, skip_hidden: bool = True) -> list[str]:
    """Every file under ``folder`` as full paths (URLs keep the caller's scheme), unsorted.

    Hidden files and files inside hidden folders (name starting with ``.``) are skipped when
    ``skip_hidden``.

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    folder = os.fspath(folder)
    if not is_url(folder):
        if not os.path.isdir(folder):
            raise FileNotFoundError(errno.ENOENT, "no such folder", folder)
        found = []
        for dirpath, dirnames, filenames in os.walk(folder):
            if skip_hidden:
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            found += [os.path.join(dirpath, f) for f in filenames if not (skip_hidden and f.startswith("."))]
            if not recursive:
                break
        return found

    def op(fs: Any, inner: str) -> list[str]:
        if recursive:
            entries = fs.find(inner, detail=False, withdirs=False)
        else:
            entries = [e["name"] for e in fs.ls(inner, detail=True) if e.get("type") != "directory"]
        return [_relative(e, inner, fs) for e in entries]

    relative = _remote(folder, storage_options, op)
    if not relative and not exists(folder, storage_options):
        raise FileNotFoundError(errno.ENOENT, "no such folder or prefix", folder)
    out = []
    for rel in relative:
        if not rel or (skip_hidden and any(part.startswith(".") for part in rel.split("/"))):
            continue
        out.append(join(folder, rel))
    return out


def glob(pattern: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Paths matching a glob pattern (``*``, ``?``, ``[...]``), sorted; URLs keep their scheme."""
    import glob as _glob

    pattern = os.fspath(pattern)
    if not is_url(pattern):
        return sorted(_glob.glob(pattern))
    scheme, _ = split_scheme(pattern)
    fs, inner = filesystem(pattern, storage_options)
    matches = call_with_retries(lambda: fs.glob(inner), pattern)
    out = []
    for m in matches:
        m = fs._strip_protocol(m) if hasattr(fs, "_strip_protocol") else m
        out.append(m if is_url(m) else scheme + m.lstrip("/"))
    return sorted(out)


def download(url: str | os.PathLike, dest: str | os.PathLike, storage_options: Mapping[str, Any] | None = None, *,
             retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF) -> None:
    """Copy a file or object to the local file ``dest``, streaming (it is never held in memory whole).

    Raises:
        FileNotFoundError: no such file or object.
    """
    import shutil

    url, dest = os.fspath(url), os.fspath(dest)
    if not is_url(url):
        shutil.copyfile(url, dest)
        return
    fs, inner = filesystem(url, storage_options)
    call_with_retries(lambda: fs.get_file(inner, dest), url, retries, backoff)


# -- writing ------------------------------------------------------------------------------------


def _write_error(exc: BaseException, url: str) -> BaseException:
    """A write's errors: a missing "file" on upload is a missing bucket (or local folder)."""
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundError(errno.ENOENT, "no such bucket or folder to write into; create the bucket (or "
                                               "folder) first, or check the URL", url)
    return translate_error(exc, url)


def _call_write(fn: Callable[[], _T], url: str, retries: int, backoff: float) -> _T:
    try:
        return call_with_retries(fn, url, retries, backoff)
    except FileNotFoundError as exc:
        raise _write_error(exc, url) from exc


def _local_tmp(path: str) -> str:
    return f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"


def makedirs(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> None:
    """Create a local folder and its parents (no error if it exists). Nothing for a URL: object
    stores have no folders, and a bucket is made by its owner, not by a writer.

    Example:
        >>> makedirs("/tmp/seqloaders-out/shards"); makedirs("s3://bucket/shards")   # doctest: +SKIP
    """
    path = os.fspath(path)
    if not is_url(path):
        os.makedirs(path, exist_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes, storage_options: Mapping[str, Any] | None = None, *,
                retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF) -> None:
    """Write ``data`` to a file or object, replacing it whole: a local file through a temporary
    name and a rename, an object with one PUT (retried on transient errors; a PUT is idempotent).

    Raises:
        FileNotFoundError: the local folder or the bucket does not exist.
        PermissionError: the store refused the write (naming the URL).

    Example:
        >>> write_bytes("s3://bucket/shards/train.manifest.json", b"{}")    # doctest: +SKIP
    """
    path = os.fspath(path)
    data = bytes(data)
    if not is_url(path):
        tmp = _local_tmp(path)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return
    fs, inner = filesystem(path, storage_options)
    _call_write(lambda: fs.pipe_file(inner, data), path, retries, backoff)


def upload(src: str | os.PathLike, dest: str | os.PathLike, storage_options: Mapping[str, Any] | None = None,
           *, retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF) -> None:
    """Copy the local file ``src`` to the file or object ``dest``, streaming, replacing it whole.

    A local ``dest`` is written to a temporary name and renamed. An object is sent with the store's
    own upload (s3fs: one PUT, or a multipart upload for large files that becomes visible only
    when completed), so a reader never sees a partial object; the whole upload is retried on a
    transient error.

    Raises:
        FileNotFoundError: ``src`` does not exist, or the bucket (local folder) of ``dest`` does not.
        PermissionError: the store refused the write (naming the URL).

    Example:
        >>> upload("/tmp/train-00000-of-00016.tfrecord",
        ...        "s3://bucket/shards/train-00000-of-00016.tfrecord")        # doctest: +SKIP
    """
    import shutil

    src, dest = os.fspath(src), os.fspath(dest)
    if not os.path.isfile(src):
        raise FileNotFoundError(errno.ENOENT, "no such file to upload", src)
    if not is_url(dest):
        tmp = _local_tmp(dest)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return
    fs, inner = filesystem(dest, storage_options)
    _call_write(lambda: fs.put_file(src, inner), dest, retries, backoff)


def remove(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None, *,
           missing_ok: bool = True) -> None:
    """Delete a file or object.

    Raises:
        FileNotFoundError: it does not exist and not ``missing_ok``.
    """
    path = os.fspath(path)
    if not is_url(path):
        try:
            os.remove(path)
        except FileNotFoundError:
            if not missing_ok:
                raise
        return
    fs, inner = filesystem(path, storage_options)
    try:
        call_with_retries(lambda: fs.rm_file(inner), path)
    except FileNotFoundError:
        if not missing_ok:
            raise


def invalidate_cache(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> None:
    """Forget the listings fsspec cached for ``path`` (and below), so the next :func:`exists`,
    :func:`size` or :func:`glob` asks the store: another process may have written there since.
    Nothing for a local path."""
    path = os.fspath(path)
    if is_url(path):
        fs, inner = filesystem(path, storage_options)
        fs.invalidate_cache(inner)

"""The parse cache: a reader's :class:`~seqloaders.table.SampleTable`, kept in the user's cache
folder so the second read of a large annotation file is a memory map instead of a parse.

Where: ``$SEQLOADERS_CACHE``, else ``$XDG_CACHE_HOME/seqloaders``, else ``~/.cache/seqloaders``
(never the dataset's folder), in ``tables/``. One entry per (reader, cache format version,
source paths, reader options) holds two files:

- ``<reader>-<key>.json``: the sources' identity (size, ``mtime_ns`` and the SHA-256 of the
  content; for a remote object its size and modification time or ETag) and the table file's
  name and CRC32C;
- ``<reader>-<key>-<crc>.sltable``: the table (:mod:`seqloaders.table.arrayfile`).

A lookup stats the sources: same size and ``mtime_ns`` is a hit; same size but another mtime
rehashes the file, and the same content is still a hit (a touched or copied file); anything else
re-parses. A truncated, damaged or unreadable entry is logged (``logging``, no warning) and
rebuilt. Every file is written to a temporary name and renamed into place, so processes racing
on one entry each see a whole entry. Reader options go into the key: a changed option is another
entry.

Example:
    >>> table = cached("coco", ["instances.json"], {"drop_crowd": False},
    ...                lambda: parse_my_file("instances.json"))        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .records import ReadReport
from .storage import files
from .storage.retries import call_with_retries
from .table import SampleTable

__all__ = ["CACHE_FORMAT_VERSION", "cache_dir", "cached", "replay_warnings", "source_identity"]

log = logging.getLogger(__name__)

#: bump when a reader's parsing or the table layout changes what a cached entry holds
CACHE_FORMAT_VERSION = 1
_HASH_CHUNK = 1 << 20


def cache_dir() -> str:
    """The folder the parse cache writes to (not created here)."""
    root = os.environ.get("SEQLOADERS_CACHE")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "seqloaders")
    return os.path.join(root, "tables")


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        buffer = bytearray(min(_HASH_CHUNK, max(os.fstat(f.fileno()).st_size, 1)))
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def source_identity(path: str, storage_options: Mapping[str, Any] | None = None, *,
                    content: bool = True) -> dict[str, Any] | None:
    """What identifies a source file's version, or None when the storage tells too little.

    Local files: ``size``, ``mtime_ns`` and (``content=True``) ``sha256``. Remote objects
    (fsspec): ``size`` and whichever of a modification time or an ETag the store reports.

    Raises:
        FileNotFoundError: the source does not exist.
    """
    if not files.is_url(path):
        st = os.stat(path)
        ident: dict[str, Any] = {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        if content:
            ident["sha256"] = _sha256_file(path)
        return ident
    fs, inner = files.filesystem(path, storage_options)
    info = call_with_retries(lambda: fs.info(inner), path)
    version = next((str(info[k]) for k in ("ETag", "etag", "mtime", "LastModified", "last_modified", "updated",
                                            "generation", "version_id") if info.get(k)), None)
    if version is None or info.get("size") is None:
        return None
    return {"path": path, "size": int(info["size"]), "version": version}


def _key(reader: str, sources: Sequence[str], options: Mapping[str, Any]) -> str:
    text = json.dumps({"reader": reader, "format": CACHE_FORMAT_VERSION,
                       "sources": [s if files.is_url(s) else os.path.abspath(s) for s in sources],
                       "options": dict(options)}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _same_source(stored: Mapping[str, Any], path: str, storage_options: Mapping[str, Any] | None) -> tuple[bool, bool]:
    """(still the same version, the stored identity needs its mtime refreshed)."""
    now = source_identity(path, storage_options, content=False)
    if now is None or now["size"] != stored.get("size"):
        return False, False
    if "version" in now:
        return now["version"] == stored.get("version"), False
    if now["mtime_ns"] == stored.get("mtime_ns"):
        return True, False
    if _sha256_file(path) == stored.get("sha256"):
        stored["mtime_ns"] = now["mtime_ns"]  # type: ignore[index]
        return True, True
    return False, False


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _lookup(folder: str, manifest_path: str, sources: Sequence[str],
            storage_options: Mapping[str, Any] | None) -> SampleTable | None:
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.info("parse cache: unreadable entry %s (%s); parsing again", manifest_path, exc)
        return None
    stored = manifest.get("sources")
    if not isinstance(stored, list) or len(stored) != len(sources):
        log.info("parse cache: malformed entry %s; parsing again", manifest_path)
        return None
    refresh = False
    for ident, path in zip(stored, sources):
        same, touched = _same_source(ident, path, storage_options)
        if not same:
            log.info("parse cache: %s changed since it was cached; parsing again", path)
            return None
        refresh = refresh or touched
    try:
        table = SampleTable.load(os.path.join(folder, manifest["table"]), expect_crc=manifest["crc32c"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("parse cache: damaged entry %s (%s); parsing again", manifest_path, exc)
        return None
    if refresh:
        with contextlib.suppress(OSError):
            _write_json(manifest_path, manifest)
    log.debug("parse cache: hit %s", manifest_path)
    return table


def _store(folder: str, manifest_path: str, stem: str, table: SampleTable,
           identities: list[dict[str, Any]]) -> SampleTable:
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".sltable", dir=folder)
    os.close(fd)
    try:
        crc = table.save(tmp)
        name = f"{stem}-{crc:08x}.sltable"
        os.replace(tmp, os.path.join(folder, name))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _write_json(manifest_path, {"sources": identities, "table": name, "crc32c": crc})
    for other in os.listdir(folder):  # older versions of this entry
        if other.startswith(stem + "-") and other.endswith(".sltable") and other != name:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, other))
    mapped = SampleTable.load(os.path.join(folder, name), expect_crc=crc)
    for attr, value in vars(table).items():  # what the table carries beyond its columns (storage, ...)
        if not attr.startswith("_") and attr not in vars(mapped):
            setattr(mapped, attr, value)
    return mapped


def cached(reader: str, sources: Sequence[str | os.PathLike], options: Mapping[str, Any],
           build: Callable[[], SampleTable], *, storage_options: Mapping[str, Any] | None = None,
           on_error: str | None = None) -> SampleTable:
    """The table ``build()`` returns, from the cache when the sources and options are unchanged.

    Args:
        reader: the reader's name (``"coco"``), part of the key.
        sources: the annotation files the table is parsed from (paths or URLs).
        options: the reader options that change the result (JSON-able; others are ``repr``-ed).
        build: parses the sources into a :class:`SampleTable`; called on a miss only.
        storage_options: fsspec options for URL sources.
        on_error: the reader's ``on_error``: on a hit, what the parse skipped is warned about
            again as the parse warned (see :func:`replay_warnings`).

    Returns:
        A table memory-mapped from the cache file (it pickles as the file's path), or, when the
        sources' identity is unknown (a remote store without size or version) or the cache
        folder cannot be written, the table ``build()`` returned.
    """
    sources = [os.fspath(s) for s in sources]
    folder = cache_dir()
    stem = f"{reader}-{_key(reader, sources, {**options, 'on_error': on_error})}"
    manifest_path = os.path.join(folder, stem + ".json")
    try:
        table = _lookup(folder, manifest_path, sources, storage_options)
    except OSError as exc:  # a source that vanished: the reader's own error is clearer
        log.debug("parse cache: lookup failed (%s)", exc)
        table = None
    if table is not None:
        replay_warnings(table.report, on_error)
        return table
    try:
        identities = [source_identity(s, storage_options) for s in sources]
    except OSError:
        return build()  # the reader raises FileNotFoundError (or its own error) for the missing source
    table = build()
    if any(ident is None for ident in identities):
        return table
    after = [source_identity(s, storage_options, content=False) for s in sources]
    if any(a is None or {k: v for k, v in b.items() if k != "sha256"} != a for a, b in zip(after, identities)):
        log.info("parse cache: %s changed while it was parsed; not cached", ", ".join(sources))
        return table
    try:
        return _store(folder, manifest_path, stem, table, identities)  # type: ignore[arg-type]
    except (OSError, TypeError, ValueError) as exc:
        log.info("parse cache: cannot write %s (%s); the table stays in memory", folder, exc)
        return table


def replay_warnings(report: ReadReport, on_error: str | None) -> None:
    """Warn about what a cached parse skipped, as the parse did: once per entry under ``"warn"``,
    one summary under ``"skip"``."""
    from .formats.errorpolicy import warn_summary  # here: formats imports this module

    if on_error == "warn":
        for _, message in report.skipped:
            warnings.warn(message, UserWarning, stacklevel=4)
    warn_summary(report, on_error or "raise")

"""Path and URL arithmetic: the same join, dirname, basename and normpath for local paths and
fsspec URLs (``s3://bucket/key``, ``gs://...``, ``https://...``, chains like ``simplecache::s3://...``).

Pure string functions: nothing here touches a file system or imports fsspec.

Example:
    >>> from seqloaders.storage import urls
    >>> urls.is_url("s3://bucket/wider/train.txt"), urls.is_url("/data/train.txt")
    (True, False)
    >>> urls.join("s3://bucket/wider", "images", "0--Parade/a.jpg")
    's3://bucket/wider/images/0--Parade/a.jpg'
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

__all__ = ["abspath", "basename", "dirname", "is_url", "join", "normpath", "split_scheme"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")


def is_url(path: Any) -> bool:
    """True when ``path`` is a URL (``scheme://...``, or an fsspec chain ``a::b://...``).

    Windows drive letters (``C:\\data``) and plain paths are not URLs.

    Example:
        >>> is_url("gs://bucket/x.jpg"), is_url("simplecache::s3://b/x"), is_url("C:\\\\data")
        (True, True, False)
    """
    if not isinstance(path, str):
        if not isinstance(path, os.PathLike):
            return False
        path = os.fspath(path)
        if not isinstance(path, str):
            return False
    if "://" not in path:  # the common case, a local path: one substring test
        return False
    return bool(_URL.match(path)) or "::" in path


def split_scheme(url: str) -> tuple[str, str]:
    """``("s3://", "bucket/key")``: the scheme part (with any fsspec chain) and the path part."""
    head, sep, tail = url.rpartition("://")
    return head + sep, tail


def join(base: str | os.PathLike, *parts: str) -> str:
    """Join path parts: with ``/`` under a URL, with ``os.path.join`` for a local path.

    Example:
        >>> join("s3://bucket/data/", "images/a.jpg")
        's3://bucket/data/images/a.jpg'
    """
    base = os.fspath(base)
    if not is_url(base):
        return os.path.join(base, *parts)
    out = base
    for part in parts:
        part = part.replace("\\", "/")
        if not part:
            continue
        out = out + part if out.endswith("/") else f"{out}/{part}"
    return out


def dirname(path: str | os.PathLike) -> str:
    """The folder of a path or URL (``s3://b/x/a.txt`` → ``s3://b/x``)."""
    path = os.fspath(path)
    if not is_url(path):
        return os.path.dirname(path)
    scheme, rest = split_scheme(path)
    return scheme + posixpath.dirname(rest.rstrip("/"))


def basename(path: str | os.PathLike) -> str:
    """The last component of a path or URL."""
    path = os.fspath(path)
    if not is_url(path):
        return os.path.basename(path)
    return posixpath.basename(split_scheme(path)[1].rstrip("/"))


def normpath(path: str | os.PathLike) -> str:
    """``os.path.normpath`` for local paths; for URLs, the part after ``://`` is normalised
    with ``/`` (``s3://b/x/../y`` → ``s3://b/y``) and the scheme is kept."""
    path = os.fspath(path)
    if not is_url(path):
        return os.path.normpath(path)
    scheme, rest = split_scheme(path)
    query = ""
    if scheme.startswith(("http://", "https://")) and "?" in rest:
        rest, query = rest.split("?", 1)
        query = "?" + query
    norm = posixpath.normpath(rest) if rest else ""
    return scheme + ("" if norm == "." else norm) + query


def abspath(path: str | os.PathLike) -> str:
    """``os.path.abspath`` for local paths; a URL is returned as is."""
    path = os.fspath(path)
    return path if is_url(path) else os.path.abspath(path)

"""COCO JSON text to Python objects, the annotations a few megabytes at a time.

``json.load`` of COCO train2017 (860,001 annotations) holds every annotation dict and every
polygon float at once: 1.5 GB of Python objects. :func:`load_coco_json` parses everything but the
``annotations`` list in one go, and yields the annotations in chunks of about
:data:`CHUNK_BYTES`, each parsed on its own (orjson when installed, else ``json``), so the reader
turns a chunk into arrays before the next one is parsed.

A chunk boundary is the first ``}``, ``,``, ``{`` after the chunk's target size; one that falls
inside a string or a nested object makes the chunk invalid JSON (a string left open, a bracket
left open), so a chunk that parses is exactly a run of whole annotations. When anything does not
fit (a chunk that does not parse, a layout the split does not recognise), the whole text is
parsed at once instead, by ``json`` for the error message when the text is not valid JSON.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import re
from collections.abc import Iterator
from typing import Any

from ..errors import AnnotationError

try:  # orjson parses COCO about 2x faster than json (benchmarks/PARSE.md)
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; json is the fallback
    orjson = None

__all__ = ["CHUNK_BYTES", "ChunksDoNotParse", "json_limit_error", "load_coco_json"]

#: target size of one parsed chunk of ``annotations`` (about 12,000 COCO annotations)
CHUNK_BYTES = 4 << 20
_KEY = b'"annotations"'
_OPEN = re.compile(rb"\s*:\s*\[\s*")
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_END = re.compile(rb"\}\s*\]")
_WS = re.compile(rb"\s*")


def _loads(data: bytes) -> Any:
    return orjson.loads(data) if orjson is not None else json.loads(data)


class _NoSplit(Exception):
    """The text cannot be parsed in chunks: parse it whole."""


class ChunksDoNotParse(Exception):
    """A chunk of annotations is not valid JSON: start again with ``load_coco_json(..., whole=True)``
    (an annotation holding a list of objects, or text that is not JSON at all)."""


def _split(raw: bytes) -> tuple[int, int, list[tuple[int, int]]]:
    """(position of the annotations' ``[``, of its ``]``, byte ranges of the chunks)."""
    at = -1
    while True:  # the first "annotations" key followed by a list: a later (duplicate) top-level one, which
        at = raw.find(_KEY, at + 1)  # JSON would keep, or a nested one shows as a non-empty skeleton value
        if at < 0:
            raise _NoSplit
        opened = _OPEN.match(raw, at + len(_KEY))
        if opened:
            break
    start = opened.end()
    open_pos = raw.rfind(b"[", at, start)
    chunks: list[tuple[int, int]] = []
    if raw[start:start + 1] == b"]":
        return open_pos, start, chunks
    while True:
        target = min(start + CHUNK_BYTES, len(raw))
        boundary = _BOUNDARY.search(raw, target)
        stop = boundary.start() + 1 if boundary else len(raw)
        end = _END.search(raw, start, stop + 1)
        _release(raw, start, stop)  # the search touched every page of the chunk
        if end is not None:  # the list ends in this chunk
            chunks.append((start, end.start() + 1))
            return open_pos, end.end() - 1, chunks
        if boundary is None:
            raise _NoSplit
        chunks.append((start, stop))
        start = boundary.end() - 1


def load_coco_json(raw: bytes | mmap.mmap, path: str, *, whole: bool = False
                   ) -> tuple[dict[str, Any] | Any, Iterator[tuple[list, bytes]] | None]:
    """Parse COCO JSON bytes: (the document without its annotations, the annotation chunks).

    Args:
        raw: the file's bytes, or a read-only ``mmap`` of it (a UTF-8 BOM is skipped); the pages of
            a mapped file are released as its chunks are parsed.
        path: the file name for error messages.
        whole: parse the whole text at once (after :class:`ChunksDoNotParse`).

    Returns:
        The document (``annotations`` emptied when chunks are given) and an iterator of
        (annotations of the chunk, the chunk's JSON bytes), or None when the document's own
        ``annotations`` value is to be used (the text was parsed whole). The iterator raises
        :class:`ChunksDoNotParse` when a chunk is not valid JSON.

    Raises:
        AnnotationError: the text is not valid JSON (file and line named).
    """
    if raw[:3] == b"\xef\xbb\xbf":
        raw = raw[3:]  # (a copy, also of a mapped file: rare enough)
    if whole:
        return _load_whole(raw, path), None
    try:
        open_pos, close_pos, ranges = _split(raw)
        doc = _loads(raw[:open_pos + 1] + raw[close_pos:])
        _release(raw, 0, open_pos)
        if not isinstance(doc, dict) or doc.get("annotations") != []:
            raise _NoSplit
    except (_NoSplit, ValueError):
        return _load_whole(raw, path), None

    def chunks() -> Iterator[tuple[list, bytes]]:
        for lo, hi in ranges:
            data = b"[" + raw[lo:hi] + b"]"
            try:
                parsed = _loads(data)
            except ValueError:
                raise ChunksDoNotParse(f"{path}: bytes {lo}-{hi}") from None
            _release(raw, lo, hi)
            yield parsed, data

    return doc, chunks()


def _release(raw: bytes | mmap.mmap, lo: int, hi: int) -> None:
    """Drop the pages of a mapped file's parsed bytes from this process (they are read again from
    the page cache if an error message needs the text)."""
    if isinstance(raw, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        start = lo - lo % mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            raw.madvise(mmap.MADV_DONTNEED, start, hi - start)


def _load_whole(raw: bytes | mmap.mmap, path: str) -> Any:
    try:
        return _loads(raw[:])  # (a copy of a mapped file: this path is for files the chunks do not fit)
    except ValueError:
        pass  # orjson refuses NaN, Infinity, lone surrogates, ...: json decides and words the error
    raw = raw[:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"not valid UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})", path,
                              raw.count(b"\n", 0, exc.start) + 1) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits, or nesting too deep
        raise json_limit_error(text, exc, path) from None


def json_limit_error(text: str, exc: Exception, path: str) -> AnnotationError:
    """Word a JSON error that ``json`` reports without a position, finding the line ourselves."""
    if isinstance(exc, RecursionError):
        depth, pos = 0, 0
        for pos, char in enumerate(text):  # noqa: B007 (pos is used after the loop)  the first place nested deeper than 1,000 (strings not skipped)
            depth += (char in "[{") - (char in "]}")
            if depth > 1000:
                break
        reason = "nested too deeply (more than 1,000 levels of lists or objects)"
    else:
        match = re.search(r"\d{4300,}", text)
        pos = match.start() if match else 0
        reason = f"a number with more than 4,300 digits ({str(exc).split(':')[0]})"
    return AnnotationError(f"not valid JSON for a COCO file: {reason}", path, text.count("\n", 0, pos) + 1)

"""Named NumPy arrays and a JSON header in one file that loads as a memory map.

The layout (all integers little-endian)::

    b"SLARRAYS"  8 bytes   magic
    uint32               format version (FORMAT_VERSION)
    uint32               CRC32C of the header bytes
    uint64               header length H
    H bytes              header: JSON {"arrays": {name: [dtype, shape, offset, nbytes]},
                         "data_bytes": D, "data_crc32c": C, "payload": {...}}
    padding to 64 bytes
    D bytes              the arrays, each starting on a 64-byte boundary

:func:`load_arrays` checks the magic, the header's CRC, the file's length and the CRC32C of the
data (google-crc32c: about 10 GB/s, so the check costs ~10 ms per 100 MB) and returns read-only
arrays that are views of one ``mmap``: loading reads nothing but the header and the checksum
pass, and every process that maps the same file shares its pages. :func:`save_arrays` writes a
temporary file in the target's folder and renames it into place, so a reader never sees a
half-written file and two writers racing leave one whole file.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import tempfile
from collections.abc import Mapping
from typing import Any

import google_crc32c
import numpy as np

__all__ = ["FORMAT_VERSION", "CorruptFileError", "load_arrays", "save_arrays"]

FORMAT_VERSION = 1
_MAGIC = b"SLARRAYS"
_PREFIX = struct.Struct("<8sIIQ")
_ALIGN = 64


class CorruptFileError(ValueError):
    """An arrays file that is truncated, altered or not an arrays file at all."""


def _pad(n: int) -> int:
    return -n % _ALIGN


def _bytes_of(arr: np.ndarray) -> np.ndarray:
    """The bytes of ``arr`` as a read-only uint8 view (what google-crc32c and ``write`` accept)."""
    view = np.ascontiguousarray(arr).reshape(-1).view(np.uint8).view()
    view.flags.writeable = False
    return view


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], payload: Mapping[str, Any]) -> int:
    """Write ``arrays`` and the JSON-able ``payload`` to ``path`` atomically (temp file + rename).

    Returns:
        The CRC32C of the data section, which :func:`load_arrays` can be asked to expect.
    """
    path = os.fspath(path)
    index: dict[str, list] = {}
    offset = 0
    crc = 0
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object, which cannot be stored")
        index[name] = [arr.dtype.str, list(arr.shape), offset, arr.nbytes]
        crc = google_crc32c.extend(crc, _bytes_of(arr))
        pad = _pad(arr.nbytes)
        crc = google_crc32c.extend(crc, bytes(pad))
        offset += arr.nbytes + pad
    header = json.dumps({"arrays": index, "data_bytes": offset, "data_crc32c": crc, "payload": payload},
                        separators=(",", ":"), allow_nan=False).encode("utf-8")
    prefix = _PREFIX.pack(_MAGIC, FORMAT_VERSION, google_crc32c.value(header), len(header))
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(prefix + header + b"\0" * _pad(len(prefix) + len(header)))
            for arr in arrays.values():
                arr = np.asarray(arr)
                f.write(_bytes_of(arr))
                f.write(bytes(_pad(arr.nbytes)))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return crc


def load_arrays(path: str | os.PathLike, expect_crc: int | None = None,
                verify: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any], int]:
    """Map an arrays file: (read-only arrays, payload, data CRC32C).

    Args:
        path: a file :func:`save_arrays` wrote.
        expect_crc: refuse the file unless its data CRC is this one (a worker process opening the
            file its parent mapped).
        verify: recompute the data CRC (the default); False trusts the header.

    Raises:
        FileNotFoundError: no such file.
        CorruptFileError: not an arrays file, a version this code does not read, a truncated file,
            a damaged header or data, or another CRC than ``expect_crc``.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(_PREFIX.size)
        if len(head) < _PREFIX.size:
            raise CorruptFileError(f"{path}: truncated ({len(head)} bytes)")
        magic, version, header_crc, header_len = _PREFIX.unpack(head)
        if magic != _MAGIC:
            raise CorruptFileError(f"{path}: not an arrays file")
        if version != FORMAT_VERSION:
            raise CorruptFileError(f"{path}: format version {version}, this code reads {FORMAT_VERSION}")
        header = f.read(header_len)
        if len(header) != header_len or google_crc32c.value(header) != header_crc:
            raise CorruptFileError(f"{path}: damaged header")
        meta = json.loads(header)
        start = _PREFIX.size + header_len + _pad(_PREFIX.size + header_len)
        size = os.fstat(f.fileno()).st_size
        if size != start + meta["data_bytes"]:
            raise CorruptFileError(f"{path}: {size} bytes, expected {start + meta['data_bytes']} (truncated?)")
        crc = meta["data_crc32c"]
        if expect_crc is not None and crc != expect_crc:
            raise CorruptFileError(f"{path}: holds other data (CRC {crc:08x}, expected {expect_crc:08x})")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if verify and meta["data_bytes"]:
        got = google_crc32c.value(np.frombuffer(buf, np.uint8, offset=start))
        if got != crc:
            raise CorruptFileError(f"{path}: damaged data (CRC {got:08x}, header says {crc:08x})")
    arrays = {}
    for name, (dtype, shape, offset, nbytes) in meta["arrays"].items():
        dt = np.dtype(dtype)
        count = nbytes // dt.itemsize if dt.itemsize else 0
        arr = np.frombuffer(buf, dt, count, start + offset) if count else np.zeros(0, dt)
        arrays[name] = arr.reshape(shape)
    return arrays, meta["payload"], crc

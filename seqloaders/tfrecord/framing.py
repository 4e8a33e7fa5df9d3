"""TFRecord framing: length, masked CRC32C of the length, data, masked CRC32C of the data.

A TFRecord file is a plain concatenation of records, each framed as::

    uint64 length          little-endian
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

where ``masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2**32). This module writes
and reads that framing with the standard library only, so neither writing nor reading needs
TensorFlow's runtime. CRC32C comes from ``google-crc32c`` (hardware accelerated, several GB/s);
without it a table-driven pure-Python fallback (~3.5 MB/s) keeps the format readable.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from ..errors import RecordError

__all__ = [
    "FOOTER_SIZE",
    "HEADER_SIZE",
    "RecordReader",
    "crc32c",
    "encode_record",
    "index_path",
    "masked_crc32c",
    "parse_index",
    "read_index",
    "scan_records",
    "write_index",
    "write_record",
]

HEADER_SIZE = 12  # uint64 length + uint32 masked CRC of the length
FOOTER_SIZE = 4  # uint32 masked CRC of the data
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")

try:  # pragma: no cover - which branch runs depends on the environment
    import google_crc32c as _gcrc

    def crc32c(data: bytes | memoryview) -> int:
        """CRC32C (Castagnoli) of ``data``, as an unsigned 32-bit int."""
        return _gcrc.value(bytes(data) if not isinstance(data, bytes) else data)

    CRC32C_IMPLEMENTATION = f"google-crc32c ({_gcrc.implementation})"
except ImportError:  # pragma: no cover
    _gcrc = None
    CRC32C_IMPLEMENTATION = "numpy table (slow: pip install google-crc32c)"

    def crc32c(data: bytes | memoryview) -> int:
        """CRC32C (Castagnoli) of ``data``, as an unsigned 32-bit int (numpy fallback)."""
        return _crc32c_table(data)


def _make_tables() -> np.ndarray:
    poly = 0x82F63B78
    table = np.zeros((8, 256), np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table[0, n] = c
    for k in range(1, 8):
        prev = table[k - 1]
        table[k] = (prev >> np.uint32(8)) ^ table[0][prev & np.uint32(0xFF)]
    return table


_TABLES: np.ndarray | None = None


def _crc32c_table(data: bytes | memoryview) -> int:
    """Slicing-by-8 CRC32C in pure Python (tables built with numpy): a correct fallback, ~3.5 MB/s."""
    global _TABLES
    if _TABLES is None:
        _TABLES = _make_tables()
    t = [row.tolist() for row in _TABLES]
    t0, t1, t2, t3, t4, t5, t6, t7 = t
    buf = bytes(data)
    crc = 0xFFFFFFFF
    n8 = len(buf) // 8 * 8
    if n8:
        words = np.frombuffer(buf[:n8], "<u4").reshape(-1, 2).tolist()
        for lo, hi in words:
            lo ^= crc
            crc = (t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^ t4[lo >> 24]
                   ^ t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^ t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24])
    for b in buf[n8:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | memoryview) -> int:
    """The masked CRC32C that TFRecord stores (so that CRCs of CRCs stay well distributed)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def encode_record(data: bytes) -> bytes:
    """One framed record (header, data, footer) for ``data``."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, struct.pack("<I", masked_crc32c(length)), data,
                     _FOOTER.pack(masked_crc32c(data))))


def write_record(f: BinaryIO, data: bytes) -> int:
    """Append one framed record to the binary file ``f``; returns the bytes written."""
    record = encode_record(data)
    f.write(record)
    return len(record)


def index_path(shard: str) -> str:
    """The index file that belongs to ``shard`` (``<shard>.index``)."""
    return shard + ".index"


def write_index(path: str, offsets: np.ndarray, sizes: np.ndarray) -> None:
    """Write an index: one line ``<offset> <size>`` per record, ``size`` the framed record's bytes.

    This is the layout of NVIDIA DALI's ``tfrecord2idx`` and of the ``tfrecord`` package, so
    their indexes and ours are interchangeable. Written to a temporary name and renamed.
    """
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("".join(f"{int(o)} {int(s)}\n" for o, s in zip(offsets, sizes)))
    os.replace(tmp, path)


def read_index(path: str, shard_size: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Read an index file; None if it is missing, malformed or does not match the shard's size.

    Args:
        path: the ``.index`` file.
        shard_size: the shard's size in bytes; an index whose records do not end exactly there
            is stale (the shard was rewritten or truncated) and is ignored.

    Returns:
        (offsets, sizes), both (R,) int64, or None.
    """
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return parse_index(text, shard_size)


def parse_index(text: bytes, shard_size: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``(offsets, sizes)`` of an index file's content; None if it is malformed or stale
    (its records do not end exactly at ``shard_size``). See :func:`read_index`.

    Example:
        >>> [a.tolist() for a in parse_index(b"0 30\\n30 42\\n", shard_size=72)]
        [[0, 30], [30, 42]]
    """
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        return None
    if values.size % 2:
        return None
    values = values.reshape(-1, 2)
    offsets, sizes = values[:, 0].copy(), values[:, 1].copy()
    if len(offsets) and (offsets[0] != 0 or (sizes < HEADER_SIZE + FOOTER_SIZE).any()
                         or (offsets[1:] != offsets[:-1] + sizes[:-1]).any()):
        return None
    end = int(offsets[-1] + sizes[-1]) if len(offsets) else 0
    if shard_size is not None and end != shard_size:
        return None
    return offsets, sizes


def scan_records(path: str, f: BinaryIO | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Find every record of a shard by walking its headers (the data itself is skipped).

    The CRC of each length is checked, so a damaged header is found here; the CRC of the data
    is checked when the record is read.

    Args:
        path: the shard file (for reading and for error messages).
        f: an open binary file of ``path`` to use instead of opening it.

    Returns:
        (offsets, sizes), both (R,) int64: byte offset and framed size of every record.

    Raises:
        RecordError: a truncated record or a header whose CRC does not match.
    """
    own = f is None
    if own:
        f = open(path, "rb")  # noqa: SIM115 (closed in the finally below, when we opened it)
    try:
        size = os.fstat(f.fileno()).st_size
        offsets: list[int] = []
        sizes: list[int] = []
        pos = 0
        while pos < size:
            f.seek(pos)
            header = f.read(HEADER_SIZE)
            record = len(offsets)
            if len(header) < HEADER_SIZE:
                raise RecordError(f"truncated: the file ends {len(header)} bytes into the header at byte "
                                  f"{pos}; the shard was cut short, re-create it", path, record)
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise RecordError(f"corrupt header at byte {pos} (length CRC mismatch); the shard is damaged, "
                                  "re-create it", path, record)
            total = HEADER_SIZE + length + FOOTER_SIZE
            if pos + total > size:
                raise RecordError(f"truncated: the record at byte {pos} declares {length} data bytes but the "
                                  f"file ends after {size - pos - HEADER_SIZE}; the shard was cut short, "
                                  "re-create it", path, record)
            offsets.append(pos)
            sizes.append(total)
            pos += total
        return np.asarray(offsets, np.int64), np.asarray(sizes, np.int64)
    finally:
        if own:
            f.close()


class RecordReader:
    """Random access to the records of one shard through a known index.

    File handles are opened lazily and per process (``os.pread`` needs no shared file position,
    so threads share one handle), which makes the reader safe to pickle into worker processes.

    Args:
        path: the shard file.
        offsets: (R,) int64 byte offset of each record.
        sizes: (R,) int64 framed size of each record.
        check_crc: verify both CRCs of every record read.

    Example:
        >>> offsets, sizes = scan_records("train-00000-of-00001.tfrecord")       # doctest: +SKIP
        >>> RecordReader("train-00000-of-00001.tfrecord", offsets, sizes).read(0)  # doctest: +SKIP
    """

    def __init__(self, path: str, offsets: np.ndarray, sizes: np.ndarray, check_crc: bool = True):
        self.path = path
        self.offsets = offsets
        self.sizes = sizes
        self.check_crc = check_crc
        self._fd: int | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.offsets)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fd"] = state["_pid"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _handle(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            with self._lock:
                if self._fd is None or self._pid != pid:
                    self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                    self._pid = pid
        return self._fd

    def _pread(self, size: int, offset: int) -> bytes:
        fd = self._handle()
        if hasattr(os, "pread"):
            return os.pread(fd, size, offset)
        with self._lock:  # pragma: no cover - Windows
            os.lseek(fd, offset, os.SEEK_SET)
            return os.read(fd, size)

    def read(self, record: int) -> bytes:
        """The data of record ``record`` (0-based), CRC-checked.

        Raises:
            IndexError: ``record`` is out of range.
            RecordError: the record is truncated or a CRC does not match.
        """
        if not 0 <= record < len(self.offsets):
            raise IndexError(f"record {record} out of range for {len(self.offsets)} records in {self.path}")
        offset, size = int(self.offsets[record]), int(self.sizes[record])
        raw = self._pread(size, offset)
        if len(raw) < size:
            raise RecordError(f"truncated: expected {size} bytes at byte {offset}, the file has {len(raw)}; "
                              "the shard was cut short, re-create it (or delete its .index to rescan)",
                              self.path, record)
        length, length_crc = _HEADER.unpack_from(raw)
        if length != size - HEADER_SIZE - FOOTER_SIZE:
            raise RecordError(f"the header at byte {offset} declares {length} bytes but the index says "
                              f"{size - HEADER_SIZE - FOOTER_SIZE}; the index is stale, delete "
                              f"{index_path(self.path)} to rebuild it", self.path, record)
        data = raw[HEADER_SIZE:HEADER_SIZE + length]
        if self.check_crc:
            if masked_crc32c(raw[:8]) != length_crc:
                raise RecordError(f"corrupt header at byte {offset} (length CRC mismatch); re-create the shard",
                                  self.path, record)
            (data_crc,) = _FOOTER.unpack_from(raw, HEADER_SIZE + length)
            if masked_crc32c(data) != data_crc:
                raise RecordError(f"corrupt data at byte {offset} (data CRC mismatch: {length} bytes); the shard "
                                  "is damaged, re-create it", self.path, record)
        return data

    def close(self) -> None:
        """Close the file handle of this process (it is reopened on the next read)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = self._pid = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def iter_records(path: str, check_crc: bool = True) -> Iterator[bytes]:
    """Every record's data of a shard, front to back (for tools and tests)."""
    offsets, sizes = scan_records(path)
    reader = RecordReader(path, offsets, sizes, check_crc)
    try:
        for k in range(len(reader)):
            yield reader.read(k)
    finally:
        reader.close()

"""The exceptions seqloaders raises.

Every error is also a built-in exception, so ``except ValueError`` keeps working::

    SeqloadersError
    ├── AnnotationError (ValueError)      a malformed annotation file; carries path and line
    ├── ImageError (ValueError)           an image that cannot be decoded; carries path
    ├── EncodingError (ValueError)        targets that do not fit the encoder
    ├── RecordError (ValueError)          a corrupt or truncated record in a TFRecord shard;
    │                                     carries path and record number
    └── SampleError (RuntimeError)        any failure while loading one sample of a batch;
                                          names the sample and chains the original error

Missing files raise the built-in ``FileNotFoundError``.
"""

from __future__ import annotations

__all__ = [
    "SeqloadersError",
    "AnnotationError",
    "ImageError",
    "EncodingError",
    "RecordError",
    "SampleError",
]


class SeqloadersError(Exception):
    """Base class of every error raised by seqloaders."""


class AnnotationError(SeqloadersError, ValueError):
    """An annotation file is malformed.

    Args:
        message: what was expected and what was received.
        path: the annotation file.
        line: 1-based line number (or record number for binary formats), if known.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        where = self.path or "<string>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # keep path and line across process boundaries
        return (type(self), (self.reason, self.path, self.line))


class ImageError(SeqloadersError, ValueError):
    """An image cannot be decoded (corrupt, truncated, unsupported or too large)."""

    def __init__(self, message: str, path: str | None = None):
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(f"{self.path or '<bytes>'}: {message}")

    def __reduce__(self):
        return (type(self), (self.reason, self.path))


class EncodingError(SeqloadersError, ValueError):
    """Targets cannot be encoded with the given encoder settings."""


class RecordError(SeqloadersError, ValueError):
    """A record of a TFRecord shard is corrupt (CRC mismatch, truncated, not an Example).

    Args:
        message: what is wrong and how to fix it.
        path: the shard file.
        record: 0-based record number within the shard, if known.
    """

    def __init__(self, message: str, path: str | None = None, record: int | None = None):
        self.path = None if path is None else str(path)
        self.record = record
        self.reason = message
        where = self.path or "<records>"
        if record is not None:
            where = f"{where}: record {record}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # keep path and record number across process boundaries
        return (type(self), (self.reason, self.path, self.record))


class SampleError(SeqloadersError, RuntimeError):
    """Loading one sample of a batch failed; ``__cause__`` holds the original error."""

    def __init__(self, message: str, image: str | None = None):
        self.image = image
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.image))

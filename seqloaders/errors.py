"""The exceptions seqloaders raises.

Every error is also a built-in exception, so ``except ValueError`` keeps working::

    SeqloadersError
    ├── AnnotationError (ValueError)      a malformed annotation file; carries path and line
    ├── ImageError (ValueError)           an image that cannot be decoded; carries path
    ├── EncodingError (ValueError)        targets that do not fit the encoder
    ├── RecordError (ValueError)          a corrupt or truncated record in a TFRecord shard;
    │                                     carries path and record number
    ├── SampleError (RuntimeError)        any failure while loading one sample of a batch;
    │                                     names the sample, batch and epoch, chains the original error
    └── WorkerError (RuntimeError)        a Keras worker process died while batches were built

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
    "WorkerError",
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
    """Loading (or encoding) one sample of a batch failed; ``__cause__`` holds the original error.

    Raised from a worker process, the error is pickled: multiprocessing then sets ``__cause__``
    to a ``RemoteTraceback`` whose text is the worker's full traceback, the original error's
    included. Through TensorFlow's ``model.fit`` it arrives as the text of a ``tf.errors``
    exception, which contains this message and both tracebacks.

    Args:
        message: what failed, naming the sample.
        image: the sample's image (path, URI or storage key).
        batch: the batch index, if known.
        epoch: the Sequence's epoch, if known.
    """

    def __init__(self, message: str, image: str | None = None, batch: int | None = None,
                 epoch: int | None = None):
        self.image = image
        self.batch = batch
        self.epoch = epoch
        super().__init__(message)

    def __reduce__(self):  # keep image, batch and epoch across process boundaries
        return (type(self), (str(self), self.image, self.batch, self.epoch))


class WorkerError(SeqloadersError, RuntimeError):
    """A worker process of Keras' multiprocessing pool died (killed, out of memory, crashed).

    The batch it was building is lost and the pool cannot recover, so training stops with this
    error instead of waiting forever.

    Args:
        message: which process died, how, and what it was building.
        pid: the dead process's id.
        exitcode: its exit code (negative: the number of the signal that killed it).
    """

    def __init__(self, message: str, pid: int | None = None, exitcode: int | None = None):
        self.pid = pid
        self.exitcode = exitcode
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.pid, self.exitcode))

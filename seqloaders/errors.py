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

A :class:`SampleError` or :class:`WorkerError` leaves the Loader from ``Loader.batch`` with its
traceback starting there (the loader's own frames dropped, see :func:`leave_loader`), and the
original error's traceback starting at the first frame outside the loader (the decoder, your
augmenter or encoder). What Python prints is then the original error where it happened, then
the one line that names the sample, batch and epoch.

Through TensorFlow's ``model.fit`` every exception a ``PyDataset`` raises becomes the text of a
``tf.errors.UnknownError``: TensorFlow writes ``str(error)`` first, then
``traceback.format_exception(error)`` (the chain, then four frames of tf.data and Keras' adapter,
then ``str(error)`` again). That wrapping is TensorFlow's and has no public switch; a bare
``raise RuntimeError("x")`` in ``__getitem__`` gives 39 lines (TensorFlow 2.21), to which a
seqloaders error adds only the original error's frames and two of its own
(``tests/loader/test_worker_errors.py`` holds it to that).
"""

from __future__ import annotations

import os
import types

__all__ = [
    "AnnotationError",
    "EncodingError",
    "ImageError",
    "RecordError",
    "SampleError",
    "SeqloadersError",
    "WorkerError",
]

_LOADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loader", "")


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
    included (from its first frame outside the loader). Through TensorFlow's ``model.fit`` it
    arrives as the text of a ``tf.errors`` exception: this message, then the original traceback.

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


def without_loader_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` from its first frame outside ``seqloaders/loader/`` on (``tb`` itself if every frame is inside)."""
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename.startswith(_LOADER):
        first = first.tb_next
    return tb if first is None else first


def leave_loader(error: BaseException) -> BaseException:
    """``error`` ready to be raised again where it leaves the Loader (``raise leave_loader(exc)``).

    Its traceback is cleared, so it restarts at the frame that raises it (the caller's side);
    the traceback of its ``__cause__`` (the original error) starts at the first frame outside
    the loader. The cause itself stays: ``error.__cause__`` is the original error (or, from a
    worker process, a ``RemoteTraceback`` with its text).
    """
    cause = error.__cause__
    if cause is not None and cause.__traceback__ is not None:
        cause.__traceback__ = without_loader_frames(cause.__traceback__)
    error.__traceback__ = None
    return error

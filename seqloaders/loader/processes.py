"""Worker processes a Loader owns: whole batches built in other processes, pixels through shared memory.

Each worker is a process of its own with a pipe to the loader's process and a shared-memory
*slot*. A task names a batch (``epoch, index``), or some positions of one; the worker builds it
with its copy of the loader (``Loader._build`` or ``Loader._load_positions``: the very code the
threads run, so the arrays are the same), writes every array of the result into its slot, and
sends back only their layout and the small things (counters, skipped samples, loaded samples).
A result larger than the slot travels through the pipe once, and the slot grows for next time.

One thread in the loader's process, the collector, hands tasks to idle workers, copies results
out of the slots and resolves the futures. It waits on the pipes and on every worker's process
sentinel at once, so a worker that dies (killed, out of memory, a crash in native code) is seen
at once: every batch still owed fails with a :class:`~seqloaders.WorkerError` naming the
process, how it ended and the batch it was building. No pipe or lock is shared between
workers, so a dying worker cannot block the others or the shutdown.

Workers start with ``forkserver`` (``spawn`` where it is missing), which is safe after
TensorFlow, JAX or PyTorch have started threads; the forkserver preloads this module, so a
worker starts in milliseconds. Workers ignore SIGINT (Ctrl-C is the parent's to handle), exit
when their pipe closes, and are daemons that multiprocessing ends at exit.

Only public APIs are used: ``multiprocessing`` contexts, ``Process``, ``Pipe``,
``connection.wait`` and ``shared_memory.SharedMemory``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import threading
import traceback
import weakref
from collections.abc import Mapping
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from ..errors import SampleError, SeqloadersError, WorkerError, without_loader_frames
from .batch import Built, Loaded
from .threads import wait_for

__all__ = ["START_METHOD", "ProcessWorkers", "RemoteTraceback"]

logger = logging.getLogger(__name__)

START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
_ALIGN = 64
_preloaded = False


def _context():
    global _preloaded
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver" and not _preloaded:
        # the server imports numpy, OpenCV and seqloaders once; each worker is then forked from it
        context.set_forkserver_preload([__name__])
        _preloaded = True
    return context


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (set as the error's ``__cause__``)."""

    def __init__(self, text: str):
        self.text = text
        super().__init__(text)

    def __str__(self) -> str:
        return f"\n\"\"\"\n{self.text}\"\"\""


@dataclasses.dataclass
class _Leaf:
    """One array of a result: in the slot at ``offset``, or carried in the message (``value``)."""

    offset: int = -1
    shape: tuple = ()
    dtype: str = ""
    value: Any = None


@dataclasses.dataclass
class _Task:
    id: int
    epoch: int
    index: int
    positions: tuple[int, ...] | None  # None: the whole batch, built and encoded in the worker
    future: concurrent.futures.Future
    dest: np.ndarray | None = None  # where a part's images are copied to


class _Worker:
    def __init__(self, context: Any, payload: bytes, number: int, slot_bytes: int):
        self.number = number
        self.slot = shared_memory.SharedMemory(create=True, size=slot_bytes)
        self.conn, child = context.Pipe(duplex=True)
        try:
            self.process = context.Process(target=_serve, args=(child, payload), name=f"seqloaders-worker-{number}",
                                           daemon=True)
            self.process.start()
        except BaseException:  # not started (e.g. the main module started a loader while it was imported)
            self.conn.close()
            self.release_slot()
            raise
        finally:
            child.close()
        self.task: _Task | None = None

    def release_slot(self) -> None:
        try:
            self.slot.close()
            self.slot.unlink()
        except (FileNotFoundError, OSError, BufferError):
            pass


def _estimate_slot(loader: Any) -> int:
    """Bytes of one batch's arrays: the images exactly, the targets from the encoders' declared shapes."""
    h, w = loader.image_size
    images = loader.batch_size * h * w * 3 * (1 if loader.preprocess == "uint8" else 4)
    encoders = loader.encoder.values() if isinstance(loader.encoder, Mapping) else [loader.encoder]
    targets = 0
    for encoder in encoders:
        shape = getattr(encoder, "output_shape", None)
        try:
            targets += loader.batch_size * math.prod(shape) * np.dtype(getattr(encoder, "dtype", np.float32)).itemsize
        except TypeError:  # no fixed shape declared: leave room, the slot grows if it is not enough
            targets += images // 4
    return images + targets + 16 * _ALIGN + (1 << 16)


def pickled_loader(loader: Any) -> bytes:
    """The pickled loader, as worker processes get it; a TypeError naming what cannot be pickled."""
    try:
        return pickle.dumps(loader, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        parts = {"augment": loader.augment, "encoder": loader.encoder, "preprocess": loader.preprocess,
                 "storage": loader.storage, "samples": loader.samples}
        culprit = "the loader"
        for name, value in parts.items():
            try:
                pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                culprit = f"{name}={value!r}"
                break
        raise TypeError(f"processes={loader.processes} sends the loader to worker processes, so what it holds must "
                        f"be picklable, and {culprit} is not ({type(exc).__name__}: {exc}). Define augmenters, "
                        "encoders and preprocess functions at module level (not as lambdas or local functions), "
                        "or use threads= instead") from exc


class ProcessWorkers:
    """The worker processes of one Loader; see the module docstring.

    Args:
        loader: the loader (pickled once, sent to every worker).
        count: worker processes.
    """

    def __init__(self, loader: Any, count: int):
        payload = loader.check_picklable()
        ref = weakref.ref(loader)  # the collector must not keep the loader alive
        self._images_of = lambda epoch, index: ref().images_of(epoch, index) if ref() is not None else []
        self._count = int(count)
        self._lock = threading.Lock()
        self._queue: collections.deque[_Task] = collections.deque()
        self._ids = itertools.count()
        self._closed = False
        self.broken: WorkerError | None = None
        self.error_delivered = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        context = _context()
        slot = _estimate_slot(loader)
        self._workers = []
        try:
            for number in range(self._count):
                self._workers.append(_Worker(context, payload, number, slot))
        except BaseException:
            self._kill_all()
            raise
        self._collector = threading.Thread(target=self._run, name="seqloaders-collector", daemon=True)
        self._collector.start()

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [w.process.pid for w in self._workers]

    # -- the loader's side ----------------------------------------------------------------------

    def submit(self, epoch: int, index: int, positions: tuple[int, ...] | None = None,
               dest: np.ndarray | None = None, urgent: bool = False) -> concurrent.futures.Future:
        """A future of the whole batch (a ``Built``), or of some positions of it (a ``Loaded``)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self.broken is not None:
                future.set_exception(self.broken)
                return future
            if self._closed:
                raise RuntimeError("the loader's worker processes are closed")
            task = _Task(next(self._ids), int(epoch), int(index), positions, future, dest)
            if urgent:
                self._queue.appendleft(task)
            else:
                self._queue.append(task)
        self._wake()
        return future

    def build_split(self, loader: Any, epoch: int, index: int) -> Any:
        """Batch ``index`` of ``loader`` built now by all workers together (each loads a part), encoded here."""

        positions = loader.positions(index)
        scale = loader._scale()
        images = np.empty((len(positions), *loader.image_size, 3), np.uint8 if scale is None else np.float32)
        parts = min(self._count, len(positions))
        bounds = [round(k * len(positions) / parts) for k in range(parts + 1)]
        futures = [self.submit(epoch, index, tuple(positions[bounds[k]:bounds[k + 1]]),
                               images[bounds[k]:bounds[k + 1]], urgent=True) for k in range(parts)]
        loaded = []
        for future in futures:
            try:
                loaded.append(wait_for(future))
            except Exception as exc:
                loaded.append(exc)
        for part in loaded:  # the first position's error first, as with threads
            if isinstance(part, BaseException):
                raise part
        stats: dict[str, int] = {}
        for part in loaded:
            for key, value in part.stats.items():
                stats[key] = stats.get(key, 0) + value
        whole = Loaded(images, [s for part in loaded for s in part.samples], stats,
                        [s for part in loaded for s in part.skips])
        return loader._finish(epoch, index, whole)

    def close(self) -> None:
        """Stop the workers and the collector; batches still owed are cancelled."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
        for task in queued:
            task.future.cancel()
        self._wake()
        if threading.current_thread() is not self._collector:
            self._collector.join(5.0)
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in self._workers:
            worker.process.join(1.0)
        self._kill_all()
        closed = WorkerError("the loader was closed while this batch was being built")
        for worker in self._workers:
            if worker.task is not None:
                _resolve(worker.task.future, error=closed)
                worker.task = None
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _kill_all(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self._workers:
            worker.process.join(2.0)
            try:
                worker.conn.close()
            except OSError:
                pass
            worker.release_slot()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):  # full (a wake-up is pending anyway) or closed
            pass

    # -- the collector thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return
                self._dispatch()
                busy = [w.conn for w in self._workers if w.task is not None]
                sentinels = [w.process.sentinel for w in self._workers]
                ready = multiprocessing.connection.wait([*busy, *sentinels, self._wake_r], timeout=1.0)
                if self._wake_r in ready:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                for worker in self._workers:
                    if worker.conn in ready:
                        self._receive(worker)
                for worker in self._workers:
                    if worker.process.sentinel in ready:
                        self._died(worker)
                        return
        except Exception:
            logger.exception("seqloaders: the worker collector failed")
            self._break(WorkerError("the loader's worker collector failed; see the log for the traceback"))

    def _dispatch(self) -> None:
        for worker in self._workers:
            if worker.task is not None:
                continue
            while True:
                with self._lock:
                    task = self._queue.popleft() if self._queue else None
                if task is None:
                    return
                if task.future.set_running_or_notify_cancel():
                    break
            worker.task = task
            try:
                worker.conn.send((task.id, task.epoch, task.index, task.positions, worker.slot.name))
            except (OSError, ValueError):  # the worker is gone: its sentinel says how
                pass

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):  # it died mid-message; the sentinel follows
            return
        task, worker.task = worker.task, None
        kind = message[0]
        if kind == "init-error":
            self._break(WorkerError(f"worker process {worker.process.pid} could not load the loader it was sent: "
                                    f"{message[1]}\nWhat a loader with processes= holds must be importable in a new "
                                    "process: define augmenters, encoders and preprocess functions in a module (or "
                                    "at the top level of a script run as a file), or use threads= instead",
                                    worker.process.pid, None))
            return
        if task is None or message[1] != task.id:
            return
        if kind == "error":
            error, text = message[2], message[3]
            error.__cause__ = RemoteTraceback(text)
            _resolve(task.future, error=error)
            return
        _, _, layout, extra, needed = message
        result = self._result(task, _unpack(layout, worker.slot.buf, task.dest), extra)
        if needed > worker.slot.size:  # what did not fit travelled in the message; next time it will fit
            worker.release_slot()
            worker.slot = shared_memory.SharedMemory(create=True, size=int(needed * 1.25))
            logger.debug("seqloaders: worker slot grown to %d bytes", worker.slot.size)
        _resolve(task.future, result=result)

    @staticmethod
    def _result(task: _Task, arrays: Any, extra: tuple) -> Any:

        if task.positions is None:
            x, y = arrays
            counters, skips = extra
            return Built(x, y, counters, skips)
        samples, stats, skips = extra
        return Loaded(arrays, samples, stats, skips)

    def _died(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed:
                return
        worker.process.join(0.5)
        task = worker.task
        building = ""
        if task is not None:
            images = self._images_of(task.epoch, task.index)
            shown = images[0] if images else "no image"
            shown += f" and {len(images) - 1} more" if len(images) > 1 else ""
            building = f" while building batch {task.index} of epoch {task.epoch} ({shown})"
        pid, code = worker.process.pid, worker.process.exitcode
        lost = "that batch is lost" if task is not None else "its work is lost"
        self._break(WorkerError(
            f"a loader worker process (pid {pid}) {describe_exit(code)}{building}; {lost}, so loading stops here. "
            + exit_hint(code), pid, code))

    def _break(self, error: WorkerError) -> None:
        logger.debug("seqloaders: %s", error)  # the error itself reaches the caller: said once, not twice
        with self._lock:
            self.broken = error
            queued = list(self._queue)
            self._queue.clear()
            #: whether a batch owed got the error; if not (the workers died idle), the loader raises it itself
            self.error_delivered = bool(queued) or any(worker.task is not None for worker in self._workers)
        for task in queued:
            if task.future.set_running_or_notify_cancel():
                _resolve(task.future, error=error)
        for worker in self._workers:
            if worker.task is not None:
                _resolve(worker.task.future, error=error)
                worker.task = None


def _resolve(future: concurrent.futures.Future, result: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:  # cancelled, or resolved already
        pass


def exit_hint(exitcode: int | None) -> str:
    """What usually ends a worker process that way, and what to do about it."""
    if exitcode is not None and exitcode > 0:  # a Python error before its loop, which reports the rest
        return (f"It stopped on an error of its own before it could report one: its traceback is on stderr. A worker "
                f"starts ({START_METHOD}) by importing the main module, so when that traceback says \"An attempt has "
                "been made to start a new process before the current process has finished its bootstrapping "
                "phase\", put the script's work under `if __name__ == \"__main__\":`.")
    return ("If nothing killed it on purpose, the usual cause is the kernel's out-of-memory killer (see `dmesg`): "
            "lower processes, prefetch or batch_size.")


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, in words: ``"was killed by SIGKILL"``."""
    if exitcode is None:
        return "disappeared"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with code {exitcode}"


# -- arrays in and out of a slot ----------------------------------------------------------------


def _pack(value: Any, buf: memoryview) -> tuple[Any, int]:
    """``value`` with every array written into ``buf`` (those that fit) and replaced by a _Leaf."""
    offset = 0

    def walk(item: Any) -> Any:
        nonlocal offset
        if isinstance(item, np.ndarray) and item.dtype != object:
            start = -(-offset // _ALIGN) * _ALIGN
            offset = start + item.nbytes
            if offset > len(buf):
                return _Leaf(value=item)
            view = np.ndarray(item.shape, item.dtype, buffer=buf, offset=start)
            if not _same_memory(view, item):  # built in place (the batch's pixels) needs no copy
                view[...] = item
            del view
            return _Leaf(start, item.shape, item.dtype.str)
        if isinstance(item, dict):
            return {key: walk(v) for key, v in item.items()}
        if isinstance(item, (tuple, list)):
            return type(item)(walk(v) for v in item)
        return _Leaf(value=item)

    return walk(value), offset


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays are the same bytes (same start, shape, dtype and strides)."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.shape == b.shape
            and a.dtype == b.dtype and a.strides == b.strides)


def _unpack(layout: Any, buf: memoryview | None, dest: np.ndarray | None = None) -> Any:
    """The arrays of ``layout``, copied out of ``buf`` (into ``dest`` for a single array)."""
    if isinstance(layout, _Leaf):
        if layout.offset < 0:
            if dest is not None:
                dest[...] = layout.value
                return dest
            return layout.value
        view = np.ndarray(layout.shape, np.dtype(layout.dtype), buffer=buf, offset=layout.offset)
        if dest is not None:
            dest[...] = view
            out = dest
        else:
            out = view.copy()
        del view
        return out
    if isinstance(layout, dict):
        return {key: _unpack(v, buf) for key, v in layout.items()}
    return type(layout)(_unpack(v, buf) for v in layout)


# -- the worker process -------------------------------------------------------------------------


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else an error that carries its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return SeqloadersError(f"{type(exc).__name__}: {exc}")


def _run_task(loader: Any, epoch: int, index: int, positions: tuple[int, ...] | None,
              buf: memoryview) -> tuple[Any, Any, int]:
    """(layout, extra, bytes needed) of one task, its arrays written into ``buf``.

    A whole batch's pixels are loaded straight into the start of the slot when they fit there, so
    they are not copied once more; the rest of the result is packed after them.
    """
    size = len(loader.positions(index)) if positions is None else len(positions)
    shape, dtype = loader._pixels_layout(size)
    out = np.ndarray(shape, dtype, buffer=buf) if int(np.prod(shape)) * dtype.itemsize <= len(buf) else None
    try:
        if positions is None:
            built = loader._build(epoch, index, out=out)
            arrays, extra = (built.x, built.y), (built.counters, built.skips)
        else:
            loaded = loader._load_positions(epoch, positions, threads=1, out=out)
            arrays, extra = loaded.images, (loaded.samples, loaded.stats, loaded.skips)
        layout, needed = _pack(arrays, buf)
        return layout, extra, needed
    finally:  # no view of the slot may outlive the task: the slot is closed when it grows
        del out


def _remote_text(exc: BaseException) -> str:
    """The traceback the parent attaches: a SampleError's original error from its first frame outside the loader.

    The SampleError itself travels pickled (its message names the sample, batch and epoch); any
    other error (a bug in the loader) keeps its whole traceback.
    """
    cause = exc.__cause__ if isinstance(exc, SampleError) else None
    if cause is None:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "".join(traceback.format_exception(type(cause), cause, without_loader_frames(cause.__traceback__)))


def _serve(conn: Any, payload: bytes) -> None:
    """A worker's life: load the loader, then build what is asked until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes us
    try:
        import cv2

        cv2.setNumThreads(1)  # the process is the unit of parallelism
    except ImportError:
        pass
    try:
        loader = pickle.loads(payload)
        loader.threads, loader.processes = 1, 0
    except BaseException as exc:
        conn.send(("init-error", "".join(traceback.format_exception_only(type(exc), exc)).strip()))
        return
    slot: shared_memory.SharedMemory | None = None
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the loader's process closed the pipe or died
                return
            if message is None:
                return
            task_id, epoch, index, positions, slot_name = message
            if slot is None or slot.name != slot_name:
                if slot is not None:
                    slot.close()
                slot = shared_memory.SharedMemory(name=slot_name)
            try:
                reply = _run_task(loader, epoch, index, positions, slot.buf)
                reply = ("done", task_id, *reply)
            except Exception as exc:
                reply = ("error", task_id, _portable(exc), _remote_text(exc))
            try:
                conn.send(reply)
            except (OSError, ValueError):
                return
            del reply
    finally:
        if slot is not None:
            try:
                slot.close()
            except BufferError:
                pass

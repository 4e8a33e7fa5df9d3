"""Keras worker processes under supervision: a dead worker becomes an error, worker reports reach the parent.

With ``use_multiprocessing=True``, Keras builds batches on a ``multiprocessing.Pool`` (a new one
every epoch, see ``keras/src/trainers/data_adapters/py_dataset_adapter.py``) and waits on every
batch's ``AsyncResult`` without a timeout. When a worker process dies (the out-of-memory killer, a
crash in a native library, ``kill -9``), the batch it was building never arrives and ``fit`` waits
forever; a worker killed while it held the pool's input-queue lock also blocks every other worker
and the pool's own ``terminate()``.

The :class:`WorkerLink` of a Sequence lives in the process that made it. One daemon thread per
process, the monitor, serves every link:

* it watches the pools Keras keeps in ``py_dataset_adapter._DATA_POOLS``. That weak set is
  swapped for a subclass whose ``add`` also hands each new pool to the monitor, so every worker
  process is known from its first moment (the pool reaps and replaces a dead worker within
  milliseconds: polling alone would miss early deaths). When a worker of a pool still in use has
  exited with a non-zero code, every result that pool still owes, and every one submitted to it
  later, fails with a :class:`~seqloaders.WorkerError` naming the process, the signal and the batch
  it was building, so ``fit`` raises within about a second. Once Keras has closed the pool (or 10 s
  later), the monitor terminates it, killing the surviving workers and releasing the queue lock
  the dead one may have held, so that neither ``Pool.terminate()`` nor the interpreter's exit
  waits forever; at exit it shuts down broken pools before multiprocessing's own exit handler runs;
* it drains a pipe on which forked worker processes send what they counted per batch (skipped
  samples, dropped boxes), so :meth:`SampleSequence.report` in the parent covers every batch.

This reads private attributes of ``multiprocessing.pool.Pool`` (``_pool``, ``_cache``, ``_state``,
``_inqueue``, ``_outqueue``, ``_worker_handler``), unchanged since Python 3.8; where one is
missing the monitor leaves the pool alone. Reports come only from workers *forked* from the
parent (the default start method on Linux up to Python 3.13); under "spawn" or "forkserver" the
Sequence is pickled into the workers without its pipe and ``report()`` covers the parent only
(dead workers are still detected: that happens in the parent).

Example:
    >>> import seqloaders as sl
    >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
    >>> seq = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=4,
    ...                            image_size=(64, 64), encoder=sl.GridEncoder(grid_size=4),
    ...                            workers=2, use_multiprocessing=True)
    >>> seq._worker_link.supervised
    True
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.pool
import os
import pickle
import select
import signal
import struct
import threading
import time
import weakref
from typing import Any

from .errors import WorkerError

__all__ = ["WorkerLink"]

_SIGINT_LEFT_IN: int | None = None  # the worker process that already ignores SIGINT


def _leave_ctrl_c_to_the_parent() -> None:
    """In a worker process, ignore SIGINT (once per process), as multiprocessing pools should.

    A Ctrl-C in a terminal reaches the whole process group. A worker interrupted inside the pool's
    result-queue lock leaves that lock held, and the parent's shutdown then waits on it forever;
    ignoring SIGINT in the workers leaves the interrupt to the parent, whose ``fit`` unwinds and
    shuts the pool down.
    """
    global _SIGINT_LEFT_IN
    pid = os.getpid()
    if _SIGINT_LEFT_IN != pid and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _SIGINT_LEFT_IN = pid

logger = logging.getLogger(__name__)

_POLL_S = 0.1  # how often the monitor looks at the pools and drains the pipes
_FRAME = struct.Struct("<I")
_ATOMIC_WRITE = getattr(select, "PIPE_BUF", 512)  # POSIX: writes up to PIPE_BUF bytes are never interleaved
_MAX_TEXT = 600  # characters of an error message carried in a report
_KEEP_BROKEN_S = 5.0  # how long a broken pool's new results keep being failed after its shutdown

# The monitor takes a Sequence's lock while it files a report. A fork at that moment would leave the
# lock held forever in the child, so forks wait for the report being filed.
_DISPATCH_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_DISPATCH_LOCK.acquire, after_in_parent=_DISPATCH_LOCK.release,
                        after_in_child=_DISPATCH_LOCK.release)


class _Channel:
    """A pipe from forked worker processes to their parent; messages are small pickled tuples.

    Both ends are non-blocking: a writer never waits on a parent that does not read (a message
    the full pipe refuses is dropped and logged), and every frame fits one atomic write.
    """

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self._buffer = bytearray()
        self._read_lock = threading.Lock()
        self.closed = False

    def send(self, message: tuple) -> bool:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _FRAME.pack(len(data)) + data
        if len(frame) > _ATOMIC_WRITE:
            logger.warning("seqloaders: a load report of %d bytes is too long for the worker pipe; dropped", len(frame))
            return False
        try:
            os.write(self.write_fd, frame)
        except BlockingIOError:
            logger.warning("seqloaders: the worker report pipe is full (the parent is not reading); a load report "
                           "was dropped")
            return False
        except OSError:  # the parent closed the pipe: nobody is listening any more
            return False
        return True

    def receive(self) -> list[tuple]:
        messages = []
        with self._read_lock:
            while not self.closed:
                try:
                    chunk = os.read(self.read_fd, 65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if not chunk:
                    break
                self._buffer += chunk
            while len(self._buffer) >= _FRAME.size:
                (size,) = _FRAME.unpack_from(self._buffer)
                if len(self._buffer) < _FRAME.size + size:
                    break
                data = bytes(self._buffer[_FRAME.size:_FRAME.size + size])
                del self._buffer[:_FRAME.size + size]
                try:
                    messages.append(pickle.loads(data))
                except Exception:  # noqa: BLE001 - a garbled report must not stop the monitor
                    logger.warning("seqloaders: an unreadable load report from a worker was dropped")
        return messages

    def close(self) -> None:
        with self._read_lock:
            if self.closed:
                return
            self.closed = True
            for fd in (self.read_fd, self.write_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass


class WorkerLink:
    """Connects a Sequence, in the process that made it, with the Keras worker processes forked from it.

    In the parent (``os.getpid() == owner_pid``) it files the reports that arrive on the pipe into
    the Sequence and registers with the monitor; in a forked worker its hooks send reports up the
    pipe. A link pickles as a fresh, unconnected one.

    The Sequence must provide ``_record_batch(epoch, index, stats)`` and
    ``_record_skip(epoch, image, message)``, ``use_multiprocessing``, ``samples``,
    ``batch_size`` and ``permutation(epoch)``.

    Args:
        sequence: the Sequence (held through a weak reference).
    """

    def __init__(self, sequence: Any = None):
        self.owner_pid = os.getpid()
        self._sequence = None if sequence is None else weakref.ref(sequence)
        self.channel: _Channel | None = None
        self.building: dict[int, tuple[int, int]] = {}  # worker pid -> (epoch, batch index) it is building
        self.ensure()

    def __reduce__(self):
        return (WorkerLink, ())

    @property
    def supervised(self) -> bool:
        """Whether worker processes report to this link and the monitor watches the pools."""
        return self.channel is not None and not self.channel.closed

    def _in_worker(self) -> bool:
        return self.channel is not None and os.getpid() != self.owner_pid

    def ensure(self) -> None:
        """Open the pipe and start the monitor if the Sequence uses worker processes (parent only)."""
        if self.channel is not None or self._sequence is None or os.getpid() != self.owner_pid:
            return
        sequence = self._sequence()
        if sequence is None or not getattr(sequence, "use_multiprocessing", False):
            return
        self.channel = _Channel()
        weakref.finalize(self, self.channel.close)
        _MONITOR.register(self)

    # -- hooks called by the Sequence --------------------------------------------------------------

    def batch_started(self, epoch: int, index: int) -> None:
        """In a worker: tell the parent which batch this process builds (named if the process dies)."""
        if os.getpid() != self.owner_pid:
            _leave_ctrl_c_to_the_parent()
        if self._in_worker():
            self.channel.send(("start", os.getpid(), int(epoch), int(index)))
        elif self.channel is None:
            self.ensure()

    def batch_done(self, epoch: int, index: int, stats: dict[str, int]) -> None:
        """In a worker: send the batch's counters to the parent."""
        if self._in_worker():
            self.channel.send(("batch", os.getpid(), int(epoch), int(index), dict(stats)))

    def sample_skipped(self, epoch: int, image: str, message: str) -> None:
        """In a worker: send a skipped sample to the parent."""
        if self._in_worker():
            self.channel.send(("skip", int(epoch), str(image)[:_MAX_TEXT], str(message)[:_MAX_TEXT]))

    # -- the parent's side -------------------------------------------------------------------------

    def drain(self) -> None:
        """File the reports that arrived from the workers into the Sequence (parent only)."""
        if self.channel is None or os.getpid() != self.owner_pid:
            return
        messages = self.channel.receive()
        if not messages:
            return
        sequence = self._sequence() if self._sequence is not None else None
        with _DISPATCH_LOCK:
            for message in messages:
                kind = message[0]
                if kind == "start":
                    _, pid, epoch, index = message
                    self.building[pid] = (epoch, index)
                elif kind == "batch":
                    _, pid, epoch, index, stats = message
                    self.building.pop(pid, None)
                    if sequence is not None:
                        sequence._record_batch(epoch, index, stats)
                elif kind == "skip" and sequence is not None:
                    _, epoch, image, text = message
                    sequence._record_skip(epoch, image, text)

    def describe_batch(self, pid: int) -> str | None:
        """``"batch 3 of epoch 2 (a.jpg, b.jpg)"`` if process ``pid`` was building a batch of this Sequence."""
        where = self.building.pop(pid, None)
        if where is None:
            return None
        epoch, index = where
        text = f"batch {index} of epoch {epoch}"
        sequence = self._sequence() if self._sequence is not None else None
        try:
            perm = sequence.permutation(epoch)
            start = index * sequence.batch_size
            images = [str(sequence.samples[int(i)].image) for i in perm[start:start + sequence.batch_size]]
        except Exception:  # noqa: BLE001 - the description is a courtesy
            return text
        shown = ", ".join(images[:8]) + (f" and {len(images) - 8} more" if len(images) > 8 else "")
        return f"{text} ({shown})"


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "disappeared as its pool started"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    if exitcode == 1:
        return "exited with code 1 (an exception outside any task, e.g. KeyboardInterrupt from Ctrl-C)"
    return f"exited with code {exitcode}"


def _release(lock: Any) -> None:
    try:
        lock.release()
    except (ValueError, AttributeError, OSError):  # not held (or not a multiprocessing lock)
        pass


def _terminate_quietly(pool: multiprocessing.pool.Pool) -> None:
    try:
        pool.terminate()
    except Exception:  # noqa: BLE001 - a broken pool may fail to terminate cleanly; its processes are killed anyway
        logger.debug("seqloaders: terminating a broken worker pool failed", exc_info=True)


def _shut_down(pool: multiprocessing.pool.Pool) -> None:
    """Terminate a pool one of whose workers died, even if the dead worker held a queue lock."""
    terminator = threading.Thread(target=_terminate_quietly, args=(pool,), name="seqloaders-pool-terminate",
                                  daemon=True)
    terminator.start()
    terminator.join(2.0)
    if not terminator.is_alive():
        return
    # Pool.terminate() waits for the input queue's read lock, which a worker killed while waiting for
    # a task never released. Stop the survivors first, then free the lock (nobody else can hold it).
    logger.debug("seqloaders: Pool.terminate() is stuck on the task queue lock; killing the workers, freeing it")
    handler = getattr(pool, "_worker_handler", None)
    if handler is not None:
        handler.join(2.0)  # terminate() told it to stop; after this no worker is started behind our back
    workers = list(getattr(pool, "_pool", ()))
    for worker in workers:
        if worker.exitcode is None:
            worker.kill()
    for worker in workers:
        worker.join(2.0)
    _release(getattr(getattr(pool, "_inqueue", None), "_rlock", None))
    terminator.join(2.0)
    if terminator.is_alive():  # a worker died while writing a result: free the result queue's write lock too
        _release(getattr(getattr(pool, "_outqueue", None), "_wlock", None))
        terminator.join(2.0)
    if terminator.is_alive():
        logger.warning("seqloaders: a broken worker pool could not be shut down completely; its threads are left "
                       "behind (daemon threads, they end with the process)")


class _Broken:
    """A pool one of whose workers died: its results fail until it is shut down."""

    def __init__(self, pool: multiprocessing.pool.Pool, error: tuple[str, int, int | None]):
        self.pool = pool  # a strong reference: Keras dropping the pool must not run its finalizer in Keras' thread
        self.error = error
        self.since = time.monotonic()
        self.shutdown: threading.Thread | None = None
        self.ended: float | None = None

    def start_shutdown(self) -> None:
        self.shutdown = threading.Thread(target=_shut_down, args=(self.pool,), name="seqloaders-pool-shutdown",
                                         daemon=True)
        self.shutdown.start()


class _Monitor:
    """The one thread per process that watches Keras' worker pools and drains the report pipes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._links: weakref.WeakSet[WorkerLink] = weakref.WeakSet()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._seen: dict[int, dict[int, Any]] = {}  # id(pool) -> {pid: Process} of its workers
        self._broken: dict[int, _Broken] = {}

    def register(self, link: WorkerLink) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: the parent's thread is not here
                self._links = weakref.WeakSet()
                self._thread = None
                self._seen = {}
                self._broken = {}
                self._pid = os.getpid()
                _watch_keras_pools()
            self._links.add(link)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="seqloaders-monitor", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """At exit: stop watching, and shut down broken pools before multiprocessing's finalizers would hang on them."""
        self._stopping = True
        if self._pid != os.getpid():
            return
        for broken in list(self._broken.values()):
            if broken.shutdown is None:
                _shut_down(broken.pool)
            else:
                broken.shutdown.join(8.0)

    def pool_created(self, pool: Any) -> None:
        """Note the worker processes of a pool Keras has just made (called in the thread that made it)."""
        if self._pid != os.getpid():
            return
        try:
            workers = {process.pid: process for process in list(pool._pool)}
            missing = pool._processes - len(workers)
        except (AttributeError, TypeError):
            return
        self._seen[id(pool)] = workers
        if missing > 0:  # a worker died before this moment and was reaped (its replacement is not started yet)
            self._break(pool, None, None, [])

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the monitor must outlive any one bad tick
                logger.debug("seqloaders: worker monitor tick failed", exc_info=True)
                time.sleep(_POLL_S)

    def _tick(self) -> None:
        links = [link for link in list(self._links) if link.supervised]
        fds = [link.channel.read_fd for link in links]
        if fds:
            try:
                select.select(fds, [], [], _POLL_S)
            except (OSError, ValueError):  # a pipe was closed meanwhile
                time.sleep(_POLL_S)
        else:
            time.sleep(_POLL_S)
        if self._stopping:
            return
        for link in links:
            link.drain()
        self._watch_pools(links)

    def _watch_pools(self, links: list[WorkerLink]) -> None:
        try:
            from keras.src.trainers.data_adapters import py_dataset_adapter
            pools = list(py_dataset_adapter._DATA_POOLS)
        except (ImportError, AttributeError, RuntimeError):  # RuntimeError: the set changed while listed
            pools = []
        alive = set()
        for pool in pools:
            key = id(pool)
            alive.add(key)
            if key in self._broken or not hasattr(pool, "_pool") or not hasattr(pool, "_cache"):
                continue
            if getattr(pool, "_state", None) == multiprocessing.pool.TERMINATE:
                self._seen.pop(key, None)
                continue
            seen = self._seen.get(key)
            if seen is None:
                seen = self._seen[key] = {}
            for process in list(pool._pool):
                seen.setdefault(process.pid, process)
            for pid, process in list(seen.items()):
                try:
                    exitcode = process.exitcode
                except ValueError:  # the Process object was closed
                    seen.pop(pid)
                    continue
                if exitcode is None:
                    continue
                seen.pop(pid)
                if exitcode != 0:
                    self._break(pool, pid, exitcode, links)
                    break
        for key in list(self._seen):
            if key not in alive:
                del self._seen[key]
        now = time.monotonic()
        for key, broken in list(self._broken.items()):
            _fail_pending(broken.pool, broken.error)  # results submitted after the death fail too
            if broken.shutdown is None:
                # Keras closes the pool once it has seen the error; terminating it earlier would make Keras
                # report "Pool not running" instead of the WorkerError
                if getattr(broken.pool, "_state", None) != multiprocessing.pool.RUN or now - broken.since > 10.0:
                    broken.start_shutdown()
            elif broken.ended is None:
                if not broken.shutdown.is_alive():
                    broken.ended = now
            elif now - broken.ended > _KEEP_BROKEN_S:
                del self._broken[key]

    def _break(self, pool: multiprocessing.pool.Pool, pid: int | None, exitcode: int | None,
               links: list[WorkerLink]) -> None:
        batch = None
        for link in links:
            batch = (link.describe_batch(pid) if pid is not None else None) or batch
        who = f"a Keras worker process (pid {pid})" if pid is not None else "a Keras worker process"
        building = f" while building {batch}" if batch else ""
        lost = ("that batch is lost" if batch
                else "whatever it held (a task, or the lock of the pool's task queue) is lost")
        message = (f"{who} {_describe_exit(exitcode)}{building}; {lost} and the worker pool cannot recover, so "
                   "training stops here. If nothing killed it on purpose, the usual cause is the kernel's "
                   "out-of-memory killer (see `dmesg`): lower `workers`, `max_queue_size` or `batch_size`, or use "
                   "threads (`use_multiprocessing=False`).")
        logger.warning("seqloaders: %s", message)
        self._seen.pop(id(pool), None)
        broken = self._broken[id(pool)] = _Broken(pool, (message, pid, exitcode))
        _fail_pending(pool, broken.error)


def _fail_pending(pool: multiprocessing.pool.Pool, error: tuple[str, int | None, int | None]) -> None:
    """Make every result the pool still owes raise a WorkerError in whoever waits on it."""
    try:
        pending = list(pool._cache.values())
    except (AttributeError, RuntimeError):  # RuntimeError: the cache changed while listed; next tick
        return
    for result in pending:
        if type(result) is not multiprocessing.pool.ApplyResult or result.ready():
            continue
        try:
            result._set(0, (False, WorkerError(*error)))
        except KeyError:  # the result handler filed it at the same moment
            pass


class _WatchedPools(weakref.WeakSet):
    """Keras' registry of its worker pools, telling the monitor about each new pool as it is added."""

    def add(self, item: Any) -> None:
        super().add(item)
        try:
            _MONITOR.pool_created(item)
        except Exception:  # noqa: BLE001 - never break Keras' own bookkeeping
            logger.debug("seqloaders: could not note a new worker pool", exc_info=True)


def _watch_keras_pools() -> None:
    try:
        from keras.src.trainers.data_adapters import py_dataset_adapter
    except ImportError:
        return
    pools = getattr(py_dataset_adapter, "_DATA_POOLS", None)
    if isinstance(pools, weakref.WeakSet) and not isinstance(pools, _WatchedPools):
        py_dataset_adapter._DATA_POOLS = _WatchedPools(pools)


_MONITOR = _Monitor()
atexit.register(_MONITOR.close)  # runs before multiprocessing's own exit handler (registered earlier)

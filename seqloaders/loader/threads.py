"""Daemon worker threads: they never hold up the interpreter's exit.

``concurrent.futures.ThreadPoolExecutor`` joins its threads at exit, so a read-ahead that keeps
retrying a server that has gone away keeps the process alive for a minute. These threads are
daemons: at exit they simply stop.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["DaemonPool", "exiting", "in_call", "release_waiters", "wait_for"]

_exiting = threading.Event()
_waiters = 0
_waiters_lock = threading.Lock()
_left_at = float("-inf")  # when a thread other than the main one last left the loader (time.monotonic())


def wait_for(future: concurrent.futures.Future) -> Any:
    """``future.result()``, given up (with ``RuntimeError``) once :func:`release_waiters` runs at exit.

    At interpreter exit, a thread still waiting in Python when finalization starts can never
    run again; if it belongs to TensorFlow (a ``tf.data`` thread calling a Sequence), the main
    thread then waits for it forever. So every wait for a batch is counted and released at exit.
    """
    global _waiters
    with _waiters_lock:
        _waiters += 1
    try:
        while True:
            try:
                return future.result(timeout=0.1)
            except concurrent.futures.TimeoutError:
                if _exiting.is_set():
                    raise RuntimeError("the interpreter is exiting; the batch was abandoned") from None
    finally:
        with _waiters_lock:
            _waiters -= 1


def exiting() -> bool:
    """Whether :func:`release_waiters` has run: the interpreter is exiting, no new batch is started."""
    return _exiting.is_set()


@contextlib.contextmanager
def in_call() -> Iterator[None]:
    """Count the calling thread as inside the loader (a batch being taken), for :func:`release_waiters`.

    A thread that builds a batch itself (``threads=1``, or a tf.data thread calling a Sequence) is
    in Python for the whole batch, not only while it waits; finalization must not start under it.
    """
    global _waiters, _left_at
    with _waiters_lock:
        _waiters += 1
    try:
        yield
    finally:
        with _waiters_lock:
            _waiters -= 1
            if threading.get_ident() != threading.main_thread().ident:
                _left_at = time.monotonic()


def release_waiters(timeout: float = 2.0, grace: float = 0.3) -> None:
    """At exit: make every :func:`wait_for` give up, and wait (up to ``timeout``) until no thread is inside.

    Then, until a thread other than the main one last left the loader ``grace`` seconds ago,
    wait with the GIL free: the thread that called the loader (TensorFlow's, for ``model.fit``)
    still has Python to run after the loader returns or raises (Keras' generator ending,
    ``tf.data`` finalizing it). If finalization starts first, that thread can never take the GIL
    again, and the main thread, destroying the ``tf.data`` iterator, waits for it forever.
    A loader only the main thread called (or none called lately) costs the exit nothing.
    """
    _exiting.set()
    deadline = time.monotonic() + timeout
    while True:
        with _waiters_lock:
            busy, quiet_at = _waiters > 0, _left_at + grace
        now = time.monotonic()
        if now >= deadline or (not busy and now >= quiet_at):
            return
        time.sleep(0.01 if busy else min(quiet_at, deadline) - now)


class DaemonPool:
    """A fixed number of daemon threads running submitted calls, each returning a ``Future``.

    Threads start on first use. A queued call whose future was cancelled is not run.

    Args:
        count: threads.
        name: prefix of the threads' names.
    """

    def __init__(self, count: int, name: str):
        self.count = max(1, int(count))
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: the pool is closed")
            if not self._threads:
                for k in range(self.count):
                    thread = threading.Thread(target=_serve, args=(self._queue,), name=f"{self.name}-{k}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
        self._queue.put((future, fn, args))
        return future

    def close(self) -> None:
        """Stop the threads once the calls already queued have run (does not wait for them)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)

    def join(self, deadline: float) -> None:
        """After :meth:`close`: wait for the threads to end, until ``deadline`` (``time.monotonic()``).

        At interpreter exit a daemon thread still inside native code (a decoder's thread pool)
        when finalization starts can abort the process ("terminate called without an active
        exception"), so the exit handler lets the current call finish first.
        """
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _serve(tasks: queue.SimpleQueue) -> None:
    while True:
        item = tasks.get()
        if item is None:
            return
        future, fn, args = item
        del item
        if not future.set_running_or_notify_cancel():
            continue
        try:
            result = fn(*args)
        except BaseException as exc:
            future.set_exception(exc)
            del exc
        else:
            future.set_result(result)
            del result  # an idle thread must not keep the last batch it built alive
        del future, fn, args

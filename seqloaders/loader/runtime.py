"""What a running Loader holds in one process (its threads, worker processes and batches built
ahead), and the exit handler that stops them all before the interpreter finalizes."""

from __future__ import annotations

import atexit
import multiprocessing.util  # noqa: F401 - registers its exit handler before ours: atexit runs ours first
import os
import threading
import time
import weakref
from typing import Any

import numpy as np

from .threads import DaemonPool, release_waiters

__all__ = ["Runtime"]

_RUNNING: weakref.WeakSet = weakref.WeakSet()  # the runtimes of this process, closed at exit


@atexit.register
def _close_at_exit() -> None:
    """Before multiprocessing's own exit handler: stop every loader's workers, release whoever waits on them."""
    runtimes = [rt for rt in list(_RUNNING) if rt.pid == os.getpid()]
    pools = [pool for rt in runtimes for pool in (rt.ahead, rt.images) if pool is not None]
    for rt in runtimes:
        rt.close()
    release_waiters()
    deadline = time.monotonic() + 2.0  # a batch being built finishes (a read that hangs does not hold the exit)
    for pool in pools:
        pool.join(deadline)


class Runtime:
    """What a Loader holds while it runs (threads, worker processes, batches built ahead); never pickled."""

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.stop = threading.Event()  # set by close(): background work gives up (no more retries)
        self.images: DaemonPool | None = None
        self.ahead: DaemonPool | None = None
        self.processes: Any = None
        self.pending: dict[tuple[int, int], Any] = {}  # (epoch, index) -> Future of a Built
        self.perm: tuple[int, np.ndarray] | None = None
        self.scratch = threading.local()
        _RUNNING.add(self)

    def close(self) -> None:
        self.stop.set()
        with self.lock:
            pending, self.pending = self.pending, {}
            pools, self.images, self.ahead = (self.images, self.ahead), None, None
            processes, self.processes = self.processes, None
        for future in pending.values():
            future.cancel()
        for pool in pools:
            if pool is not None:
                pool.close()
        if processes is not None:
            processes.close()

"""What every variant's run shares: the run's context, epoch timing and the library's DetectionSequence."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

from ..records import Sample
from .config import BenchConfig, NotApplicable

__all__ = ["RunContext", "Runner", "detection_sequence", "iterate_epoch", "require_local_files", "time_epochs"]


@dataclasses.dataclass
class RunContext:
    """What one (variant, workers) run works on.

    Attributes:
        samples: the samples to load.
        workers: threads (or cores) the variant may use.
        config: epochs, batch and image size.
        tfrecord_pattern: the shards of variant (f), or None.
    """

    samples: list[Sample]
    workers: int
    config: BenchConfig
    tfrecord_pattern: str | None = None

    @property
    def num_classes(self) -> int:
        top = max((int(s.labels.max()) for s in self.samples if s.num_boxes), default=0)
        return top + 1


#: a variant's run: its context in; the seconds of every epoch (warm-up first), images per epoch and notes out
Runner = Callable[[RunContext], tuple[list[float], int, list[str]]]


def time_epochs(run_epoch: Callable[[], int], count: int) -> tuple[list[float], int]:
    """Run ``run_epoch`` ``count`` times; (wall seconds of each, images of the last)."""
    seconds, images = [], 0
    for _ in range(count):
        start = time.perf_counter()
        images = run_epoch()
        seconds.append(time.perf_counter() - start)
    return seconds, images


def iterate_epoch(dataset, pool: concurrent.futures.ThreadPoolExecutor | None) -> int:
    """One epoch of a PyDataset in a plain loop; with a pool, its threads call ``__getitem__`` in
    order, as Keras' ``OrderedEnqueuer`` does with ``workers > 1``."""
    n = 0
    batches = (dataset[i] for i in range(len(dataset))) if pool is None else pool.map(
        dataset.__getitem__, range(len(dataset)))
    for x, _ in batches:
        n += len(x)
    dataset.on_epoch_end()
    return n


def require_local_files(samples: list[Sample]) -> None:
    """Raise :class:`NotApplicable` unless the samples' images are local files."""
    if not os.path.isfile(samples[0].image):
        raise NotApplicable(f"needs local image files; {samples[0].image!r} is not one")


def detection_sequence(ctx: RunContext, samples: Any = None, **kwargs: Any) -> Any:
    """The library's DetectionSequence with grid targets over ``samples`` (default: the context's).

    Imported here, on first use: the sequence module imports Keras.
    """
    from ..encoders.grid import GridEncoder
    from ..sequence import DetectionSequence

    return DetectionSequence(ctx.samples if samples is None else samples, batch_size=ctx.config.batch_size,
                             image_size=ctx.config.image_size,
                             encoder=GridEncoder(grid_size=ctx.config.grid_size, num_classes=ctx.num_classes),
                             threads=ctx.workers, seed=ctx.config.seed, **kwargs)

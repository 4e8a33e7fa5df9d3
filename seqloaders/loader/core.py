"""The Loader: batches of (x, y) as a pure function of (seed, epoch, index), with no Keras import.

One batch, in one pass:

1. ``permutation(epoch)`` orders this shard's samples for the epoch (seeded by ``seed, epoch``);
2. ``_load_positions`` reads, decodes, resizes and augments the batch's samples into one array
   (:func:`~seqloaders.load_sample` per sample, on the loader's threads), replacing a failed
   sample by the next one of the epoch under ``on_error="skip"``/``"warn"``;
3. with a :class:`~seqloaders.MultiImageAugmenter` (``augment="yolo"``), ``_mix`` makes each
   output image from several of the batch's loaded ones (mosaic, MixUp), on the same threads;
4. ``_finish`` applies a callable ``preprocess`` and encodes the targets;
5. ``batch`` hands it out and files its counters (``report()``).

Steps 1-4 run wherever the batch is built: the caller's thread, the read-ahead thread, or a
worker process (:mod:`seqloaders.loader.processes`), which is why the result cannot depend on
where they run.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..augment.mosaic import MultiImageAugmenter
from ..augment.presets import as_augmenter
from ..encoders.base import TargetEncoder
from ..errors import SampleError, WorkerError, leave_loader
from ..formats.errorpolicy import check_on_error
from ..imageio import DEFAULT_MAX_PIXELS
from ..pipeline import LoadOptions, load_sample
from ..records import LoadedSample, Sample
from ..storage.files import stop_retries_when
from ..storage.remote import default_storage
from .batch import Built, Loaded, encoding_error, failure_reason
from .epoch import epoch_order, parse_shard
from .report import LoadCounters, LoadReport, Tally
from .runtime import Runtime
from .threads import DaemonPool, exiting, in_call, wait_for

__all__ = ["Built", "Loader"]

MAX_REPLACEMENTS = 16  # consecutive failed samples tried at one position before the batch fails
_MIX_STREAM = MAX_REPLACEMENTS  # last seed word of a multi-image augmenter's generators (attempts stay below it)


class Loader:
    """Batches of (images, encoded targets) from samples, for any training loop; Keras not needed.

    ``loader.batch(epoch, index)`` is a pure function of (seed, epoch, index): the same arrays
    whichever thread or process builds them, in whatever order they are asked for. Each image is
    read and decoded once per batch (JPEGs at the smallest DCT scale that keeps the output's
    pixels), resized, augmented with its targets, and encoded.

    Work is done by the loader's own workers, chosen by one argument:

    * ``threads=N`` (default: one per core, at most 8): the images of a batch are decoded on N
      threads. Decoding and the native augmenter release the GIL, so threads are the fastest
      choice for them, and they start instantly.
    * ``processes=N``: N worker processes build whole batches and write them into shared memory
      (no pickling of image arrays). Use them when the per-image Python work holds the GIL: an
      albumentations pipeline, your own augmenter or encoder. They start with ``forkserver``
      (``spawn`` where it is missing), never a bare fork of a process whose TensorFlow, JAX or
      PyTorch threads are running; so what you pass must be picklable, and a script that uses
      them needs the usual ``if __name__ == "__main__":`` guard. A dead worker raises
      :class:`~seqloaders.WorkerError` naming it and its batch; an exception in a worker
      arrives with its traceback.

    Iterating (:meth:`iter_epoch`) builds the next ``prefetch`` batches in the background while
    the caller uses one; the Keras Sequences do the same when asked for batches in order.

    Args:
        samples: a list of :class:`~seqloaders.Sample` (or any random-access sequence of them).
        batch_size: images per batch.
        image_size: (H, W) of the model input.
        encoder: a :class:`~seqloaders.TargetEncoder`, or a dict of them (``y`` is then a dict).
        augment: None, an :class:`~seqloaders.Augmenter`, an albumentations ``Compose``, a
            function with albumentations' calling convention, a preset name ("detection",
            "yolo"), or a :class:`~seqloaders.MultiImageAugmenter` (e.g.
            :class:`~seqloaders.YoloAugmenter`: mosaic, MixUp), which mixes each batch's images
            after they are loaded; its ``at_epoch`` schedule (mosaic off for the last epochs) is
            a pure function of the epoch, so it resumes with the rest.
        resize: "stretch" or "letterbox" (keeps the aspect ratio, pads with ``pad_value``).
        pad_value: letterbox fill.
        preprocess: "scale" (float32 in [0, 1]), None (float32 in [0, 255]), "uint8", or a
            callable applied to the float32 [0, 255] batch.
        shuffle: reshuffle the samples every epoch.
        seed: seed of shuffling and augmentation.
        drop_remainder: drop the last incomplete batch.
        on_error: "raise", "warn" or "skip" for a sample that cannot be loaded; a skipped sample
            is replaced by the next one of the epoch and listed in :meth:`report`.
        storage: where images are read from (default: the source's own, fsspec for URLs, else
            local files).
        threads: decoding threads per batch.
        processes: worker processes (0: none, use threads).
        prefetch: batches built ahead while iterating (default: 2 per process, or 1 with threads).
        augment_at: "output" (augment after resizing, the fast default) or "source".
        max_pixels: refuse images whose header declares more pixels.
        shard: ``(index, count)`` or a ``tf.distribute.InputContext``: this worker sees a
            disjoint ``ceil(n / count)``-sized part of every epoch.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
        >>> loader = sl.Loader(sl.read_wider_face(toy.annotations, toy.images), batch_size=4,
        ...                    image_size=(64, 64), encoder=sl.GridEncoder(grid_size=4))
        >>> len(loader), loader.batch(epoch=0, index=1)[1].shape
        (2, (4, 4, 4, 5))
        >>> for x, y in loader.iter_epoch(0):
        ...     pass
        >>> loader.close()
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        batch_size: int = 32,
        image_size: tuple[int, int] = (224, 224),
        encoder: TargetEncoder | Mapping[str, TargetEncoder] | None = None,
        *,
        augment: Any = None,
        resize: str = "stretch",
        pad_value: int = 0,
        preprocess: str | Callable[[np.ndarray], np.ndarray] | None = "scale",
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        on_error: str = "raise",
        storage: Any = None,
        threads: int | None = None,
        processes: int = 0,
        prefetch: int | None = None,
        augment_at: str = "output",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        shard: tuple[int, int] | Any = None,
    ):
        if encoder is None:
            raise TypeError("encoder is required, e.g. encoder=sl.GridEncoder(grid_size=7, num_classes=1)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_on_error(on_error)
        if not (preprocess in ("scale", "uint8", None) or callable(preprocess)):
            raise ValueError(f"preprocess must be 'scale', 'uint8', None or a callable, got {preprocess!r}")
        if len(samples) == 0:
            raise ValueError("samples is empty: there is nothing to load")
        if int(processes) < 0:
            raise ValueError(f"processes must be >= 0, got {processes}")
        if threads is not None and int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if prefetch is not None and int(prefetch) < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self.samples = samples
        self.batch_size = int(batch_size)
        encoders = encoder.values() if isinstance(encoder, Mapping) else [encoder]
        self.options = LoadOptions(image_size=tuple(image_size), resize=resize, pad_value=pad_value,
                                   augment_at=augment_at, max_pixels=max_pixels,
                                   masks=any(getattr(enc, "needs_masks", False) for enc in encoders))
        self.image_size = self.options.image_size
        self.encoder = encoder
        self.augment = as_augmenter(augment)
        self.preprocess = preprocess
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_remainder = bool(drop_remainder)
        self.on_error = on_error
        self.storage = default_storage(samples) if storage is None else storage
        self.threads = max(1, int(threads if threads is not None else min(8, os.cpu_count() or 1)))
        self.processes = int(processes)
        self.prefetch = int(prefetch) if prefetch is not None else (2 * self.processes if self.processes else 1)
        self.shard = parse_shard(shard)
        if drop_remainder and self._epoch_size() < batch_size:
            raise ValueError(f"drop_remainder=True with {self._epoch_size()} samples and batch_size={batch_size} "
                             "leaves no batch")
        self._tally = Tally(len(self))
        self._rt_state: Runtime | None = None

    # -- lifetime -------------------------------------------------------------------------------

    @property
    def _rt(self) -> Runtime:
        rt = self._rt_state
        if rt is None or rt.pid != os.getpid():  # first use, or a forked child: the parent's threads are not here
            rt = self._rt_state = Runtime()
            weakref.finalize(self, rt.close)
        return rt

    def close(self) -> None:
        """Stop the loader's threads and worker processes and drop the batches built ahead.

        The loader stays usable: a later call starts its workers again. Also done when the
        loader is garbage-collected and at interpreter exit.
        """
        rt, self._rt_state = self._rt_state, None
        if rt is not None and rt.pid == os.getpid():
            rt.close()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_rt_state"] = None
        state["_tally"] = None  # counters stay with the process that hands out the batches
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._tally = Tally(len(self))

    # -- the epoch ------------------------------------------------------------------------------

    def _epoch_size(self) -> int:
        n = len(self.samples)
        count = self.shard[1]
        return -(-n // count) if count > 1 else n

    def __len__(self) -> int:
        n = self._epoch_size()
        return n // self.batch_size if self.drop_remainder else math.ceil(n / self.batch_size)

    def permutation(self, epoch: int) -> np.ndarray:
        """The sample indices of ``epoch`` in order, for this shard.

        When the shard count does not divide the dataset, the last shards repeat the epoch's
        first samples, so all shards have the same length and no sample is left out.
        """
        rt = self._rt
        cached = rt.perm
        if cached is not None and cached[0] == epoch:
            return cached[1]
        perm = epoch_order(len(self.samples), self.seed, epoch, self.shuffle, self.shard)
        rt.perm = (epoch, perm)
        return perm

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")

    def positions(self, index: int) -> range:
        """The positions in the epoch's permutation that batch ``index`` holds."""
        start = index * self.batch_size
        return range(start, min(start + self.batch_size, self._epoch_size()))

    def images_of(self, epoch: int, index: int) -> list[str]:
        """The images of batch ``index`` of ``epoch`` (before any replacement of failed samples)."""
        perm = self.permutation(epoch)
        return [str(self.samples[int(perm[p])].image) for p in self.positions(index)]

    # -- handing out batches --------------------------------------------------------------------

    def batch(self, epoch: int, index: int) -> tuple[Any, Any]:
        """Batch ``index`` of ``epoch``: ``(x, y)``, the same whoever builds it and when.

        Returns:
            x: (B, H, W, 3) float32 (or uint8 with ``preprocess="uint8"``); y: the encoder's
            (B, ...) array, or a dict of them.

        Raises:
            IndexError: ``index`` is not a batch of the epoch.
            SampleError: a sample could not be loaded or encoded (``on_error="raise"``), or
                too many in a row failed.
            WorkerError: a worker process died while building it.
        """
        self._check_index(index)
        try:
            with in_call():
                if exiting():  # at exit no batch is started: the caller may be a thread finalization must not run under
                    raise RuntimeError("the interpreter is exiting; the loader hands out no more batches")
                built = self._take(epoch, index)
        except (SampleError, WorkerError) as exc:
            # raised again from here, without the loader's frames (see errors.py); its cause stays
            raise leave_loader(exc)  # noqa: B904 (leave_loader keeps the cause)
        self._deliver(epoch, index, built)
        return built.x, built.y

    def _take(self, epoch: int, index: int) -> Built:
        """The batch built ahead, or built now (by this thread and its helpers, or by the worker processes)."""
        rt = self._rt
        with rt.lock:
            future = rt.pending.pop((epoch, index), None)
        if future is not None:
            try:
                return wait_for(future)
            except concurrent.futures.CancelledError:  # dropped from the window meanwhile: build it here
                pass
        if self.processes:
            if self._mixer(epoch) is not None:  # the mixing needs the whole batch: one worker builds it
                return wait_for(self._processes().submit(epoch, index, urgent=True))
            return self._processes().build_split(self, epoch, index)
        return self._build(epoch, index)

    def prefetch_batches(self, epoch: int, indices: Sequence[int] | range) -> None:
        """Start building these batches of ``epoch`` in the background (for :meth:`batch` to take).

        Batches built ahead earlier and not in ``indices`` are dropped, so at most
        ``len(indices)`` batches are held.
        """
        if exiting():  # nothing new is started at exit (batch() says so)
            return
        rt = self._rt
        wanted = [(epoch, i) for i in indices if 0 <= i < len(self)]
        with rt.lock:
            for key in [k for k in rt.pending if k not in wanted]:
                rt.pending.pop(key).cancel()
            missing = [key for key in wanted if key not in rt.pending]
        for key in missing:
            future = self._submit_ahead(*key)
            with rt.lock:
                rt.pending.setdefault(key, future)

    @property
    def ahead(self) -> list[tuple[int, int]]:
        """The (epoch, index) of the batches being built (or built) ahead, in order."""
        rt = self._rt
        with rt.lock:
            return sorted(rt.pending)

    def iter_epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Any, Any]]:
        """The batches of ``epoch`` in order from ``start``, the next ``prefetch`` built ahead.

        Example:
            >>> for epoch in range(3):                             # doctest: +SKIP
            ...     for x, y in loader.iter_epoch(epoch):
            ...         train_step(x, y)
        """
        for index in range(start, len(self)):
            self.prefetch_batches(epoch, range(index, index + 1 + self.prefetch))
            yield self.batch(epoch, index)
        self.prefetch_batches(epoch, ())

    def _submit_ahead(self, epoch: int, index: int):
        if exiting():
            raise RuntimeError("the interpreter is exiting; the loader builds nothing more")
        if self.processes:
            return self._processes().submit(epoch, index)
        rt = self._rt
        with rt.lock:
            if rt.ahead is None:
                rt.ahead = DaemonPool(1, "seqloaders-ahead")
            ahead = rt.ahead
        return ahead.submit(self._build_ahead, epoch, index, rt.stop)

    def _build_ahead(self, epoch: int, index: int, stop: threading.Event) -> Built:
        with stop_retries_when(stop):  # nobody waits for it once the loader is closed: no more retries
            return self._build(epoch, index)

    def _processes(self):
        rt = self._rt
        with rt.lock:
            pool = rt.processes
            if pool is not None and pool.broken is not None:  # a worker died: the next batch gets a new pool
                pool.close()
                rt.processes = None
                if not pool.error_delivered:  # it died idle: no batch carried the error, so this call does
                    pool.error_delivered = True
                    raise pool.broken
                pool = None
            if pool is None:
                from .processes import ProcessWorkers

                pool = rt.processes = ProcessWorkers(self, self.processes)
        return pool

    def _deliver(self, epoch: int, index: int, built: Built) -> None:
        self._tally.record(epoch, index, built.counters, built.skips)
        if self.on_error == "warn":
            for image, message in built.skips:
                warnings.warn(f"skipping {image}: {message}", UserWarning, stacklevel=3)

    # -- building a batch (anywhere: this thread, a thread ahead, a worker process) -------------

    def _pixels_layout(self, size: int, uint8: bool = False) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) of the pixels of ``size`` loaded samples, before a callable preprocess."""
        dtype = np.uint8 if uint8 or self._scale() is None else np.float32
        return (size, *self.image_size, 3), np.dtype(dtype)

    def _scale(self) -> np.float32 | None:
        """The factor the loading threads apply to the uint8 pixels (None: keep uint8)."""
        return None if self.preprocess == "uint8" else np.float32(1 / 255 if self.preprocess == "scale" else 1)

    def _build(self, epoch: int, index: int, out: np.ndarray | None = None) -> Built:
        """(x, y, counters) of a batch: a pure function of (seed, epoch, index); pixels into ``out`` if given."""
        self._check_index(index)
        mixer = self._mixer(epoch)
        if mixer is None:
            loaded = self._load_positions(epoch, self.positions(index), out=out)
        else:
            positions = self.positions(index)
            loaded = self._mix(mixer, epoch, positions, self._load_positions(epoch, positions, uint8=True), out=out)
        return self._finish(epoch, index, loaded)

    def _mixer(self, epoch: int) -> MultiImageAugmenter | None:
        """The multi-image augmenter of ``epoch``, or None (each output is one loaded image)."""
        return self.augment.at_epoch(epoch) if isinstance(self.augment, MultiImageAugmenter) else None

    def _sample_augmenter(self, epoch: int) -> Any:
        """The augmenter each image gets while it is loaded: ``augment``, or a multi-image augmenter's ``before``."""
        if not isinstance(self.augment, MultiImageAugmenter):
            return self.augment
        mixer = self.augment.at_epoch(epoch)
        return as_augmenter((mixer or self.augment).before)

    def _mix(self, mixer: MultiImageAugmenter, epoch: int, positions: Sequence[int], loaded: Loaded, *,
             uint8: bool = False, out: np.ndarray | None = None) -> Loaded:
        """The outputs of a multi-image augmenter from a batch's loaded uint8 images, on the loader's threads.

        Output k draws from ``default_rng([seed, epoch, shard, position of k, _MIX_STREAM])``.
        """
        scale = None if uint8 else self._scale()
        images = np.empty(*self._pixels_layout(len(positions), uint8)) if out is None else out
        expected = (*self.image_size, 3)
        results: list = [None] * len(positions)

        def one(k: int) -> None:
            rng = np.random.default_rng([self.seed, epoch, self.shard[0], positions[k], _MIX_STREAM])
            image, sample, stats = mixer(k, loaded.images, loaded.samples, rng)
            if image.shape != expected or image.dtype != np.uint8:
                raise ValueError(f"{mixer!r} returned an image of {image.shape} {image.dtype} for output {k}; "
                                 f"expected {expected} uint8")
            if scale is None:
                images[k] = image
            else:
                np.multiply(image, scale, out=images[k])
            results[k] = (sample, stats)

        self._each(len(positions), one)
        stats = dict(loaded.stats)
        for _, sample_stats in results:
            for key, value in sample_stats.items():
                stats[key] = stats.get(key, 0) + value
        return Loaded(images, [sample for sample, _ in results], stats, loaded.skips)

    def _each(self, count: int, fn: Callable[[int], None], threads: int | None = None) -> None:
        """``fn(k)`` for k in range(count): this thread and the loader's threads take the next k; first error raised.

        Each thread takes the next k until none is left: balanced like one task per k, without a
        future and two thread hand-overs for each, and this thread works too.
        """
        threads = min(self.threads if threads is None else threads, count)
        if threads <= 1:
            for k in range(count):
                fn(k)
            return
        errors: dict[int, BaseException] = {}
        order = iter(range(count))  # next() on it is atomic under the GIL

        def drain() -> None:
            for k in order:
                try:
                    fn(k)
                except Exception as exc:
                    errors[k] = exc

        rt = self._rt
        with rt.lock:
            if rt.images is None:
                rt.images = DaemonPool(self.threads, "seqloaders")
            pool = rt.images
        helpers = [pool.submit(drain) for _ in range(threads - 1)]
        drain()
        for task in helpers:
            task.result()
        if errors:
            raise errors[min(errors)]

    def _finish(self, epoch: int, index: int, loaded: Loaded) -> Built:
        """Preprocess (a callable) and encode the loaded samples of a whole batch."""
        x = loaded.images
        if callable(self.preprocess):
            x = np.asarray(self.preprocess(x), np.float32)
        stats = dict(loaded.stats)
        try:
            if isinstance(self.encoder, Mapping):
                y = {name: enc.encode_batch(loaded.samples, self.image_size, stats)
                     for name, enc in self.encoder.items()}
            else:
                y = self.encoder.encode_batch(loaded.samples, self.image_size, stats)
        except Exception as exc:
            raise encoding_error(self.encoder, self.image_size, exc, loaded.samples, index, epoch) from exc
        return Built(x, y, LoadCounters.from_stats(stats), loaded.skips)

    def _load_positions(self, epoch: int, positions: Sequence[int], *, uint8: bool = False,
                        threads: int | None = None, out: np.ndarray | None = None) -> Loaded:
        """Load the samples at these positions of the epoch into one (k, H, W, 3) array (uint8, or as preprocess).

        ``out``: the array to fill (a worker process's shared-memory slot), as :meth:`_pixels_layout` says.
        """
        perm = self.permutation(epoch)
        augment = self._sample_augmenter(epoch)
        scale = None if uint8 else self._scale()
        images = np.empty(*self._pixels_layout(len(positions), uint8)) if out is None else out
        results: list = [None] * len(positions)

        def load(k: int) -> None:
            results[k] = self._load_position(perm, positions[k], epoch, images[k], scale, augment)

        self._each(len(positions), load, threads)
        stats: dict[str, int] = {}
        samples, skips = [], []
        for sample, sample_stats, sample_skips in results:
            samples.append(sample)
            skips.extend(sample_skips)
            for key, value in sample_stats.items():
                stats[key] = stats.get(key, 0) + value
        return Loaded(images, samples, stats, skips)

    def _load_position(self, perm: np.ndarray, pos: int, epoch: int, out: np.ndarray, scale: np.float32 | None,
                       augment: Any):
        """(sample, stats, skips) of one position; a failed sample is replaced by the next one of the epoch."""
        target = out
        if scale is not None:  # load into this thread's uint8 buffer, then convert straight into the batch
            scratch = self._rt.scratch
            out = getattr(scratch, "image", None)
            if out is None:
                out = scratch.image = np.empty((*self.image_size, 3), np.uint8)
        n = len(perm)
        skips: list[tuple[str, str]] = []
        last_exc = None
        for attempt in range(min(MAX_REPLACEMENTS, n)):
            sample = self.samples[int(perm[(pos + attempt) % n])]
            rng = None if augment is None else np.random.default_rng([self.seed, epoch, self.shard[0], pos, attempt])
            try:
                _, loaded, stats = load_sample(sample, self.storage, self.options, augment, rng, out=out)
            except Exception as exc:
                batch = pos // self.batch_size
                if self.on_error == "raise":
                    raise SampleError(f"failed to load sample {sample.image!r} (batch {batch}, epoch {epoch}, "
                                      f"position {pos}): {failure_reason(exc, sample)}",
                                      str(sample.image), batch, epoch) from exc
                skips.append((str(sample.image), f"{type(exc).__name__}: {exc}"))
                last_exc = exc
                continue
            if attempt:
                stats = dict(stats, skip_events=attempt)
            if scale is not None:
                np.multiply(out, scale, out=target)
            return loaded, stats, skips
        raise SampleError(f"{len(skips)} consecutive samples from position {pos} (batch {pos // self.batch_size}, "
                          f"epoch {epoch}) failed to load; last error: {skips[-1][1]}", None, pos // self.batch_size,
                          epoch) from last_exc

    # -- inspection -----------------------------------------------------------------------------

    def load_batch(self, epoch: int, index: int) -> tuple[np.ndarray, list[LoadedSample]]:
        """The uint8 images and the loaded records of a batch, before preprocessing and encoding.

        Returns:
            (B, H, W, 3) uint8 RGB images and their B :class:`~seqloaders.LoadedSample` records
            (boxes XYXY pixels of them).
        """
        self._check_index(index)
        positions = self.positions(index)
        loaded = self._load_positions(epoch, positions, uint8=True)
        mixer = self._mixer(epoch)
        if mixer is not None:
            loaded = self._mix(mixer, epoch, positions, loaded, uint8=True)
        return loaded.images, loaded.samples

    def report(self, epoch: int | None = None) -> LoadReport:
        """What was skipped or dropped in the batches handed out so far, or in one epoch.

        Args:
            epoch: only the batches of this epoch (kept for the current and the previous epochs).
        """
        return self._tally.report(epoch)

    def check_picklable(self) -> bytes:
        """The pickled loader, as worker processes get it; a TypeError naming what cannot be pickled."""
        from .processes import pickled_loader

        return pickled_loader(self)

    def __repr__(self) -> str:
        aug = "None" if self.augment is None else repr(self.augment)
        workers = f"processes={self.processes}" if self.processes else f"threads={self.threads}"
        return (f"{type(self).__name__}({len(self.samples)} samples, batch_size={self.batch_size}, "
                f"{len(self)} batches, "
                f"image_size={self.image_size}, resize={self.options.resize!r}, encoder={self.encoder!r}, "
                f"augment={aug}, shuffle={self.shuffle}, seed={self.seed}, {workers}, prefetch={self.prefetch})")

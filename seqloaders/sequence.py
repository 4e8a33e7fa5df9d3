"""Keras ``PyDataset`` subclasses that compose storage, decoding, augmentation and encoding."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from .augment import as_augmenter
from .encoders.base import TargetEncoder
from .errors import SampleError
from .imageio import DEFAULT_MAX_PIXELS
from .pipeline import LoadOptions, load_sample
from .records import Sample
from .storage.remote import default_storage
from .workers import WorkerLink

__all__ = ["SampleSequence", "DetectionSequence", "SegmentationSequence", "KeypointSequence",
           "ClassificationSequence", "LoadReport"]

_ON_ERROR = ("raise", "warn", "skip")
_MAX_REPLACEMENTS = 16
_CREATE_LOCK = threading.Lock()


def _reset_create_lock() -> None:
    global _CREATE_LOCK
    _CREATE_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_create_lock)


@dataclasses.dataclass
class LoadReport:
    """What a Sequence skipped or could not encode, so nothing is lost silently.

    Attributes:
        skipped: image → error message, for every sample skipped under ``on_error="skip"``.
        skip_events: how many times a sample was replaced in a batch (over all epochs).
        boxes_without_area: boxes dropped because nothing of them lay inside the image
            (zero-size annotations), or because the augmentation left them out (moved out of
            the image, or less of them inside than its ``min_visibility``).
        boxes_not_encoded: boxes the encoder could not hold (e.g. two boxes in one grid cell).
    """

    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    skip_events: int = 0
    boxes_without_area: int = 0
    boxes_not_encoded: int = 0

    def __str__(self) -> str:
        return (f"{len(self.skipped)} images skipped ({self.skip_events} times), {self.boxes_without_area} boxes "
                f"without area, {self.boxes_not_encoded} boxes not encoded")


def _parse_shard(shard: Any) -> tuple[int, int]:
    if shard is None:
        return (0, 1)
    if hasattr(shard, "input_pipeline_id") and hasattr(shard, "num_input_pipelines"):
        shard = (shard.input_pipeline_id, shard.num_input_pipelines)
    index, count = (int(v) for v in shard)
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
    return index, count


class SampleSequence(keras.utils.PyDataset):
    """Batches of (images, encoded targets) for ``model.fit``, streamed lazily from samples.

    The one loading core of every task; the encoder decides what ``y`` is. The task classes
    (:class:`DetectionSequence`, :class:`SegmentationSequence`, :class:`KeypointSequence`,
    :class:`ClassificationSequence`) only choose a default encoder.

    Each image is read and decoded once per batch (JPEGs at the smallest DCT scale that keeps
    the output's pixels), resized, augmented together with its boxes, and encoded. The images of
    a batch are decoded on a thread pool (OpenCV releases the GIL), so even a plain loop with
    ``workers=1`` uses every core. A batch is a pure function of (seed, epoch, batch index).

    Args:
        samples: a list of :class:`Sample` (or any random-access sequence of them).
        batch_size: images per batch.
        image_size: (H, W) of the model input.
        encoder: a :class:`TargetEncoder` (e.g. :class:`GridEncoder`), or a dict of them for a
            multi-output model (``y`` is then a dict).
        augment: None, an albumentations ``Compose`` built with
            ``bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"])``, an
            :class:`Augmenter`, a function with albumentations' calling convention, or a preset
            name (``"detection"``).
        resize: "stretch" (fill the input, as most tutorials do) or "letterbox" (keep the
            aspect ratio, pad with ``pad_value``).
        preprocess: "scale" (float32 in [0, 1], default), None (float32 in [0, 255]),
            "uint8" (no conversion: normalise on the accelerator), or a callable applied to the
            float32 [0, 255] batch (e.g. ``keras.applications.mobilenet_v2.preprocess_input``).
        shuffle: reshuffle the samples every epoch.
        seed: seed of shuffling and augmentation.
        drop_remainder: drop the last incomplete batch.
        on_error: "raise" (default), "warn" or "skip" for an image that cannot be loaded;
            skipped samples are replaced by the next ones of the epoch so the batch keeps its
            shape, and listed in :meth:`report`.
        storage: where images are read from (default: ``samples.storage`` if the sample source
            has one, such as TFRecord shards, else an :class:`FsspecStorage` when the images are
            URLs such as ``s3://...``, else local files).
        threads: decoding threads per batch (default: the number of cores, at most 8).
        augment_at: "output" (augment after resizing, the fast default) or "source".
        max_pixels: refuse images whose header declares more pixels.
        shard: ``(index, count)`` for multi-worker training, or a ``tf.distribute.InputContext``:
            this worker sees a disjoint ``ceil(n / count)``-sized part of every epoch (the
            epoch's permutation is shared through ``seed``); when ``count`` does not divide the
            dataset, the last shards repeat the epoch's first samples so all shards stay equal
            and no sample is left out.
        read_ahead: when batches are asked for in order by one caller (a plain loop, or
            ``model.fit(..., shuffle=False)`` with ``workers=1``), build batch ``i + 1`` (and
            batch 0 of the next epoch) in the background while the caller uses batch ``i``.
            Batches are the same either way; costs one batch of memory. It starts at an
            epoch's first batch or after three requests in order (fit's default
            ``shuffle=True`` asks for batches in random order, which this Sequence does not
            need: it reshuffles the samples every epoch).
            Off with Keras ``workers > 1`` or processes, whose enqueuer already works ahead.
        workers, use_multiprocessing, max_queue_size: forwarded to ``keras.utils.PyDataset``.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
        >>> samples = sl.read_wider_face(toy.annotations, toy.images)
        >>> seq = sl.DetectionSequence(samples, batch_size=4, image_size=(224, 224),
        ...                            encoder=sl.GridEncoder(grid_size=7))
        >>> x, y = seq[0]
        >>> x.shape, y.shape
        ((4, 224, 224, 3), (4, 7, 7, 5))
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
        augment_at: str = "output",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        shard: tuple[int, int] | Any = None,
        read_ahead: bool = True,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if encoder is None:
            raise TypeError("encoder is required, e.g. encoder=sl.GridEncoder(grid_size=7, num_classes=1)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(_ON_ERROR)}, got {on_error!r}")
        if not (preprocess in ("scale", "uint8", None) or callable(preprocess)):
            raise ValueError(f"preprocess must be 'scale', 'uint8', None or a callable, got {preprocess!r}")
        if len(samples) == 0:
            raise ValueError("samples is empty: there is nothing to load")
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
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_remainder = drop_remainder
        self.on_error = on_error
        if storage is None:  # the source's own (TFRecord shards, remote readers), FsspecStorage for URLs, else local
            storage = default_storage(samples)
        self.storage = storage
        self.threads = max(1, int(threads if threads is not None else min(8, os.cpu_count() or 1)))
        self.epoch = 0
        self.shard = _parse_shard(shard)
        self.read_ahead = bool(read_ahead)
        if drop_remainder and len(samples) < batch_size:
            raise ValueError(f"drop_remainder=True with {len(samples)} samples and batch_size={batch_size} "
                             "leaves no batch")
        self._init_runtime()
        self._worker_link = WorkerLink(self)  # with worker processes: reports from them, a watch on their health

    # -- state that does not cross process boundaries -------------------------------------------

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_pid = None
        self._perm_cache: tuple[int, np.ndarray] | None = None
        self._ahead_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._ahead: tuple[int, int, concurrent.futures.Future] | None = None
        self._last_request: tuple[int, int] | None = None
        self._in_order = 0  # how many requests in a row asked for the batch after the previous one
        self._scratch = threading.local()
        self._skipped: dict[str, str] = {}
        self._batch_stats: dict[tuple[int, int], dict[str, int]] = {}
        self._totals: dict[str, int] = {}
        self._skip_log: dict[int, dict[str, str]] = {}  # epoch -> {image: why} of the last few epochs

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_lock", "_pool", "_pool_pid", "_perm_cache", "_skipped", "_batch_stats", "_totals",
                    "_ahead_pool", "_ahead", "_scratch", "_last_request", "_in_order", "_skip_log"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_runtime()

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        pid = os.getpid()
        if self._pool_pid != pid:
            with _CREATE_LOCK:
                if self._pool_pid != pid:
                    if self._pool_pid is not None:  # a forked worker: the parent's threads and lock are gone
                        self._lock = threading.Lock()
                    self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="seqloaders")
                    self._ahead_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="seqloaders-ahead")
                    self._ahead = None
                    self._pool_pid = pid
        return self._pool

    # -- keras.utils.PyDataset ------------------------------------------------------------------

    def __len__(self) -> int:
        n = self._epoch_size()
        return n // self.batch_size if self.drop_remainder else math.ceil(n / self.batch_size)

    @property
    def num_batches(self) -> int:
        return len(self)

    def on_epoch_end(self) -> None:
        """Advance to the next epoch: the samples are reshuffled, the augmentation draws anew.

        ``epoch`` counts these calls. Keras 3's ``fit`` also calls it once before the first
        epoch, so fit's first epoch reads ``epoch == 1``; batches stay a pure function of
        (seed, epoch, index) either way.
        """
        finished_in_order = self._last_request == (self.epoch, len(self) - 1) and self._in_order >= 2
        self.epoch += 1
        if finished_in_order:
            self._schedule_ahead(self.epoch, 0)

    def set_epoch(self, epoch: int) -> None:
        """Jump to ``epoch`` (to resume training, or to replay a batch)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int):
        epoch = self.epoch
        x, y, stats = self._take_ahead(epoch, index) or self._build_batch(index, epoch)
        previous, self._last_request = self._last_request, (epoch, index)
        first = index == 0 and (previous is None or previous[0] != epoch)
        # an epoch's start, or three in order, mean a loop; in a shuffled order two neighbours come
        # up by chance once in n batches and three once in n², so a batch is rarely built for nothing
        self._in_order = 2 if first else self._in_order + 1 if previous == (epoch, index - 1) else 0
        if self._in_order >= 2:
            self._schedule_ahead(epoch, index + 1)
        self._record_batch(epoch, index, stats)
        self._worker_link.batch_done(epoch, index, stats)  # in a worker process: the counters go to the parent
        return x, y

    # -- the batch ------------------------------------------------------------------------------

    def _build_batch(self, index: int, epoch: int):
        """(x, y, stats) of a batch: a pure function of (seed, epoch, index)."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        self._worker_link.batch_started(epoch, index)  # in a worker process: named if the process dies
        # "scale" and None are applied per image by the loading threads; a callable gets the batch
        scale = None if self.preprocess == "uint8" else np.float32(1 / 255 if self.preprocess == "scale" else 1)
        x, samples, stats = self._load_batch(index, epoch, scale)
        if callable(self.preprocess):
            x = np.asarray(self.preprocess(x), np.float32)
        try:
            if isinstance(self.encoder, Mapping):
                y = {name: enc.encode_batch(samples, self.image_size, stats) for name, enc in self.encoder.items()}
            else:
                y = self.encoder.encode_batch(samples, self.image_size, stats)
        except Exception as exc:  # noqa: BLE001 - re-raised naming the sample
            raise self._encoding_error(exc, samples, index, epoch) from exc
        return x, y, stats

    def _encoding_error(self, exc: Exception, samples: list[Sample], index: int, epoch: int) -> SampleError:
        """A SampleError naming the sample whose targets ``exc`` came from (found by encoding them one by one)."""
        encoders = list(self.encoder.items()) if isinstance(self.encoder, Mapping) else [(None, self.encoder)]
        failing = []  # (sample, encoder name): the first encoder each sample fails with
        for sample in samples:
            for name, enc in encoders:
                try:
                    enc.encode_batch([sample], self.image_size, {})
                except Exception:  # noqa: BLE001 - this sample fails on its own
                    failing.append((sample, f"{type(enc).__name__}" + ("" if name is None else f" {name!r}")))
                    break
        if failing and (len(failing) < len(samples) or len(samples) == 1):  # not a failure of every sample
            sample, which = failing[0]
            return SampleError(f"failed to encode the targets of sample {sample.image!r} (batch {index}, "
                               f"epoch {epoch}) with {which}: {type(exc).__name__}: {exc}",
                               str(sample.image), index, epoch)
        images = ", ".join(str(s.image) for s in samples[:8]) + (" ..." if len(samples) > 8 else "")
        return SampleError(f"failed to encode the targets of batch {index} (epoch {epoch}: {images}): "
                           f"{type(exc).__name__}: {exc}", None, index, epoch)

    def _reads_ahead(self) -> bool:
        return self.read_ahead and self.workers <= 1 and not self.use_multiprocessing

    def _schedule_ahead(self, epoch: int, index: int) -> None:
        """Start building batch ``index`` of ``epoch`` in the background, if reading ahead."""
        if not self._reads_ahead() or not 0 <= index < len(self):
            return
        self._executor()
        with self._lock:
            if self._ahead is not None and self._ahead[:2] == (epoch, index):
                return
            previous = self._ahead
            self._ahead = (epoch, index, self._ahead_pool.submit(self._build_batch, index, epoch))
        if previous is not None:
            previous[2].cancel()

    def _take_ahead(self, epoch: int, index: int):
        """The batch built ahead, if it is the one asked for (its errors are raised here)."""
        with self._lock:
            ahead = self._ahead
            if ahead is None or ahead[:2] != (epoch, index):
                return None
            self._ahead = None
        try:
            return ahead[2].result()
        except concurrent.futures.CancelledError:
            return None

    def _epoch_size(self) -> int:
        n = len(self.samples)
        index, count = self.shard
        return -(-n // count) if count > 1 else n

    def permutation(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices of ``epoch`` (default: the current one) in order, for this shard."""
        epoch = self.epoch if epoch is None else epoch
        cached = self._perm_cache
        if cached is not None and cached[0] == epoch:
            return cached[1]
        n = len(self.samples)
        perm = np.random.default_rng([self.seed, epoch, 1]).permutation(n) if self.shuffle else np.arange(n)
        index, count = self.shard
        if count > 1:
            size = -(-n // count)
            padded = np.resize(perm, size * count)  # repeats the first samples to fill the last shards
            perm = padded[index::count]
        self._perm_cache = (epoch, perm)
        return perm

    def load_batch(self, index: int, epoch: int | None = None) -> tuple[np.ndarray, list[Sample]]:
        """The uint8 images and the transformed samples of a batch, before preprocessing and encoding.

        Returns:
            (B, H, W, 3) uint8 RGB images and B samples whose boxes are XYXY pixels of them.
        """
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        images, samples, _ = self._load_batch(index, self.epoch if epoch is None else epoch)
        return images, samples

    def _load_batch(self, index: int, epoch: int, scale: np.float32 | None = None):
        """Images (uint8, or float32 times ``scale``), samples and counters of a batch."""
        perm = self.permutation(epoch)
        n = len(perm)
        start = index * self.batch_size
        positions = range(start, min(start + self.batch_size, n))
        images = np.empty((len(positions), *self.image_size, 3), np.uint8 if scale is None else np.float32)
        if self.threads > 1 and len(positions) > 1:
            # one task per thread, each taking the next image until none is left: balanced like one
            # task per image, without a future and two thread hand-overs for every image
            results: list = [None] * len(positions)
            errors: dict[int, Exception] = {}
            queue = iter(range(len(positions)))  # next() on it is atomic under the GIL

            def drain() -> None:
                for k in queue:
                    try:
                        results[k] = self._load_position(perm, positions[k], epoch, images[k], scale)
                    except Exception as exc:  # noqa: BLE001 - raised below, the first position's first
                        errors[k] = exc

            pool = self._executor()
            tasks = [pool.submit(drain) for _ in range(min(self.threads, len(positions)))]
            for task in tasks:
                task.result()
            if errors:
                raise errors[min(errors)]
        else:
            results = [self._load_position(perm, pos, epoch, images[k], scale) for k, pos in enumerate(positions)]
        stats: dict[str, int] = {}
        samples = []
        for sample, sample_stats in results:
            samples.append(sample)
            for key, value in sample_stats.items():
                stats[key] = stats.get(key, 0) + value
        return images, samples, stats

    def _load_position(self, perm: np.ndarray, pos: int, epoch: int, out: np.ndarray, scale: np.float32 | None = None):
        if scale is not None:  # load into this thread's uint8 buffer, then convert straight into the batch
            target = out
            out = getattr(self._scratch, "image", None)
            if out is None:
                out = self._scratch.image = np.empty((*self.image_size, 3), np.uint8)
        n = len(perm)
        errors, last_exc = [], None
        for attempt in range(min(_MAX_REPLACEMENTS, n)):
            sample = self.samples[int(perm[(pos + attempt) % n])]
            rng = None if self.augment is None else np.random.default_rng([self.seed, epoch, self.shard[0], pos, attempt])
            try:
                _, loaded, stats = load_sample(sample, self.storage, self.options, self.augment, rng, out=out)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, never swallowed
                batch = pos // self.batch_size
                if self.on_error == "raise":
                    raise SampleError(f"failed to load sample {sample.image!r} (batch {batch}, epoch {epoch}, "
                                      f"position {pos}): {type(exc).__name__}: {exc}",
                                      str(sample.image), batch, epoch) from exc
                message = f"{type(exc).__name__}: {exc}"
                self._record_skip(epoch, sample.image, message)
                self._worker_link.sample_skipped(epoch, sample.image, message)  # in a worker process: tell the parent
                errors.append(message)
                last_exc = exc
                if self.on_error == "warn":
                    warnings.warn(f"skipping {sample.image}: {message}", UserWarning, stacklevel=2)
                continue
            if attempt:
                stats = dict(stats, skip_events=attempt)
            if scale is not None:
                np.multiply(out, scale, out=target)
            return loaded, stats
        raise SampleError(f"{len(errors)} consecutive samples from position {pos} (batch {pos // self.batch_size}, "
                          f"epoch {epoch}) failed to load; last error: {errors[-1]}", None, pos // self.batch_size,
                          epoch) from last_exc

    # -- reporting ------------------------------------------------------------------------------

    def report(self, epoch: int | None = None) -> LoadReport:
        """What was skipped or dropped so far, or in one epoch.

        Batches built by worker processes count too: forked workers send their counters to this
        process (see :mod:`seqloaders.workers`; not under the "spawn"/"forkserver" start methods).

        Args:
            epoch: only the batches of this epoch (kept for the current and the previous epochs:
                ask right after an epoch, as :class:`~seqloaders.LoadReportCallback` does).
        """
        self._worker_link.drain()
        with self._lock:
            if epoch is None:
                stats = [*self._batch_stats.values(), self._totals]
                skipped = dict(self._skipped)
            else:
                stats = [s for (e, _), s in self._batch_stats.items() if e == epoch]
                skipped = dict(self._skip_log.get(epoch, {}))
        total = {key: sum(s.get(key, 0) for s in stats)
                 for key in ("skip_events", "boxes_without_area", "boxes_not_encoded")}
        return LoadReport(skipped=skipped, **total)

    def _record_batch(self, epoch: int, index: int, stats: dict[str, int]) -> None:
        with self._lock:
            self._batch_stats[(epoch, index)] = stats  # keyed: asking twice does not count twice
            if len(self._batch_stats) > 4 * len(self):  # fold old epochs into running totals
                for key in [k for k in self._batch_stats if k[0] < self.epoch - 1]:
                    for name, value in self._batch_stats.pop(key).items():
                        self._totals[name] = self._totals.get(name, 0) + value

    def _record_skip(self, epoch: int, image: str, message: str) -> None:
        with self._lock:
            self._skipped[image] = message
            self._skip_log.setdefault(epoch, {})[image] = message
            for old in [e for e in self._skip_log if e < epoch - 2]:  # keep the last few epochs
                del self._skip_log[old]

    def __repr__(self) -> str:
        aug = "None" if self.augment is None else repr(self.augment)
        return (f"{type(self).__name__}({len(self.samples)} samples, batch_size={self.batch_size}, {len(self)} batches, "
                f"image_size={self.image_size}, resize={self.options.resize!r}, encoder={self.encoder!r}, "
                f"augment={aug}, shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch}, "
                f"workers={self.workers}, use_multiprocessing={self.use_multiprocessing})")


class DetectionSequence(SampleSequence):
    """A :class:`SampleSequence` for object detection: pass a box encoder (``GridEncoder``,
    ``AnchorEncoder``, ``PaddedBoxEncoder``, or a dict of them).

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
        >>> seq = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=4,
        ...                            image_size=(224, 224), encoder=sl.GridEncoder(grid_size=7))
        >>> seq[0][1].shape
        (4, 7, 7, 5)
    """


class SegmentationSequence(SampleSequence):
    """Images and (B, H, W) int32 class maps for semantic segmentation.

    Object masks (COCO polygons or RLE, YOLO segments, mask files) are rendered at the source
    size, moved to the output with nearest neighbour only and through the same augmentation as
    the image; pixels outside the image (letterbox padding, augmentation borders) are
    ``ignore_index``. Train with e.g. ``keras.losses.SparseCategoricalCrossentropy(ignore_class=255)``.

    Args:
        samples: samples whose ``masks`` are set (one per box).
        num_classes: classes of the map, background (0) included.
        ignore_index: the value of ignored pixels.
        label_offset: added to box labels (1: 0-based object classes after background 0).
        crowd_to_ignore: mark crowd regions (``attributes["iscrowd"]``) as ``ignore_index``.
        encoder: another encoder, or a dict (e.g. with an ``InstanceMaskEncoder``) instead.
        **kwargs: everything :class:`SampleSequence` takes (batch_size, image_size, augment, ...).

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_formats("/tmp/seqloaders-toy", ["coco"])["coco"]
        >>> seq = sl.SegmentationSequence(toy.read(), num_classes=5, batch_size=4, image_size=(64, 64))
        >>> seq[0][1].shape, seq[0][1].dtype
        ((4, 64, 64), dtype('int32'))
    """

    def __init__(self, samples: Sequence[Sample], num_classes: int | None = None, *, ignore_index: int = 255,
                 label_offset: int = 1, crowd_to_ignore: bool = False, encoder: Any = None, **kwargs: Any):
        if encoder is None:
            if num_classes is None:
                raise TypeError("SegmentationSequence needs num_classes (background included) or an encoder")
            from .encoders.masks import SemanticMaskEncoder

            encoder = SemanticMaskEncoder(num_classes, ignore_index=ignore_index, label_offset=label_offset,
                                          crowd_to_ignore=crowd_to_ignore)
        super().__init__(samples, encoder=encoder, **kwargs)


class KeypointSequence(SampleSequence):
    """Images and per-keypoint Gaussian heatmaps (B, H / stride, W / stride, K) for pose models.

    Keypoints move with every resize and augmentation; to flip horizontally, use
    ``augment=sl.NativeAugmenter(flip_index=sl.COCO_PERSON_FLIP_INDEX)`` (flip, colour and affine)
    or ``sl.HorizontalFlipAugmenter(flip_index)`` (flip only); both swap left and right keypoints.
    An albumentations pipeline needs ``keypoint_params=A.KeypointParams(format="xy",
    remove_invisible=False)`` and cannot swap them.

    Args:
        samples: samples with ``keypoints`` (N, K, 3).
        num_keypoints: K.
        output_stride: input pixels per heatmap cell.
        sigma: Gaussian radius in heatmap cells.
        encoder: another encoder (e.g. ``KeypointEncoder`` for raw coordinates) or a dict.
        **kwargs: everything :class:`SampleSequence` takes.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_formats("/tmp/seqloaders-toy", ["yolo-pose"])["yolo-pose"]
        >>> seq = sl.KeypointSequence(toy.read(), num_keypoints=3, batch_size=4, image_size=(64, 64))
        >>> seq[0][1].shape
        (4, 16, 16, 3)
    """

    def __init__(self, samples: Sequence[Sample], num_keypoints: int | None = None, *, output_stride: int = 4,
                 sigma: float = 2.0, encoder: Any = None, **kwargs: Any):
        if encoder is None:
            if num_keypoints is None:
                raise TypeError("KeypointSequence needs num_keypoints or an encoder")
            from .encoders.keypoints import HeatmapEncoder

            encoder = HeatmapEncoder(num_keypoints, output_stride=output_stride, sigma=sigma)
        super().__init__(samples, encoder=encoder, **kwargs)


class ClassificationSequence(SampleSequence):
    """Images and one-hot (B, C) float32 labels (or (B,) int32 ids) for image classification.

    The class of an image is ``sample.meta["label"]`` (class-folder trees, CSV) or the single
    distinct label of its boxes.

    Args:
        samples: the samples.
        num_classes: C.
        one_hot: one-hot rows (``categorical_crossentropy``) or integer ids (``sparse_...``).
        encoder: another encoder or a dict.
        **kwargs: everything :class:`SampleSequence` takes.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_formats("/tmp/seqloaders-toy", ["classfolders"])["classfolders"]
        >>> seq = sl.ClassificationSequence(toy.read(), num_classes=4, batch_size=4, image_size=(32, 32))
        >>> seq[0][1].shape
        (4, 4)
    """

    def __init__(self, samples: Sequence[Sample], num_classes: int | None = None, *, one_hot: bool = True,
                 encoder: Any = None, **kwargs: Any):
        if encoder is None:
            if num_classes is None:
                raise TypeError("ClassificationSequence needs num_classes or an encoder")
            from .encoders.classification import ClassificationEncoder

            encoder = ClassificationEncoder(num_classes, one_hot=one_hot)
        super().__init__(samples, encoder=encoder, **kwargs)

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
from .storage.local import LocalStorage

__all__ = ["DetectionSequence", "LoadReport"]

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
            (zero-size annotations, or boxes moved out by augmentation).
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


class DetectionSequence(keras.utils.PyDataset):
    """Batches of (images, encoded targets) for ``model.fit``, streamed lazily from samples.

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
            has one, such as TFRecord shards, else local files).
        threads: decoding threads per batch (default: the number of cores, at most 8).
        augment_at: "output" (augment after resizing, the fast default) or "source".
        max_pixels: refuse images whose header declares more pixels.
        shard: ``(index, count)`` for multi-worker training, or a ``tf.distribute.InputContext``:
            this worker sees a disjoint ``ceil(n / count)``-sized part of every epoch (the
            epoch's permutation is shared through ``seed``); when ``count`` does not divide the
            dataset, the last shards repeat the epoch's first samples so all shards stay equal
            and no sample is left out.
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
        self.options = LoadOptions(image_size=tuple(image_size), resize=resize, pad_value=pad_value,
                                   augment_at=augment_at, max_pixels=max_pixels)
        self.image_size = self.options.image_size
        self.encoder = encoder
        self.augment = as_augmenter(augment)
        self.preprocess = preprocess
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_remainder = drop_remainder
        self.on_error = on_error
        if storage is None:  # a sample source that holds its own bytes (e.g. TFRecord shards) brings its storage
            storage = getattr(samples, "storage", None)
            if storage is None:
                storage = LocalStorage()
        self.storage = storage
        self.threads = max(1, int(threads if threads is not None else min(8, os.cpu_count() or 1)))
        self.epoch = 0
        self.shard = _parse_shard(shard)
        if drop_remainder and len(samples) < batch_size:
            raise ValueError(f"drop_remainder=True with {len(samples)} samples and batch_size={batch_size} "
                             "leaves no batch")
        self._init_runtime()

    # -- state that does not cross process boundaries -------------------------------------------

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_pid = None
        self._perm_cache: tuple[int, np.ndarray] | None = None
        self._skipped: dict[str, str] = {}
        self._batch_stats: dict[tuple[int, int], dict[str, int]] = {}
        self._totals: dict[str, int] = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_lock", "_pool", "_pool_pid", "_perm_cache", "_skipped", "_batch_stats", "_totals"):
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
        self.epoch += 1

    def set_epoch(self, epoch: int) -> None:
        """Jump to ``epoch`` (to resume training, or to replay a batch)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int):
        images, samples, stats = self._load_batch(index, self.epoch)
        x = self._preprocess(images)
        if isinstance(self.encoder, Mapping):
            y = {name: enc.encode_batch(samples, self.image_size, stats) for name, enc in self.encoder.items()}
        else:
            y = self.encoder.encode_batch(samples, self.image_size, stats)
        with self._lock:
            self._batch_stats[(self.epoch, index)] = stats  # keyed: asking twice does not count twice
            if len(self._batch_stats) > 4 * len(self):  # fold old epochs into running totals
                for key in [k for k in self._batch_stats if k[0] < self.epoch - 1]:
                    for name, value in self._batch_stats.pop(key).items():
                        self._totals[name] = self._totals.get(name, 0) + value
        return x, y

    # -- the batch ------------------------------------------------------------------------------

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
        images, samples, _ = self._load_batch(index, self.epoch if epoch is None else epoch)
        return images, samples

    def _load_batch(self, index: int, epoch: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        perm = self.permutation(epoch)
        n = len(perm)
        start = index * self.batch_size
        positions = range(start, min(start + self.batch_size, n))
        images = np.empty((len(positions), *self.image_size, 3), np.uint8)
        if self.threads > 1 and len(positions) > 1:
            futures = [self._executor().submit(self._load_position, perm, pos, epoch, images[k])
                       for k, pos in enumerate(positions)]
            results = [f.result() for f in futures]
        else:
            results = [self._load_position(perm, pos, epoch, images[k]) for k, pos in enumerate(positions)]
        stats: dict[str, int] = {}
        samples = []
        for sample, sample_stats in results:
            samples.append(sample)
            for key, value in sample_stats.items():
                stats[key] = stats.get(key, 0) + value
        return images, samples, stats

    def _load_position(self, perm: np.ndarray, pos: int, epoch: int, out: np.ndarray):
        n = len(perm)
        errors = []
        for attempt in range(min(_MAX_REPLACEMENTS, n)):
            sample = self.samples[int(perm[(pos + attempt) % n])]
            rng = None if self.augment is None else np.random.default_rng([self.seed, epoch, self.shard[0], pos, attempt])
            try:
                _, loaded, stats = load_sample(sample, self.storage, self.options, self.augment, rng, out=out)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, never swallowed
                if self.on_error == "raise":
                    raise SampleError(f"failed to load sample at epoch {epoch}, position {pos} "
                                      f"({sample.image}): {type(exc).__name__}: {exc}", sample.image) from exc
                message = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self._skipped[sample.image] = message
                errors.append(message)
                if self.on_error == "warn":
                    warnings.warn(f"skipping {sample.image}: {message}", UserWarning, stacklevel=2)
                continue
            if attempt:
                stats = dict(stats, skip_events=attempt)
            return loaded, stats
        raise SampleError(f"{len(errors)} consecutive samples from position {pos} failed to load; "
                          f"last error: {errors[-1]}")

    def _preprocess(self, images: np.ndarray) -> np.ndarray:
        if self.preprocess == "uint8":
            return images
        x = images.astype(np.float32)
        if self.preprocess == "scale":
            x *= np.float32(1 / 255)
            return x
        if self.preprocess is None:
            return x
        return np.asarray(self.preprocess(x), np.float32)

    # -- reporting ------------------------------------------------------------------------------

    def report(self) -> LoadReport:
        """What was skipped or dropped so far (in this process; worker processes keep their own)."""
        with self._lock:
            stats = [*self._batch_stats.values(), self._totals]
            skipped = dict(self._skipped)
        total = {key: sum(s.get(key, 0) for s in stats)
                 for key in ("skip_events", "boxes_without_area", "boxes_not_encoded")}
        return LoadReport(skipped=skipped, **total)

    def __repr__(self) -> str:
        aug = "None" if self.augment is None else repr(self.augment)
        return (f"{type(self).__name__}({len(self.samples)} samples, batch_size={self.batch_size}, {len(self)} batches, "
                f"image_size={self.image_size}, resize={self.options.resize!r}, encoder={self.encoder!r}, "
                f"augment={aug}, shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch}, "
                f"workers={self.workers}, use_multiprocessing={self.use_multiprocessing})")

"""Keras ``PyDataset`` front ends over a :class:`~seqloaders.Loader`: epoch state and read-ahead, nothing else.

A Sequence holds a Loader, counts epochs (``on_epoch_end``), knows where in its epoch it stands
(``get_state``/``set_state``, to resume a killed run), and when it knows which batches come next (a
plain loop, ``to_tf_dataset``, ``model.fit`` with either ``shuffle``) has the Loader build them
ahead. Everything a batch is made of is the Loader's (:mod:`seqloaders.loader`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from .encoders.base import TargetEncoder
from .imageio import DEFAULT_MAX_PIXELS
from .loader import Loader, LoadReport
from .records import Sample

__all__ = [
    "ClassificationSequence",
    "DetectionSequence",
    "KeypointSequence",
    "LoadReport",
    "SampleSequence",
    "SegmentationSequence",
]


def _from_loader(name: str) -> property:
    return property(lambda self: getattr(self.loader, name), doc=f"The loader's ``{name}``.")


class SampleSequence(keras.utils.PyDataset):
    """Batches of (images, encoded targets) for ``model.fit``, streamed lazily from samples.

    A ``keras.utils.PyDataset`` over a :class:`~seqloaders.Loader` (which takes the same
    arguments and does all the work); the task classes (:class:`DetectionSequence`,
    :class:`SegmentationSequence`, :class:`KeypointSequence`, :class:`ClassificationSequence`)
    only choose a default encoder. ``seq[i]`` is batch ``i`` of the current epoch, a pure
    function of (seed, epoch, index); ``on_epoch_end`` moves to the next epoch, whose samples are
    reshuffled.

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
        processes: worker processes of the Loader (0: use threads). Faster than threads when
            the augmentation or encoding is Python work that holds the GIL (albumentations, your
            own augmenter); see :class:`~seqloaders.Loader`.
        prefetch: batches built ahead when reading in order (default: 2 per process, or 1).
        augment_at: "output" (augment after resizing, the fast default) or "source".
        max_pixels: refuse images whose header declares more pixels.
        shard: ``(index, count)`` for multi-worker training, or a ``tf.distribute.InputContext``:
            this worker sees a disjoint ``ceil(n / count)``-sized part of every epoch (the
            epoch's permutation is shared through ``seed``); when ``count`` does not divide the
            dataset, the last shards repeat the epoch's first samples so all shards stay equal
            and no sample is left out.
        read_ahead: when one caller asks for batches in an order the Sequence knows, build the
            next ``prefetch`` batches (and the first of the next epoch) in the background while
            the caller uses this one; batches are the same either way. Known orders: in order
            (a plain loop, ``to_tf_dataset``, ``model.fit(shuffle=False)``), from an epoch's first
            batch or after three requests in a row; and ``model.fit``'s default ``shuffle=True``
            on every backend, whose batch order Keras 3 draws with ``random.shuffle`` right
            after ``on_epoch_begin``: the Sequence draws the same order from a copy of
            :mod:`random`'s state and follows it while the requests agree (one that does not
            ends it for the epoch). Off with Keras ``workers > 1``, whose enqueuer works ahead
            itself.
        workers, use_multiprocessing, max_queue_size: forwarded to ``keras.utils.PyDataset``
            (Keras' own workers; the loader's ``threads``/``processes`` are faster).

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
        processes: int = 0,
        prefetch: int | None = None,
        augment_at: str = "output",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        shard: tuple[int, int] | Any = None,
        read_ahead: bool = True,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if processes and use_multiprocessing:
            raise ValueError("use either the loader's processes= or Keras' use_multiprocessing=True, not both "
                             "(processes= is faster and supervised)")
        self.loader = Loader(samples, batch_size, image_size, encoder, augment=augment, resize=resize,
                             pad_value=pad_value, preprocess=preprocess, shuffle=shuffle, seed=seed,
                             drop_remainder=drop_remainder, on_error=on_error, storage=storage, threads=threads,
                             processes=processes, prefetch=prefetch, augment_at=augment_at, max_pixels=max_pixels,
                             shard=shard)
        self.epoch = 0
        self.start = 0  # the batch of the epoch that seq[0] is: 0 unless set_state resumed mid-epoch
        self.read_ahead = bool(read_ahead)
        self._last_request: tuple[int, int] | None = None
        self._in_order = 0  # how many requests in a row asked for the batch after the previous one
        self._used = 0  # requests of this epoch in order from seq[0]: the default position of get_state
        self._out_of_order = False  # a batch was asked for before the ones in front of it (fit(shuffle=True))
        self._expected: list[int] | None = None  # the order fit(shuffle=True) will ask in, while it holds
        self._followed = 0  # requests of this epoch that came in that order

    samples = _from_loader("samples")
    batch_size = _from_loader("batch_size")
    image_size = _from_loader("image_size")
    encoder = _from_loader("encoder")
    augment = _from_loader("augment")
    options = _from_loader("options")
    preprocess = _from_loader("preprocess")
    shuffle = _from_loader("shuffle")
    seed = _from_loader("seed")
    drop_remainder = _from_loader("drop_remainder")
    on_error = _from_loader("on_error")
    storage = _from_loader("storage")
    threads = _from_loader("threads")
    processes = _from_loader("processes")
    shard = _from_loader("shard")

    # -- keras.utils.PyDataset ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_batches(self) -> int:
        """Batches left in this epoch from ``seq[0]``: ``len(seq)``, less ``start`` after a mid-epoch ``set_state``.

        Keras' ``fit`` iterates ``range(num_batches)`` each epoch, so a resumed epoch ends early,
        at its own last batch, and the next epoch is whole again.
        """
        return len(self.loader) - self.start

    def on_epoch_begin(self) -> None:
        """Keras calls this before each epoch: predict the batch order of ``fit(shuffle=True)``.

        Keras 3's ``PyDatasetAdapter`` (``workers=1``, every backend) asks for
        ``random.shuffle(list(range(num_batches)))``, drawn from Python's global generator right
        after this call; a copy of its state gives the same order without drawing from it.
        """
        self._expected, self._followed = self._keras_order(), 0

    def _keras_order(self) -> list[int] | None:
        if not self._reads_ahead():
            return None
        rng = random.Random()
        rng.setstate(random.getstate())
        order = list(range(self.num_batches))
        rng.shuffle(order)
        return order

    def on_epoch_end(self) -> None:
        """Advance to the next epoch: the samples are reshuffled, the augmentation draws anew.

        ``epoch`` counts these calls. Keras 3's ``fit`` also calls it once before the first
        epoch, so fit's first epoch reads ``epoch == 1``; batches stay a pure function of
        (seed, epoch, index) either way.
        """
        finished_in_order = self._last_request == (self.epoch, len(self) - 1) and self._in_order >= 2
        finished_shuffled = self._expected is not None and self._followed == len(self._expected) > 0
        self.epoch += 1
        self.start = self._used = 0
        self._out_of_order = False
        self._expected, self._followed = None, 0
        if finished_in_order and self._reads_ahead():
            self.loader.prefetch_batches(self.epoch, range(self.loader.prefetch))
        elif finished_shuffled:  # fit(shuffle=True): the next epoch's order, unless something draws before it
            self.loader.prefetch_batches(self.epoch, (self._keras_order() or [])[:self.loader.prefetch])

    def set_epoch(self, epoch: int) -> None:
        """Jump to the start of ``epoch`` (to replay it; :meth:`set_state` also resumes mid-epoch)."""
        self.epoch = int(epoch)
        self.start = self._used = 0
        self._out_of_order = False
        self._expected, self._followed = None, 0

    @property
    def in_order(self) -> bool:
        """Whether this epoch's batches were asked for in order so far (``model.fit(shuffle=False)``)."""
        return not self._out_of_order

    # -- resuming -------------------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, Any]:
        """What, besides (epoch, position), decides the batches: a state only fits a Sequence that agrees."""
        return {"seed": self.seed, "shard": list(self.shard), "num_samples": len(self.samples),
                "batch_size": self.batch_size, "num_batches": len(self), "shuffle": self.shuffle,
                "drop_remainder": self.drop_remainder}

    def get_state(self, position: int | None = None, *, epoch: int | None = None) -> dict[str, Any]:
        """Where this Sequence stands: a small JSON-serialisable dict for :meth:`set_state`.

        A batch is a pure function of (seed, epoch, index), and a failed sample's replacement of
        (epoch, position), so ``epoch`` and ``position`` (the batches of the epoch already used)
        decide every batch still to come; the other entries (seed, shard, sizes) are checked
        when the state is set. A position at the end of an epoch is stored as the start of the
        next one.

        Args:
            position: batches of ``epoch`` already used, counted from its first batch (default:
                ``start`` plus the requests ``seq[0]``, ``seq[1]``, ... made in order this epoch,
                right for a plain loop; ``model.fit`` reads ahead through tf.data, so
                :class:`~seqloaders.BackupAndRestore` passes the steps it saw trained).
            epoch: the epoch (default: the current one).

        Raises:
            ValueError: ``position`` is outside ``0..len(seq)``.

        Example:
            >>> import seqloaders as sl
            >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
            >>> seq = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=2,
            ...                            image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4))
            >>> x, y = seq[0]
            >>> state = seq.get_state()
            >>> state["epoch"], state["position"]
            (0, 1)
            >>> again = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=2,
            ...                              image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4))
            >>> again.set_state(state)
            >>> bool((again[0][0] == seq[1][0]).all()), again.num_batches
            (True, 3)
        """
        if epoch is None:
            epoch = self.epoch
        epoch = int(epoch)
        if position is None:
            position = self.start + self._used if epoch == self.epoch else 0
        position = int(position)
        if not 0 <= position <= len(self):
            raise ValueError(f"position must be in 0..{len(self)} (the batches of an epoch), got {position}")
        if position == len(self):
            epoch, position = epoch + 1, 0
        return {"epoch": epoch, "position": position, **self._fingerprint()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Go on exactly where :meth:`get_state` stood: ``seq[0]`` is then the next batch an uninterrupted run uses.

        After a mid-epoch state, ``seq[i]`` is batch ``start + i`` of the epoch and ``num_batches``
        counts the batches left, so a loop over the Sequence (or ``model.fit``) finishes the epoch;
        ``on_epoch_end`` then starts the next epoch at its first batch. Keras' ``fit`` calls
        ``on_epoch_end`` once before its first epoch, which would undo a state set before it:
        under ``fit``, let :class:`~seqloaders.BackupAndRestore` set it (it does so when
        training begins).

        Raises:
            ValueError: the state came from a Sequence with another seed, shard, dataset size,
                batch size or shuffling, or is not a state.
        """
        missing = sorted({"epoch", "position", *self._fingerprint()} - set(state))
        if missing:
            raise ValueError(f"not a Sequence state (from get_state()): {', '.join(missing)} missing")
        mine = self._fingerprint()
        theirs = {key: list(state[key]) if key == "shard" else state[key] for key in mine}
        differ = [key for key in mine if theirs[key] != mine[key]]
        if differ:
            saved = ", ".join(f"{key}={theirs[key]!r}" for key in differ)
            here = ", ".join(f"{key}={mine[key]!r}" for key in differ)
            raise ValueError(f"the state was saved by a Sequence with {saved}, this one has {here}: resume with "
                             "the dataset and arguments the state came from")
        position = int(state["position"])
        if not 0 <= position < len(self):
            raise ValueError(f"state position must be in 0..{len(self) - 1}, got {position}")
        self.epoch, self.start, self._used = int(state["epoch"]), position, 0
        self._last_request, self._in_order, self._out_of_order = None, 0, False
        self._expected, self._followed = None, 0
        self.loader.prefetch_batches(self.epoch, ())  # batches built ahead for where it stood before

    def __getitem__(self, index: int):
        epoch, start = self.epoch, self.start
        if start and not 0 <= index < len(self) - start:
            raise IndexError(f"batch index {index} out of range for the {len(self) - start} batches left of "
                             f"epoch {epoch} (resumed at batch {start})")
        if index == self._used:
            self._used += 1
        elif index > self._used:
            self._out_of_order = True
        expected = self._expected
        if expected is not None:  # still the order fit(shuffle=True) was predicted to ask in?
            if self._followed < len(expected) and expected[self._followed] == index:
                self._followed += 1
                ahead = [start + i for i in expected[self._followed:self._followed + self.loader.prefetch]]
            else:
                self._expected = expected = None
        index += start
        previous, self._last_request = self._last_request, (epoch, index)
        first = index == start and (previous is None or previous[0] != epoch)
        # an epoch's start, or three in order, mean a loop; in a shuffled order two neighbours come
        # up by chance once in n batches and three once in n², so a batch is rarely built for nothing
        self._in_order = 2 if first else self._in_order + 1 if previous == (epoch, index - 1) else 0
        wanted = []
        if self._in_order >= 2 and self._reads_ahead():
            wanted = list(range(index + 1, index + 1 + self.loader.prefetch))
        if expected is not None:
            wanted += [i for i in ahead if i not in wanted]
        if wanted:
            self.loader.prefetch_batches(epoch, [index, *wanted])
        return self.loader.batch(epoch, index)

    def _reads_ahead(self) -> bool:
        return self.read_ahead and self.workers <= 1 and not self.use_multiprocessing

    # -- the loader's views -----------------------------------------------------------------------

    def permutation(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices of ``epoch`` (default: the current one) in order, for this shard."""
        return self.loader.permutation(self.epoch if epoch is None else epoch)

    def load_batch(self, index: int, epoch: int | None = None) -> tuple[np.ndarray, list[Sample]]:
        """The uint8 images and the transformed samples of a batch, before preprocessing and encoding.

        Returns:
            (B, H, W, 3) uint8 RGB images and B samples whose boxes are XYXY pixels of them.
        """
        return self.loader.load_batch(self.epoch if epoch is None else epoch, index)

    def report(self, epoch: int | None = None) -> LoadReport:
        """What was skipped or dropped so far, or in one epoch.

        Batches built by the loader's threads and processes count; batches built in Keras'
        own worker processes (``use_multiprocessing=True``) are counted in those processes and
        do not reach this one.

        Args:
            epoch: only the batches of this epoch (kept for the current and the previous epochs:
                ask right after an epoch, as :class:`~seqloaders.LoadReportCallback` does).
        """
        return self.loader.report(epoch)

    def close(self) -> None:
        """Stop the loader's threads and processes (also done when the Sequence is garbage-collected)."""
        self.loader.close()

    def __repr__(self) -> str:
        loader = repr(self.loader)
        return (f"{type(self).__name__}{loader[loader.index('('):-1]}, epoch={self.epoch}, "
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

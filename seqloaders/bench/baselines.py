"""The baselines the loader is measured against: (a) the decode ceiling, (b) tf.data, (c) a tutorial PyDataset.

None of them is the library's loading path: they read the same files as (d) to put its numbers in
context. ``TutorialSequence`` is what not to imitate, kept as the baseline of (c) and (c').
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import functools
import math
import threading
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from .. import imageio
from ..imageio import choose_reduction, probe_image
from ..records import Sample
from .config import NotApplicable
from .context import RunContext, Runner, iterate_epoch, require_local_files, time_epochs

__all__ = ["RUNNERS", "TutorialSequence"]  # noqa: F822 - TutorialSequence is made on first access (__getattr__)


def _run_ceiling(ctx: RunContext) -> tuple[list[float], int, list[str]]:
    require_local_files(ctx.samples)
    h, w = ctx.config.image_size
    paths = [s.image for s in ctx.samples]
    by_file = _decode_scales(paths, (h, w))  # the decode scale is an oracle computed up front
    # the loader's own decoder (simplejpeg for JPEG), so the ratios to (a) stay honest
    scales: dict[int, int] = {}
    for reduce in by_file.values():
        scales[reduce] = scales.get(reduce, 0) + 1
    batch = np.empty((ctx.config.batch_size, h, w, 3), np.uint8)

    def load(path: str) -> np.ndarray:
        with open(path, "rb") as f:
            data = f.read()
        image = imageio.decode_image(data, reduce=by_file[path], path=path, max_pixels=None)
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)

    with concurrent.futures.ThreadPoolExecutor(ctx.workers, thread_name_prefix="ceiling") as pool:
        def epoch() -> int:
            for k, image in enumerate(pool.map(load, paths)):
                batch[k % len(batch)] = image
            return len(paths)

        seconds, images = time_epochs(epoch, ctx.config.warmup + ctx.config.epochs)
    total = sum(scales.values())
    note = "decode scale: " + ", ".join(f"1/{k} for {n / total:.0%}" for k, n in sorted(scales.items()))
    return seconds, images, [note + f" of the files, JPEG decoder {imageio.JPEG_DECODER}; bilinear resize"]


def _decode_scales(paths: Sequence[str], image_size: tuple[int, int]) -> dict[str, int]:
    """The library's JPEG decode scale of each file (the largest that keeps the output's pixels)."""
    scales = {}
    for path in set(paths):
        with open(path, "rb") as f:
            info = probe_image(f.read())
        scales[path] = choose_reduction(info.size, image_size) if info is not None and info.format == "jpeg" else 1
    return scales


def _run_tf_data(ctx: RunContext, ratio: int) -> tuple[list[float], int, list[str]]:
    """tf.data with ``decode_jpeg(ratio=ratio)``; ratio 0: each file at the library's scale."""
    require_local_files(ctx.samples)
    import tensorflow as tf

    paths = [s.image for s in ctx.samples]
    jpeg = all(_is_jpeg(p) for p in set(paths))
    if ratio != 1 and not jpeg:
        raise NotApplicable("decode_jpeg(ratio=...) needs JPEG files")
    h, w = ctx.config.image_size
    choices = (1, 2, 4, 8)
    scales = _decode_scales(paths, (h, w)) if jpeg else {}

    def decode(data, scale_index):
        if not jpeg:
            return tf.io.decode_image(data, channels=3, expand_animations=False)
        if ratio:
            return tf.io.decode_jpeg(data, channels=3, ratio=ratio)
        branches = [functools.partial(tf.io.decode_jpeg, data, channels=3, ratio=r) for r in choices]
        return tf.switch_case(scale_index, branches)

    def load(path, scale_index):
        return tf.image.resize(decode(tf.io.read_file(path), scale_index), (h, w))

    indices = [choices.index(scales.get(p, 1)) for p in paths]

    options = tf.data.Options()
    options.threading.private_threadpool_size = ctx.workers
    options.deterministic = False
    if hasattr(options.autotune, "cpu_budget"):
        options.autotune.cpu_budget = ctx.workers
    ds = (tf.data.Dataset.from_tensor_slices((paths, indices))
          .map(load, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(ctx.config.batch_size)
          .prefetch(tf.data.AUTOTUNE)
          .with_options(options))

    def epoch() -> int:
        n = 0
        for x in ds:
            n += int(x.shape[0])
        return n

    seconds, images = time_epochs(epoch, ctx.config.warmup + ctx.config.epochs)
    notes = [f"private thread pool of {ctx.workers}, AUTOTUNE map and prefetch, deterministic=False"]
    if ratio == 0:
        total = len(paths)
        counts = {k: sum(scales[p] == k for p in paths) for k in choices}
        notes.append("decode_jpeg at each file's scale, the library's rule (tf.switch_case over ratio 1/2/4/8): "
                     + ", ".join(f"1/{k} for {n / total:.0%}" for k, n in counts.items() if n) + " of the files")
    elif ratio != 1:
        below = sum(scales[p] < ratio for p in paths) / len(paths)
        notes.append(f"ratio={ratio} decodes every image at 1/{ratio}: {below:.0%} of the files then have fewer "
                     "pixels than the output and are upsampled, so this is less work than (a) and (d) do")
    return seconds, images, notes


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\xff\xd8"


def _tutorial_encode(boxes: np.ndarray, labels: np.ndarray, image_hw: tuple[int, int], grid: int,
                     num_classes: int) -> np.ndarray:
    """Grid target the tutorial way: a Python loop over the boxes of one image."""
    h, w = image_hw
    c = num_classes if num_classes > 1 else 0
    target = np.zeros((grid, grid, 5 + c), np.float32)
    for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist()):
        cx, cy = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h
        bw, bh = (x1 - x0) / w, (y1 - y0) / h
        if bw <= 0 or bh <= 0:
            continue
        col, row = min(int(cx * grid), grid - 1), min(int(cy * grid), grid - 1)
        if target[row, col, 0] == 0:
            target[row, col, :5] = [1.0, cx * grid - col, cy * grid - row, bw, bh]
            if c:
                target[row, col, 5 + label] = 1.0
    return target


def __getattr__(name: str) -> Any:
    """``TutorialSequence`` is made on first access: it subclasses ``keras.utils.PyDataset``."""
    if name == "TutorialSequence":
        return _tutorial_sequence_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _tutorial_sequence_class() -> type:
    import keras

    class TutorialSequence(keras.utils.PyDataset):
        """The straightforward loader of tutorials, kept as the baseline of (c) and (c'); do not imitate it.

        Full ``cv2.imread``, optionally an albumentations pipeline at full size, INTER_AREA resize of
        the full image, float32 in [0, 1], a grid target per sample in a Python loop.

        Args:
            samples: the samples (boxes XYXY pixels of the source image).
            batch_size: images per batch.
            image_size: (H, W) of the output.
            grid_size: S of the S×S grid target.
            num_classes: class channels are added when > 1.
            augment: an albumentations ``Compose`` with pascal_voc boxes and a "labels" field, or None.
            **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.
        """

        def __init__(self, samples: Sequence[Sample], batch_size: int, image_size: tuple[int, int], grid_size: int,
                     num_classes: int, augment: Any = None, **kwargs: Any):
            super().__init__(**kwargs)
            self.samples, self.batch_size, self.image_size = samples, batch_size, tuple(image_size)
            self.grid_size, self.num_classes, self.augment = grid_size, num_classes, augment
            self._local = threading.local()

        def __len__(self) -> int:
            return math.ceil(len(self.samples) / self.batch_size)

        def _pipeline(self):
            pipe = getattr(self._local, "pipe", None)
            if pipe is None:  # an albumentations pipeline is not safe to share between threads
                pipe = self._local.pipe = copy.deepcopy(self.augment)
            return pipe

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            xs, ys = [], []
            for sample in self.samples[index * self.batch_size:(index + 1) * self.batch_size]:
                image = cv2.cvtColor(cv2.imread(sample.image), cv2.COLOR_BGR2RGB)
                h, w = image.shape[:2]
                boxes, labels = sample.boxes, sample.labels
                if self.augment is not None:
                    boxes = np.clip(boxes, 0, [w, h, w, h])
                    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
                    out = self._pipeline()(image=image, bboxes=boxes[keep], labels=labels[keep])
                    image = out["image"]
                    boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
                    labels = np.asarray(out["labels"], np.int64)
                    h, w = image.shape[:2]
                image = cv2.resize(image, self.image_size[::-1], interpolation=cv2.INTER_AREA)
                xs.append(image.astype(np.float32) / 255.0)
                ys.append(_tutorial_encode(boxes, labels, (h, w), self.grid_size, self.num_classes))
            return np.array(xs), np.array(ys)

    TutorialSequence.__qualname__ = "TutorialSequence"  # pickled by reference: module.__getattr__ finds it
    return TutorialSequence


def _run_tutorial(ctx: RunContext, augment: bool) -> tuple[list[float], int, list[str]]:
    require_local_files(ctx.samples)
    from ..augment import detection_preset

    ds = _tutorial_sequence_class()(ctx.samples, ctx.config.batch_size, ctx.config.image_size, ctx.config.grid_size,
                                    ctx.num_classes, augment=detection_preset() if augment else None)
    pool = concurrent.futures.ThreadPoolExecutor(ctx.workers) if ctx.workers > 1 else None
    with pool or contextlib.nullcontext():
        seconds, images = time_epochs(lambda: iterate_epoch(ds, pool), ctx.config.warmup + ctx.config.epochs)
    how = f"{ctx.workers} threads call __getitem__" if ctx.workers > 1 else "__getitem__ in the main thread"
    return seconds, images, [how + (", detection_preset() at full size" if augment else "")]


#: variant key → its run
RUNNERS: dict[str, Runner] = {
    "a": _run_ceiling,
    "b1": lambda ctx: _run_tf_data(ctx, 1),
    "b4": lambda ctx: _run_tf_data(ctx, 4),
    "b-same": lambda ctx: _run_tf_data(ctx, 0),
    "c": lambda ctx: _run_tutorial(ctx, augment=False),
    "c-aug": lambda ctx: _run_tutorial(ctx, augment=True),
}

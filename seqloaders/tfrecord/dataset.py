"""The tf.data path: TFRecord shards as a ``tf.data.Dataset``, and any Sequence as one.

TensorFlow is imported inside the functions only, so the rest of :mod:`seqloaders.tfrecord`
(writing, :class:`TFRecordSource`) stays usable without it; it is the ``tf`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .schema import ATTRIBUTE_PREFIX, PIXEL_BOXES, PIXEL_KEYPOINTS
from .source import TFRecordSource, expand_shards, find_manifest

__all__ = ["tfrecord_dataset", "to_tf_dataset"]

_AUTOTUNE = -1  # tf.data.AUTOTUNE

#: until seqloaders is on the package index, the extra is installed from a checkout (or TensorFlow alone)
TF_INSTALL_HINT = 'pip install "seqloaders[tf]" (from a checkout: pip install ".[tf]"; or pip install tensorflow)'


def _import_tensorflow(needed_by: str, instead: str) -> Any:
    """Import and return ``tensorflow``, or explain how to install it and what works without it.

    Args:
        needed_by: what needs it, for the message (``"to_tf_dataset"``).
        instead: what to do without TensorFlow, for the message.

    Raises:
        ImportError: TensorFlow is not installed; the message names the ``tf`` extra.
    """
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError(f"{needed_by} builds a tf.data.Dataset, which needs TensorFlow (the 'tf' extra): "
                          f"{TF_INSTALL_HINT}; without it, {instead}") from exc
    return tf


def _probe_layout(paths: list[str], label_offset: int) -> tuple[dict[str, Any], bool]:
    """Attribute names → numpy dtype kind, and whether keypoints are stored, from the first record."""
    for path in paths:
        source = TFRecordSource(path, label_offset=label_offset)
        try:
            for k in range(min(len(source), 16)):
                sample = source[k]
                if sample.num_boxes or k == min(len(source), 16) - 1:
                    kinds = {name: np.asarray(v).dtype.kind for name, v in sample.attributes.items()}
                    return kinds, sample.keypoints is not None
        finally:
            source.close()
    return {}, False


def tfrecord_dataset(
    pattern: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    label_offset: int | None = None,
    attributes: Sequence[str] | None = None,
    keypoints: bool | None = None,
    decode: bool = True,
    num_parallel_reads: int | None = None,
    num_parallel_calls: int = _AUTOTUNE,
):
    """TFRecord shards in the Object Detection API layout as a ``tf.data.Dataset`` of samples.

    Each element is a dict:

    - ``image``: (H, W, 3) uint8 RGB (or the encoded ``tf.string`` with ``decode=False``),
    - ``boxes``: (N, 4) float32, XYXY pixels, ``labels``: (N,) int64 (0-based),
    - ``image_size``: (2,) int64 (H, W), ``filename``: string,
    - ``attributes``: name → (N,) values, ``keypoints``: (N, K, 3) float32 when stored.

    These are the values :class:`TFRecordSource` gives (boxes bit for bit; JPEG pixels may differ
    by a grey level or two, as TensorFlow's and OpenCV's JPEG decoders round differently).

    Args:
        pattern: a glob pattern, folder, shard path or list of them.
        label_offset: subtracted from stored class ids (default: from the manifest, else 1).
        attributes: per-object attribute names to parse (default: those of the first record).
        keypoints: parse keypoints (default: if the first record has them).
        decode: decode the images (else ``image`` is the encoded bytes).
        num_parallel_reads: shards read at once (None: one after the other, in order).
        num_parallel_calls: parallel parse and decode calls (default: ``tf.data.AUTOTUNE``).

    Returns:
        A ``tf.data.Dataset``.

    Raises:
        FileNotFoundError: no shard matches ``pattern``.
        ImportError: TensorFlow is not installed (the ``tf`` extra).

    Example:
        >>> ds = tfrecord_dataset("out/train-*.tfrecord").batch(1)       # doctest: +SKIP
        >>> next(iter(ds))["boxes"].shape                                 # doctest: +SKIP
        TensorShape([1, 3, 4])
    """
    tf = _import_tensorflow("tfrecord_dataset", "read the shards with TFRecordSource, or pass a Sequence over it "
                           "to model.fit (any Keras backend)")

    paths = expand_shards(pattern)
    if label_offset is None:
        label_offset = int(find_manifest(paths).get("label_offset", 1))
    kinds, has_keypoints = _probe_layout(paths, label_offset)
    if attributes is None:
        attributes = sorted(kinds)
    if keypoints is None:
        keypoints = has_keypoints
    tf_types = {"f": tf.float32, "U": tf.string, "O": tf.string, "S": tf.string}
    spec: dict[str, Any] = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "image/object/class/label": tf.io.VarLenFeature(tf.int64),
        PIXEL_BOXES: tf.io.VarLenFeature(tf.float32),
    }
    for key in ("xmin", "ymin", "xmax", "ymax"):
        spec[f"image/object/bbox/{key}"] = tf.io.VarLenFeature(tf.float32)
    for name in attributes:
        spec[ATTRIBUTE_PREFIX + name] = tf.io.VarLenFeature(tf_types.get(kinds.get(name, "i"), tf.int64))
    if keypoints:
        for key in ("x", "y"):
            spec[f"image/object/keypoint/{key}"] = tf.io.VarLenFeature(tf.float32)
        spec["image/object/keypoint/visibility"] = tf.io.VarLenFeature(tf.int64)
        spec[PIXEL_KEYPOINTS] = tf.io.VarLenFeature(tf.float32)

    def dense(parsed, key):
        return tf.sparse.to_dense(parsed[key])

    def denorm(values, scale):  # float32(float64(n) * scale), as the numpy reader computes it
        return tf.cast(tf.cast(values, tf.float64) * tf.cast(scale, tf.float64), tf.float32)

    def parse(serialised):
        p = tf.io.parse_single_example(serialised, spec)
        h, w = p["image/height"], p["image/width"]
        boxes = tf.stack([denorm(dense(p, "image/object/bbox/xmin"), w), denorm(dense(p, "image/object/bbox/ymin"), h),
                          denorm(dense(p, "image/object/bbox/xmax"), w), denorm(dense(p, "image/object/bbox/ymax"), h)],
                         axis=-1)
        n = tf.shape(boxes)[0]
        pixels = dense(p, PIXEL_BOXES)
        boxes = tf.cond(tf.size(pixels) == 4 * n, lambda: tf.reshape(pixels, [-1, 4]), lambda: boxes)
        out = {
            "boxes": boxes,
            "labels": dense(p, "image/object/class/label") - label_offset,
            "image_size": tf.stack([h, w]),
            "filename": p["image/filename"],
            "attributes": {name: dense(p, ATTRIBUTE_PREFIX + name) for name in attributes},
        }
        if keypoints:
            kx = dense(p, "image/object/keypoint/x")
            ky = dense(p, "image/object/keypoint/y")
            vis = tf.cast(dense(p, "image/object/keypoint/visibility"), tf.float32)
            xy = tf.stack([denorm(kx, w), denorm(ky, h)], axis=-1)
            kp_pixels = dense(p, PIXEL_KEYPOINTS)
            xy = tf.cond(tf.size(kp_pixels) == tf.size(xy), lambda: tf.reshape(kp_pixels, [-1, 2]), lambda: xy)
            kp = tf.concat([xy, vis[:, None]], axis=-1)
            out["keypoints"] = tf.reshape(kp, [n, -1, 3])
        if decode:
            image = tf.io.decode_image(p["image/encoded"], channels=3, dtype=tf.uint8, expand_animations=False)
            out["image"] = tf.ensure_shape(image, [None, None, 3])
        else:
            out["image"] = p["image/encoded"]
        return out

    dataset = tf.data.TFRecordDataset(paths, num_parallel_reads=num_parallel_reads)
    return dataset.map(parse, num_parallel_calls=num_parallel_calls, deterministic=True)


def to_tf_dataset(sequence: Any, prefetch: int | None = _AUTOTUNE, repeat: bool = False):
    """A ``tf.data.Dataset`` of the batches of a Keras ``PyDataset`` (e.g. a ``DetectionSequence``).

    One pass over the dataset is one epoch: it yields ``sequence[0] ... sequence[len - 1]`` and
    then calls ``sequence.on_epoch_end()``, so the next pass is reshuffled as with ``model.fit``
    on the Sequence itself. The output signature comes from the first batch, with a batch
    dimension of None (the last batch may be smaller).

    ``repeat=True`` gives one endless pass over epoch after epoch, for
    ``model.fit(ds, steps_per_epoch=len(sequence), epochs=N)``: the fastest way to feed ``fit``
    measured here (``make bench``, variant g-tfdata). Keras makes a new tf.data iterator for
    every epoch of a finite dataset, and on this machine that start-up sometimes idled for about
    0.45 s, a third of a 320-image epoch; an endless dataset is iterated once.

    Args:
        sequence: a ``keras.utils.PyDataset`` whose items are ``x`` or ``(x, y)`` or
            ``(x, y, sample_weight)``, each an array or a dict/tuple of arrays.
        prefetch: batches to prefetch (default: ``tf.data.AUTOTUNE``; None or 0: none).
        repeat: run epoch after epoch without end (pass ``steps_per_epoch`` to ``fit``).

    Returns:
        A ``tf.data.Dataset`` with ``element_spec`` matching the batches.

    Raises:
        ValueError: the sequence is empty.
        ImportError: TensorFlow is not installed (the ``tf`` extra).

    Example:
        >>> ds = to_tf_dataset(sl.DetectionSequence(samples, batch_size=4, encoder=enc))  # doctest: +SKIP
        >>> model.fit(ds, epochs=2)                                                         # doctest: +SKIP
        >>> ds = to_tf_dataset(seq, repeat=True)                                            # doctest: +SKIP
        >>> model.fit(ds, steps_per_epoch=len(seq), epochs=2, shuffle=False)                # doctest: +SKIP
    """
    tf = _import_tensorflow("to_tf_dataset", "pass the Sequence to model.fit itself (any Keras backend)")

    if len(sequence) == 0:
        raise ValueError("the sequence has no batches; there is nothing to turn into a dataset")
    first = sequence[0]

    def spec(value):
        arr = np.asarray(value)
        return tf.TensorSpec(shape=(None, *arr.shape[1:]), dtype=tf.as_dtype(arr.dtype))

    signature = tf.nest.map_structure(spec, first)
    if isinstance(first, list):
        signature = tuple(signature)

    def generate():
        while True:
            for index in range(len(sequence)):
                item = sequence[index]
                yield tuple(item) if isinstance(item, list) else item
            sequence.on_epoch_end()
            if not repeat:
                return

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    # a known length lets model.fit count its steps (and not warn that the input "ran out")
    cardinality = tf.data.INFINITE_CARDINALITY if repeat else len(sequence)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
    if prefetch:
        dataset = dataset.prefetch(prefetch)
    return dataset

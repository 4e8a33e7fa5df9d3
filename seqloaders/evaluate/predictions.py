"""A model's output back to detections in source pixels, aligned with the samples it was fed.

:func:`predict_detections` runs a model over a :class:`~seqloaders.DetectionSequence` and
:func:`decode_predictions` decodes one batch: each image's output goes through the Sequence's
encoder (the ``TargetEncoder.decode`` protocol) and is moved from the model input (stretched or
letterboxed) back to its source image, ready for :func:`~seqloaders.evaluate_detections`::

    val = sl.DetectionSequence(val_samples, batch_size=16, image_size=(128, 128), encoder=encoder, shuffle=False)
    report = sl.evaluate_detections(val.samples, sl.predict_detections(model, val))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..encoders.base import Decoded, target_of
from ..imageio import choose_reduction, decode_image, probe_image
from ..records import Sample
from ..resize import letterbox_geometry, target_content_size
from .matching import box_overlaps

__all__ = ["decode_predictions", "predict_detections", "to_source_pixels"]


def predict_detections(
    model: Any,
    sequence: Any,
    *,
    threshold: float = 0.05,
    nms_iou: float | None = None,
    output: str | None = None,
    decode: Callable[[Any, tuple[int, int]], tuple] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Run ``model`` over every batch of ``sequence`` and return its detections in source pixels.

    Each batch goes through ``model.predict_on_batch``; :func:`decode_predictions` turns the
    output back into boxes of the source images. The result is aligned with
    ``sequence.samples`` (whatever the Sequence's shuffling), ready for
    :func:`~seqloaders.evaluate_detections`.

    Args:
        model: a Keras model (anything with ``predict_on_batch(x)``) whose output has the layout
            of the Sequence's encoder.
        sequence: a :class:`~seqloaders.DetectionSequence` built **without augmentation**
            (the boxes could not be moved back through it), that covers every sample (no
            ``drop_remainder``, no ``shard``).
        threshold, nms_iou, output, decode: see :func:`decode_predictions`.

    Returns:
        One ``{"boxes": (K, 4) float32 XYXY source pixels, "scores": (K,) float32, "labels":
        (K,) int64}`` per sample of ``sequence.samples``.

    Raises:
        ValueError: the Sequence augments, leaves samples out, or replaced images it could not load.

    Example:
        >>> import keras, seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy-eval", num_images=4)
        >>> val = sl.DetectionSequence(toy.samples, batch_size=2, image_size=(64, 64),
        ...                            encoder=sl.GridEncoder(grid_size=4), shuffle=False)
        >>> model = keras.Sequential([keras.Input((64, 64, 3)),
        ...                           keras.layers.Conv2D(5, 16, strides=16, activation="sigmoid")])
        >>> predictions = sl.predict_detections(model, val)
        >>> report = sl.evaluate_detections(val.samples, predictions)
        >>> len(predictions), predictions[0]["boxes"].shape[1], 0 <= report.ap50 <= 1
        (4, 4, True)
    """
    _check_evaluable(sequence)
    samples = sequence.samples
    epoch = int(getattr(sequence, "epoch", 0))
    found: list[dict[str, np.ndarray] | None] = [None] * len(samples)
    for index in range(len(sequence)):
        x = sequence[index][0]
        y_pred = model.predict_on_batch(x)
        positions = _batch_samples(sequence, epoch, index)
        for position, pred in zip(positions, decode_predictions(sequence, y_pred, index, epoch=epoch,
                                                                threshold=threshold, nms_iou=nms_iou,
                                                                output=output, decode=decode)):
            found[position] = pred
    report = sequence.report(epoch) if hasattr(sequence, "report") else None
    skipped = getattr(report, "skip_events", 0)
    if skipped:
        names = ", ".join(sorted(getattr(report, "skipped", {}))[:3])
        raise ValueError(f"{skipped} images could not be loaded and were replaced in their batches ({names}...), so "
                         f"the predictions no longer line up with the samples; evaluate on samples that load "
                         f"(see sequence.report()) or with on_error='raise'")
    missing = [i for i, pred in enumerate(found) if pred is None]
    if missing:
        raise ValueError(f"{len(missing)} of {len(samples)} samples are in no batch of the Sequence (first: "
                         f"{samples[missing[0]].image!r}); build the evaluation Sequence without drop_remainder "
                         f"and shard")
    return found  # type: ignore[return-value]


def decode_predictions(
    sequence: Any,
    y_pred: Any,
    batch_index: int,
    *,
    epoch: int | None = None,
    threshold: float = 0.05,
    nms_iou: float | None = None,
    output: str | None = None,
    decode: Callable[[Any, tuple[int, int]], tuple] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Decode a model's output for batch ``batch_index`` of ``sequence`` into source-pixel detections.

    Each image's output is decoded by the Sequence's encoder (``encoder.decode``, given the
    model input size and ``threshold`` where it takes them), then moved from the model input
    back to its source image: the stretch or letterbox placement the loader used is undone
    (the source size is read from the image header, as the loader does) and the boxes are
    clipped to the source image.

    Args:
        sequence: the :class:`~seqloaders.DetectionSequence` that made the batch (without
            augmentation).
        y_pred: the model's output for the batch: (B, ...) array, or the dict/list a
            multi-output model returns.
        batch_index: the batch's index in the epoch.
        epoch: the epoch the batch was taken from (default: the Sequence's current one);
            image ``j`` of the batch is sample ``sequence.permutation(epoch)[batch_index *
            batch_size + j]`` (with ``shuffle=False``: the samples in order).
        threshold: the least score a detection keeps (low values give the full ranking AP needs).
        nms_iou: when set, greedy per-class non-maximum suppression at this IoU.
        output: with a dict of encoders, the name of the one that encodes the boxes.
        decode: ``decode(target, image_size) -> (boxes, scores, labels)`` in model-input pixels,
            instead of the encoder's own ``decode`` (e.g. for a model that outputs logits).

    Returns:
        One ``{"boxes": (K, 4) float32 XYXY source pixels, "scores": (K,) float32, "labels":
        (K,) int64}`` per image of the batch, in batch order.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy-eval", num_images=4)
        >>> seq = sl.DetectionSequence(toy.samples, batch_size=2, image_size=(128, 128), resize="letterbox",
        ...                            encoder=sl.GridEncoder(grid_size=8), shuffle=False)
        >>> x, y = seq[0]                      # a perfect model: y_pred = the targets
        >>> predictions = sl.decode_predictions(seq, y, 0)
        >>> predictions[0]["boxes"].shape, round(sl.evaluate_detections(toy.samples[:2], predictions).ap, 3)
        ((4, 4), 1.0)
    """
    _check_evaluable(sequence)
    epoch = int(getattr(sequence, "epoch", 0)) if epoch is None else int(epoch)
    encoder, target = _box_output(sequence.encoder, y_pred, output)
    positions = _batch_samples(sequence, epoch, batch_index)
    image_size = tuple(sequence.image_size)
    storage, options = sequence.storage, sequence.options
    out = []
    for j, position in enumerate(positions):
        boxes, scores, labels = _decode_one(encoder, target_of(target, j), image_size, threshold, decode)
        keep = scores >= threshold
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if nms_iou is not None and len(boxes):
            keep = _nms(boxes, scores, labels, nms_iou)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        source_size, scale, offset = _source_placement(sequence.samples[position], storage, options)
        out.append({"boxes": to_source_pixels(boxes, source_size, scale, offset), "scores": scores.astype(np.float32),
                    "labels": labels.astype(np.int64)})
    return out


def to_source_pixels(boxes: np.ndarray, source_size: tuple[int, int], scale: tuple[float, float],
                     offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Move (K, 4) XYXY boxes of the model input back to the source image and clip them to it.

    Args:
        boxes: (K, 4) XYXY pixels of the model input.
        source_size: (H, W) of the source image.
        scale, offset: (y, x) of the placement ``input = source * scale + offset``
            (a :class:`~seqloaders.resize.Placement`).

    Returns:
        (K, 4) float32 XYXY pixels of the source image.

    Example:
        >>> to_source_pixels(np.array([[0, 16, 64, 48]]), (100, 200), (0.32, 0.32), (16, 0)).tolist()
        [[0.0, 0.0, 200.0, 100.0]]
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    sy, sx = scale
    oy, ox = offset
    h, w = source_size
    x = np.clip((b[:, [0, 2]] - ox) / sx, 0, w)
    y = np.clip((b[:, [1, 3]] - oy) / sy, 0, h)
    return np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1).astype(np.float32)


def _check_evaluable(sequence: Any) -> None:
    for name in ("samples", "encoder", "image_size", "options", "storage", "permutation", "batch_size"):
        if not hasattr(sequence, name):
            raise TypeError(f"expected a seqloaders DetectionSequence, got {type(sequence).__name__} (no {name!r})")
    if getattr(sequence, "augment", None) is not None:
        raise ValueError(f"the Sequence augments ({sequence.augment!r}): its boxes cannot be moved back to the source "
                         f"images; build the evaluation Sequence with augment=None")


def _batch_samples(sequence: Any, epoch: int, batch_index: int) -> np.ndarray:
    """Indices into ``sequence.samples`` of the images of a batch, in batch order."""
    if not 0 <= batch_index < len(sequence):
        raise IndexError(f"batch_index {batch_index} out of range: the Sequence has {len(sequence)} batches")
    start = batch_index * sequence.batch_size
    return np.asarray(sequence.permutation(epoch))[start:start + sequence.batch_size]


def _box_output(encoder: Any, y_pred: Any, output: str | None) -> tuple[Any, Any]:
    """(the box encoder, its part of y_pred) for a single encoder or a dict of them."""
    if not isinstance(encoder, Mapping):
        return encoder, y_pred
    names = list(encoder)
    if output is None:
        if len(names) != 1:
            raise ValueError(f"the Sequence has several encoders ({', '.join(names)}); pass output= the name of the "
                             f"one that encodes the boxes")
        output = names[0]
    if output not in encoder:
        raise ValueError(f"output {output!r} is not one of the Sequence's encoders: {', '.join(names)}")
    if isinstance(y_pred, Mapping):
        return encoder[output], y_pred[output]
    if isinstance(y_pred, (list, tuple)) and len(y_pred) == len(names):
        return encoder[output], y_pred[names.index(output)]
    return encoder[output], y_pred


def _decode_one(encoder: Any, target: Any, image_size: tuple[int, int], threshold: float,
                decode: Callable | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's output → (boxes (K, 4), scores (K,), labels (K,)) in model-input pixels."""
    if decode is not None:
        result = decode(target, image_size)
    else:  # the TargetEncoder protocol: one signature, a Decoded back
        if not hasattr(encoder, "decode"):
            raise TypeError(f"{type(encoder).__name__} has no decode(); pass decode=a function (target, image_size) "
                            f"-> (boxes, scores, labels)")
        result = encoder.decode(target, image_size, threshold=threshold)
    if isinstance(result, Decoded):
        k = len(result.boxes)
        scores = result.scores if result.scores is not None and np.shape(result.scores) == (k,) else np.ones(k)
        return result.boxes.astype(np.float64), np.asarray(scores, np.float64), result.labels
    parts = list(result) if isinstance(result, (tuple, list)) else [result]
    boxes = np.asarray(parts[0], np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"decoding gave boxes of shape {boxes.shape}; expected (K, 4) XYXY pixels")
    k = len(boxes)
    labels = np.asarray(parts[-1]).reshape(-1) if len(parts) >= 2 else np.zeros(k, np.int64)
    if labels.shape != (k,):
        labels = np.zeros(k, np.int64)
    scores = np.ones(k)
    if len(parts) == 3 and np.shape(parts[1]) == (k,):
        scores = np.asarray(parts[1], np.float64)
    return boxes, scores, labels.astype(np.int64)


def _nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy per-class non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="mergesort")
    overlaps = box_overlaps(boxes, boxes)
    same = labels[:, None] == labels[None, :]
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= same[i] & (overlaps[i] > iou)
    return np.asarray(keep, np.int64)


def _source_placement(sample: Sample, storage: Any, options: Any):
    """(source (H, W), scale (y, x), offset (y, x)) of the loader's ``input = source * scale + offset``.

    The same arithmetic as :func:`~seqloaders.load_sample` without augmentation: the source size
    from the image header, the JPEG DCT reduction the loader decodes at, the resize placement of
    the decoded image.
    """
    data = storage.read(sample.image)
    info = probe_image(data)
    if info is not None:
        size = info.size
    elif sample.image_size is not None:
        size = tuple(sample.image_size)
    else:
        size = decode_image(data, path=sample.image).shape[:2]
    image_size, resize = tuple(options.image_size), options.resize
    reduce = 1
    if (info is not None and info.format == "jpeg" and getattr(options, "reduced_decode", True)
            and getattr(options, "augment_at", "output") == "output"):
        reduce = choose_reduction(size, target_content_size(size, image_size, resize))
    decoded = (math.ceil(size[0] / reduce), math.ceil(size[1] / reduce))
    nh, nw, top, left = letterbox_geometry(decoded, image_size, resize)
    scale = (nh / decoded[0] / reduce, nw / decoded[1] / reduce)
    return (int(size[0]), int(size[1])), scale, (float(top), float(left))

"""Detection quality in the metric papers report: COCO's AP, AP50 and AR, from samples and predictions.

Ground truth comes from :class:`~seqloaders.Sample` records (boxes in source pixels), predictions
from a list aligned with the samples of ``{"boxes": (K, 4), "scores": (K,), "labels": (K,)}`` in
the same pixels. :func:`predict_detections` and :func:`decode_predictions` make that list from a
model and the :class:`~seqloaders.DetectionSequence` it was fed by: the model's output is decoded
through the Sequence's encoder and moved back from the model input (stretched or letterboxed) to
the source image, so evaluating a model takes three lines::

    val = sl.DetectionSequence(val_samples, batch_size=16, image_size=(128, 128), encoder=encoder, shuffle=False)
    report = sl.evaluate_detections(val.samples, sl.predict_detections(model, val))
    print(report.summary())

The matching follows COCO's rules (the ``bbox`` evaluation with area range "all"):

- per image and class, detections are taken by descending score, at most ``max_detections``;
- each takes the unmatched ground-truth box it overlaps best, if that IoU reaches the threshold,
  preferring boxes that count over ignored ones;
- a crowd box (``attributes["iscrowd"] == 1``) is ignored, its overlap is the intersection over
  the *detection's* area, and it can absorb any number of detections;
- a box marked ignored (``ignore=``, e.g. WIDER FACE's ``invalid`` faces) is matched like any
  other but not counted; a detection matched to an ignored box is neither a true nor a false
  positive;
- precision is interpolated at 101 recall points (0, 0.01, ..., 1) and averaged; a class
  without counted ground truth has no AP (nan) and is left out of the means.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .encoders.base import Decoded, target_of
from .imageio import choose_reduction, decode_image, probe_image
from .records import Sample
from .resize import letterbox_geometry, target_content_size

__all__ = ["COCO_IOU_THRESHOLDS", "RECALL_POINTS", "ClassScores", "DetectionReport", "decode_predictions",
           "evaluate_detections", "predict_detections"]

#: COCO's IoU thresholds 0.50, 0.55, ..., 0.95.
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
#: The 101 recall levels at which precision is interpolated.
RECALL_POINTS = np.linspace(0.0, 1.0, 101)

Predictions = Sequence[Mapping[str, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]]


# ------------------------------------------------------------------------------------ the report
@dataclasses.dataclass(frozen=True)
class ClassScores:
    """The scores of one class.

    Attributes:
        label: the class id.
        name: its name (or ``"class <id>"``).
        num_objects: ground-truth boxes that count (crowd and ignored ones excluded).
        num_ignored: ground-truth boxes ignored (crowd, or marked by ``ignore=``).
        num_detections: detections evaluated (after the per-image limit).
        ap: AP averaged over the IoU thresholds (COCO's AP@[.50:.95]); nan without objects.
        ap50: AP at IoU 0.50; ap75: at 0.75 (nan when that threshold is not evaluated).
        ar: recall averaged over the IoU thresholds (COCO's AR@max_detections).
        ar50: recall at IoU 0.50: the fraction of objects found at all.
    """

    label: int
    name: str
    num_objects: int
    num_ignored: int
    num_detections: int
    ap: float
    ap50: float
    ap75: float
    ar: float
    ar50: float


@dataclasses.dataclass(frozen=True, repr=False)
class DetectionReport:
    """What :func:`evaluate_detections` measured.

    Attributes:
        ap: COCO's AP: precision averaged over 101 recall points, the IoU thresholds and the
            classes that have objects.
        ap50, ap75: the same at IoU 0.50 and 0.75 only (nan when not among the thresholds).
        ar: COCO's AR@max_detections: recall averaged over the IoU thresholds and classes.
        ar50: recall at IoU 0.50.
        per_class: one :class:`ClassScores` per class, by label.
        precision: (T, 101, C) float64 interpolated precision per IoU threshold, recall point
            and class (columns in ``labels`` order; nan for a class without objects).
        recall: (T, C) float64 final recall per IoU threshold and class.
        labels: (C,) the class ids of the columns.
        iou_thresholds: the T thresholds.
        max_detections: the per-image (and class) limit.
        num_images, num_objects, num_ignored, num_detections: totals.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> report = sl.evaluate_detections([sl.Sample("a.jpg", boxes=[[0, 0, 10, 10]], labels=[0])],
        ...                                 [{"boxes": np.array([[0, 0, 10, 10]]), "scores": np.array([0.9])}])
        >>> report
        DetectionReport(ap50=1.000, ap=1.000, ar=1.000, 1 images, 1 objects, 0 ignored, 1 detections, 1 classes)
        >>> print(report.summary().splitlines()[2])
        AP50 @[IoU=0.50]      = 1.000
    """

    ap: float
    ap50: float
    ap75: float
    ar: float
    ar50: float
    per_class: dict[int, ClassScores]
    precision: np.ndarray
    recall: np.ndarray
    labels: np.ndarray
    iou_thresholds: tuple[float, ...]
    max_detections: int
    num_images: int
    num_objects: int
    num_ignored: int
    num_detections: int

    def __repr__(self) -> str:
        return (f"DetectionReport(ap50={self.ap50:.3f}, ap={self.ap:.3f}, ar={self.ar:.3f}, {self.num_images} images, "
                f"{self.num_objects} objects, {self.num_ignored} ignored, {self.num_detections} detections, "
                f"{len(self.per_class)} classes)")

    def summary(self) -> str:
        """A table: the overall AP, AP50, AP75, AR and AR50, then one line per class."""
        t = self.iou_thresholds
        span = f"{t[0]:.2f}:{t[-1]:.2f}" if len(t) > 1 else f"{t[0]:.2f}"
        lines = [
            (f"{self.num_images} images, {self.num_objects} objects ({self.num_ignored} ignored), "
             f"{self.num_detections} detections (at most {self.max_detections} per image and class)"),
            f"AP   @[IoU={span}] = {self.ap:.3f}",
            f"AP50 @[IoU=0.50]      = {self.ap50:.3f}",
            f"AP75 @[IoU=0.75]      = {self.ap75:.3f}",
            f"AR   @[IoU={span}] = {self.ar:.3f}",
            f"AR50 @[IoU=0.50]      = {self.ar50:.3f}",
        ]
        if self.per_class:
            width = max(5, *(len(c.name) for c in self.per_class.values()))
            lines.append(f"{'class':<{width}}  objects  ignored  detections     AP   AP50   AP75     AR   AR50")
            for c in self.per_class.values():
                lines.append(f"{c.name:<{width}}  {c.num_objects:7d}  {c.num_ignored:7d}  {c.num_detections:10d}  "
                             f"{c.ap:5.3f}  {c.ap50:5.3f}  {c.ap75:5.3f}  {c.ar:5.3f}  {c.ar50:5.3f}")
        return "\n".join(lines)


# -------------------------------------------------------------------------------- the evaluation
def evaluate_detections(
    samples: Sequence[Sample],
    predictions: Predictions,
    *,
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    max_detections: int = 100,
    ignore: str | Sequence[str] | Callable[[Sample], np.ndarray] | None = None,
    crowd: str | None = "iscrowd",
    class_names: Sequence[str] | Mapping[int, str] | None = None,
) -> DetectionReport:
    """Score detections against the samples' boxes with COCO's matching (module docstring).

    Args:
        samples: the ground truth: boxes (N, 4) float32 XYXY pixels of the source image, labels
            (N,), per-box attributes.
        predictions: one entry per sample, in the same order: ``{"boxes": (K, 4) float XYXY
            pixels of the same source image, "scores": (K,) float, "labels": (K,) int}``
            (``labels`` may be left out for one class), or a ``(boxes, scores, labels)`` tuple.
        iou_thresholds: the IoU thresholds AP and AR are averaged over (COCO's 0.50:0.05:0.95).
        max_detections: the highest-scored detections kept per image and class (COCO's 100).
        ignore: boxes that are matched but not counted: an attribute name (or several) whose
            nonzero values mark them (WIDER FACE: ``"invalid"``; Pascal VOC: ``"difficult"``),
            or a function of a sample returning an (N,) bool mask. None: every box counts.
        crowd: the attribute marking crowd boxes (COCO's ``iscrowd``), None for none.
        class_names: names for the summary, a sequence indexed by label or a dict.

    Returns:
        A :class:`DetectionReport`.

    Raises:
        ValueError: predictions not aligned with the samples, or of the wrong shapes (naming
            the entry and its image).

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> samples = [sl.Sample("a.jpg", boxes=[[10, 10, 50, 50], [60, 10, 90, 40]], labels=[0, 0])]
        >>> predictions = [{"boxes": np.array([[12, 10, 50, 52], [0, 60, 20, 80]]),
        ...                 "scores": np.array([0.9, 0.8]), "labels": np.array([0, 0])}]
        >>> report = sl.evaluate_detections(samples, predictions)
        >>> round(report.ap50, 3), round(report.ar50, 3)  # precision 1 up to recall 0.5: 51 of 101 points
        (0.505, 0.5)
    """
    if len(predictions) != len(samples):
        raise ValueError(f"predictions must have one entry per sample: got {len(predictions)} for "
                         f"{len(samples)} samples")
    thresholds = np.asarray(list(iou_thresholds), np.float64)
    if thresholds.ndim != 1 or not len(thresholds) or ((thresholds < 0) | (thresholds > 1)).any():
        raise ValueError(f"iou_thresholds must be a non-empty list of values in [0, 1], got {list(iou_thresholds)}")
    if int(max_detections) < 1:
        raise ValueError(f"max_detections must be >= 1, got {max_detections}")
    max_detections = int(max_detections)
    ignore_of = _ignore_function(ignore)

    gts, dets = [], []
    for i, (sample, pred) in enumerate(zip(samples, predictions)):
        gt_ignored = ignore_of(sample)
        gt_crowd = np.zeros(sample.num_boxes, bool)
        if crowd is not None and crowd in sample.attributes:
            gt_crowd = np.asarray(sample.attributes[crowd]).reshape(-1) != 0
        gts.append((sample.boxes.astype(np.float64), sample.labels, gt_crowd, gt_ignored | gt_crowd))
        dets.append(_check_prediction(pred, i, sample))

    labels = sorted({int(v) for b in gts for v in b[1]} | {int(v) for d in dets for v in d[2]})
    if isinstance(class_names, Mapping):
        labels = sorted(set(labels) | {int(k) for k in class_names})
    elif class_names is not None:
        labels = sorted(set(labels) | set(range(len(class_names))))
    num_t, num_c = len(thresholds), len(labels)
    precision = np.full((num_t, len(RECALL_POINTS), num_c), np.nan)
    recall = np.full((num_t, num_c), np.nan)
    per_class: dict[int, ClassScores] = {}
    t50, t75 = _threshold_index(thresholds, 0.5), _threshold_index(thresholds, 0.75)
    total_objects = total_ignored = total_dets = 0
    for k, label in enumerate(labels):
        scores, matched, ignored, num_objects, num_ignored = [], [], [], 0, 0
        for (g_boxes, g_labels, g_crowd, g_ignored), (d_boxes, d_scores, d_labels) in zip(gts, dets):
            g = g_labels == label
            d = d_labels == label
            if not g.any() and not d.any():
                continue
            s, m, ig = _match_image(g_boxes[g], g_crowd[g], g_ignored[g], d_boxes[d], d_scores[d], thresholds,
                                    max_detections)
            scores.append(s)
            matched.append(m)
            ignored.append(ig)
            num_objects += int((~g_ignored[g]).sum())
            num_ignored += int(g_ignored[g].sum())
        num_dets = int(sum(len(s) for s in scores))
        total_objects, total_ignored, total_dets = total_objects + num_objects, total_ignored + num_ignored, \
            total_dets + num_dets
        if num_objects:
            precision[:, :, k], recall[:, k] = _accumulate(scores, matched, ignored, num_objects, num_t)
        per_class[label] = ClassScores(
            label=label, name=_class_name(class_names, label), num_objects=num_objects, num_ignored=num_ignored,
            num_detections=num_dets, ap=_mean(precision[:, :, k]), ap50=_mean(precision[t50, :, k], t50),
            ap75=_mean(precision[t75, :, k], t75), ar=_mean(recall[:, k]), ar50=_mean(recall[t50, k], t50))
    return DetectionReport(
        ap=_mean(precision), ap50=_mean(precision[t50], t50), ap75=_mean(precision[t75], t75), ar=_mean(recall),
        ar50=_mean(recall[t50], t50), per_class=per_class, precision=precision, recall=recall,
        labels=np.asarray(labels, np.int64), iou_thresholds=tuple(float(t) for t in thresholds),
        max_detections=max_detections, num_images=len(samples), num_objects=total_objects,
        num_ignored=total_ignored, num_detections=total_dets)


def _ignore_function(ignore: Any) -> Callable[[Sample], np.ndarray]:
    if ignore is None:
        return lambda sample: np.zeros(sample.num_boxes, bool)
    if callable(ignore):
        def from_function(sample: Sample) -> np.ndarray:
            mask = np.asarray(ignore(sample), bool).reshape(-1)
            if mask.shape != (sample.num_boxes,):
                raise ValueError(f"{sample.image}: ignore({sample!r}) must return ({sample.num_boxes},) bool, "
                                 f"got shape {mask.shape}")
            return mask
        return from_function
    names = (ignore,) if isinstance(ignore, str) else tuple(ignore)

    def from_attributes(sample: Sample) -> np.ndarray:
        mask = np.zeros(sample.num_boxes, bool)
        for name in names:
            if name in sample.attributes:
                mask |= np.asarray(sample.attributes[name]).reshape(-1) != 0
        return mask
    return from_attributes


def _check_prediction(pred: Any, i: int, sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One prediction → (boxes (K, 4) float64, scores (K,) float64, labels (K,) int64), or a ValueError naming it."""
    where = f"predictions[{i}] (for {sample.image!r})"
    if isinstance(pred, Mapping):
        missing = [key for key in ("boxes", "scores") if key not in pred]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(map(repr, missing))}; expected a dict with 'boxes', "
                             f"'scores' and 'labels', got keys {sorted(pred)}")
        boxes, scores, labels = pred["boxes"], pred["scores"], pred.get("labels")
    elif isinstance(pred, (tuple, list)) and len(pred) in (2, 3):
        boxes, scores, labels = pred[0], pred[1], pred[2] if len(pred) == 3 else None
    else:
        raise ValueError(f"{where}: expected a dict with 'boxes', 'scores' and 'labels' or a (boxes, scores, labels) "
                         f"tuple, got {type(pred).__name__}")
    boxes = np.asarray(boxes, np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{where}: 'boxes' must have shape (K, 4) (XYXY pixels), got {boxes.shape}")
    k = len(boxes)
    scores = np.asarray(scores, np.float64).reshape(-1) if np.size(scores) or k else np.zeros(0)
    if scores.shape != (k,):
        raise ValueError(f"{where}: 'scores' must have shape ({k},) to match the boxes, got {scores.shape}")
    labels = np.zeros(k, np.int64) if labels is None else np.asarray(labels).reshape(-1)
    if labels.shape != (k,):
        raise ValueError(f"{where}: 'labels' must have shape ({k},) to match the boxes, got {labels.shape}")
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ValueError(f"{where}: boxes and scores must be finite (no nan or inf)")
    return boxes, scores, labels.astype(np.int64)


def box_overlaps(det_boxes: np.ndarray, gt_boxes: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of every detection with every ground-truth box; for crowd boxes, intersection over detection area.

    Args:
        det_boxes: (D, 4) XYXY.
        gt_boxes: (G, 4) XYXY.
        crowd: (G,) bool, or None for no crowd boxes.

    Returns:
        (D, G) float64 (0 where the union, or the detection's area, is empty).
    """
    d = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    g = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    iw = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    ih = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    d_area = (np.clip(d[:, 2] - d[:, 0], 0, None) * np.clip(d[:, 3] - d[:, 1], 0, None))[:, None]
    g_area = (np.clip(g[:, 2] - g[:, 0], 0, None) * np.clip(g[:, 3] - g[:, 1], 0, None))[None, :]
    union = d_area + g_area - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, bool)[None, :], np.broadcast_to(d_area, union.shape), union)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _match_image(gt_boxes, gt_crowd, gt_ignored, det_boxes, det_scores, thresholds, max_detections):
    """Match one image's detections of one class to its boxes at every threshold.

    Returns:
        scores (D,) of the kept detections, best first; matched (T, D) bool; ignored (T, D) bool
        (matched to an ignored box).
    """
    order = np.argsort(-det_scores, kind="mergesort")[:max_detections]
    det_boxes, det_scores = det_boxes[order], det_scores[order]
    num_t, num_d = len(thresholds), len(order)
    matched = np.zeros((num_t, num_d), bool)
    ignored = np.zeros((num_t, num_d), bool)
    if num_d == 0 or len(gt_boxes) == 0:
        return det_scores, matched, ignored
    g_order = np.argsort(gt_ignored, kind="mergesort")  # boxes that count first
    crowd, ig = gt_crowd[g_order], gt_ignored[g_order]
    ious = box_overlaps(det_boxes, gt_boxes[g_order], crowd)
    num_g = len(g_order)
    least = np.minimum(thresholds, 1 - 1e-10)[:, None]
    taken = np.zeros((num_t, num_g), bool)
    rows = np.arange(num_t)
    for d in range(num_d):
        iou = ious[d][None, :]
        candidate = (~taken | crowd[None, :]) & (iou >= least)  # (T, G)
        counted = candidate & ~ig[None, :]
        has_counted = counted.any(axis=1, keepdims=True)
        candidate = np.where(has_counted, counted, candidate & ig[None, :])
        found = candidate.any(axis=1)
        if not found.any():
            continue
        values = np.where(candidate, iou, -1.0)[:, ::-1]
        best = num_g - 1 - np.argmax(values, axis=1)  # the last box of the highest overlap, as COCO's loop takes
        t, m = rows[found], best[found]
        taken[t, m] = True
        matched[t, d] = True
        ignored[t, d] = ig[m]
    return det_scores, matched, ignored


def _accumulate(scores, matched, ignored, num_objects: int, num_t: int) -> tuple[np.ndarray, np.ndarray]:
    """One class over all images → interpolated precision (T, 101) and final recall (T,)."""
    score = np.concatenate(scores) if scores else np.zeros(0)
    if not len(score):
        return np.zeros((num_t, len(RECALL_POINTS))), np.zeros(num_t)
    order = np.argsort(-score, kind="mergesort")
    m = np.concatenate(matched, axis=1)[:, order]
    ig = np.concatenate(ignored, axis=1)[:, order]
    tp = np.cumsum(m & ~ig, axis=1, dtype=np.float64)
    fp = np.cumsum(~m & ~ig, axis=1, dtype=np.float64)
    rc = tp / num_objects
    pr = tp / (tp + fp + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # precision at recall >= r
    out = np.zeros((num_t, len(RECALL_POINTS)))
    for t in range(num_t):
        idx = np.searchsorted(rc[t], RECALL_POINTS, side="left")
        ok = idx < len(score)
        out[t, ok] = pr[t, idx[ok]]
    return out, rc[:, -1].copy()


def _threshold_index(thresholds: np.ndarray, value: float) -> int | None:
    hit = np.flatnonzero(np.isclose(thresholds, value))
    return int(hit[0]) if len(hit) else None


def _mean(values: np.ndarray, index: Any = 0) -> float:
    """Mean of the non-nan entries; nan when there are none (or when the threshold is not evaluated)."""
    if index is None:
        return float("nan")
    values = np.asarray(values)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _class_name(class_names: Any, label: int) -> str:
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, f"class {label}"))
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return f"class {label}"


# ------------------------------------------------------------- model output → source-pixel boxes
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
    :func:`evaluate_detections`.

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

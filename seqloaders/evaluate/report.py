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

This module holds the report and the evaluation; the array work (IoU, matching, precision) is in
:mod:`seqloaders.evaluate.matching`, the decoding of a model's output in :mod:`.predictions`.
Their public names are importable from :mod:`seqloaders.evaluate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..records import Sample
from .matching import RECALL_POINTS, accumulate_precision, match_detections

__all__ = ["COCO_IOU_THRESHOLDS", "ClassScores", "DetectionReport", "evaluate_detections"]

#: COCO's IoU thresholds 0.50, 0.55, ..., 0.95.
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())

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
            s, m, ig = match_detections(g_boxes[g], g_crowd[g], g_ignored[g], d_boxes[d], d_scores[d], thresholds,
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
            precision[:, :, k], recall[:, k] = accumulate_precision(scores, matched, ignored, num_objects, num_t)
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


"""COCO's matching and average precision, on arrays: the core of :func:`~seqloaders.evaluate_detections`.

:func:`box_overlaps` is the IoU (intersection over the detection's area for crowd boxes),
:func:`match_detections` matches one image's detections of one class to its boxes at every IoU
threshold, and :func:`accumulate_precision` turns the matches of one class over all images into
precision interpolated at :data:`RECALL_POINTS` and the final recall. The rules are those listed
in :mod:`seqloaders.evaluate.report`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RECALL_POINTS", "accumulate_precision", "box_overlaps", "match_detections"]

#: The 101 recall levels at which precision is interpolated.
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


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


def match_detections(gt_boxes, gt_crowd, gt_ignored, det_boxes, det_scores, thresholds, max_detections):
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


def accumulate_precision(scores, matched, ignored, num_objects: int, num_t: int) -> tuple[np.ndarray, np.ndarray]:
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


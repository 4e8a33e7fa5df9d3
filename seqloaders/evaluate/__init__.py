"""Detection quality as the metric papers report it: COCO's AP, AP50 and AR.

- :mod:`.report`: :func:`evaluate_detections` and :class:`DetectionReport` (the matching rules are
  stated there);
- :mod:`.matching`: IoU, COCO's greedy matching and the interpolated precision, on arrays;
- :mod:`.predictions`: :func:`predict_detections` and :func:`decode_predictions`, a model's output
  decoded through the Sequence's encoder and moved back to source pixels.
"""

from .matching import RECALL_POINTS, box_overlaps
from .predictions import decode_predictions, predict_detections, to_source_pixels
from .report import COCO_IOU_THRESHOLDS, ClassScores, DetectionReport, evaluate_detections

__all__ = ["COCO_IOU_THRESHOLDS", "RECALL_POINTS", "ClassScores", "DetectionReport", "box_overlaps",
           "decode_predictions", "evaluate_detections", "predict_detections", "to_source_pixels"]

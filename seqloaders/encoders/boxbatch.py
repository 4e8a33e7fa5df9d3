"""A batch of per-image box sets flattened into one array: the shared start of the grid encoders."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import EncodingError

__all__ = ["COLLISIONS", "BoxBatch", "collision_order", "flatten_boxes"]

COLLISIONS = ("largest", "first", "last")


@dataclasses.dataclass(frozen=True)
class BoxBatch:
    """All boxes of a batch in one array.

    Attributes:
        boxes: (M, 4) float64 XYXY pixels, clipped to the image.
        labels: (M,) int64.
        owner: (M,) index of the image each box belongs to.
        seq: (M,) index of each box inside its image.
        widths, heights: (M,) float64 sizes after clipping.
        valid: (M,) bool: finite boxes with positive width and height.
    """

    boxes: np.ndarray
    labels: np.ndarray
    owner: np.ndarray
    seq: np.ndarray
    widths: np.ndarray
    heights: np.ndarray
    valid: np.ndarray

    @property
    def total(self) -> int:
        return len(self.boxes)


def flatten_boxes(boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], image_size: tuple[int, int],
                  num_classes: int) -> BoxBatch:
    """Concatenate B box sets (XYXY pixels of an image of size (H, W)), clip them to the image and
    mark the valid ones.

    Raises:
        EncodingError: labels do not match the boxes, or a valid box's label is outside
            ``[0, num_classes)`` when ``num_classes > 1``.
    """
    h, w = image_size
    counts = [len(np.asarray(b).reshape(-1, 4)) for b in boxes]
    total = sum(counts)
    if total == 0:
        empty = np.zeros(0)
        return BoxBatch(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                        empty, empty, np.zeros(0, bool))
    b = np.concatenate([np.asarray(x, np.float64).reshape(-1, 4) for x in boxes])
    lab = np.concatenate([np.asarray(x, np.int64).reshape(-1) for x in labels])
    if len(lab) != total:
        raise EncodingError(f"got {total} boxes but {len(lab)} labels in the batch")
    owner = np.repeat(np.arange(len(boxes)), counts)
    seq = np.concatenate([np.arange(n) for n in counts])
    b = np.clip(b, 0, [w, h, w, h])
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    valid = np.isfinite(b).all(axis=1) & (bw > 0) & (bh > 0)
    if num_classes > 1 and valid.any():
        bad = valid & ((lab < 0) | (lab >= num_classes))
        if bad.any():
            raise EncodingError(f"label {lab[bad][0]} is out of range for num_classes={num_classes}")
    return BoxBatch(b, lab, owner, seq, bw, bh, valid)


def collision_order(batch: BoxBatch, idx: np.ndarray, collision: str) -> np.ndarray:
    """Positions into ``idx`` in the order that decides which box keeps a shared slot: the first
    of each slot wins. "largest" (area), "first" or "last" (in each image's box order)."""
    if collision == "largest":
        return np.argsort(-(batch.widths * batch.heights)[idx], kind="stable")
    if collision == "last":
        return np.lexsort((-batch.seq[idx], batch.owner[idx]))
    return np.arange(len(idx))

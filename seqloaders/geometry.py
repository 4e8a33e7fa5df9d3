"""Box geometry on (N, 4) float arrays. XYXY pixels is the hub: every conversion goes through it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .records import BoxFormat

__all__ = ["box_areas", "clip_boxes", "convert_boxes", "outside_box_mask", "scale_boxes", "valid_box_mask"]


def _to_xyxy(b: np.ndarray, fmt: BoxFormat, size: tuple[int, int] | None) -> np.ndarray:
    out = np.empty_like(b)
    if fmt in (BoxFormat.XYXY, BoxFormat.REL_XYXY):
        out[:] = b
    elif fmt in (BoxFormat.XYWH, BoxFormat.REL_XYWH):
        out[:, :2] = b[:, :2]
        out[:, 2:] = b[:, :2] + b[:, 2:]
    else:  # centre forms
        half = b[:, 2:] / 2
        out[:, :2] = b[:, :2] - half
        out[:, 2:] = b[:, :2] + half
    if fmt.is_relative:
        h, w = _need_size(size, fmt)
        out *= np.array([w, h, w, h], out.dtype)
    return out


def _from_xyxy(b: np.ndarray, fmt: BoxFormat, size: tuple[int, int] | None) -> np.ndarray:
    if fmt.is_relative:
        h, w = _need_size(size, fmt)
        b = b / np.array([w, h, w, h], b.dtype)
    out = np.empty_like(b)
    if fmt in (BoxFormat.XYXY, BoxFormat.REL_XYXY):
        out[:] = b
    elif fmt in (BoxFormat.XYWH, BoxFormat.REL_XYWH):
        out[:, :2] = b[:, :2]
        out[:, 2:] = b[:, 2:] - b[:, :2]
    else:
        out[:, :2] = (b[:, :2] + b[:, 2:]) / 2
        out[:, 2:] = b[:, 2:] - b[:, :2]
    return out


def _need_size(size: tuple[int, int] | None, fmt: BoxFormat) -> tuple[int, int]:
    if size is None:
        raise ValueError(f"converting {fmt.value!r} boxes needs image_size=(H, W)")
    return int(size[0]), int(size[1])


def convert_boxes(
    boxes: np.ndarray | Sequence,
    source: BoxFormat | str,
    target: BoxFormat | str,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Convert boxes between formats, through XYXY pixels.

    Args:
        boxes: (N, 4) array in the ``source`` format.
        source, target: a :class:`BoxFormat` or its name (aliases ``pascal_voc``, ``coco``,
            ``yolo`` accepted).
        image_size: (H, W), needed when either format is relative.

    Returns:
        (N, 4) float32 (float64 if the input was float64) in the ``target`` format.

    Example:
        >>> convert_boxes([[10, 20, 30, 40]], "xywh", "xyxy").tolist()
        [[10.0, 20.0, 40.0, 60.0]]
    """
    src, dst = BoxFormat.parse(source), BoxFormat.parse(target)
    arr = np.asarray(boxes)
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    arr = arr.astype(dtype, copy=False).reshape(-1, 4)
    if src is dst:
        return arr.copy()
    return _from_xyxy(_to_xyxy(arr, src, image_size), dst, image_size)


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) XYXY boxes; degenerate boxes have area 0."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    wh = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
    return wh[:, 0] * wh[:, 1]


def clip_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Clip (N, 4) XYXY pixel boxes to an image of size (H, W)."""
    h, w = image_size
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.clip(boxes, 0, np.array([w, h, w, h], np.float32))


def scale_boxes(boxes: np.ndarray, scale: tuple[float, float], offset: tuple[float, float] = (0, 0)) -> np.ndarray:
    """Map XYXY pixel boxes by ``x * sx + ox``, ``y * sy + oy``; scale and offset are (y, x)."""
    sy, sx = scale
    oy, ox = offset
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return boxes * np.array([sx, sy, sx, sy], np.float32) + np.array([ox, oy, ox, oy], np.float32)


def valid_box_mask(boxes: np.ndarray, min_size: float = 0.0) -> np.ndarray:
    """(N,) bool: boxes whose width and height are both greater than ``min_size`` (and finite)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.isfinite(boxes).all(axis=1) & (wh[:, 0] > min_size) & (wh[:, 1] > min_size)


def outside_box_mask(boxes: np.ndarray, image_size: tuple[int, int], tolerance: float = 0.0) -> np.ndarray:
    """(N,) bool: boxes (XYXY pixels) that reach past an image of ``image_size`` (H, W) by more
    than ``tolerance`` pixels on any side."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    h, w = image_size
    return ((boxes[:, 0] < -tolerance) | (boxes[:, 1] < -tolerance)
            | (boxes[:, 2] > w + tolerance) | (boxes[:, 3] > h + tolerance))

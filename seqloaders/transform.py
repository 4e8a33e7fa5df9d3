"""The geometry kernel: one :class:`Transform` of the image plane moves every target the same way.

Boxes, keypoints (with their visibility), rendered masks, the valid-region map and each box's
labels and attributes all move by one map of the continuous pixel frame (pixel ``i`` spans
``[i, i + 1)``, so a left-right flip maps ``x`` to ``W - x``). The resize step (its placement),
:class:`~seqloaders.NativeAugmenter` (flip and affine) and
:class:`~seqloaders.encoders.HorizontalFlipAugmenter` move targets only through it, and the
albumentations adapter applies its rule for unlabelled keypoints.

The rules, the same everywhere:

- a box moves as the envelope of its four moved corners (exact for flips, shifts and scales);
  clipping and dropping boxes is the caller's decision (:func:`visible_boxes`);
- a keypoint moves by the map; an unlabelled one (v = 0, COCO's ``(0, 0, 0)``) keeps its
  coordinates, since it has no position to move; when the map mirrors the image, keypoint k of
  the result is keypoint ``flip_index[k]`` of the mirrored object (a left eye becomes a right eye);
- masks and label maps move by nearest neighbour, 0 (False) where nothing maps;
- a placement (the resize step's ``x * scale + offset``) computes in float32 as the resize always
  did; a general affine computes in float64.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import cv2
import numpy as np

from .geometry import box_areas, scale_boxes
from .records import ArrayMasks, LoadedSample, Sample, as_loaded
from .resize import place_label_map

__all__ = ["Transform", "affine_matrix", "check_flip_index", "clip_boxes_to", "keep_unlabelled", "visible_boxes",
           "visible_boxes_in"]


def affine_matrix(size: tuple[int, int], flip: bool = False, scale: float = 1.0, angle: float = 0.0,
                  translate: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The 2x3 forward map, in continuous pixels, of a flip and then a scale/rotate about the centre and a shift.

    Args:
        size: (H, W) of the image.
        flip: mirror left-right first (``x -> W - x``).
        scale: zoom about the image centre.
        angle: rotation in degrees about the centre, counter-clockwise as seen on screen.
        translate: shift (x, y) as fractions of (W, H).

    Returns:
        float64 (2, 3) ``M`` with ``[x', y'] = M @ [x, y, 1]``.

    Example:
        >>> affine_matrix((10, 20), flip=True) @ [5.0, 2.0, 1.0]
        array([15.,  2.])
    """
    h, w = size
    a = np.array([[-1.0, 0.0], [0.0, 1.0]]) if flip else np.eye(2)
    t = np.array([float(w), 0.0]) if flip else np.zeros(2)
    theta = math.radians(angle)
    cos, sin = math.cos(theta) * scale, math.sin(theta) * scale
    rot = np.array([[cos, sin], [-sin, cos]])  # y points down, so this turns counter-clockwise on screen
    centre = np.array([w / 2.0, h / 2.0])
    shift = np.array([translate[0] * w, translate[1] * h])
    return np.concatenate([rot @ a, (rot @ (t - centre) + centre + shift)[:, None]], axis=1)


def check_flip_index(flip_index: Sequence[int] | None, num_keypoints: int) -> np.ndarray:
    """``flip_index`` as an int64 array, checked: a self-inverse permutation of ``num_keypoints``.

    None is the identity (mirror without swapping).

    Example:
        >>> check_flip_index([1, 0, 2], 3).tolist()
        [1, 0, 2]
    """
    if flip_index is None:
        return np.arange(num_keypoints)
    index = np.asarray(flip_index)
    if index.ndim != 1 or len(index) != num_keypoints:
        raise ValueError(f"flip_index must have one entry per keypoint ({num_keypoints}), got {len(index)} entries")
    if not np.issubdtype(index.dtype, np.integer) or sorted(index.tolist()) != list(range(num_keypoints)):
        raise ValueError(f"flip_index must be a permutation of 0..{num_keypoints - 1}, got {index.tolist()}")
    if not np.array_equal(index[index], np.arange(num_keypoints)):
        raise ValueError(f"flip_index must be its own inverse (flipping twice gives back the keypoints), "
                         f"got {index.tolist()}")
    return index.astype(np.int64)


def keep_unlabelled(moved: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``moved`` keypoints with the unlabelled ones (v = 0 in ``original``) put back where they were.

    For keypoints moved by something other than a :class:`Transform` (an albumentations
    pipeline), so that the library's rule holds there too.
    """
    unlabelled = original[..., 2] <= 0
    if unlabelled.any():
        moved = moved.copy()
        moved[..., :2][unlabelled] = original[..., :2][unlabelled]
    return moved


def visible_boxes(before: np.ndarray, moved: np.ndarray, size: tuple[int, int],
                  min_visibility: float) -> tuple[np.ndarray, np.ndarray]:
    """(clipped boxes, keep): ``moved`` clipped to ``size``, and which keep ``min_visibility`` of their area.

    ``before`` are the boxes before the move, clipped to their image: one with no area there
    is not kept either.
    """
    clipped, keep = visible_boxes_in(moved, (0, 0, size[1], size[0]), min_visibility)
    return clipped, keep & (box_areas(before) > 0)


def clip_boxes_to(boxes: np.ndarray, region: Sequence[float]) -> np.ndarray:
    """(N, 4) XYXY float32 boxes clipped to ``region`` (x0, y0, x1, y1), a rectangle of the same frame.

    Example:
        >>> clip_boxes_to(np.array([[0, 0, 20, 10]], np.float32), (5, 2, 15, 30)).tolist()
        [[5.0, 2.0, 15.0, 10.0]]
    """
    x0, y0, x1, y1 = (float(v) for v in region)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    low = np.array([x0, y0, x0, y0], np.float32)
    high = np.array([x1, y1, x1, y1], np.float32)
    return np.minimum(np.maximum(boxes, low), high)


def visible_boxes_in(moved: np.ndarray, region: Sequence[float], min_visibility: float,
                     min_size: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(clipped boxes, keep): ``moved`` clipped to ``region``, and which stay visible enough to keep.

    A box is kept when at least ``min_visibility`` of its area lies inside ``region`` (XYXY in
    the boxes' frame: what is left of an image tile after a crop) and what lies inside is more
    than ``min_size`` pixels wide and high. The caller counts the others as cut away.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [8, 0, 28, 10]], np.float32)
        >>> clipped, keep = visible_boxes_in(boxes, (0, 0, 10, 10), 0.25)
        >>> clipped.tolist(), keep.tolist()
        ([[0.0, 0.0, 10.0, 10.0], [8.0, 0.0, 10.0, 10.0]], [True, False])
    """
    clipped = clip_boxes_to(moved, region)
    area, kept_area = box_areas(moved), box_areas(clipped)
    wh = clipped[:, 2:] - clipped[:, :2]
    keep = ((kept_area > 0) & (kept_area >= min_visibility * np.maximum(area, 1e-12))
            & (wh[:, 0] > min_size) & (wh[:, 1] > min_size))
    return clipped, keep


@dataclasses.dataclass(frozen=True, eq=False)
class Transform:
    """A map ``[x', y'] = M @ [x, y, 1]`` of the continuous pixel plane onto an output image of ``size``.

    Build one with :meth:`placement` (the resize step's scale and offset), :meth:`hflip` or
    :meth:`affine`; move targets with :meth:`boxes`, :meth:`keypoints`, :meth:`label_map`,
    :meth:`masks`, or a whole :class:`Sample` with :meth:`apply`.

    Args:
        matrix: (2, 3) float64 forward map.
        size: (H, W) of the output image.
        kind: "placement" (axis-aligned scale and offset), "flip" (left-right mirror of an image
            of the same size) or "affine" (anything else); it picks the exact arithmetic.

    Example:
        >>> import numpy as np
        >>> t = Transform.hflip((40, 100))
        >>> t.boxes(np.array([[0, 0, 20, 10]], np.float32)).tolist()
        [[80.0, 0.0, 100.0, 10.0]]
        >>> t.keypoints(np.array([[[10, 5, 2], [30, 5, 2], [0, 0, 0]]], np.float32), [1, 0, 2]).tolist()
        [[[70.0, 5.0, 2.0], [90.0, 5.0, 2.0], [0.0, 0.0, 0.0]]]
    """

    matrix: np.ndarray
    size: tuple[int, int]
    kind: str = "affine"

    def __post_init__(self):
        matrix = np.asarray(self.matrix, np.float64)
        if matrix.shape != (2, 3):
            raise ValueError(f"matrix must be (2, 3), got {matrix.shape}")
        if self.kind not in ("placement", "flip", "affine"):
            raise ValueError(f"kind must be 'placement', 'flip' or 'affine', got {self.kind!r}")
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @classmethod
    def placement(cls, scale: tuple[float, float], offset: tuple[float, float], size: tuple[int, int]) -> Transform:
        """``x * scale + offset``, with scale and offset as (y, x) (a :class:`~seqloaders.resize.Placement`)."""
        (sy, sx), (oy, ox) = scale, offset
        return cls(np.array([[sx, 0.0, ox], [0.0, sy, oy]]), size, "placement")

    @classmethod
    def hflip(cls, size: tuple[int, int]) -> Transform:
        """The left-right mirror of an image of ``size`` (H, W): ``x -> W - x``."""
        return cls(np.array([[-1.0, 0.0, float(size[1])], [0.0, 1.0, 0.0]]), size, "flip")

    @classmethod
    def affine(cls, matrix: np.ndarray, size: tuple[int, int]) -> Transform:
        """Any 2x3 forward map (e.g. :func:`affine_matrix`) onto an image of ``size``."""
        return cls(matrix, size, "affine")

    @classmethod
    def about_centre(cls, source_size: tuple[int, int], size: tuple[int, int], scale: float = 1.0,
                     angle: float = 0.0, centre: tuple[float, float] | None = None) -> Transform:
        """The source's centre put at ``centre`` (x, y) of an output of ``size``, scaled and turned about it.

        ``source_size`` and ``size`` are (H, W); ``centre`` defaults to the output's centre; the
        angle is in degrees, counter-clockwise on screen as in :func:`affine_matrix`. With a
        source twice the output and ``scale=1`` it crops the source's middle (a mosaic canvas).

        Example:
            >>> t = Transform.about_centre((20, 40), (10, 20), centre=(10.0, 5.0))
            >>> t.boxes(np.array([[10, 5, 30, 15]], np.float32)).tolist()
            [[0.0, 0.0, 20.0, 10.0]]
        """
        theta = math.radians(angle)
        cos, sin = math.cos(theta) * scale, math.sin(theta) * scale
        rot = np.array([[cos, sin], [-sin, cos]])
        source_centre = np.array([source_size[1] / 2.0, source_size[0] / 2.0])
        target = np.array([size[1] / 2.0, size[0] / 2.0] if centre is None else centre, np.float64)
        return cls(np.concatenate([rot, (target - rot @ source_centre)[:, None]], axis=1), size, "affine")

    def then(self, other: Transform) -> Transform:
        """This map followed by ``other``: one transform onto ``other.size`` (a placement if both are).

        Example:
            >>> shift = Transform.placement((1.0, 1.0), (0.0, 10.0), (20, 40))
            >>> shift.then(Transform.hflip((20, 40))).boxes(np.array([[0, 0, 5, 5]], np.float32)).tolist()
            [[25.0, 0.0, 30.0, 5.0]]
        """
        a, b = self.matrix, other.matrix
        matrix = np.concatenate([b[:, :2] @ a[:, :2], (b[:, :2] @ a[:, 2] + b[:, 2])[:, None]], axis=1)
        kind = "placement" if self.kind == other.kind == "placement" else "affine"
        return Transform(matrix, other.size, kind)

    @property
    def mirrors(self) -> bool:
        """Whether the map reverses orientation (left and right swap)."""
        return float(np.linalg.det(self.matrix[:, :2])) < 0

    def _scale_offset(self) -> tuple[tuple[float, float], tuple[float, float]]:
        m = self.matrix  # Python floats: float32 arrays times them stay float32, as the resize step computed
        return (float(m[1, 1]), float(m[0, 0])), (float(m[1, 2]), float(m[0, 2]))

    # -- targets ---------------------------------------------------------------------------------

    def boxes(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) XYXY float32 boxes moved (the envelope of their corners); not clipped."""
        if self.kind == "placement":
            return scale_boxes(boxes, *self._scale_offset())
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(boxes):
            return boxes
        m = self.matrix
        x1, y1, x2, y2 = boxes.T.astype(np.float64)
        xs = np.stack([x1, x2, x1, x2], axis=1)
        ys = np.stack([y1, y1, y2, y2], axis=1)
        mx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        my = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        return np.stack([mx.min(1), my.min(1), mx.max(1), my.max(1)], axis=1).astype(np.float32)

    def keypoints(self, keypoints: np.ndarray | None, flip_index: Sequence[int] | None = None) -> np.ndarray | None:
        """(N, K, 3) keypoints moved; unlabelled ones (v = 0) stay; swapped by ``flip_index`` if the map mirrors."""
        if keypoints is None:
            return None
        kp = np.asarray(keypoints)
        if kp.ndim != 3 or kp.shape[2] != 3:
            raise ValueError(f"keypoints must have shape (N, K, 3), got {kp.shape}")
        labelled = kp[..., 2] > 0
        m = self.matrix
        if self.kind == "placement":
            (sy, sx), (oy, ox) = self._scale_offset()
            x, y = kp[..., 0] * sx + ox, kp[..., 1] * sy + oy
            out = kp.copy()
        elif self.kind == "flip":
            out = kp.astype(np.float32, copy=True)
            x, y = np.float32(m[0, 2]) - out[..., 0], out[..., 1]
        else:
            out = kp.astype(np.float32, copy=True)
            xy = out[..., :2].astype(np.float64)
            x = m[0, 0] * xy[..., 0] + m[0, 1] * xy[..., 1] + m[0, 2]
            y = m[1, 0] * xy[..., 0] + m[1, 1] * xy[..., 1] + m[1, 2]
        out[..., 0] = np.where(labelled, x, out[..., 0])
        out[..., 1] = np.where(labelled, y, out[..., 1])
        if flip_index is not None and self.mirrors:
            out = out[:, check_flip_index(flip_index, out.shape[1])]
        return out

    def _opencv_matrix(self) -> np.ndarray:
        """The same map between pixel indices (pixel centres at integers), as ``cv2.warpAffine`` takes it."""
        out = self.matrix.copy()
        out[:, 2] = self.matrix[:, :2] @ [0.5, 0.5] + self.matrix[:, 2] - 0.5
        return out

    def image(self, image: np.ndarray, fill: int = 0) -> np.ndarray:
        """An (H, W[, C]) image moved (bilinear; ``fill`` where nothing maps); for flips and affines.

        A placement's pixels are the resize step's (:func:`~seqloaders.resize.resize_image`, which
        picks the interpolation by the scale).
        """
        if self.kind == "flip":
            return cv2.flip(image, 1)
        if self.kind == "placement":
            raise ValueError("a placement's image is resized by seqloaders.resize.resize_image")
        h, w = self.size
        value = (fill,) * (image.shape[2] if image.ndim == 3 else 1)
        return cv2.warpAffine(image, self._opencv_matrix(), (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=value)

    def label_map(self, label_map: np.ndarray) -> np.ndarray:
        """A (..., H, W) bool or integer map (masks, a class map, a valid region) moved by nearest neighbour."""
        if self.kind == "flip":
            return np.ascontiguousarray(label_map[..., ::-1])
        if self.kind == "placement":
            (sy, sx), offset = self._scale_offset()
            return place_label_map(label_map, self.size, (1.0 / sy, 1.0 / sx), offset, fill=0)
        if label_map.ndim == 3:
            if not len(label_map):
                return np.zeros((0, *self.size), label_map.dtype)
            return np.stack([self.label_map(m) for m in label_map])
        h, w = self.size
        cv_matrix = self._opencv_matrix()
        source = label_map.view(np.uint8) if label_map.dtype == bool else label_map
        moved = cv2.warpAffine(np.ascontiguousarray(source), cv_matrix, (w, h), flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return moved.view(bool) if label_map.dtype == bool else moved

    def masks(self, masks: np.ndarray) -> np.ndarray:
        """(N, H, W) rendered masks moved; (N, *size)."""
        return self.label_map(masks)

    def coverage(self, source_size: tuple[int, int]) -> np.ndarray:
        """(H, W) bool of the output: the pixels an image of ``source_size`` covers (False on padding).

        For a placement, moving a 1x1 map that spans the whole source is the same nearest-neighbour
        test as moving a full-size ``ones`` array, without allocating it.
        """
        if self.kind == "placement":
            (sy, sx), offset = self._scale_offset()
            return place_label_map(np.ones((1, 1), bool), self.size, (1.0 / (sy * source_size[0]),
                                                                      1.0 / (sx * source_size[1])), offset, fill=False)
        return self.label_map(np.ones(tuple(source_size), bool))

    def apply(self, sample: LoadedSample | Sample, flip_index: Sequence[int] | None = None) -> LoadedSample:
        """The record moved: boxes (not clipped), keypoints, rendered masks, the valid region, ``image_size``.

        Labels and attributes stay with their boxes (none is dropped here). A :class:`Sample` is
        taken as loaded (:func:`~seqloaders.records.as_loaded`); its masks must then be an array,
        and a lazy mask source raises.
        """
        if isinstance(sample, Sample) and sample.masks is not None and not isinstance(sample.masks, ArrayMasks):
            raise ValueError(f"{sample.image}: cannot move masks of type {type(sample.masks).__name__} (a lazy "
                             "source); render them first (a mask encoder makes the Sequence do so), or drop them "
                             "(an augmenter's masks='drop')")
        sample = as_loaded(sample)
        changes: dict = {"boxes": self.boxes(sample.boxes), "image_size": self.size}
        if sample.keypoints is not None:
            if flip_index is not None and len(flip_index) != sample.keypoints.shape[1]:
                raise ValueError(f"{sample.image}: flip_index has {len(flip_index)} entries but the sample has "
                                 f"{sample.keypoints.shape[1]} keypoints per object")
            changes["keypoints"] = self.keypoints(sample.keypoints, flip_index)
        if sample.masks is not None:
            changes["masks"] = self.masks(sample.masks)
        if sample.valid_region is not None:
            changes["valid_region"] = self.label_map(sample.valid_region)
        return sample.replace(**changes)

"""Flip, colour and affine augmentation in numpy and OpenCV: one warp, no per-call framework cost.

:class:`NativeAugmenter` is what the ``"detection"`` presets run. It does the work of
:func:`~seqloaders.augment.detection_preset` (the albumentations pipeline, still available as
``"albumentations-detection"``) with the same operations and ranges, but:

- the flip and the scale/shift/rotate affine are composed into one matrix and applied in one
  ``cv2.warpAffine`` (or one ``cv2.flip`` when only the flip was drawn);
- brightness/contrast is one ``cv2.LUT``, hue/saturation one LUT between two colour conversions;
- boxes, keypoints, rendered masks and the valid-region map are moved by the same matrix.

OpenCV releases the GIL in each of those calls, so the loading threads of a Sequence augment in
parallel; albumentations' Python work per call (about 0.5 ms) does not, which is what kept an
augmented Sequence from scaling past one core.

Coordinates are the library's continuous pixel frame: pixel ``i`` spans ``[i, i + 1)``, so a
flip maps ``x`` to ``W - x``.
"""

from __future__ import annotations

import dataclasses
import math
import cv2
import numpy as np

from .augment import Augmenter
from .encoders.keypoints import _check_flip_index
from .geometry import box_areas, clip_boxes
from .records import VALID_REGION, Sample

__all__ = ["NativeAugmenter", "affine_matrix"]

_DRAWS = 12  # uniforms drawn per call, whatever is applied: the stream never depends on the branches


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


def _opencv_matrix(matrix: np.ndarray) -> np.ndarray:
    """The same map between pixel indices (pixel centres at integers), as ``cv2.warpAffine`` takes it."""
    out = matrix.copy()
    out[:, 2] = matrix[:, :2] @ [0.5, 0.5] + matrix[:, 2] - 0.5
    return out


def _move_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The envelope of each box's four moved corners (exact for flips, shifts and scales)."""
    if not len(boxes):
        return boxes.reshape(0, 4).astype(np.float32)
    x1, y1, x2, y2 = boxes.T.astype(np.float64)
    xs = np.stack([x1, x2, x1, x2], axis=1)
    ys = np.stack([y1, y1, y2, y2], axis=1)
    mx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    my = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    return np.stack([mx.min(1), my.min(1), mx.max(1), my.max(1)], axis=1).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _Draw:
    """What one call applies (all drawn up front from one fixed-length stream of uniforms)."""

    flip: bool
    contrast: float | None  # alpha, or None: no brightness/contrast change
    brightness: float
    hue: int | None  # OpenCV hue units (0-179), or None: no hue/saturation change
    saturation: int
    affine: tuple[float, float, tuple[float, float]] | None  # scale, angle, (tx, ty)


@dataclasses.dataclass(frozen=True, repr=False)
class NativeAugmenter(Augmenter):
    """Horizontal flip, brightness/contrast, hue/saturation and a scale/shift/rotate affine.

    Each operation happens with its probability; parameters are drawn uniformly from their
    ranges, from the ``rng`` the Sequence passes (so a batch depends only on seed, epoch and
    index). Boxes are moved as the envelope of their corners, clipped to the image, and dropped
    when less than ``min_visibility`` of their moved area stays inside (or none does); their
    labels, attributes, keypoints and masks go with them. Keypoints are kept even outside the
    image, with their visibility unchanged. Pixels the affine uncovers are ``fill``; a
    ``valid_region`` map in ``sample.meta`` is moved too, so they can be ignored by a loss.

    Args:
        flip: probability of a left-right flip.
        flip_index: for keypoints, keypoint k of a flipped object is keypoint ``flip_index[k]``
            of the mirrored one (e.g. ``COCO_PERSON_FLIP_INDEX``); None mirrors without swapping.
        brightness, contrast: limits of the shifts, as fractions of 255 and of 1 (``out = in *
            (1 + c) + 255 * b``).
        brightness_contrast: probability of the brightness/contrast change.
        hue: limit of the hue shift in OpenCV units (0-179 is the whole circle).
        saturation: limit of the saturation shift (0-255); grey pixels stay grey.
        hue_saturation: probability of the hue/saturation change.
        scale, rotate, translate: ranges of the affine: zoom about the centre, degrees, and
            shift as a fraction of the image size (the same range for x and y).
        affine: probability of the affine (0 for flip and colour only).
        min_visibility: boxes keeping less of their area inside the image are dropped.
        fill: value of the pixels the affine uncovers.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> aug = sl.NativeAugmenter(flip=1.0, brightness_contrast=0, hue_saturation=0, affine=0)
        >>> s = sl.Sample("a.jpg", boxes=[[0, 0, 20, 10]], labels=[0])
        >>> image, out = aug(np.zeros((40, 100, 3), np.uint8), s, np.random.default_rng(0))
        >>> out.boxes.tolist()
        [[80.0, 0.0, 100.0, 10.0]]
    """

    flip: float = 0.5
    flip_index: tuple[int, ...] | None = None
    brightness: float = 0.2
    contrast: float = 0.2
    brightness_contrast: float = 0.5
    hue: int = 8
    saturation: int = 20
    hue_saturation: float = 0.3
    scale: tuple[float, float] = (0.8, 1.2)
    rotate: tuple[float, float] = (-10.0, 10.0)
    translate: tuple[float, float] = (-0.1, 0.1)
    affine: float = 0.7
    min_visibility: float = 0.3
    fill: int = 0

    def __post_init__(self):
        for name in ("flip", "brightness_contrast", "hue_saturation", "affine", "min_visibility"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        for name in ("scale", "rotate", "translate"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be a (low, high) range, got {getattr(self, name)}")
            object.__setattr__(self, name, (float(low), float(high)))
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.flip_index is not None:
            index = _check_flip_index(self.flip_index, len(self.flip_index))
            object.__setattr__(self, "flip_index", tuple(index.tolist()))

    @classmethod
    def preset(cls, strength: str = "standard", **overrides) -> NativeAugmenter:
        """The ``"detection"`` presets: "standard" (flip, colour, affine) or "light" (no affine)."""
        if strength not in ("standard", "light"):
            raise ValueError(f"unknown strength {strength!r}; available: light, standard")
        return cls(**({"affine": 0.0} if strength == "light" else {}), **overrides)

    # -- drawing --------------------------------------------------------------------------------

    def draw(self, rng: np.random.Generator) -> _Draw:
        """The operations of one call: a fixed number of draws from ``rng``, whatever is applied."""
        u = rng.random(_DRAWS)

        def between(value, low, high):
            return low + value * (high - low)

        colour = u[1] < self.brightness_contrast
        hsv = u[4] < self.hue_saturation and (self.hue or self.saturation)
        geometric = u[7] < self.affine
        return _Draw(
            flip=bool(u[0] < self.flip),
            contrast=1.0 + between(u[2], -self.contrast, self.contrast) if colour else None,
            brightness=255.0 * between(u[3], -self.brightness, self.brightness) if colour else 0.0,
            hue=int(round(between(u[5], -self.hue, self.hue))) if hsv else None,
            saturation=int(round(between(u[6], -self.saturation, self.saturation))) if hsv else 0,
            affine=(between(u[8], *self.scale), between(u[9], *self.rotate),
                    (between(u[10], *self.translate), between(u[11], *self.translate)))
            if geometric else None,
        )

    # -- applying -------------------------------------------------------------------------------

    def __call__(self, image: np.ndarray, sample: Sample, rng: np.random.Generator) -> tuple[np.ndarray, Sample]:
        draw = self.draw(rng)
        image = self._colour(image, draw)
        if not draw.flip and draw.affine is None:
            return image, sample
        h, w = image.shape[:2]
        scale, angle, shift = draw.affine or (1.0, 0.0, (0.0, 0.0))
        matrix = affine_matrix((h, w), draw.flip, scale, angle, shift)
        warp = _Warp(matrix, (h, w), flip_only=draw.affine is None)
        image = warp.image(image, self.fill)
        return image, self._move_sample(sample, warp, draw.flip)

    def _colour(self, image: np.ndarray, draw: _Draw) -> np.ndarray:
        if draw.contrast is not None:
            lut = np.clip(np.arange(256) * draw.contrast + draw.brightness, 0, 255).round().astype(np.uint8)
            image = cv2.LUT(image, lut)
        if draw.hue is not None and image.ndim == 3 and image.shape[2] == 3:
            values = np.arange(256)
            lut = np.stack([np.mod(values + draw.hue, 180), np.clip(values + draw.saturation, 0, 255), values], axis=1)
            lut[0, 1] = 0  # grey pixels (no saturation) stay grey
            hsv = cv2.LUT(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), lut.astype(np.uint8).reshape(256, 1, 3))
            image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return image

    def _move_sample(self, sample: Sample, warp: _Warp, flipped: bool) -> Sample:
        h, w = warp.size
        inside = clip_boxes(sample.boxes, (h, w))
        moved = _move_boxes(inside, warp.matrix)
        clipped = clip_boxes(moved, (h, w))
        area, kept_area = box_areas(moved), box_areas(clipped)
        keep = (kept_area > 0) & (kept_area >= self.min_visibility * np.maximum(area, 1e-12)) & (box_areas(inside) > 0)
        changes = {"boxes": clipped[keep]}
        if sample.keypoints is not None:
            kp = sample.keypoints.astype(np.float32, copy=True)
            xy = kp[..., :2].astype(np.float64)
            kp[..., 0] = warp.matrix[0, 0] * xy[..., 0] + warp.matrix[0, 1] * xy[..., 1] + warp.matrix[0, 2]
            kp[..., 1] = warp.matrix[1, 0] * xy[..., 0] + warp.matrix[1, 1] * xy[..., 1] + warp.matrix[1, 2]
            if flipped and self.flip_index is not None:
                if len(self.flip_index) != kp.shape[1]:
                    raise ValueError(f"{sample.image}: flip_index has {len(self.flip_index)} entries but the sample "
                                     f"has {kp.shape[1]} keypoints per object")
                kp = kp[:, list(self.flip_index)]
            changes["keypoints"] = kp[keep]
        masks = sample.masks
        if isinstance(masks, np.ndarray):
            if masks.ndim != 3 or masks.shape[1:] != (h, w):
                raise ValueError(f"{sample.image}: rendered masks must be (N, H, W) = (N, {h}, {w}), got {masks.shape}")
            changes["masks"] = np.stack([warp.label_map(m) for m in masks[keep]]) if keep.any() else \
                np.zeros((0, h, w), bool)
        elif masks is not None:
            raise ValueError(f"{sample.image}: cannot move masks of type {type(masks).__name__} (a lazy source); "
                             "render them first (a mask encoder makes the Sequence do so)")
        if VALID_REGION in sample.meta:
            changes["meta"] = {**sample.meta, VALID_REGION: warp.label_map(sample.meta[VALID_REGION])}
        moved_sample = sample.select(keep) if not keep.all() else sample
        return moved_sample.replace(**changes)

    def __repr__(self) -> str:
        parts = [f"flip={self.flip:g}"]
        if self.brightness_contrast:
            parts.append(f"brightness_contrast={self.brightness_contrast:g} (±{self.brightness:g}, ±{self.contrast:g})")
        if self.hue_saturation:
            parts.append(f"hue_saturation={self.hue_saturation:g} (±{self.hue}, ±{self.saturation})")
        if self.affine:
            parts.append(f"affine={self.affine:g} (scale {self.scale[0]:g}-{self.scale[1]:g}, rotate "
                         f"{self.rotate[0]:g}-{self.rotate[1]:g}°, translate {self.translate[0]:g}-{self.translate[1]:g})")
        if self.flip_index is not None:
            parts.append(f"flip_index=<{len(self.flip_index)} keypoints>")
        return f"NativeAugmenter({', '.join(parts)})"


class _Warp:
    """One geometric change of an (H, W) image, applied the same way to the image and its label maps."""

    def __init__(self, matrix: np.ndarray, size: tuple[int, int], flip_only: bool):
        self.matrix, self.size, self.flip_only = matrix, size, flip_only
        self._cv = None if flip_only else _opencv_matrix(matrix)

    def image(self, image: np.ndarray, fill: int) -> np.ndarray:
        if self.flip_only:
            return cv2.flip(image, 1)
        h, w = self.size
        value = (fill,) * (image.shape[2] if image.ndim == 3 else 1)
        return cv2.warpAffine(image, self._cv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=value)

    def label_map(self, label_map: np.ndarray) -> np.ndarray:
        """A (H, W) bool or integer map moved by nearest neighbour, 0 (False) where uncovered."""
        if self.flip_only:
            return np.ascontiguousarray(label_map[:, ::-1])
        h, w = self.size
        source = label_map.view(np.uint8) if label_map.dtype == bool else label_map
        moved = cv2.warpAffine(np.ascontiguousarray(source), self._cv, (w, h), flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return moved.view(bool) if label_map.dtype == bool else moved


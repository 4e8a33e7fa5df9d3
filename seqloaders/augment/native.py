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
from collections.abc import Sequence

import cv2
import numpy as np

from ..geometry import clip_boxes
from ..records import ArrayMasks, LoadedSample, Sample, as_loaded
from ..transform import Transform, affine_matrix, check_flip_index, visible_boxes
from .base import Augmenter

__all__ = ["HorizontalFlipAugmenter", "NativeAugmenter", "affine_matrix"]

_DRAWS = 12  # uniforms drawn per call, whatever is applied: the stream never depends on the branches


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
        masks: what to do with masks that are not rendered (a lazy source, which cannot move):
            "raise" (default) or "drop" them (set ``sample.masks`` to None).

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
    masks: str = "raise"

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
        if self.masks not in ("raise", "drop"):
            raise ValueError(f"masks must be 'raise' or 'drop', got {self.masks!r}")
        if self.flip_index is not None:
            index = check_flip_index(self.flip_index, len(self.flip_index))
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

    def __call__(self, image: np.ndarray, sample: LoadedSample | Sample,
                 rng: np.random.Generator) -> tuple[np.ndarray, LoadedSample]:
        if isinstance(sample, Sample):
            sample = self._as_loaded(sample, image.shape[:2])
        draw = self.draw(rng)
        image = self._colour(image, draw)
        if not draw.flip and draw.affine is None:
            return image, sample
        h, w = image.shape[:2]
        if draw.affine is None:
            warp = Transform.hflip((h, w))
        else:
            scale, angle, shift = draw.affine
            warp = Transform.affine(affine_matrix((h, w), draw.flip, scale, angle, shift), (h, w))
        return warp.image(image, self.fill), self._move_sample(sample, warp)

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

    def _as_loaded(self, sample: Sample, size: tuple[int, int]) -> LoadedSample:
        """A plain Sample whose pixels are the image's, as a loaded record; lazy masks by ``self.masks``."""
        masks = sample.masks
        if masks is not None and not isinstance(masks, ArrayMasks):
            if self.masks == "raise":
                raise ValueError(f"{sample.image}: cannot move masks of type {type(masks).__name__} (a lazy source); "
                                 "render them first (a mask encoder makes the Sequence do so), or drop them "
                                 "(masks='drop')")
            sample = sample.replace(masks=None)
        elif masks is not None and masks.image_size != tuple(size):
            raise ValueError(f"{sample.image}: rendered masks must be (N, H, W) = (N, {size[0]}, {size[1]}), "
                             f"got {masks.shape}")
        return as_loaded(sample, size)

    def _move_sample(self, sample: LoadedSample, warp: Transform) -> LoadedSample:
        h, w = warp.size
        inside = clip_boxes(sample.boxes, (h, w))
        moved = warp.apply(sample.replace(boxes=inside), self.flip_index)
        clipped, keep = visible_boxes(inside, moved.boxes, (h, w), self.min_visibility)
        moved = moved.replace(boxes=clipped)
        return moved.select(keep) if not keep.all() else moved

    def __repr__(self) -> str:
        parts = [f"flip={self.flip:g}"]
        if self.brightness_contrast:
            parts.append(f"brightness_contrast={self.brightness_contrast:g} (±{self.brightness:g}, ±{self.contrast:g})")
        if self.hue_saturation:
            parts.append(f"hue_saturation={self.hue_saturation:g} (±{self.hue}, ±{self.saturation})")
        if self.affine:
            parts.append(f"affine={self.affine:g} (scale {self.scale[0]:g}-{self.scale[1]:g}, rotate "
                         f"{self.rotate[0]:g}-{self.rotate[1]:g}°, "
                         f"translate {self.translate[0]:g}-{self.translate[1]:g})")
        if self.flip_index is not None:
            parts.append(f"flip_index=<{len(self.flip_index)} keypoints>")
        return f"NativeAugmenter({', '.join(parts)})"


class HorizontalFlipAugmenter(NativeAugmenter):
    """Flips the image, boxes, keypoints (swapping left and right) and rendered masks, with probability p.

    A :class:`NativeAugmenter` that only flips (and draws one number per call, not twelve).
    Albumentations' ``HorizontalFlip`` mirrors keypoints but cannot swap a left eye for a right
    eye; this augmenter does, by ``flip_index``. Put it in front of (or instead of) the flip of
    an albumentations pipeline. Masks must already be rendered, an (N, H, W) array, to be
    flipped; a lazy mask source cannot be, so it raises unless ``masks="drop"``. Boxes are
    clipped to the image, and those with no area inside it dropped, as the Sequence does anyway.

    Args:
        flip_index: K ints, keypoint k of the result is keypoint ``flip_index[k]`` of the
            mirrored sample (:data:`~seqloaders.encoders.COCO_PERSON_FLIP_INDEX` for COCO
            persons); None mirrors the keypoints without swapping.
        p: the probability of a flip.
        masks: what to do with a sample whose masks are not a rendered array: "raise" or "drop"
            (set them to None).

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> from seqloaders.encoders import HorizontalFlipAugmenter, COCO_PERSON_FLIP_INDEX
        >>> aug = HorizontalFlipAugmenter(COCO_PERSON_FLIP_INDEX, p=1.0)
        >>> kp = np.zeros((1, 17, 3), np.float32); kp[0, 1] = (10, 5, 2)  # a left eye
        >>> s = sl.Sample("a.jpg", boxes=[[0, 0, 20, 20]], labels=[0], keypoints=kp)
        >>> image, out = aug(np.zeros((40, 100, 3), np.uint8), s, np.random.default_rng(0))
        >>> out.boxes.tolist(), out.keypoints[0, 2].tolist()  # now a right eye at x = 100 - 10
        ([[80.0, 0.0, 100.0, 20.0]], [90.0, 5.0, 2.0])
    """

    def __init__(self, flip_index: Sequence[int] | None = None, p: float = 0.5, *, masks: str = "raise"):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        super().__init__(flip=float(p), flip_index=None if flip_index is None else tuple(int(i) for i in flip_index),
                         brightness_contrast=0.0, hue_saturation=0.0, affine=0.0, min_visibility=0.0, masks=masks)

    @property
    def p(self) -> float:
        """The probability of a flip."""
        return self.flip

    def draw(self, rng: np.random.Generator) -> _Draw:
        return _Draw(flip=bool(rng.random() < self.flip), contrast=None, brightness=0.0, hue=None, saturation=0,
                     affine=None)

    def __repr__(self) -> str:
        index = "None" if self.flip_index is None else f"<{len(self.flip_index)} keypoints>"
        return f"HorizontalFlipAugmenter(flip_index={index}, p={self.p:g}, masks={self.masks!r})"

"""The toy scenes: small images of coloured shapes whose class, polygon, mask, box and keypoints are known.

Every toy writer (:mod:`.coco`, :mod:`.voc`, :mod:`.yolo`, :mod:`.masks`, :mod:`.csv`,
:mod:`.classfolders`) writes these scenes in its format's layout, so one set of scenes gives the
same ground truth in every format. The classes are named after COCO classes (person, car, dog,
chair, with their COCO ids 1, 3, 18, 62), so COCO class maps apply to the toy data too. Every
fourth image has no object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from ..masks import mask_boxes

__all__ = [
    "TOY_CATEGORY_IDS",
    "TOY_CLASSES",
    "TOY_COLORS",
    "TOY_KEYPOINTS",
    "ToyObject",
    "ToyScene",
    "make_toy_scenes",
    "scenes_or_default",
    "shape_polygons",
    "stack_objects",
]

#: Toy class names (training ids 0..3) and their COCO category ids.
TOY_CLASSES = ("person", "car", "dog", "chair")
TOY_CATEGORY_IDS = (1, 3, 18, 62)
#: Keypoints of toy persons (COCO stores keypoints for persons only).
TOY_KEYPOINTS = ("top", "centre", "bottom")
#: The RGB colour each toy class is painted in (index = label).
TOY_COLORS = ((230, 80, 60), (40, 90, 220), (200, 170, 40), (60, 180, 90))

@dataclasses.dataclass(frozen=True, eq=False)
class ToyObject:
    """One drawn object.

    Attributes:
        label: index into :data:`TOY_CLASSES`.
        parts: polygons, each (P, 2) int32 pixel vertices (x, y); cars have two parts.
        mask: (H, W) bool, the pixels drawn.
        box: (4,) float32 XYXY pixels covering the mask (x_max = last column + 1).
        keypoints: (K, 3) float32 x, y, v (K = 3); the last is "not labelled" for every second
            object.
    """

    label: int
    parts: tuple[np.ndarray, ...]
    mask: np.ndarray
    box: np.ndarray
    keypoints: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class ToyScene:
    """One toy image: (H, W, 3) uint8 RGB pixels and its objects."""

    name: str
    image: np.ndarray
    objects: tuple[ToyObject, ...]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


def shape_polygons(label: int, x0: int, y0: int, w: int, h: int) -> list[np.ndarray]:
    """The polygons of toy class ``label`` drawn in the ``w`` x ``h`` pixel region at (``x0``, ``y0``).

    Returns:
        Polygons, each (P, 2) int pixel vertices (x, y): an ellipse for a person, body and roof
        (two parts) for a car, a triangle for a dog, a diamond for a chair.

    Example:
        >>> [len(p) for p in shape_polygons(1, 0, 0, 20, 20)]
        [4, 4]
    """
    x1, y1 = x0 + w - 1, y0 + h - 1
    if label == 0:  # person: an upright ellipse
        centre = (x0 + w // 2, y0 + h // 2)
        pts = cv2.ellipse2Poly(centre, (max(2, (w - 1) // 2), max(2, (h - 1) // 2)), 0, 0, 360, 30)
        return [pts[:-1] if (pts[0] == pts[-1]).all() else pts]
    if label == 1:  # car: body and roof, two disjoint parts
        split = y0 + h // 2
        roof = np.array([[x0 + w // 4, y0], [x1 - w // 4, y0], [x1 - w // 4, split - 2], [x0 + w // 4, split - 2]])
        body = np.array([[x0, split], [x1, split], [x1, y1], [x0, y1]])
        return [roof, body]
    if label == 2:  # dog: a triangle
        return [np.array([[x0 + w // 2, y0], [x1, y1], [x0, y1]])]
    return [np.array([[x0 + w // 2, y0], [x1, y0 + h // 2], [x0 + w // 2, y1], [x0, y0 + h // 2]])]  # chair


def make_toy_scenes(
    num_images: int = 8,
    seed: int = 0,
    image_size: tuple[int, int] = (72, 96),
    max_objects: int = 3,
) -> list[ToyScene]:
    """Draw toy images of shapes with exact polygons, masks, boxes and keypoints.

    Args:
        num_images: number of images; every fourth has no object.
        seed: random seed (deterministic output).
        image_size: typical (H, W); each image varies by up to ±20%.
        max_objects: most objects per image (objects do not overlap).

    Returns:
        The scenes, named ``toy_00000`` ...

    Example:
        >>> scenes = make_toy_scenes(4)
        >>> [len(s.objects) for s in scenes][3]
        0
    """
    rng = np.random.default_rng(seed)
    scenes = []
    count_all = 0
    for i in range(num_images):
        h = int(image_size[0] * rng.uniform(0.8, 1.2))
        w = int(image_size[1] * rng.uniform(0.8, 1.2))
        base = rng.integers(90, 160, 3)
        image = np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
        count = 0 if i % 4 == 3 else int(rng.integers(1, max_objects + 1))
        regions: list[tuple[int, int, int, int]] = []
        for _ in range(count * 20):
            if len(regions) == count:
                break
            bw, bh = int(rng.integers(12, max(13, w // 3))), int(rng.integers(12, max(13, h // 2)))
            bx, by = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
            if all(bx >= rx + rw + 1 or bx + bw + 1 <= rx or by >= ry + rh + 1 or by + bh + 1 <= ry
                   for rx, ry, rw, rh in regions):
                regions.append((bx, by, bw, bh))
        objects = []
        for bx, by, bw, bh in regions:
            label = int(rng.integers(0, len(TOY_CLASSES)))
            parts = tuple(p.astype(np.int32) for p in shape_polygons(label, bx, by, bw, bh))
            canvas = np.zeros((h, w), np.uint8)
            cv2.fillPoly(canvas, [p.reshape(-1, 1, 2) for p in parts], 1)
            mask = canvas.astype(bool)
            image[mask] = TOY_COLORS[label]
            box = mask_boxes(mask[None])[0]
            cx = float((box[0] + box[2]) / 2)
            keypoints = np.array([[cx, box[1], 2], [cx, (box[1] + box[3]) / 2, 1], [cx, box[3] - 1, 2]], np.float32)
            if count_all % 2:
                keypoints[2] = 0
            count_all += 1
            objects.append(ToyObject(label, parts, mask, box, keypoints))
        scenes.append(ToyScene(f"toy_{i:05d}", image, tuple(objects)))
    return scenes


def scenes_or_default(scenes: Sequence[ToyScene] | None, num_images: int, seed: int) -> Sequence[ToyScene]:
    """``scenes``, or when None the default :func:`make_toy_scenes` ``(num_images, seed)`` (the writers' default)."""
    return make_toy_scenes(num_images, seed) if scenes is None else scenes


def stack_objects(objs: Iterable[ToyObject], attr: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """One attribute of each object (``"box"``, ``"keypoints"``) as one (N, *shape) array, N = 0 included."""
    values = [getattr(o, attr) for o in objs]
    return np.array(values, dtype).reshape(len(values), *shape)

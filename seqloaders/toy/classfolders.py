"""The class-folders toy writer: one toy shape per image, in one folder per class, for classification."""

from __future__ import annotations

import os

import cv2
import numpy as np

from ..records import Sample
from .images import write_image
from .result import ToyFormat
from .scenes import TOY_CLASSES, TOY_COLORS, shape_polygons

__all__ = ["write_toy_class_folders"]


def write_toy_class_folders(root: str | os.PathLike, *, num_images: int = 8, seed: int = 0) -> ToyFormat:
    """Write one-object toy images into ``root/<class>/<name>.jpg`` for classification.

    The expected samples have N = 0 boxes and ``meta["label"]``/``meta["class_name"]``.

    Example:
        >>> toy = write_toy_class_folders("/tmp/toy-cls")                 # doctest: +SKIP
        >>> toy.read()[0].meta["class_name"]                            # doctest: +SKIP
        'person'
    """
    root = os.fspath(root)
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(num_images):
        label = i % len(TOY_CLASSES)
        h, w = 48, 48
        image = np.clip(rng.integers(90, 160, 3) + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
        parts = shape_polygons(label, 8, 8, 32, 32)
        cv2.fillPoly(image, [p.astype(np.int32).reshape(-1, 1, 2) for p in parts], TOY_COLORS[label])
        path = os.path.join(root, TOY_CLASSES[label], f"toy_{i:05d}.jpg")
        write_image(path, image)
        samples.append(Sample(path, image_size=(h, w), meta={"label": label, "class_name": TOY_CLASSES[label]}))
    samples.sort(key=lambda s: (s.meta["label"], s.image))
    return ToyFormat("classfolders", root, {"check_images": True, "class_names": TOY_CLASSES}, samples, TOY_CLASSES)


"""The mask-folders toy writer: the toy scenes in the Kaggle DSB 2018 layout, one PNG per object mask."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..records import Sample
from .images import write_image
from .result import ToyFormat
from .scenes import ToyScene, scenes_or_default, stack_objects

__all__ = ["write_toy_mask_folders"]


def write_toy_mask_folders(root: str | os.PathLike, scenes: Sequence[ToyScene] | None = None, *,
                           image_mode: str = "rgba", mask_depth: int = 8, num_images: int = 8,
                           seed: int = 0) -> ToyFormat:
    """Write toy scenes in the Kaggle DSB 2018 layout: ``<id>/images/<id>.png``, ``<id>/masks/*.png``.

    Args:
        root: output folder.
        scenes: the scenes (default: :func:`make_toy_scenes` with ``num_images``, ``seed``).
        image_mode: "rgb", "rgba" (as the DSB images are) or "rgb16" (16-bit PNG).
        mask_depth: 8 (masks hold 255) or 16 (masks hold 65535).
        num_images, seed: for the default scenes.

    Example:
        >>> toy = write_toy_mask_folders("/tmp/toy-dsb")                 # doctest: +SKIP
        >>> sl.decode_masks(toy.read()[0]).dtype                        # doctest: +SKIP
        dtype('bool')
    """
    if image_mode not in ("rgb", "rgba", "rgb16"):
        raise ValueError(f"image_mode must be 'rgb', 'rgba' or 'rgb16', got {image_mode!r}")
    if mask_depth not in (8, 16):
        raise ValueError(f"mask_depth must be 8 or 16, got {mask_depth}")
    root = os.fspath(root)
    scenes = scenes_or_default(scenes, num_images, seed)
    samples, masks = [], []
    for scene in scenes:
        image = scene.image
        if image_mode == "rgba":
            image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
        elif image_mode == "rgb16":
            image = image.astype(np.uint16) * 257
        image_path = os.path.join(root, scene.name, "images", f"{scene.name}.png")
        write_image(image_path, image)
        os.makedirs(os.path.join(root, scene.name, "masks"), exist_ok=True)
        for k, obj in enumerate(scene.objects):
            value = 255 if mask_depth == 8 else 65535
            mask = obj.mask.astype(np.uint8 if mask_depth == 8 else np.uint16) * value
            write_image(os.path.join(root, scene.name, "masks", f"{scene.name}_{k:03d}.png"), mask)
        samples.append(Sample(image_path, boxes=stack_objects(scene.objects, "box", (4,), np.float32),
                              labels=np.zeros(len(scene.objects), np.int64), image_size=scene.image_size))
        masks.append([o.mask for o in scene.objects])
    return ToyFormat("maskfolders", root, {"class_name": "shape"}, samples, ("shape",), masks)


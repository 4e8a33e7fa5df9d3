"""The CSV toy writer: the toy scenes as one row per box, with a header and an attribute column."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np

from ..records import Sample
from .images import write_image
from .result import ToyFormat
from .scenes import TOY_CLASSES, ToyScene, scenes_or_default, stack_objects

__all__ = ["write_toy_csv"]


def write_toy_csv(root: str | os.PathLike, scenes: Sequence[ToyScene] | None = None, *, num_images: int = 8,
                  seed: int = 0) -> ToyFormat:
    """Write toy scenes as ``root/boxes.csv`` (one row per box, a header) and ``root/images/*.jpg``.

    Columns: ``image, xmin, ymin, xmax, ymax, label, difficult`` (XYXY pixels, label names);
    an image without objects is one row with empty box cells.

    Example:
        >>> toy = write_toy_csv("/tmp/toy-csv")                          # doctest: +SKIP
        >>> toy.options["columns"]["boxes"]                             # doctest: +SKIP
        ['xmin', 'ymin', 'xmax', 'ymax']
    """
    root = os.fspath(root)
    scenes = scenes_or_default(scenes, num_images, seed)
    path = os.path.join(root, "boxes.csv")
    os.makedirs(root, exist_ok=True)
    samples = []
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "xmin", "ymin", "xmax", "ymax", "label", "difficult"])
        for i, scene in enumerate(scenes):
            rel = f"images/{scene.name}.jpg"
            write_image(os.path.join(root, rel), scene.image)
            difficult = [(i + k) % 2 for k in range(len(scene.objects))]
            for obj, d in zip(scene.objects, difficult):
                writer.writerow([rel, *(int(v) for v in obj.box), TOY_CLASSES[obj.label], d])
            if not scene.objects:
                writer.writerow([rel, "", "", "", "", "", ""])
            samples.append(Sample(os.path.join(root, rel), boxes=stack_objects(scene.objects, "box", (4,), np.float32),
                                  labels=[o.label for o in scene.objects],
                                  attributes={"difficult": np.array(difficult, np.int64)}))
    columns = {"image": "image", "boxes": ["xmin", "ymin", "xmax", "ymax"], "label": "label"}
    options = {"columns": columns, "class_names": TOY_CLASSES, "attributes": ["difficult"]}
    return ToyFormat("csv", path, options, samples, TOY_CLASSES)


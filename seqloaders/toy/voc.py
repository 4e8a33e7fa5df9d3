"""The Pascal VOC toy writer: the toy scenes as one XML file per image, with difficult, truncated and pose."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..records import Sample
from .images import write_image
from .result import ToyFormat
from .scenes import TOY_CLASSES, ToyScene, scenes_or_default, stack_objects

__all__ = ["write_toy_voc"]


def write_toy_voc(root: str | os.PathLike, scenes: Sequence[ToyScene] | None = None, *, num_images: int = 8,
                  seed: int = 0) -> ToyFormat:
    """Write toy scenes as a VOC root: ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/``.

    Boxes use VOC's 1-based inclusive pixels; every third object is ``difficult``, every
    second ``truncated``; poses alternate between ``Unspecified`` and ``Left``. The split files
    ``train.txt`` (even images) and ``val.txt`` (odd images) are written too.

    Example:
        >>> toy = write_toy_voc("/tmp/toy-voc")                          # doctest: +SKIP
        >>> len(sl.read_voc(toy.path, image_set="train"))               # doctest: +SKIP
        4
    """
    root = os.fspath(root)
    scenes = scenes_or_default(scenes, num_images, seed)
    samples = []
    k = 0
    for scene in scenes:
        h, w = scene.image_size
        write_image(os.path.join(root, "JPEGImages", f"{scene.name}.jpg"), scene.image)
        objects_xml, difficult, truncated, pose = [], [], [], []
        for obj in scene.objects:
            x0, y0, x1, y1 = (int(v) for v in obj.box)
            d, t, p = int(k % 3 == 0), int(k % 2 == 1), ("Left" if k % 2 else "Unspecified")
            k += 1
            difficult.append(d)
            truncated.append(t)
            pose.append(p)
            objects_xml.append(
                f"  <object>\n    <name>{TOY_CLASSES[obj.label]}</name>\n    <pose>{p}</pose>\n"
                f"    <truncated>{t}</truncated>\n    <difficult>{d}</difficult>\n    <bndbox>\n"
                f"      <xmin>{x0 + 1}</xmin>\n      <ymin>{y0 + 1}</ymin>\n      <xmax>{x1}</xmax>\n"
                f"      <ymax>{y1}</ymax>\n    </bndbox>\n  </object>\n")
        xml = (f"<annotation>\n  <folder>VOCtoy</folder>\n  <filename>{scene.name}.jpg</filename>\n"
               f"  <size>\n    <width>{w}</width>\n    <height>{h}</height>\n    <depth>3</depth>\n  </size>\n"
               f"  <segmented>0</segmented>\n{''.join(objects_xml)}</annotation>\n")
        os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
        with open(os.path.join(root, "Annotations", f"{scene.name}.xml"), "w", encoding="utf-8") as f:
            f.write(xml)
        n = len(scene.objects)
        samples.append(Sample(
            os.path.join(root, "JPEGImages", f"{scene.name}.jpg"),
            boxes=stack_objects(scene.objects, "box", (4,), np.float32), labels=[o.label for o in scene.objects],
            image_size=(h, w),
            attributes={"difficult": np.array(difficult, np.int32).reshape(n),
                        "truncated": np.array(truncated, np.int32).reshape(n),
                        "occluded": np.full(n, -1, np.int32), "pose": np.array(pose, dtype=str).reshape(n)},
        ))
    os.makedirs(os.path.join(root, "ImageSets", "Main"), exist_ok=True)
    for split, parity in (("train", 0), ("val", 1)):
        with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{s.name}\n" for i, s in enumerate(scenes) if i % 2 == parity))
    return ToyFormat("voc", root, {"class_names": TOY_CLASSES}, samples, TOY_CLASSES)


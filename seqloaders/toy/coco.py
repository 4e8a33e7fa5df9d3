"""The COCO toy writer: the toy scenes as instances JSON with polygons, RLE, crowd boxes and keypoints."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..masks import encode_rle
from ..records import Sample
from .images import write_image
from .result import ToyFormat
from .scenes import TOY_CATEGORY_IDS, TOY_CLASSES, TOY_KEYPOINTS, ToyScene, scenes_or_default, stack_objects

__all__ = ["write_toy_coco"]


def write_toy_coco(root: str | os.PathLike, scenes: Sequence[ToyScene] | None = None, *, num_images: int = 8,
                   seed: int = 0) -> ToyFormat:
    """Write toy scenes as COCO: ``root/images/*.jpg`` and ``root/annotations.json``.

    Objects cycle through the three segmentation encodings: polygons (cars have two parts),
    compressed RLE, and uncompressed RLE with ``iscrowd=1``. Persons carry 3 keypoints;
    categories are listed out of id order; images without objects have no annotation.

    Example:
        >>> toy = write_toy_coco("/tmp/toy-coco")                       # doctest: +SKIP
        >>> toy.read()[0].num_boxes == toy.samples[0].num_boxes        # doctest: +SKIP
        True
    """
    root = os.fspath(root)
    scenes = scenes_or_default(scenes, num_images, seed)
    order = [2, 0, 3, 1]  # categories out of id order: readers must sort by id
    categories = [{"id": TOY_CATEGORY_IDS[k], "name": TOY_CLASSES[k], "supercategory": "toy"} for k in order]
    categories[order.index(0)].update(keypoints=list(TOY_KEYPOINTS), skeleton=[[1, 2], [2, 3]])
    images, annotations, samples, masks = [], [], [], []
    ann_id = 100
    for image_id, scene in enumerate(scenes, start=1):
        file_name = f"{scene.name}.jpg"
        write_image(os.path.join(root, "images", file_name), scene.image)
        h, w = scene.image_size
        images.append({"id": image_id, "file_name": file_name, "height": h, "width": w})
        exact_masks = []
        ids, crowd, areas, kps = [], [], [], []
        for obj in scene.objects:
            ann_id += 1
            x0, y0, x1, y1 = (int(v) for v in obj.box)
            ann: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": TOY_CATEGORY_IDS[obj.label],
                                   "bbox": [x0, y0, x1 - x0, y1 - y0], "area": int(obj.mask.sum()), "iscrowd": 0}
            kind = ann_id % 3
            if kind == 0:
                ann["segmentation"] = [p.reshape(-1).astype(float).tolist() for p in obj.parts]
                exact_masks.append(None)
            elif kind == 1:
                ann["segmentation"] = encode_rle(obj.mask)
                exact_masks.append(obj.mask)
            else:
                ann["segmentation"] = encode_rle(obj.mask, compressed=False)
                ann["iscrowd"] = 1
                exact_masks.append(obj.mask)
            if obj.label == 0:
                ann["keypoints"] = obj.keypoints.reshape(-1).tolist()
                ann["num_keypoints"] = int((obj.keypoints[:, 2] > 0).sum())
            annotations.append(ann)
            ids.append(ann_id)
            crowd.append(ann["iscrowd"])
            areas.append(ann["area"])
            kps.append(obj.keypoints if obj.label == 0 else np.zeros((len(TOY_KEYPOINTS), 3), np.float32))
        n = len(scene.objects)
        samples.append(Sample(
            os.path.join(root, "images", file_name),
            boxes=stack_objects(scene.objects, "box", (4,), np.float32),
            labels=[o.label for o in scene.objects],
            image_size=(h, w),
            attributes={"iscrowd": np.array(crowd, np.int32).reshape(n),
                        "area": np.array(areas, np.float32).reshape(n),
                        "category_id": np.array([TOY_CATEGORY_IDS[o.label] for o in scene.objects],
                                                np.int64).reshape(n),
                        "annotation_id": np.array(ids, np.int64).reshape(n)},
            keypoints=np.array(kps, np.float32).reshape(n, len(TOY_KEYPOINTS), 3),
        ))
        masks.append(exact_masks)
    path = os.path.join(root, "annotations.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"info": {"description": "seqloaders toy"}, "images": images, "annotations": annotations,
                   "categories": categories}, f, indent=1)
    return ToyFormat("coco", path, {"images_dir": os.path.join(root, "images")}, samples, TOY_CLASSES, masks)


"""The Ultralytics YOLO toy writer: the toy scenes as detect, segment or pose label files and a data.yaml."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..records import Sample
from .images import write_image
from .result import ToyFormat
from .scenes import TOY_CLASSES, TOY_KEYPOINTS, ToyScene, scenes_or_default

__all__ = ["write_toy_yolo"]


def write_toy_yolo(root: str | os.PathLike, scenes: Sequence[ToyScene] | None = None, *, task: str = "detect",
                   num_images: int = 8, seed: int = 0) -> ToyFormat:
    """Write toy scenes as an Ultralytics YOLO dataset: ``images/train``, ``labels/train``, ``data.yaml``.

    Args:
        root: output folder.
        scenes: the scenes (default: :func:`make_toy_scenes` with ``num_images``, ``seed``).
        task: "detect" (boxes), "segment" (each object's first polygon) or "pose" (boxes and
            3 keypoints, ``kpt_shape: [3, 3]``).
        num_images, seed: for the default scenes.

    Images without objects get an empty label file or none at all (alternately).

    Example:
        >>> toy = write_toy_yolo("/tmp/toy-yolo", task="segment")        # doctest: +SKIP
        >>> sl.read_yolo(toy.path).class_names                          # doctest: +SKIP
        ('person', 'car', 'dog', 'chair')
    """
    if task not in ("detect", "segment", "pose"):
        raise ValueError(f"task must be 'detect', 'segment' or 'pose', got {task!r}")
    root = os.fspath(root)
    scenes = scenes_or_default(scenes, num_images, seed)
    samples = []
    empty = 0
    for scene in scenes:
        h, w = scene.image_size
        image_path = os.path.join(root, "images", "train", f"{scene.name}.jpg")
        write_image(image_path, scene.image)
        lines, boxes, keypoints = [], [], []
        for obj in scene.objects:
            if task == "segment":
                poly = obj.parts[0].astype(np.float64) / [w, h]
                text = " ".join(f"{v:.6f}" for v in poly.reshape(-1))
                back = np.array(text.split(), np.float64).reshape(-1, 2) * [w, h]
                boxes.append((*back.min(axis=0), *back.max(axis=0)))
            else:
                x0, y0, x1, y1 = (float(v) for v in obj.box)
                centre_box = ((x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h)
                text = " ".join(f"{v:.6f}" for v in centre_box)
                cx, cy, bw, bh = (float(v) for v in text.split())
                boxes.append((cx * w - bw * w / 2, cy * h - bh * h / 2, cx * w + bw * w / 2, cy * h + bh * h / 2))
                if task == "pose":
                    kp = obj.keypoints.astype(np.float64) / [w, h, 1]
                    kp_text = " ".join(f"{x:.6f} {y:.6f} {int(v)}" for x, y, v in kp)
                    text += " " + kp_text
                    back = np.array(kp_text.split(), np.float64).reshape(-1, 3) * [w, h, 1]
                    keypoints.append(back)
            lines.append(f"{obj.label} {text}")
        label_path = os.path.join(root, "labels", "train", f"{scene.name}.txt")
        os.makedirs(os.path.dirname(label_path), exist_ok=True)
        if lines or empty % 2 == 0:
            with open(label_path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + ("\n" if lines else ""))
        if not lines:
            empty += 1
        n = len(lines)
        samples.append(Sample(
            image_path, boxes=np.array(boxes, np.float32).reshape(n, 4), labels=[o.label for o in scene.objects],
            image_size=(h, w),
            keypoints=np.array(keypoints, np.float32).reshape(n, 3, 3) if task == "pose" else None))
    yaml_lines = ["# seqloaders toy dataset", "path: .", "train: images/train", "val: images/train", "names:"]
    yaml_lines += [f"  {k}: {name}" for k, name in enumerate(TOY_CLASSES)]
    if task == "pose":
        yaml_lines += [f"kpt_shape: [{len(TOY_KEYPOINTS)}, 3]", "flip_idx: [0, 1, 2]"]
    path = os.path.join(root, "data.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(yaml_lines) + "\n")
    return ToyFormat("yolo", path, {"split": "train"}, samples, TOY_CLASSES)


"""Toy data in every annotation format, with masks and keypoints where the format has them.

:func:`make_toy_scenes` draws small images of coloured shapes whose class, polygon, pixel mask,
box and keypoints are all known. The ``write_toy_*`` functions write those scenes in each
format's real layout and return a :class:`ToyFormat`: where the files are, the options to read
them with, and the samples a correct reader must return. Tests, examples and demos can then use
any format::

    toy = write_toy_coco("/tmp/toy-coco")
    samples = sl.read(toy.format, toy.path, **toy.options)   # == toy.samples

The classes are named after COCO classes (person, car, dog, chair, with their COCO ids 1, 3,
18, 62), so COCO class maps apply to the toy data too. Every fourth image has no object.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from .masks import encode_rle, mask_boxes
from .records import Sample

__all__ = [
    "TOY_CATEGORY_IDS",
    "TOY_CLASSES",
    "TOY_FORMATS",
    "TOY_KEYPOINTS",
    "ToyFormat",
    "ToyObject",
    "ToyScene",
    "make_toy_formats",
    "make_toy_scenes",
    "write_toy_class_folders",
    "write_toy_coco",
    "write_toy_csv",
    "write_toy_mask_folders",
    "write_toy_voc",
    "write_toy_yolo",
]

#: Toy class names (training ids 0..3) and their COCO category ids.
TOY_CLASSES = ("person", "car", "dog", "chair")
TOY_CATEGORY_IDS = (1, 3, 18, 62)
#: Keypoints of toy persons (COCO stores keypoints for persons only).
TOY_KEYPOINTS = ("top", "centre", "bottom")
_COLORS = ((230, 80, 60), (40, 90, 220), (200, 170, 40), (60, 180, 90))


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


@dataclasses.dataclass
class ToyFormat:
    """A toy dataset written in one format.

    Attributes:
        format: the registered format name (``sl.read(format, path, **options)``).
        path: what the reader takes (annotation file, dataset YAML or folder).
        options: keyword arguments for the reader.
        samples: what a correct reader returns (image paths, boxes, labels, sizes, attributes,
            keypoints).
        class_names: the class names the reader reports.
        masks: for formats whose masks are exact pixels (RLE, mask files), the expected (N, H, W)
            bool masks of each sample; None otherwise.
    """

    format: str
    path: str
    options: dict[str, Any]
    samples: list[Sample]
    class_names: tuple[str, ...]
    masks: list[np.ndarray | None] | None = None

    def read(self, **overrides: Any):
        """Read the dataset back with its registered reader."""
        from .formats import read

        return read(self.format, self.path, **{**self.options, **overrides})


def _shape_parts(label: int, x0: int, y0: int, w: int, h: int) -> list[np.ndarray]:
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
            parts = tuple(p.astype(np.int32) for p in _shape_parts(label, bx, by, bw, bh))
            canvas = np.zeros((h, w), np.uint8)
            cv2.fillPoly(canvas, [p.reshape(-1, 1, 2) for p in parts], 1)
            mask = canvas.astype(bool)
            image[mask] = _COLORS[label]
            box = mask_boxes(mask[None])[0]
            cx = float((box[0] + box[2]) / 2)
            keypoints = np.array([[cx, box[1], 2], [cx, (box[1] + box[3]) / 2, 1], [cx, box[3] - 1, 2]], np.float32)
            if count_all % 2:
                keypoints[2] = 0
            count_all += 1
            objects.append(ToyObject(label, parts, mask, box, keypoints))
        scenes.append(ToyScene(f"toy_{i:05d}", image, tuple(objects)))
    return scenes


def _write_image(path: str, image_rgb: np.ndarray, **png: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ext = os.path.splitext(path)[1].lower()
    if image_rgb.ndim == 3 and image_rgb.shape[2] == 3:
        image = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    elif image_rgb.ndim == 3 and image_rgb.shape[2] == 4:
        image = cv2.cvtColor(image_rgb, cv2.COLOR_RGBA2BGRA)
    else:
        image = image_rgb
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:  # pragma: no cover
        raise RuntimeError(f"OpenCV could not encode {path}")
    with open(path, "wb") as f:
        f.write(data.tobytes())


def _scenes(scenes: Sequence[ToyScene] | None, num_images: int, seed: int) -> Sequence[ToyScene]:
    return make_toy_scenes(num_images, seed) if scenes is None else scenes


def _stack(objs: Iterable[ToyObject], attr: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    values = [getattr(o, attr) for o in objs]
    return np.array(values, dtype).reshape(len(values), *shape)


# ---------------------------------------------------------------------------------------- COCO
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
    scenes = _scenes(scenes, num_images, seed)
    order = [2, 0, 3, 1]  # categories out of id order: readers must sort by id
    categories = [{"id": TOY_CATEGORY_IDS[k], "name": TOY_CLASSES[k], "supercategory": "toy"} for k in order]
    categories[order.index(0)].update(keypoints=list(TOY_KEYPOINTS), skeleton=[[1, 2], [2, 3]])
    images, annotations, samples, masks = [], [], [], []
    ann_id = 100
    for image_id, scene in enumerate(scenes, start=1):
        file_name = f"{scene.name}.jpg"
        _write_image(os.path.join(root, "images", file_name), scene.image)
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
            boxes=_stack(scene.objects, "box", (4,), np.float32),
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


# ----------------------------------------------------------------------------------------- VOC
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
    scenes = _scenes(scenes, num_images, seed)
    samples = []
    k = 0
    for scene in scenes:
        h, w = scene.image_size
        _write_image(os.path.join(root, "JPEGImages", f"{scene.name}.jpg"), scene.image)
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
            boxes=_stack(scene.objects, "box", (4,), np.float32), labels=[o.label for o in scene.objects],
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


# ---------------------------------------------------------------------------------------- YOLO
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
    scenes = _scenes(scenes, num_images, seed)
    samples = []
    empty = 0
    for scene in scenes:
        h, w = scene.image_size
        image_path = os.path.join(root, "images", "train", f"{scene.name}.jpg")
        _write_image(image_path, scene.image)
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


# -------------------------------------------------------------------------------- mask folders
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
    scenes = _scenes(scenes, num_images, seed)
    samples, masks = [], []
    for scene in scenes:
        image = scene.image
        if image_mode == "rgba":
            image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
        elif image_mode == "rgb16":
            image = image.astype(np.uint16) * 257
        image_path = os.path.join(root, scene.name, "images", f"{scene.name}.png")
        _write_image(image_path, image)
        os.makedirs(os.path.join(root, scene.name, "masks"), exist_ok=True)
        for k, obj in enumerate(scene.objects):
            value = 255 if mask_depth == 8 else 65535
            mask = obj.mask.astype(np.uint8 if mask_depth == 8 else np.uint16) * value
            _write_image(os.path.join(root, scene.name, "masks", f"{scene.name}_{k:03d}.png"), mask)
        samples.append(Sample(image_path, boxes=_stack(scene.objects, "box", (4,), np.float32),
                              labels=np.zeros(len(scene.objects), np.int64), image_size=scene.image_size))
        masks.append([o.mask for o in scene.objects])
    return ToyFormat("maskfolders", root, {"class_name": "shape"}, samples, ("shape",), masks)


# ----------------------------------------------------------------------------------------- CSV
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
    scenes = _scenes(scenes, num_images, seed)
    path = os.path.join(root, "boxes.csv")
    os.makedirs(root, exist_ok=True)
    samples = []
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "xmin", "ymin", "xmax", "ymax", "label", "difficult"])
        for i, scene in enumerate(scenes):
            rel = f"images/{scene.name}.jpg"
            _write_image(os.path.join(root, rel), scene.image)
            difficult = [(i + k) % 2 for k in range(len(scene.objects))]
            for obj, d in zip(scene.objects, difficult):
                writer.writerow([rel, *(int(v) for v in obj.box), TOY_CLASSES[obj.label], d])
            if not scene.objects:
                writer.writerow([rel, "", "", "", "", "", ""])
            samples.append(Sample(os.path.join(root, rel), boxes=_stack(scene.objects, "box", (4,), np.float32),
                                  labels=[o.label for o in scene.objects],
                                  attributes={"difficult": np.array(difficult, np.int64)}))
    columns = {"image": "image", "boxes": ["xmin", "ymin", "xmax", "ymax"], "label": "label"}
    options = {"columns": columns, "class_names": TOY_CLASSES, "attributes": ["difficult"]}
    return ToyFormat("csv", path, options, samples, TOY_CLASSES)


# ------------------------------------------------------------------------------- class folders
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
        parts = _shape_parts(label, 8, 8, 32, 32)
        cv2.fillPoly(image, [p.astype(np.int32).reshape(-1, 1, 2) for p in parts], _COLORS[label])
        path = os.path.join(root, TOY_CLASSES[label], f"toy_{i:05d}.jpg")
        _write_image(path, image)
        samples.append(Sample(path, image_size=(h, w), meta={"label": label, "class_name": TOY_CLASSES[label]}))
    samples.sort(key=lambda s: (s.meta["label"], s.image))
    return ToyFormat("classfolders", root, {"check_images": True, "class_names": TOY_CLASSES}, samples, TOY_CLASSES)


#: Writers by format name; YOLO's segment and pose variants have their own names.
TOY_FORMATS = {
    "coco": write_toy_coco,
    "voc": write_toy_voc,
    "yolo": write_toy_yolo,
    "yolo-segment": lambda root, scenes=None, **kw: write_toy_yolo(root, scenes, task="segment", **kw),
    "yolo-pose": lambda root, scenes=None, **kw: write_toy_yolo(root, scenes, task="pose", **kw),
    "maskfolders": write_toy_mask_folders,
    "csv": write_toy_csv,
    "classfolders": lambda root, scenes=None, **kw: write_toy_class_folders(root, **kw),
}


def make_toy_formats(
    root: str | os.PathLike,
    formats: Iterable[str] | None = None,
    *,
    num_images: int = 8,
    seed: int = 0,
) -> dict[str, ToyFormat]:
    """Write the same toy scenes in several formats, each under ``root/<format>``.

    Args:
        root: output folder.
        formats: names from :data:`TOY_FORMATS` (default: all).
        num_images: number of images per format.
        seed: random seed.

    Returns:
        ``{format: ToyFormat}``; read each with ``toy.read()`` or ``sl.read(toy.format, toy.path,
        **toy.options)``.

    Example:
        >>> toys = make_toy_formats("/tmp/toy-all", ["coco", "voc"], num_images=4)   # doctest: +SKIP
        >>> sorted(toys)                                                             # doctest: +SKIP
        ['coco', 'voc']
    """
    root = os.fspath(root)
    names = list(TOY_FORMATS) if formats is None else list(formats)
    unknown = [n for n in names if n not in TOY_FORMATS]
    if unknown:
        raise ValueError(f"unknown toy formats {unknown}; available: {', '.join(TOY_FORMATS)}")
    scenes = make_toy_scenes(num_images, seed)
    return {name: TOY_FORMATS[name](os.path.join(root, name), scenes, num_images=num_images, seed=seed)
            for name in names}

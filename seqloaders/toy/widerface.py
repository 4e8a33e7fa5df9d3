"""The WIDER FACE toy writer: a small synthetic face dataset with known boxes.

Faces are drawn (skin-toned ellipses with eyes and a mouth) on textured backgrounds, so a
detector can learn them in a few epochs on a CPU, and the exact box of every face is known. This
is the set ``make demo`` trains on; the shape scenes of the other toy writers are in
:mod:`.scenes`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import cv2
import numpy as np

from ..formats import read as read_format
from ..formats.widerface import WIDER_FACE_ATTRIBUTES
from ..records import Sample, SampleList
from .images import write_image

__all__ = ["ToyDataset", "draw_face", "make_toy_dataset"]


@dataclasses.dataclass(frozen=True)
class ToyDataset:
    """Paths of a generated toy face dataset and the samples it was generated from.

    It also has the attributes of :class:`~seqloaders.toy.result.ToyFormat` (``format``,
    ``path``, ``options``, ``class_names``, ``masks``) and its :meth:`read`, so code written for
    the other toy formats takes the face set too. One difference: ``samples`` carry each image's
    ``image_size``, which ``read_wider_face`` leaves None (it does not open the images).

    Attributes:
        root: the folder the dataset was written to.
        annotations: the ``wider_face_toy_bbx_gt.txt`` annotation file.
        images: the images folder (``images_dir`` of :func:`~seqloaders.read_wider_face`).
        samples: the exact samples, one per image, label 0 (``face``) and the six attributes.

    Example:
        >>> import tempfile
        >>> toy = make_toy_dataset(tempfile.mkdtemp(), num_images=4)
        >>> toy.format, toy.class_names, len(toy.read())
        ('widerface', ('face',), 4)
    """

    root: str
    annotations: str
    images: str
    samples: list[Sample]

    @property
    def format(self) -> str:
        """The registered format name, ``"widerface"``."""
        return "widerface"

    @property
    def path(self) -> str:
        """What the reader takes: the annotation file."""
        return self.annotations

    @property
    def options(self) -> dict[str, Any]:
        """Keyword arguments for the reader: ``{"images_dir": images}``."""
        return {"images_dir": self.images}

    @property
    def class_names(self) -> tuple[str, ...]:
        """The class names the reader reports: ``("face",)``."""
        return ("face",)

    @property
    def masks(self) -> None:
        """None: WIDER FACE has no masks."""
        return None

    def read(self, **overrides: Any) -> SampleList:
        """Read the dataset back with ``read_wider_face`` (``overrides`` replace ``options``)."""
        return read_format(self.format, self.path, **{**self.options, **overrides})

    def __repr__(self) -> str:
        boxes = sum(s.num_boxes for s in self.samples)
        return f"ToyDataset(root={self.root!r}, {len(self.samples)} images, {boxes} faces)"


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 12, (h, w, 3))
    image = np.clip(image.astype(np.float32) * 0.6 + 50 + noise, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 8))):  # clutter: lines and rectangles
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.line(image, p1, p2, color, int(rng.integers(1, 4)))
        else:
            cv2.rectangle(image, p1, p2, color, 2)
    return image


def draw_face(image: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """Draw a face filling the integer XYXY pixel ``box`` exactly (in place, RGB)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = x1 - x0, y1 - y0
    skin = np.array([224, 172, 105]) * rng.uniform(0.55, 1.1)
    skin = tuple(int(c) for c in np.clip(skin, 0, 255))
    region = image[y0:y1, x0:x1]
    cv2.ellipse(region, ((w / 2 - 0.5, h / 2 - 0.5), (float(w), float(h)), 0.0), skin, -1)
    eye_y = int(h * 0.38)
    r = max(1, int(min(w, h) * 0.08))
    for ex in (int(w * 0.32), int(w * 0.68)):
        cv2.circle(region, (ex, eye_y), r, (30, 30, 40), -1)
    cv2.ellipse(region, (w // 2, int(h * 0.7)), (max(1, int(w * 0.18)), max(1, int(h * 0.07))), 0, 0, 180,
                (120, 30, 30), max(1, r // 2))
    # guarantee the exact extent: first/last rows and columns carry skin
    region[[0, -1], w // 2] = skin
    region[h // 2, [0, -1]] = skin


def make_toy_dataset(
    root: str | os.PathLike,
    num_images: int = 32,
    image_size: tuple[int, int] = (240, 320),
    max_faces: int = 4,
    seed: int = 0,
    quality: int = 90,
) -> ToyDataset:
    """Write a toy face dataset in WIDER FACE layout and return its paths and samples.

    Layout: ``root/images/<event>/<name>.jpg`` and ``root/wider_face_toy_bbx_gt.txt``. Every 8th
    image has no face (count 0 with the placeholder line); sizes vary around ``image_size``;
    boxes are exact. Deterministic for a given seed.

    Args:
        root: output folder (created).
        num_images: number of images.
        image_size: typical (H, W); each image varies by up to ±25%.
        max_faces: most faces per image.
        seed: random seed.
        quality: JPEG quality.

    Example:
        >>> toy = make_toy_dataset("/tmp/seqloaders-toy", num_images=4)
        >>> len(toy.samples)
        4
    """
    root = os.fspath(root)
    images_dir = os.path.join(root, "images")
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    lines: list[str] = []
    for i in range(num_images):
        event = f"{i % 3}--Toy{i % 3}"
        rel = f"{event}/{i % 3}_Toy_{i:05d}.jpg"
        h = int(image_size[0] * rng.uniform(0.75, 1.25))
        w = int(image_size[1] * rng.uniform(0.75, 1.25))
        image = _background(rng, h, w)
        count = 0 if i % 8 == 7 else int(rng.integers(1, max_faces + 1))
        boxes: list[list[int]] = []
        for _ in range(count * 10):  # rejection sampling: faces do not overlap
            if len(boxes) == count:
                break
            side = int(rng.uniform(0.15, 0.45) * min(h, w))
            bw, bh = side, int(side * rng.uniform(1.1, 1.35))
            if bh >= h or bw >= w:
                continue
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            cand = [x0, y0, x0 + bw, y0 + bh]
            if all(cand[0] >= b[2] or cand[2] <= b[0] or cand[1] >= b[3] or cand[3] <= b[1] for b in boxes):
                boxes.append(cand)
        for box in boxes:
            draw_face(image, np.array(box), rng)
        write_image(os.path.join(images_dir, rel), image, quality=quality)
        attrs = rng.integers(0, 3, (len(boxes), len(WIDER_FACE_ATTRIBUTES)))
        attrs[:, WIDER_FACE_ATTRIBUTES.index("invalid")] = 0
        lines += [rel, str(len(boxes))]
        if not boxes:
            lines.append("0 0 0 0 0 0 0 0 0 0 ")
        for box, a in zip(boxes, attrs):
            lines.append(f"{box[0]} {box[1]} {box[2] - box[0]} {box[3] - box[1]} " + " ".join(map(str, a)) + " ")
        samples.append(Sample(
            os.path.join(images_dir, rel),
            boxes=np.array(boxes, np.float32).reshape(-1, 4),
            labels=np.zeros(len(boxes), np.int64),
            image_size=(h, w),
            attributes={name: attrs[:, k].astype(np.int32) for k, name in enumerate(WIDER_FACE_ATTRIBUTES)},
        ))
    annotations = os.path.join(root, "wider_face_toy_bbx_gt.txt")
    with open(annotations, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return ToyDataset(root=root, annotations=annotations, images=images_dir, samples=samples)

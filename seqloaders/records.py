"""`Sample`, the record for one annotated image, and `BoxFormat`.

Inside seqloaders every box is XYXY in pixels of the source image (``x_min, y_min, x_max,
y_max``, with ``x_max`` one past the last covered column, as in COCO). Other formats exist only
at the edges: parsers convert into XYXY, writers and users convert out of it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["VALID_REGION", "BoxFormat", "ReadReport", "Sample", "SampleList"]

#: ``Sample.meta`` key of an (H, W) bool map of the pixels that show the image, set by the loading
#: pipeline when it renders masks and the resize (letterbox padding) or the augmentation (borders
#: brought in) can leave pixels that show nothing. Augmenters move it like a mask; mask encoders
#: mark the pixels outside it as ignored.
VALID_REGION = "valid_region"


class BoxFormat(str, enum.Enum):
    """Box layouts understood by :func:`seqloaders.convert_boxes`.

    ``XYXY``: x_min, y_min, x_max, y_max (Pascal VOC, Keras "xyxy").
    ``XYWH``: x_min, y_min, width, height (COCO, WIDER FACE).
    ``CXCYWH``: centre x, centre y, width, height.
    The ``REL_`` forms are the same divided by the image width and height (YOLO is
    ``REL_CXCYWH``).
    """

    XYXY = "xyxy"
    XYWH = "xywh"
    CXCYWH = "cxcywh"
    REL_XYXY = "rel_xyxy"
    REL_XYWH = "rel_xywh"
    REL_CXCYWH = "rel_cxcywh"

    @property
    def is_relative(self) -> bool:
        return self.value.startswith("rel_")

    @classmethod
    def parse(cls, value: BoxFormat | str) -> BoxFormat:
        """Accept a member, its value, or a common alias (``pascal_voc``, ``coco``, ``yolo``)."""
        if isinstance(value, cls):
            return value
        key = str(value).lower()
        key = _ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown box format {value!r}; available: {names}") from None


_ALIASES = {"pascal_voc": "xyxy", "coco": "xywh", "yolo": "rel_cxcywh", "albumentations": "rel_xyxy"}


def _as_array(value: Any, dtype: Any, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value if value is not None else np.zeros((0, *shape_tail)), dtype=dtype)
    if arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != 1 + len(shape_tail) or (shape_tail and arr.shape[1:] != shape_tail):
        raise ValueError(f"{name} must have shape (N, {', '.join(map(str, shape_tail))}), got {arr.shape}")
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Sample:
    """One annotated image: every object of the image travels together.

    Args:
        image: path, URI or storage key of the encoded image.
        boxes: (N, 4) float32, XYXY pixels of the source image.
        labels: (N,) int64 class ids, one per box.
        image_size: (H, W) of the source image if known (after EXIF orientation), else None.
        attributes: per-box extras, each an (N,) array (WIDER FACE blur, COCO iscrowd, ...).
        keypoints: (N, K, 3) float32 x, y (pixels) and visibility, or None.
        masks: a lazy mask source (paths, polygons or RLE) rendered only when needed, or None.
        meta: per-image extras (source id, file line, image-level class, ...).

    A changed sample is a new one: use ``dataclasses.replace`` or :meth:`replace`.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> s = sl.Sample("a.jpg", boxes=[[10, 20, 50, 80]], labels=[0])
        >>> s.num_boxes, s.boxes.dtype
        (1, dtype('float32'))
    """

    image: str
    boxes: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0,), np.int64))
    image_size: tuple[int, int] | None = None
    attributes: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    keypoints: np.ndarray | None = None
    masks: Any = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "image", str(self.image))
        boxes = _as_array(self.boxes, np.float32, (4,), "boxes")
        n = len(boxes)
        labels = np.asarray(self.labels if self.labels is not None else np.zeros(n), dtype=np.int64)
        if labels.ndim == 0:
            labels = np.full((n,), int(labels), np.int64)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) to match boxes, got {labels.shape}")
        attributes = {}
        for key, value in dict(self.attributes).items():
            arr = np.asarray(value)
            if arr.shape[:1] != (n,):
                raise ValueError(f"attribute {key!r} must have {n} entries (one per box), got shape {arr.shape}")
            attributes[key] = arr
        keypoints = self.keypoints
        if keypoints is not None:
            keypoints = np.asarray(keypoints, np.float32)
            if keypoints.ndim != 3 or keypoints.shape[0] != n or keypoints.shape[2] != 3:
                raise ValueError(f"keypoints must have shape ({n}, K, 3), got {keypoints.shape}")
        size = self.image_size
        if size is not None:
            size = (int(size[0]), int(size[1]))
            if size[0] <= 0 or size[1] <= 0:
                raise ValueError(f"image_size must be positive (H, W), got {size}")
        set_(self, "boxes", boxes)
        set_(self, "labels", labels)
        set_(self, "attributes", attributes)
        set_(self, "keypoints", keypoints)
        set_(self, "image_size", size)
        set_(self, "meta", dict(self.meta))

    @property
    def num_boxes(self) -> int:
        """Number of objects (N)."""
        return len(self.boxes)

    def replace(self, **changes: Any) -> Sample:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def _evolve(self, **changes: Any) -> Sample:
        """:meth:`replace` without re-validation, for library code whose arrays are already
        well-formed (the per-sample hot path)."""
        return _trusted_sample(**{**self.__dict__, **changes})

    def select(self, keep: np.ndarray) -> Sample:
        """A copy with only the boxes selected by ``keep`` (bool mask or indices), attributes and
        keypoints kept aligned."""
        keep = np.asarray(keep)
        masks = self.masks
        if isinstance(masks, np.ndarray):
            masks = masks[keep]
        elif masks is not None and hasattr(masks, "select"):
            masks = masks.select(keep)
        elif isinstance(masks, (list, tuple)):
            idx = np.flatnonzero(keep) if keep.dtype == bool else keep
            masks = [masks[i] for i in idx]
        return dataclasses.replace(
            self,
            boxes=self.boxes[keep],
            labels=self.labels[keep],
            attributes={k: v[keep] for k, v in self.attributes.items()},
            keypoints=None if self.keypoints is None else self.keypoints[keep],
            masks=masks,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sample):
            return NotImplemented
        if (self.image, self.image_size) != (other.image, other.image_size):
            return False
        if not (np.array_equal(self.boxes, other.boxes) and np.array_equal(self.labels, other.labels)):
            return False
        if self.attributes.keys() != other.attributes.keys():
            return False
        if any(not np.array_equal(v, other.attributes[k]) for k, v in self.attributes.items()):
            return False
        if (self.keypoints is None) != (other.keypoints is None):
            return False
        return not (self.keypoints is not None and not np.array_equal(self.keypoints, other.keypoints))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [repr(self.image), f"boxes={self.num_boxes}"]
        if self.num_boxes:
            parts.append(f"labels={sorted(set(self.labels.tolist()))}")
        if self.image_size is not None:
            parts.append(f"image_size={self.image_size}")
        if self.attributes:
            parts.append(f"attributes={sorted(self.attributes)}")
        if self.keypoints is not None:
            parts.append(f"keypoints={self.keypoints.shape[1]}")
        if isinstance(self.masks, np.ndarray):
            parts.append(f"masks={self.masks.shape}")
        elif self.masks is not None:
            parts.append("masks=lazy")
        return f"Sample({', '.join(parts)})"


@dataclasses.dataclass
class ReadReport:
    """What a reader skipped or dropped, so nothing is lost silently.

    Attributes:
        path: the annotation file.
        num_samples: samples returned.
        num_boxes: boxes returned.
        skipped: (line, message) for every entry skipped under ``on_error="skip"``/``"warn"``.
        dropped_boxes: counts of boxes removed by explicit filtering options, by reason.
    """

    path: str = ""
    num_samples: int = 0
    num_boxes: int = 0
    skipped: list[tuple[int | None, str]] = dataclasses.field(default_factory=list)
    dropped_boxes: dict[str, int] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        text = f"{self.path}: {self.num_samples} images, {self.num_boxes} boxes"
        if self.skipped:
            text += f", {len(self.skipped)} entries skipped"
        if self.dropped_boxes:
            text += ", dropped " + ", ".join(f"{n} {why}" for why, n in sorted(self.dropped_boxes.items()))
        return text


class SampleList(list):
    """A plain ``list`` of :class:`Sample` with the reader's ``report`` and ``class_names``."""

    def __init__(self, samples=(), *, report: ReadReport | None = None, class_names: tuple[str, ...] = ()):
        super().__init__(samples)
        self.report = report if report is not None else ReadReport()
        self.class_names = tuple(class_names)

    def __repr__(self) -> str:
        boxes = sum(s.num_boxes for s in self)
        return f"SampleList({len(self)} samples, {boxes} boxes, class_names={list(self.class_names)})"


def _trusted_sample(**fields) -> Sample:
    """Build a Sample from already-validated arrays, skipping the checks (hot path of parsers)."""
    obj = object.__new__(Sample)
    set_ = object.__setattr__
    set_(obj, "image", fields["image"])
    set_(obj, "boxes", fields["boxes"])
    set_(obj, "labels", fields["labels"])
    set_(obj, "image_size", fields.get("image_size"))
    set_(obj, "attributes", fields.get("attributes", {}))
    set_(obj, "keypoints", fields.get("keypoints"))
    set_(obj, "masks", fields.get("masks"))
    set_(obj, "meta", fields.get("meta", {}))
    return obj


Sample._trusted = staticmethod(_trusted_sample)  # type: ignore[attr-defined]

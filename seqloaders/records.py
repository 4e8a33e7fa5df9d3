"""The two records, one frame each, and `BoxFormat`.

- :class:`Sample`: one annotated image as a reader gives it, in pixels of the **source image**,
  masks as they are stored (lazy).
- :class:`LoadedSample`: the same image after loading, in pixels of the **loaded image** (the
  model input, or the decoded image while ``augment_at="source"`` augments it), with rendered
  masks and the valid region as arrays. Augmenters and encoders receive it.

Every box is XYXY (``x_min, y_min, x_max, y_max``, with ``x_max`` one past the last covered
column, as in COCO). Other formats exist only at the edges: parsers convert into XYXY, writers
and users convert out of it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ArrayMasks", "BoxFormat", "LoadedSample", "ReadReport", "Sample", "SampleList", "as_loaded"]


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


class ArrayMasks:
    """Masks already in memory, as a mask source: (N, H, W) bool in pixels of the source image.

    ``Sample(masks=array)`` wraps an array in it, so a Sample's masks are always a mask source
    (:class:`seqloaders.masks.MaskSource`: ``image_size``, ``len``, ``select``, ``decode``) and
    rendered arrays belong to the :class:`LoadedSample`.

    Example:
        >>> import numpy as np
        >>> m = ArrayMasks(np.ones((2, 3, 4), bool))
        >>> len(m), m.image_size, m.select(np.array([True, False])).decode().shape
        (2, (3, 4), (1, 3, 4))
    """

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        array = np.asarray(array)
        if array.ndim != 3:
            raise ValueError(f"masks in memory must be an (N, H, W) array, got shape {array.shape}")
        self.array = array if array.dtype == bool else array != 0

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.array.shape[1]), int(self.array.shape[2]))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def __len__(self) -> int:
        return len(self.array)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    def __getitem__(self, index: Any) -> np.ndarray:
        return self.array[index]

    def select(self, keep: np.ndarray) -> ArrayMasks:
        return ArrayMasks(self.array[np.asarray(keep)])

    def decode(self) -> np.ndarray:
        return self.array

    def __repr__(self) -> str:
        return f"ArrayMasks({len(self)} objects, image_size={self.image_size})"


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
        masks: a mask source (paths, polygons or RLE; :mod:`seqloaders.masks`) rendered only when
            a batch needs them, or None; an (N, H, W) array of the source image's pixels is kept
            as an :class:`ArrayMasks` source.
        meta: the annotation's per-image extras (source id, file and line, image-level class
            ``label``, ...); what the library computes while loading is in :class:`LoadedSample`.

    A changed sample is a new one: use ``dataclasses.replace`` or :meth:`replace`. Readers that
    build arrays they have already checked use :meth:`unchecked`.

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
        if isinstance(self.masks, np.ndarray):
            set_(self, "masks", ArrayMasks(self.masks))

    @property
    def num_boxes(self) -> int:
        """Number of objects (N)."""
        return len(self.boxes)

    def replace(self, **changes: Any) -> Sample:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    @staticmethod
    def unchecked(image: str, boxes: np.ndarray, labels: np.ndarray, image_size: tuple[int, int] | None = None,
                  attributes: Mapping[str, np.ndarray] | None = None, keypoints: np.ndarray | None = None,
                  masks: Any = None, meta: Mapping[str, Any] | None = None) -> Sample:
        """A Sample from arrays the caller has already made well-formed, without the checks.

        For readers' hot loops: ``image`` a str, ``boxes`` (N, 4) float32, ``labels`` (N,) int64,
        ``image_size`` a tuple of two positive ints or None, attributes (N,) arrays. Anything
        else belongs in the checked constructor, ``Sample(...)``.

        Example:
            >>> import numpy as np
            >>> Sample.unchecked("a.jpg", np.zeros((0, 4), np.float32), np.zeros((0,), np.int64))
            Sample('a.jpg', boxes=0)
        """
        obj = object.__new__(Sample)
        set_ = object.__setattr__
        set_(obj, "image", image)
        set_(obj, "boxes", boxes)
        set_(obj, "labels", labels)
        set_(obj, "image_size", image_size)
        set_(obj, "attributes", {} if attributes is None else attributes)
        set_(obj, "keypoints", keypoints)
        set_(obj, "masks", masks)
        set_(obj, "meta", {} if meta is None else meta)
        return obj

    def select(self, keep: np.ndarray) -> Sample:
        """A copy with only the boxes selected by ``keep`` (bool mask or indices), attributes and
        keypoints kept aligned."""
        keep = np.asarray(keep)
        masks = None if self.masks is None else self.masks.select(keep)  # a mask source (MaskSource)
        return dataclasses.replace(self, **_per_box(self, keep), masks=masks)

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
        if isinstance(self.masks, ArrayMasks):
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


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedSample:
    """One loaded image's targets, in pixels of the loaded image: what augmenters and encoders get.

    The loading core makes it from a :class:`Sample` (``seqloaders.pipeline.load_sample``): boxes
    and keypoints moved from source pixels into the image it decoded and resized, masks rendered.
    Augmenters return a new one (:meth:`replace`, :meth:`select`), with every target moved by the
    same transform (:class:`~seqloaders.transform.Transform`).

    Args:
        image: the source image's path or key (for messages; the pixels travel beside the record).
        boxes: (N, 4) float32 XYXY pixels of the loaded image.
        labels: (N,) int64.
        image_size: (H, W) of the loaded image.
        attributes: per-box (N,) arrays, as in the Sample.
        keypoints: (N, K, 3) float32 x, y (pixels of the loaded image) and visibility, or None.
        masks: (N, H, W) bool rendered masks, or None (no mask encoder asked for them).
        valid_region: (H, W) bool, True where the pixels show the image (False on letterbox
            padding and on borders an augmentation brought in), or None when every pixel does.
            Mask encoders mark the pixels outside it as ignored.
        meta: the Sample's per-image extras, unchanged.
        sources: the images the pixels were made from: ``(image,)``, or several after a mosaic or
            MixUp, in order.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> s = sl.LoadedSample("a.jpg", boxes=[[0, 0, 4, 4]], labels=[1], image_size=(8, 8))
        >>> s.select(np.array([False])).num_boxes, s.sources
        (0, ('a.jpg',))
    """

    image: str
    boxes: np.ndarray
    labels: np.ndarray
    image_size: tuple[int, int]
    attributes: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    keypoints: np.ndarray | None = None
    masks: np.ndarray | None = None
    valid_region: np.ndarray | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        boxes = self.boxes
        if not (isinstance(boxes, np.ndarray) and boxes.dtype == np.float32 and boxes.ndim == 2):
            boxes = _as_array(boxes, np.float32, (4,), "boxes")
            set_(self, "boxes", boxes)
        n = len(boxes)
        labels = self.labels
        if not (isinstance(labels, np.ndarray) and labels.dtype == np.int64):
            labels = np.asarray(labels, np.int64).reshape(-1)
            set_(self, "labels", labels)
        size = self.image_size
        if not isinstance(size, tuple):
            size = (int(size[0]), int(size[1]))
            set_(self, "image_size", size)
        problem = None
        if boxes.shape[1:] != (4,):
            problem = f"boxes must have shape (N, 4), got {boxes.shape}"
        elif labels.shape != (n,):
            problem = f"labels must have shape ({n},) to match boxes, got {labels.shape}"
        elif any(np.shape(v)[:1] != (n,) for v in self.attributes.values()):
            problem = f"every attribute must have {n} entries (one per box)"
        elif self.keypoints is not None and (self.keypoints.ndim != 3 or self.keypoints.shape[0] != n):
            problem = f"keypoints must have shape ({n}, K, 3), got {self.keypoints.shape}"
        elif self.masks is not None and (not isinstance(self.masks, np.ndarray) or self.masks.shape[0] != n
                                         or self.masks.shape[1:] != size):
            problem = (f"masks must be an ({n}, {size[0]}, {size[1]}) array, got "
                       f"{getattr(self.masks, 'shape', type(self.masks).__name__)}")
        elif self.valid_region is not None and self.valid_region.shape != size:
            problem = f"valid_region must have shape {size}, got {self.valid_region.shape}"
        if problem is not None:
            raise ValueError(f"{self.image}: {problem}")
        if not self.sources:
            set_(self, "sources", (str(self.image),))

    @property
    def num_boxes(self) -> int:
        """Number of objects (N)."""
        return len(self.boxes)

    def replace(self, **changes: Any) -> LoadedSample:
        """A copy with some fields changed (checked like the constructor)."""
        return dataclasses.replace(self, **changes)

    def select(self, keep: np.ndarray) -> LoadedSample:
        """A copy with only the boxes selected by ``keep`` (bool mask or indices), every per-box target kept aligned."""
        keep = np.asarray(keep)
        return dataclasses.replace(self, **_per_box(self, keep), masks=None if self.masks is None else self.masks[keep])

    @classmethod
    def from_sample(cls, sample: Sample, image_size: tuple[int, int] | None = None) -> LoadedSample:
        """A Sample taken as loaded without moving it (its pixels are the loaded image's).

        Masks come along when they are in memory (:class:`ArrayMasks`); a lazy mask source does not
        (render it with :func:`seqloaders.decode_masks` first). ``image_size`` defaults to the sample's.
        """
        size = image_size if image_size is not None else sample.image_size
        if size is None:
            raise ValueError(f"{sample.image}: the sample has no image_size; pass the loaded image's (H, W)")
        masks = sample.masks.array if isinstance(sample.masks, ArrayMasks) else None
        return cls(sample.image, sample.boxes, sample.labels, tuple(size), sample.attributes, sample.keypoints,
                   masks, None, sample.meta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LoadedSample):
            return NotImplemented
        if (self.image, self.image_size, self.sources) != (other.image, other.image_size, other.sources):
            return False
        if self.attributes.keys() != other.attributes.keys():
            return False
        pairs = [(self.boxes, other.boxes), (self.labels, other.labels), (self.keypoints, other.keypoints),
                 (self.masks, other.masks), (self.valid_region, other.valid_region),
                 *((v, other.attributes[k]) for k, v in self.attributes.items())]
        return all((a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
                   for a, b in pairs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [repr(self.image), f"boxes={self.num_boxes}", f"image_size={self.image_size}"]
        if self.attributes:
            parts.append(f"attributes={sorted(self.attributes)}")
        if self.keypoints is not None:
            parts.append(f"keypoints={self.keypoints.shape[1]}")
        if self.masks is not None:
            parts.append("masks")
        if self.valid_region is not None:
            parts.append("valid_region")
        if len(self.sources) > 1:
            parts.append(f"sources={len(self.sources)}")
        return f"LoadedSample({', '.join(parts)})"


def _per_box(record: Sample | LoadedSample, keep: np.ndarray) -> dict[str, Any]:
    """The per-box fields of either record, selected by ``keep`` (masks are each record's own)."""
    return {"boxes": record.boxes[keep], "labels": record.labels[keep],
            "attributes": {k: v[keep] for k, v in record.attributes.items()},
            "keypoints": None if record.keypoints is None else record.keypoints[keep]}


def as_loaded(sample: Sample | LoadedSample, image_size: tuple[int, int] | None = None) -> LoadedSample:
    """``sample`` if it is a :class:`LoadedSample`, else :meth:`LoadedSample.from_sample` of it.

    Augmenters and encoders accept a plain :class:`Sample` through this (a Sample whose pixels
    are the image's, as in a test or a notebook).
    """
    if isinstance(sample, LoadedSample):
        return sample
    return LoadedSample.from_sample(sample, image_size)

"""Padded box lists: ``{"boxes": (M, 4), "classes": (M,)}`` with -1 padding, as Keras detectors take.

KerasCV's ``YOLOV8Detector`` and ``RetinaNet`` and KerasHub's ``RetinaNetObjectDetector`` train on a
dict of dense, padded arrays: a fixed number M of box rows per image, the unused rows filled with
-1. This module writes that dict from samples, in any declared box format.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import EncodingError
from ..geometry import convert_boxes
from ..records import BoxFormat, Sample
from .base import Decoded, TargetEncoder, check_image_size

__all__ = ["PaddedBoxEncoder", "decode_padded_boxes", "encode_padded_boxes", "select_slots"]

OVERFLOWS = ("first", "largest")
# Keras names formats that seqloaders' BoxFormat lacks; they are XYXY with the axes swapped.
_YX_FORMATS = {"yxyx": BoxFormat.XYXY, "rel_yxyx": BoxFormat.REL_XYXY}
_SWAP_AXES = np.array([1, 0, 3, 2])


def _parse_format(box_format: BoxFormat | str) -> tuple[BoxFormat, bool]:
    """A box format name → (seqloaders format, whether the axes are swapped to y, x order)."""
    key = box_format.value if isinstance(box_format, BoxFormat) else str(box_format).lower()
    if key in _YX_FORMATS:
        return _YX_FORMATS[key], True
    try:
        return BoxFormat.parse(box_format), False
    except ValueError:
        names = ", ".join([m.value for m in BoxFormat] + list(_YX_FORMATS))
        raise ValueError(f"unknown box format {box_format!r}; available: {names}") from None


def _format_name(fmt: BoxFormat, swapped: bool) -> str:
    return {BoxFormat.XYXY: "yxyx", BoxFormat.REL_XYXY: "rel_yxyx"}[fmt] if swapped else fmt.value


def select_slots(counts: Sequence[int], max_count: int, scores: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick at most ``max_count`` items per sample from a batch of concatenated items.

    Args:
        counts: (B,) number of items of each sample; the items of all samples are concatenated.
        max_count: the most items a sample keeps.
        scores: (sum(counts),) float, higher kept first; None keeps the first items of each sample.

    Returns:
        ``kept`` (K,) int64 indices into the concatenation, ``owner`` (K,) their sample and
        ``slot`` (K,) their row in the padded output. Kept items keep their order in the sample.
    """
    counts = np.asarray(counts, np.int64).reshape(-1)
    total = int(counts.sum())
    batch = len(counts)
    owner = np.repeat(np.arange(batch), counts)
    starts = np.cumsum(counts) - counts
    if scores is None:
        keep = (np.arange(total) - starts[owner]) < max_count
    else:
        order = np.lexsort((-np.asarray(scores, np.float64), owner))  # by sample, best first; stable
        rank = np.empty(total, np.int64)
        rank[order] = np.arange(total) - starts[owner[order]]
        keep = rank < max_count
    kept = np.flatnonzero(keep)
    kept_owner = owner[kept]
    per_sample = np.bincount(kept_owner, minlength=batch)
    slot = np.arange(len(kept)) - (np.cumsum(per_sample) - per_sample)[kept_owner]
    return kept, kept_owner, slot


def encode_padded_boxes(
    boxes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    image_size: tuple[int, int],
    max_boxes: int,
    box_format: BoxFormat | str = "xyxy",
    pad_value: float = -1.0,
    overflow: str = "first",
) -> tuple[np.ndarray, np.ndarray, int]:
    """Encode a batch of box sets into dense, padded arrays (vectorised over the whole batch).

    Args:
        boxes: B arrays of (N_i, 4) float, XYXY pixels of an image of size ``image_size``.
        labels: B arrays of (N_i,) int class ids.
        image_size: (H, W) of the image the boxes live in (needed by the relative formats).
        max_boxes: M, the number of rows per image.
        box_format: the format of the output boxes: any :class:`~seqloaders.BoxFormat` name, or
            Keras' "yxyx" / "rel_yxyx".
        pad_value: the value of unused rows, in both arrays.
        overflow: which boxes an image keeps when it has more than M: "first" (in the sample's
            order) or "largest" (by area; kept boxes stay in the sample's order).

    Returns:
        ``boxes`` (B, M, 4) float32 in ``box_format``, ``classes`` (B, M) float32 (the class id
        or ``pad_value``), and the number of boxes left out because an image had more than M.

    Example:
        >>> import numpy as np
        >>> b, c, dropped = encode_padded_boxes([np.array([[50, 25, 100, 75]])], [np.array([2])],
        ...                                     (100, 200), max_boxes=2, box_format="rel_xywh")
        >>> b[0].tolist(), c[0].tolist(), dropped
        ([[0.25, 0.25, 0.25, 0.5], [-1.0, -1.0, -1.0, -1.0]], [2.0, -1.0], 0)
    """
    if max_boxes < 1:
        raise ValueError(f"max_boxes must be >= 1, got {max_boxes}")
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
    fmt, swapped = _parse_format(box_format)
    if len(boxes) != len(labels):
        raise ValueError(f"got {len(boxes)} box arrays but {len(labels)} label arrays")
    batch = len(boxes)
    out_boxes = np.full((batch, max_boxes, 4), pad_value, np.float32)
    out_classes = np.full((batch, max_boxes), pad_value, np.float32)
    box_list = [np.asarray(b, np.float32).reshape(-1, 4) for b in boxes]
    label_list = [np.asarray(x, np.int64).reshape(-1) for x in labels]
    counts = [len(b) for b in box_list]
    for i, (b, lab) in enumerate(zip(box_list, label_list)):
        if len(b) != len(lab):
            raise EncodingError(f"sample {i} of the batch has {len(b)} boxes but {len(lab)} labels")
    total = sum(counts)
    if total == 0:
        return out_boxes, out_classes, 0
    flat_boxes = np.concatenate(box_list)
    flat_labels = np.concatenate(label_list)
    scores = None
    if overflow == "largest":
        wh = np.clip(flat_boxes[:, 2:] - flat_boxes[:, :2], 0, None)
        scores = wh[:, 0] * wh[:, 1]
    kept, owner, slot = select_slots(counts, max_boxes, scores)
    converted = convert_boxes(flat_boxes[kept], BoxFormat.XYXY, fmt, image_size)
    if swapped:
        converted = converted[:, _SWAP_AXES]
    out_boxes[owner, slot] = converted
    out_classes[owner, slot] = flat_labels[kept]
    return out_boxes, out_classes, total - len(kept)


def decode_padded_boxes(
    boxes: np.ndarray,
    classes: np.ndarray,
    image_size: tuple[int, int],
    box_format: BoxFormat | str = "xyxy",
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one image's padded rows back to boxes; rows whose class is negative are padding.

    Args:
        boxes: (M, 4) float in ``box_format`` (pixels, or relative to ``image_size``).
        classes: (M,) float or int class ids, negative for padding.
        image_size: (H, W) of the image the boxes live in.
        box_format: the format ``boxes`` are in.

    Returns:
        ``boxes`` (K, 4) float32, XYXY pixels of an image of size ``image_size``, and ``labels``
        (K,) int64, in row order.
    """
    fmt, swapped = _parse_format(box_format)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1)
    if len(boxes) != len(classes):
        raise ValueError(f"boxes has {len(boxes)} rows but classes has {len(classes)}")
    real = classes >= 0
    rows = boxes[real]
    if swapped:
        rows = rows[:, _SWAP_AXES]
    xyxy = convert_boxes(rows, fmt, BoxFormat.XYXY, image_size).astype(np.float32)
    return xyxy, np.rint(classes[real]).astype(np.int64)


class PaddedBoxEncoder(TargetEncoder):
    """A padded box list ``{"boxes": (M, 4), "classes": (M,)}`` float32, -1 padded.

    This is the target of Keras' own detectors: KerasCV ``YOLOV8Detector`` and ``RetinaNet``
    (keys "boxes" and "classes") and KerasHub ``RetinaNetObjectDetector`` (keys "boxes" and
    "labels": pass ``classes_key="labels"``; its default format is "yxyx"). The encoder returns a
    dict, so a :class:`~seqloaders.DetectionSequence` given this encoder yields ``y`` as a dict of
    (B, M, 4) and (B, M) arrays. Boxes are written as they arrive (the Sequence has already
    clipped them to the image and removed boxes without area); an image with more than M boxes
    keeps M of them (see ``overflow``) and the others are counted in
    ``stats["boxes_not_encoded"]``. Row i of "boxes" belongs to row i of "classes".

    Args:
        max_boxes: M, the rows per image.
        box_format: the output format: any :class:`~seqloaders.BoxFormat` ("xyxy", "xywh",
            "cxcywh", "rel_xyxy", "rel_xywh", "rel_cxcywh", and the aliases "pascal_voc",
            "coco", "yolo") or Keras' "yxyx" / "rel_yxyx". The relative formats divide by
            the ``image_size`` passed to the encode calls.
        pad_value: the value of unused rows (-1, as Keras expects).
        overflow: "first" (default: in the sample's order, so row i is box i of the sample) or
            "largest" (by area) when an image has more than M boxes.
        boxes_key, classes_key: the names of the two arrays.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> from seqloaders.encoders import PaddedBoxEncoder
        >>> enc = PaddedBoxEncoder(max_boxes=3, box_format="xywh")
        >>> s = sl.Sample("a.jpg", boxes=[[10, 20, 50, 80]], labels=[4])
        >>> y = enc.encode_sample(s, (224, 224))
        >>> y["boxes"].tolist(), y["classes"].tolist()
        ([[10.0, 20.0, 40.0, 60.0], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]], [4.0, -1.0, -1.0])
        >>> enc.decode(y, (224, 224))[0].tolist()
        [[10.0, 20.0, 50.0, 80.0]]
    """

    def __init__(
        self,
        max_boxes: int = 100,
        box_format: BoxFormat | str = "xyxy",
        *,
        pad_value: float = -1.0,
        overflow: str = "first",
        boxes_key: str = "boxes",
        classes_key: str = "classes",
    ):
        if int(max_boxes) < 1:
            raise ValueError(f"max_boxes must be >= 1, got {max_boxes}")
        if overflow not in OVERFLOWS:
            raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
        if boxes_key == classes_key:
            raise ValueError(f"boxes_key and classes_key must differ, both are {boxes_key!r}")
        fmt, swapped = _parse_format(box_format)
        self.max_boxes = int(max_boxes)
        self.box_format = _format_name(fmt, swapped)
        self.pad_value = float(pad_value)
        self.overflow = overflow
        self.boxes_key = boxes_key
        self.classes_key = classes_key
        self.output_shape = {boxes_key: (self.max_boxes, 4), classes_key: (self.max_boxes,)}
        self.dtype = {boxes_key: np.float32, classes_key: np.float32}

    def _encode(self, samples: Sequence[Sample], image_size: tuple[int, int]):
        return encode_padded_boxes([s.boxes for s in samples], [s.labels for s in samples], image_size,
                                   self.max_boxes, self.box_format, self.pad_value, self.overflow)

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> dict[str, np.ndarray]:
        """Encode one sample to ``{boxes_key: (M, 4), classes_key: (M,)}`` float32."""
        boxes, classes, _ = self._encode([sample], image_size)
        return {self.boxes_key: boxes[0], self.classes_key: classes[0]}

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> dict[str, np.ndarray]:
        """Encode a batch to ``{boxes_key: (B, M, 4), classes_key: (B, M)}`` float32."""
        boxes, classes, dropped = self._encode(samples, image_size)
        if stats is not None:
            stats["boxes_not_encoded"] = stats.get("boxes_not_encoded", 0) + dropped
        return {self.boxes_key: boxes, self.classes_key: classes}

    def decode(self, target: dict[str, np.ndarray], image_size: tuple[int, int] | None = None, *,
               threshold: float = 0.5) -> Decoded:
        """One image's ``{boxes_key: (M, 4), classes_key: (M,)}`` → the rows that are not padding.

        ``boxes`` (K, 4) float32 XYXY pixels of an image of size ``image_size`` and ``labels``
        (K,) int64; unpacks as ``(boxes, labels)``.
        """
        boxes, labels = decode_padded_boxes(target[self.boxes_key], target[self.classes_key],
                                            check_image_size(image_size, self), self.box_format)
        return Decoded(boxes=boxes, labels=labels, legacy=(boxes, labels))

    def __repr__(self) -> str:
        keys = "" if (self.boxes_key, self.classes_key) == ("boxes", "classes") else \
            f", boxes_key={self.boxes_key!r}, classes_key={self.classes_key!r}"
        return (f"PaddedBoxEncoder(max_boxes={self.max_boxes}, box_format={self.box_format!r}, "
                f"pad_value={self.pad_value:g}, overflow={self.overflow!r}{keys}) -> {self.output_shape}")

"""Segmentation targets from rendered masks: semantic class maps and padded instance masks.

The contract with the loading pipeline: when a sample reaches these encoders, ``sample.masks`` is
an ``(N, H, W)`` bool (or 0/1 integer) NumPy array, one mask per box in the order of
``sample.boxes``, rendered at the *output* size ``image_size`` = (H, W), after resizing and
augmentation. Decoding polygons or RLE and resizing masks are the pipeline's job; an unrendered
(lazy) mask source here is an :class:`~seqloaders.EncodingError`. A sample without boxes may have
``masks=None``.

:func:`resize_label_map` resizes class maps and masks with nearest neighbour only (a class id is
never blended with its neighbour's), in the same geometry as :func:`seqloaders.resize_image`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import EncodingError
from ..records import ArrayMasks, Sample
from ..resize import letterbox_geometry, place_label_map
from .base import Decoded, TargetEncoder
from .padded import OVERFLOWS, select_slots

__all__ = [
    "InstanceMaskEncoder",
    "SemanticMaskEncoder",
    "encode_instance_masks",
    "encode_semantic_mask",
    "masks_to_boxes",
    "resize_label_map",
]

def resize_label_map(
    labels: np.ndarray,
    image_size: tuple[int, int],
    mode: str = "stretch",
    ignore_index: int = 255,
) -> np.ndarray:
    """Resize a class map (or a stack of masks) with nearest neighbour; letterbox padding is ``ignore_index``.

    Each output pixel takes the value of the input pixel under its centre, so class ids are
    never blended. ``"letterbox"`` places the content exactly where :func:`seqloaders.resize_image`
    places the image (same scale, same rounding, centred) and fills the borders with
    ``ignore_index`` (use 0 for instance masks).

    Args:
        labels: (..., H, W) array of any integer or bool dtype: an (H, W) class map, or
            (N, H, W) masks, in pixels of the source image.
        image_size: (H, W) of the output.
        mode: "stretch" or "letterbox".
        ignore_index: the value of the letterbox padding; must fit ``labels``' dtype.

    Returns:
        (..., image_size[0], image_size[1]) array of ``labels``' dtype.

    Raises:
        ValueError: an unknown mode, an empty input, or an ``ignore_index`` the dtype cannot hold.

    Example:
        >>> import numpy as np
        >>> resize_label_map(np.array([[1, 2]], np.uint8), (2, 4)).tolist()
        [[1, 1, 2, 2], [1, 1, 2, 2]]
        >>> resize_label_map(np.array([[1, 2]], np.uint8), (4, 4), mode="letterbox").tolist()
        [[255, 255, 255, 255], [1, 1, 2, 2], [1, 1, 2, 2], [255, 255, 255, 255]]
    """
    labels = np.asarray(labels)
    if labels.ndim < 2 or labels.shape[-1] == 0 or labels.shape[-2] == 0:
        raise ValueError(f"labels must be (..., H, W) with H, W > 0, got shape {labels.shape}")
    if labels.dtype.kind not in "biu":
        raise ValueError(f"labels must be an integer or bool array (class ids or masks), got {labels.dtype}")
    oh, ow = int(image_size[0]), int(image_size[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"image_size must be positive (H, W), got {tuple(image_size)}")
    h, w = labels.shape[-2:]
    pad = np.asarray(ignore_index).astype(labels.dtype)
    if mode == "letterbox" and pad != ignore_index:
        raise ValueError(f"ignore_index={ignore_index} does not fit labels of dtype {labels.dtype}; "
                         "use 0 for masks, or a wider dtype")
    nh, nw, oy, ox = letterbox_geometry((h, w), (oh, ow), mode)
    return place_label_map(labels, (oh, ow), (h / nh, w / nw), (oy, ox), fill=pad)


def _sample_masks(sample: Sample, image_size: tuple[int, int], encoder: str) -> np.ndarray:
    """The (N, H, W) bool masks of a sample, checked against the mask contract."""
    h, w = int(image_size[0]), int(image_size[1])
    masks = sample.masks
    if isinstance(masks, ArrayMasks):  # a plain Sample already in the output's pixels (as in a test)
        masks = masks.array
    n = sample.num_boxes
    if masks is None:
        if n == 0:
            return np.zeros((0, h, w), bool)
        raise EncodingError(f"{sample.image}: {encoder} needs sample.masks as an (N, H, W) array, but the sample has "
                            f"{n} boxes and no masks")
    if not isinstance(masks, np.ndarray):
        raise EncodingError(f"{sample.image}: {encoder} needs masks rendered to an ({n}, {h}, {w}) array at the output "
                            f"size, got {type(masks).__name__} (a lazy mask source); the pipeline must decode and "
                            "resize them first")
    if masks.shape != (n, h, w):
        raise EncodingError(f"{sample.image}: {encoder} expects masks of shape ({n}, {h}, {w}) (one per box, at the "
                            f"output size), got {masks.shape}")
    return masks if masks.dtype == bool else masks != 0


def encode_semantic_mask(
    masks: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    background: int = 0,
    ignore_index: int = 255,
    crowd: np.ndarray | None = None,
    crowd_to_ignore: bool = False,
    label_offset: int = 0,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Paint instance masks into one class map.

    Pixels covered by no mask are ``background``. Instances are painted in order, a later one
    over an earlier one. With ``crowd_to_ignore`` the crowd instances are painted first, as
    ``ignore_index``, so that any other instance on them keeps its class: only the pixels that
    belong to a crowd and to no other object are ignored.

    Args:
        masks: (N, H, W) bool masks in pixels of the output image.
        labels: (N,) int class ids; ``labels + label_offset`` must lie in ``[0, num_classes)``.
        num_classes: the number of classes of the map, background included.
        background: the class of uncovered pixels.
        ignore_index: the value of ignored pixels (outside ``[0, num_classes)``).
        crowd: (N,) bool, the crowd instances (COCO ``iscrowd``), or None.
        crowd_to_ignore: paint crowd instances as ``ignore_index`` instead of their class.
        label_offset: added to every label (1 shifts 0-based object classes past a background 0).
        valid: (H, W) bool, the pixels that show the image; the others (letterbox padding,
            borders an augmentation brought in) become ``ignore_index``. None: all valid.

    Returns:
        (H, W) int32 class map.

    Raises:
        EncodingError: a class outside ``[0, num_classes)``, or masks and labels that disagree.

    Example:
        >>> import numpy as np
        >>> m = np.zeros((2, 2, 3), bool); m[0, :, :2] = True; m[1, 0, 1:] = True
        >>> encode_semantic_mask(m, np.array([1, 2]), num_classes=3).tolist()
        [[1, 2, 2], [1, 1, 0]]
    """
    masks = np.asarray(masks)
    masks = masks if masks.dtype == bool else masks != 0
    if masks.ndim != 3:
        raise EncodingError(f"masks must be (N, H, W), got shape {masks.shape}")
    n = len(masks)
    values = np.asarray(labels, np.int64).reshape(-1) + int(label_offset)
    if len(values) != n:
        raise EncodingError(f"got {n} masks but {len(values)} labels")
    bad = (values < 0) | (values >= num_classes)
    if bad.any():
        raise EncodingError(f"class {values[bad][0]} (label {values[bad][0] - label_offset} + label_offset "
                            f"{label_offset}) is out of range for num_classes={num_classes}")
    out = np.full(masks.shape[1:], background, np.int32)
    if valid is not None:
        if valid.shape != out.shape:
            raise EncodingError(f"valid region has shape {valid.shape} but the masks are {out.shape}")
        out[~valid] = ignore_index
    if n == 0:
        return out
    if crowd_to_ignore and crowd is not None:
        is_crowd = np.asarray(crowd).reshape(-1).astype(bool)
        if len(is_crowd) != n:
            raise EncodingError(f"got {n} masks but {len(is_crowd)} crowd flags")
        values = np.where(is_crowd, ignore_index, values)
        order = np.argsort(~is_crowd, kind="stable")  # crowds first, then the rest, each in sample order
        masks, values = masks[order], values[order]
    covered = masks.any(axis=0)
    if valid is not None:
        covered &= valid
    last = n - 1 - np.argmax(masks[::-1], axis=0)  # the last instance over each pixel
    out[covered] = values[last[covered]]
    return out


class SemanticMaskEncoder(TargetEncoder):
    """A semantic class map (H, W) int32 from the rendered instance masks of a sample.

    Pixels of no object get ``background``; each object paints its label (plus
    ``label_offset``), a later object over an earlier one; crowd objects
    (``sample.attributes["iscrowd"]``) are painted as ``ignore_index`` when ``crowd_to_ignore``,
    under the other objects. An image without objects is all ``background``. Pixels that show
    no image (letterbox padding, borders brought in by augmentation: ``sample.meta["valid_region"]``,
    set by the Sequence) are ``ignore_index`` when ``padding_to_ignore``. ``sample.masks`` must be
    the rendered (N, H, W) masks at the output size (see the module docstring).

    Args:
        num_classes: classes of the map, background included.
        ignore_index: the value of ignored pixels (for ``ignore_class`` in Keras' losses).
        background: the class of pixels covered by no object.
        crowd_to_ignore: mark crowd regions as ``ignore_index``.
        image_size: (H, W) of the model input, for a fixed ``output_shape`` (else None, None);
            checked at encode time when given.
        label_offset: added to every box label (1 when labels are 0-based object classes and
            the background is 0).
        crowd_key: the attribute holding the crowd flags.
        padding_to_ignore: mark pixels outside the sample's valid region as ``ignore_index``.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> from seqloaders.encoders import SemanticMaskEncoder
        >>> m = np.zeros((1, 4, 4), bool); m[0, 1:3, 1:3] = True
        >>> s = sl.Sample("a.jpg", boxes=[[1, 1, 3, 3]], labels=[0], masks=m)
        >>> SemanticMaskEncoder(num_classes=2, label_offset=1).encode_sample(s, (4, 4)).tolist()
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """

    needs_masks = True

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = 255,
        background: int = 0,
        crowd_to_ignore: bool = False,
        *,
        image_size: tuple[int, int] | None = None,
        label_offset: int = 0,
        crowd_key: str = "iscrowd",
        padding_to_ignore: bool = True,
    ):
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index={ignore_index} is one of the {num_classes} classes; use a value outside "
                             f"[0, {num_classes}), such as 255")
        if not (0 <= background < num_classes or background == ignore_index):
            raise ValueError(f"background={background} must be a class in [0, {num_classes}) or the ignore_index")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.background = int(background)
        self.crowd_to_ignore = bool(crowd_to_ignore)
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        self.label_offset = int(label_offset)
        self.crowd_key = crowd_key
        self.padding_to_ignore = bool(padding_to_ignore)
        self.output_shape = self.image_size if self.image_size is not None else (None, None)
        self.dtype = np.int32

    def _check_size(self, image_size: tuple[int, int]) -> None:
        if self.image_size is not None and tuple(image_size) != self.image_size:
            raise EncodingError(f"{type(self).__name__} was built for image_size={self.image_size} but is asked to "
                                f"encode samples of size {tuple(image_size)}")

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> np.ndarray:
        """Encode one sample to an (H, W) int32 class map."""
        self._check_size(image_size)
        masks = _sample_masks(sample, image_size, "SemanticMaskEncoder")
        crowd = sample.attributes.get(self.crowd_key)
        valid = getattr(sample, "valid_region", None) if self.padding_to_ignore else None  # a LoadedSample's
        return encode_semantic_mask(masks, sample.labels, self.num_classes, self.background, self.ignore_index,
                                    crowd, self.crowd_to_ignore, self.label_offset, valid)

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> np.ndarray:
        """Encode a batch to (B, H, W) int32 class maps."""
        out = np.empty((len(samples), int(image_size[0]), int(image_size[1])), np.int32)
        for i, sample in enumerate(samples):
            out[i] = self.encode_sample(sample, image_size)
        return out

    def decode(self, target: np.ndarray, image_size: tuple[int, int] | None = None, *,
               threshold: float = 0.5) -> Decoded:
        """One image's (H, W) class map → ``Decoded(class_map=...)``; scores (H, W, C) give their argmax.

        Unpacks as ``(class_map,)``.
        """
        target = np.asarray(target)
        class_map = np.argmax(target, axis=-1).astype(np.int32) if target.ndim == 3 else target.astype(np.int32)
        return Decoded(class_map=class_map, legacy=(class_map,))

    def __repr__(self) -> str:
        extra = f", image_size={self.image_size}" if self.image_size else ""
        if self.label_offset:
            extra += f", label_offset={self.label_offset}"
        return (f"SemanticMaskEncoder(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
                f"background={self.background}, crowd_to_ignore={self.crowd_to_ignore}{extra}) -> {self.output_shape}")


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """The boxes of (N, H, W) bool masks, COCO's convention: x_max is the last column + 1.

    Returns:
        (N, 4) float32 XYXY pixels; an empty mask gives (0, 0, 0, 0).
    """
    masks = np.asarray(masks).astype(bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
    cols, rows = masks.any(axis=1), masks.any(axis=2)  # (N, W), (N, H)
    w, h = masks.shape[2], masks.shape[1]
    x0 = np.argmax(cols, axis=1)
    x1 = w - np.argmax(cols[:, ::-1], axis=1)
    y0 = np.argmax(rows, axis=1)
    y1 = h - np.argmax(rows[:, ::-1], axis=1)
    boxes = np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)
    boxes[~cols.any(axis=1)] = 0
    return boxes


def encode_instance_masks(
    masks: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    image_size: tuple[int, int],
    max_instances: int,
    mask_dtype: type | np.dtype = np.uint8,
    overflow: str = "first",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Pad a batch of instance mask sets to a fixed count (vectorised over the batch).

    Args:
        masks: B arrays of (N_i, H, W) bool masks at ``image_size``.
        labels: B arrays of (N_i,) int class ids.
        image_size: (H, W).
        max_instances: M, the rows per image.
        mask_dtype: dtype of the output masks (uint8, bool or float32).
        overflow: "first" (in the sample's order) or "largest" (by mask area) when an image has
            more than M instances; kept instances stay in the sample's order.

    Returns:
        ``masks`` (B, M, H, W) of ``mask_dtype``, ``valid`` (B, M) bool, ``classes`` (B, M) int32
        (-1 for padding), and the number of instances left out.
    """
    if max_instances < 1:
        raise ValueError(f"max_instances must be >= 1, got {max_instances}")
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
    h, w = int(image_size[0]), int(image_size[1])
    batch = len(masks)
    out_masks = np.zeros((batch, max_instances, h, w), mask_dtype)
    valid = np.zeros((batch, max_instances), bool)
    classes = np.full((batch, max_instances), -1, np.int32)
    mask_list = [np.asarray(m).reshape(-1, h, w) for m in masks]
    label_list = [np.asarray(x, np.int64).reshape(-1) for x in labels]
    counts = [len(m) for m in mask_list]
    for i, (m, lab) in enumerate(zip(mask_list, label_list)):
        if len(m) != len(lab):
            raise EncodingError(f"sample {i} of the batch has {len(m)} masks but {len(lab)} labels")
    total = sum(counts)
    if total == 0:
        return out_masks, valid, classes, 0
    flat_masks = np.concatenate(mask_list)
    scores = (flat_masks != 0).sum(axis=(1, 2)) if overflow == "largest" else None
    kept, owner, slot = select_slots(counts, max_instances, scores)
    out_masks[owner, slot] = flat_masks[kept] != 0
    valid[owner, slot] = True
    classes[owner, slot] = np.concatenate(label_list)[kept]
    return out_masks, valid, classes, total - len(kept)


class InstanceMaskEncoder(TargetEncoder):
    """Instance masks padded to M: ``{"masks": (M, H, W), "valid": (M,) bool, "classes": (M,) int32}``.

    Row i holds instance i of the sample (the first M, or the M largest with
    ``overflow="largest"``; the others are counted in ``stats["boxes_not_encoded"]``); unused rows
    are all-zero masks, ``valid`` False and class -1. ``sample.masks`` must be the rendered
    (N, H, W) masks at the output size (see the module docstring).

    Args:
        max_instances: M, the rows per image.
        image_size: (H, W) of the model input, for a fixed ``output_shape`` (else None, None);
            checked at encode time when given.
        mask_dtype: np.uint8 (default), bool or np.float32.
        overflow: "first" or "largest" (by mask area).

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> from seqloaders.encoders import InstanceMaskEncoder
        >>> m = np.zeros((1, 4, 4), bool); m[0, 1:3, 1:4] = True
        >>> s = sl.Sample("a.jpg", boxes=[[1, 1, 4, 3]], labels=[5], masks=m)
        >>> enc = InstanceMaskEncoder(max_instances=2, image_size=(4, 4))
        >>> y = enc.encode_sample(s, (4, 4))
        >>> y["masks"].shape, y["valid"].tolist(), y["classes"].tolist()
        ((2, 4, 4), [True, False], [5, -1])
        >>> enc.decode(y)[0].tolist()
        [[1.0, 1.0, 4.0, 3.0]]
    """

    needs_masks = True

    def __init__(
        self,
        max_instances: int,
        *,
        image_size: tuple[int, int] | None = None,
        mask_dtype: type | np.dtype = np.uint8,
        overflow: str = "first",
    ):
        if int(max_instances) < 1:
            raise ValueError(f"max_instances must be >= 1, got {max_instances}")
        if np.dtype(mask_dtype) not in (np.dtype(np.uint8), np.dtype(bool), np.dtype(np.float32)):
            raise ValueError(f"mask_dtype must be uint8, bool or float32, got {np.dtype(mask_dtype)}")
        if overflow not in OVERFLOWS:
            raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
        self.max_instances = int(max_instances)
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        self.mask_dtype = np.dtype(mask_dtype)
        self.overflow = overflow
        hw = self.image_size if self.image_size is not None else (None, None)
        self.output_shape = {"masks": (self.max_instances, *hw), "valid": (self.max_instances,),
                             "classes": (self.max_instances,)}
        self.dtype = {"masks": self.mask_dtype.type, "valid": np.bool_, "classes": np.int32}

    def _encode(self, samples: Sequence[Sample], image_size: tuple[int, int]):
        if self.image_size is not None and tuple(image_size) != self.image_size:
            raise EncodingError(f"InstanceMaskEncoder was built for image_size={self.image_size} but is asked to "
                                f"encode samples of size {tuple(image_size)}")
        masks = [_sample_masks(s, image_size, "InstanceMaskEncoder") for s in samples]
        return encode_instance_masks(masks, [s.labels for s in samples], image_size, self.max_instances,
                                     self.mask_dtype, self.overflow)

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> dict[str, np.ndarray]:
        """Encode one sample to ``{"masks": (M, H, W), "valid": (M,), "classes": (M,)}``."""
        masks, valid, classes, _ = self._encode([sample], image_size)
        return {"masks": masks[0], "valid": valid[0], "classes": classes[0]}

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> dict[str, np.ndarray]:
        """Encode a batch to ``{"masks": (B, M, H, W), "valid": (B, M), "classes": (B, M)}``."""
        masks, valid, classes, dropped = self._encode(samples, image_size)
        if stats is not None:
            stats["boxes_not_encoded"] = stats.get("boxes_not_encoded", 0) + dropped
        return {"masks": masks, "valid": valid, "classes": classes}

    def decode(self, target: dict[str, np.ndarray], image_size: tuple[int, int] | None = None, *,
               threshold: float = 0.5) -> Decoded:
        """One image's target → the valid rows' boxes, masks and labels.

        ``boxes`` (K, 4) float32 XYXY pixels derived from the masks (x_max is the last column + 1),
        ``masks`` (K, H, W) bool (a model's mask probabilities count from ``threshold``) and
        ``labels`` (K,) int64; unpacks as ``(boxes, masks, labels)``. ``image_size`` is the masks' own.
        """
        valid = np.asarray(target["valid"]) >= threshold
        raw = np.asarray(target["masks"])[valid]
        masks = raw >= threshold if np.issubdtype(raw.dtype, np.floating) else raw != 0
        boxes, labels = masks_to_boxes(masks), np.asarray(target["classes"])[valid].astype(np.int64)
        return Decoded(boxes=boxes, labels=labels, masks=masks, legacy=(boxes, masks, labels))

    def __repr__(self) -> str:
        size = f", image_size={self.image_size}" if self.image_size else ""
        return (f"InstanceMaskEncoder(max_instances={self.max_instances}{size}, mask_dtype={self.mask_dtype.name}, "
                f"overflow={self.overflow!r}) -> {self.output_shape}")

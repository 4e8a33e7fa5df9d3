"""The TF Object Detection API's ``tf.train.Example`` layout, to and from :class:`Sample`.

The keys are those of the Object Detection API's ``TfExampleDecoder`` (see ``docs/tfrecord.md``
for the full table). Boxes and keypoints are stored normalised by the image width and height;
seqloaders attributes go under ``image/object/attr/<name>``. Class ids are stored 1-based as
the API expects (0 is its background): ``label_offset=1`` is added on writing and subtracted on
reading, so :attr:`Sample.labels` stay 0-based.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError, RecordError
from ..imageio import decode_mask
from ..records import Sample
from .example import decode_example, encode_example

__all__ = [
    "ATTRIBUTE_PREFIX",
    "STANDARD_ATTRIBUTES",
    "PngMasks",
    "decode_sample",
    "denormalise",
    "encode_sample",
    "features_to_sample",
    "normalise",
    "sample_to_features",
]

#: Prefix of the per-object attributes that have no standard key (WIDER FACE blur, ...).
ATTRIBUTE_PREFIX = "image/object/attr/"
#: seqloaders extension: K keypoints per object, so that an image with 0 objects keeps its K.
KEYPOINTS_PER_OBJECT = "image/object/keypoint/per_object"
#: seqloaders extension: exact XYXY pixel boxes (N*4 floats), written only for the images whose
#: normalised float32 boxes do not give the original pixels back bit for bit.
PIXEL_BOXES = "image/object/bbox/pixels"
#: seqloaders extension: exact keypoint x, y pixels (N*K*2 floats), written on the same condition.
PIXEL_KEYPOINTS = "image/object/keypoint/pixels"
#: Standard per-object keys ↔ the attribute names that fill them (first name used on reading).
STANDARD_ATTRIBUTES = {
    "image/object/area": ("area",),
    "image/object/is_crowd": ("iscrowd", "is_crowd"),
    "image/object/difficult": ("difficult",),
}
_BOX_KEYS = ("image/object/bbox/xmin", "image/object/bbox/ymin", "image/object/bbox/xmax", "image/object/bbox/ymax")


def normalise(values: np.ndarray, scale: float) -> np.ndarray:
    """``values / scale`` as float32, chosen so that :func:`denormalise` gives ``values`` back exactly.

    Plain ``float32(x / W)`` loses the last bit of ``x`` for a few percent of coordinates.
    Among the float32 neighbours of ``x / W`` this picks one whose ``float32(float64(n) * W)``
    is ``x`` where one exists (always for integer pixels on most image widths). Where none
    exists, the writer also stores the exact pixels (:data:`PIXEL_BOXES`).

    Args:
        values: float32 coordinates in pixels, any shape.
        scale: the image width (for x) or height (for y).

    Returns:
        float32 array of the same shape.
    """
    shape = np.shape(values)
    values = np.asarray(values, np.float32).ravel()
    exact = values.astype(np.float64) / scale
    best = exact.astype(np.float32)
    found = denormalise(best, scale) == values
    if found.all():
        return best.reshape(shape)
    best = best.copy()
    for steps in (1, -1, 2, -2, 3, -3, 4, -4):
        todo = ~found
        if not todo.any():
            break
        cand = best[todo]
        direction = np.float32(np.inf if steps > 0 else -np.inf)
        for _ in range(abs(steps)):
            cand = np.nextafter(cand, direction)
        ok = denormalise(cand, scale) == values[todo]
        idx = np.flatnonzero(todo)[ok]
        best[idx] = cand[ok]
        found[idx] = True
    return best.reshape(shape)


def denormalise(values: np.ndarray, scale: float) -> np.ndarray:
    """Normalised float32 coordinates back to float32 pixels: ``float32(float64(n) * scale)``."""
    return (np.asarray(values, np.float32).astype(np.float64) * scale).astype(np.float32)


class PngMasks:
    """Instance masks kept as one PNG per object, decoded only when asked for.

    It follows the library's mask-source protocol (``len``, ``select``, ``decode``,
    ``image_size``), so ``Sample.select`` keeps it aligned with the boxes and the mask encoders
    render it like any other mask source.

    Args:
        pngs: one encoded PNG (H, W, non-zero = object) per object.
        image_size: (H, W) of the image the masks belong to.

    Example:
        >>> ok, png = cv2.imencode(".png", np.eye(3, dtype=np.uint8))
        >>> masks = PngMasks([png.tobytes()], (3, 3))
        >>> masks[0].dtype, masks.decode().shape
        (dtype('bool'), (1, 3, 3))
    """

    def __init__(self, pngs: Sequence[bytes], image_size: tuple[int, int]):
        self.pngs = list(pngs)
        self.image_size = (int(image_size[0]), int(image_size[1]))

    def __len__(self) -> int:
        return len(self.pngs)

    def __getitem__(self, index: int) -> np.ndarray:
        """Mask ``index`` as (H, W) bool."""
        try:
            mask = decode_mask(self.pngs[index])
        except ImageError:
            raise ImageError(f"mask {index} is not a readable PNG") from None
        if mask.shape != self.image_size:
            raise ImageError(f"mask {index} is {mask.shape[0]}x{mask.shape[1]}, the image "
                             f"{self.image_size[0]}x{self.image_size[1]}")
        return mask

    def decode(self) -> np.ndarray:
        """(N, H, W) bool, one mask per object."""
        if not self.pngs:
            return np.zeros((0, *self.image_size), bool)
        return np.stack([self[k] for k in range(len(self))])

    to_array = decode

    def select(self, keep: np.ndarray) -> PngMasks:
        """The masks selected by ``keep`` (bool mask or indices), as :meth:`Sample.select` needs."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return PngMasks([self.pngs[int(i)] for i in idx], self.image_size)

    def __repr__(self) -> str:
        return f"PngMasks({len(self)} objects, image_size={self.image_size})"


def _mask_pngs(masks: Any, num_boxes: int, image_size: tuple[int, int]) -> list[bytes]:
    """One PNG (uint8 0/1, as the Object Detection API writes) per object."""
    if isinstance(masks, PngMasks):
        pngs = masks.pngs
    else:
        if not isinstance(masks, (np.ndarray, list, tuple)) and hasattr(masks, "decode"):
            masks = masks.decode()  # a mask source (polygons, RLE, mask files, ArrayMasks): render it once
        if isinstance(masks, np.ndarray) and masks.ndim == 2 and num_boxes == 1:
            masks = masks[None]
        if not isinstance(masks, (np.ndarray, list, tuple)):
            raise TypeError(f"masks of type {type(masks).__name__} cannot be written; give a list of (H, W) "
                            "bool arrays, an (N, H, W) array, or a mask source with decode()")
        pngs = []
        for k, mask in enumerate(masks):
            mask = np.asarray(mask)
            if mask.shape != tuple(image_size):
                raise ValueError(f"mask {k} has shape {mask.shape}, expected the image size {tuple(image_size)}")
            ok, png = cv2.imencode(".png", (mask > 0).astype(np.uint8))
            if not ok:  # pragma: no cover
                raise ImageError(f"OpenCV could not encode mask {k} as PNG")
            pngs.append(png.tobytes())
    if len(pngs) != num_boxes:
        raise ValueError(f"{len(pngs)} masks for {num_boxes} boxes; give one mask per box")
    return pngs


def sample_to_features(
    sample: Sample,
    encoded: bytes,
    image_format: str,
    image_size: tuple[int, int],
    *,
    label_offset: int = 1,
    class_names: Sequence[str] = (),
) -> dict[str, Any]:
    """The features of one Example for ``sample`` and its encoded image.

    Args:
        sample: boxes (N, 4) float32 XYXY pixels of the image as ``encoded`` holds it.
        encoded: the JPEG or PNG bytes.
        image_format: "jpeg" or "png".
        image_size: (H, W) of ``encoded``.
        label_offset: added to the 0-based labels (1: the Object Detection API's 1-based ids).
        class_names: names for ``image/object/class/text`` (written when every label has one).

    Returns:
        name → value, ready for :func:`~seqloaders.tfrecord.example.encode_example`.

    Raises:
        ValueError: keypoint visibility that is not an integer, masks that do not match.
        TypeError: an attribute or mask of a type the schema cannot hold.
    """
    h, w = image_size
    n = sample.num_boxes
    filename = str(sample.meta.get("filename", sample.image))
    features: dict[str, Any] = {
        "image/encoded": encoded,
        "image/format": image_format,
        "image/height": np.array([h], np.int64),
        "image/width": np.array([w], np.int64),
        "image/filename": filename,
        "image/source_id": str(sample.meta.get("source_id", sample.meta.get("image_id", filename))),
        "image/key/sha256": hashlib.sha256(encoded).hexdigest(),
    }
    if n:
        boxes = sample.boxes
        scales = (w, h, w, h)
        exact = True
        for col, (key, scale) in enumerate(zip(_BOX_KEYS, scales)):
            norm = normalise(boxes[:, col], scale)
            exact = exact and bool(np.array_equal(denormalise(norm, scale), boxes[:, col]))
            features[key] = norm
        if not exact:
            features[PIXEL_BOXES] = boxes
        features["image/object/class/label"] = sample.labels + label_offset
        if class_names and (sample.labels >= 0).all() and (sample.labels < len(class_names)).all():
            features["image/object/class/text"] = [class_names[int(i)] for i in sample.labels]
        for key, names in STANDARD_ATTRIBUTES.items():
            for name in names:
                if name in sample.attributes:
                    features[key] = _attribute_array(sample.attributes[name], name)
                    break
        if sample.masks is not None:
            features["image/object/mask"] = _mask_pngs(sample.masks, n, image_size)
    for name, values in sample.attributes.items():  # also for N = 0, so the attribute names come back
        features[ATTRIBUTE_PREFIX + name] = _attribute_array(values, name)
    if sample.keypoints is not None:
        kp = sample.keypoints
        features[KEYPOINTS_PER_OBJECT] = np.array([kp.shape[1]], np.int64)
        if n and kp.shape[1]:
            vis = kp[..., 2]
            if not (np.isfinite(vis).all() and (vis == np.round(vis)).all()):
                raise ValueError("keypoint visibility must be an integer (0, 1, 2) to fit "
                                 "image/object/keypoint/visibility; round it first")
            kx, ky = normalise(kp[..., 0], w), normalise(kp[..., 1], h)
            features["image/object/keypoint/x"] = kx
            features["image/object/keypoint/y"] = ky
            features["image/object/keypoint/visibility"] = vis.astype(np.int64)
            if not (np.array_equal(denormalise(kx, w), kp[..., 0], equal_nan=True)
                    and np.array_equal(denormalise(ky, h), kp[..., 1], equal_nan=True)):
                features[PIXEL_KEYPOINTS] = kp[..., :2]
    meta = sample.meta
    image_labels = [meta["label"]] if meta.get("label") is not None else meta.get("image_labels")
    if image_labels is not None and len(image_labels):
        image_labels = np.asarray(image_labels, np.int64)
        features["image/class/label"] = image_labels + label_offset
        texts = [meta["class_name"]] if meta.get("class_name") is not None else meta.get("image_texts")
        if not texts and class_names and ((image_labels >= 0) & (image_labels < len(class_names))).all():
            texts = [class_names[int(i)] for i in image_labels]
        if texts:
            features["image/class/text"] = [str(t) for t in texts]
    return features


def _attribute_array(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise TypeError(f"attribute {name!r} has shape {arr.shape}; only one value per box (N,) can be stored")
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    if arr.dtype.kind in "SU" or arr.dtype == object:
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in arr.tolist()], dtype=object)
    raise TypeError(f"attribute {name!r} of dtype {arr.dtype} cannot be stored; use int, float, bool or str")


def features_to_sample(
    features: Mapping[str, Any],
    key: str,
    *,
    label_offset: int = 1,
    path: str | None = None,
    record: int | None = None,
) -> Sample:
    """A :class:`Sample` from a decoded Example in the Object Detection API layout.

    Args:
        features: from :func:`~seqloaders.tfrecord.example.decode_example`.
        key: the sample's ``image`` (a storage key such as ``"<shard>#<record>"``).
        label_offset: subtracted from ``image/object/class/label``.
        path, record: where the Example came from, for error messages.

    Returns:
        The sample; ``meta`` holds ``filename``, ``source_id``, ``format``, ``class_texts``
        (when stored), and the image-level class when stored: ``label`` and ``class_name``
        for one (as the classification readers and encoders use), ``image_labels`` and
        ``image_texts`` for several.

    Raises:
        RecordError: a required key is missing or the per-object lists disagree in length.
    """
    def fail(message: str) -> RecordError:
        return RecordError(message, path, record)

    try:
        h = int(features["image/height"][0])
        w = int(features["image/width"][0])
    except (KeyError, IndexError, TypeError):
        raise fail("missing image/height or image/width; the Object Detection API layout needs both") from None
    if h <= 0 or w <= 0:
        raise fail(f"image/height and image/width must be positive, got {h}x{w}")
    columns = [features.get(k) for k in _BOX_KEYS]
    n = 0 if columns[0] is None else len(columns[0])
    if any((0 if c is None else len(c)) != n for c in columns):
        lengths = {k: (0 if c is None else len(c)) for k, c in zip(_BOX_KEYS, columns)}
        raise fail(f"box coordinate lists differ in length: {lengths}")
    if n:
        normalised = np.stack([np.asarray(c, np.float32) for c in columns], axis=1)
        boxes = (normalised.astype(np.float64) * np.array([w, h, w, h], np.float64)).astype(np.float32)
        pixels = features.get(PIXEL_BOXES)
        if pixels is not None and len(pixels) == 4 * n:
            boxes = np.asarray(pixels, np.float32).reshape(n, 4)
    else:
        boxes = np.zeros((0, 4), np.float32)
    labels = np.zeros(0, np.int64)
    if n:
        stored = features.get("image/object/class/label")
        if stored is None or not isinstance(stored, np.ndarray) or len(stored) == 0:
            raise fail("image/object/class/label is missing but there are boxes")
        if len(stored) != n:
            raise fail(f"{len(stored)} labels in image/object/class/label for {n} boxes")
        labels = stored.astype(np.int64) - label_offset
    attributes: dict[str, np.ndarray] = {}
    for name, value in features.items():
        if name.startswith(ATTRIBUTE_PREFIX):
            attributes[name[len(ATTRIBUTE_PREFIX):]] = _attribute_from_feature(value)
    for std_key, names in STANDARD_ATTRIBUTES.items():
        if std_key in features and not any(a in attributes for a in names) and len(features[std_key]):
            attributes[names[0]] = _attribute_from_feature(features[std_key])
    for name, value in attributes.items():
        if len(value) != n:
            raise fail(f"attribute {name!r} has {len(value)} values for {n} boxes")
    keypoints = None
    kx = features.get("image/object/keypoint/x")
    per_object = features.get(KEYPOINTS_PER_OBJECT)
    num_kp = int(per_object[0]) if per_object is not None and len(per_object) else None
    if kx is not None and len(kx) and n:
        if num_kp is None:
            num_kp = len(kx) // n
        ky = features.get("image/object/keypoint/y")
        vis = features.get("image/object/keypoint/visibility")
        if len(kx) != n * num_kp or ky is None or len(ky) != len(kx):
            raise fail(f"{len(kx)} keypoint x values and {0 if ky is None else len(ky)} y values do not make "
                       f"{n} objects of {num_kp} keypoints")
        if vis is None or len(vis) == 0:
            vis = np.full(len(kx), 2, np.int64)  # the API's default: all visible
        elif len(vis) != len(kx):
            raise fail(f"{len(vis)} keypoint visibilities for {len(kx)} keypoints")
        keypoints = np.stack([denormalise(kx, w), denormalise(ky, h), np.asarray(vis, np.float32)],
                             axis=-1).reshape(n, num_kp, 3)
        pixels = features.get(PIXEL_KEYPOINTS)
        if pixels is not None and len(pixels) == 2 * len(kx):
            keypoints[..., :2] = np.asarray(pixels, np.float32).reshape(n, num_kp, 2)
    elif num_kp is not None:
        keypoints = np.zeros((n, num_kp, 3), np.float32)
        if n and num_kp:
            raise fail(f"{KEYPOINTS_PER_OBJECT} says {num_kp} keypoints per object but none are stored")
    masks = None
    mask_value = features.get("image/object/mask")
    if isinstance(mask_value, list) and mask_value:
        if len(mask_value) != n:
            raise fail(f"{len(mask_value)} masks for {n} boxes")
        masks = PngMasks(mask_value, (h, w))
    elif isinstance(mask_value, np.ndarray) and mask_value.size:  # the API's other layout: N*H*W floats
        if mask_value.size != n * h * w:
            raise fail(f"image/object/mask holds {mask_value.size} values, expected {n}x{h}x{w}")
        masks = list(mask_value.reshape(n, h, w) > 0.5)
    meta: dict[str, Any] = {}
    for feature_key, meta_key in (("image/filename", "filename"), ("image/source_id", "source_id"),
                                  ("image/format", "format")):
        value = features.get(feature_key)
        if value:
            meta[meta_key] = value[0].decode("utf-8", "replace")
    texts = features.get("image/object/class/text")
    if texts and len(texts) == n:
        meta["class_texts"] = [t.decode("utf-8", "replace") for t in texts]
    image_labels = features.get("image/class/label")
    if isinstance(image_labels, np.ndarray) and len(image_labels):
        values = (image_labels.astype(np.int64) - label_offset).tolist()
        if len(values) == 1:
            meta["label"] = values[0]
        else:
            meta["image_labels"] = values
    image_texts = features.get("image/class/text")
    if image_texts:
        texts = [t.decode("utf-8", "replace") for t in image_texts]
        if len(texts) == 1:
            meta["class_name"] = texts[0]
        else:
            meta["image_texts"] = texts
    return Sample.unchecked(image=key, boxes=boxes, labels=labels, image_size=(h, w), attributes=attributes,
                           keypoints=keypoints, masks=masks, meta=meta)


def _attribute_from_feature(value: Any) -> np.ndarray:
    if isinstance(value, list):  # bytes_list
        return np.array([v.decode("utf-8", "replace") for v in value], dtype=object) if value \
            else np.zeros(0, np.int64)
    return np.asarray(value)


def encode_sample(sample: Sample, encoded: bytes, image_format: str, image_size: tuple[int, int],
                  **options: Any) -> bytes:
    """The serialised Example for ``sample`` (see :func:`sample_to_features` for ``options``)."""
    return encode_example(sample_to_features(sample, encoded, image_format, image_size, **options))


def decode_sample(data: bytes, key: str, *, path: str | None = None, record: int | None = None,
                  label_offset: int = 1) -> tuple[Sample, bytes]:
    """Parse a serialised Example into its sample and its encoded image bytes.

    Raises:
        RecordError: the data is not an Example, or lacks ``image/encoded``.
    """
    try:
        features = decode_example(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise RecordError(f"not a tf.train.Example ({type(exc).__name__}: {exc})", path, record) from None
    encoded = features.get("image/encoded")
    if not encoded:
        raise RecordError("no image/encoded bytes in the Example", path, record)
    sample = features_to_sample(features, key, label_offset=label_offset, path=path, record=record)
    return sample, encoded[0]


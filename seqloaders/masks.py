"""Instance masks kept lazily on a :class:`~seqloaders.Sample`, rendered only when a batch needs them.

A reader never rasterises masks. It stores a *mask source* in ``Sample.masks``, one entry per
box, and :func:`decode_masks` turns it into an (N, H, W) bool array on demand:

- :class:`SegmentationMasks`: COCO-style segmentations (polygons with one or several parts,
  compressed RLE, uncompressed RLE) in pixels of the source image. Polygons are rasterised with
  the official COCO API (``pycocotools``), exactly as ``COCO.annToMask`` does, so masks agree
  with it pixel for pixel. YOLO segment polygons use the same type.
- :class:`MaskFiles`: one image file per object (Kaggle DSB 2018 ``masks/*.png``); a pixel belongs
  to the object when it is non-zero (8-bit, 16-bit, grey, RGB or RGBA files).

Both are small, picklable and support ``len`` and ``select(keep)``, so ``Sample.select`` keeps
masks aligned with boxes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .records import ArrayMasks, Sample

__all__ = [
    "ArrayMasks",
    "MaskFiles",
    "MaskSource",
    "SegmentationMasks",
    "box_polygon",
    "decode_masks",
    "encode_rle",
    "mask_boxes",
    "read_mask_file",
    "rle_counts_from_string",
]

_PYCOCOTOOLS_HINT = (
    "decoding polygon and RLE masks needs pycocotools; install it with "
    "`pip install 'seqloaders[masks]'` (or `pip install pycocotools`)")


def _mask_api() -> Any:
    """``pycocotools.mask``, imported on first use with an error that names the extra to install."""
    try:
        from pycocotools import mask as mask_api
    except ImportError as exc:  # pragma: no cover - pycocotools is installed in the test env
        raise ImportError(_PYCOCOTOOLS_HINT) from exc
    return mask_api


@runtime_checkable
class MaskSource(Protocol):
    """What ``Sample.masks`` holds: one lazy mask per box.

    A minimal implementation (every object covers its whole image)::

        class FullMasks:
            def __init__(self, n, image_size):
                self.n, self.image_size = n, image_size
            def __len__(self):
                return self.n
            def select(self, keep):
                return FullMasks(len(np.arange(self.n)[keep]), self.image_size)
            def decode(self):
                return np.ones((self.n, *self.image_size), bool)
    """

    image_size: tuple[int, int]

    def __len__(self) -> int: ...

    def select(self, keep: np.ndarray) -> MaskSource: ...

    def decode(self) -> np.ndarray: ...


def _indices(keep: np.ndarray, n: int) -> np.ndarray:
    keep = np.asarray(keep)
    if keep.dtype == bool:
        if keep.shape != (n,):
            raise ValueError(f"a boolean selection must have {n} entries, got shape {keep.shape}")
        return np.flatnonzero(keep)
    return np.arange(n)[keep].reshape(-1)


class SegmentationMasks:
    """COCO-style segmentations of the N objects of one image, decoded with pycocotools.

    Each entry is one of:

    - ``("polygon", [part, ...])``: one or several parts, each a float64 array
      ``[x1, y1, x2, y2, ...]`` of at least 3 points, in pixels of the source image;
    - ``("rle", {"size": [H, W], "counts": bytes})``: COCO compressed RLE;
    - ``("urle", {"size": [H, W], "counts": array of run lengths})``: uncompressed RLE
      (column-major runs, starting with background).

    An object without segmentation is stored as the polygon of its box.

    Args:
        entries: one ``(kind, data)`` pair per object.
        image_size: (H, W) of the source image.

    Example:
        >>> m = SegmentationMasks([("polygon", [np.array([0., 0., 4., 0., 4., 4.])])], (5, 6))
        >>> decode_masks(m).shape                                    # doctest: +SKIP
        (1, 5, 6)
    """

    __slots__ = ("entries", "image_size")

    KINDS = ("polygon", "rle", "urle")

    def __init__(self, entries: Sequence[tuple[str, Any]], image_size: tuple[int, int]):
        entries = tuple(entries)
        unknown = {kind for kind, _ in entries}.difference(self.KINDS)
        if unknown:
            raise ValueError(f"unknown segmentation kind {sorted(unknown)[0]!r}; expected one of "
                             f"{', '.join(self.KINDS)}")
        self.entries = entries
        self.image_size = (int(image_size[0]), int(image_size[1]))

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        kinds = sorted({k for k, _ in self.entries})
        return f"SegmentationMasks({len(self)} objects, image_size={self.image_size}, kinds={kinds})"

    def __getstate__(self) -> tuple:
        return self.entries, self.image_size

    def __setstate__(self, state: tuple) -> None:
        self.entries, self.image_size = state

    def select(self, keep: np.ndarray) -> SegmentationMasks:
        """The masks of the selected objects (bool mask or indices), in order."""
        return SegmentationMasks([self.entries[i] for i in _indices(keep, len(self))], self.image_size)

    def to_rles(self) -> list[dict]:
        """One pycocotools RLE per object, built exactly as ``COCO.annToRLE`` builds it."""
        mask_api = _mask_api()
        h, w = self.image_size
        rles = []
        for kind, data in self.entries:
            if kind == "polygon":
                rles.append(mask_api.merge(mask_api.frPyObjects(list(data), h, w)))
            elif kind == "urle":
                rles.append(mask_api.frPyObjects(data, h, w))
            else:
                rles.append(data)
        return rles

    def decode(self) -> np.ndarray:
        """(N, H, W) bool masks in pixels of the source image.

        Polygons are rasterised by pycocotools (``frPyObjects`` + ``merge``, as
        ``COCO.annToRLE``); RLE runs are expanded here, which is exact, needs no pycocotools for
        RLE-only data and avoids the DeprecationWarning ``pycocotools.mask.decode`` raises under
        NumPy 2.
        """
        h, w = self.image_size
        out = np.zeros((len(self.entries), h, w), bool)
        if not self.entries:
            return out
        mask_api = _mask_api() if any(kind == "polygon" for kind, _ in self.entries) else None
        for k, (kind, data) in enumerate(self.entries):
            if kind == "polygon":
                data = mask_api.merge(mask_api.frPyObjects(list(data), h, w))
            out[k] = _rle_to_mask(data)
        return out


class MaskFiles:
    """One mask image file per object (Kaggle DSB 2018 layout), read only when decoded.

    Args:
        paths: one file per object; a pixel is in the object when it is non-zero (for RGBA files:
            a colour channel is non-zero and alpha is non-zero).
        image_size: (H, W) of the source image; every file must have this size.

    Example:
        >>> m = MaskFiles(["masks/a.png", "masks/b.png"], (256, 320))
        >>> len(m)
        2
    """

    __slots__ = ("image_size", "paths")

    def __init__(self, paths: Sequence[str | os.PathLike], image_size: tuple[int, int]):
        self.paths = tuple(os.fspath(p) for p in paths)
        self.image_size = (int(image_size[0]), int(image_size[1]))

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"MaskFiles({len(self)} files, image_size={self.image_size})"

    def __getstate__(self) -> tuple:
        return self.paths, self.image_size

    def __setstate__(self, state: tuple) -> None:
        self.paths, self.image_size = state

    def select(self, keep: np.ndarray) -> MaskFiles:
        """The files of the selected objects (bool mask or indices), in order."""
        return MaskFiles([self.paths[i] for i in _indices(keep, len(self))], self.image_size)

    def decode(self) -> np.ndarray:
        """(N, H, W) bool masks, read from the files.

        Raises:
            FileNotFoundError: a mask file is missing.
            ValueError: a file cannot be decoded or its size is not ``image_size``.
        """
        h, w = self.image_size
        out = np.zeros((len(self.paths), h, w), bool)
        for k, path in enumerate(self.paths):
            mask = read_mask_file(path)
            if mask.shape != (h, w):
                raise ValueError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
                                 f"{w}x{h}; every mask must have the size of its image")
            out[k] = mask
        return out


def read_mask_file(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Read one mask image (a path or an fsspec URL) as (H, W) bool: non-zero pixels are the object.

    8-bit and 16-bit, grey, RGB and RGBA files are accepted; for RGBA, a pixel is in the mask
    when one of its colour channels is non-zero and its alpha is non-zero.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a decodable image.

    Example:
        >>> read_mask_file("masks/0a7d30b2.png").shape                   # doctest: +SKIP
        (256, 320)
    """
    from .imageio import decode_mask  # OpenCV is only needed when masks are actually read
    from .storage import files

    path = os.fspath(path)
    return decode_mask(files.read_bytes(path, storage_options), path=path)


def box_polygon(box: Sequence[float] | np.ndarray) -> np.ndarray:
    """The polygon of an XYXY box as pycocotools draws it (``frBbox``): for objects with a box and no
    segmentation, so that their mask is the box.

    Example:
        >>> box_polygon([1, 2, 5, 4]).tolist()
        [1.0, 2.0, 1.0, 4.0, 5.0, 4.0, 5.0, 2.0]
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array([x0, y0, x0, y1, x1, y1, x1, y0], np.float64)


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """Boxes covering (N, H, W) bool masks, COCO's convention: x_max is the last column + 1.

    Args:
        masks: (N, H, W) bool.

    Returns:
        (N, 4) float32 XYXY pixels; an empty mask gives an all-zero box.

    Example:
        >>> m = np.zeros((1, 4, 5), bool); m[0, 1:3, 2] = True
        >>> mask_boxes(m).tolist()
        [[2.0, 1.0, 3.0, 3.0]]
    """
    masks = np.asarray(masks, bool)
    boxes = np.zeros((len(masks), 4), np.float32)
    for k, mask in enumerate(masks):
        cols = np.flatnonzero(mask.any(axis=0))
        rows = np.flatnonzero(mask.any(axis=1))
        if cols.size:
            boxes[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def encode_rle(mask: np.ndarray, compressed: bool = True) -> dict:
    """Encode one (H, W) bool mask as COCO RLE, without pycocotools.

    Args:
        mask: (H, W) bool.
        compressed: True for the compressed string form (``counts`` a str), False for the
            uncompressed form (``counts`` a list of run lengths).

    Returns:
        ``{"size": [H, W], "counts": ...}``: runs over the column-major pixels, starting with
        background.

    Example:
        >>> encode_rle(np.array([[0, 1], [1, 1]], bool), compressed=False)
        {'size': [2, 2], 'counts': [1, 3]}
    """
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    flat = mask.reshape(-1, order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    if not compressed:
        return {"size": [h, w], "counts": [int(c) for c in counts]}
    chars = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return {"size": [h, w], "counts": "".join(chars)}


def rle_counts_from_string(counts: str | bytes) -> list[int]:
    """Run lengths of a COCO compressed RLE string (inverse of :func:`encode_rle`).

    Raises:
        ValueError: the string is not a valid compressed RLE (a character out of range or a
            truncated run).

    Example:
        >>> rle_counts_from_string(encode_rle(np.eye(3, dtype=bool))["counts"])
        [0, 1, 3, 1, 3, 1]
    """
    data = counts.encode("ascii", "replace") if isinstance(counts, str) else bytes(counts)
    out: list[int] = []
    p, n = 0, len(data)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                raise ValueError("truncated compressed RLE: the last run is incomplete")
            c = data[p] - 48
            if not 0 <= c < 64:
                raise ValueError(f"invalid character {chr(data[p])!r} in compressed RLE at position {p}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def _rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Expand a COCO RLE (compressed or not) into an (H, W) bool mask."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    runs = np.asarray(rle_counts_from_string(counts) if isinstance(counts, (str, bytes)) else counts, np.int64)
    if runs.sum() != h * w:
        raise ValueError(f"RLE runs cover {int(runs.sum())} pixels but the mask has {h}x{w} = {h * w}")
    values = np.zeros(len(runs), bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape(w, h).T


def decode_masks(sample: Sample | MaskSource, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Render the masks of a sample: (N, H, W) bool, in pixels of the source image.

    Polygons and RLE are rendered with pycocotools (imported on first use), mask files are read
    from disk. Nothing is cached: call it where the batch is built.

    Args:
        sample: a :class:`Sample` whose ``masks`` is a mask source (or an already rendered
            (N, H, W) array, returned as bool), or a mask source itself.
        image_size: (H, W) used when the sample has no boxes and no mask source.

    Returns:
        (N, H, W) bool, one mask per box, aligned with ``sample.boxes``.

    Raises:
        ValueError: the sample has boxes but no masks, or the masks do not match the boxes.
        ImportError: pycocotools is needed and missing (install ``seqloaders[masks]``).

    Example:
        >>> samples = sl.read_coco("instances_val2017.json")           # doctest: +SKIP
        >>> sl.decode_masks(samples[0]).shape                          # doctest: +SKIP
        (7, 480, 640)
    """
    if not isinstance(sample, Sample):
        return sample.decode()
    masks = sample.masks
    if masks is None:
        size = image_size or sample.image_size
        if sample.num_boxes == 0 and size is not None:
            return np.zeros((0, int(size[0]), int(size[1])), bool)
        raise ValueError(
            f"sample {sample.image!r} has {sample.num_boxes} boxes but no masks; read a format that carries "
            "masks (COCO segmentation, YOLO segment, mask folders)")
    if len(masks) != sample.num_boxes:
        raise ValueError(f"sample {sample.image!r} has {sample.num_boxes} boxes but {len(masks)} masks")
    if isinstance(masks, np.ndarray):  # an array set without the constructor's checks (Sample.unchecked)
        if masks.ndim != 3:
            raise ValueError(f"sample {sample.image!r}: rendered masks must be (N, H, W), got shape {masks.shape}")
        return masks if masks.dtype == bool else masks != 0
    return masks.decode()

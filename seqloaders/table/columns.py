"""The columns of a :class:`~seqloaders.table.SampleTable`: narrow integers, packed strings,
ragged rows, per-image meta values and COCO-style mask sources as flat arrays.

Readers that build a table from their own arrays use these helpers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..masks import SegmentationMasks
from ..records import Sample

__all__ = [
    "BOX",
    "KIND_NAMES",
    "MISSING",
    "POLYGON",
    "RLE",
    "URLE",
    "compact_coords",
    "compact_ints",
    "mask_columns",
    "mask_columns_of",
    "meta_column",
    "pack_strings",
    "ragged_index",
    "tag",
    "untag",
]

#: mask source kinds of ``mask.kind`` (one per box)
#: (BOX: the polygon of a float64 XYXY box, pycocotools' mask of an object without segmentation)
POLYGON, RLE, URLE, BOX = 1, 2, 3, 4
KIND_NAMES = {POLYGON: "polygon", RLE: "rle", URLE: "urle", BOX: "box"}
_INT_TYPES = (np.int8, np.int16, np.int32, np.int64)


def compact_ints(values: np.ndarray) -> np.ndarray:
    """``values`` (integers) in the narrowest signed type that holds them all (int8 .. int64)."""
    values = np.asarray(values)
    if values.dtype.kind not in "iu" or values.size == 0:
        return values
    lo, hi = int(values.min()), int(values.max())
    for dtype in _INT_TYPES:
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return values.astype(dtype, copy=False)
    return values


def pack_strings(strings: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all strings, concatenated, and the (M + 1,) int64 offsets of each."""
    encoded = [s.encode("utf-8", "surrogatepass") for s in strings]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets


def ragged_index(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gather ragged rows: (positions of rows' elements in the flat array, the new offsets).

    Row ``r`` spans ``offsets[r]:offsets[r + 1]`` of the flat array; the result lists the
    elements of ``rows`` in order.
    """
    rows = np.asarray(rows, np.int64)
    starts = np.asarray(offsets[rows], np.int64)
    lengths = np.asarray(offsets[rows + 1], np.int64) - starts
    new = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=new[1:])
    positions = np.arange(new[-1], dtype=np.int64) + np.repeat(starts - new[:-1], lengths)
    return positions, new


def tag(value: Any) -> Any:
    """JSON form of table-level values: tuples are tagged so they come back as tuples."""
    if isinstance(value, tuple):
        return {"$tuple": [tag(v) for v in value]}
    if isinstance(value, list):
        return [tag(v) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("table metadata dict keys must be strings")
        return {k: tag(v) for k, v in value.items()}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a table's metadata")


def untag(value: Any) -> Any:
    if isinstance(value, list):
        return [untag(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$tuple"}:
            return tuple(untag(v) for v in value["$tuple"])
        return {k: untag(v) for k, v in value.items()}
    return value


def meta_column(name: str, values: Sequence[Any], arrays: dict, layout: dict) -> None:
    """Store one per-image meta column: int64, float64, str or JSON text, with a presence mask."""
    missing = MISSING
    present = np.array([v is not missing for v in values], bool)
    given = [v for v in values if v is not missing]
    prefix = f"meta{len(layout['meta'])}"
    kind = "json"
    if all(type(v) is int for v in given) and all(-(1 << 63) <= v < 1 << 63 for v in given):
        kind = "int"
    elif all(type(v) is float for v in given):
        kind = "float"
    elif all(type(v) is str for v in given):
        kind = "str"
    filler = {"int": 0, "float": 0.0, "str": "", "json": "null"}[kind]
    full = [v if p else filler for v, p in zip(values, present)]
    if kind in ("int", "float"):
        arrays[prefix] = compact_ints(np.array(full, np.int64)) if kind == "int" else np.array(full, np.float64)
    else:
        texts = full if kind == "str" else [json.dumps(tag(v)) if p else "null" for v, p in zip(full, present)]
        arrays[prefix + ".values"], arrays[prefix + ".offsets"] = pack_strings(texts)
    if not present.all():
        arrays[prefix + ".present"] = present
    layout["meta"][name] = kind


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: the value of an image's absent meta key in :func:`meta_column`
MISSING = _Missing()


def compact_coords(coords: np.ndarray) -> tuple[np.ndarray, int]:
    """Polygon coordinates as int32 hundredths when that is exact (COCO's 2 decimals), else float64."""
    if coords.size and np.abs(coords).max() < 2e7:
        scaled = np.round(coords * 100.0)
        if np.array_equal(scaled / 100.0, coords):
            return scaled.astype(np.int32), 100
    return coords.astype(np.float64, copy=False), 0


def mask_columns_of(samples: Sequence[Sample]) -> dict[str, np.ndarray] | None:
    """The mask columns of samples whose masks are SegmentationMasks (or None)."""
    if all(s.masks is None for s in samples):
        return None
    kinds, refs, present = [], [], []
    poly_parts, part_lengths, coords = [0], [], []
    rle: list[list] = [[], []]
    urle: list[list] = [[], []]
    for s in samples:
        if s.masks is None:
            present.append(False)
            kinds += [POLYGON] * s.num_boxes  # never read: the sample has no masks
            refs += [0] * s.num_boxes
            continue
        if not isinstance(s.masks, SegmentationMasks):
            raise TypeError(f"a SampleTable stores SegmentationMasks only; {s.image!r} has {type(s.masks).__name__}")
        present.append(True)
        for kind, data in s.masks.entries:
            if kind == "polygon":
                kinds.append(POLYGON)
                refs.append(len(poly_parts) - 1)
                for part in data:
                    part_lengths.append(len(part))
                    coords.append(np.asarray(part, np.float64))
                poly_parts.append(len(part_lengths))
            else:
                store = rle if kind == "rle" else urle
                kinds.append(RLE if kind == "rle" else URLE)
                refs.append(len(store[0]))
                counts = data["counts"]
                store[0].append(np.frombuffer(counts if isinstance(counts, bytes) else str(counts).encode(), np.uint8)
                                if kind == "rle" else np.asarray(counts, np.uint32))
                store[1].append([int(v) for v in data["size"]])

    def packed(store: list[list], dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        offsets = np.zeros(len(store[0]) + 1, np.int64)
        np.cumsum([len(v) for v in store[0]], out=offsets[1:])
        values = np.concatenate(store[0]).astype(dtype) if store[0] else np.zeros(0, dtype)
        return offsets, values, np.array(store[1], np.int64).reshape(-1, 2)

    part_offsets = np.zeros(len(part_lengths) + 1, np.int64)
    np.cumsum(part_lengths, out=part_offsets[1:])
    return mask_columns(
        np.array(kinds, np.uint8), np.array(refs, np.int64), polygon_parts=np.array(poly_parts, np.int64),
        part_offsets=part_offsets, coords=np.concatenate(coords) if coords else None,
        rle=packed(rle, np.uint8), urle=packed(urle, np.uint32), present=np.array(present, bool))


def mask_columns(kinds: np.ndarray, refs: np.ndarray, *, polygon_parts: np.ndarray | None = None,
                 part_offsets: np.ndarray | None = None, coords: np.ndarray | None = None,
                 rle: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 urle: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 boxes: np.ndarray | None = None, coords_scale: int = 0,
                 present: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The mask columns of :meth:`SampleTable.from_columns`: one lazy COCO-style segmentation per box.

    Args:
        kinds: (N,) ``POLYGON``, ``RLE``, ``URLE`` or ``BOX`` per box.
        refs: (N,) index of the box's source among the sources of its kind.
        polygon_parts: (P + 1,) offsets: polygon ``r`` is parts ``[r]:[r + 1]``.
        part_offsets: (Q + 1,) offsets: part ``q`` is ``coords[[q]:[q + 1]]``.
        coords: flat x, y pixel coordinates, float64 (stored as int32 hundredths when that is
            exact), or int32 multiples of ``1 / coords_scale`` when ``coords_scale`` is given.
        rle: (offsets (R + 1,), counts bytes as uint8, sizes (R, 2)) of compressed RLEs.
        urle: (offsets (U + 1,), run lengths uint32, sizes (U, 2)) of uncompressed RLEs.
        boxes: (B, 4) float64 XYXY boxes whose polygon is the mask (kind ``BOX``).
        present: (M,) bool, the images whose samples get masks (default: those with a size).
    """
    cols: dict[str, Any] = {"mask.kind": np.asarray(kinds, np.uint8), "mask.ref": compact_ints(np.asarray(refs))}
    empty_offsets = np.zeros(1, np.int64)
    cols["poly.parts"] = compact_ints(np.asarray(polygon_parts if polygon_parts is not None else empty_offsets))
    cols["poly.offsets"] = compact_ints(np.asarray(part_offsets if part_offsets is not None else empty_offsets))
    if coords_scale:
        cols["poly.coords"], cols["poly.scale"] = np.asarray(coords, np.int32), int(coords_scale)
    else:
        coords = np.zeros(0, np.float64) if coords is None else np.asarray(coords, np.float64)
        cols["poly.coords"], cols["poly.scale"] = compact_coords(coords)
    cols["boxpoly.values"] = np.zeros((0, 4), np.float64) if boxes is None else np.asarray(boxes, np.float64)
    for name, value, dtype in (("rle", rle, np.uint8), ("urle", urle, np.uint32)):
        offsets, values, sizes = value if value is not None else (empty_offsets, np.zeros(0, dtype),
                                                                   np.zeros((0, 2), np.int64))
        cols[f"{name}.offsets"] = np.asarray(offsets, np.int64)
        cols[f"{name}.values"] = np.asarray(values, dtype)
        cols[f"{name}.sizes"] = np.asarray(sizes, np.int64).reshape(-1, 2)
    if present is not None:
        cols["mask.present"] = np.asarray(present, bool)
    return cols

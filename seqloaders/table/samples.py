"""`SampleTable`: every sample of a reader in a few flat arrays, a :class:`Sample` made on access.

A list of :class:`Sample` costs one Python object and several small arrays per image (about
1 KB per COCO image before its polygons). A table holds the same data as columns: all boxes in
one (N, 4) float32 array, labels and per-box attributes in (N,) arrays stored in the narrowest
integer type that holds them, keypoints in one (N, K, 3) array, polygon and RLE mask sources as
flat arrays with offsets, and per image the image path, ``image_size`` and ``meta`` columns, with
``offsets[i]:offsets[i + 1]`` the boxes of image ``i``. ``table[i]`` builds the Sample the list
held (masks stay lazy: a :class:`~seqloaders.masks.SegmentationMasks` of that image's sources).

A table is a :class:`~seqloaders.SampleList` (``isinstance`` checks, ``.report``,
``.class_names``, ``.meta`` keep working) whose list storage stays empty. Mutating it (``append``,
``table[i] = s``, ``sort``, ...) first turns it into an ordinary list of Samples, giving up the
compact storage. A table loaded from a cache file (:mod:`seqloaders.parsecache`) is a memory map
of that file: it pickles as the file's path and checksum, so every worker process maps the same
pages instead of receiving a copy; other tables pickle their arrays.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..masks import SegmentationMasks, box_polygon
from ..records import ReadReport, Sample, SampleList
from .arrayfile import load_arrays, save_arrays
from .columns import (
    BOX,
    KIND_NAMES,
    MISSING,
    POLYGON,
    RLE,
    compact_ints,
    mask_columns,
    mask_columns_of,
    meta_column,
    pack_strings,
    ragged_index,
    tag,
    untag,
)

__all__ = ["SampleTable"]

LAYOUT_VERSION = 1
_PER_BOX = ("boxes", "labels", "keypoints", "mask.kind", "mask.ref")


def _group(name: str) -> str:
    """How :meth:`SampleTable.take` gathers an array: per image, per box, ragged per image, or
    shared (mask sources, found through ``mask.ref``); ``offsets`` of ragged arrays are rebuilt."""
    if name.startswith(("poly.", "rle.", "urle.", "boxpoly.")):
        return "shared"
    if name in _PER_BOX or name.startswith("attr."):
        return "box"
    if name.endswith(".values"):
        return "ragged"
    if name.endswith(".offsets"):
        return "offsets"
    return "image"


class SampleTable(SampleList):
    """Samples stored as columns; ``table[i]`` is a :class:`Sample`, as in a list.

    Build one with :meth:`from_columns` (a reader's arrays) or :meth:`from_samples` (any list of
    samples); :meth:`save`/:meth:`load` write and map a file. Slicing or :meth:`take` gives a
    table of the chosen images.

    Example:
        >>> import seqloaders as sl
        >>> t = SampleTable.from_samples([sl.Sample("a.jpg", boxes=[[1, 2, 3, 4]], labels=[0]),
        ...                               sl.Sample("b.jpg")], class_names=("cat",))
        >>> t
        SampleTable(2 samples, 1 boxes, class_names=['cat'])
        >>> t[0] == sl.Sample("a.jpg", boxes=[[1, 2, 3, 4]], labels=[0]), len(t[1:])
        (True, 1)
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], layout: Mapping[str, Any], *,
                 report: ReadReport | None = None, class_names: Sequence[str] = (),
                 meta: Mapping[str, Any] | None = None, origin: tuple | None = None):
        super().__init__((), report=report, class_names=tuple(class_names))
        self.meta = dict(meta or {})
        self._arrays = dict(arrays)
        self._layout = dict(layout)
        self._origin = origin  # (path, crc, row indices or None) when the arrays are a file's memory map
        self._list = False  # True once a mutation turned the table into a plain list
        self._unpack()

    def _unpack(self) -> None:
        a = self._arrays
        self._offsets = a["boxes.offsets"]
        self._attrs = [(name, a[f"attr.{name}"], np.dtype(dtype)) for name, dtype in self._layout["attributes"].items()]
        self._meta_cols = [(name, kind, a.get(f"meta{k}"), a.get(f"meta{k}.values"), a.get(f"meta{k}.offsets"),
                            a.get(f"meta{k}.present")) for k, (name, kind) in enumerate(self._layout["meta"].items())]
        scale = self._layout.get("poly_scale", 0)
        self._poly_scale = float(scale) if scale else 0.0

    # ------------------------------------------------------------------ building
    @classmethod
    def from_columns(cls, images: Sequence[str], box_offsets: np.ndarray, boxes: np.ndarray, labels: np.ndarray, *,
                     image_sizes: np.ndarray | None = None, attributes: Mapping[str, np.ndarray] | None = None,
                     keypoints: np.ndarray | None = None, masks: Mapping[str, np.ndarray] | None = None,
                     image_meta: Mapping[str, Sequence[Any]] | None = None, report: ReadReport | None = None,
                     class_names: Sequence[str] = (), meta: Mapping[str, Any] | None = None,
                     dtypes: Mapping[str, Any] | None = None) -> SampleTable:
        """A table from a reader's columns (M images, N boxes).

        Args:
            images: the M image paths, URIs or storage keys.
            box_offsets: (M + 1,) int, the boxes of image ``i`` are rows ``[i]:[i + 1]``.
            boxes: (N, 4) float32, XYXY pixels of the source image.
            labels: (N,) int class ids.
            image_sizes: (M, 2) int (H, W), 0 where unknown; default: all unknown.
            attributes: per-box arrays, each (N, ...); integer ones are stored narrowed and come
                back in their own dtype.
            keypoints: (N, K, 3) float32 or None.
            masks: the mask columns (see :meth:`mask_columns`), or None.
            image_meta: per-image ``meta`` values, one sequence of M per key (ints, floats, strs
                or JSON-able values; ``MISSING`` where an image lacks the key).
            report, class_names, meta: as a :class:`SampleList` carries them.
            dtypes: the dtype a sample gets for ``"labels"`` or an attribute, when the array given
                is narrower (default: the array's own; labels are always int64).
        """
        m = len(images)
        arrays: dict[str, np.ndarray] = {}
        arrays["images.values"], arrays["images.offsets"] = pack_strings(images)
        offsets = np.asarray(box_offsets, np.int64)
        n = int(offsets[-1]) if len(offsets) else 0
        if offsets.shape != (m + 1,) or offsets[0] != 0 or (np.diff(offsets) < 0).any():
            raise ValueError(f"box_offsets must be ({m + 1},) non-decreasing from 0, got shape {offsets.shape}")
        arrays["boxes.offsets"] = offsets
        arrays["boxes"] = np.ascontiguousarray(boxes, np.float32).reshape(n, 4)
        labels = np.asarray(labels).reshape(n)
        arrays["labels"] = compact_ints(labels)
        sizes = np.zeros((m, 2), np.int32) if image_sizes is None else np.asarray(image_sizes, np.int32).reshape(m, 2)
        arrays["image_sizes"] = sizes
        dtypes = dict(dtypes or {})
        layout: dict[str, Any] = {"version": LAYOUT_VERSION, "labels": "int64", "attributes": {},
                                  "meta": {}, "keypoints": keypoints is not None, "masks": masks is not None}
        for name, value in (attributes or {}).items():
            value = np.asarray(value)
            if value.shape[:1] != (n,):
                raise ValueError(f"attribute {name!r} must have {n} entries, got shape {value.shape}")
            arrays[f"attr.{name}"] = compact_ints(value)
            layout["attributes"][name] = np.dtype(dtypes.get(name, value.dtype)).str
        if keypoints is not None:
            arrays["keypoints"] = np.ascontiguousarray(keypoints, np.float32)
        if masks is not None:
            layout["poly_scale"] = int(masks.get("poly.scale", 0))
            for key, value in masks.items():
                if key != "poly.scale":
                    arrays[key] = np.asarray(value)
            arrays.setdefault("mask.present", sizes[:, 0] > 0)
        for name, values in (image_meta or {}).items():
            if len(values) != m:
                raise ValueError(f"meta column {name!r} has {len(values)} values for {m} images")
            meta_column(name, values, arrays, layout)
        return cls(arrays, layout, report=report, class_names=class_names, meta=meta)

    MISSING = MISSING
    mask_columns = staticmethod(mask_columns)

    @classmethod
    def from_samples(cls, samples: Iterable[Sample], *, report: ReadReport | None = None,
                     class_names: Sequence[str] | None = None, meta: Mapping[str, Any] | None = None) -> SampleTable:
        """A table holding ``samples`` (their ``masks``: None or :class:`SegmentationMasks`).

        ``report``, ``class_names`` and ``meta`` default to the ones ``samples`` carries.

        Raises:
            TypeError: a sample's masks are another kind of mask source (mask files, rendered
                arrays), which a table does not store.
        """
        source, samples = samples, list(samples)
        if report is None:
            report = getattr(source, "report", None)
        offsets = np.zeros(len(samples) + 1, np.int64)
        np.cumsum([s.num_boxes for s in samples], out=offsets[1:])
        n = int(offsets[-1])
        names = sorted({k for s in samples for k in s.attributes})
        attributes = {}
        for name in names:
            first = next(s.attributes[name] for s in samples if name in s.attributes)
            if any(name not in s.attributes for s in samples if s.num_boxes):
                raise ValueError(f"attribute {name!r} is missing from some samples; a table needs it on all")
            parts = [s.attributes.get(name, np.zeros((0, *first.shape[1:]), first.dtype)) for s in samples]
            attributes[name] = np.concatenate(parts) if parts else first
        kp = [s.keypoints for s in samples]
        keypoints = None
        if any(k is not None for k in kp):
            width = max(k.shape[1] for k in kp if k is not None)
            keypoints = np.zeros((n, width, 3), np.float32)
            for k, start in zip(kp, offsets[:-1]):
                if k is not None:
                    keypoints[start:start + len(k), :k.shape[1]] = k
        masks = mask_columns_of(samples)
        keys = sorted({k for s in samples for k in s.meta})
        image_meta = {k: [s.meta.get(k, MISSING) for s in samples] for k in keys}
        sizes = np.array([s.image_size or (0, 0) for s in samples], np.int32).reshape(-1, 2)
        boxes = np.concatenate([s.boxes for s in samples]) if samples else np.zeros((0, 4), np.float32)
        labels = np.concatenate([s.labels for s in samples]) if samples else np.zeros(0, np.int64)
        return cls.from_columns([s.image for s in samples], offsets, boxes, labels, image_sizes=sizes,
                                attributes=attributes, keypoints=keypoints, masks=masks, image_meta=image_meta,
                                report=report, meta=meta if meta is not None else getattr(source, "meta", None),
                                class_names=getattr(source, "class_names", ()) if class_names is None else class_names)

    # ------------------------------------------------------------------ files
    def save(self, path: str) -> int:
        """Write the table to ``path`` (atomically); returns the data checksum :meth:`load` checks."""
        payload = {"layout": self._layout, "class_names": list(self.class_names), "meta": tag(self.meta),
                   "report": tag(vars(self.report)), "extras": tag(self._extras(json_only=True))}
        return save_arrays(path, self._arrays, payload)

    @classmethod
    def load(cls, path: str, expect_crc: int | None = None) -> SampleTable:
        """Map a table file :meth:`save` wrote (checksum verified); it pickles as its path.

        Raises:
            seqloaders.table.CorruptFileError: a truncated or damaged file, or not the data
                ``expect_crc`` names.
        """
        arrays, payload, crc = load_arrays(path, expect_crc)
        report = ReadReport(**untag(payload["report"]))
        report.skipped = [tuple(s) for s in report.skipped]
        table = cls(arrays, payload["layout"], report=report, class_names=payload["class_names"],
                    meta=untag(payload["meta"]), origin=(str(path), crc, None))
        for name, value in untag(payload["extras"]).items():
            setattr(table, name, value)
        return table

    def _extras(self, json_only: bool = False) -> dict[str, Any]:
        """Public attributes a reader set on the table (``category_ids``, ``storage``, ...)."""
        out = {}
        for name, value in vars(self).items():
            if name.startswith("_") or name in ("report", "class_names", "meta"):
                continue
            if json_only:
                try:
                    json.dumps(tag(value))
                except TypeError:
                    continue
            out[name] = value
        return out

    @property
    def path(self) -> str | None:
        """The file the arrays are mapped from, or None for a table in memory."""
        return None if self._origin is None else self._origin[0]

    def __reduce__(self) -> tuple:
        if self._list:
            return (_plain_list, (list(list.__iter__(self)), self.__dict__))
        public = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        if self._origin is not None:
            return (_reopen, (self._origin, public))
        return (_rebuild, (self._arrays, self._layout, public))

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return list.__len__(self) if self._list else len(self._offsets) - 1

    def __getitem__(self, index: Any) -> Any:
        if self._list:
            return list.__getitem__(self, index)
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        if isinstance(index, (int, np.integer)):
            i = int(index)
            m = len(self)
            if not -m <= i < m:
                raise IndexError(f"sample index {i} out of range for {m} samples")
            return self._sample(i % m if i < 0 else i)
        if isinstance(index, (list, np.ndarray)):
            return self.take(index)
        raise TypeError(f"indices must be integers, slices or integer arrays, not {type(index).__name__}")

    def __iter__(self) -> Iterator[Sample]:
        if self._list:
            return list.__iter__(self)
        return (self._sample(i) for i in range(len(self)))

    def __reversed__(self) -> Iterator[Sample]:
        return (self[i] for i in range(len(self) - 1, -1, -1))

    def __contains__(self, item: object) -> bool:
        return any(s == item for s in self)

    def index(self, item: Any, start: int = 0, stop: int | None = None) -> int:
        for i in range(start, len(self) if stop is None else min(stop, len(self))):
            if self[i] == item:
                return i
        raise ValueError("sample is not in the table")

    def count(self, item: Any) -> int:
        return sum(s == item for s in self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Any) -> list:
        return [*self, *other]

    def __radd__(self, other: Any) -> list:
        return [*other, *self]

    def __mul__(self, times: int) -> list:
        return [*self] * times

    __rmul__ = __mul__

    def copy(self) -> list:  # type: ignore[override]
        return list(self)

    def __repr__(self) -> str:
        where = f", file={self._origin[0]!r}" if self._origin is not None and not self._list else ""
        return (f"{type(self).__name__}({len(self)} samples, {self.num_boxes} boxes, "
                f"class_names={list(self.class_names)}{where})")

    @property
    def num_boxes(self) -> int:
        """Boxes in all samples."""
        return sum(s.num_boxes for s in self) if self._list else int(self._offsets[-1])

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (mapped or in memory)."""
        return sum(a.nbytes for a in self._arrays.values())

    def image_paths(self) -> list[str]:
        """Every sample's ``image``, in order, without making the samples (for a storage choice)."""
        if self._list:
            return [s.image for s in self]
        blob, off = self._arrays["images.values"], self._arrays["images.offsets"].tolist()
        data = blob.tobytes()
        return [data[a:b].decode("utf-8", "surrogatepass") for a, b in itertools.pairwise(off)]

    def _string(self, prefix: str, i: int) -> str:
        off = self._arrays[prefix + ".offsets"]
        return self._arrays[prefix + ".values"][off[i]:off[i + 1]].tobytes().decode("utf-8", "surrogatepass")

    def _sample(self, i: int) -> Sample:
        a = self._arrays
        lo, hi = int(self._offsets[i]), int(self._offsets[i + 1])
        h, w = (int(v) for v in a["image_sizes"][i])
        size = (h, w) if h > 0 and w > 0 else None
        attributes = {name: col[lo:hi].astype(dtype) for name, col, dtype in self._attrs}
        keypoints = np.array(a["keypoints"][lo:hi]) if self._layout["keypoints"] else None
        masks = None
        if self._layout["masks"] and size is not None and a["mask.present"][i]:
            masks = SegmentationMasks(self._mask_entries(lo, hi), size)
        meta = {}
        for name, kind, values, blob, offsets, present in self._meta_cols:
            if present is not None and not present[i]:
                continue
            if kind in ("int", "float"):
                meta[name] = values[i].item()
            else:
                text = blob[offsets[i]:offsets[i + 1]].tobytes().decode("utf-8", "surrogatepass")
                meta[name] = text if kind == "str" else untag(json.loads(text))
        return Sample.unchecked(self._string("images", i), np.array(a["boxes"][lo:hi]),
                                a["labels"][lo:hi].astype(self._layout["labels"]), size, attributes, keypoints,
                                masks, meta)

    def _mask_entries(self, lo: int, hi: int) -> list[tuple[str, Any]]:
        a = self._arrays
        parts, part_off, coords = a["poly.parts"], a["poly.offsets"], a["poly.coords"]
        entries: list[tuple[str, Any]] = []
        for kind, ref in zip(a["mask.kind"][lo:hi].tolist(), a["mask.ref"][lo:hi].tolist()):
            if kind == POLYGON:
                polys = []
                for q in range(int(parts[ref]), int(parts[ref + 1])):
                    xy = coords[part_off[q]:part_off[q + 1]]
                    polys.append(xy.astype(np.float64) / self._poly_scale if self._poly_scale else np.array(xy))
                entries.append(("polygon", polys))
            elif kind == BOX:
                entries.append(("polygon", [box_polygon(a["boxpoly.values"][ref])]))
            else:
                name = KIND_NAMES[kind]
                off = a[f"{name}.offsets"]
                counts = a[f"{name}.values"][off[ref]:off[ref + 1]]
                size = [int(v) for v in a[f"{name}.sizes"][ref]]
                entries.append((name, {"size": size, "counts": counts.tobytes() if kind == RLE else np.array(counts)}))
        return entries

    def take(self, rows: Sequence[int] | np.ndarray) -> SampleTable:
        """A table of the samples at ``rows`` (indices, in order; repeats allowed).

        A table taken from a mapped one pickles as the file and the rows.
        """
        if self._list:
            return SampleTable.from_samples([list.__getitem__(self, int(r)) for r in rows], report=self.report,
                                            class_names=self.class_names, meta=self.meta)
        rows = np.asarray(rows, np.int64).reshape(-1)
        m = len(self)
        if rows.size and (rows.min() < -m or rows.max() >= m):
            raise IndexError(f"sample index out of range for {m} samples")
        rows = rows % m if m else rows
        a = self._arrays
        boxes_at, new_offsets = ragged_index(self._offsets, rows)
        out: dict[str, np.ndarray] = {"boxes.offsets": new_offsets}
        for name, value in a.items():
            group = _group(name)
            if group == "image":
                out[name] = value[rows]
            elif group == "box":
                out[name] = value[boxes_at]
            elif group == "ragged":
                stem = name[:-len(".values")]
                at, out[stem + ".offsets"] = ragged_index(a[stem + ".offsets"], rows)
                out[name] = value[at]
            elif group == "shared":
                out[name] = value  # mask sources, referenced by mask.ref
        origin = None
        if self._origin is not None:
            path, crc, base = self._origin
            origin = (path, crc, rows if base is None else base[rows])
        table = SampleTable(out, self._layout, report=self.report, class_names=self.class_names, meta=self.meta,
                            origin=origin)
        for name, value in self._extras().items():
            setattr(table, name, value)
        return table

    # ------------------------------------------------------------------ mutation: becomes a list
    def _materialise(self) -> None:
        if not self._list:
            samples = list(self)
            self._list = True
            list.extend(self, samples)
            self._arrays, self._origin = {}, None


def _mutator(name: str) -> Any:
    method = getattr(list, name)

    def mutate(self: SampleTable, *args: Any, **kwargs: Any) -> Any:
        self._materialise()
        return method(self, *args, **kwargs)

    mutate.__name__ = name
    mutate.__doc__ = f"list.{name}, after turning the table into a plain list of samples."
    return mutate


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend", "insert", "pop", "remove",
              "reverse", "sort", "clear"):
    setattr(SampleTable, _name, _mutator(_name))
del _name


def _rebuild(arrays: dict, layout: dict, public: dict) -> SampleTable:
    table = SampleTable(arrays, layout)
    table.__dict__.update(public)
    return table


def _reopen(origin: tuple, public: dict) -> SampleTable:
    path, crc, rows = origin
    table = SampleTable.load(path, expect_crc=crc)
    if rows is not None:
        table = table.take(rows)
    table.__dict__.update(public)
    return table


def _plain_list(items: Iterable[Sample], state: dict) -> SampleList:
    out = SampleList(items)
    out.__dict__.update({k: v for k, v in state.items() if not k.startswith("_")})
    return out

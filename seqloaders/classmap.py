"""Class maps: rename, merge and drop classes, and map source classes to training ids.

A class map is a JSON file, applicable to the output of any reader::

    {
      "classes": [
        {"name": "void",    "color": [0, 0, 0]},
        {"name": "person",  "color": [220, 20, 60], "from": ["person"]},
        {"name": "vehicle", "color": [0, 0, 142],   "from": ["bicycle", "car", "bus", "truck"]},
        {"name": "animal",  "color": [119, 11, 32], "from": ["cat", "dog", 18]}
      ],
      "background": "void",
      "ignore_index": 255,
      "drop": ["traffic light"],
      "unknown": "error"
    }

- ``classes``: the training classes; the position in the list is the training id. ``from``
  lists the source classes merged into the class: names (matched against the reader's
  ``class_names``) or integer source ids (matched against ``attributes["category_id"]`` when
  the reader keeps one, as COCO does, else against the source label). Without ``from`` a class
  takes the source class of its own name. A rename is a ``from`` with one other name.
- ``color``: ``[r, g, b]`` (0-255) for previews and colour masks; a distinct default otherwise.
- ``background``: the class (name or id) that fills pixels without objects in semantic masks.
- ``ignore_index``: the label of boxes and pixels the loss must ignore (``unknown: "ignore"``).
- ``drop``: source classes whose boxes are removed (counted in the report).
- ``unknown``: what to do with a source class that is neither mapped nor dropped: ``"error"``
  (default: raise, naming them), ``"drop"`` (remove, counted) or ``"ignore"`` (keep the box
  with label ``ignore_index``, counted in ``samples.meta["ignored_boxes"]``).

When a box matches both by id and by name, the id wins.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import AnnotationError
from .records import ReadReport, Sample, SampleList

__all__ = ["UNKNOWN_POLICIES", "ClassMap", "default_colors"]

UNKNOWN_POLICIES = ("error", "drop", "ignore")
_KEYS = {"name", "classes", "background", "ignore_index", "drop", "unknown", "description"}
_CLASS_KEYS = {"name", "color", "from"}
_DROP, _UNKNOWN = -1, -2


def default_colors(num_classes: int) -> np.ndarray:
    """(C, 3) uint8 distinct colours, the Pascal VOC palette (class 0 is black).

    Example:
        >>> default_colors(3).tolist()
        [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    """
    colors = np.zeros((num_classes, 3), np.uint8)
    for k in range(num_classes):
        c, r, g, b = k, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors[k] = (r, g, b)
    return colors


@dataclasses.dataclass(frozen=True, eq=False)
class ClassMap:
    """A mapping from source classes to training classes, with colours and special indices.

    Build it with :meth:`from_json` (or :meth:`from_dict`), then :meth:`apply` it to samples.

    Attributes:
        names: training class names; the index is the training id.
        colors: (C, 3) uint8 RGB colour per class.
        sources: source name (str) or source id (int) → training id.
        drop: source names or ids whose boxes are removed.
        background_index: training id of the background class, or None.
        ignore_index: label of ignored boxes and pixels (not a class id).
        unknown: policy for unmapped source classes: "error", "drop" or "ignore".
        name: a name for reports.

    Example:
        >>> cmap = ClassMap.from_dict({"classes": [{"name": "bg"}, {"name": "animal", "from": ["cat", "dog"]}],
        ...                            "background": "bg", "unknown": "drop"})
        >>> samples = SampleList([Sample("a.jpg", boxes=[[0, 0, 2, 2], [1, 1, 3, 3]], labels=[0, 1])],
        ...                      class_names=("dog", "car"))
        >>> out = cmap.apply(samples)
        >>> out[0].labels.tolist(), out.class_names, out.report.dropped_boxes
        ([1], ('bg', 'animal'), {"class 'car' (unknown, dropped by the class map)": 1})
    """

    names: tuple[str, ...]
    colors: np.ndarray
    sources: Mapping[str | int, int]
    drop: frozenset = frozenset()
    background_index: int | None = None
    ignore_index: int = 255
    unknown: str = "error"
    name: str = "classmap"

    def __post_init__(self) -> None:
        colors = np.asarray(self.colors, np.uint8).reshape(-1, 3)
        if len(colors) != len(self.names):
            raise ValueError(f"{len(self.names)} classes but {len(colors)} colours")
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "sources", dict(self.sources))
        object.__setattr__(self, "drop", frozenset(self.drop))
        if self.unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {', '.join(UNKNOWN_POLICIES)}, got {self.unknown!r}")
        if 0 <= self.ignore_index < len(self.names):
            raise ValueError(f"ignore_index {self.ignore_index} is the id of class {self.names[self.ignore_index]!r}; "
                             "choose a value outside 0..C-1 (255 or -1 are common)")

    @property
    def num_classes(self) -> int:
        """Number of training classes C."""
        return len(self.names)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_json(cls, path: str | os.PathLike) -> ClassMap:
        """Load a class map file.

        Raises:
            FileNotFoundError: the file does not exist.
            AnnotationError: invalid JSON, an unknown key, a class mapped twice, a bad colour,
                naming the file and the line of the offending entry.

        Example:
            >>> cmap = ClassMap.from_json("examples/classmaps/coco_to_4.json")     # doctest: +SKIP
            >>> cmap.names                                                         # doctest: +SKIP
            ('void', 'person', 'vehicle', 'animal')
        """
        from .formats.common import JsonLocator
        from .formats.paths import read_text

        path = os.fspath(path)
        text = read_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
        locator = JsonLocator(text)
        try:
            return cls.from_dict(data, name=os.path.splitext(os.path.basename(path))[0])
        except _MapError as exc:
            raise AnnotationError(str(exc), path, locator.line(exc.key, exc.index)) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "classmap") -> ClassMap:
        """Build a class map from the dict a class map file holds (see the module docstring).

        Raises:
            ValueError: a malformed entry, naming it.

        Example:
            >>> ClassMap.from_dict({"classes": [{"name": "person"}]}).names
            ('person',)
        """
        if not isinstance(data, Mapping):
            raise _MapError("a class map must be a JSON object with a 'classes' list", "classes")
        extra = set(data) - _KEYS
        if extra:
            raise _MapError(f"unknown keys {sorted(extra)}; allowed: {', '.join(sorted(_KEYS))}", sorted(extra)[0])
        classes = data.get("classes")
        if not isinstance(classes, list) or not classes:
            raise _MapError("'classes' must be a non-empty list of {\"name\": ..., \"from\": [...]} objects",
                            "classes")
        names: list[str] = []
        colors: list[Any] = []
        sources: dict[str | int, int] = {}
        where_source: dict[str | int, str] = {}
        defaults = default_colors(len(classes))
        for k, entry in enumerate(classes):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise _MapError(f"classes[{k}] must be an object with a non-empty 'name'", "classes", k)
            label = entry["name"]
            bad = set(entry) - _CLASS_KEYS
            if bad:
                raise _MapError(f"classes[{k}] ({label!r}) has unknown keys {sorted(bad)}; allowed: "
                                f"{', '.join(sorted(_CLASS_KEYS))}", "classes", k)
            if label in names:
                raise _MapError(f"classes[{k}]: duplicate class name {label!r}", "classes", k)
            names.append(label)
            color = entry.get("color")
            if color is None:
                colors.append(defaults[k])
            elif (isinstance(color, list) and len(color) == 3
                  and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)):
                colors.append(color)
            else:
                raise _MapError(f"classes[{k}] ({label!r}): 'color' must be [r, g, b] with integers 0-255, "
                                f"got {color!r}", "classes", k)
            origin = entry.get("from", [label])
            if not isinstance(origin, list) or not all(_is_source(s) for s in origin):
                raise _MapError(f"classes[{k}] ({label!r}): 'from' must be a list of source class names or "
                                "integer ids", "classes", k)
            for source in origin:
                if source in sources:
                    raise _MapError(f"classes[{k}] ({label!r}): source class {source!r} is already mapped to "
                                    f"{where_source[source]!r}; a source class maps to one class", "classes", k)
                sources[source] = k
                where_source[source] = label
        drop = data.get("drop", [])
        if not isinstance(drop, list) or not all(_is_source(s) for s in drop):
            raise _MapError("'drop' must be a list of source class names or integer ids", "drop")
        both = [s for s in drop if s in sources]
        if both:
            raise _MapError(f"source class {both[0]!r} is both dropped and mapped to {where_source[both[0]]!r}",
                            "drop")
        background = data.get("background")
        if background is None:
            background_index = None
        elif isinstance(background, str) and background in names:
            background_index = names.index(background)
        elif isinstance(background, int) and not isinstance(background, bool) and 0 <= background < len(names):
            background_index = background
        else:
            raise _MapError(f"'background' must be a class name or id, got {background!r}", "background")
        ignore = data.get("ignore_index", 255)
        if not isinstance(ignore, int) or isinstance(ignore, bool) or 0 <= ignore < len(names):
            raise _MapError(f"'ignore_index' must be an integer outside 0..{len(names) - 1}, got {ignore!r}",
                            "ignore_index")
        unknown = data.get("unknown", "error")
        if unknown not in UNKNOWN_POLICIES:
            raise _MapError(f"'unknown' must be one of {', '.join(UNKNOWN_POLICIES)}, got {unknown!r}", "unknown")
        return cls(names=tuple(names), colors=np.array(colors, np.uint8), sources=sources, drop=frozenset(drop),
                   background_index=background_index, ignore_index=ignore, unknown=unknown,
                   name=str(data.get("name", name)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict :meth:`from_dict` reads back."""
        classes = []
        for k, label in enumerate(self.names):
            origin = [s for s, t in self.sources.items() if t == k]
            classes.append({"name": label, "color": [int(c) for c in self.colors[k]], "from": origin})
        data: dict[str, Any] = {"name": self.name, "classes": classes, "ignore_index": self.ignore_index,
                                "drop": sorted(self.drop, key=str), "unknown": self.unknown}
        if self.background_index is not None:
            data["background"] = self.names[self.background_index]
        return data

    def palette(self, size: int = 256, ignore_color: Sequence[int] = (255, 255, 255)) -> np.ndarray:
        """(size, 3) uint8 lookup table from label to colour (``palette[mask]`` colours a mask).

        Labels without a class are black, except ``ignore_index`` which gets ``ignore_color``.
        """
        table = np.zeros((size, 3), np.uint8)
        table[:self.num_classes] = self.colors[:size]
        if 0 <= self.ignore_index < size:
            table[self.ignore_index] = ignore_color
        return table

    # ------------------------------------------------------------------ applying
    def apply(
        self,
        samples: Sequence[Sample],
        class_names: Sequence[str] | None = None,
        *,
        unknown: str | None = None,
    ) -> SampleList:
        """Map the labels of samples from any reader to this map's training ids.

        Boxes of dropped source classes are removed (with their attributes, keypoints and
        masks) and counted in ``report.dropped_boxes``. Image-level labels
        (``meta["label"]``, from class folders) are mapped the same way; an image of a dropped
        class is removed and counted.

        Args:
            samples: a reader's :class:`SampleList` (or any list of samples).
            class_names: the source class names; default: ``samples.class_names``.
            unknown: override the map's policy for unmapped source classes.

        Returns:
            A new :class:`SampleList` with ``class_names = self.names``, the report of the input
            plus the drop counts, and ``meta`` (the input's, plus ``ignored_boxes`` and
            ``source_class_names``).

        Raises:
            ValueError: unmapped source classes under ``unknown="error"`` (all of them named,
                with counts), or labels outside the source class list.
        """
        policy = self.unknown if unknown is None else unknown
        if policy not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {', '.join(UNKNOWN_POLICIES)}, got {policy!r}")
        names = tuple(class_names) if class_names is not None else tuple(getattr(samples, "class_names", ()))
        if not names:
            raise ValueError("the samples carry no class_names; pass class_names=[...] with the source classes")
        by_name = np.array([self._target(n) for n in names], np.int64)
        by_id = {s: t for s, t in self.sources.items() if isinstance(s, int)}
        drop_ids = {s for s in self.drop if isinstance(s, int)}
        has_ids = bool(by_id or drop_ids)

        def targets_of(labels: np.ndarray, ids: np.ndarray | None, where: str) -> np.ndarray:
            if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
                raise ValueError(f"{where}: label {int(labels.max())} is outside the {len(names)} source classes")
            out = by_name[labels]
            if has_ids:
                source_ids = labels if ids is None else ids
                for k, sid in enumerate(source_ids.tolist()):
                    if sid in by_id:
                        out[k] = by_id[sid]
                    elif sid in drop_ids:
                        out[k] = _DROP
            return out

        mapped: list[tuple[Sample, np.ndarray, int | None]] = []
        unknown_counts: dict[str, int] = {}
        for sample in samples:
            ids = sample.attributes.get("category_id")
            targets = targets_of(sample.labels, None if ids is None else np.asarray(ids), sample.image)
            image_target = None
            if "label" in sample.meta:
                lab = np.array([int(sample.meta["label"])], np.int64)
                image_target = int(targets_of(lab, None, sample.image)[0])
                if image_target == _UNKNOWN:
                    unknown_counts[names[lab[0]]] = unknown_counts.get(names[lab[0]], 0) + 1
            for k in np.flatnonzero(targets == _UNKNOWN):
                source = names[sample.labels[k]]
                unknown_counts[source] = unknown_counts.get(source, 0) + 1
            mapped.append((sample, targets, image_target))
        if unknown_counts and policy == "error":
            listed = ", ".join(f"{n!r} ({c})" for n, c in sorted(unknown_counts.items()))
            raise ValueError(f"class map {self.name!r}: source classes not mapped: {listed}; add them to a class's "
                             "'from' or to 'drop', or set \"unknown\": \"drop\" or \"ignore\"")

        report = _copy_report(getattr(samples, "report", None))
        ignored: dict[str, int] = {}
        out: list[Sample] = []
        for sample, targets, image_target in mapped:
            keep = targets != _DROP
            if policy == "drop":
                keep &= targets != _UNKNOWN
            for k in np.flatnonzero(~keep):
                source = names[sample.labels[k]]
                why = "unknown" if targets[k] == _UNKNOWN else "dropped"
                key = f"class {source!r} ({why}, dropped by the class map)"
                report.dropped_boxes[key] = report.dropped_boxes.get(key, 0) + 1
            for k in np.flatnonzero(keep & (targets == _UNKNOWN)):
                source = names[sample.labels[k]]
                ignored[source] = ignored.get(source, 0) + 1
            new_labels = np.where(targets == _UNKNOWN, self.ignore_index, targets)[keep]
            meta = dict(sample.meta)
            if image_target is not None:
                source = names[int(sample.meta["label"])]
                if image_target == _DROP or (image_target == _UNKNOWN and policy == "drop"):
                    why = "unknown" if image_target == _UNKNOWN else "dropped"
                    key = f"images of class {source!r} ({why}, dropped by the class map)"
                    report.dropped_boxes[key] = report.dropped_boxes.get(key, 0) + 1
                    continue
                if image_target == _UNKNOWN:
                    meta["label"], meta["class_name"] = self.ignore_index, None
                    ignored[source] = ignored.get(source, 0) + 1
                else:
                    meta["label"], meta["class_name"] = image_target, self.names[image_target]
            new = sample if keep.all() else sample.select(keep)
            out.append(dataclasses.replace(new, labels=new_labels.astype(np.int64), meta=meta))
        report.num_samples = len(out)
        report.num_boxes = sum(s.num_boxes for s in out)
        result = SampleList(out, report=report, class_names=self.names)
        result.meta = {**dict(getattr(samples, "meta", {}) or {}), "ignored_boxes": ignored,
                       "source_class_names": names, "classmap": self.name}
        result.meta.pop("category_ids", None)  # training ids changed; per-box category_id attributes remain
        return result

    def _target(self, source_name: str) -> int:
        if source_name in self.sources:
            return self.sources[source_name]
        if source_name in self.drop:
            return _DROP
        return _UNKNOWN


class _MapError(ValueError):
    """A malformed class map entry; ``key``/``index`` locate it in the JSON file."""

    def __init__(self, message: str, key: str, index: int | None = None):
        super().__init__(message)
        self.key, self.index = key, index


def _is_source(value: Any) -> bool:
    return (isinstance(value, str) and bool(value)) or (isinstance(value, int) and not isinstance(value, bool))


def _copy_report(report: ReadReport | None) -> ReadReport:
    if report is None:
        return ReadReport()
    return ReadReport(path=report.path, num_samples=report.num_samples, num_boxes=report.num_boxes,
                      skipped=list(report.skipped), dropped_boxes=dict(report.dropped_boxes))

"""Dataset summaries: counts, class histogram, box sizes, and the problems found on the way."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .check import locate_missing_images
from .geometry import outside_box_mask
from .imageio import probe_image
from .records import Sample

__all__ = ["DatasetSummary", "Problem", "summarize"]

_HEADER_BYTES = 1 << 16


@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding: ``severity`` is "error" or "warning"; ``where`` names the image (and line)."""

    severity: str
    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


@dataclasses.dataclass
class DatasetSummary:
    """What :func:`summarize` found."""

    num_images: int
    num_boxes: int
    images_without_boxes: int
    class_counts: dict[str, int]
    box_width: dict[str, float]
    box_height: dict[str, float]
    problems: list[Problem]

    @property
    def num_errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    def to_text(self, max_problems: int = 50) -> str:
        """A human-readable report."""
        lines = [f"images: {self.num_images} ({self.images_without_boxes} without boxes)",
                 f"boxes:  {self.num_boxes}", "classes:"]
        width = max((len(k) for k in self.class_counts), default=0)
        for name, count in sorted(self.class_counts.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {name:<{width}}  {count}")
        if self.num_boxes:
            for label, stats in (("box width (px)", self.box_width), ("box height (px)", self.box_height)):
                lines.append(f"{label}: " + ", ".join(f"{k} {v:.1f}" for k, v in stats.items()))
        kinds = Counter((p.severity, p.kind) for p in self.problems)
        lines.append(f"problems: {len(self.problems)} ({self.num_errors} errors)")
        for (severity, kind), count in sorted(kinds.items()):
            lines.append(f"  {severity} {kind}: {count}")
        for p in self.problems[:max_problems]:
            lines.append(f"  {p}")
        if len(self.problems) > max_problems:
            lines.append(f"  ... and {len(self.problems) - max_problems} more")
        return "\n".join(lines)


def _stats(values: np.ndarray) -> dict[str, float]:
    q = np.percentile(values, [0, 5, 50, 95, 100])
    return {"min": float(q[0]), "p5": float(q[1]), "median": float(q[2]), "p95": float(q[3]), "max": float(q[4])}


def summarize(samples: Sequence[Sample], class_names: Sequence[str] | None = None,
              check_images: bool = True, images_dir: str | os.PathLike | None = None) -> DatasetSummary:
    """Count images, boxes and classes, and list problems without changing any file.

    Problems: missing or unreadable image headers (error), boxes outside the image (error),
    zero-size boxes (warning), labels outside ``class_names`` (error). Image sizes come from the
    JPEG/PNG header (with EXIF orientation), so images are not decoded.

    Args:
        samples: the samples of a reader.
        class_names: names of the labels (default: ``samples.class_names`` if present).
        check_images: open every image's header (missing images, real sizes).
        images_dir: the images root the samples were read with, if known. When most images are
            missing, one problem says so, naming this folder (or the one the missing paths share)
            and the nearest folder that holds them (:func:`seqloaders.check.locate_missing_images`).

    Returns:
        A :class:`DatasetSummary`.
    """
    if class_names is None:
        class_names = tuple(getattr(samples, "class_names", ()) or ())
    problems: list[Problem] = []
    counts: Counter = Counter()
    widths, heights = [], []
    empty = 0
    missing: list[str] = []
    for sample in samples:
        line = sample.meta.get("line")
        where = f"{sample.image}" + (f" (line {line})" if line else "")
        if sample.num_boxes == 0:
            empty += 1
        size = sample.image_size
        if check_images:
            try:
                with open(sample.image, "rb") as f:
                    info = probe_image(f.read(_HEADER_BYTES))
            except FileNotFoundError:
                problems.append(Problem("error", "missing image", where, "image file not found"))
                missing.append(sample.image)
                info = None
            except OSError as exc:
                problems.append(Problem("error", "unreadable image", where, str(exc)))
                info = None
            else:
                if info is None:
                    problems.append(Problem("warning", "unknown image header", where,
                                            "not a JPEG/PNG header (or a damaged one): size not checked"))
            if info is not None:
                size = info.size
        b = sample.boxes
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        widths.append(w)
        heights.append(h)
        for k in np.flatnonzero((w <= 0) | (h <= 0)):
            problems.append(Problem("warning", "zero-size box", where, f"box {k} {b[k].tolist()} has no area"))
        if size is not None and len(b):
            H, W = size
            for k in np.flatnonzero(outside_box_mask(b, size)):
                problems.append(Problem("error", "box outside image", where,
                                        f"box {k} {b[k].tolist()} exceeds the image size {W}x{H} (W x H)"))
        for label in sample.labels.tolist():
            if class_names and not 0 <= label < len(class_names):
                problems.append(Problem("error", "unknown class", where, f"label {label} has no class name"))
                counts[str(label)] += 1
            else:
                counts[class_names[label] if class_names else str(label)] += 1
    many = locate_missing_images(list(dict.fromkeys(missing)), len({s.image for s in samples}), images_dir)
    if many is not None:  # one problem instead of one per image
        problems = [p for p in problems if p.kind != "missing image"]
        problems.insert(0, Problem("error", "missing image", many.where, many.message))
    w_all = np.concatenate(widths) if widths else np.zeros(0)
    h_all = np.concatenate(heights) if heights else np.zeros(0)
    return DatasetSummary(
        num_images=len(samples), num_boxes=len(w_all), images_without_boxes=empty, class_counts=dict(counts),
        box_width=_stats(w_all) if len(w_all) else {}, box_height=_stats(h_all) if len(h_all) else {},
        problems=problems)



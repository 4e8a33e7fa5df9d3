"""What a dataset check reports: the finding kinds, one :class:`Finding`, and the :class:`CheckReport`
with its summary and JSON forms.

:func:`~seqloaders.check_dataset` makes these; this module only holds and renders them.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["FINDING_KINDS", "CheckReport", "Finding"]

#: Every finding kind and its default severity.
FINDING_KINDS: dict[str, str] = {
    "missing image": "error",
    "empty image": "error",
    "truncated image": "error",
    "unreadable image": "error",
    "exif orientation": "warning",
    "image size mismatch": "warning",
    "box outside image": "error",
    "zero-size box": "warning",
    "duplicate image": "warning",
    "duplicate entry": "warning",
    "missing mask": "error",
    "unreadable mask": "error",
    "mask size mismatch": "error",
    "mask count mismatch": "error",
    "unknown class": "error",
    "class not in class map": "error",
    "malformed annotation": "error",
}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem found by :func:`~seqloaders.check_dataset`.

    Attributes:
        kind: what is wrong, one of :data:`FINDING_KINDS` (e.g. "box outside image").
        severity: "error" or "warning".
        image: the image path (or storage key) concerned, or None.
        message: what was found, with the values involved.
        file: the annotation file that describes the image, where known.
        line: the 1-based line of the image's entry in ``file``, where the format has lines.
        details: machine-readable extras (box index and coordinates, sizes, copies, ...).

    Example:
        >>> f = Finding("zero-size box", "warning", "a.jpg", "box 0 has no area", "boxes.csv", 3)
        >>> str(f)
        'warning: boxes.csv:3 (a.jpg): zero-size box: box 0 has no area'
    """

    kind: str
    severity: str
    image: str | None
    message: str
    file: str | None = None
    line: int | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def where(self) -> str:
        """``file:line (image)``, as much of it as is known."""
        place = ""
        if self.file:
            place = self.file + (f":{self.line}" if self.line is not None else "")
        elif self.line is not None:
            place = f"line {self.line}"
        if self.image and self.image != self.file:
            place = f"{place} ({self.image})" if place else self.image
        return place or "?"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "severity": self.severity, "image": self.image, "file": self.file,
                "line": self.line, "message": self.message, "details": _jsonable(dict(self.details))}

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.kind}: {self.message}"


@dataclasses.dataclass
class CheckReport:
    """What :func:`~seqloaders.check_dataset` found.

    Attributes:
        findings: every finding, in the order of the samples (duplicates last).
        num_samples: samples checked.
        num_images: distinct image files opened.
        num_boxes: boxes checked.
        seconds: wall time of the check.

    Example:
        >>> report = CheckReport([], num_samples=2, num_images=2, num_boxes=3)
        >>> report.ok, report
        (True, CheckReport(2 images, 2 samples, 3 boxes: ok, no findings))
    """

    findings: list[Finding]
    num_samples: int = 0
    num_images: int = 0
    num_boxes: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        """The error-level findings."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The warning-level findings."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings allowed)."""
        return not self.errors

    def counts(self) -> dict[str, int]:
        """Number of findings by kind."""
        return dict(collections.Counter(f.kind for f in self.findings))

    def by_kind(self, kind: str) -> list[Finding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: totals, counts by kind and every finding."""
        return {"ok": self.ok, "num_samples": self.num_samples, "num_images": self.num_images,
                "num_boxes": self.num_boxes, "errors": len(self.errors), "warnings": len(self.warnings),
                "seconds": round(self.seconds, 3), "counts": self.counts(),
                "findings": [f.to_dict() for f in self.findings]}

    def to_json(self, path: str | os.PathLike | None = None, indent: int = 2) -> str:
        """The report as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    def summary(self, max_findings: int = 50) -> str:
        """A human-readable report: totals, counts by kind, then the findings (errors first)."""
        verdict = "OK" if self.ok else "FAILED"
        lines = [f"checked {self.num_images} images ({self.num_samples} samples, {self.num_boxes} boxes) "
                 f"in {self.seconds:.1f} s: {verdict}, {_plural(len(self.errors), 'error')}, "
                 f"{_plural(len(self.warnings), 'warning')}"]
        kinds = collections.Counter((f.severity, f.kind) for f in self.findings)
        for (severity, kind), count in sorted(kinds.items()):
            lines.append(f"  {severity} {kind}: {count}")
        ordered = self.errors + self.warnings
        for f in ordered[:max_findings]:
            lines.append(f"  {f}")
        if len(ordered) > max_findings:
            lines.append(f"  ... and {len(ordered) - max_findings} more (write them all with --json)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        head = f"CheckReport({self.num_images} images, {self.num_samples} samples, {self.num_boxes} boxes: "
        if not self.findings:
            return head + "ok, no findings)"
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts().items()))
        state = "ok" if self.ok else "FAILED"
        errors, warnings = _plural(len(self.errors), "error"), _plural(len(self.warnings), "warning")
        return head + f"{state}, {errors}, {warnings}: {counts})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


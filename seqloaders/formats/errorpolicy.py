"""The ``on_error="raise" | "warn" | "skip"`` policy shared by every reader."""

from __future__ import annotations

import warnings

from ..errors import AnnotationError
from ..records import ReadReport

__all__ = ["ON_ERROR", "check_on_error", "handle_error"]

ON_ERROR = ("raise", "warn", "skip")


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")


def handle_error(error: AnnotationError, on_error: str, report: ReadReport) -> None:
    """Raise ``error``, or record it in ``report`` and carry on.

    ``"raise"``: raise at once. ``"warn"``: skip the entry, warn for each one. ``"skip"``: skip the
    entry and record it; the reader warns once at the end with the count (never silent).
    """
    if on_error == "raise":
        raise error
    report.skipped.append((error.line, str(error)))
    if on_error == "warn":
        warnings.warn(str(error), UserWarning, stacklevel=3)


def warn_summary(report: ReadReport, on_error: str) -> None:
    """One warning summarising what ``on_error="skip"`` skipped."""
    if on_error == "skip" and report.skipped:
        first = report.skipped[0][1]
        warnings.warn(
            f"skipped {len(report.skipped)} malformed entries in {report.path} (first: {first}); "
            "see .report.skipped for all", UserWarning, stacklevel=3)

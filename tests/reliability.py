"""What the fuzz and fault tests tried, logged so that RELIABILITY.md is generated from real runs.

A test calls :func:`record` once per class of bad input it exercised. Nothing is written unless
``SEQLOADERS_RELIABILITY_LOG`` names a file (``make fuzz`` sets it); each call appends one JSON line.
"""

from __future__ import annotations

import json
import os

__all__ = ["record"]


def record(category: str, input_class: str, cases: int, outcome: str) -> None:
    """Log that ``cases`` inputs of ``input_class`` (within ``category``) ended in ``outcome``.

    Args:
        category: the RELIABILITY.md section, e.g. ``"hostile annotation files"``, ``"broken images"``,
            ``"dying workers"``, ``"long runs"``, ``"nothing changed"``.
        input_class: what was tried, e.g. ``"coco: random bytes"``.
        cases: how many inputs were tried.
        outcome: what happened to all of them, e.g. ``"AnnotationError with path:line or valid result"``.
    """
    path = os.environ.get("SEQLOADERS_RELIABILITY_LOG")
    if not path:
        return
    line = json.dumps({"category": category, "input_class": input_class, "cases": int(cases),
                       "outcome": outcome, "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]})
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")

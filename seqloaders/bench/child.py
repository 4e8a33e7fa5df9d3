"""The entry point of a benchmark's child process (see :data:`seqloaders.bench.measure.CHILD_CODE`)."""

from __future__ import annotations

import dataclasses
import json

from .config import BenchConfig, DatasetSpec
from .measure import measure_variant
from .results import VariantResult

__all__ = ["main"]


def main(spec_path: str, out_path: str) -> int:
    """Entry point of an isolated run: read the spec, measure, write the result as JSON."""
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    config = BenchConfig.from_dict(spec["config"])
    dataset = DatasetSpec(**spec["dataset"])
    try:
        samples = dataset.load()
    except Exception as exc:
        result = VariantResult(spec["variant"], spec["workers"], error=f"failed to load the samples: {exc}")
    else:
        result = measure_variant(spec["variant"], spec["workers"], samples, config, spec.get("tfrecord_pattern"))
    result.isolated = True
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(result), f)
    return 0

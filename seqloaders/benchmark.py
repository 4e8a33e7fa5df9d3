"""Compatibility module: the throughput benchmark now lives in :mod:`seqloaders.bench`.

``from seqloaders.benchmark import BenchConfig, DatasetSpec, plot_results, run_benchmark`` (and every
other public name it had) keeps working through the re-exports below; new code imports from
``seqloaders.bench``. The package's ``__init__`` does not import this module.
"""

from __future__ import annotations

from typing import Any

from .bench import (
    BACKENDS,
    DEFAULT_VARIANTS,
    RATIOS,
    VARIANTS,
    BenchConfig,
    BenchResult,
    DatasetSpec,
    MemoryCheck,
    NotApplicable,
    VariantResult,
    backend_python,
    cpu_busy,
    machine_info,
    measure_variant,
    plot_results,
    prepare_tfrecord_shards,
    run_benchmark,
    split_variant,
    tfrecord_available,
    variant_text,
    write_results,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_VARIANTS",
    "RATIOS",
    "VARIANTS",
    "BenchConfig",
    "BenchResult",
    "DatasetSpec",
    "MemoryCheck",
    "NotApplicable",
    "TutorialSequence",  # noqa: F822 - made on first access, by the module's __getattr__
    "VariantResult",
    "backend_python",
    "cpu_busy",
    "machine_info",
    "measure_variant",
    "plot_results",
    "prepare_tfrecord_shards",
    "run_benchmark",
    "split_variant",
    "tfrecord_available",
    "variant_text",
    "write_results",
]


def __getattr__(name: str) -> Any:
    """``TutorialSequence`` is made on first access (it subclasses ``keras.utils.PyDataset``)."""
    if name == "TutorialSequence":
        from . import bench

        return bench.TutorialSequence
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The whole benchmark: every variant at every worker count, in rounds, then the memory check."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import tempfile
import time
from typing import Any

import numpy as np

from ..imageio import probe_image
from ..records import Sample
from .config import BenchConfig, DatasetSpec, NotApplicable
from .machine import cpu_busy, machine_info
from .measure import measure_variant, run_isolated
from .results import BenchResult, MemoryCheck, VariantResult
from .sequences import prepare_tfrecord_shards

__all__ = ["run_benchmark"]

log = logging.getLogger(__name__)


def _describe(samples: list[Sample]) -> dict[str, Any]:
    paths = sorted({s.image for s in samples})
    local = [p for p in paths if os.path.isfile(p)]
    info: dict[str, Any] = {"num_images": len(samples), "num_files": len(paths),
                            "num_boxes": int(sum(s.num_boxes for s in samples))}
    if local:
        sizes = [os.path.getsize(p) for p in local]
        info["mean_bytes"] = float(np.mean(sizes))
        probes = []
        for p in local[:: max(1, len(local) // 64)]:
            with open(p, "rb") as f:
                probes.append(probe_image(f.read()))
        probes = [p for p in probes if p is not None]
        if probes:
            info["mean_size"] = [float(np.mean([p.size[k] for p in probes])) for k in (0, 1)]
            info["jpeg_fraction"] = float(np.mean([p.format == "jpeg" for p in probes]))
    text = f"{info['num_images']} images, {info['num_boxes']} boxes"
    if "mean_size" in info:
        h, w = info["mean_size"]
        kind = "JPEG" if info.get("jpeg_fraction") == 1.0 else "images"
        text += f", {kind} of mean {w:.0f}x{h:.0f} px and {info['mean_bytes'] / 1000:.0f} KB"
    info["description"] = text
    return info


def _warm_page_cache(samples: list[Sample]) -> None:
    for path in {s.image for s in samples}:
        if os.path.isfile(path):
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass


def run_benchmark(
    dataset: DatasetSpec,
    config: BenchConfig | None = None,
    *,
    workdir: str | None = None,
    quick: bool = False,
) -> BenchResult:
    """Measure every configured variant at every worker count, then the memory check.

    Progress goes to the ``seqloaders.bench`` loggers (INFO).

    Args:
        dataset: the samples to load (every variant reads the same files).
        config: what to measure (default: :class:`BenchConfig`).
        workdir: where TFRecord shards for (f) are written (default: a temporary folder).
        quick: only marks the result as a smoke test (the caller shrinks the set and epochs).

    Returns:
        A :class:`BenchResult`.
    """
    config = config or BenchConfig()
    started = time.time()
    machine = machine_info()
    samples = dataset.load()
    description = _describe(samples)
    log.info("benchmark on %s", description["description"])
    _warm_page_cache(samples)
    results: list[VariantResult] = []
    memory = None
    with tempfile.TemporaryDirectory(prefix="seqloaders-bench-") as tmp:
        pattern, tfrecord_error = None, None
        if "f" in config.variants:
            try:
                pattern = prepare_tfrecord_shards(samples, os.path.join(workdir or tmp, "tfrecord"))
            except NotApplicable as exc:
                tfrecord_error = str(exc)
            except Exception as exc:
                tfrecord_error = f"failed: writing the shards: {type(exc).__name__}: {exc}"
        pooled: dict[tuple[str, int], VariantResult] = {}
        for round_ in range(config.rounds):
            for variant in config.variants:
                for workers in config.workers:
                    if variant == "f" and tfrecord_error:
                        result = VariantResult(variant, workers, error=tfrecord_error)
                    elif config.isolate:
                        result = run_isolated(variant, workers, dataset, config, pattern)
                    else:
                        result = measure_variant(variant, workers, samples, config, pattern)
                    result.stall_factor = config.stall_factor
                    if config.rounds > 1:
                        log.info("round %d of %d: %s", round_ + 1, config.rounds, result.summary())
                    else:
                        log.info("%s", result.summary())
                    _pool_round(pooled, result)
        results = list(pooled.values())
        if config.memory_factor > 1 and "d" in config.variants:
            workers = max(config.workers)
            small = next(r for r in results if r.variant == "d" and r.workers == workers)
            large_spec = dataclasses.replace(dataset, repeat=dataset.repeat * config.memory_factor)
            log.info("memory check: (d) on %dx the samples", config.memory_factor)
            if config.isolate:
                large = run_isolated("d", workers, large_spec, config, None)
            else:
                large = measure_variant("d", workers, large_spec.load(), config)
            large.stall_factor = config.stall_factor
            memory = MemoryCheck(workers, config.memory_factor, len(samples), small, large)
    if hasattr(os, "getloadavg"):
        machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    machine["cpu_busy_end"] = cpu_busy()
    return BenchResult(config=config, dataset=description, machine=machine, results=results, memory=memory,
                       started=datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
                       elapsed_s=time.time() - started, quick=quick)


def _pool_round(pooled: dict[tuple[str, int], VariantResult], result: VariantResult) -> None:
    """Add one round's run of a (variant, workers) to the runs of the earlier rounds."""
    key = (result.variant, result.workers)
    first = pooled.get(key)
    if first is None:
        pooled[key] = result
        return
    first.error = first.error or result.error
    first.epoch_seconds += result.epoch_seconds
    first.warmup_seconds += result.warmup_seconds
    peaks = [r for r in (first.peak_rss_mb, result.peak_rss_mb) if r]
    first.peak_rss_mb = max(peaks) if peaks else None
    bases = [r for r in (first.base_rss_mb, result.base_rss_mb) if r]
    first.base_rss_mb = min(bases) if bases else None

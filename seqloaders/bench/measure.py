"""Measuring one (variant, workers) run: in this process, or in a fresh child process pinned to its cores.

A child process runs :func:`seqloaders.bench.child.main`, so its peak RSS is its own and "1 worker"
means one core for every variant (TensorFlow's and OpenCV's thread pools included).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile

from ..records import Sample
from . import baselines, fit, sequences
from .config import FIT_VARIANTS, BenchConfig, DatasetSpec, NotApplicable, split_variant
from .context import RunContext, Runner
from .machine import rss_mb, usable_cpus
from .results import VariantResult

__all__ = ["CHILD_CODE", "RUNNERS", "backend_python", "measure_variant", "run_isolated"]

log = logging.getLogger(__name__)

#: variant key (without its backend) → its run
RUNNERS: dict[str, Runner] = {**baselines.RUNNERS, **sequences.RUNNERS, **fit.RUNNERS}

# the checkout holding the seqloaders package: a child process imports it from there
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _import_frameworks(variant: str) -> None:
    """Import what the variant's run imports (Keras and its backend), as the module did at import time once."""
    variant = split_variant(variant)[0]
    if variant == "a":
        return
    import keras

    if variant.startswith("b") or variant == "f" or (variant in FIT_VARIANTS and
                                                      keras.backend.backend() == "tensorflow"):
        import tensorflow  # noqa: F401 - loaded for its memory, before the measurement starts


def measure_variant(variant: str, workers: int, samples: list[Sample], config: BenchConfig,
                    tfrecord_pattern: str | None = None) -> VariantResult:
    """Measure one variant in this process (no isolation; see :func:`run_benchmark`).

    Args:
        variant: a key of :data:`VARIANTS`.
        workers: threads (or cores) the variant may use.
        samples: the samples to load.
        config: epochs, batch and image size.
        tfrecord_pattern: shards for variant (f), from :func:`prepare_tfrecord_shards`.
    """
    result = VariantResult(variant, workers, isolated=False, stall_factor=config.stall_factor)
    ctx = RunContext(list(samples), workers, config, tfrecord_pattern)
    _import_frameworks(variant)  # before the set-up's RSS, so that "+ over set-up" is what the loading holds
    result.base_rss_mb = rss_mb("VmRSS")
    try:
        seconds, images, notes = RUNNERS[split_variant(variant)[0]](ctx)
    except NotApplicable as exc:
        result.error = str(exc) if str(exc).startswith("n/a") else f"n/a: {exc}"
        return result
    except Exception as exc:
        log.debug("variant %s failed", variant, exc_info=True)
        result.error = f"failed: {type(exc).__name__}: {exc}"
        return result
    result.peak_rss_mb = rss_mb("VmHWM")
    result.warmup_seconds = seconds[:config.warmup]
    result.epoch_seconds = seconds[config.warmup:]
    result.images_per_epoch = images
    result.notes = notes
    return result


#: the code a child process runs: pin its cores, then measure (argv: spec, result, cores)
CHILD_CODE = """\
import os, sys
cpus = [int(c) for c in sys.argv[3].split(",") if c]
if cpus and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, cpus)  # before TensorFlow and OpenCV size their thread pools
from seqloaders.bench.child import main
sys.exit(main(sys.argv[1], sys.argv[2]))
"""


def backend_python(backend: str | None, pythons: dict[str, str] | None = None) -> str:
    """The interpreter that runs a variant under ``backend``.

    ``pythons[backend]`` if given, else the checkout's ``.venv-<backend>/bin/python`` (``make
    test-backends`` makes ``.venv-jax`` and ``.venv-torch``) when it exists, else this interpreter.
    """
    if backend is None:
        return sys.executable
    if pythons and backend in pythons:
        return pythons[backend]
    candidate = os.path.join(_CHECKOUT, f".venv-{backend}", "bin", "python")
    return candidate if os.access(candidate, os.X_OK) else sys.executable


def run_isolated(variant: str, workers: int, dataset: DatasetSpec, config: BenchConfig,
                 tfrecord_pattern: str | None) -> VariantResult:
    """Measure one variant in a fresh child process (see :func:`measure_variant` for the arguments).

    The child rebuilds the samples from ``dataset``, runs on the first ``workers`` usable cores when
    ``config.pin_cores``, under ``KERAS_BACKEND`` when the key names a backend; a run that crashes or
    times out comes back as a result with its ``error`` set.
    """
    cpus = usable_cpus()
    pinned = cpus[:workers] if config.pin_cores else []
    backend = split_variant(variant)[1]
    env = dict(os.environ)
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_CHECKOUT, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="seqloaders-bench-") as tmp:
        spec_path, out_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "result.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump({"variant": variant, "workers": workers, "config": dataclasses.asdict(config),
                       "dataset": dataclasses.asdict(dataset), "tfrecord_pattern": tfrecord_pattern}, f)
        command = [backend_python(backend, config.pythons), "-c", CHILD_CODE, spec_path, out_path,
                   ",".join(map(str, pinned))]
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=config.timeout, check=False)
        except subprocess.TimeoutExpired:
            return VariantResult(variant, workers, error=f"failed: timed out after {config.timeout:.0f} s")
        if not os.path.exists(out_path):
            tail = " | ".join(line for line in (proc.stderr or "").strip().splitlines()[-3:])
            return VariantResult(variant, workers, error=f"failed: the process exited with {proc.returncode}: {tail}")
        with open(out_path, encoding="utf-8") as f:
            data = json.load(f)
    result = VariantResult(**data)
    result.stall_factor = config.stall_factor
    if pinned and len(pinned) < workers:
        result.notes.append(f"only {len(pinned)} cores available for {workers} workers")
    return result

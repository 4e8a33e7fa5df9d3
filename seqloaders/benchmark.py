"""Loader throughput benchmark: images/s and peak memory, side by side with the JPEG decode limit.

Every variant reads the same files in the same run, for each worker count, and is timed over
``epochs`` full passes after ``warmup`` passes; each (variant, workers) pair runs in a fresh
Python process pinned to ``workers`` cores, so its peak RSS is its own and "1 worker" means one
core for every variant (TensorFlow's and OpenCV's internal thread pools included).

Variants (keys in parentheses):

- (a) ``a``: the ceiling. Read the file, decode it at the smallest JPEG DCT scale that keeps the
  output's pixels (the library's rule, computed up front) with the library's decoder
  (``decode_image``: simplejpeg for JPEG, OpenCV otherwise), bilinear resize to the output, on a
  thread pool of ``workers`` threads. Nothing else: no targets, no float conversion.
- (b) ``b1``, ``b-same``: tf.data's best pipeline for the same work: ``read_file → decode_jpeg →
  resize → batch → prefetch`` with AUTOTUNE on a private pool of ``workers`` threads, decoding
  in full (``ratio=1``) or at each file's scale by the library's rule (``tf.switch_case`` over
  ``ratio`` 1/2/4/8). ``b4``: ``ratio=4`` for every file, shown for reference: files whose 1/4
  scale has fewer pixels than the output are decoded too small and upsampled, which is less work.
- (c) ``c``: a straightforward ``keras.utils.PyDataset`` of the tutorial kind: full ``cv2.imread``,
  INTER_AREA resize of the full image, float32, a grid target encoded per sample in Python;
  ``workers`` threads call ``__getitem__`` (as Keras' enqueuer does).
- (c') ``c-aug``: the same running the standard detection augmentation the usual way: full
  decode, albumentations at full size, then the INTER_AREA resize.
- (d) ``d``: :class:`~seqloaders.DetectionSequence` with grid targets, no augmentation, decoding
  on ``threads=workers`` inside ``__getitem__``, in a plain loop.
- (e) ``e``: the same with ``augment="detection"`` (flip, colour, affine: the
  :class:`~seqloaders.NativeAugmenter`, one LUT per colour change and one warp).
- (e') ``e-alb``: the same with ``augment="albumentations-detection"``: the very pipeline (c')
  runs, but at the output size.
- (d-proc), (e-proc), (e-user): (d), (e) and (e') with the loader's worker processes
  (``processes=workers``, whole batches built ahead in shared memory) instead of threads;
  (e-user) passes the albumentations ``Compose`` of :func:`~seqloaders.detection_preset` itself
  as ``augment=``, as a user brings their own pipeline.
- (f) ``f``: (d) reading from TFRecord shards; runs only when ``seqloaders.tfrecord`` exists.
- (g) ``g``, ``g-workers``, ``g-tfdata``, ``g-uint8``: (d) feeding ``model.fit`` of a tiny
  model with a 7x7x5 head whose stem keeps every 8th pixel, so its training step costs the CPU a
  few ms (it stands for a model on an accelerator; the step alone is measured and printed):
  with Keras' defaults, with Keras ``workers=2``, through ``to_tf_dataset(seq, repeat=True)``
  with ``steps_per_epoch``, and the same with ``preprocess="uint8"`` and a ``Rescaling`` layer.
- (g-u8) ``g-u8``: as ``g`` (``model.fit(seq)``, fit's defaults) with ``preprocess="uint8"`` and a
  ``Rescaling`` layer.
- (g-proc) ``g-proc``: as ``g-tfdata`` with ``processes=workers``.
- (g') ``g-conv``: as ``g-uint8`` with a stride-4 convolution over the full image as the first
  layer: on a CPU its step (20-30 ms per batch) takes the loader's cores; not in the goal.
- Any (g) variant under another Keras backend: ``g@jax``, ``g-u8@torch``, ... runs it with
  ``KERAS_BACKEND`` set, in the interpreter :attr:`BenchConfig.pythons` names for that backend
  (default: ``.venv-<backend>/bin/python`` of the checkout when it exists, as ``make
  test-backends`` makes them, else this one); the variants through tf.data need TensorFlow there.

Example:
    >>> from seqloaders.benchmark import BenchConfig, DatasetSpec, run_benchmark
    >>> spec = DatasetSpec("widerface", "wider_face_train_bbx_gt.txt",
    ...                    options={"images_dir": "WIDER_train/images"}, limit=512)  # doctest: +SKIP
    >>> result = run_benchmark(spec, BenchConfig(variants=("a", "d")))                # doctest: +SKIP
    >>> print(result.table())                                                          # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import dataclasses
import datetime
import functools
import glob
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .formats.registry import read
from .imageio import choose_reduction, probe_image
from .records import Sample

if TYPE_CHECKING:  # Keras (and TensorFlow) load only inside the runs that use them:
    import keras  # `seqloaders bench --help` stays fast

__all__ = [
    "DEFAULT_VARIANTS",
    "VARIANTS",
    "BenchConfig",
    "BenchResult",
    "DatasetSpec",
    "MemoryCheck",
    "TutorialSequence",  # noqa: F822 - made on first access, by the module's __getattr__
    "VariantResult",
    "machine_info",
    "measure_variant",
    "plot_results",
    "prepare_tfrecord_shards",
    "run_benchmark",
    "tfrecord_available",
    "write_results",
]

log = logging.getLogger(__name__)

#: variant key → one-line description (the table's order).
VARIANTS: dict[str, str] = {
    "a": "(a)  ceiling: read + reduced DCT decode + resize",
    "b1": "(b)  tf.data, decode_jpeg ratio=1",
    "b4": "(b)  tf.data, decode_jpeg ratio=4",
    "b-same": "(b)  tf.data, decode_jpeg at (a)'s scale per file",
    "c": "(c)  tutorial PyDataset",
    "c-aug": "(c') tutorial PyDataset + full-size augmentation",
    "d": "(d)  DetectionSequence, grid, no augmentation",
    "e": "(e)  DetectionSequence, augment='detection'",
    "e-alb": "(e') DetectionSequence, augment='albumentations-detection'",
    "d-proc": "(d)  DetectionSequence, processes=workers",
    "e-proc": "(e)  DetectionSequence, augment='detection', processes=workers",
    "e-user": "(e-user) your albumentations Compose, processes=workers",
    "f": "(f)  DetectionSequence from TFRecord shards",
    "g": "(g)  model.fit(d), Keras defaults",
    "g-workers": "(g)  model.fit(d), PyDataset workers=2",
    "g-tfdata": "(g)  model.fit(to_tf_dataset(d, repeat=True))",
    "g-uint8": "(g)  the same, uint8 batches + Rescaling layer",
    "g-u8": "(g)  model.fit(d), Keras defaults, uint8 batches + Rescaling layer",
    "g-proc": "(g)  model.fit(to_tf_dataset(d-proc, repeat=True))",
    "g-conv": "(g') the same, conv-stem model: its step on the CPU",
}
DEFAULT_VARIANTS: tuple[str, ...] = tuple(VARIANTS)
_FIT_VARIANTS = tuple(key for key in VARIANTS if key.startswith("g"))
# "g*": the model whose step leaves the CPU to the loader
_FIT_BEST = ("g", "g-workers", "g-tfdata", "g-uint8", "g-u8", "g-proc")
_TF_DATA_VARIANTS = ("b1", "b-same")  # "b*": tf.data doing the same work as (a) and (d)
_LOCAL_FILE_VARIANTS = ("a", "b1", "b4", "b-same", "c", "c-aug")
BACKENDS = ("tensorflow", "jax", "torch")  # Keras backends a (g) variant can run under: "g@jax"
_TF_DATA_FIT = ("g-tfdata", "g-uint8", "g-proc", "g-conv")  # the (g) variants that need tf.data


def split_variant(key: str) -> tuple[str, str | None]:
    """``"g-u8@jax"`` → ``("g-u8", "jax")``; a key without a backend → ``(key, None)``."""
    base, _, backend = key.partition("@")
    return base, backend or None


def variant_text(key: str) -> str:
    """The one-line description of a variant key, with its Keras backend when it names one."""
    base, backend = split_variant(key)
    return VARIANTS[base] + (f" [KERAS_BACKEND={backend}]" if backend else "")

#: (name, numerator, denominator, goal or None, what it shows); "b*" and "g*" mean the best of them.
RATIOS: tuple[tuple[str, str, str, float | None, str], ...] = (
    ("(d)/(a)", "d", "a", 0.9, "loader vs the decode ceiling"),
    ("(d)/(b)", "d", "b*", 1.1, "loader vs tf.data's best"),
    ("(d)/(b) unstalled", "d", "b*~", 1.1, "vs tf.data's unstalled epochs"),
    ("(d)/(b4)", "d", "b4", None, "vs tf.data decoding all at 1/4, below the output size for some files"),
    ("(e)/(c')", "e", "c-aug", 3.0, "augmented loader vs the usual full-size augmentation"),
    ("(e')/(c')", "e-alb", "c-aug", None, "the same albumentations pipeline, at the output size"),
    ("(e-user)/(c')", "e-user", "c-aug", 3.0, "your albumentations Compose on worker processes"),
    ("(e-user)/(e')", "e-user", "e-alb", None, "worker processes vs threads, albumentations"),
    ("(e-proc)/(e)", "e-proc", "e", None, "worker processes vs threads, native augmentation"),
    ("(d-proc)/(d)", "d-proc", "d", None, "worker processes vs threads, no augmentation"),
    ("(e)/(c)", "e", "c", None, "augmented loader vs the plain tutorial loader"),
    ("(d)/(c)", "d", "c", None, "loader vs the tutorial loader"),
    ("(f)/(d)", "f", "d", None, "TFRecord shards vs files"),
    ("(g)/(d)", "g*", "d", 0.7, "inside model.fit (best (g) variant)"),
    ("(g)/(d) fit defaults", "g", "d", 0.8, "model.fit(seq), fit's defaults (shuffle=True), TensorFlow"),
    ("(g-u8)/(d) fit defaults", "g-u8", "d", 0.8, "the same, uint8 batches, TensorFlow"),
    ("(g)/(d) JAX", "g@jax", "d", 0.8, "model.fit(seq), fit's defaults, KERAS_BACKEND=jax"),
    ("(g-u8)/(d) JAX", "g-u8@jax", "d", 0.8, "the same, uint8 batches, KERAS_BACKEND=jax"),
    ("(g)/(d) PyTorch", "g@torch", "d", 0.8, "model.fit(seq), fit's defaults, KERAS_BACKEND=torch"),
    ("(g-u8)/(d) PyTorch", "g-u8@torch", "d", 0.8, "the same, uint8 batches, KERAS_BACKEND=torch"),
    ("(g-proc)/(d-proc)", "g-proc", "d-proc", None, "inside model.fit, worker processes"),
    ("(g')/(d)", "g-conv", "d", None, "inside model.fit, a model step that takes the CPU too"),
)

class NotApplicable(Exception):
    """A variant that cannot run on this dataset or installation (reported as n/a)."""


# -- configuration ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How to load the benchmark's samples; a child process rebuilds them from this.

    Args:
        format: a registered format name (``seqloaders.available_formats()``), e.g. "widerface".
        path: the annotation file (or folder) the reader takes.
        options: keyword arguments of the reader (e.g. ``{"images_dir": ...}``).
        limit: use a seeded random subset of this many samples (None: all).
        seed: seed of the subset.
        repeat: parse the annotations this many times and concatenate (distinct records for the
            same files), for the memory check.
    """

    format: str
    path: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    limit: int | None = None
    seed: int = 0
    repeat: int = 1

    def load(self) -> list[Sample]:
        """Read the samples (a seeded subset if ``limit``), ``repeat`` times over."""
        out: list[Sample] = []
        for _ in range(max(1, self.repeat)):
            samples = list(read(self.format, self.path, **self.options))
            if self.limit is not None and 0 < self.limit < len(samples):
                idx = np.sort(np.random.default_rng(self.seed).choice(len(samples), self.limit, replace=False))
                samples = [samples[int(i)] for i in idx]
            out += samples
        if not out:
            raise ValueError(f"{self.path}: no samples to benchmark")
        return out


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What to measure and how.

    Args:
        variants: variant keys (see :data:`VARIANTS`), in the order to run.
        workers: worker counts; each variant runs once per count.
        epochs: measured epochs per run (median and spread are taken over them).
        warmup: epochs run first and not counted (page cache, thread pools, tracing).
        batch_size: images per batch.
        image_size: (H, W) of the model input.
        grid_size: grid of the targets (and of the tiny model's head).
        memory_factor: the memory check runs (d) on this many times the samples (0: skip it).
        isolate: run each (variant, workers) in a fresh process (peak RSS of its own); False runs
            everything in this process (faster to start; RSS is then the process's peak so far).
        pin_cores: in isolated runs, restrict each process to ``workers`` cores.
        stall_factor: an epoch slower than this many times the run's fastest epoch is a stall.
        timeout: seconds one isolated run may take.
        seed: seed of shuffling and augmentation.
        rounds: run the whole list this many times, one (variant, workers) after the other, and
            pool the epochs of all rounds: a slow spell of a shared machine then touches every
            variant a little rather than one variant entirely.
        pythons: Keras backend → the interpreter its ``"g@backend"`` runs use (default: see
            :func:`backend_python`).
    """

    variants: tuple[str, ...] = DEFAULT_VARIANTS
    workers: tuple[int, ...] = (1, 2)
    epochs: int = 5
    warmup: int = 1
    batch_size: int = 32
    image_size: tuple[int, int] = (224, 224)
    grid_size: int = 7
    memory_factor: int = 10
    isolate: bool = True
    pin_cores: bool = True
    stall_factor: float = 2.0
    timeout: float = 1200.0
    seed: int = 0
    rounds: int = 1
    pythons: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        unknown = [v for v in self.variants if split_variant(v)[0] not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(unknown)}; available: {', '.join(VARIANTS)}")
        wrong = [v for v in self.variants if split_variant(v)[1] is not None and (
            split_variant(v)[0] not in _FIT_VARIANTS or split_variant(v)[1] not in BACKENDS)]
        if wrong:
            raise ValueError(f"only the (g) variants run under another backend ({', '.join(_FIT_VARIANTS)}, "
                             f"'@' one of {', '.join(BACKENDS)}), got {', '.join(wrong)}")
        if not self.workers or min(self.workers) < 1:
            raise ValueError(f"workers must be positive counts, got {self.workers}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")
        if self.epochs < 1 or self.warmup < 0:
            raise ValueError(f"need epochs >= 1 and warmup >= 0, got epochs={self.epochs}, warmup={self.warmup}")
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "workers", tuple(int(w) for w in self.workers))
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchConfig:
        """The inverse of ``dataclasses.asdict`` (lists back to tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


# -- results ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class VariantResult:
    """One variant at one worker count.

    Attributes:
        variant: the variant key.
        workers: the worker count.
        epoch_seconds: wall time of each measured epoch.
        warmup_seconds: wall time of each warm-up epoch.
        images_per_epoch: images delivered per epoch.
        peak_rss_mb: peak resident memory of the process (MiB), None if unknown.
        base_rss_mb: resident memory before the first epoch (after imports and set-up).
        isolated: measured in a process of its own.
        stall_factor: see :class:`BenchConfig`.
        notes: remarks (decode scales used, stalls, ...).
        error: why the variant did not run ("n/a: ..." when it does not apply), else None.
    """

    variant: str
    workers: int
    epoch_seconds: list[float] = dataclasses.field(default_factory=list)
    warmup_seconds: list[float] = dataclasses.field(default_factory=list)
    images_per_epoch: int = 0
    peak_rss_mb: float | None = None
    base_rss_mb: float | None = None
    isolated: bool = True
    stall_factor: float = 2.0
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.epoch_seconds)

    @property
    def rates(self) -> list[float]:
        """Images/s of each measured epoch."""
        return [self.images_per_epoch / s for s in self.epoch_seconds if s > 0]

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.ok else math.nan

    @property
    def low(self) -> float:
        return min(self.rates) if self.ok else math.nan

    @property
    def high(self) -> float:
        return max(self.rates) if self.ok else math.nan

    @property
    def stalled(self) -> list[int]:
        """Indices of measured epochs slower than ``stall_factor`` × the fastest one.

        The reference is the fastest epoch, not the median: when most epochs stall, the median
        is itself a stalled epoch and would hide them.
        """
        if not self.ok:
            return []
        fastest = min(self.epoch_seconds)
        return [k for k, s in enumerate(self.epoch_seconds) if s > self.stall_factor * fastest]

    @property
    def unstalled_median(self) -> float:
        """Median images/s over the epochs that did not stall."""
        stalled = set(self.stalled)
        rates = [r for k, r in enumerate(self.rates) if k not in stalled]
        return statistics.median(rates) if rates else math.nan

    def summary(self) -> str:
        """One line for progress logs."""
        if not self.ok:
            return f"{variant_text(self.variant)}, {_workers_text(self.workers)}: {self.error}"
        rss = f", peak RSS {self.peak_rss_mb:.0f} MiB" if self.peak_rss_mb else ""
        return (f"{variant_text(self.variant)}, {_workers_text(self.workers)}: {self.median:.0f} images/s "
                f"[{self.low:.0f}-{self.high:.0f}]{rss}")


@dataclasses.dataclass
class MemoryCheck:
    """Peak RSS of (d) on N samples and on ``factor`` × N samples (same files, distinct records)."""

    workers: int
    factor: int
    num_images: int
    small: VariantResult
    large: VariantResult

    @property
    def growth(self) -> float:
        """Relative growth of peak RSS (0.05 = 5% more)."""
        if not (self.small.peak_rss_mb and self.large.peak_rss_mb):
            return math.nan
        return self.large.peak_rss_mb / self.small.peak_rss_mb - 1.0


@dataclasses.dataclass
class BenchResult:
    """Everything one benchmark run measured; render it with :meth:`table` or :meth:`markdown`."""

    config: BenchConfig
    dataset: dict[str, Any]
    machine: dict[str, Any]
    results: list[VariantResult]
    memory: MemoryCheck | None = None
    started: str = ""
    elapsed_s: float = 0.0
    quick: bool = False
    command: str = "python benchmarks/bench_throughput.py"

    def get(self, variant: str, workers: int) -> VariantResult | None:
        """The result of ``variant`` at ``workers``; ``"b*"``/``"g*"`` pick the best of the family."""
        family = {"b*": _TF_DATA_VARIANTS, "b*~": _TF_DATA_VARIANTS, "g*": _FIT_BEST}.get(variant)
        if family is None:
            return next((r for r in self.results if r.variant == variant and r.workers == workers), None)
        runs = [r for r in self.results if r.variant in family and r.workers == workers and r.ok]
        return max(runs, key=lambda r: r.median) if runs else None

    def ratio(self, numerator: str, denominator: str, workers: int) -> tuple[float, str]:
        """(ratio of median images/s, which variants), NaN when one side is missing."""
        num, den = self.get(numerator, workers), self.get(denominator, workers)
        if num is None or den is None or not (num.ok and den.ok):
            return math.nan, ""
        den_rate = den.unstalled_median if denominator.endswith("~") else den.median
        return num.median / den_rate, f"{num.variant}/{den.variant}"

    # -- rendering ---------------------------------------------------------------------------

    def _header(self) -> list[str]:
        c, d = self.config, self.dataset
        isolation = (f"each run in a fresh process{', pinned to `workers` cores' if c.pin_cores else ''}"
                     if c.isolate else "all runs in one process (peak RSS is the process's peak so far)")
        lines = [
            f"dataset: {d.get('description', '?')}",
            f"output {c.image_size[0]}x{c.image_size[1]}, batch {c.batch_size}, grid {c.grid_size}; "
            f"{c.epochs} measured epoch(s) after {c.warmup} warm-up"
            + (f" in each of {c.rounds} rounds over all variants (their epochs pooled)" if c.rounds > 1 else "")
            + f"; images/s as median [min-max]; {isolation}",
        ]
        if self.quick:
            lines.append("QUICK MODE: a tiny set and one epoch; the numbers only show that the benchmark runs")
        busy = self.machine.get("cpu_busy_start")
        load = self.machine.get("load_average_start")
        cores = self.machine.get("usable_cores") or 1
        if busy is not None:  # measured: what other processes used while this one slept
            if busy > _BUSY_WARNING:
                lines.append(f"WARNING: other processes used {busy:.0%} of the CPU just before the run: they "
                             "compete for it and the numbers are not reliable")
        elif load and load[0] > 0.3 * cores:
            lines.append(f"WARNING: load average {load[0]:.2f} on {cores} cores at the start: other processes "
                         "compete for the CPU and the numbers are not reliable")
        return lines

    def _rows(self) -> list[list[str]]:
        rows = []
        for variant in self.config.variants:
            for w in self.config.workers:
                r = self.get(variant, w)
                if r is None:
                    continue
                if not r.ok:
                    rows.append([variant_text(variant), str(w), r.error or "no result", "", "", "", ""])
                    continue
                rss = f"{r.peak_rss_mb:.0f}" + ("" if r.isolated else "*") if r.peak_rss_mb else "?"
                grown = f"{r.peak_rss_mb - r.base_rss_mb:.0f}" if r.peak_rss_mb and r.base_rss_mb else "?"
                stalls = ", ".join(str(k + 1) for k in r.stalled) or "-"
                rows.append([variant_text(variant), str(w), f"{r.median:.0f}", f"[{r.low:.0f}-{r.high:.0f}]", rss,
                             grown,
                             stalls])
        return rows

    def _ratio_rows(self) -> list[list[str]]:
        rows = []
        for name, num, den, goal, what in RATIOS:
            cells = []
            for w in self.config.workers:
                value, which = self.ratio(num, den, w)
                if math.isnan(value):
                    cells.append("n/a")
                    continue
                mark = "" if goal is None else (" ok" if value >= goal else " MISS")
                detail = f" ({which})" if ("*" in num or "*" in den) else ""
                cells.append(f"{value:.2f}{mark}{detail}")
            if all(c == "n/a" for c in cells):
                continue
            rows.append([name, *cells, f">= {goal:g}" if goal is not None else "-", what])
        return rows

    def _scaling_lines(self) -> list[str]:
        """Images/s at the most workers over the fewest, per variant (how it scales with cores)."""
        if len(self.config.workers) < 2:
            return []
        low, high = min(self.config.workers), max(self.config.workers)
        lines = []
        for variant in self.config.variants:
            a, b = self.get(variant, low), self.get(variant, high)
            if a is not None and b is not None and a.ok and b.ok and a.median:
                lines.append(f"{variant_text(variant)}: {b.median / a.median:.2f}x")
        return lines

    def _memory_lines(self) -> list[str]:
        lines = []
        m = self.memory
        if m is not None:
            if m.small.ok and m.large.ok and not math.isnan(m.growth):
                verdict = "ok" if m.growth < 0.10 else "MISS"
                lines.append(f"peak RSS of (d) with {_workers_text(m.workers)}: {m.num_images} images "
                             f"{m.small.peak_rss_mb:.0f} MiB, {m.factor}x ({m.num_images * m.factor} images) "
                             f"{m.large.peak_rss_mb:.0f} MiB: {m.growth:+.1%} (goal < +10%: {verdict})")
                lines.append(f"  the {m.factor}x set lists the same {m.num_images} files {m.factor} times "
                             "(the annotations parsed again each time, so the records are distinct)")
            else:
                lines.append(f"memory check failed: {m.large.error or m.small.error}")
        for w in self.config.workers:
            d, b = self.get("d", w), self.get("b*", w)
            if d is not None and b is not None and d.ok and b.ok and d.peak_rss_mb and b.peak_rss_mb:
                verdict = "ok" if d.peak_rss_mb < b.peak_rss_mb else "MISS"
                lines.append(f"peak RSS, {_workers_text(w)}: (d) {d.peak_rss_mb:.0f} MiB vs tf.data ({b.variant}) "
                             f"{b.peak_rss_mb:.0f} MiB (goal: below tf.data: {verdict})")
        return lines

    def _epoch_lines(self) -> list[str]:
        lines = []
        for r in self.results:
            if r.ok:
                stalled = f"  stalled: epoch {', '.join(str(k + 1) for k in r.stalled)}" if r.stalled else ""
                warm = ", ".join(f"{s:.2f}" for s in r.warmup_seconds)
                lines.append(f"{variant_text(r.variant)}, {r.workers}w: "
                             f"{', '.join(f'{s:.2f}' for s in r.epoch_seconds)} s"
                             f"{f' (warm-up {warm} s)' if warm else ''}{stalled}")
                lines += [f"    {note}" for note in r.notes]
        return lines

    def table(self) -> str:
        """The result as plain text: throughput table, ratios, memory, per-epoch times."""
        head = ["variant", "workers", "images/s", "[min-max]", "peak RSS MiB", "+ over set-up", "stalled epochs"]
        out = ["seqloaders throughput benchmark", *self._header(), "",
               _text_table(head, self._rows(), right=(1, 2, 3, 4, 5)), _RSS_NOTE, ""]
        ratio_head = ["ratio", *[f"workers={w}" for w in self.config.workers], "goal", "shows"]
        ratio_rows = self._ratio_rows()
        if ratio_rows:
            out += ["Ratios of median images/s (same run, same files):",
                    _text_table(ratio_head, ratio_rows), ""]
        scaling = self._scaling_lines()
        if scaling:
            out += [f"Scaling, {max(self.config.workers)} workers over {min(self.config.workers)}:", *scaling, ""]
        memory = self._memory_lines()
        if memory:
            out += ["Memory:", *memory, ""]
        out += ["Epoch times (measured epochs; a stall is an epoch slower than "
                f"{self.config.stall_factor:g}x the run's fastest):", *self._epoch_lines()]
        if any(not r.isolated for r in self.results):
            out.append("* RSS measured in a shared process: the peak of everything run before it")
        return "\n".join(out)

    def markdown(self) -> str:
        """The result as a Markdown page (``benchmarks/RESULTS.md``), with the machine's description."""
        m = self.machine
        head = ["variant", "workers", "images/s", "min-max", "peak RSS (MiB)", "+ over set-up (MiB)",
                "stalled epochs"]
        rows = [[*r[:3], r[3].strip("[]"), *r[4:]] for r in self._rows()]
        out = ["# seqloaders throughput benchmark", "",
               f"Measured {self.started}, in {self.elapsed_s / 60:.1f} min, with `{self.command}`.", "",
               "## Machine", "",
               f"- CPU: {m.get('cpu_model', '?')}; {m.get('logical_cores', '?')} logical cores "
               f"({m.get('usable_cores', '?')} usable by this process{_quota_text(m)})",
               f"- RAM: {m.get('ram_gib', '?')} GiB; {m.get('platform', '?')}; Python {m.get('python', '?')}",
               f"- load average at start / end: {_load_text(m.get('load_average_start'))} / "
               f"{_load_text(m.get('load_average_end'))}",
               f"- CPU used by other processes just before / after (1 s sample of /proc/stat): "
               f"{_busy_text(m.get('cpu_busy_start'))} / {_busy_text(m.get('cpu_busy_end'))}",
               "- versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()), "",
               "## Set-up", "", *[f"- {line}" for line in self._header()], "",
               "## Throughput", "", _markdown_table(head, rows), "", _RSS_NOTE, ""]
        ratio_rows = self._ratio_rows()
        if ratio_rows:
            out += ["## Ratios", "", _markdown_table(["ratio", *[f"workers={w}" for w in self.config.workers],
                                                       "goal", "shows"], ratio_rows), ""]
        scaling = self._scaling_lines()
        if scaling:
            out += [f"## Scaling: {max(self.config.workers)} workers over {min(self.config.workers)}", "",
                    *[f"- {line}" for line in scaling], ""]
        memory = self._memory_lines()
        if memory:
            out += ["## Memory", "", *[f"- {line.strip()}" for line in memory], ""]
        out += ["## Epoch times", "", f"A stall is an epoch slower than {self.config.stall_factor:g}x the run's "
                "fastest.", "", "```", *self._epoch_lines(), "```", "",
                "## Variants", "", *[f"- `{k}`: {v}" for k, v in VARIANTS.items()],
                "- `<variant>@<backend>`: a (g) variant under KERAS_BACKEND=<backend>", "",
                "![images/s by workers](throughput.png)", ""]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dump (raw epoch times included)."""
        return {
            "config": dataclasses.asdict(self.config), "dataset": self.dataset, "machine": self.machine,
            "results": [dataclasses.asdict(r) for r in self.results],
            "memory": None if self.memory is None else {
                "workers": self.memory.workers, "factor": self.memory.factor, "num_images": self.memory.num_images,
                "small": dataclasses.asdict(self.memory.small), "large": dataclasses.asdict(self.memory.large)},
            "started": self.started, "elapsed_s": self.elapsed_s, "quick": self.quick, "command": self.command,
        }


_RSS_NOTE = ("peak RSS: the whole process (Python, TensorFlow, the samples); + over set-up: its growth after "
             "imports and set-up, i.e. what the loading itself holds")


def _workers_text(workers: int) -> str:
    return f"{workers} worker{'' if workers == 1 else 's'}"


def _quota_text(machine: dict[str, Any]) -> str:
    quota = machine.get("cgroup_cpu_quota")
    return f", cgroup quota {quota} CPUs" if quota else ""


def _busy_text(busy: float | None) -> str:
    return "?" if busy is None else f"{busy:.1%}"


_BUSY_WARNING = 0.1  # other processes using more than this share of the CPU make a run unreliable


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of all cores' time that was not idle during ``seconds`` of sleep here (Linux only).

    The load average counts tasks that wait on disk or sit in uninterruptible kernel sleep, so it
    can read 1.0 on an idle machine; this reads the CPU's own counters while the caller sleeps,
    so what it sees is the other processes' use.
    """

    def sample():
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return None if total <= 0 else round(max(0.0, 1 - (idle1 - idle0) / total), 4)


def _load_text(load: Sequence[float] | None) -> str:
    return " ".join(f"{x:.2f}" for x in load) if load else "?"


def _text_table(head: list[str], rows: list[list[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(str(r[k])) for r in [head, *rows]) for k in range(len(head))]

    def fmt(row):
        return "  ".join(str(c).rjust(widths[k]) if k in right else str(c).ljust(widths[k])
                         for k, c in enumerate(row)).rstrip()

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *[fmt(r) for r in rows]])


def _markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- the machine -----------------------------------------------------------------------------------


def _rss_mb(field: str = "VmHWM") -> float | None:
    """Resident memory of this process in MiB: ``VmHWM`` (peak) or ``VmRSS`` (now)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if field == "VmHWM":
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
        except (ImportError, OSError):
            return None
    return None


def _usable_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, platform, load average and library versions of this machine."""
    info: dict[str, Any] = {"cpu_model": platform.processor() or platform.machine(),
                            "logical_cores": os.cpu_count(), "usable_cores": len(_usable_cpus()),
                            "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["ram_gib"] = round(int(line.split()[1]) / 1024 ** 2, 1)
                    break
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
            if quota != "max":
                info["cgroup_cpu_quota"] = round(int(quota) / int(period), 2)
    except (OSError, ValueError):
        pass
    if hasattr(os, "getloadavg"):
        info["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    info["cpu_busy_start"] = cpu_busy()
    versions = {}
    for dist in ("seqloaders", "numpy", "opencv-python-headless", "tensorflow", "keras", "albumentations"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if not any(name.startswith("opencv") for name in versions):
        versions["opencv"] = cv2.__version__
    info["versions"] = versions
    return info


# -- the variants ----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Context:
    samples: list[Sample]
    workers: int
    config: BenchConfig
    tfrecord_pattern: str | None = None

    @property
    def num_classes(self) -> int:
        top = max((int(s.labels.max()) for s in self.samples if s.num_boxes), default=0)
        return top + 1


def _time_epochs(run_epoch: Callable[[], int], count: int) -> tuple[list[float], int]:
    seconds, images = [], 0
    for _ in range(count):
        start = time.perf_counter()
        images = run_epoch()
        seconds.append(time.perf_counter() - start)
    return seconds, images


def _iterate(dataset, pool: concurrent.futures.ThreadPoolExecutor | None) -> int:
    """One epoch of a PyDataset in a plain loop; with a pool, its threads call ``__getitem__`` in
    order, as Keras' ``OrderedEnqueuer`` does with ``workers > 1``."""
    n = 0
    batches = (dataset[i] for i in range(len(dataset))) if pool is None else pool.map(
        dataset.__getitem__, range(len(dataset)))
    for x, _ in batches:
        n += len(x)
    dataset.on_epoch_end()
    return n


def _require_local_files(samples: list[Sample]) -> None:
    if not os.path.isfile(samples[0].image):
        raise NotApplicable(f"needs local image files; {samples[0].image!r} is not one")


def _run_ceiling(ctx: _Context) -> tuple[list[float], int, list[str]]:
    _require_local_files(ctx.samples)
    h, w = ctx.config.image_size
    paths = [s.image for s in ctx.samples]
    by_file = _decode_scales(paths, (h, w))  # the decode scale is an oracle computed up front
    # the loader's own decoder (simplejpeg for JPEG), so the ratios to (a) stay honest
    from . import imageio
    scales: dict[int, int] = {}
    for reduce in by_file.values():
        scales[reduce] = scales.get(reduce, 0) + 1
    batch = np.empty((ctx.config.batch_size, h, w, 3), np.uint8)

    def load(path: str) -> np.ndarray:
        with open(path, "rb") as f:
            data = f.read()
        image = imageio.decode_image(data, reduce=by_file[path], path=path, max_pixels=None)
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)

    with concurrent.futures.ThreadPoolExecutor(ctx.workers, thread_name_prefix="ceiling") as pool:
        def epoch() -> int:
            for k, image in enumerate(pool.map(load, paths)):
                batch[k % len(batch)] = image
            return len(paths)

        seconds, images = _time_epochs(epoch, ctx.config.warmup + ctx.config.epochs)
    total = sum(scales.values())
    note = "decode scale: " + ", ".join(f"1/{k} for {n / total:.0%}" for k, n in sorted(scales.items()))
    return seconds, images, [note + f" of the files, JPEG decoder {imageio.JPEG_DECODER}; bilinear resize"]


def _decode_scales(paths: Sequence[str], image_size: tuple[int, int]) -> dict[str, int]:
    """The library's JPEG decode scale of each file (the largest that keeps the output's pixels)."""
    scales = {}
    for path in set(paths):
        with open(path, "rb") as f:
            info = probe_image(f.read())
        scales[path] = choose_reduction(info.size, image_size) if info is not None and info.format == "jpeg" else 1
    return scales


def _run_tf_data(ctx: _Context, ratio: int) -> tuple[list[float], int, list[str]]:
    """tf.data with ``decode_jpeg(ratio=ratio)``; ratio 0: each file at the library's scale."""
    _require_local_files(ctx.samples)
    import tensorflow as tf

    paths = [s.image for s in ctx.samples]
    jpeg = all(_is_jpeg(p) for p in set(paths))
    if ratio != 1 and not jpeg:
        raise NotApplicable("decode_jpeg(ratio=...) needs JPEG files")
    h, w = ctx.config.image_size
    choices = (1, 2, 4, 8)
    scales = _decode_scales(paths, (h, w)) if jpeg else {}

    def decode(data, scale_index):
        if not jpeg:
            return tf.io.decode_image(data, channels=3, expand_animations=False)
        if ratio:
            return tf.io.decode_jpeg(data, channels=3, ratio=ratio)
        branches = [functools.partial(tf.io.decode_jpeg, data, channels=3, ratio=r) for r in choices]
        return tf.switch_case(scale_index, branches)

    def load(path, scale_index):
        return tf.image.resize(decode(tf.io.read_file(path), scale_index), (h, w))

    indices = [choices.index(scales.get(p, 1)) for p in paths]

    options = tf.data.Options()
    options.threading.private_threadpool_size = ctx.workers
    options.deterministic = False
    if hasattr(options.autotune, "cpu_budget"):
        options.autotune.cpu_budget = ctx.workers
    ds = (tf.data.Dataset.from_tensor_slices((paths, indices))
          .map(load, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(ctx.config.batch_size)
          .prefetch(tf.data.AUTOTUNE)
          .with_options(options))

    def epoch() -> int:
        n = 0
        for x in ds:
            n += int(x.shape[0])
        return n

    seconds, images = _time_epochs(epoch, ctx.config.warmup + ctx.config.epochs)
    notes = [f"private thread pool of {ctx.workers}, AUTOTUNE map and prefetch, deterministic=False"]
    if ratio == 0:
        total = len(paths)
        counts = {k: sum(scales[p] == k for p in paths) for k in choices}
        notes.append("decode_jpeg at each file's scale, the library's rule (tf.switch_case over ratio 1/2/4/8): "
                     + ", ".join(f"1/{k} for {n / total:.0%}" for k, n in counts.items() if n) + " of the files")
    elif ratio != 1:
        below = sum(scales[p] < ratio for p in paths) / len(paths)
        notes.append(f"ratio={ratio} decodes every image at 1/{ratio}: {below:.0%} of the files then have fewer "
                     "pixels than the output and are upsampled, so this is less work than (a) and (d) do")
    return seconds, images, notes


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\xff\xd8"


def _tutorial_encode(boxes: np.ndarray, labels: np.ndarray, image_hw: tuple[int, int], grid: int,
                     num_classes: int) -> np.ndarray:
    """Grid target the tutorial way: a Python loop over the boxes of one image."""
    h, w = image_hw
    c = num_classes if num_classes > 1 else 0
    target = np.zeros((grid, grid, 5 + c), np.float32)
    for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist()):
        cx, cy = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h
        bw, bh = (x1 - x0) / w, (y1 - y0) / h
        if bw <= 0 or bh <= 0:
            continue
        col, row = min(int(cx * grid), grid - 1), min(int(cy * grid), grid - 1)
        if target[row, col, 0] == 0:
            target[row, col, :5] = [1.0, cx * grid - col, cy * grid - row, bw, bh]
            if c:
                target[row, col, 5 + label] = 1.0
    return target


def __getattr__(name: str) -> Any:
    """``TutorialSequence`` is made on first access: it subclasses ``keras.utils.PyDataset``."""
    if name == "TutorialSequence":
        return _tutorial_sequence_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _tutorial_sequence_class() -> type:
    import keras

    class TutorialSequence(keras.utils.PyDataset):
        """The straightforward loader of tutorials, kept as the baseline of (c) and (c'); do not imitate it.

        Full ``cv2.imread``, optionally an albumentations pipeline at full size, INTER_AREA resize of
        the full image, float32 in [0, 1], a grid target per sample in a Python loop.

        Args:
            samples: the samples (boxes XYXY pixels of the source image).
            batch_size: images per batch.
            image_size: (H, W) of the output.
            grid_size: S of the S×S grid target.
            num_classes: class channels are added when > 1.
            augment: an albumentations ``Compose`` with pascal_voc boxes and a "labels" field, or None.
            **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.
        """

        def __init__(self, samples: Sequence[Sample], batch_size: int, image_size: tuple[int, int], grid_size: int,
                     num_classes: int, augment: Any = None, **kwargs: Any):
            super().__init__(**kwargs)
            self.samples, self.batch_size, self.image_size = samples, batch_size, tuple(image_size)
            self.grid_size, self.num_classes, self.augment = grid_size, num_classes, augment
            self._local = threading.local()

        def __len__(self) -> int:
            return math.ceil(len(self.samples) / self.batch_size)

        def _pipeline(self):
            pipe = getattr(self._local, "pipe", None)
            if pipe is None:  # an albumentations pipeline is not safe to share between threads
                pipe = self._local.pipe = copy.deepcopy(self.augment)
            return pipe

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            xs, ys = [], []
            for sample in self.samples[index * self.batch_size:(index + 1) * self.batch_size]:
                image = cv2.cvtColor(cv2.imread(sample.image), cv2.COLOR_BGR2RGB)
                h, w = image.shape[:2]
                boxes, labels = sample.boxes, sample.labels
                if self.augment is not None:
                    boxes = np.clip(boxes, 0, [w, h, w, h])
                    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
                    out = self._pipeline()(image=image, bboxes=boxes[keep], labels=labels[keep])
                    image = out["image"]
                    boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
                    labels = np.asarray(out["labels"], np.int64)
                    h, w = image.shape[:2]
                image = cv2.resize(image, self.image_size[::-1], interpolation=cv2.INTER_AREA)
                xs.append(image.astype(np.float32) / 255.0)
                ys.append(_tutorial_encode(boxes, labels, (h, w), self.grid_size, self.num_classes))
            return np.array(xs), np.array(ys)

    TutorialSequence.__qualname__ = "TutorialSequence"  # pickled by reference: module.__getattr__ finds it
    return TutorialSequence


def _run_tutorial(ctx: _Context, augment: bool) -> tuple[list[float], int, list[str]]:
    _require_local_files(ctx.samples)
    from .augment import detection_preset

    ds = _tutorial_sequence_class()(ctx.samples, ctx.config.batch_size, ctx.config.image_size, ctx.config.grid_size,
                                    ctx.num_classes, augment=detection_preset() if augment else None)
    pool = concurrent.futures.ThreadPoolExecutor(ctx.workers) if ctx.workers > 1 else None
    with pool or contextlib.nullcontext():
        seconds, images = _time_epochs(lambda: _iterate(ds, pool), ctx.config.warmup + ctx.config.epochs)
    how = f"{ctx.workers} threads call __getitem__" if ctx.workers > 1 else "__getitem__ in the main thread"
    return seconds, images, [how + (", detection_preset() at full size" if augment else "")]


def _sequence(ctx: _Context, samples=None, **kwargs):
    from .encoders.grid import GridEncoder
    from .sequence import DetectionSequence

    return DetectionSequence(ctx.samples if samples is None else samples, batch_size=ctx.config.batch_size,
                             image_size=ctx.config.image_size,
                             encoder=GridEncoder(grid_size=ctx.config.grid_size, num_classes=ctx.num_classes),
                             threads=ctx.workers, seed=ctx.config.seed, **kwargs)


def _run_sequence(ctx: _Context, augment: Any, processes: bool = False) -> tuple[list[float], int, list[str]]:
    seq = _sequence(ctx, augment=augment, processes=ctx.workers if processes else 0)
    seconds, images = _time_epochs(lambda: _iterate(seq, None), ctx.config.warmup + ctx.config.epochs)
    seq.close()
    how = f"processes={ctx.workers}" if processes else f"threads={ctx.workers} inside __getitem__"
    return seconds, images, [f"{how}, plain loop" + (f"; {seq.augment!r}" if seq.augment is not None else "")]


def _run_user_compose(ctx: _Context) -> tuple[list[float], int, list[str]]:
    from .augment import detection_preset

    return _run_sequence(ctx, detection_preset("standard"), processes=True)


def tfrecord_available() -> bool:
    """Whether the TFRecord backend (``seqloaders.tfrecord``) is installed, so (f) can run."""
    try:
        importlib.import_module("seqloaders.tfrecord")
    except ImportError:
        return False
    return True


def prepare_tfrecord_shards(samples: Sequence[Sample], out_dir: str, num_shards: int | None = None) -> str:
    """Write ``samples`` as TFRecord shards for variant (f); returns the shards' glob pattern.

    Uses ``seqloaders.tfrecord.write_tfrecords(samples, out_dir, num_shards=...)``; the pattern
    is what ``seqloaders.tfrecord.TFRecordSource(pattern)`` opens.

    Raises:
        NotApplicable: ``seqloaders.tfrecord`` is not installed.
    """
    try:
        tfrecord = importlib.import_module("seqloaders.tfrecord")
    except ImportError as exc:
        raise NotApplicable(f"n/a: seqloaders.tfrecord is not available ({exc})") from None
    if num_shards is None:
        num_shards = max(1, len(samples) // 256)
    os.makedirs(out_dir, exist_ok=True)
    options: dict[str, Any] = {"num_shards": num_shards}
    if "progress" in inspect.signature(tfrecord.write_tfrecords).parameters:
        options["progress"] = False
    written = tfrecord.write_tfrecords(list(samples), out_dir, **options)
    if isinstance(getattr(written, "pattern", None), str):  # a WriteReport
        return written.pattern
    if isinstance(written, str):
        return written
    return os.path.join(out_dir, "*.tfrecord")


def _run_tfrecord(ctx: _Context) -> tuple[list[float], int, list[str]]:
    if ctx.tfrecord_pattern is None:
        raise NotApplicable("n/a: no TFRecord shards (seqloaders.tfrecord is not available)")
    tfrecord = importlib.import_module("seqloaders.tfrecord")
    source = tfrecord.TFRecordSource(ctx.tfrecord_pattern)
    seq = _sequence(ctx, samples=source)
    seconds, images = _time_epochs(lambda: _iterate(seq, None), ctx.config.warmup + ctx.config.epochs)
    return seconds, images, [f"{len(glob.glob(ctx.tfrecord_pattern))} shards, threads={ctx.workers}"]


@functools.cache
def _subsample_class() -> type:
    import keras

    class _Subsample(keras.layers.Layer):
        """Every ``step``-th pixel of each row and column: a stem that costs the CPU almost nothing."""

        def __init__(self, step: int, **kwargs: Any):
            super().__init__(**kwargs)
            self.step = step

        def call(self, inputs):
            return inputs[:, ::self.step, ::self.step, :]

        def compute_output_shape(self, input_shape):
            return (input_shape[0], *(None if n is None else -(-n // self.step) for n in input_shape[1:3]),
                    input_shape[3])

    return _Subsample


def _tiny_model(image_size: tuple[int, int], output_shape: tuple[int, ...], uint8: bool,
                stem: str = "subsample") -> keras.Model:
    """A tiny model with a 7x7x5-style head: a stem, then three or four small convolutions.

    ``stem="subsample"`` keeps every 8th pixel before the first convolution, so the training
    step costs the CPU a few ms: it stands for a model whose work happens on an accelerator,
    which is what (g) is about (Keras' own overhead between the loader and the step).
    ``stem="conv"`` is a stride-4 convolution over the full image: on a CPU that step costs
    about 20 ms per 32-image batch on the same cores the loader decodes on (variant ``g-conv``).
    """
    import keras

    inputs = keras.Input((*image_size, 3), dtype="uint8" if uint8 else "float32")
    if stem == "subsample":
        x = _subsample_class()(8)(inputs)
        x = keras.layers.Rescaling(1 / 255)(x) if uint8 else x
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    elif stem == "conv":
        x = keras.layers.Rescaling(1 / 255)(inputs) if uint8 else inputs
        x = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu")(x)
    else:
        raise ValueError(f"unknown stem {stem!r}")
    while x.shape[1] > output_shape[0]:
        x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    if tuple(x.shape[1:3]) != tuple(output_shape[:2]):
        x = keras.layers.Resizing(*output_shape[:2])(x)
    outputs = keras.layers.Conv2D(output_shape[-1], 1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    return model


def _to_tf_dataset(seq: Any, ctx: _Context) -> tuple[Any, str]:
    """The library's ``to_tf_dataset(seq, repeat=True)`` where it exists, else the same wrapping done here."""
    for module in ("seqloaders", "seqloaders.tfrecord"):
        try:
            fn = getattr(importlib.import_module(module), "to_tf_dataset", None)
        except ImportError:
            continue
        if fn is not None:
            return fn(seq, repeat=True), f"{module}.to_tf_dataset(seq, repeat=True)"
    import tensorflow as tf

    def batches():
        while True:
            for i in range(len(seq)):
                yield seq[i]
            seq.on_epoch_end()

    x, y = seq[0]
    spec = (tf.TensorSpec((None, *x.shape[1:]), x.dtype), tf.TensorSpec((None, *y.shape[1:]), y.dtype))
    return (tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(tf.data.AUTOTUNE),
            "the benchmark's own endless from_generator")


#: fit variant → (preprocess, Keras workers, through to_tf_dataset, model stem, what it is)
_FIT_SETUPS: dict[str, tuple[str, int, bool, str, str]] = {
    "g": ("scale", 1, False, "subsample", "model.fit(seq): Keras defaults (PyDataset workers=1, from_generator + "
                                          "prefetch inside fit, a new iterator every epoch)"),
    "g-workers": ("scale", 2, False, "subsample", "model.fit(seq) with PyDataset workers=2 (Keras' OrderedEnqueuer "
                                                  "threads)"),
    "g-tfdata": ("scale", 1, True, "subsample", "model.fit(ds, steps_per_epoch=len(seq))"),
    "g-uint8": ("uint8", 1, True, "subsample", "preprocess='uint8', Rescaling(1/255) in the model, "
                                               "model.fit(ds, steps_per_epoch=len(seq))"),
    "g-u8": ("uint8", 1, False, "subsample",
             "model.fit(seq): Keras defaults, preprocess='uint8', Rescaling(1/255) in the model"),
    "g-proc": ("scale", 1, True, "subsample", "model.fit(ds, steps_per_epoch=len(seq)), the loader's processes"),
    "g-conv": ("uint8", 1, True, "conv", "as g-uint8, with a stride-4 convolution over the full image as the "
                                         "first layer"),
}


def _run_fit(ctx: _Context, mode: str) -> tuple[list[float], int, list[str]]:
    import keras

    preprocess, workers, through_tf_data, stem, what = _FIT_SETUPS[mode]
    if through_tf_data and importlib.util.find_spec("tensorflow") is None:
        raise NotApplicable("n/a: goes through tf.data; TensorFlow is not installed")
    seq = _sequence(ctx, preprocess=preprocess, workers=workers, processes=ctx.workers if mode == "g-proc" else 0)
    model = _tiny_model(ctx.config.image_size, seq.encoder.output_shape, uint8=preprocess == "uint8", stem=stem)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    x, y = seq[0]
    for _ in range(2):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(5):
        model.train_on_batch(x, y)
    step_ms = (time.perf_counter() - start) / 5 * 1000
    timer = EpochTimer()
    epochs = ctx.config.warmup + ctx.config.epochs
    if through_tf_data:
        data, wrapper = _to_tf_dataset(seq, ctx)
        what = f"ds = {wrapper}; {what}"
        model.fit(data, epochs=epochs, steps_per_epoch=len(seq), verbose=0, callbacks=[timer], shuffle=False)
    else:
        model.fit(seq, epochs=epochs, verbose=0, callbacks=[timer])
    what = f"KERAS_BACKEND={keras.backend.backend()}; {what}"
    return timer.seconds, len(ctx.samples), [f"{what}; threads={ctx.workers}; the model's training step alone: "
                                             f"{step_ms:.0f} ms per batch (train_on_batch, same batch)"]


_RUNNERS: dict[str, Callable[[_Context], tuple[list[float], int, list[str]]]] = {
    "a": _run_ceiling,
    "b1": lambda ctx: _run_tf_data(ctx, 1),
    "b4": lambda ctx: _run_tf_data(ctx, 4),
    "b-same": lambda ctx: _run_tf_data(ctx, 0),
    "c": lambda ctx: _run_tutorial(ctx, augment=False),
    "c-aug": lambda ctx: _run_tutorial(ctx, augment=True),
    "d": lambda ctx: _run_sequence(ctx, None),
    "e": lambda ctx: _run_sequence(ctx, "detection"),
    "e-alb": lambda ctx: _run_sequence(ctx, "albumentations-detection"),
    "d-proc": lambda ctx: _run_sequence(ctx, None, processes=True),
    "e-proc": lambda ctx: _run_sequence(ctx, "detection", processes=True),
    "e-user": _run_user_compose,
    "f": _run_tfrecord,
    **{key: (lambda k: lambda ctx: _run_fit(ctx, k))(key) for key in _FIT_VARIANTS},
}


def _import_frameworks(variant: str) -> None:
    """Import what the variant's run imports (Keras and its backend), as the module did at import time once."""
    variant = split_variant(variant)[0]
    if variant == "a":
        return
    import keras

    if variant.startswith("b") or variant == "f" or (variant in _FIT_VARIANTS and
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
    ctx = _Context(list(samples), workers, config, tfrecord_pattern)
    _import_frameworks(variant)  # before the set-up's RSS, so that "+ over set-up" is what the loading holds
    result.base_rss_mb = _rss_mb("VmRSS")
    try:
        seconds, images, notes = _RUNNERS[split_variant(variant)[0]](ctx)
    except NotApplicable as exc:
        result.error = str(exc) if str(exc).startswith("n/a") else f"n/a: {exc}"
        return result
    except Exception as exc:
        log.debug("variant %s failed", variant, exc_info=True)
        result.error = f"failed: {type(exc).__name__}: {exc}"
        return result
    result.peak_rss_mb = _rss_mb("VmHWM")
    result.warmup_seconds = seconds[:config.warmup]
    result.epoch_seconds = seconds[config.warmup:]
    result.images_per_epoch = images
    result.notes = notes
    return result


# -- isolation -------------------------------------------------------------------------------------

_CHILD_CODE = """\
import os, sys
cpus = [int(c) for c in sys.argv[3].split(",") if c]
if cpus and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, cpus)  # before TensorFlow and OpenCV size their thread pools
from seqloaders.benchmark import _child_main
sys.exit(_child_main(sys.argv[1], sys.argv[2]))
"""


def _child_main(spec_path: str, out_path: str) -> int:
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


def backend_python(backend: str | None, pythons: dict[str, str] | None = None) -> str:
    """The interpreter that runs a variant under ``backend``.

    ``pythons[backend]`` if given, else the checkout's ``.venv-<backend>/bin/python`` (``make
    test-backends`` makes ``.venv-jax`` and ``.venv-torch``) when it exists, else this interpreter.
    """
    if backend is None:
        return sys.executable
    if pythons and backend in pythons:
        return pythons[backend]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidate = os.path.join(root, f".venv-{backend}", "bin", "python")
    return candidate if os.access(candidate, os.X_OK) else sys.executable


def _run_isolated(variant: str, workers: int, dataset: DatasetSpec, config: BenchConfig,
                  tfrecord_pattern: str | None) -> VariantResult:
    cpus = _usable_cpus()
    pinned = cpus[:workers] if config.pin_cores else []
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    backend = split_variant(variant)[1]
    env = dict(os.environ)
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="seqloaders-bench-") as tmp:
        spec_path, out_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "result.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump({"variant": variant, "workers": workers, "config": dataclasses.asdict(config),
                       "dataset": dataclasses.asdict(dataset), "tfrecord_pattern": tfrecord_pattern}, f)
        command = [backend_python(backend, config.pythons), "-c", _CHILD_CODE, spec_path, out_path,
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


# -- the run ---------------------------------------------------------------------------------------


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

    Progress goes to the ``seqloaders.benchmark`` logger (INFO).

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
                        result = _run_isolated(variant, workers, dataset, config, pattern)
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
                large = _run_isolated("d", workers, large_spec, config, None)
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


# -- outputs ---------------------------------------------------------------------------------------


def plot_results(result: BenchResult, path: str) -> None:
    """Save a PNG of median images/s (with min-max bars) by worker count, one line per variant.

    Uses matplotlib's Agg canvas directly (no pyplot, no change of the global backend).
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    markers = "osD^v<>phX*P"
    tab20 = matplotlib.colormaps["tab20"].colors
    palette = tab20[::2] + tab20[1::2]  # the 10 strong colours first, then their light twins
    styles = {"a": "-", "b": "--", "c": ":", "g": "-."}
    order = list(VARIANTS)
    for variant in result.config.variants:
        base, backend = split_variant(variant)
        k = order.index(base) + len(order) * (BACKENDS.index(backend) if backend else 0)  # a variant's colour
        runs = [r for w in result.config.workers if (r := result.get(variant, w)) is not None and r.ok]
        if not runs:
            continue
        xs = [r.workers for r in runs]
        ys = [r.median for r in runs]
        err = [[r.median - r.low for r in runs], [r.high - r.median for r in runs]]
        ax.errorbar(xs, ys, yerr=err, marker=markers[k % len(markers)], capsize=3, label=variant_text(variant),
                    color=palette[k % len(palette)],
                    linestyle=styles.get(variant[0], "-"), linewidth=2.5 if variant in ("a", "d") else 1.5)
    ax.set_xticks(list(result.config.workers))
    ax.set_xlabel("workers (cores)")
    ax.set_ylabel("images/s (median, min-max)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    title = f"{result.dataset.get('description', '')}\n{result.machine.get('cpu_model', '')}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=110, bbox_inches="tight")


def write_results(result: BenchResult, path: str) -> None:
    """Write :meth:`BenchResult.markdown` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(result.markdown())

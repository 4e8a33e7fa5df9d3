"""The library's own loading variants: (d) DetectionSequence, (e) with augmentation, with worker
processes, and (f) from TFRecord shards."""

from __future__ import annotations

import glob
import importlib
import inspect
import os
from collections.abc import Sequence
from typing import Any

from ..records import Sample
from .config import NotApplicable
from .context import RunContext, Runner, detection_sequence, iterate_epoch, time_epochs

__all__ = ["RUNNERS", "prepare_tfrecord_shards", "tfrecord_available"]


def _run_sequence(ctx: RunContext, augment: Any, processes: bool = False) -> tuple[list[float], int, list[str]]:
    seq = detection_sequence(ctx, augment=augment, processes=ctx.workers if processes else 0)
    seconds, images = time_epochs(lambda: iterate_epoch(seq, None), ctx.config.warmup + ctx.config.epochs)
    seq.close()
    how = f"processes={ctx.workers}" if processes else f"threads={ctx.workers} inside __getitem__"
    return seconds, images, [f"{how}, plain loop" + (f"; {seq.augment!r}" if seq.augment is not None else "")]


def _run_user_compose(ctx: RunContext) -> tuple[list[float], int, list[str]]:
    from ..augment import detection_preset

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


def _run_tfrecord(ctx: RunContext) -> tuple[list[float], int, list[str]]:
    if ctx.tfrecord_pattern is None:
        raise NotApplicable("n/a: no TFRecord shards (seqloaders.tfrecord is not available)")
    tfrecord = importlib.import_module("seqloaders.tfrecord")
    source = tfrecord.TFRecordSource(ctx.tfrecord_pattern)
    seq = detection_sequence(ctx, samples=source)
    seconds, images = time_epochs(lambda: iterate_epoch(seq, None), ctx.config.warmup + ctx.config.epochs)
    return seconds, images, [f"{len(glob.glob(ctx.tfrecord_pattern))} shards, threads={ctx.workers}"]


#: variant key → its run
RUNNERS: dict[str, Runner] = {
    "d": lambda ctx: _run_sequence(ctx, None),
    "e": lambda ctx: _run_sequence(ctx, "detection"),
    "e-alb": lambda ctx: _run_sequence(ctx, "albumentations-detection"),
    "d-proc": lambda ctx: _run_sequence(ctx, None, processes=True),
    "e-proc": lambda ctx: _run_sequence(ctx, "detection", processes=True),
    "e-user": _run_user_compose,
    "f": _run_tfrecord,
}

"""What a benchmark run measures: the variant keys, the dataset to load and the measurement settings."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..formats.registry import read
from ..records import Sample

__all__ = [
    "BACKENDS",
    "DEFAULT_VARIANTS",
    "FIT_BEST",
    "FIT_VARIANTS",
    "TF_DATA_VARIANTS",
    "VARIANTS",
    "BenchConfig",
    "DatasetSpec",
    "NotApplicable",
    "split_variant",
    "variant_text",
]

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
FIT_VARIANTS = tuple(key for key in VARIANTS if key.startswith("g"))  # the model.fit variants
# "g*": the model whose step leaves the CPU to the loader
FIT_BEST = ("g", "g-workers", "g-tfdata", "g-uint8", "g-u8", "g-proc")
TF_DATA_VARIANTS = ("b1", "b-same")  # "b*": tf.data doing the same work as (a) and (d)
BACKENDS = ("tensorflow", "jax", "torch")  # Keras backends a (g) variant can run under: "g@jax"


def split_variant(key: str) -> tuple[str, str | None]:
    """``"g-u8@jax"`` → ``("g-u8", "jax")``; a key without a backend → ``(key, None)``."""
    base, _, backend = key.partition("@")
    return base, backend or None


def variant_text(key: str) -> str:
    """The one-line description of a variant key, with its Keras backend when it names one."""
    base, backend = split_variant(key)
    return VARIANTS[base] + (f" [KERAS_BACKEND={backend}]" if backend else "")


class NotApplicable(Exception):
    """A variant that cannot run on this dataset or installation (reported as n/a)."""


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
            split_variant(v)[0] not in FIT_VARIANTS or split_variant(v)[1] not in BACKENDS)]
        if wrong:
            raise ValueError(f"only the (g) variants run under another backend ({', '.join(FIT_VARIANTS)}, "
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

"""The throughput benchmark behind ``seqloaders bench``: images/s and peak memory beside the JPEG decode limit.

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

The modules, one concept each: :mod:`.config` (the variant keys, :class:`DatasetSpec`,
:class:`BenchConfig`), :mod:`.context` (what every run shares), the variants in :mod:`.baselines`
(a, b, c), :mod:`.sequences` (d, e, f) and :mod:`.fit` (g), :mod:`.measure` (one run, in this
process or a child's, :mod:`.child` being the child's entry point), :mod:`.machine` (CPU, load,
RSS), :mod:`.run` (the whole benchmark), :mod:`.results` (what it measured, as a table and as
Markdown) and :mod:`.plot`. Not part of the loading path:
only the ``bench`` subcommand imports it.

Example:
    >>> from seqloaders.bench import BenchConfig, DatasetSpec, run_benchmark
    >>> spec = DatasetSpec("widerface", "wider_face_train_bbx_gt.txt",
    ...                    options={"images_dir": "WIDER_train/images"}, limit=512)  # doctest: +SKIP
    >>> result = run_benchmark(spec, BenchConfig(variants=("a", "d")))                # doctest: +SKIP
    >>> print(result.table())                                                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .config import (
    BACKENDS,
    DEFAULT_VARIANTS,
    VARIANTS,
    BenchConfig,
    DatasetSpec,
    NotApplicable,
    split_variant,
    variant_text,
)
from .machine import cpu_busy, machine_info
from .measure import backend_python, measure_variant
from .plot import plot_results
from .results import RATIOS, BenchResult, MemoryCheck, VariantResult, write_results
from .run import run_benchmark
from .sequences import prepare_tfrecord_shards, tfrecord_available

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
    "TutorialSequence",  # made on first access, by the module's __getattr__
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
    """``TutorialSequence`` is made on first access: it subclasses ``keras.utils.PyDataset``."""
    if name == "TutorialSequence":
        from . import baselines

        return baselines.TutorialSequence
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

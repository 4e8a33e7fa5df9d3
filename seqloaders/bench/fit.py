"""The (g) variants: DetectionSequence feeding ``model.fit`` of a tiny model, and that model.

Keras (and TensorFlow) are imported inside the runs only, so that ``seqloaders bench --help`` stays fast.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import time
from typing import TYPE_CHECKING, Any

from .config import FIT_VARIANTS, NotApplicable
from .context import RunContext, Runner, detection_sequence

if TYPE_CHECKING:
    import keras

__all__ = ["RUNNERS"]


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


def _to_tf_dataset(seq: Any, ctx: RunContext) -> tuple[Any, str]:
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


def _run_fit(ctx: RunContext, mode: str) -> tuple[list[float], int, list[str]]:
    import keras

    preprocess, workers, through_tf_data, stem, what = _FIT_SETUPS[mode]
    if through_tf_data and importlib.util.find_spec("tensorflow") is None:
        raise NotApplicable("n/a: goes through tf.data; TensorFlow is not installed")
    seq = detection_sequence(ctx, preprocess=preprocess, workers=workers,
                             processes=ctx.workers if mode == "g-proc" else 0)
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


#: variant key → its run
RUNNERS: dict[str, Runner] = {key: (lambda k: lambda ctx: _run_fit(ctx, k))(key) for key in FIT_VARIANTS}

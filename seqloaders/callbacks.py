"""Keras callbacks that make what a Sequence did visible while ``model.fit`` runs."""

from __future__ import annotations

import logging
from typing import Any

import keras

__all__ = ["LoadReportCallback"]

logger = logging.getLogger("seqloaders")


class LoadReportCallback(keras.callbacks.Callback):
    """After every epoch, log how many samples a Sequence skipped and why, and add it to the logs.

    With ``on_error="skip"`` (or ``"warn"``) a sample that cannot be loaded is replaced by the
    next one of the epoch, so batches keep their shape; this callback makes sure the loss is
    seen. At each epoch end it adds ``skipped_samples`` (distinct images skipped in the epoch)
    and ``skip_events`` (replacements made) to ``logs``, so they land in ``History`` and in any
    logger callback placed after it (CSVLogger, TensorBoard), and logs one line to the
    ``seqloaders`` logger: a warning naming the skipped images and the reasons when there are
    any, an info line otherwise. Batches built by worker processes are counted too.

    Args:
        sequence: the training Sequence (anything with ``epoch`` and ``report(epoch=...)``).
        max_listed: at most this many skipped images are named in the log line.
        log: a logger to use instead of ``logging.getLogger("seqloaders")``.

    Attributes:
        reports: one :class:`~seqloaders.LoadReport` per finished epoch.

    Example:
        >>> import keras
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
        >>> seq = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=4,
        ...                            image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4), on_error="skip")
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3, strides=8, padding="same")])
        >>> model.compile("sgd", "mse")
        >>> history = model.fit(seq, epochs=2, verbose=0, callbacks=[sl.LoadReportCallback(seq)])
        >>> history.history["skipped_samples"]
        [0.0, 0.0]
    """

    def __init__(self, sequence: Any, *, max_listed: int = 10, log: logging.Logger | None = None):
        super().__init__()
        if not callable(getattr(sequence, "report", None)) or not hasattr(sequence, "epoch"):
            raise TypeError(f"LoadReportCallback needs a seqloaders Sequence (with epoch and report()), "
                            f"got {type(sequence).__name__}")
        self.sequence = sequence
        self.max_listed = int(max_listed)
        self.log = log if log is not None else logger
        self.reports: list = []
        self._epoch: int | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # the Sequence's own epoch counter, which its batches of this epoch are built with
        self._epoch = self.sequence.epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seq_epoch = self._epoch if self._epoch is not None else self.sequence.epoch - 1
        self._epoch = None
        report = self.sequence.report(epoch=seq_epoch)
        self.reports.append(report)
        if logs is not None:
            logs["skipped_samples"] = float(len(report.skipped))
            logs["skip_events"] = float(report.skip_events)
        if not report.skipped:
            self.log.info("epoch %d: no samples skipped", epoch + 1)
            return
        items = sorted(report.skipped.items())
        listed = "; ".join(f"{image}: {why}" for image, why in items[:self.max_listed])
        more = f"; and {len(items) - self.max_listed} more" if len(items) > self.max_listed else ""
        self.log.warning("epoch %d: %d sample%s skipped (%d replacement%s): %s%s", epoch + 1, len(items),
                         "" if len(items) == 1 else "s", report.skip_events, "" if report.skip_events == 1 else "s",
                         listed, more)

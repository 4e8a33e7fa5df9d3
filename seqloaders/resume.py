"""Resume a killed ``model.fit`` on exactly the batches it had left: :class:`BackupAndRestore`.

Keras' own ``keras.callbacks.BackupAndRestore`` restores the weights and the epoch, and an
interrupted epoch starts again at its first batch (with a seqloaders Sequence, at the Sequence's
first epoch too). This one also saves where the Sequence stood (``seq.get_state()``) with every
backup, and restores it, so a re-run of the same script trains every remaining batch once, in
order: the interrupted epoch goes on at the batch after the backup and ends at its own last batch.

How a backup is written, so that a kill at any moment leaves either the old one or the new one:
the weights go to a new file, then ``state.json`` (the Keras epoch, the Sequence's state and the
name of that weights file) replaces the old one in one ``os.replace``; older weights files are
removed after that. Both are flushed to disk (``fsync``) first.

Two Keras details this relies on, kept in :func:`_start_fit_at` and :func:`_quiet_early_epoch_end`
(``tests/test_resume.py`` checks that they hold): ``fit`` starts at ``model._initial_epoch``
when a callback sets it in ``on_train_begin`` (what Keras' own BackupAndRestore does), and
``fit`` ends an epoch when a ``PyDataset`` has fewer batches left (its ``num_batches``, read at
the start of every epoch), then goes on with the next, warning that the input "ran out of data".
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any

import keras

__all__ = ["BackupAndRestore"]

STATE_FILE = "state.json"
_FORMAT = "seqloaders.BackupAndRestore/1"


def _start_fit_at(model: Any, epoch: int | None) -> None:
    """Make the running ``fit`` start at ``epoch`` (from ``on_train_begin``; None: as asked). Private Keras API."""
    model._initial_epoch = epoch


def _quiet_early_epoch_end() -> tuple:
    """Hide Keras' 'ran out of data' warning, which a resumed epoch's early end raises; returns the filter."""
    warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
    return warnings.filters[0]


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # a folder cannot be synced everywhere (Windows); the file's own sync already happened
        if not os.path.isdir(path):
            raise
    finally:
        os.close(fd)


class BackupAndRestore(keras.callbacks.Callback):
    """A drop-in for ``keras.callbacks.BackupAndRestore`` that also resumes the Sequence mid-epoch.

    Every backup holds the model's weights (optimizer state included), the epoch, and where the
    Sequence stood (``seq.get_state()``), written so that a kill leaves the last complete
    backup. When training begins and a backup exists, all three are restored: ``fit`` goes on
    in the interrupted epoch at the batch after the backup, that epoch ends at its own last
    batch, and the next epochs are whole. So a re-run of the same script after a kill trains
    every remaining batch once, in the order an uninterrupted run would, with threads or worker
    processes, ``shard=``, ``on_error="skip"`` and read-ahead alike.

    The one requirement: ``model.fit(seq, shuffle=False, ...)``. The Sequence reshuffles its
    samples every epoch itself (from ``seed``); fit's own ``shuffle=True`` only reorders whole
    batches with Python's unseeded ``random``, which no backup can replay (a warning says so
    when batches are asked for out of order). Also: no ``steps_per_epoch``, and
    ``steps_per_execution=1`` (the default), so that fit's epochs are the Sequence's epochs and
    every trained batch is seen. Random state of the model itself (dropout) is not saved, as
    with Keras' callback.

    Args:
        sequence: the training Sequence passed to ``fit``.
        backup_dir: a folder for this run's backups only.
        save_freq: ``"epoch"`` (at the end of every epoch) or an integer: every that many
            batches, counted across epochs as Keras does.
        delete_checkpoint: remove ``backup_dir`` when training ends (not when it is killed).

    Example:
        >>> import keras
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
        >>> seq = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=4,
        ...                            image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4))
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3, strides=8, padding="same")])
        >>> model.compile("sgd", "mse")
        >>> backup = sl.BackupAndRestore(seq, "/tmp/seqloaders-backup", save_freq=1)
        >>> len(model.fit(seq, epochs=2, shuffle=False, verbose=0, callbacks=[backup]).history["loss"])
        2
    """

    def __init__(self, sequence: Any, backup_dir: str | os.PathLike, save_freq: str | int = "epoch", *,
                 delete_checkpoint: bool = True):
        super().__init__()
        if not callable(getattr(sequence, "get_state", None)) or not callable(getattr(sequence, "set_state", None)):
            raise TypeError(f"BackupAndRestore needs a seqloaders Sequence (with get_state and set_state), "
                            f"got {type(sequence).__name__}")
        if not backup_dir:
            raise ValueError("backup_dir is empty: pass a folder for this run's backups")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq must be 'epoch' or a number of batches >= 1, got {save_freq!r}")
        self.sequence = sequence
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self._saves = 0  # the number in the name of the last weights file written
        self._since_save = 0  # batches trained since the last backup
        self._epoch = 0  # the fit epoch being trained, and the Sequence's epoch and start when it began
        self._seq_epoch = 0
        self._start = 0
        self._trained = 0  # batches trained in this fit epoch
        self._restored = False
        self._quiet: tuple | None = None
        self._warned = False

    @property
    def state_path(self) -> str:
        """The backup's ``state.json``: the epoch, the Sequence's state and the weights file's name."""
        return os.path.join(self.backup_dir, STATE_FILE)

    # -- restoring ------------------------------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        steps = (self.params or {}).get("steps")
        if steps is not None and steps != len(self.sequence):
            raise ValueError(f"BackupAndRestore follows the Sequence's epochs, but fit runs {steps} steps per epoch "
                             f"and the Sequence has {len(self.sequence)} batches: leave steps_per_epoch out")
        if getattr(self.model, "steps_per_execution", 1) != 1:
            raise ValueError("BackupAndRestore needs compile(steps_per_execution=1), got "
                             f"{self.model.steps_per_execution}: it counts every trained batch")
        self._since_save, self._restored, self._warned = 0, False, False
        if not os.path.exists(self.state_path):
            return
        with open(self.state_path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("format") != _FORMAT:
            raise ValueError(f"{self.state_path} is not a seqloaders backup (format {state.get('format')!r}); "
                             "give BackupAndRestore a folder of its own")
        if not self.model.built:
            raise ValueError("BackupAndRestore restores weights into a built model: build it (or give it an Input) "
                             "before fit")
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)  # its variables must exist to be loaded
        self.model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        self.sequence.set_state(state["sequence"])
        _start_fit_at(self.model, int(state["epoch"]))
        self._saves, self._restored = int(state["saves"]), True

    # -- following the epoch --------------------------------------------------------------------

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._trained = epoch, 0
        self._seq_epoch, self._start = self.sequence.epoch, self.sequence.start
        if self._start and self._quiet is None:
            self._quiet = _quiet_early_epoch_end()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        trained = batch + 1  # batches trained in this fit epoch
        self._since_save += trained - self._trained
        self._trained = trained
        if not self._warned and not self.sequence.in_order:
            self._warned = True
            warnings.warn("BackupAndRestore: the Sequence's batches were asked for out of order, so a resumed run "
                          "cannot train the batches this one has left; pass model.fit(..., shuffle=False) (the "
                          "Sequence reshuffles its samples every epoch itself)", UserWarning, stacklevel=2)
        if self.save_freq != "epoch" and self._since_save >= self.save_freq:
            self._save(self._epoch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._end_quiet()
        if self.save_freq == "epoch":
            self._save(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._end_quiet()
        if self._restored:
            _start_fit_at(self.model, None)  # a later fit of this model starts where it is asked to
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)

    def _end_quiet(self) -> None:
        if self._quiet is not None:
            if self._quiet in warnings.filters:
                warnings.filters.remove(self._quiet)
            self._quiet = None

    # -- writing a backup -----------------------------------------------------------------------

    def _save(self, epoch: int) -> None:
        """Back up the state after ``self._trained`` batches of fit epoch ``epoch``: both files, or neither."""
        self._since_save = 0
        seq_state = self.sequence.get_state(self._start + self._trained, epoch=self._seq_epoch)
        fit_epoch = epoch + seq_state["epoch"] - self._seq_epoch  # the end of an epoch is the next one's start
        os.makedirs(self.backup_dir, exist_ok=True)
        self._saves += 1
        weights = f"weights-{self._saves:06d}.weights.h5"
        path = os.path.join(self.backup_dir, weights)
        self.model.save_weights(path, overwrite=True)
        _fsync(path)
        state = {"format": _FORMAT, "epoch": fit_epoch, "sequence": seq_state, "weights": weights,
                 "saves": self._saves}
        temporary = f"{self.state_path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.state_path)  # the moment the new backup replaces the old one
        _fsync(self.backup_dir)
        for name in os.listdir(self.backup_dir):
            if name != weights and name.startswith("weights-") and name.endswith(".weights.h5"):
                os.remove(os.path.join(self.backup_dir, name))

"""What a Loader counted: typed counters per batch, the skipped samples, and the report built from them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping

__all__ = ["LoadCounters", "LoadReport", "Tally"]


@dataclasses.dataclass(frozen=True)
class LoadCounters:
    """Counters of one batch (or of many, added up).

    Attributes:
        skip_events: samples replaced in the batch because they could not be loaded.
        boxes_without_area: boxes dropped because nothing of them lay inside the image, or
            because the augmentation left them out.
        boxes_not_encoded: boxes the encoder could not hold (e.g. two boxes in one grid cell).
    """

    skip_events: int = 0
    boxes_without_area: int = 0
    boxes_not_encoded: int = 0

    def __add__(self, other: LoadCounters) -> LoadCounters:
        pairs = zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
        return LoadCounters(*(a + b for a, b in pairs))

    @classmethod
    def from_stats(cls, stats: Mapping[str, int]) -> LoadCounters:
        """From the ``stats`` dict that loading and :meth:`TargetEncoder.encode_batch` fill in."""
        return cls(**{field.name: int(stats.get(field.name, 0)) for field in dataclasses.fields(cls)})


@dataclasses.dataclass
class LoadReport:
    """What a Loader (or a Sequence) skipped or could not encode, so nothing is lost silently.

    Attributes:
        skipped: image -> error message, for every sample skipped under ``on_error="skip"``.
        skip_events: how many times a sample was replaced in a batch (over all epochs).
        boxes_without_area: boxes dropped because nothing of them lay inside the image
            (zero-size annotations), or because the augmentation left them out (moved out of
            the image, or less of them inside than its ``min_visibility``).
        boxes_not_encoded: boxes the encoder could not hold (e.g. two boxes in one grid cell).
    """

    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    skip_events: int = 0
    boxes_without_area: int = 0
    boxes_not_encoded: int = 0

    def __str__(self) -> str:
        return (f"{len(self.skipped)} images skipped ({self.skip_events} times), {self.boxes_without_area} boxes "
                f"without area, {self.boxes_not_encoded} boxes not encoded")


class Tally:
    """The counters of every batch delivered, keyed by (epoch, index) so a batch asked twice counts once.

    Batches of epochs older than the last two are folded into running totals, and skipped
    samples are kept per epoch for the last three epochs (plus every image ever skipped), so
    memory stays flat over any number of epochs. Thread-safe.
    """

    def __init__(self, batches_per_epoch: int):
        self._lock = threading.Lock()
        self._limit = 4 * max(1, batches_per_epoch)
        self._batches: dict[tuple[int, int], LoadCounters] = {}
        self._totals = LoadCounters()
        self._skipped: dict[str, str] = {}
        self._skip_log: dict[int, dict[str, str]] = {}  # epoch -> {image: why}
        self._latest = 0

    def record(self, epoch: int, index: int, counters: LoadCounters, skips: list[tuple[str, str]]) -> None:
        with self._lock:
            self._latest = max(self._latest, epoch)
            self._batches[(epoch, index)] = counters
            if len(self._batches) > self._limit:
                for key in [k for k in self._batches if k[0] < self._latest - 1]:
                    self._totals = self._totals + self._batches.pop(key)
            for image, message in skips:
                self._skipped[image] = message
                self._skip_log.setdefault(epoch, {})[image] = message
            for old in [e for e in self._skip_log if e < self._latest - 2]:
                del self._skip_log[old]

    def report(self, epoch: int | None = None) -> LoadReport:
        with self._lock:
            if epoch is None:
                total = sum(self._batches.values(), self._totals)
                skipped = dict(self._skipped)
            else:
                total = sum((c for (e, _), c in self._batches.items() if e == epoch), LoadCounters())
                skipped = dict(self._skip_log.get(epoch, {}))
        return LoadReport(skipped=skipped, **dataclasses.asdict(total))

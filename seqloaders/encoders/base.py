"""The `TargetEncoder` protocol: a sample in the model's input frame → the tensor the model trains on."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..records import Sample

__all__ = ["Decoded", "TargetEncoder", "target_of"]


@dataclasses.dataclass(eq=False)
class Decoded:
    """What one image's target (or a model's output in the same layout) says, in pixels of the model input.

    Every :meth:`TargetEncoder.decode` returns one; the fields its layout cannot hold stay empty
    (``boxes`` (0, 4)) or None. ``seqloaders preview`` draws any encoder's targets from it.

    Fields:
        boxes: (K, 4) float32 XYXY pixels.
        labels: (K,) int64 class ids, one per box (or per keypoint set).
        scores: (K,) float32 confidences, for a layout that carries them (an objectness).
        keypoints: (K, J, 3) float32 x, y, visibility.
        masks: (K, H, W) bool instance masks.
        class_map: (H, W) integer semantic map, as encoded (background, ignore index included).
        label: the class id of an image-level target (classification).

    Unpacking a Decoded gives the tuple the encoder's ``decode`` returned before it had this
    record (``boxes, scores, labels = grid.decode(...)``), so older code keeps working.

    Example:
        >>> import numpy as np
        >>> d = Decoded(boxes=np.array([[0, 0, 4, 4]], np.float32), labels=np.array([1]))
        >>> len(d), d.labels.tolist()
        (1, [1])
    """

    boxes: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0,), np.int64))
    scores: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    masks: np.ndarray | None = None
    class_map: np.ndarray | None = None
    label: int | None = None
    legacy: tuple | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels).astype(np.int64, copy=False).reshape(-1)

    def __len__(self) -> int:
        """The number of objects (boxes, or keypoint sets when there are no boxes)."""
        if len(self.boxes) or self.keypoints is None:
            return len(self.boxes)
        return len(self.keypoints)

    def _legacy(self) -> tuple:
        return (self.boxes, self.labels) if self.legacy is None else self.legacy

    def __iter__(self) -> Iterator[Any]:
        return iter(self._legacy())

    def __getitem__(self, i: int) -> Any:
        return self._legacy()[i]


def check_image_size(image_size: Any, encoder: Any) -> tuple[int, int]:
    """``image_size`` as (H, W), or a TypeError that says what was passed (e.g. a threshold, positionally)."""
    if image_size is None or isinstance(image_size, (int, float)) or len(image_size) != 2:
        raise TypeError(f"{type(encoder).__name__}.decode(target, image_size, *, threshold=...) needs image_size "
                        f"as (H, W), got {image_size!r} (pass threshold by keyword)")
    return int(image_size[0]), int(image_size[1])


class TargetEncoder(abc.ABC):
    """Turns the targets of one sample into a fixed-shape array; several in a dict give a dict ``y``.

    Samples reach the encoder after resizing and augmentation, as
    :class:`~seqloaders.LoadedSample` records: boxes are XYXY pixels of the *output* image of size
    ``image_size`` (H, W), masks rendered and ``valid_region`` set when ``needs_masks``. (A plain
    :class:`~seqloaders.Sample` already in those pixels encodes the same, as in tests.)

    The protocol is ``encode_sample`` (and ``encode_batch``, for a faster batch) one way and
    ``decode(target, image_size, *, threshold=0.5) -> Decoded`` the other, the same signature for
    every encoder.

    A minimal implementation (one float per image: does it contain any object?)::

        class HasObjectEncoder(sl.TargetEncoder):
            output_shape = (1,)
            dtype = np.float32

            def encode_sample(self, sample, image_size):
                return np.array([sample.num_boxes > 0], np.float32)
    """

    output_shape: tuple[int, ...]
    dtype: np.dtype | type = np.float32
    #: True when ``encode_sample`` reads ``sample.masks``: the Sequence then renders them to
    #: (N, H, W) bool at the output size, moved by the same resize and augmentation as the image.
    needs_masks: bool = False

    @abc.abstractmethod
    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> np.ndarray:
        """Encode one sample to an array of shape ``output_shape``."""

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> np.ndarray:
        """Encode a batch to (B, *output_shape); ``stats`` (if given) receives counters."""
        out = np.zeros((len(samples), *self.output_shape), self.dtype)
        for i, sample in enumerate(samples):
            out[i] = self.encode_sample(sample, image_size)
        return out

    def decode(self, target: Any, image_size: tuple[int, int] | None = None, *, threshold: float = 0.5) -> Decoded:
        """One image's target (or a model's output in this layout) back to a :class:`Decoded`.

        Args:
            target: image ``i`` of a batch's ``y`` (see :func:`target_of`).
            image_size: (H, W) of the model input the target was encoded for (may be None where
                the encoder knows it).
            threshold: the least score of a cell, anchor or heatmap peak that counts as an object.

        The base class cannot know the layout: implement this to preview your encoder's targets.
        """
        raise NotImplementedError(f"{type(self).__name__} does not decode its targets; implement "
                                  "decode(target, image_size, *, threshold=0.5) -> seqloaders.encoders.Decoded "
                                  "to preview or evaluate them")


def target_of(y: Any, i: int) -> Any:
    """Image ``i`` of a batched target or model output (an array, or a tuple/list/dict of them)."""
    if isinstance(y, Mapping):
        return {k: target_of(v, i) for k, v in y.items()}
    if isinstance(y, (tuple, list)):
        return type(y)(target_of(v, i) for v in y)
    return np.asarray(y)[i]

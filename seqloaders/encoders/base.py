"""The `TargetEncoder` protocol: a sample in the model's input frame → the tensor the model trains on."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..records import Sample

__all__ = ["TargetEncoder", "target_of"]


class TargetEncoder(abc.ABC):
    """Turns the targets of one sample into a fixed-shape array; several in a dict give a dict ``y``.

    Samples reach the encoder after resizing and augmentation: boxes are XYXY pixels of the
    *output* image of size ``image_size`` (H, W).

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


def target_of(y: Any, i: int) -> Any:
    """Image ``i`` of a batched target or model output (an array, or a tuple/list/dict of them)."""
    if isinstance(y, Mapping):
        return {k: target_of(v, i) for k, v in y.items()}
    if isinstance(y, (tuple, list)):
        return type(y)(target_of(v, i) for v in y)
    return np.asarray(y)[i]

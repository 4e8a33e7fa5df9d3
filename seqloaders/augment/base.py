"""The `Augmenter` protocol: image and targets change together.

An augmenter receives its random generator, so a batch is a pure function of (seed, epoch,
batch index) whichever worker thread or process builds it.
"""

from __future__ import annotations

import abc

import numpy as np

from ..records import LoadedSample

__all__ = ["Augmenter"]


class Augmenter(abc.ABC):
    """Transforms an image and its sample's targets together.

    ``__call__(image, sample, rng) -> (image, sample)``: ``image`` is (H, W, 3) uint8 RGB,
    ``sample`` its :class:`~seqloaders.LoadedSample` (boxes XYXY pixels of that image; rendered
    masks and the valid region when a mask encoder asked for them), ``rng`` a
    ``numpy.random.Generator`` that is the only source of randomness. Return the new image and a
    record whose boxes (and attributes, keypoints, masks) match it. The built-in augmenters also
    accept a plain :class:`~seqloaders.Sample` whose pixels are the image's
    (:func:`~seqloaders.records.as_loaded`). A minimal implementation::

        class FlipLeftRight(sl.Augmenter):
            def __call__(self, image, sample, rng):
                if rng.random() < 0.5:
                    return image, sample
                w = image.shape[1]
                boxes = sample.boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [w, 0, w, 0]
                return image[:, ::-1].copy(), sample.replace(boxes=boxes)
    """

    @abc.abstractmethod
    def __call__(self, image: np.ndarray, sample: LoadedSample,
                 rng: np.random.Generator) -> tuple[np.ndarray, LoadedSample]:
        ...

"""Augmentation: image and targets together.

- :mod:`.base`: the :class:`Augmenter` protocol, ``(image, sample, rng) -> (image, sample)``;
- :mod:`.native`: :class:`NativeAugmenter` (flip, colour, affine in one OpenCV warp; the
  ``"detection"`` preset) and :class:`HorizontalFlipAugmenter`, its flip-only form;
- :mod:`.albumentations`: the adapters for an albumentations ``Compose`` and for a function;
- :mod:`.mosaic`: multi-image augmentation over a batch (:class:`YoloAugmenter`: mosaic, MixUp,
  copy-paste);
- :mod:`.presets`: the presets by name and :func:`as_augmenter`.

Every target moves through the geometry kernel, :mod:`seqloaders.transform`.
"""

from .albumentations import AlbumentationsAugmenter, FunctionAugmenter, detection_preset
from .base import Augmenter
from .mosaic import MultiImageAugmenter, YoloAugmenter, concat_samples
from .native import HorizontalFlipAugmenter, NativeAugmenter
from .presets import PRESETS, as_augmenter

__all__ = [
    "PRESETS",
    "AlbumentationsAugmenter",
    "Augmenter",
    "FunctionAugmenter",
    "HorizontalFlipAugmenter",
    "MultiImageAugmenter",
    "NativeAugmenter",
    "YoloAugmenter",
    "as_augmenter",
    "concat_samples",
    "detection_preset",
]

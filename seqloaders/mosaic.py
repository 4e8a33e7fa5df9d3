"""Compatibility module: multi-image augmentation lives in :mod:`seqloaders.augment.mosaic`."""

from .augment.mosaic import MultiImageAugmenter, YoloAugmenter, concat_samples

__all__ = ["MultiImageAugmenter", "YoloAugmenter", "concat_samples"]

"""Compatibility module: the native augmenter lives in :mod:`seqloaders.augment.native`."""

from .augment.native import HorizontalFlipAugmenter, NativeAugmenter
from .transform import affine_matrix

__all__ = ["HorizontalFlipAugmenter", "NativeAugmenter", "affine_matrix"]

"""Augmentation presets by name, and `as_augmenter`: what every ``augment=`` argument goes through."""

from __future__ import annotations

from typing import Any

from .albumentations import AlbumentationsAugmenter, FunctionAugmenter, detection_preset
from .base import Augmenter
from .mosaic import MultiImageAugmenter, YoloAugmenter
from .native import NativeAugmenter

__all__ = ["PRESETS", "as_augmenter"]


def _native(strength: str) -> Augmenter:
    return NativeAugmenter.preset(strength)


def _yolo() -> Any:
    return YoloAugmenter()


#: preset name → a factory of its Augmenter. "detection" runs in numpy/OpenCV
#: (:class:`~seqloaders.NativeAugmenter`, the fast default); the "albumentations-" names run the
#: same operations through :func:`detection_preset`; "yolo" is :class:`~seqloaders.YoloAugmenter`
#: (mosaic, affine, HSV, flip over each batch's images).
PRESETS = {
    "detection": lambda: _native("standard"),
    "detection-light": lambda: _native("light"),
    "albumentations-detection": lambda: AlbumentationsAugmenter(detection_preset("standard")),
    "albumentations-detection-light": lambda: AlbumentationsAugmenter(detection_preset("light")),
    "yolo": _yolo,
}


def as_augmenter(augment: Any) -> Any:
    """None, an :class:`Augmenter`, an albumentations pipeline, a preset name or a function → Augmenter.

    A :class:`~seqloaders.MultiImageAugmenter` (and the "yolo" preset, one) is returned as it is.
    """
    if augment is None or isinstance(augment, (Augmenter, MultiImageAugmenter)):
        return augment
    if isinstance(augment, str):
        if augment not in PRESETS:
            raise ValueError(f"unknown augmentation preset {augment!r}; available: {', '.join(PRESETS)}")
        return PRESETS[augment]()
    if hasattr(augment, "processors") and hasattr(augment, "set_random_seed"):
        return AlbumentationsAugmenter(augment)
    if callable(augment):
        return FunctionAugmenter(augment)
    raise TypeError(f"augment must be None, an Augmenter, an albumentations Compose, a preset name or a callable; "
                    f"got {type(augment).__name__}")

"""Compatibility module (deprecated): the toy data now lives in :mod:`seqloaders.toy` (``sl.toy.<name>``).

This module only re-exports the names it used to define, so that ``from seqloaders.toyformats
import write_toy_coco`` and ``sl.toyformats.TOY_CLASSES`` keep working. New code imports from
:mod:`seqloaders.toy`.
"""

from .toy import (
    TOY_CATEGORY_IDS,
    TOY_CLASSES,
    TOY_FORMATS,
    TOY_KEYPOINTS,
    ToyFormat,
    ToyObject,
    ToyScene,
    make_toy_formats,
    make_toy_scenes,
    write_toy_class_folders,
    write_toy_coco,
    write_toy_csv,
    write_toy_mask_folders,
    write_toy_voc,
    write_toy_yolo,
)

__all__ = [
    "TOY_CATEGORY_IDS",
    "TOY_CLASSES",
    "TOY_FORMATS",
    "TOY_KEYPOINTS",
    "ToyFormat",
    "ToyObject",
    "ToyScene",
    "make_toy_formats",
    "make_toy_scenes",
    "write_toy_class_folders",
    "write_toy_coco",
    "write_toy_csv",
    "write_toy_mask_folders",
    "write_toy_voc",
    "write_toy_yolo",
]

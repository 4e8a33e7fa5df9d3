"""Toy data with exact ground truth, in every annotation format, for tests, examples and demos.

Two sets, one interface. :func:`make_toy_dataset` writes drawn faces in WIDER FACE layout (the set
``make demo`` trains a detector on) and returns a :class:`ToyDataset`. :func:`make_toy_scenes`
draws images of coloured shapes with known polygons, masks, boxes and keypoints; each
``write_toy_<format>`` writes them in one format's real layout and returns a :class:`ToyFormat`;
:func:`make_toy_formats` writes the same scenes in several formats at once. Both results have
``format``, ``path``, ``options``, ``samples`` (what a correct reader returns), ``class_names``,
``masks`` and ``read()``::

    toy = sl.toy.write_toy_coco("/tmp/toy-coco")
    samples = sl.read(toy.format, toy.path, **toy.options)   # == toy.samples (or toy.read())

One module per concept: :mod:`.scenes` (the shape scenes and their classes), :mod:`.result`
(:class:`ToyFormat`), :mod:`.images` (image files), one writer per format (:mod:`.coco`,
:mod:`.voc`, :mod:`.yolo`, :mod:`.masks`, :mod:`.csv`, :mod:`.classfolders`, :mod:`.widerface`),
and :mod:`.registry` (the writers by name).
"""

from .classfolders import write_toy_class_folders
from .coco import write_toy_coco
from .csv import write_toy_csv
from .masks import write_toy_mask_folders
from .registry import TOY_FORMATS, make_toy_formats
from .result import ToyFormat
from .scenes import TOY_CATEGORY_IDS, TOY_CLASSES, TOY_COLORS, TOY_KEYPOINTS, ToyObject, ToyScene, make_toy_scenes
from .voc import write_toy_voc
from .widerface import ToyDataset, draw_face, make_toy_dataset
from .yolo import write_toy_yolo

__all__ = [
    "TOY_CATEGORY_IDS",
    "TOY_CLASSES",
    "TOY_COLORS",
    "TOY_FORMATS",
    "TOY_KEYPOINTS",
    "ToyDataset",
    "ToyFormat",
    "ToyObject",
    "ToyScene",
    "draw_face",
    "make_toy_dataset",
    "make_toy_formats",
    "make_toy_scenes",
    "write_toy_class_folders",
    "write_toy_coco",
    "write_toy_csv",
    "write_toy_mask_folders",
    "write_toy_voc",
    "write_toy_yolo",
]

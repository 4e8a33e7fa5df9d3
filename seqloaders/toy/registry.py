"""Every toy writer by format name, and :func:`make_toy_formats`: the same scenes in several formats at once."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .classfolders import write_toy_class_folders
from .coco import write_toy_coco
from .csv import write_toy_csv
from .masks import write_toy_mask_folders
from .result import ToyFormat
from .scenes import make_toy_scenes
from .voc import write_toy_voc
from .yolo import write_toy_yolo

__all__ = ["TOY_FORMATS", "make_toy_formats"]

#: Writers by format name; YOLO's segment and pose variants have their own names.
TOY_FORMATS = {
    "coco": write_toy_coco,
    "voc": write_toy_voc,
    "yolo": write_toy_yolo,
    "yolo-segment": lambda root, scenes=None, **kw: write_toy_yolo(root, scenes, task="segment", **kw),
    "yolo-pose": lambda root, scenes=None, **kw: write_toy_yolo(root, scenes, task="pose", **kw),
    "maskfolders": write_toy_mask_folders,
    "csv": write_toy_csv,
    "classfolders": lambda root, scenes=None, **kw: write_toy_class_folders(root, **kw),
}


def make_toy_formats(
    root: str | os.PathLike,
    formats: Iterable[str] | None = None,
    *,
    num_images: int = 8,
    seed: int = 0,
) -> dict[str, ToyFormat]:
    """Write the same toy scenes in several formats, each under ``root/<format>``.

    Args:
        root: output folder.
        formats: names from :data:`TOY_FORMATS` (default: all).
        num_images: number of images per format.
        seed: random seed.

    Returns:
        ``{format: ToyFormat}``; read each with ``toy.read()`` or ``sl.read(toy.format, toy.path,
        **toy.options)``.

    Example:
        >>> toys = make_toy_formats("/tmp/toy-all", ["coco", "voc"], num_images=4)   # doctest: +SKIP
        >>> sorted(toys)                                                             # doctest: +SKIP
        ['coco', 'voc']
    """
    root = os.fspath(root)
    names = list(TOY_FORMATS) if formats is None else list(formats)
    unknown = [n for n in names if n not in TOY_FORMATS]
    if unknown:
        raise ValueError(f"unknown toy formats {unknown}; available: {', '.join(TOY_FORMATS)}")
    scenes = make_toy_scenes(num_images, seed)
    return {name: TOY_FORMATS[name](os.path.join(root, name), scenes, num_images=num_images, seed=seed)
            for name in names}

"""Per-object mask folders, as in the Kaggle 2018 Data Science Bowl nucleus set.

Source box format: none in the files; boxes are derived from the masks as XYXY pixels with
COCO's convention (the box covers the mask's pixels: ``x_max`` is the last column + 1).

Layout, one folder per image::

    root/<id>/images/<id>.png        the image (8- or 16-bit, grey, RGB or RGBA)
    root/<id>/masks/<anything>.png   one file per object; non-zero pixels are the object

Every mask is read once while reading the dataset, to compute its box, and kept lazily as a
path (:class:`~seqloaders.masks.MaskFiles`); :func:`~seqloaders.decode_masks` reads the files
again when a batch needs them. An image without a ``masks`` folder, or with an empty one, has
N = 0. A mask without any foreground pixel, or with another size than its image, is an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import AnnotationError, ImageError
from ..masks import MaskFiles, mask_boxes, read_mask_file
from ..records import ReadReport, Sample, SampleList
from ..storage import files
from ..storage.remote import attach_storage
from .common import finish, image_size_of, list_images, natural_key
from .errorpolicy import check_on_error, handle_error
from .registry import register_format

__all__ = ["read_mask_folders"]


@register_format("maskfolders")
def read_mask_folders(
    root: str | os.PathLike,
    *,
    class_name: str = "object",
    on_error: str = "raise",
    storage_options: Mapping[str, Any] | None = None,
) -> SampleList:
    """Read a dataset stored as one folder per image with one mask file per object.

    Source box format: derived from the masks, XYXY pixels (x_max = last column + 1).

    Args:
        root: the folder holding one ``<id>/`` folder per image.
        class_name: the name of the single class (label 0), e.g. ``"nucleus"``.
        on_error: "raise" (default), "warn" or "skip" an image whose folder or masks are broken.
        storage_options: options of the fsspec file system when paths are URLs (``s3://...``);
            default: the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...).

    Returns:
        A :class:`SampleList`, one sample per ``<id>`` folder (sorted), with lazy
        ``MaskFiles`` masks, ``image_size``, ``meta["id"]`` and ``report``.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        AnnotationError: an image folder without exactly one image, a mask that cannot be read,
            is empty or has the wrong size (naming the file).

    Example:
        >>> samples = sl.read_mask_folders("stage1_train", class_name="nucleus")   # doctest: +SKIP
        >>> sl.decode_masks(samples[0]).shape                                       # doctest: +SKIP
        (27, 256, 256)
    """
    check_on_error(on_error)
    root = os.fspath(root)
    if not files.is_dir(root, storage_options):
        raise FileNotFoundError(f"no such folder: {root!r}")
    report = ReadReport(path=root)
    samples: list[Sample] = []
    for name in sorted((d for d in files.list_dir(root, storage_options, kind="dir") if not d.startswith(".")),
                       key=natural_key):
        folder = files.join(root, name)
        try:
            samples.append(_read_one(folder, name, storage_options))
        except AnnotationError as exc:
            handle_error(exc, on_error, report)
    return attach_storage(finish(samples, report, (class_name,), on_error), storage_options)


def _read_one(folder: str, name: str, storage_options: Mapping[str, Any] | None = None) -> Sample:
    subfolders = files.list_dir(folder, storage_options, kind="dir")
    images_dir = files.join(folder, "images")
    images = list_images(images_dir, recursive=False, storage_options=storage_options) \
        if "images" in subfolders else []
    preferred = [p for p in images if os.path.splitext(files.basename(p))[0] == name]
    if len(preferred) == 1:
        images = preferred
    if len(images) != 1:
        raise AnnotationError(f"expected one image in images/, found {len(images)}", images_dir)
    image = images[0]
    try:
        size = image_size_of(image, storage_options)
    except ImageError as exc:
        raise AnnotationError(f"cannot read the image size: {exc.reason}", image) from None
    masks_dir = files.join(folder, "masks")
    paths = list_images(masks_dir, recursive=False, storage_options=storage_options) \
        if "masks" in subfolders else []
    boxes = np.zeros((len(paths), 4), np.float32)
    for k, path in enumerate(paths):
        try:
            mask = read_mask_file(path, storage_options)
        except ValueError as exc:
            raise AnnotationError(str(exc).split(": ", 1)[-1], path) from None
        if mask.shape != size:
            raise AnnotationError(f"mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
                                  f"{size[1]}x{size[0]}; every mask must have the size of its image", path)
        if not mask.any():
            raise AnnotationError("mask has no foreground (non-zero) pixel; delete the file or draw the object",
                                  path)
        boxes[k] = mask_boxes(mask[None])[0]
    n = len(paths)
    return Sample.unchecked(image=image, boxes=boxes, labels=np.zeros(n, np.int64), image_size=size,
                           attributes={}, masks=MaskFiles(paths, size), meta={"id": name})

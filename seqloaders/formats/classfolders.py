"""Classification trees: one folder per class (``root/<class>/<image>``), as Keras'
``image_dataset_from_directory`` reads them.

Source box format: none (image-level labels only; every sample has N = 0 boxes).

The image-level class is ``sample.meta["label"]`` (an int, index into ``samples.class_names``)
with ``sample.meta["class_name"]``. Boxes stay empty, so a detection pipeline sees "no objects"
rather than a made-up whole-image box, and :class:`~seqloaders.ClassMap` remaps ``meta["label"]``
like box labels. Class folders are the direct sub-folders of ``root``, in sorted order; images
are found recursively inside each of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AnnotationError, ImageError
from ..records import ReadReport, Sample, SampleList
from ..storage import files
from ..storage.remote import attach_storage
from .common import IMAGE_EXTENSIONS, finish, image_size_of, list_images
from .errorpolicy import check_on_error, handle_error
from .registry import register_format

__all__ = ["read_class_folders"]


@register_format("classfolders")
def read_class_folders(
    root: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    check_images: bool = False,
    on_error: str = "raise",
    storage_options: Mapping[str, Any] | None = None,
) -> SampleList:
    """Read a class-per-folder image tree for classification.

    Source box format: none; the label is per image, in ``sample.meta["label"]``.

    Args:
        root: the folder holding one sub-folder per class.
        class_names: the classes to read, in label order (each must be a sub-folder); default:
            every sub-folder, sorted.
        extensions: image file extensions to accept (lower case, with the dot).
        check_images: read each image header (JPEG/PNG without decoding) to set ``image_size``
            and find broken files while reading.
        on_error: "raise" (default), "warn" or "skip" a broken image (only with ``check_images``).
        storage_options: options of the fsspec file system when paths are URLs (``s3://...``);
            default: the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...).

    Returns:
        A :class:`SampleList`, one sample per image (N = 0 boxes), with ``meta["label"]``,
        ``meta["class_name"]``, ``class_names`` and ``report``.

    Raises:
        FileNotFoundError: ``root`` or a folder of ``class_names`` is missing.
        AnnotationError: with ``check_images``, an image whose header cannot be read (naming it).

    Example:
        >>> samples = sl.read_class_folders("flowers/train")                  # doctest: +SKIP
        >>> samples[0].meta["label"], samples.class_names[:2]                 # doctest: +SKIP
        (0, ('daisy', 'dandelion'))
    """
    check_on_error(on_error)
    root = os.fspath(root)
    if not files.is_dir(root, storage_options):
        raise FileNotFoundError(f"no such folder: {root!r}")
    if class_names is None:
        class_names = sorted(d for d in files.list_dir(root, storage_options, kind="dir") if not d.startswith("."))
    else:
        missing = [c for c in class_names if not files.is_dir(files.join(root, c), storage_options)]
        if missing:
            raise FileNotFoundError(f"class folders missing under {root!r}: {', '.join(missing)}")
    report = ReadReport(path=root)
    extensions = tuple(e.lower() for e in extensions)
    samples: list[Sample] = []
    for label, name in enumerate(class_names):
        for image in list_images(files.join(root, name), extensions=extensions, storage_options=storage_options):
            size = None
            if check_images:
                try:
                    size = image_size_of(image, storage_options)
                except ImageError as exc:
                    handle_error(AnnotationError(f"cannot read the image header: {exc.reason}", image), on_error,
                                 report)
                    continue
            samples.append(Sample.unchecked(
                image=image, boxes=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64), image_size=size,
                attributes={}, meta={"label": label, "class_name": name}))
    return attach_storage(finish(samples, report, class_names, on_error), storage_options)

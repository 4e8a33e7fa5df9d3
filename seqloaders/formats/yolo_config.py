"""Ultralytics dataset YAML files (``data.yaml``) and the image lists their splits name.

``load_yolo_config`` reads the YAML safely (``yaml.safe_load``) and resolves its paths; a
split's entry is a folder of images, a ``.txt`` list of image paths, or a list of both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import AnnotationError
from ..storage import files
from .common import is_image_file, list_images
from .paths import join_image_path, read_text

__all__ = ["images_of", "load_yolo_config", "split_images", "split_locations"]


def load_yolo_config(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Load an Ultralytics dataset YAML (``data.yaml``) safely and resolve its paths.

    ``path`` (the dataset root) is resolved relative to the YAML file's folder; ``train``,
    ``val`` and ``test`` relative to the root.

    Returns:
        The YAML mapping with ``path`` made absolute, ``names`` as a tuple of strings, and
        ``kpt_shape`` as a (K, D) tuple when present.

    Raises:
        AnnotationError: invalid YAML or malformed ``names``/``kpt_shape``, naming file and line.

    Example:
        >>> load_yolo_config("coco8/data.yaml")["names"][:2]            # doctest: +SKIP
        ('person', 'bicycle')
    """
    import yaml

    path = os.fspath(path)
    text = read_text(path, storage_options)
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AnnotationError(f"not valid YAML: {reason}", path, mark.line + 1 if mark else None) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise AnnotationError("not valid YAML for a dataset file: nested too deeply", path, None) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise AnnotationError(f"not valid YAML for a dataset file: {str(exc).split(':')[0]}", path, None) from None
    if not isinstance(config, Mapping):
        raise AnnotationError("expected a YAML mapping with 'train', 'val' and 'names'", path, 1)
    config = dict(config)
    folder = files.dirname(files.abspath(path))
    root = config.get("path") or folder
    for key in ("path", "train", "val", "test"):
        value = config.get(key)
        if value is not None and not (_is_scalar(value) or (isinstance(value, list) and all(map(_is_scalar, value)))):
            raise AnnotationError(f"{key!r} must be a path or a list of paths, got a {type(value).__name__} of "
                                  "other values", path, _yaml_key_line(text, key))
    config["path"] = files.normpath(str(root) if files.is_url(str(root)) else files.join(folder, str(root)))
    names = config.get("names")
    if isinstance(names, Mapping):
        keys = sorted(names, key=repr) if not all(type(k) is int for k in names) else sorted(names)
        if keys != list(range(len(keys))):
            raise AnnotationError(f"'names' must map ids 0..{len(keys) - 1} to names, got ids {keys[:10]}", path,
                                  _yaml_key_line(text, "names"))
        names = [names[k] for k in keys]
    if names is not None:
        if not isinstance(names, list) or not all(map(_is_scalar, names)):
            raise AnnotationError("'names' must be a list or a mapping of id to name (plain strings)", path,
                                  _yaml_key_line(text, "names"))
        config["names"] = tuple(str(n) for n in names)
    if config.get("kpt_shape") is not None:
        kpt = config["kpt_shape"]
        if not (isinstance(kpt, list) and len(kpt) == 2 and all(isinstance(v, int) for v in kpt)
                and kpt[0] > 0 and kpt[1] in (2, 3)):
            raise AnnotationError(f"'kpt_shape' must be [K, 2] or [K, 3], got {kpt!r}", path,
                                  _yaml_key_line(text, "kpt_shape"))
        config["kpt_shape"] = (kpt[0], kpt[1])
    flip = config.get("flip_idx")
    if flip is not None and not (isinstance(flip, list) and all(type(v) is int and v >= 0 for v in flip)):
        raise AnnotationError(f"'flip_idx' must be a list of keypoint indices, got {str(flip)[:80]!r}", path,
                              _yaml_key_line(text, "flip_idx"))
    return config


def _is_scalar(value: Any) -> bool:
    """True for YAML scalars (nested lists and mappings, e.g. from alias bombs, are refused)."""
    return value is None or isinstance(value, (str, int, float, bool))


def _yaml_key_line(text: str, key: str) -> int | None:
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith(f"{key}:"):
            return lineno
    return None


def split_images(config: Mapping[str, Any], split: str, yaml_path: str, allow_outside_root: bool = False,
                  storage_options: Mapping[str, Any] | None = None) -> list[str]:
    entry = config.get(split)
    if not entry:
        have = [k for k in ("train", "val", "test") if config.get(k)]
        raise AnnotationError(f"no {split!r} entry; this dataset has: {', '.join(have) or 'none'} (pass split=...)",
                              yaml_path)
    images: list[str] = []
    for location in split_locations(config, split):
        images += images_of(location, allow_outside_root, storage_options)
    return images


def split_locations(config: Mapping[str, Any], split: str) -> list[str]:
    """The folders and image lists a split's entry names."""
    entry = config.get(split)
    return [str(item) if files.is_url(str(item)) else files.join(config["path"], str(item))
            for item in (entry if isinstance(entry, list) else [entry] if entry else [])]


def images_of(location: str, allow_outside_root: bool = False,
              storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """The image files of a folder (sorted) or of a ``.txt`` list (in its order)."""
    if files.is_dir(location, storage_options):
        return list_images(location, storage_options=storage_options)
    if location.lower().endswith(".txt") and files.is_file(location, storage_options):
        folder = files.dirname(location)
        images = []
        for lineno, line in enumerate(read_text(location, storage_options).splitlines(), 1):
            if line.strip():
                try:  # entries are relative to the list's folder and may not leave it
                    images.append(files.normpath(join_image_path(folder, line.strip(), allow_outside_root)))
                except ValueError as exc:
                    raise AnnotationError(str(exc), location, lineno) from None
        return [image for image in images if is_image_file(image)]  # other entries are left out
    raise FileNotFoundError(f"no such image folder or list file: {location!r}")

"""Arguments shared by the subcommands that read a dataset (``inspect``, ``check``, ``preview``).

``FORMAT PATH [--images-dir DIR] [--option KEY=VALUE ...]``: the format and path go to
:func:`seqloaders.read`, ``--option`` passes any other reader option. A value is read as JSON
when it parses (numbers, lists, objects, true/false), else kept as a string::

    seqloaders check csv boxes.csv --images-dir images \\
        --option 'columns={"image": "file", "boxes": ["x0", "y0", "x1", "y1"], "label": "class"}' \\
        --option box_format=xywh
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

__all__ = ["add_dataset_arguments", "parse_options", "reader_options", "read_dataset", "load_class_map",
           "print_error"]

#: Errors a bad dataset or bad arguments raise; the commands print them and exit with status 2.
USER_ERRORS = (ValueError, FileNotFoundError, TypeError, OSError)


def add_dataset_arguments(parser: argparse.ArgumentParser, class_map: bool = True) -> None:
    """Declare ``format``, ``path``, ``--images-dir`` (alias ``--images``), ``--option`` and ``--class-map``."""
    parser.add_argument("format", metavar="FORMAT", help="annotation format: widerface, coco, voc, yolo, csv, ...")
    parser.add_argument("path", metavar="PATH", help="annotation file or dataset folder")
    parser.add_argument("--images-dir", "--images", dest="images_dir", metavar="DIR", default=None,
                        help="images root, for formats that take one")
    parser.add_argument("--option", "-o", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="another reader option (repeatable); VALUE is parsed as JSON when it can be, "
                             "e.g. -o 'columns={\"image\": \"file\", ...}' -o box_format=xywh")
    if class_map:
        parser.add_argument("--class-map", metavar="FILE", default=None,
                            help="a class map JSON file (see seqloaders.ClassMap)")


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` → ``{key: value}``, each value JSON-decoded when it parses.

    Raises:
        ValueError: an item without ``=`` or with an empty key.

    Example:
        >>> parse_options(["min_size=4", "split=train", 'class_names=["a", "b"]'])
        {'min_size': 4, 'split': 'train', 'class_names': ['a', 'b']}
    """
    options: dict[str, Any] = {}
    for item in pairs or ():
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def reader_options(args: argparse.Namespace, **defaults: Any) -> dict[str, Any]:
    """The reader keyword arguments of parsed :func:`add_dataset_arguments` arguments."""
    options = dict(defaults)
    if getattr(args, "images_dir", None):
        options["images_dir"] = args.images_dir
    options.update(parse_options(getattr(args, "options", [])))
    return options


def read_dataset(args: argparse.Namespace, **defaults: Any):
    """Read the dataset named by the arguments; the reader's warnings are silenced.

    With ``on_error="skip"`` in ``defaults`` the skipped entries are in ``samples.report.skipped``
    (the commands report them), so the reader's summary warning would only repeat them.

    Raises:
        ValueError, FileNotFoundError, TypeError: bad arguments or a bad dataset (print them with
            :func:`print_error`).
    """
    from .. import read

    options = reader_options(args, **defaults)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            return read(args.format, args.path, **options)
        except TypeError as exc:
            if "unexpected keyword argument" in str(exc):
                raise TypeError(f"format {args.format!r} does not take this option: {exc}") from None
            raise


def load_class_map(args: argparse.Namespace):
    """The :class:`~seqloaders.ClassMap` of ``--class-map``, or None."""
    if not getattr(args, "class_map", None):
        return None
    from ..classmap import ClassMap

    return ClassMap.from_json(args.class_map)


def print_error(command: str, exc: BaseException) -> int:
    """Print ``seqloaders COMMAND: error: ...`` to stderr; returns the exit status 2."""
    print(f"seqloaders {command}: error: {exc}", file=sys.stderr)
    return 2

"""Arguments shared by the subcommands that read a dataset (``inspect``, ``check``, ``preview``, ``convert``).

``FORMAT PATH [--images-dir DIR] [--option KEY=VALUE ...]``: the format and path go to
:func:`seqloaders.read`, ``--option`` passes any other reader option. A value is read as JSON
when it parses (numbers, lists, objects, true/false), else kept as a string::

    seqloaders check csv boxes.csv --images-dir images \\
        --option 'columns={"image": "file", "boxes": ["x0", "y0", "x1", "y1"], "label": "class"}' \\
        --option box_format=xywh
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = [
    "add_dataset_arguments",
    "add_max_findings_argument",
    "import_tensorflow_quietly",
    "load_class_map",
    "non_negative_int",
    "parse_options",
    "positive_int",
    "print_error",
    "read_dataset",
    "reader_options",
]

#: Errors a bad dataset or bad arguments raise; the commands print them and exit with status 2.
USER_ERRORS = (ValueError, FileNotFoundError, TypeError, OSError)


def add_dataset_arguments(parser: argparse.ArgumentParser, class_map: bool = True) -> None:
    """Declare ``format``, ``path``, ``--images-dir`` (alias ``--images``), ``--option`` and ``--class-map``."""
    parser.add_argument("format", metavar="FORMAT", help="annotation format: widerface, coco, voc, yolo, csv, ...")
    parser.add_argument("path", metavar="PATH", help="annotation file or dataset folder")
    parser.add_argument("--images-dir", "--images", dest="images_dir", metavar="DIR", default=None,
                        help="images root, for formats that take one")
    parser.add_argument("--option", "-o", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        type=_option_pair,
                        help="another reader option (repeatable); VALUE is parsed as JSON when it can be, "
                             "e.g. -o 'columns={\"image\": \"file\", ...}' -o box_format=xywh")
    if class_map:
        parser.add_argument("--class-map", metavar="FILE", default=None,
                            help="a class map JSON file (see seqloaders.ClassMap)")


def _option_pair(text: str) -> str:
    """An argparse type: ``KEY=VALUE`` checked at parse time, so a bad one is shown with the usage."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expects KEY=VALUE, got {text!r} (e.g. -o box_format=xywh)")
    return text


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (``--workers``, ``--shards``, ``--num-images``)."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (``--batch``, ``--gap``, ``--max-findings``)."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be >= {least}, got {value}")
    return value


class _DeprecatedAlias(argparse.Action):
    """Store like the option it stands for, and say once on stderr which name to use instead."""

    def __init__(self, option_strings, dest, new_name: str = "", **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new_name = new_name

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new_name}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_max_findings_argument(parser: argparse.ArgumentParser) -> None:
    """Declare ``--max-findings N`` (the findings listed in the text report), as ``inspect`` and ``check`` share it.

    ``--max-problems``, ``inspect``'s old spelling, still works and says it is deprecated.
    """
    parser.add_argument("--max-findings", type=non_negative_int, default=50, metavar="N",
                        help="findings listed in the printed report (default: 50; the JSON has all)")
    parser.add_argument("--max-problems", dest="max_findings", type=non_negative_int, metavar="N",
                        action=_DeprecatedAlias, new_name="--max-findings", help=argparse.SUPPRESS)


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


#: TensorFlow's start-up lines on stderr that say nothing about the command's work: absl's notice,
#: oneDNN, CUDA stubs on a machine without a GPU, CPU instruction sets, duplicate CUDA plugin
#: registrations. Written from C++ before absl is set up, so TF_CPP_MIN_LOG_LEVEL does not hide them.
_TENSORFLOW_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called|"
    r"To enable the following instructions: |"
    r"[IWE]\d{4} [\d:. ]+\d+ (port\.cc|cudart_stub\.cc|cpu_feature_guard\.cc|cuda_platform\.cc|cuda_fft\.cc|"
    r"cuda_dnn\.cc|cuda_blas\.cc|cuda_executor\.cc|gpu_device\.cc):\d+\] |"
    r"\d{4}-\d\d-\d\d [\d:.]+: [IWE] \S+(cudart_stub|cpu_feature_guard|cuda_fft|cuda_dnn|cuda_blas)\.cc:\d+\] ")


@contextlib.contextmanager
def tensorflow_quieted() -> Iterator[None]:
    """Keep TensorFlow's C++ start-up chatter off the terminal while the block imports it.

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the environment sets it, captures the process's
    stderr (file descriptor 2) for the block, then writes back every captured line that is not one
    of TensorFlow's known start-up notices (:data:`_TENSORFLOW_NOISE`), so real errors still show.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if line.strip() and not _TENSORFLOW_NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras inside :func:`tensorflow_quieted`.

    The CLI calls it before running a subcommand that loads TensorFlow; without TensorFlow
    installed it does nothing (the subcommand reports that itself).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    with tensorflow_quieted():
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA's start-up notices come here, not at the first batch
            import keras  # noqa: F401
        except ImportError:
            pass

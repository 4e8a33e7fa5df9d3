"""``seqloaders check FORMAT PATH``: open every image and report what does not fit its annotations.

Example::

    seqloaders check csv boxes.csv --images-dir images --class-map classes.json --json check.json \\
        -o 'columns={"image": "file", "boxes": ["x0", "y0", "x1", "y1"], "label": "class"}'

Reports unreadable, truncated and empty images, EXIF orientations that swap width and height,
boxes outside the decoded image, zero-size boxes, duplicate images (same bytes), masks whose size
differs from their image, classes missing from the class map and entries the reader could not
parse, each with the annotation file and line where the format has lines. No file is changed.
The exit status is 0 when no finding is an error, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import warnings

from .common import (
    USER_ERRORS,
    add_dataset_arguments,
    add_max_findings_argument,
    load_class_map,
    positive_int,
    print_error,
    read_dataset,
)

HELP = "open every image and report unreadable images, bad boxes and masks, duplicates and unmapped classes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``check`` arguments on ``parser``."""
    add_dataset_arguments(parser)
    parser.add_argument("--json", metavar="OUT", default=None, help="write every finding as JSON to this file")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="decoding threads, >= 1 (default: the number of cores, at most 8)")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="deprecated name of --threads")
    add_max_findings_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Read the dataset, check it, print the summary and write the JSON; returns the exit status."""
    from ..check import check_dataset

    try:
        class_map = load_class_map(args)
        samples = read_dataset(args, on_error="skip")
    except USER_ERRORS as exc:
        return print_error("check", exc)
    threads = args.threads
    if args.workers is not None:
        warnings.warn("seqloaders check --workers is deprecated: use --threads", DeprecationWarning, stacklevel=2)
        threads = args.workers if threads is None else threads
    report = check_dataset(samples, class_map=class_map, threads=threads, progress=not args.no_progress,
                           images_dir=args.images_dir)
    print(report.summary(args.max_findings))
    if args.json:
        try:
            report.to_json(args.json)
        except OSError as exc:
            return print_error("check", exc)
        print(f"wrote {args.json}")
    return 0 if report.ok else 1

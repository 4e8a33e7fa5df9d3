"""``seqloaders inspect FORMAT PATH``: counts, class histogram, box sizes and problems."""

from __future__ import annotations

import argparse
import json

from .common import USER_ERRORS, add_dataset_arguments, add_max_findings_argument, print_error, read_dataset

HELP = "print image and box counts, the class histogram, box sizes and every problem found"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``inspect`` arguments on ``parser``."""
    add_dataset_arguments(parser, class_map=False)
    parser.add_argument("--no-images", action="store_true", help="do not open image headers")
    parser.add_argument("--json", metavar="OUT", help="also write the findings as JSON to this file")
    add_max_findings_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Read the dataset, summarise it, print the report and write the JSON; returns the exit status."""
    from ..summary import summarize

    try:
        samples = read_dataset(args, on_error="skip")  # skipped entries are reported below
    except USER_ERRORS as exc:
        return print_error("inspect", exc)
    summary = summarize(samples, check_images=not args.no_images, images_dir=args.images_dir)
    report = getattr(samples, "report", None)
    skipped = list(report.skipped) if report is not None else []
    print(summary.to_text(args.max_findings))
    for _line, message in skipped:
        print(f"  error skipped entry: {message}")
    if args.json:
        payload = {
            "images": summary.num_images, "boxes": summary.num_boxes, "classes": summary.class_counts,
            "problems": [vars(p) for p in summary.problems],
            "skipped_entries": [{"line": line, "message": message} for line, message in skipped],
        }
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(payload, f, indent=2)
        except OSError as exc:
            return print_error("inspect", exc)
        print(f"wrote {args.json}")
    return 1 if summary.num_errors or skipped else 0

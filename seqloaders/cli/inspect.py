"""``seqloaders inspect FORMAT PATH``: counts, class histogram, box sizes and problems."""

from __future__ import annotations

import argparse
import json

from .common import USER_ERRORS, add_dataset_arguments, print_error, read_dataset

HELP = "print image and box counts, the class histogram, box sizes and every problem found"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser, class_map=False)
    parser.add_argument("--no-images", action="store_true", help="do not open image headers")
    parser.add_argument("--json", help="also write the findings as JSON to this file")
    parser.add_argument("--max-problems", type=int, default=50, help="problems listed in the text report")


def run(args: argparse.Namespace) -> int:
    from ..summary import summarize

    try:
        samples = read_dataset(args, on_error="skip")  # skipped entries are reported below
    except USER_ERRORS as exc:
        return print_error("inspect", exc)
    summary = summarize(samples, check_images=not args.no_images)
    report = getattr(samples, "report", None)
    skipped = list(report.skipped) if report is not None else []
    print(summary.to_text(args.max_problems))
    for line, message in skipped:
        print(f"  error skipped entry: {message}")
    if args.json:
        payload = {
            "images": summary.num_images, "boxes": summary.num_boxes, "classes": summary.class_counts,
            "problems": [vars(p) for p in summary.problems],
            "skipped_entries": [{"line": line, "message": message} for line, message in skipped],
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
    return 1 if summary.num_errors or skipped else 0

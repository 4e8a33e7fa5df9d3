"""``seqloaders convert FORMAT PATH --to tfrecord --out DIR``: annotations + images → TFRecord shards.

Example::

    seqloaders convert widerface wider_face_train_bbx_gt.txt --images-dir WIDER_train/images \\
        --to tfrecord --out shards/ --shards 16 --workers 8

Run the same command again after an interruption: complete shards are kept, the rest written.
The exit status is 0 when every sample was written, 1 when some failed (listed in the
manifest), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys

HELP = "convert an annotated dataset to TFRecord shards (TF Object Detection API layout)"

TARGETS = ("tfrecord",)
logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``convert`` arguments on ``parser``."""
    parser.add_argument("format", metavar="FORMAT", help="annotation format (e.g. widerface)")
    parser.add_argument("path", metavar="PATH", help="annotation file or folder")
    parser.add_argument("--to", dest="target", default="tfrecord", choices=TARGETS, help="output format")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--images-dir", metavar="D", default=None, help="root the image paths are relative to")
    parser.add_argument("--name", default="train", help="shard name prefix (default: train)")
    parser.add_argument("--shards", type=int, default=None, metavar="N", help="number of shards "
                        "(default: one per 1,000 images)")
    parser.add_argument("--workers", type=int, default=None, metavar="W", help="reading threads (default: cores, <= 8)")
    parser.add_argument("--reencode", action="store_true", help="re-encode every image as JPEG")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of re-encoded images (default: 95)")
    parser.add_argument("--overwrite", action="store_true", help="rewrite shards completed by an earlier run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Read the annotations, write the shards, print the report; returns the exit status."""
    import warnings

    import seqloaders as sl
    from seqloaders.tfrecord import write_tfrecords

    options = {} if args.images_dir is None else {"images_dir": args.images_dir}
    try:
        samples = sl.read(args.format, args.path, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the failures are printed from the report below
            report = write_tfrecords(samples, args.out, name=args.name, num_shards=args.shards, workers=args.workers,
                                     reencode=args.reencode, quality=args.quality, overwrite=args.overwrite,
                                     progress=False if args.no_progress else None)
    except (ValueError, FileNotFoundError) as exc:
        print(f"seqloaders convert: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    for image, error in report.failed[:20]:
        print(f"  failed: {image}: {error}")
    if report.num_failed > 20:
        print(f"  ... and {report.num_failed - 20} more in {report.manifest}")
    return 1 if report.failed else 0

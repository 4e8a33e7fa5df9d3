"""``seqloaders convert FORMAT PATH --to tfrecord --out DIR``: annotations + images → TFRecord shards.

Example::

    seqloaders convert widerface wider_face_train_bbx_gt.txt --images-dir WIDER_train/images \\
        --to tfrecord --out shards/ --shards 16 --threads 8

With ``--runner`` the shards are written by an Apache Beam pipeline instead (``pip install ".[beam]"``
from the checkout); every argument the command does not know is handed to Beam's
``PipelineOptions`` untouched::

    seqloaders convert widerface wider_face_train_bbx_gt.txt --images-dir WIDER_train/images \\
        --out shards/ --shards 64 --runner DirectRunner --direct_num_workers=4 \\
        --direct_running_mode=multi_processing

``--out`` may be a bucket URL (``gs://bucket/shards``, ``s3://...``; the bucket must exist),
which a Beam runner on many machines needs; ``--storage-option KEY=VALUE`` passes fsspec options
(``endpoint_url=...``) to it and to URL inputs, else the environment's credentials are used::

    seqloaders convert widerface s3://data/wider/wider_face_train_bbx_gt.txt \
        --images-dir s3://data/wider/images --out s3://data/shards --shards 64 \
        --storage-option endpoint_url=http://127.0.0.1:9000

Run the same command again after an interruption: complete shards are kept, the rest written.
The exit status is 0 when every sample was written, 1 when some failed (listed in the
manifest), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .common import add_dataset_arguments, positive_int

HELP = "convert an annotated dataset to TFRecord shards (TF Object Detection API layout)"

TARGETS = ("tfrecord",)
#: the Beam runners named in the help; any other runner name is passed to Beam as well
RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")
logger = logging.getLogger(__name__)


def _quality(text: str) -> int:
    value = positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``convert`` arguments on ``parser``."""
    add_dataset_arguments(parser, class_map=False)
    parser.add_argument("--to", dest="target", default="tfrecord", choices=TARGETS, help="output format")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder, or a bucket URL "
                        "(s3://bucket/shards, gs://...; the bucket must exist)")
    parser.add_argument("--name", default="train", help="shard name prefix (default: train)")
    parser.add_argument("--shards", type=positive_int, default=None, metavar="N", help="number of shards "
                        "(default: one per 1,000 images)")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N", help="reading threads, >= 1 "
                        "(default: cores, <= 8; "
                        "with --runner: threads per shard, default 4)")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N", help="deprecated name of --threads")
    parser.add_argument("--reencode", action="store_true", help="re-encode every image as JPEG")
    parser.add_argument("--quality", type=_quality, default=95,
                        help="JPEG quality of re-encoded images, 1-100 (default: 95)")
    parser.add_argument("--overwrite", action="store_true", help="rewrite shards completed by an earlier run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--storage-option", dest="storage_options", action="append", default=[],
                        metavar="KEY=VALUE", help="an fsspec option for the URLs of --out and of the input "
                        "(repeatable; VALUE is parsed as JSON when it can be), e.g. endpoint_url=http://minio:9000; "
                        "default: the environment's credentials")
    parser.add_argument("--runner", default=None, metavar="RUNNER",
                        help=f"write with an Apache Beam pipeline on this runner ({', '.join(RUNNERS)}, ...); "
                        "further --key=value arguments go to Beam's PipelineOptions (needs seqloaders[beam])")
    _pass_unknown_arguments(parser, "pipeline_args")


def _pass_unknown_arguments(parser: argparse.ArgumentParser, dest: str) -> None:
    """Make ``parser`` collect the arguments it does not know in ``dest`` instead of refusing them.

    The top-level parser calls this subcommand parser's ``parse_known_args`` and would fail on
    whatever it returns as unknown; here those go to ``args.<dest>`` for Beam instead.
    """
    parse_known_args = parser.parse_known_args

    def parse(args=None, namespace=None):
        namespace, unknown = parse_known_args(args, namespace)
        setattr(namespace, dest, getattr(namespace, dest, []) + list(unknown))
        return namespace, []

    parser.set_defaults(**{dest: []})
    parser.parse_known_args = parse  # type: ignore[method-assign]


def _undeclared_beam_options(flags: list[str]) -> list[str]:
    """The options in ``flags`` that no ``PipelineOptions`` class of Beam's Python SDK declares.

    They still go to the runner (a portable runner hands them to its job server), but a typo in
    one of ``convert``'s own options ends up here too, so the command names them.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    known = set(PipelineOptions([]).get_all_options())
    return sorted(set(PipelineOptions(flags).get_all_options(retain_unknown_options=True)) - known)


def _error(message: str) -> int:
    print(f"seqloaders convert: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Read the annotations, write the shards, print the report; returns the exit status."""
    import warnings

    import seqloaders as sl
    from seqloaders.cli.common import parse_options
    from seqloaders.storage import files
    from seqloaders.tfrecord import write_tfrecords, write_tfrecords_beam
    from seqloaders.tfrecord.beam import import_beam

    extra = list(getattr(args, "pipeline_args", []))
    if extra and args.runner is None:
        return _error(f"unrecognized arguments: {' '.join(extra)} (arguments for an Apache Beam pipeline need "
                      "--runner)")
    if args.runner is not None:
        try:
            import_beam()
        except ImportError as exc:
            return _error(str(exc))
        undeclared = _undeclared_beam_options(extra)
        if undeclared:
            print(f"seqloaders convert: note: passed to the {args.runner} as they are, though neither this command "
                  f"nor Beam's Python SDK declares them: {', '.join('--' + o for o in undeclared)}", file=sys.stderr)
    try:
        storage_options = parse_options(args.storage_options)
    except ValueError as exc:
        return _error(str(exc).replace("--option", "--storage-option"))
    try:
        options = parse_options(args.options)
    except ValueError as exc:
        return _error(str(exc))
    if args.images_dir is not None:
        options["images_dir"] = args.images_dir
    if storage_options and (files.is_url(args.path) or files.is_url(args.images_dir)):
        options["storage_options"] = storage_options
    write = dict(name=args.name, num_shards=args.shards, reencode=args.reencode, quality=args.quality,
                 overwrite=args.overwrite, storage_options=storage_options or None)
    threads = args.threads
    if args.workers is not None:
        warnings.warn("seqloaders convert --workers is deprecated: use --threads", DeprecationWarning, stacklevel=2)
        threads = args.workers if threads is None else threads
    try:
        samples = sl.read(args.format, args.path, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the failures are printed from the report below
            if args.runner is None:
                report = write_tfrecords(samples, args.out, threads=threads,
                                         progress=False if args.no_progress else None, **write)
            else:
                report = write_tfrecords_beam(samples, args.out, pipeline_options=[f"--runner={args.runner}", *extra],
                                              threads_per_shard=threads or 4, **write)
    except (ValueError, TypeError, FileNotFoundError, PermissionError, ImportError) as exc:
        return _error(str(exc))
    print(report)
    for image, error in report.failed[:20]:
        print(f"  failed: {image}: {error}")
    if report.num_failed > 20:
        print(f"  ... and {report.num_failed - 20} more in {report.manifest}")
    return 1 if report.failed else 0

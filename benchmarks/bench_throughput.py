"""Loader throughput benchmark (``make bench``): generates the benchmark set, measures, reports.

Without a dataset, writes (or reuses) the generated set of natural photographs in
``benchmarks/data/`` (see ``make_bench_set.py``), then runs every variant of
``seqloaders.bench`` for 1 and 2 workers, prints the table with the ratios, and writes
``benchmarks/RESULTS.md`` and ``benchmarks/throughput.png``. ``--quick`` runs a tiny set for one
epoch as a smoke test and writes no files unless ``--results``/``--plot`` are given.

Usage::

    python benchmarks/bench_throughput.py                      # the full run (about 10 min on 2 cores)
    python benchmarks/bench_throughput.py --quick              # smoke test
    python benchmarks/bench_throughput.py widerface wider_face_train_bbx_gt.txt --images-dir WIDER_train/images
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if importlib.util.find_spec("seqloaders") is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(HERE))

from make_bench_set import make_bench_set

from seqloaders.bench import DatasetSpec, run_benchmark
from seqloaders.cli.bench import QUICK_IMAGES, add_options, config_from_args, report

DEFAULT_NUM_IMAGES = 320


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("format", nargs="?", help="annotation format of your own dataset (default: generate one)")
    parser.add_argument("path", nargs="?", help="its annotation file")
    parser.add_argument("--images-dir", help="root of your dataset's images")
    parser.add_argument("--num-images", type=int, default=None,
                        help=f"images of the generated set (default: {DEFAULT_NUM_IMAGES}, {QUICK_IMAGES} with "
                             "--quick), or a seeded subset of your dataset (default: all)")
    parser.add_argument("--data-dir", default=os.path.join(HERE, "data"),
                        help="where the generated set is written and reused (default: benchmarks/data)")
    add_options(parser)
    parser.set_defaults(results=None, plot=None)
    args = parser.parse_args(argv)
    if (args.format is None) != (args.path is None):
        parser.error("give both FORMAT and PATH, or neither to use the generated set")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.quick:  # a full run documents itself
        args.results = args.results or os.path.join(HERE, "RESULTS.md")
        args.plot = args.plot or os.path.join(HERE, "throughput.png")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))

    if args.format is None:
        num = args.num_images or (QUICK_IMAGES if args.quick else DEFAULT_NUM_IMAGES)
        bench = make_bench_set(os.path.join(args.data_dir, f"bench-{num}-seed{args.seed}"), num, seed=args.seed)
        logging.info("benchmark set: %s", bench)
        spec = DatasetSpec("widerface", bench.annotations, options={"images_dir": bench.images})
    else:
        options = {"images_dir": os.path.abspath(args.images_dir)} if args.images_dir else {}
        limit = args.num_images or (QUICK_IMAGES if args.quick else None)
        spec = DatasetSpec(args.format, os.path.abspath(args.path), options=options, limit=limit, seed=args.seed)
    result = run_benchmark(spec, config, quick=args.quick)
    report(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

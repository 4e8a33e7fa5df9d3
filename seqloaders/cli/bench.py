"""``seqloaders bench FORMAT PATH``: loading throughput and peak memory on your own dataset.

Runs :func:`seqloaders.bench.run_benchmark` on the dataset and prints the table: the JPEG
decode ceiling, tf.data, a tutorial PyDataset, DetectionSequence with and without augmentation,
and DetectionSequence inside ``model.fit``, for each worker count, with the ratios between them.
``benchmarks/bench_throughput.py`` shares these options and adds a generated benchmark set.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from ..bench import (
    BACKENDS,
    DEFAULT_VARIANTS,
    VARIANTS,
    BenchConfig,
    BenchResult,
    DatasetSpec,
    plot_results,
    run_benchmark,
    write_results,
)

__all__ = ["HELP", "add_arguments", "add_options", "config_from_args", "report", "run"]

HELP = "measure loading throughput (images/s) and peak memory on a dataset, against the JPEG decode ceiling and tf.data"

#: what --quick changes: one warm-up and one measured epoch on at most QUICK_IMAGES images, every variant
#: in this process (no fresh process per run), no memory check, and only the largest worker count
QUICK = {"epochs": 1, "warmup": 1, "rounds": 1, "isolate": False, "memory_factor": 0}
QUICK_IMAGES = 64


def add_options(parser: argparse.ArgumentParser) -> None:
    """The measurement options shared by ``seqloaders bench`` and ``benchmarks/bench_throughput.py``."""
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="N",
                        help="worker counts to measure (default: 1 2)")
    parser.add_argument("--epochs", type=int, default=3, help="measured epochs per run (default: 3)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="run every variant this many times, interleaved, pooling the epochs: a slow spell of "
                             "a shared machine then touches all variants alike (default: 2)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up epochs per run, not counted (default: 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--image-size", type=int, nargs=2, default=[224, 224], metavar=("H", "W"),
                        help="model input size (default: 224 224)")
    parser.add_argument("--grid-size", type=int, default=7, help="grid of the targets (default: 7)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated variants to run (default: all): {', '.join(VARIANTS)}")
    parser.add_argument("--backends", nargs="+", default=[], choices=BACKENDS, metavar="BACKEND",
                        help="also run the chosen model.fit variants that need no tf.data (g, g-workers, g-u8) under "
                             "these Keras backends (e.g. --backends jax torch), each in .venv-<backend>/bin/python "
                             "when the checkout has it (make test-backends), else in this interpreter")
    parser.add_argument("--python", action="append", default=[], metavar="BACKEND=PATH",
                        help="the interpreter for a backend of --backends (repeatable)")
    parser.add_argument("--memory-factor", type=int, default=10,
                        help="memory check: peak RSS of (d) on this many times the images; 0 skips it (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of subsets, shuffling, augmentation (default: 0)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test (under a minute): a few images, one warm-up and one measured epoch, in this "
                             "process, at the largest worker count (numbers not meaningful)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every variant in this process (faster start; RSS no longer per variant)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not restrict each run to `workers` cores")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds one run may take (default: 1200)")
    parser.add_argument("--results", metavar="FILE.md", help="write the results as Markdown")
    parser.add_argument("--plot", metavar="FILE.png", help="save a plot of images/s by workers")
    parser.add_argument("--json", metavar="FILE.json", help="write the raw results (epoch times included)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seqloaders bench``."""
    parser.add_argument("format", help="annotation format (e.g. widerface)")
    parser.add_argument("path", help="annotation file")
    parser.add_argument("--images-dir", help="root of the images (default: the reader's default)")
    parser.add_argument("--num-images", type=int, default=512,
                        help="benchmark a seeded random subset of this many images; 0 = all (default: 512)")
    add_options(parser)


def _with_backends(variants: list[str], backends: list[str]) -> tuple[str, ...]:
    """The variants, each (g) variant without tf.data followed by its runs under ``backends``."""
    out = []
    for variant in variants:
        out.append(variant)
        if variant in ("g", "g-workers", "g-u8"):
            out += [f"{variant}@{b}" for b in backends if b != "tensorflow"]
    return tuple(dict.fromkeys(out))


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A :class:`BenchConfig` from parsed :func:`add_options` arguments."""
    pythons = {}
    for item in getattr(args, "python", []):
        backend, sep, path = item.partition("=")
        if not sep or backend not in BACKENDS:
            raise ValueError(f"--python takes BACKEND=PATH with BACKEND one of {', '.join(BACKENDS)}, got {item!r}")
        pythons[backend] = path
    options = dict(
        variants=_with_backends([v.strip() for v in args.variants.split(",") if v.strip()],
                                getattr(args, "backends", [])),
        pythons=pythons,
        workers=tuple(args.workers), epochs=args.epochs, warmup=args.warmup, batch_size=args.batch_size,
        image_size=tuple(args.image_size), grid_size=args.grid_size, memory_factor=args.memory_factor,
        isolate=not args.in_process, pin_cores=not args.no_pin, timeout=args.timeout, seed=args.seed,
        rounds=args.rounds)
    if args.quick:
        options.update(QUICK, workers=(max(args.workers),))
    return BenchConfig(**options)


def report(result: BenchResult, args: argparse.Namespace) -> None:
    """Print the table and write the files asked for (``--results``, ``--plot``, ``--json``)."""
    script = sys.argv[0]
    if os.path.basename(script) == "__main__.py":
        program = "python -m seqloaders"
    elif script.endswith(".py"):
        program = f"python {os.path.relpath(script)}"
    else:
        program = "seqloaders"
    result.command = " ".join([program, *sys.argv[1:]])
    print(result.table())
    for path, write in ((args.results, write_results), (args.plot, plot_results), (args.json, _write_json)):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write(result, path)
            print(f"wrote {path}")


def _write_json(result: BenchResult, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_dict(), f, indent=1)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("seqloaders.bench").setLevel(logging.INFO)  # progress: a run takes minutes
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"seqloaders bench: {exc}")
        return 2
    options = {"images_dir": os.path.abspath(args.images_dir)} if args.images_dir else {}
    limit = args.num_images or None
    if args.quick:
        limit = min(limit or QUICK_IMAGES, QUICK_IMAGES)
    spec = DatasetSpec(args.format, os.path.abspath(args.path), options=options, limit=limit, seed=args.seed)
    result = run_benchmark(spec, config, quick=args.quick)
    report(result, args)
    return 0

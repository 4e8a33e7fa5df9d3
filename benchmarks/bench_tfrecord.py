"""Reading from TFRecord shards vs loose files, through the same DetectionSequence pipeline.

Writes a toy dataset, converts it to shards, then times full passes of the same
``DetectionSequence`` (same seed, augmentation, encoder) over the loose JPEG files and over the
shards, alternating the two so both see the same machine state. Prints images/s and the ratio.

    python benchmarks/bench_tfrecord.py                       # small defaults, a few seconds
    python benchmarks/bench_tfrecord.py --images 2000 --passes 3 --drop-cache

Loose files on a warm page cache are the best case for them; ``--drop-cache`` (root, Linux)
evicts the files between passes to show the cold-read case that shards exist for.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import seqloaders as sl
from seqloaders.tfrecord import TFRecordSource, write_tfrecords


def drop_cache(paths: list[str]) -> None:
    """Ask the kernel to forget the pages of ``paths`` (POSIX_FADV_DONTNEED; no-op elsewhere)."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except (AttributeError, OSError):
            pass
        finally:
            os.close(fd)


def one_pass(seq: sl.DetectionSequence) -> float:
    start = time.perf_counter()
    for i in range(len(seq)):
        seq[i]
    seq.on_epoch_end()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--image-size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    parser.add_argument("--input-size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="decoding threads per batch")
    parser.add_argument("--passes", type=int, default=2, help="timed passes per source")
    parser.add_argument("--augment", default=None, help='e.g. "detection"')
    parser.add_argument("--drop-cache", action="store_true",
                        help="evict the files from the page cache before each pass")
    parser.add_argument("--root", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-tfrecord-") as tmp:
        root = args.root or tmp
        toy = sl.make_toy_dataset(os.path.join(root, "toy"), num_images=args.images, image_size=tuple(args.image_size))
        samples = sl.read_wider_face(toy.annotations, toy.images)
        start = time.perf_counter()
        report = write_tfrecords(samples, os.path.join(root, "shards"), num_shards=args.shards, progress=False)
        write_s = time.perf_counter() - start
        source = TFRecordSource(report.pattern)
        common = dict(batch_size=args.batch_size, image_size=tuple(args.input_size), seed=0, augment=args.augment,
                      encoder=sl.GridEncoder(grid_size=7, num_classes=1), threads=args.threads)
        seqs = {"loose files": sl.DetectionSequence(samples, **common),
                "tfrecord shards": sl.DetectionSequence(source, **common)}
        files = {"loose files": [s.image for s in samples], "tfrecord shards": report.shards}
        for seq in seqs.values():  # warm up: thread pools, first decode
            seq[0]
        times: dict[str, list[float]] = {name: [] for name in seqs}
        for _ in range(args.passes):
            for name, seq in seqs.items():
                if args.drop_cache:
                    drop_cache(files[name])
                times[name].append(one_pass(seq))

    n = len(samples)
    rates = {name: n / min(t) for name, t in times.items()}
    print(f"{n} images {args.image_size[0]}x{args.image_size[1]} → {args.input_size[0]}x{args.input_size[1]}, "
          f"batch {args.batch_size}, {args.shards} shards, best of {args.passes} passes"
          f"{', page cache dropped' if args.drop_cache else ''}; conversion {n / write_s:.0f} images/s")
    print(f"{'source':<18}{'images/s':>10}{'ratio':>8}")
    base = rates["loose files"]
    for name, rate in rates.items():
        print(f"{name:<18}{rate:>10.1f}{rate / base:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

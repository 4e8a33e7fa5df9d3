"""Annotation parsing benchmarks: WIDER FACE and COCO files of the official train sizes.

WIDER FACE (issue 5): ``parse_wider_face`` on a file of the official train size.

Writes a synthetic ``wider_face_train_bbx_gt.txt`` with the official train set's counts (12,880
images, 159,424 boxes; images with 0 faces and their placeholder line included, trailing
spaces as in the official files), then times, in the same run, ``seqloaders.parse_wider_face``
(text → samples), ``seqloaders.read_wider_face`` (file → samples) and a naive line-by-line
Python parser that builds the same samples, and prints the medians and the ratio.
The goal (issue 5): < 0.5 s.

COCO (issue 19): a generated file of COCO train2017's size (118,287 images, 860,001 annotations:
polygons of 1-2 parts with 2-decimal coordinates, 0.9% crowd annotations with uncompressed RLE,
about 292 MB) and, for memory only, an Objects365-sized one (608,606 images, 10,000,000 boxes, no
segmentation, as Objects365 v1's train split). Each measurement runs in a fresh process (time and
peak RSS, ``ru_maxrss``, which includes the interpreter and its imports): ``json.load``,
``orjson.loads``, pycocotools' ``COCO()`` (when installed), ``read_coco`` cold (``cache=False``)
and ``read_coco`` from the parse cache (a second load), with ratios against pycocotools in the same
run. Generated files are kept in ``build/bench-parse/`` and reused. Goals: read_coco <= 8 s and
<= 1.2 GB on the train2017-sized file, a cache load < 1 s, 10 M boxes < 2 GB.

Usage::

    python benchmarks/bench_parse.py            # both sections, full size
    python benchmarks/bench_parse.py --quick    # a tenth of the size, one run (smoke test)
    python benchmarks/bench_parse.py --only coco --runs 3
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if importlib.util.find_spec("seqloaders") is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(HERE))

import seqloaders as sl

#: the official WIDER FACE train split
TRAIN_IMAGES = 12_880
TRAIN_BOXES = 159_424
GOAL_SECONDS = 0.5


def make_wider_face_text(num_images: int = TRAIN_IMAGES, num_boxes: int = TRAIN_BOXES, seed: int = 0) -> str:
    """A synthetic WIDER FACE ground-truth file with exactly ``num_images`` and ``num_boxes``.

    Faces per image follow a heavy-tailed distribution like the real one (most images hold a
    few faces, some hundreds; images drawn with 0 faces get the placeholder line).
    """
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.3, num_images)
    counts = rng.multinomial(num_boxes, weights / weights.sum())
    x = rng.integers(0, 1000, num_boxes)
    y = rng.integers(0, 1300, num_boxes)
    w = np.exp(rng.uniform(np.log(2), np.log(400), num_boxes)).astype(np.int64)  # mostly small faces
    h = (w * rng.uniform(1.0, 1.4, num_boxes)).astype(np.int64) + 1
    attrs = np.stack([rng.integers(0, 3, num_boxes), rng.integers(0, 2, num_boxes), rng.integers(0, 2, num_boxes),
                      (rng.random(num_boxes) < 0.02).astype(np.int64), rng.integers(0, 3, num_boxes),
                      rng.integers(0, 2, num_boxes)], axis=1)
    rows = np.concatenate([np.stack([x, y, w, h], axis=1), attrs], axis=1).tolist()
    box_lines = [" ".join(map(str, row)) + " " for row in rows]
    lines: list[str] = []
    start = 0
    for i, count in enumerate(counts.tolist()):
        event = i % 61
        lines.append(f"{event}--Event_{event}/{event}_Event_image_{i:05d}.jpg")
        lines.append(str(count))
        if count == 0:
            lines.append("0 0 0 0 0 0 0 0 0 0 ")
        lines += box_lines[start:start + count]
        start += count
    return "\n".join(lines) + "\n"


def parse_naive(text: str, images_dir: str = "") -> list[sl.Sample]:
    """The baseline: the line-by-line parser of tutorials, building the same samples."""
    samples = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        i += 1
        if not name:
            continue
        count = int(lines[i])
        i += 1
        boxes, attrs = [], []
        for _ in range(max(count, 1)):  # a count of 0 is followed by one placeholder line
            values = [int(v) for v in lines[i].split()]
            i += 1
            if count:
                boxes.append([values[0], values[1], values[0] + values[2], values[1] + values[3]])
                attrs.append(values[4:])
        attr_array = np.array(attrs, np.int32).reshape(-1, 6)
        samples.append(sl.Sample(
            os.path.join(images_dir, name),
            boxes=np.array(boxes, np.float32).reshape(-1, 4),
            labels=np.zeros(len(boxes), np.int64),
            attributes={key: attr_array[:, k] for k, key in enumerate(sl.WIDER_FACE_ATTRIBUTES)},
        ))
    return samples


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def bench_parse(num_images: int = TRAIN_IMAGES, num_boxes: int = TRAIN_BOXES, runs: int = 5,
                seed: int = 0) -> dict:
    """Time the parsers on the same synthetic file; returns their run times and the sizes."""
    text = make_wider_face_text(num_images, num_boxes, seed)
    ours = sl.parse_wider_face(text, "images")
    naive = parse_naive(text, "images")
    if len(ours) != len(naive) or not all(a == b for a, b in zip(ours, naive)):
        raise RuntimeError("parse_wider_face and the naive parser disagree on the synthetic file")
    if (len(ours), sum(s.num_boxes for s in ours)) != (num_images, num_boxes):
        raise RuntimeError("the synthetic file does not hold the requested counts")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "wider_face_train_bbx_gt.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        timings = {
            "parse_wider_face (text -> samples)": _time(lambda: sl.parse_wider_face(text, "images"), runs),
            "read_wider_face (file -> samples)": _time(lambda: sl.read_wider_face(path, "images"), runs),
            "naive line-by-line parser (text -> samples)": _time(lambda: parse_naive(text, "images"), runs),
        }
    return {"num_images": num_images, "num_boxes": num_boxes, "bytes": len(text.encode()), "runs": runs,
            "timings": timings}


def format_table(result: dict) -> str:
    """The result as a text table with the ratio and the goal."""
    timings = result["timings"]
    name_w = max(len(k) for k in timings)
    out = [f"WIDER FACE parsing: {result['num_images']:,} images, {result['num_boxes']:,} boxes "
           f"({result['bytes'] / 1e6:.1f} MB, synthetic), median of {result['runs']} run(s)", "",
           f"{'parser'.ljust(name_w)}  {'median s':>9}  {'[min-max]':>13}  {'images/s':>10}",
           f"{'-' * name_w}  {'-' * 9}  {'-' * 13}  {'-' * 10}"]
    medians = {}
    for name, seconds in timings.items():
        med = medians[name] = statistics.median(seconds)
        out.append(f"{name.ljust(name_w)}  {med:9.3f}  {f'[{min(seconds):.3f}-{max(seconds):.3f}]':>13}  "
                   f"{result['num_images'] / med:10,.0f}")
    ours = medians["parse_wider_face (text -> samples)"]
    naive = medians["naive line-by-line parser (text -> samples)"]
    verdict = "ok" if ours < GOAL_SECONDS else "MISS"
    out += ["", f"ratio naive / parse_wider_face: {naive / ours:.1f} (parse_wider_face is {naive / ours:.1f}x faster)",
            f"parse_wider_face: {ours:.3f} s (goal < {GOAL_SECONDS} s: {verdict})"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=None, help="runs per parser (default: 5 WIDER FACE, 2 COCO)")
    parser.add_argument("--num-images", type=int, default=TRAIN_IMAGES)
    parser.add_argument("--num-boxes", type=int, default=TRAIN_BOXES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("widerface", "coco"), help="run one section")
    parser.add_argument("--no-big", action="store_true", help="skip the 10 M-box COCO memory case")
    parser.add_argument("--quick", action="store_true", help="one run on a tenth of the size (smoke test)")
    parser.add_argument("--results", metavar="FILE.md", help="also write the tables as Markdown (make bench: PARSE.md)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    tables = []
    if args.only in (None, "widerface"):
        runs = 1 if args.quick else (args.runs or 5)
        tables.append(format_table(bench_parse(args.num_images // scale, args.num_boxes // scale, runs, args.seed)))
        print(tables[-1], flush=True)
    if args.only in (None, "coco"):
        import coco_bench  # benchmarks/coco_bench.py

        runs = 1 if args.quick else (args.runs or 2)
        tables.append(coco_bench.run(scale=scale, runs=runs, big=not args.no_big, seed=args.seed))
        print(tables[-1], flush=True)
    if args.results:
        when = datetime.datetime.now().isoformat(timespec="seconds")
        command = "python benchmarks/bench_parse.py" + (" " + " ".join(argv) if argv else "")
        with open(args.results, "w", encoding="utf-8") as f:
            f.write(f"# seqloaders annotation parsing benchmark\n\nMeasured {when} with `{command}`, Python "
                    f"{platform.python_version()}, {os.cpu_count()} logical cores.\n\n")
            for table in tables:
                f.write(f"```\n{table}\n```\n\n")
        print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

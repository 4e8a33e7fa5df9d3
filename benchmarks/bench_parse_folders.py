"""Large-folder parsing benchmark: ``read_voc`` and ``read_yolo`` on folders of dataset size.

Generates, once (cached under ``build/bench_parse_folders/`` keyed by size and seed):

- a VOC2012-sized root: 17,125 ``Annotations/*.xml`` files in VOC's own layout (tabs, ``<source>``,
  ``<segmented>``, some ``<part>`` children) with about 2.4 objects per image (VOC2012 trainval:
  40,138 objects), and ``ImageSets/Main/trainval.txt``;
- COCO train2017 in YOLO form: 118,287 images (hard links to a few small JPEGs of COCO's common
  sizes: the reader reads each image's header) with one ``labels/train2017/*.txt`` each, 860,001
  boxes in all (about 7.3 per image), 10% of the label files empty.

Then times, each in a fresh process, seqloaders' reader and a plain baseline in the same run: for
VOC a loop over the files with ``xml.etree.ElementTree.parse`` building the same samples, for
YOLO a loop reading each label file with ``readlines`` and ``float`` per field, the image size
from ``PIL.Image.open``. Each row gives the median wall time of the read and the peak RSS of its
process (``ru_maxrss``; the interpreter with seqloaders imported is the first line), and the
ratio baseline / reader. The page cache is warm (the folders were just generated or read).

Usage::

    python benchmarks/bench_parse_folders.py              # 3 runs per row, full size
    python benchmarks/bench_parse_folders.py --quick      # one run on a tenth of the size
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # time the checkout this script is in, installed or not
    sys.path.insert(0, ROOT)

#: VOC2012 trainval (the detection annotations) and COCO train2017
VOC_FILES = 17_125
VOC_OBJECTS = 40_138
YOLO_IMAGES = 118_287
YOLO_BOXES = 860_001
EMPTY_FRACTION = 0.10
CACHE = os.path.join(ROOT, "build", "bench_parse_folders")
VOC_NAMES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
             "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
#: (H, W) of the JPEGs the YOLO images link to, COCO's most common sizes first
COCO_SIZES = ((480, 640), (427, 640), (640, 480), (640, 427), (424, 640), (512, 640), (640, 640), (360, 640),
              (425, 640), (428, 640), (375, 500), (333, 500))


# ------------------------------------------------------------------------------------ generation
def _counts(rng: np.random.Generator, n: int, total: int, minimum: int) -> np.ndarray:
    """``n`` non-negative counts summing to ``total``, each >= ``minimum``, heavy-tailed like real sets."""
    weights = rng.lognormal(0.0, 0.9, n)
    return minimum + rng.multinomial(total - minimum * n, weights / weights.sum())


def _voc_xml(rng: np.random.Generator, name: str, objects: int) -> str:
    h, w = (int(v) for v in COCO_SIZES[rng.integers(len(COCO_SIZES))])
    out = ["<annotation>", "\t<folder>VOC2012</folder>", f"\t<filename>{name}.jpg</filename>", "\t<source>",
           "\t\t<database>The VOC2007 Database</database>", "\t\t<annotation>PASCAL VOC2007</annotation>",
           "\t\t<image>flickr</image>", "\t</source>", "\t<size>", f"\t\t<width>{w}</width>",
           f"\t\t<height>{h}</height>", "\t\t<depth>3</depth>", "\t</size>", "\t<segmented>0</segmented>"]
    for _ in range(objects):
        x0, x1 = sorted(int(v) for v in rng.integers(1, w + 1, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(1, h + 1, 2))
        label = VOC_NAMES[rng.integers(len(VOC_NAMES))]
        out += ["\t<object>", f"\t\t<name>{label}</name>",
                f"\t\t<pose>{('Unspecified', 'Left', 'Right', 'Frontal')[rng.integers(4)]}</pose>",
                f"\t\t<truncated>{int(rng.random() < 0.3)}</truncated>",
                f"\t\t<difficult>{int(rng.random() < 0.1)}</difficult>",
                "\t\t<bndbox>", f"\t\t\t<xmin>{x0}</xmin>", f"\t\t\t<ymin>{y0}</ymin>", f"\t\t\t<xmax>{x1}</xmax>",
                f"\t\t\t<ymax>{y1}</ymax>", "\t\t</bndbox>"]
        if label == "person" and rng.random() < 0.1:  # VOC's person layout parts
            out += ["\t\t<part>", "\t\t\t<name>head</name>", "\t\t\t<bndbox>", f"\t\t\t\t<xmin>{x0}</xmin>",
                    f"\t\t\t\t<ymin>{y0}</ymin>", f"\t\t\t\t<xmax>{x1}</xmax>", f"\t\t\t\t<ymax>{y1}</ymax>",
                    "\t\t\t</bndbox>", "\t\t</part>"]
        out.append("\t</object>")
    out.append("</annotation>")
    return "\n".join(out) + "\n"


def make_voc(num_files: int, seed: int = 0) -> str:
    """The VOC root for ``num_files`` (generated once, then reused): its path."""
    root = os.path.join(CACHE, f"voc-{num_files}-s{seed}", "VOC2012")
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    shutil.rmtree(os.path.dirname(root), ignore_errors=True)
    rng = np.random.default_rng(seed)
    counts = _counts(rng, num_files, round(VOC_OBJECTS * num_files / VOC_FILES), 1)
    os.makedirs(os.path.join(root, "Annotations"))
    os.makedirs(os.path.join(root, "ImageSets", "Main"))
    names = [f"{2007 + k * 6 // num_files}_{k:06d}" for k in range(num_files)]
    for name, count in zip(names, counts.tolist()):
        with open(os.path.join(root, "Annotations", f"{name}.xml"), "w", encoding="utf-8") as f:
            f.write(_voc_xml(rng, name, count))
    with open(os.path.join(root, "ImageSets", "Main", "trainval.txt"), "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in names))
    open(os.path.join(root, ".complete"), "w").close()
    return root


def make_yolo(num_images: int, seed: int = 0) -> str:
    """The YOLO dataset for ``num_images`` (generated once, then reused): its ``data.yaml``."""
    import cv2

    root = os.path.join(CACHE, f"yolo-{num_images}-s{seed}")
    yaml = os.path.join(root, "data.yaml")
    if os.path.exists(os.path.join(root, ".complete")):
        return yaml
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    images, labels, shapes = (os.path.join(root, d) for d in ("images/train2017", "labels/train2017", "shapes"))
    for d in (images, labels, shapes):
        os.makedirs(d)
    sources = []
    for h, w in COCO_SIZES:
        path = os.path.join(shapes, f"{h}x{w}.jpg")
        cv2.imwrite(path, np.full((h, w, 3), 127, np.uint8))
        sources.append(path)
    empty = rng.random(num_images) < EMPTY_FRACTION
    counts = np.zeros(num_images, np.int64)
    counts[~empty] = _counts(rng, int((~empty).sum()), round(YOLO_BOXES * num_images / YOLO_IMAGES), 1)
    which = rng.integers(len(sources), size=num_images)
    total = int(counts.sum())
    cls = rng.integers(80, size=total)
    wh = rng.uniform(0.01, 0.6, (total, 2))
    centre = wh / 2 + rng.random((total, 2)) * (1 - wh)
    rows = [f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}\n"
            for c, (x, y), (bw, bh) in zip(cls.tolist(), centre.tolist(), wh.tolist())]
    start = 0
    for k, (count, src) in enumerate(zip(counts.tolist(), which.tolist())):
        name = f"{k:012d}"
        try:
            os.link(sources[src], os.path.join(images, f"{name}.jpg"))
        except OSError:  # no hard links on this file system
            shutil.copyfile(sources[src], os.path.join(images, f"{name}.jpg"))
        with open(os.path.join(labels, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(rows[start:start + count]))
        start += count
    with open(yaml, "w", encoding="utf-8") as f:
        f.write(f"path: .\ntrain: images/train2017\nnames: [{', '.join(f'c{k}' for k in range(80))}]\n")
    open(os.path.join(root, ".complete"), "w").close()
    return yaml


# ------------------------------------------------------------------------------------ the rows
def naive_voc(root: str) -> list:
    """The baseline: ``ElementTree.parse`` per file, the same samples built in a plain loop."""
    import xml.etree.ElementTree as ET

    import seqloaders as sl

    folder = os.path.join(root, "Annotations")
    found = []
    for name in sorted(os.listdir(folder)):
        tree = ET.parse(os.path.join(folder, name)).getroot()
        boxes, names, difficult, truncated, pose = [], [], [], [], []
        for obj in tree.iter("object"):
            bb = obj.find("bndbox")
            boxes.append([float(bb.find(t).text) - (1 if t.endswith("min") else 0)
                          for t in ("xmin", "ymin", "xmax", "ymax")])
            names.append(obj.find("name").text.strip())
            difficult.append(int(obj.findtext("difficult", "0")))
            truncated.append(int(obj.findtext("truncated", "0")))
            pose.append(obj.findtext("pose", "Unspecified"))
        size = tree.find("size")
        found.append((tree.findtext("filename"), (int(size.findtext("height")), int(size.findtext("width"))), boxes,
                      names, difficult, truncated, pose))
    classes = sorted({n for f in found for n in f[3]})
    label_of = {n: k for k, n in enumerate(classes)}
    images = os.path.join(root, "JPEGImages")
    samples = []
    for filename, size, boxes, names, difficult, truncated, pose in found:
        n = len(boxes)
        samples.append(sl.Sample(os.path.join(images, filename), boxes=np.array(boxes, np.float32).reshape(n, 4),
                                 labels=[label_of[v] for v in names], image_size=size,
                                 attributes={"difficult": np.array(difficult, np.int32),
                                             "truncated": np.array(truncated, np.int32),
                                             "occluded": np.full(n, -1, np.int32),
                                             "pose": np.array(pose, dtype=str).reshape(n)}))
    return samples


def naive_yolo(yaml: str) -> list:
    """The baseline: ``readlines`` and ``float`` per field, the image size from PIL, one sample per image."""
    from PIL import Image

    import seqloaders as sl

    root = os.path.dirname(yaml)
    images = os.path.join(root, "images", "train2017")
    samples = []
    for name in sorted(os.listdir(images)):
        image = os.path.join(images, name)
        with Image.open(image) as im:
            w, h = im.size
        boxes, labels = [], []
        label_file = os.path.join(root, "labels", "train2017", os.path.splitext(name)[0] + ".txt")
        if os.path.exists(label_file):
            with open(label_file, encoding="utf-8") as f:
                for line in f.readlines():
                    fields = line.split()
                    if fields:
                        c, x, y, bw, bh = (float(v) for v in fields)
                        boxes.append([(x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h])
                        labels.append(int(c))
        samples.append(sl.Sample(image, boxes=np.array(boxes, np.float32).reshape(-1, 4), labels=labels,
                                 image_size=(h, w)))
    return samples


def _rows(voc: str, yolo: str) -> dict:
    """Row name -> (function, path, keyword arguments, cache state) as run in the child process.

    Cache states: "off" (``cache=False``), "miss" (an empty cache folder: parse and store), "hit"
    (a cache folder the same read filled first, untimed).
    """
    return {
        "sl.read_voc, cache=False": ("read_voc", voc, {"cache": False}, "off"),
        "sl.read_voc, first read (parse + store)": ("read_voc", voc, {}, "miss"),
        "sl.read_voc, cache hit": ("read_voc", voc, {}, "hit"),
        "naive xml.etree loop": ("naive_voc", voc, {}, "off"),
        "sl.read_yolo, cache=False": ("read_yolo", yolo, {"cache": False}, "off"),
        "sl.read_yolo, first read (parse + store)": ("read_yolo", yolo, {}, "miss"),
        "sl.read_yolo, cache hit": ("read_yolo", yolo, {}, "hit"),
        "naive readlines loop": ("naive_yolo", yolo, {}, "off"),
    }


def child(function: str, path: str, options: str) -> None:
    """Run one row in this (fresh) process; print its time, peak RSS and counts as JSON."""
    import resource

    import seqloaders as sl

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn = {"naive_voc": naive_voc, "naive_yolo": naive_yolo, "read_voc": sl.read_voc, "read_yolo": sl.read_yolo}
    start = time.perf_counter()
    samples = fn[function](path, **json.loads(options))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_mb": peak / 1024, "import_rss_mb": before / 1024,
                      "samples": len(samples), "boxes": sum(s.num_boxes for s in samples)}))


def run_row(function: str, path: str, options: dict, cache: str = "off") -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-parse-cache-") as folder:
        env = {**os.environ, "SEQLOADERS_CACHE": folder}
        command = [sys.executable, os.path.abspath(__file__), "--child", function, path, json.dumps(options)]
        if cache == "hit":  # fill the cache first, untimed
            subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
        out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(num_voc: int, num_yolo: int, runs: int, seed: int = 0) -> dict:
    start = time.perf_counter()
    voc, yolo = make_voc(num_voc, seed), make_yolo(num_yolo, seed)
    generated = time.perf_counter() - start
    rows = _rows(voc, yolo)
    results: dict[str, list[dict]] = {name: [] for name in rows}
    load_before = os.getloadavg()
    for _ in range(runs):  # in turns, so a burst of load hits every row alike
        for name, (function, path, options, cache) in rows.items():
            results[name].append(run_row(function, path, options, cache))
    for prefix, naive in (("sl.read_voc", "naive xml.etree loop"), ("sl.read_yolo", "naive readlines loop")):
        want = results[naive][0]
        for name in rows:
            got = results[name][0]
            if name.startswith(prefix) and (got["samples"], got["boxes"]) != (want["samples"], want["boxes"]):
                raise RuntimeError(f"{name} and {naive} disagree: {got} vs {want}")
    return {"num_voc": num_voc, "num_yolo": num_yolo, "runs": runs, "results": results, "generate_s": generated,
            "load": (load_before[0], os.getloadavg()[0])}


def format_table(result: dict) -> str:
    res = result["results"]
    name_w = max(len(k) for k in res)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in res.items()}
    first = next(iter(res.values()))[0]
    out = [f"Large-folder parsing, each row in a fresh process, median of {result['runs']} run(s) [min-max]; "
           f"load average {result['load'][0]:.2f} before, {result['load'][1]:.2f} after (2 shared cores)", "",
           f"interpreter with seqloaders imported: {first['import_rss_mb']:.0f} MB peak RSS", "",
           f"{'reader'.ljust(name_w)}  {'files':>8}  {'boxes':>9}  {'median s':>8}  {'[min-max]':>13}  "
           f"{'files/s':>9}  {'peak RSS MB':>11}  {'baseline / row':>14}",
           f"{'-' * name_w}  {'-' * 8}  {'-' * 9}  {'-' * 8}  {'-' * 13}  {'-' * 9}  {'-' * 11}  {'-' * 14}"]
    for name, runs in res.items():
        seconds = [r["seconds"] for r in runs]
        baseline = "naive xml.etree loop" if "voc" in name or "xml" in name else "naive readlines loop"
        ratio = "baseline" if name == baseline else f"{med[baseline] / med[name]:.2f}x"
        rss = max(r["rss_mb"] for r in runs)
        out.append(f"{name.ljust(name_w)}  {runs[0]['samples']:8,}  {runs[0]['boxes']:9,}  {med[name]:8.2f}  "
                   f"{f'[{min(seconds):.2f}-{max(seconds):.2f}]':>13}  {runs[0]['samples'] / med[name]:9,.0f}  "
                   f"{rss:11.0f}  {ratio:>14}")
    out += ["", "baseline / row > 1: the row is faster than the plain loop. Warm page cache (the files were just",
            "written or read); the YOLO images are hard links to 12 small JPEGs of COCO's common sizes.",
            f"(the folders: generated or found in {result['generate_s']:.1f} s under build/bench_parse_folders/)"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per row (default: 3)")
    parser.add_argument("--quick", action="store_true", help="one run on a tenth of the size (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", metavar="FILE.md", default=os.path.join(HERE, "PARSE_FOLDERS.md"),
                        help="where to write the table as Markdown (default: benchmarks/PARSE_FOLDERS.md; '' for none)")
    parser.add_argument("--child", nargs=3, metavar=("FUNCTION", "PATH", "OPTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    num_voc, num_yolo = VOC_FILES, YOLO_IMAGES
    if args.quick:
        args.runs, num_voc, num_yolo = 1, num_voc // 10, num_yolo // 10
    table = format_table(bench(num_voc, num_yolo, args.runs, args.seed))
    print(table)
    if args.results:
        when = datetime.datetime.now().isoformat(timespec="seconds")
        command = "python benchmarks/bench_parse_folders.py" + (" --quick" if args.quick else "")
        with open(args.results, "w", encoding="utf-8") as f:
            f.write(f"# seqloaders large-folder parsing benchmark\n\nMeasured {when} with `{command}`, Python "
                    f"{platform.python_version()}, {os.cpu_count()} logical cores (shared: see the load).\n\n"
                    f"```\n{table}\n```\n")
        print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

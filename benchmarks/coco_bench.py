"""The COCO section of bench_parse.py: generated train2017- and Objects365-sized files, each parser
timed in a fresh process (see bench_parse.py's docstring)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

try:
    import orjson
except ImportError:  # the generator and the orjson row need it; json is much slower to write
    orjson = None

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(os.path.dirname(HERE), "build", "bench-parse")
#: COCO train2017 and Objects365 v1 train
TRAIN2017 = (118_287, 860_001)
OBJECTS365 = (608_606, 10_000_000)
GOALS = {"seconds": 8.0, "peak_mb": 1200.0, "cache_seconds": 1.0, "big_peak_mb": 2000.0}


def _dumps(obj) -> bytes:
    return orjson.dumps(obj) if orjson is not None else json.dumps(obj, separators=(",", ":")).encode()


def _images(rng, num_images: int) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray]:
    heights = rng.choice([480, 427, 640, 375, 500], num_images)
    widths = rng.choice([640, 640, 480, 500, 375], num_images)
    ids = np.sort(rng.choice(np.arange(1, 5 * num_images + 10), num_images, replace=False))
    records = [{"license": 1, "file_name": f"{i:012d}.jpg", "coco_url": f"http://images.example/train/{i:012d}.jpg",
                "height": h, "width": w, "date_captured": "2013-11-14 11:18:45",
                "flickr_url": f"http://farm4.example/3153/{i}_e1a1b2c3d4_z.jpg", "id": i}
               for i, h, w in zip(ids.tolist(), heights.tolist(), widths.tolist())]
    return records, ids, heights, widths


def write_coco(path: str, num_images: int, num_annotations: int, seed: int = 0, polygons: bool = True,
               crowd: float = 0.009) -> None:
    """A synthetic COCO file: 80 categories with gapped ids, annotations in random order (as in
    COCO's files), polygons of 1-2 parts (lognormal point counts, 2-decimal coordinates) or boxes only."""
    rng = np.random.default_rng(seed)
    cat_ids = np.sort(rng.choice(np.arange(1, 91), 80, replace=False))
    records, ids, heights, widths = _images(rng, num_images)
    owner = rng.integers(0, num_images, num_annotations)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b'{"info":{"description":"synthetic COCO-sized file","version":"1.0","year":2017},"licenses":'
                b'[{"url":"http://creativecommons.org/licenses/by/2.0/","id":1,"name":"Attribution License"}],'
                b'"images":')
        f.write(_dumps(records))
        f.write(b',"annotations":[')
        step = 50_000
        for start in range(0, num_annotations, step):
            img = owner[start:start + step]
            n = len(img)
            h, w = heights[img].astype(float), widths[img].astype(float)
            x0, y0 = rng.uniform(0, 1, n) * (w - 2), rng.uniform(0, 1, n) * (h - 2)
            bw, bh = 1 + rng.uniform(0, 1, n) * (w - x0 - 1), 1 + rng.uniform(0, 1, n) * (h - y0 - 1)
            boxes = np.round(np.stack([x0, y0, bw, bh], 1), 2).tolist()
            areas = np.round(bw * bh * 0.6, 4).tolist()
            is_crowd = (rng.random(n) < crowd) if polygons else np.zeros(n, bool)
            anns = []
            for k in range(n):
                ann = {"area": areas[k], "iscrowd": int(is_crowd[k]), "image_id": int(ids[img[k]]), "bbox": boxes[k],
                       "category_id": int(cat_ids[(start + k) % 80]), "id": start + k + 1}
                if is_crowd[k]:
                    runs = rng.integers(1, 2000, 40)
                    total = int(h[k] * w[k])
                    ann["segmentation"] = {"counts": [*runs.tolist(), total - int(runs.sum())], "size": [int(h[k]),
                                                                                                        int(w[k])]}
                elif polygons:
                    parts = []
                    for _ in range(1 if rng.random() < 0.9 else 2):
                        m = max(3, int(rng.lognormal(2.3, 0.6)))
                        t = np.sort(rng.uniform(0, 2 * np.pi, m))
                        xs = x0[k] + bw[k] * (0.5 + 0.5 * np.cos(t))
                        ys = y0[k] + bh[k] * (0.5 + 0.5 * np.sin(t))
                        parts.append(np.round(np.stack([xs, ys], 1).reshape(-1), 2).tolist())
                    ann["segmentation"] = parts
                anns.append(ann)
            f.write((b"," if start else b"") + _dumps(anns)[1:-1])
        cats = [{"supercategory": "thing", "id": int(c), "name": f"class_{c}"} for c in cat_ids]
        f.write(b'],"categories":' + _dumps(cats) + b"}")
    os.replace(tmp, path)


def generated(name: str, num_images: int, num_annotations: int, seed: int, polygons: bool) -> str:
    """The path of a generated file, written once into build/bench-parse/."""
    os.makedirs(BUILD, exist_ok=True)
    path = os.path.join(BUILD, f"{name}-{num_images}-{num_annotations}-{seed}.json")
    if not os.path.exists(path):
        start = time.perf_counter()
        write_coco(path, num_images, num_annotations, seed, polygons)
        print(f"generated {path} ({os.path.getsize(path) / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s",
              flush=True)
    return path


_CHILD = r"""
import json, os, resource, sys, time
kind, path, cache = sys.argv[1:4]
os.environ["SEQLOADERS_CACHE"] = cache
if kind.startswith("read_coco"):
    import seqloaders as sl
elif kind == "pycocotools":
    import warnings
    warnings.simplefilter("ignore")
    from pycocotools.coco import COCO
elif kind == "orjson.loads":
    import orjson
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
extra = {}
if kind == "json.load":
    with open(path, encoding="utf-8") as f:
        json.load(f)
elif kind == "orjson.loads":
    with open(path, "rb") as f:
        orjson.loads(f.read())
elif kind == "pycocotools":
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()):
        COCO(path)
else:
    table = sl.read_coco(path, "images", cache=kind != "read_coco (cold, cache off)")
    extra = {"boxes": table.num_boxes, "images": len(table), "table_mb": table.nbytes / 1e6,
             "mapped": table.path is not None}
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "baseline_mb": baseline / 1024, **extra}))
"""


def measure(kind: str, path: str, cache: str) -> dict:
    """Run one parser on ``path`` in a fresh process: seconds and peak RSS (MB)."""
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, path, cache], capture_output=True, text=True,
                         check=False)
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run(scale: int = 1, runs: int = 2, big: bool = True, seed: int = 0) -> str:
    """Generate, measure and format the COCO section."""
    import tempfile

    lines = []
    images, anns = TRAIN2017[0] // scale, TRAIN2017[1] // scale
    path = generated("coco-train2017", images, anns, seed, polygons=True)
    kinds = ["json.load"]
    kinds += ["orjson.loads"] if _available("orjson") else []
    kinds += ["pycocotools"] if _available("pycocotools") else []
    kinds += ["read_coco (cold, cache off)", "read_coco (from the cache)"]
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as cache:
        measure("read_coco (fills the cache)", path, cache)  # the first cached read writes the entry
        for _ in range(runs):  # in turns, so a busy moment spreads over all rows
            for kind in kinds:
                results[kind].append(measure(kind, path, cache))
    load_after = os.getloadavg()
    size_mb = os.path.getsize(path) / 1e6
    lines.append(f"COCO parsing: {images:,} images, {anns:,} annotations ({size_mb:.0f} MB, synthetic, train2017-sized"
                 f"{'' if scale == 1 else f' / {scale}'}), {runs} run(s) each in a fresh process, in turns")
    lines.append(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} cores)")
    lines.append("")
    lines.append(f"{'parser':<30}  {'median s':>8}  {'[min-max]':>15}  {'peak MB':>8}  {'[min-max]':>13}  "
                 f"{'s vs pycoco':>11}  {'MB vs pycoco':>12}")
    med: dict[str, tuple[float, float]] = {}
    for kind, rows in results.items():
        good = [r for r in rows if "error" not in r]
        if not good:
            lines.append(f"{kind:<30}  failed: {rows[0]['error']}")
            continue
        secs, peaks = [r["seconds"] for r in good], [r["peak_mb"] for r in good]
        med[kind] = (statistics.median(secs), statistics.median(peaks))
    ref = med.get("pycocotools")
    for kind in kinds:
        if kind not in med:
            continue
        good = [r for r in results[kind] if "error" not in r]
        secs, peaks = [r["seconds"] for r in good], [r["peak_mb"] for r in good]
        ratio = f"{med[kind][0] / ref[0]:11.2f}  {med[kind][1] / ref[1]:12.2f}" if ref else f"{'-':>11}  {'-':>12}"
        lines.append(f"{kind:<30}  {med[kind][0]:8.2f}  {f'[{min(secs):.2f}-{max(secs):.2f}]':>15}  "
                     f"{med[kind][1]:8.0f}  {f'[{min(peaks):.0f}-{max(peaks):.0f}]':>13}  {ratio}")
    baseline = statistics.median(r["baseline_mb"] for r in results["read_coco (cold, cache off)"] if "error" not in r)
    cold = results["read_coco (cold, cache off)"][0]
    lines.append("")
    table_mb, boxes = cold.get("table_mb", 0.0), max(cold.get("boxes", 1), 1)
    lines.append(f"peak RSS includes the interpreter and its imports (read_coco's process: {baseline:.0f} MB before "
                 f"the call); the table: {table_mb:.0f} MB of arrays for {boxes:,} boxes "
                 f"({table_mb * 1e6 / boxes:.0f} bytes per box, polygons included)")
    if scale == 1 and "read_coco (cold, cache off)" in med:
        s, mb = med["read_coco (cold, cache off)"]
        c = med["read_coco (from the cache)"][0]
        def verdict(ok: bool) -> str:
            return "ok" if ok else "MISS"

        lines.append(f"goals: read_coco {s:.1f} s (<= {GOALS['seconds']:.0f} s: {verdict(s <= GOALS['seconds'])}), "
                     f"{mb:.0f} MB (<= {GOALS['peak_mb']:.0f} MB: {verdict(mb <= GOALS['peak_mb'])}); "
                     f"cache load {c:.2f} s (< {GOALS['cache_seconds']:.0f} s: {verdict(c < GOALS['cache_seconds'])})")
    if big:
        lines += ["", *_big(scale, seed)]
    return "\n".join(lines)


def _big(scale: int, seed: int) -> list[str]:
    images, boxes = OBJECTS365[0] // scale, OBJECTS365[1] // scale
    path = generated("objects365", images, boxes, seed, polygons=False)
    with __import__("tempfile").TemporaryDirectory() as cache:
        cold = measure("read_coco (cold, cache off)", path, cache)
        measure("read_coco (fills the cache)", path, cache)
        hit = measure("read_coco (from the cache)", path, cache)
    size_mb = os.path.getsize(path) / 1e6
    head = (f"Objects365-sized (memory): {images:,} images, {boxes:,} boxes, no segmentation ({size_mb:.0f} MB, "
            f"synthetic), one run each")
    if "error" in cold:
        return [head, f"read_coco failed: {cold['error']}"]
    per_box = cold["table_mb"] * 1e6 / cold["boxes"]
    verdict = "ok" if cold["peak_mb"] < GOALS["big_peak_mb"] else "MISS"
    return [head,
            f"read_coco (cold, cache off): {cold['seconds']:.1f} s, peak {cold['peak_mb']:.0f} MB "
            f"(goal < {GOALS['big_peak_mb']:.0f} MB{'' if scale == 1 else ' at full size'}: {verdict}); the table "
            f"{cold['table_mb']:.0f} MB ({per_box:.0f} bytes per box)",
            f"read_coco (from the cache): {hit.get('seconds', float('nan')):.2f} s, peak "
            f"{hit.get('peak_mb', float('nan')):.0f} MB (a memory map: pages are read as samples are)"]

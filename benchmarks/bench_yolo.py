"""YOLO training input at 640 px against Ultralytics' own loader (``make bench``), and the JPEG decoders.

Writes (or reuses) the generated benchmark set (``make_bench_set.py``: 1024-px JPEG photographs),
adds a YOLO-format copy of it (``images/train`` hard links to the same files, ``labels/train``,
``data.yaml``), and measures in the same run, images/s over the same files with the same number of
workers (each variant in a fresh process pinned to ``--workers`` cores):

- ``decode``: the ceiling at 640 letterbox: read, ``decode_image`` (simplejpeg), letterbox resize
  on ``workers`` threads; nothing else.
- ``sl-yolo``: ``sl.Loader(augment="yolo", resize="letterbox", pad_value=114, preprocess="uint8",
  encoder=sl.PaddedBoxEncoder(max_boxes=200), threads=workers)``, one ``iter_epoch`` per epoch.
- ``sl-plain``: the same without augmentation.
- ``ul-mosaic``: Ultralytics' training loader: ``ultralytics.data.build.build_yolo_dataset`` (its
  default training hyperparameters, ``imgsz=640``, ``mosaic=1.0``) and ``build_dataloader`` with
  ``workers`` worker processes, batches of the same size, on the CPU as its trainer does there.
- ``ul-plain``: the same with ``mosaic=0.0`` (what its ``close_mosaic`` epochs run).

Each repeat runs every variant once (in turns, so the machine's noise spreads over all of them);
the table gives the median and the range of ``--repeats`` runs, and the ratios seqloaders /
Ultralytics per repeat against the 2x goal. Before the loaders, a JPEG decode table: OpenCV's
``imdecode`` (with its thread pool, and with one thread) against simplejpeg at full scale and 1/2,
1/4, 1/8, with their largest pixel difference; then the ``augment="yolo"`` path step by step on one
thread (read and decode, letterbox, the ``YoloAugmenter`` call, and of it the OpenCV resizes and HSV
round trip), whose shares bound ``sl-yolo`` against the decode ceiling (``--repeats 0``: these two
tables only).

Ultralytics is optional and in no extra (without it its rows say "not installed"): a plain ``pip
install ultralytics`` asks for torchvision, whose newest release pins a CUDA build of torch
(5.5 GB here) and also brings opencv-python beside opencv-python-headless. Measured here with::

    pip install torch==2.13.0                                  # the local CPU wheel, first
    pip install --no-deps ultralytics ultralytics-thop "torchvision==0.28.*"
    pip install polars                                         # its other needs are already there

(ultralytics reads torchvision's version at import; its training loader never imports torchvision,
whose operators do not load beside that CPU torch.)

Usage::

    python benchmarks/bench_yolo.py            # 320 images, 2 workers, 3 repeats (about 5 min on 2 cores)
    python benchmarks/bench_yolo.py --quick    # smoke test: 32 images, 1 repeat
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if importlib.util.find_spec("seqloaders") is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(HERE))

import cv2
import numpy as np
from make_bench_set import make_bench_set

import seqloaders as sl
from seqloaders import imageio

log = logging.getLogger("bench_yolo")

VARIANTS = {
    "decode": "ceiling: read + decode_image + letterbox resize on worker threads",
    "sl-yolo": 'seqloaders Loader, augment="yolo" (mosaic 1.0), letterbox 640, uint8, padded boxes',
    "sl-plain": "seqloaders Loader, no augmentation, letterbox 640, uint8, padded boxes",
    "ul-mosaic": "Ultralytics YOLODataset + build_dataloader, imgsz 640, mosaic=1.0 (its defaults)",
    "ul-plain": "Ultralytics YOLODataset + build_dataloader, imgsz 640, mosaic=0.0",
}
#: (seqloaders row, Ultralytics row) compared against the goal
PAIRS = (("sl-yolo", "ul-mosaic", "mosaic"), ("sl-plain", "ul-plain", "no mosaic"))
GOAL = 2.0
IMGSZ = 640


# ------------------------------------------------------------------------------ the data set
def write_yolo_copy(bench, root: str) -> str:
    """The bench set in YOLO form under ``root``; returns its ``data.yaml``. Images are hard links."""
    yaml_path = os.path.join(root, "data.yaml")
    manifest = os.path.join(root, "source.json")
    if os.path.exists(yaml_path) and os.path.exists(manifest):
        with open(manifest) as f:
            if json.load(f) == {"annotations": os.path.abspath(bench.annotations)}:
                return yaml_path
    images, labels = os.path.join(root, "images", "train"), os.path.join(root, "labels", "train")
    os.makedirs(images, exist_ok=True)
    os.makedirs(labels, exist_ok=True)
    for sample in sl.read_wider_face(bench.annotations, bench.images):
        name = os.path.basename(sample.image)
        target = os.path.join(images, name)
        if not os.path.exists(target):
            try:
                os.link(sample.image, target)
            except OSError:  # another file system
                with open(sample.image, "rb") as src, open(target, "wb") as dst:
                    dst.write(src.read())
        with open(sample.image, "rb") as f:
            h, w = sl.probe_image(f.read(1 << 16)).size
        boxes = np.clip(np.asarray(sample.boxes, np.float64).reshape(-1, 4), 0, [w, h, w, h])
        lines = []
        for x0, y0, x1, y1 in boxes:
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                lines.append(f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} "
                             f"{(y1 - y0) / h:.6f}\n")
        with open(os.path.join(labels, os.path.splitext(name)[0] + ".txt"), "w") as f:
            f.writelines(lines)
    with open(yaml_path, "w") as f:
        f.write(f"path: {os.path.abspath(root)}\ntrain: images/train\nval: images/train\nnames:\n  0: face\n")
    with open(manifest, "w") as f:
        json.dump({"annotations": os.path.abspath(bench.annotations)}, f)
    return yaml_path


# ------------------------------------------------------------------------------ one variant
def _letterbox(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    r = IMGSZ / max(h, w)
    nh, nw = round(h * r), round(w * r)
    out = np.full((IMGSZ, IMGSZ, 3), 114, np.uint8)
    top, left = (IMGSZ - nh) // 2, (IMGSZ - nw) // 2
    out[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out


def _epochs_decode(yaml_path: str, workers: int, batch_size: int):
    paths = [s.image for s in sl.read_yolo(yaml_path)]
    pool = concurrent.futures.ThreadPoolExecutor(workers)

    def load(path: str) -> np.ndarray:
        with open(path, "rb") as f:
            return _letterbox(imageio.decode_image(f.read(), path=path))

    def epoch(_: int) -> int:
        return sum(1 for _ in pool.map(load, paths))

    return epoch, pool.shutdown


def _epochs_seqloaders(yaml_path: str, workers: int, batch_size: int, augment: str | None):
    samples = sl.read_yolo(yaml_path)
    loader = sl.Loader(samples, batch_size=batch_size, image_size=(IMGSZ, IMGSZ), resize="letterbox", pad_value=114,
                       encoder=sl.PaddedBoxEncoder(max_boxes=200), augment=augment, preprocess="uint8",
                       threads=workers, seed=0)

    def epoch(k: int) -> int:
        return sum(len(x) for x, _ in loader.iter_epoch(k))

    return epoch, loader.close


def _epochs_ultralytics(yaml_path: str, workers: int, batch_size: int, mosaic: float):
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_dataloader, build_yolo_dataset

    root = os.path.dirname(yaml_path)
    cfg = get_cfg(overrides={"imgsz": IMGSZ, "mosaic": mosaic, "workers": workers, "batch": batch_size,
                             "cache": False, "data": yaml_path})
    data = {"path": root, "train": os.path.join(root, "images", "train"), "names": {0: "face"}, "nc": 1,
            "channels": 3}
    dataset = build_yolo_dataset(cfg, data["train"], batch_size, data, mode="train", rect=False, stride=32)
    loader = build_dataloader(dataset, batch_size, workers, shuffle=True, rank=-1, device="cpu")

    def epoch(_: int) -> int:
        return sum(int(batch["img"].shape[0]) for batch in loader)

    return epoch, lambda: None  # its worker processes end with this process


def run_one(variant: str, yaml_path: str, workers: int, batch_size: int, warmup: int, epochs: int) -> dict:
    """Time ``variant`` in this process: ``warmup`` epochs, then ``epochs`` timed ones."""
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[:workers]
        os.sched_setaffinity(0, cores)
    if variant == "decode":
        epoch, close = _epochs_decode(yaml_path, workers, batch_size)
    elif variant.startswith("sl-"):
        epoch, close = _epochs_seqloaders(yaml_path, workers, batch_size, "yolo" if variant == "sl-yolo" else None)
    else:
        epoch, close = _epochs_ultralytics(yaml_path, workers, batch_size, 1.0 if variant == "ul-mosaic" else 0.0)
    for k in range(warmup):
        epoch(k)
    start, images = time.perf_counter(), 0
    for k in range(warmup, warmup + epochs):
        images += epoch(k)
    seconds = time.perf_counter() - start
    close()
    return {"variant": variant, "images": images, "seconds": seconds, "images_per_s": images / seconds}


def measure(variant: str, args, yaml_path: str) -> dict:
    """Run one variant in a fresh Python process; its result, or an error text."""
    command = [sys.executable, os.path.abspath(__file__), "--one", variant, "--yaml", yaml_path,
               "--workers", str(args.workers), "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
               "--epochs", str(args.epochs)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"variant": variant, "error": f"failed (exit {proc.returncode}): {tail}"}
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------ the decoders
def decoder_table(paths: list[str], repeats: int) -> list[str]:
    """Per-core JPEG decode speed, OpenCV against simplejpeg, at every DCT scale."""
    datas = []
    for path in paths:
        with open(path, "rb") as f:
            datas.append(f.read())
    infos = [sl.probe_image(d) for d in datas]
    reduced = {1: 0, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
    simplejpeg = imageio._simplejpeg
    turbo_name = "simplejpeg " + (simplejpeg.__version__ if simplejpeg else "-")
    title = (f"JPEG decode, one caller thread, {len(datas)} files (best of {repeats} passes); OpenCV with its default "
             f"thread pool ({cv2.getNumThreads()} threads, as the loader's threads call it) and with setNumThreads(1) "
             "(as in the loader's worker processes):")
    header = (f"  {'scale':<6} {'OpenCV ' + cv2.__version__:>16} {'OpenCV 1 thread':>17} {turbo_name:>18} "
              f"{'ratio':>6} {'ratio 1 thr':>11}  max |diff|")
    lines = [title, header]
    threads = cv2.getNumThreads()
    for k in (1, 2, 4, 8):
        flags = cv2.IMREAD_COLOR_RGB | (reduced[k] & ~cv2.IMREAD_COLOR)

        def ocv(d: bytes, flags: int = flags) -> np.ndarray:
            return cv2.imdecode(np.frombuffer(d, np.uint8), flags)

        def turbo(d: bytes, info, k: int = k) -> np.ndarray:
            if k == 1:
                return simplejpeg.decode_jpeg(d, "rgb")
            return simplejpeg.decode_jpeg(d, "rgb", min_height=-(-info.height // k), min_width=-(-info.width // k))

        best = {"opencv": 0.0, "opencv-1": 0.0, "simplejpeg": 0.0}
        for _ in range(repeats):
            for key, n in (("opencv", threads), ("opencv-1", 1)):
                cv2.setNumThreads(n)
                t = time.perf_counter()
                for d in datas:
                    ocv(d)
                best[key] = max(best[key], len(datas) / (time.perf_counter() - t))
            cv2.setNumThreads(threads)
            if simplejpeg is not None:
                t = time.perf_counter()
                for d, info in zip(datas, infos):
                    turbo(d, info)
                best["simplejpeg"] = max(best["simplejpeg"], len(datas) / (time.perf_counter() - t))
        if simplejpeg is None:
            lines.append(f"  1/{k:<4} {best['opencv']:>14.0f}/s {best['opencv-1']:>15.0f}/s {'not installed':>18}")
            continue
        diff = max(int(np.abs(ocv(d).astype(np.int16) - turbo(d, i)).max()) for d, i in zip(datas[:32], infos))
        lines.append(f"  1/{k:<4} {best['opencv']:>14.0f}/s {best['opencv-1']:>15.0f}/s {best['simplejpeg']:>16.0f}/s "
                     f"{best['simplejpeg'] / best['opencv']:>5.2f}x {best['simplejpeg'] / best['opencv-1']:>10.2f}x  "
                     f"{diff}")
    return lines


# ------------------------------------------------------------------------------ the yolo path's steps
def _best_ms(fn, count: int, repeats: int) -> float:
    """Best of ``repeats`` passes of ``fn()``, in ms per one of ``count`` items it handles."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t) * 1e3 / count)
    return best


def steps_table(yaml_path: str, repeats: int, num: int = 64) -> tuple[list[str], dict[str, float]]:
    """What one 640 px ``augment="yolo"`` output costs on one thread, step by step (OpenCV on one thread).

    ``load`` is what the decode row measures (read, decode, letterbox); ``augmenter`` is the
    ``YoloAugmenter`` call per output on batches of 16 loaded images; ``kernels`` is its OpenCV work
    as it is done today, without the Python around it: drawing 640x640 output pixels by
    ``cv2.resize`` at the mosaic's zooms (0.5-1.5) and the HSV round trip (two cvtColor and
    ``scale_hsv``). The shares bound the yolo path against the decode ceiling, assuming the steps
    scale over the workers as the decoding does.
    """
    from seqloaders.augment.mosaic import scale_hsv
    from seqloaders.resize import resize_image

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        samples = sl.read_yolo(yaml_path)[:num]
        decoded = []
        for s in samples:
            with open(s.image, "rb") as f:
                decoded.append(imageio.decode_image(f.read(), path=s.image))
        loader = sl.Loader(samples, batch_size=16, image_size=(IMGSZ, IMGSZ), resize="letterbox", pad_value=114,
                           encoder=sl.PaddedBoxEncoder(max_boxes=200), preprocess="uint8", threads=1, seed=0)
        batches = [loader.load_batch(0, i) for i in range(len(loader))]
        loader.close()
        aug = sl.YoloAugmenter()

        def read_decode():
            for s in samples:
                with open(s.image, "rb") as f:
                    imageio.decode_image(f.read(), path=s.image)

        def letterbox():
            for image in decoded:
                resize_image(image, (IMGSZ, IMGSZ), "letterbox", 114)

        def augment():
            for b, (images, loaded) in enumerate(batches):
                for k in range(len(loaded)):
                    aug(k, images, loaded, np.random.default_rng([b, k]))

        zooms = (0.5, 0.75, 1.0, 1.25, 1.5)
        letterboxed = [images[k] for images, _ in batches for k in range(len(images))]

        def resizes():  # four quarter tiles of the output, each from a square of the next images
            half = IMGSZ // 2
            for i in range(len(letterboxed)):
                side = round(half / zooms[i % len(zooms)])
                for j in range(4):
                    cv2.resize(letterboxed[(i + j) % len(letterboxed)][:side, :side], (half, half))

        gain = np.array([1.01, 1.3, 0.8])

        def hsv():
            for image in letterboxed:
                cv2.cvtColor(scale_hsv(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), gain), cv2.COLOR_HSV2RGB)

        n = len(samples)
        ms = {"read + decode": _best_ms(read_decode, n, repeats), "letterbox": _best_ms(letterbox, n, repeats),
              "augmenter": _best_ms(augment, n, repeats), "tile resizes": _best_ms(resizes, n, repeats),
              "HSV round trip": _best_ms(hsv, n, repeats)}
    finally:
        cv2.setNumThreads(threads)
    ms["kernels"] = ms["tile resizes"] + ms["HSV round trip"]
    load = ms["read + decode"] + ms["letterbox"]
    lines = [f"augment=\"yolo\" at 640 step by step, one thread, {n} photos (best of {repeats} passes), ms per image:"]
    notes = {"tile resizes": "of the augmenter: OpenCV drawing 640x640 at zooms 0.5-1.5",
             "HSV round trip": "of the augmenter: two cvtColor and scale_hsv"}
    for name in ("read + decode", "letterbox", "augmenter", "tile resizes", "HSV round trip"):
        lines.append(f"  {name:<16} {ms[name]:6.2f}" + (f"   ({notes[name]})" if name in notes else ""))
    lines.append(f"  the yolo path can run at most {load / (load + ms['augmenter']):.2f} of the decode ceiling with "
                 f"this augmenter, {load / (load + ms['kernels']):.2f} with only its OpenCV kernels as they are")
    ms["share"], ms["kernel share"] = load / (load + ms["augmenter"]), load / (load + ms["kernels"])
    return lines, ms


# ------------------------------------------------------------------------------ the table
def table(runs: list[dict[str, dict]], args, steps: dict[str, float] | None = None) -> list[str]:
    def rates(variant: str) -> list[float]:
        return [r[variant]["images_per_s"] for r in runs if "images_per_s" in r.get(variant, {})]

    title = (f"640 px YOLO training input, {args.workers} workers, batch {args.batch_size}, {args.epochs} timed "
             f"epochs after {args.warmup} warm-up, {len(runs)} repeat(s): median [range] images/s")
    out = [title, ""]
    for variant, what in VARIANTS.items():
        values = rates(variant)
        if values:
            text = f"{statistics.median(values):7.0f} [{min(values):.0f}-{max(values):.0f}]"
        else:
            text = next((r[variant]["error"] for r in runs if variant in r), "not run")
        out.append(f"  {variant:<10} {text:<22} {what}")
    out.append("")
    for ours, theirs, name in PAIRS:
        ratios = [r[ours]["images_per_s"] / r[theirs]["images_per_s"] for r in runs
                  if "images_per_s" in r.get(ours, {}) and "images_per_s" in r.get(theirs, {})]
        if ratios:
            verdict = "meets" if min(ratios) >= GOAL else "median meets" if statistics.median(ratios) >= GOAL \
                else "misses"
            out.append(f"  {ours} / {theirs} ({name}): {statistics.median(ratios):.2f}x "
                       f"[{min(ratios):.2f}-{max(ratios):.2f}], {verdict} the {GOAL:g}x goal")
        else:
            out.append(f"  {ours} / {theirs} ({name}): n/a ({runs[0].get(theirs, {}).get('error', 'not run')})")
    ceiling, theirs = rates("decode"), rates("ul-mosaic")
    if steps and ceiling and theirs:
        top = statistics.median(ceiling)
        out.append(f"  bound on sl-yolo: decode ceiling x the steps' shares = {top * steps['share']:.0f} images/s with "
                   f"this augmenter, {top * steps['kernel share']:.0f} with only its OpenCV kernels; "
                   f"{GOAL:g} x ul-mosaic = {GOAL * statistics.median(theirs):.0f}")
    return out


def _load_average() -> list[str]:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return ["?"] * 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-images", type=int, default=None, help="images of the generated set (default 320)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    parser.add_argument("--workers", type=int, default=2, help="threads (seqloaders) / worker processes (Ultralytics)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every loader variant (0: decoders only)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--timeout", type=float, default=600, help="seconds per variant run")
    parser.add_argument("--quick", action="store_true", help="32 images, 1 repeat, 1 timed epoch")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--yaml", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.yaml, args.workers, args.batch_size, args.warmup, args.epochs)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quick:
        args.num_images, args.repeats, args.epochs = args.num_images or 32, 1, 1
    num = args.num_images or 320
    bench = make_bench_set(os.path.join(args.data_dir, f"bench-{num}-seed{args.seed}"), num, seed=args.seed)
    yaml_path = write_yolo_copy(bench, os.path.join(args.data_dir, f"yolo-{num}-seed{args.seed}"))
    have_ultralytics = importlib.util.find_spec("ultralytics") is not None
    load_start = _load_average()

    print("\n".join(decoder_table([s.image for s in sl.read_yolo(yaml_path)], max(args.repeats, 3))), flush=True)
    step_lines, steps = steps_table(yaml_path, max(args.repeats, 3))
    print("\n" + "\n".join(step_lines), flush=True)
    if args.repeats == 0:
        return 0
    runs: list[dict[str, dict]] = []
    for repeat in range(args.repeats):
        run = {}
        for variant in args.variants:
            if variant.startswith("ul-") and not have_ultralytics:
                run[variant] = {"variant": variant, "error": "not installed (see bench_yolo.py's docstring)"}
                continue
            run[variant] = measure(variant, args, yaml_path)
            log.info("repeat %d/%d %s: %s", repeat + 1, args.repeats, variant,
                     f"{run[variant]['images_per_s']:.0f} images/s" if "images_per_s" in run[variant]
                     else run[variant]["error"])
        runs.append(run)
    load_end = _load_average()
    versions = {"seqloaders": sl.__version__, "opencv": cv2.__version__, "jpeg decoder": imageio.JPEG_DECODER}
    if have_ultralytics:
        import torch
        import ultralytics
        versions.update(ultralytics=ultralytics.__version__, torch=torch.__version__)
    print()
    print("\n".join(table(runs, args, steps)))
    print(f"\n  {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} usable cores; "
          f"load average at start {' '.join(load_start)}, at end {' '.join(load_end)}; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

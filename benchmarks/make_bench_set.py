"""Generate the throughput benchmark set: natural photographs as 1024-px-wide JPEGs in WIDER FACE layout.

The photographs are the sample images that scikit-learn ships (``china.jpg``, ``flower.jpg``) and
the natural images bundled inside scikit-image (no download). Every benchmark image is a mosaic of
1 to 4 random crops of them (flipped, colour and brightness jittered, with a little sensor noise
so the files compress like real photographs), 1024 px wide with the height of a typical WIDER FACE
image, re-encoded as JPEG quality 90 (about 190 KB). Each image gets random face-sized boxes
(small faces more frequent, a few images without any), written to a ``*_bbx_gt.txt`` file that
``seqloaders.read_wider_face`` reads. Everything is a pure function of the seed.

Usage::

    python benchmarks/make_bench_set.py benchmarks/data/bench --num-images 320 --seed 0

or, from Python::

    from make_bench_set import make_bench_set
    bench = make_bench_set("benchmarks/data/bench", num_images=320)
    samples = seqloaders.read_wider_face(bench.annotations, bench.images)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

import cv2
import numpy as np

__all__ = ["BenchSet", "load_photographs", "main", "make_bench_set"]

log = logging.getLogger("make_bench_set")

#: Bump when the generator changes, so a cached set made by an older version is rebuilt.
GENERATOR_VERSION = 1

#: (height, probability) of the generated images; all are ``width`` wide (WIDER FACE: 1024).
HEIGHTS = ((683, 0.40), (768, 0.30), (1024, 0.15), (1366, 0.15))
#: (rows, cols, probability) of the mosaic layouts.
LAYOUTS = ((1, 1, 0.35), (1, 2, 0.20), (2, 1, 0.15), (2, 2, 0.30))
ANNOTATION_NAME = "wider_face_bench_bbx_gt.txt"
MANIFEST_NAME = "bench_set.json"

_SKLEARN_IMAGES = ("china.jpg", "flower.jpg")
# scikit-image images that ship inside the wheel (no pooch download) and are natural photographs
_SKIMAGE_COLOR = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")
_SKIMAGE_GRAY = ("camera", "grass", "gravel", "brick")


@dataclasses.dataclass(frozen=True)
class BenchSet:
    """Paths and a description of a generated benchmark set.

    Attributes:
        root: the set's folder.
        annotations: the WIDER FACE ground-truth file.
        images: the images root the annotation paths are relative to.
        num_images: number of images.
        num_boxes: number of boxes over all images.
        mean_bytes: mean JPEG file size.
        sources: names of the photographs the images were cut from.
    """

    root: str
    annotations: str
    images: str
    num_images: int
    num_boxes: int
    mean_bytes: float
    sources: tuple[str, ...]

    def __str__(self) -> str:
        return (f"{self.num_images} JPEGs in {self.images} (mean {self.mean_bytes / 1000:.0f} KB, "
                f"{self.num_boxes} boxes, from {len(self.sources)} photographs)")


def load_photographs() -> list[tuple[str, np.ndarray]]:
    """The bundled natural photographs as (name, (H, W, 3) uint8 RGB) pairs.

    Raises:
        ImportError: neither scikit-learn nor scikit-image is installed.
    """
    photos: list[tuple[str, np.ndarray]] = []
    try:
        from sklearn.datasets import load_sample_image
    except ImportError:
        log.warning("scikit-learn is not installed; its sample images are left out")
    else:
        for name in _SKLEARN_IMAGES:
            photos.append((f"sklearn:{name}", np.ascontiguousarray(load_sample_image(name))))
    try:
        import skimage.data
    except ImportError:
        log.warning("scikit-image is not installed; its sample images are left out")
    else:
        for name in _SKIMAGE_COLOR + _SKIMAGE_GRAY:
            try:
                image = getattr(skimage.data, name)()
            except Exception as exc:
                log.warning("skimage.data.%s is not available (%s); left out", name, exc)
                continue
            photos.append((f"skimage:{name}", _as_rgb(image)))
        try:
            left, _, _ = skimage.data.stereo_motorcycle()
            photos.append(("skimage:motorcycle_left", _as_rgb(left)))
        except Exception as exc:
            log.warning("skimage.data.stereo_motorcycle is not available (%s); left out", exc)
    if not photos:
        raise ImportError("no photographs to build the benchmark set from; install them with "
                          "`pip install scikit-learn scikit-image` (the `bench` extra)")
    return photos


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def _choice(rng: np.random.Generator, table):
    p = np.array([row[-1] for row in table], np.float64)
    return table[int(rng.choice(len(table), p=p / p.sum()))]


def _tile(rng: np.random.Generator, photos, height: int, width: int) -> np.ndarray:
    """A random crop of a random photograph, resized to (height, width), flipped and jittered."""
    _, photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    aspect = width / height
    # the largest crop of the tile's aspect, then 35-100% of its side
    ch_max = min(ph, pw / aspect)
    ch = ch_max * rng.uniform(0.35, 1.0)
    cw = ch * aspect
    ch, cw = max(8, int(ch)), max(8, int(min(cw, pw)))
    y0 = int(rng.integers(0, ph - ch + 1))
    x0 = int(rng.integers(0, pw - cw + 1))
    crop = photo[y0:y0 + ch, x0:x0 + cw]
    interp = cv2.INTER_AREA if ch > height else cv2.INTER_CUBIC
    tile = cv2.resize(crop, (width, height), interpolation=interp)
    if rng.random() < 0.5:
        tile = tile[:, ::-1]
    # colour / brightness / contrast / gamma jitter as one lookup table per channel
    gain = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.8, 1.2)
    offset = rng.uniform(-20, 20)
    gamma = rng.uniform(0.8, 1.25)
    levels = np.arange(256, dtype=np.float64) / 255.0
    luts = [np.clip(255.0 * (levels ** gamma) * g + offset, 0, 255).astype(np.uint8) for g in gain]
    return np.stack([cv2.LUT(np.ascontiguousarray(tile[:, :, k]), luts[k]) for k in range(3)], axis=2)


def _image(rng: np.random.Generator, photos, height: int, width: int, noise: float) -> np.ndarray:
    rows, cols, _ = _choice(rng, LAYOUTS)
    ys = np.linspace(0, height, rows + 1).round().astype(int)
    xs = np.linspace(0, width, cols + 1).round().astype(int)
    image = np.empty((height, width, 3), np.uint8)
    for r in range(rows):
        for c in range(cols):
            image[ys[r]:ys[r + 1], xs[c]:xs[c + 1]] = _tile(rng, photos, ys[r + 1] - ys[r], xs[c + 1] - xs[c])
    if noise > 0:  # sensor noise: real photographs carry fine detail that upscaled crops lack
        grain = rng.normal(0.0, noise, (height, width, 1)).astype(np.float32)
        image = np.clip(image.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    return image


def _boxes(rng: np.random.Generator, height: int, width: int, max_boxes: int) -> np.ndarray:
    """Random face-sized XYWH integer boxes: log-uniform widths, small faces most frequent."""
    if rng.random() < 0.05:
        return np.zeros((0, 4), np.int64)
    count = int(min(max_boxes, rng.geometric(1 / 8)))
    w = np.exp(rng.uniform(np.log(10), np.log(0.35 * width), count))
    h = w * rng.uniform(1.1, 1.4, count)
    w, h = np.minimum(w, width - 1), np.minimum(h, height - 1)
    x = rng.uniform(0, width - w)
    y = rng.uniform(0, height - h)
    return np.stack([x, y, w, h], axis=1).astype(np.int64).clip(min=[0, 0, 1, 1])


def make_bench_set(
    root: str | os.PathLike,
    num_images: int = 320,
    *,
    seed: int = 0,
    width: int = 1024,
    quality: int = 90,
    noise: float = 2.2,
    max_boxes: int = 40,
    overwrite: bool = False,
) -> BenchSet:
    """Write (or reuse) the benchmark set under ``root``.

    A set already in ``root`` made with the same parameters and generator version is reused
    (its manifest is checked and every image must exist); anything else is regenerated.

    Args:
        root: output folder; receives ``images/``, ``wider_face_bench_bbx_gt.txt`` and a manifest.
        num_images: number of images.
        seed: random seed; the set is a pure function of it and the parameters.
        width: width of every image in pixels; heights follow :data:`HEIGHTS`.
        quality: JPEG quality.
        noise: standard deviation of the added luminance noise (sets the file size: 2.2 gives
            about 190 KB at quality 90).
        max_boxes: most boxes per image.
        overwrite: regenerate even if a matching set exists.

    Returns:
        A :class:`BenchSet`.
    """
    root = os.path.abspath(os.fspath(root))
    params = dict(version=GENERATOR_VERSION, num_images=int(num_images), seed=int(seed), width=int(width),
                  quality=int(quality), noise=float(noise), max_boxes=int(max_boxes))
    images_dir = os.path.join(root, "images")
    annotations = os.path.join(root, ANNOTATION_NAME)
    manifest_path = os.path.join(root, MANIFEST_NAME)
    if not overwrite and os.path.exists(manifest_path):
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("params") == params and os.path.exists(annotations) and all(
                os.path.exists(os.path.join(images_dir, rel)) for rel in manifest["files"]):
            log.info("reusing the benchmark set in %s", root)
            return BenchSet(root, annotations, images_dir, manifest["num_images"], manifest["num_boxes"],
                            manifest["mean_bytes"], tuple(manifest["sources"]))
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    photos = load_photographs()
    log.info("writing %d benchmark images to %s", num_images, root)
    lines: list[str] = []
    files: list[str] = []
    total_bytes = num_boxes = 0
    for i in range(num_images):
        rng = np.random.default_rng([seed, i])  # image i does not depend on how many come before
        height = _choice(rng, HEIGHTS)[0] * width // 1024
        image = _image(rng, photos, height, width, noise)
        box_rng = np.random.default_rng([seed, i, 1])  # boxes do not depend on the image parameters
        boxes = _boxes(box_rng, height, width, max_boxes)
        event = i % 10
        rel = f"{event}--Bench/{event}_Bench_{i:05d}.jpg"
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover
            raise RuntimeError("OpenCV could not encode a JPEG")
        os.makedirs(os.path.join(images_dir, f"{event}--Bench"), exist_ok=True)
        with open(os.path.join(images_dir, rel), "wb") as f:
            f.write(data.tobytes())
        total_bytes += data.size
        files.append(rel)
        # attributes in the official order: blur expression illumination invalid occlusion pose
        n = len(boxes)
        attrs = np.stack([box_rng.integers(0, 3, n), box_rng.integers(0, 2, n), box_rng.integers(0, 2, n),
                          (box_rng.random(n) < 0.02).astype(int), box_rng.integers(0, 3, n),
                          box_rng.integers(0, 2, n)], axis=1)
        lines += [rel, str(len(boxes))]
        if len(boxes) == 0:
            lines.append("0 0 0 0 0 0 0 0 0 0 ")
        lines += [" ".join(map(str, box)) + " " + " ".join(map(str, a)) + " " for box, a in zip(boxes, attrs)]
        num_boxes += len(boxes)
    os.makedirs(root, exist_ok=True)
    with open(annotations, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    bench = BenchSet(root, annotations, images_dir, num_images, num_boxes, total_bytes / num_images,
                     tuple(name for name, _ in photos))
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump({"params": params, "num_images": num_images, "num_boxes": num_boxes,
                   "mean_bytes": bench.mean_bytes, "sources": list(bench.sources), "files": files}, f, indent=1)
    return bench


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python benchmarks/make_bench_set.py OUT_DIR [--num-images N] [--seed S]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="output folder")
    parser.add_argument("--num-images", type=int, default=320, help="number of images (default: 320)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--width", type=int, default=1024, help="image width in pixels (default: 1024)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (default: 90)")
    parser.add_argument("--noise", type=float, default=2.2,
                        help="luminance noise sigma; sets the file size (default: 2.2, about 190 KB)")
    parser.add_argument("--overwrite", action="store_true", help="regenerate even if a matching set exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    bench = make_bench_set(args.root, args.num_images, seed=args.seed, width=args.width, quality=args.quality,
                           noise=args.noise, overwrite=args.overwrite)
    print(bench)
    print(f"annotations: {bench.annotations}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

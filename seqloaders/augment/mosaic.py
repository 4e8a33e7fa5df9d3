"""Multi-image augmentation: mosaic (2x2, 3x3), MixUp and copy-paste, from the images of one batch.

A :class:`MultiImageAugmenter` makes each output image of a batch out of several of the batch's
loaded images. The :class:`~seqloaders.Loader` loads every image of the batch once (read,
decode, resize, and the augmenter's ``before`` per image), then asks the augmenter for output k
with a generator seeded by (seed, epoch, shard, position of k): the batch stays a pure function
of (seed, epoch, index), built the same on the loader's threads and in its worker processes, and
each image is still decoded once per batch.

:class:`YoloAugmenter` is the ``augment="yolo"`` preset: the YOLO training input (mosaic, then
a scale/translate affine, MixUp, copy-paste, HSV gains and a left-right flip), with the usual
ranges (Ultralytics' defaults). Its targets move only through the geometry kernel
(:class:`~seqloaders.transform.Transform`):

- each tile is placed on a canvas twice the output (``grid=3``: a 2x2-output window of a 3x3
  grid) and the canvas is mapped to the output by one affine. Without a turn (the default) the
  canvas is never drawn: each tile's shown part is resized straight into its place in the
  output, with a placement of its own that its targets follow. Boxes are clipped to what remains
  visible of their tile and kept when at least ``min_visibility`` of their area stays (and more
  than ``min_size`` pixels each way); the others are counted in the load report
  (``boxes_without_area``);
- keypoints move with their tile; those in a part of the tile that was cut away become
  unlabelled (v = 0); outside the output they keep their visibility, as everywhere;
- rendered masks and the valid region move with their tile and are cut to the part of it that
  is shown; labels and per-box attributes stay with their boxes.

Tiles are the loaded images at the output size; with ``resize="letterbox"`` their padding is
part of the tile, so use ``pad_value=114`` (the canvas fill) to make it look the same.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from ..geometry import box_areas
from ..records import LoadedSample, Sample, as_loaded
from ..transform import Transform, check_flip_index, visible_boxes_in

__all__ = ["MultiImageAugmenter", "YoloAugmenter", "concat_samples", "scale_hsv"]

COPY_PASTE_MAX_IOA = 0.3  # a flipped instance is pasted only where it covers less of itself than this with any box
_TRUNCATE = -0.5 + 1.0 / 1024  # added before rounding, rounding gives the floor (but within 1/1024 below a whole)


class MultiImageAugmenter(abc.ABC):
    """Makes output image k of a batch from the batch's loaded images and targets.

    ``augmenter(k, images, samples, rng) -> (image, sample, stats)``: ``images`` is the batch's
    (B, H, W, 3) uint8 RGB images at the output size and ``samples`` their B
    :class:`~seqloaders.LoadedSample` records (boxes XYXY pixels of them), both shared by every
    output and never to be written; ``rng`` is output k's generator, the only source of
    randomness. Return output k's (H, W, 3) uint8 image, its record (``sources``: the images it
    shows) and counters (``{"boxes_without_area": n}`` for boxes cut away). The Loader calls it
    for each k on its threads, so it must be thread-safe (no state changes); with ``processes=`` it must be
    picklable. ``before`` (None, or any augment spec) is the single-image augmenter each image gets
    while it is loaded; :meth:`at_epoch` the augmenter an epoch uses (a pure function of the epoch,
    so resuming a run resumes the schedule). A minimal implementation::

        class SideBySide(sl.MultiImageAugmenter):
            '''The left half of image k beside the right half of the next image.'''

            def __call__(self, k, images, samples, rng):
                j = (k + 1) % len(images)
                h, w = images.shape[1:3]
                image = np.concatenate([images[k][:, : w // 2], images[j][:, w // 2 :]], axis=1)
                parts, cut = [], 0
                for s, region in ((samples[k], (0, 0, w // 2, h)), (samples[j], (w // 2, 0, w, h))):
                    boxes, keep = visible_boxes_in(s.boxes, region, min_visibility=0.3)
                    parts.append(s.replace(boxes=boxes, keypoints=None, masks=None).select(keep))
                    cut += int((~keep).sum())
                return image, concat_samples(parts, samples[k]), {"boxes_without_area": cut}
    """

    before: Any = None

    def at_epoch(self, epoch: int) -> MultiImageAugmenter | None:
        """The augmenter of ``epoch`` (None: no multi-image step that epoch); this one by default."""
        return self

    @abc.abstractmethod
    def __call__(self, k: int, images: np.ndarray, samples: Sequence[LoadedSample],
                 rng: np.random.Generator) -> tuple[np.ndarray, LoadedSample, dict[str, int]]:
        ...


def concat_samples(parts: Sequence[LoadedSample | Sample], like: LoadedSample | Sample,
                   **changes: Any) -> LoadedSample | Sample:
    """One sample holding the objects of ``parts`` in order (boxes, labels, attributes, keypoints, masks).

    The other fields come from ``like`` and ``changes``. Every part with objects must carry the
    same attributes, and keypoints and masks alike (parts without objects may lack them).

    Raises:
        ValueError: the parts' targets cannot be put together (an attribute, keypoints or
            rendered masks missing from a part with objects, or of another shape).

    Example:
        >>> import seqloaders as sl
        >>> a = sl.Sample("a.jpg", boxes=[[0, 0, 2, 2]], labels=[1])
        >>> b = sl.Sample("b.jpg", boxes=[[1, 1, 3, 3]], labels=[2])
        >>> concat_samples([a, b], a).labels.tolist()
        [1, 2]
    """
    full = [p for p in parts if p.num_boxes]

    def mismatch(what: str) -> ValueError:
        names = ", ".join(sorted({p.image for p in full}))
        return ValueError(f"cannot put the objects of {names} into one image: {what}; a multi-image augmentation "
                          "needs samples with the same attributes, keypoints and masks")

    attributes = {}
    for key in sorted({key for p in parts for key in p.attributes}):
        if any(key not in p.attributes for p in full):
            raise mismatch(f"attribute {key!r} is missing from some of them")
        arrays = [p.attributes[key] for p in parts if key in p.attributes]
        if len({a.shape[1:] for a in arrays}) > 1:
            raise mismatch(f"attribute {key!r} has different shapes")
        attributes[key] = np.concatenate(arrays)
    keypoints = None
    shapes = {p.keypoints.shape[1:] for p in parts if p.keypoints is not None}
    if shapes:
        if len(shapes) > 1 or any(p.keypoints is None for p in full):
            raise mismatch("keypoints are missing from some of them, or differ in number")
        (tail,) = shapes
        keypoints = np.concatenate([p.keypoints if p.keypoints is not None else np.zeros((0, *tail), np.float32)
                                    for p in parts])
    masks = None
    rendered = [p.masks for p in parts if isinstance(p.masks, np.ndarray)]
    if rendered:
        tails = {m.shape[1:] for m in rendered}
        if len(tails) > 1 or any(not isinstance(p.masks, np.ndarray) for p in full):
            raise mismatch("rendered masks are missing from some of them, or differ in size")
        (tail,) = tails
        masks = np.concatenate([p.masks if isinstance(p.masks, np.ndarray) else np.zeros((0, *tail), bool)
                                for p in parts])
    elif any(p.masks is not None for p in full):
        raise mismatch("masks must be rendered ((N, H, W) arrays) to be moved")
    boxes = np.concatenate([p.boxes for p in parts]) if parts else np.zeros((0, 4), np.float32)
    labels = np.concatenate([p.labels for p in parts]) if parts else np.zeros((0,), np.int64)
    return like.replace(boxes=boxes, labels=labels, attributes=attributes, keypoints=keypoints, masks=masks,
                        **changes)


def _partners(k: int, n: int, count: int, rng: np.random.Generator) -> list[int]:
    """``count`` other images of a batch of ``n`` for image ``k``: distinct while the batch has enough."""
    others = np.array([i for i in range(n) if i != k] or [k])
    return [int(i) for i in np.resize(rng.permutation(others), count)]


@dataclasses.dataclass(frozen=True)
class _Tile:
    """One image of an output: which one, its map onto the output, and what of it is shown.

    ``local`` is the part of the image on the mosaic's canvas (XYXY in its own pixels: a keypoint
    outside it was cut away, one inside it that falls outside the output keeps its visibility),
    ``shown`` where the image's pixels land in the output, clipped to it (XYXY output pixels).
    """

    source: int
    move: Transform
    local: tuple[float, float, float, float]
    shown: tuple[float, float, float, float]


def _numbered(rects: Sequence[tuple[int, int, int, int]], size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: which of ``rects`` (XYXY, numbered from 1; 0: none) each pixel lies in, the last one on top."""
    index = np.zeros(size, np.uint8)
    for number, (x0, y0, x1, y1) in enumerate(rects, 1):
        index[y0:y1, x0:x1] = number
    return index


def scale_hsv(hsv: np.ndarray, gain: Sequence[float]) -> np.ndarray:
    """An OpenCV uint8 HSV image (hue 0-179) with each channel multiplied by its gain, truncated.

    The result is Ultralytics' per-channel LUT (hue modulo 180, saturation and value clipped to
    255) within one level. In HSV the three gains are one diagonal colour matrix, which
    ``cv2.transform`` applies in a fifth of the time of a 3-channel LUT; it saturates where the
    LUT wraps the hue, but OpenCV's HSV to RGB reads a hue of 180-255 as 0-75, so the matrix is
    used while the largest hue (179) stays below 256, and the LUT beyond (hue gains over 1.42).

    Example:
        >>> import numpy as np
        >>> scale_hsv(np.uint8([[[170, 100, 200]]]), (1.1, 0.5, 2.0)).tolist()  # hue 187 reads as 7
        [[[187, 50, 255]]]
    """
    gain = np.asarray(gain, np.float64)
    if 0.0 <= gain[0] < 255.0 / 179.0:
        matrix = np.zeros((3, 4), np.float32)
        matrix[(0, 1, 2), (0, 1, 2)] = gain
        matrix[:, 3] = _TRUNCATE  # transform rounds; the LUT (astype) truncates
        return cv2.transform(hsv, matrix)
    values = np.arange(256)
    lut = np.stack([np.mod(values * gain[0], 180), np.clip(values * gain[1], 0, 255),
                    np.clip(values * gain[2], 0, 255)], axis=1).astype(np.uint8).reshape(256, 1, 3)
    return cv2.LUT(hsv, lut)


def _probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return float(value)


@dataclasses.dataclass(frozen=True, repr=False)
class YoloAugmenter(MultiImageAugmenter):
    """YOLO training augmentation: mosaic, affine, MixUp, copy-paste, HSV and flip (``augment="yolo"``).

    For each output image: with probability ``mosaic`` a mosaic of it and 3 other images of the
    batch (``grid=3``: 8 others) on a canvas twice the output with a random centre, else the image
    alone; then one affine (zoom in ``scale``, shift up to ``translate`` of the output, turn in
    ``rotate``) to the output size; with probability ``mixup`` a blend with a second such image,
    ratio from Beta(``mixup_beta``, ``mixup_beta``); copy-paste of a ``copy_paste`` fraction of
    the instances with rendered masks, mirrored, where they overlap no box (IoA < 0.3); HSV gains
    (hue, saturation, value: ``1 ± gain``); a left-right flip with probability ``flip``; then
    ``after``. Partners are drawn among the batch's images; defaults are Ultralytics'.

    Args:
        mosaic, mixup: probabilities of a mosaic and of a MixUp.
        grid: 2 (2x2 mosaic) or 3 (3x3).
        copy_paste: fraction of the eligible instances pasted (needs masks rendered: a mask encoder).
        scale, rotate: ranges of the zoom and of the angle (degrees).
        translate: largest shift, as a fraction of the output size.
        hue, saturation, value: largest HSV gains (``1 + u * gain``, u in [-1, 1]).
        flip: probability of a left-right flip; ``flip_index`` swaps keypoints as in
            :class:`~seqloaders.NativeAugmenter`.
        min_visibility: a box keeping less of its area (after the cut and the affine) is dropped.
        min_size: so is one whose visible part is at most this many pixels wide or high.
        fill: the canvas and border grey.
        mixup_beta: the Beta distribution's two parameters.
        epochs, close_mosaic: mosaic, MixUp and copy-paste are off for the last ``close_mosaic``
            of ``epochs`` epochs (Ultralytics' ``close_mosaic``): from epoch ``epochs -
            close_mosaic`` on (0-based), only the affine, HSV and flip remain.
        before: augmentation of each image as it is loaded (any ``augment=`` value).
        after: augmentation of each output (any ``augment=`` value, e.g. an albumentations Compose).

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> aug = sl.YoloAugmenter(epochs=100, close_mosaic=10)
        >>> aug.at_epoch(89).mosaic, aug.at_epoch(90).mosaic
        (1.0, 0.0)
        >>> images = np.full((4, 64, 64, 3), 114, np.uint8)
        >>> samples = [sl.Sample(f"{i}.jpg", boxes=[[8, 8, 40, 40]], labels=[i]) for i in range(4)]
        >>> image, sample, stats = aug(0, images, samples, np.random.default_rng(0))
        >>> image.shape, len(sample.sources)
        ((64, 64, 3), 4)
    """

    mosaic: float = 1.0
    grid: int = 2
    mixup: float = 0.0
    copy_paste: float = 0.0
    scale: tuple[float, float] = (0.5, 1.5)
    translate: float = 0.1
    rotate: tuple[float, float] = (0.0, 0.0)
    hue: float = 0.015
    saturation: float = 0.7
    value: float = 0.4
    flip: float = 0.5
    flip_index: tuple[int, ...] | None = None
    min_visibility: float = 0.1
    min_size: float = 2.0
    fill: int = 114
    mixup_beta: float = 32.0
    epochs: int | None = None
    close_mosaic: int = 0
    before: Any = None
    after: Any = None

    def __post_init__(self):
        # imported here: the presets import this module
        from .presets import as_augmenter

        for name in ("mosaic", "mixup", "copy_paste", "flip", "min_visibility"):
            _probability(name, getattr(self, name))
        if self.grid not in (2, 3):
            raise ValueError(f"grid must be 2 (a 2x2 mosaic) or 3 (3x3), got {self.grid}")
        for name in ("scale", "rotate"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be a (low, high) range, got {getattr(self, name)}")
            object.__setattr__(self, name, (float(low), float(high)))
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        for name in ("translate", "hue", "saturation", "value", "min_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.mixup_beta <= 0:
            raise ValueError(f"mixup_beta must be positive, got {self.mixup_beta}")
        if self.close_mosaic < 0 or (self.epochs is not None and self.epochs < 1):
            raise ValueError(f"epochs must be >= 1 and close_mosaic >= 0, got epochs={self.epochs}, "
                             f"close_mosaic={self.close_mosaic}")
        if self.close_mosaic and self.epochs is None:
            raise ValueError(f"close_mosaic={self.close_mosaic} needs epochs= (the number of training epochs), to "
                             "know which epochs are the last ones")
        if self.flip_index is not None:
            index = check_flip_index(self.flip_index, len(self.flip_index))
            object.__setattr__(self, "flip_index", tuple(index.tolist()))
        for name in ("before", "after"):
            value = as_augmenter(getattr(self, name))
            if isinstance(value, MultiImageAugmenter):
                raise TypeError(f"{name} must be a single-image augmentation, got {value!r}")
            object.__setattr__(self, name, value)

    @property
    def mosaic_off_from(self) -> int | None:
        """The first epoch (0-based) without mosaic, MixUp and copy-paste, or None."""
        return None if self.epochs is None or not self.close_mosaic else max(0, self.epochs - self.close_mosaic)

    def at_epoch(self, epoch: int) -> YoloAugmenter:
        """This augmenter, or after ``mosaic_off_from`` the same without mosaic, MixUp and copy-paste."""
        off = self.mosaic_off_from
        if off is None or epoch < off:
            return self
        return dataclasses.replace(self, mosaic=0.0, mixup=0.0, copy_paste=0.0, epochs=None, close_mosaic=0)

    # -- one output -----------------------------------------------------------------------------

    def __call__(self, k: int, images: np.ndarray, samples: Sequence[LoadedSample | Sample],
                 rng: np.random.Generator) -> tuple[np.ndarray, LoadedSample, dict[str, int]]:
        images = np.asarray(images)
        if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(samples):
            raise ValueError(f"images must be (B, H, W, 3) uint8 with one sample each, got {images.shape} "
                             f"{images.dtype} and {len(samples)} samples")
        if not all(isinstance(s, LoadedSample) for s in samples):  # plain Samples in the images' pixels
            samples = [as_loaded(s, images.shape[1:3]) for s in samples]
        image, sample, cut = self._compose(k, images, samples, rng)
        if self.mixup and rng.random() < self.mixup:
            (j,) = _partners(k, len(images), 1, rng)
            other, other_sample, other_cut = self._compose(j, images, samples, rng)
            ratio = float(rng.beta(self.mixup_beta, self.mixup_beta))
            image = cv2.addWeighted(image, ratio, other, 1.0 - ratio, 0.0)
            a, b = sample.valid_region, other_sample.valid_region  # None: every pixel shows the image
            sample = concat_samples([sample, other_sample], sample, sources=sample.sources + other_sample.sources,
                                    valid_region=None if a is None or b is None else a | b)
            cut += other_cut
        if self.copy_paste:
            image, sample = self._copy_paste(image, sample, rng)
        image = self._hsv(image, rng)
        if rng.random() < self.flip:
            mirror = Transform.hflip(image.shape[:2])
            image, sample = mirror.image(image), mirror.apply(sample, self.flip_index)
        if self.after is not None:
            before = sample.num_boxes
            image, sample = self.after(image, sample, rng)
            cut += max(0, before - sample.num_boxes)
        return image, sample, ({"boxes_without_area": cut} if cut else {})

    def _layout(self, k: int, n: int, size: tuple[int, int], rng: np.random.Generator) -> list[tuple[int, int, int]]:
        """(source, x, y) of the tiles of a mosaic on a (2H, 2W) canvas; image k first (2x2) or in the middle (3x3)."""
        h, w = size
        if self.grid == 2:
            yc, xc = int(rng.uniform(h / 2, 3 * h / 2)), int(rng.uniform(w / 2, 3 * w / 2))
            sources = [k, *_partners(k, n, 3, rng)]
            return [(s, x, y) for s, (x, y) in zip(sources, [(xc - w, yc - h), (xc, yc - h), (xc - w, yc), (xc, yc)],
                                                   strict=True)]
        oy, ox = int(rng.uniform(0, h)), int(rng.uniform(0, w))  # the (2H, 2W) window of the 3x3 grid
        others = iter(_partners(k, n, 8, rng))
        return [(k if (r, c) == (1, 1) else next(others), c * w - ox, r * h - oy) for r in range(3) for c in range(3)]

    def _compose(self, k: int, images: np.ndarray, samples: Sequence[LoadedSample],
                 rng: np.random.Generator) -> tuple[np.ndarray, LoadedSample, int]:
        """Output k before MixUp: a mosaic (or image k alone) through the affine; (image, sample, boxes cut)."""
        n, h, w = images.shape[:3]
        if self.mosaic and rng.random() < self.mosaic:
            canvas_size, layout = (2 * h, 2 * w), self._layout(k, n, (h, w), rng)
        else:
            canvas_size, layout = (h, w), [(k, 0, 0)]
        t = self.translate
        centre = (rng.uniform(0.5 - t, 0.5 + t) * w, rng.uniform(0.5 - t, 0.5 + t) * h)
        warp = Transform.about_centre(canvas_size, (h, w), rng.uniform(*self.scale), rng.uniform(*self.rotate),
                                      centre)
        if warp.matrix[0, 1] == 0.0 and warp.matrix[1, 0] == 0.0:  # no turn: resize each tile into its place
            image, tiles, shown_map = self._resize_tiles(images, layout, canvas_size, warp)
        else:
            image, tiles, shown_map = self._warp_canvas(images, layout, canvas_size, warp)
        parts, cut = self._move_tiles(tiles, samples, (h, w), shown_map)
        regions = [p.valid_region for p in parts]
        region = None if any(r is None for r in regions) else np.logical_or.reduce(regions)
        sources = tuple(source for tile in tiles for source in samples[tile.source].sources)
        return image, concat_samples(parts, samples[k], image_size=(h, w), sources=sources, valid_region=region), cut

    def _resize_tiles(self, images: np.ndarray, layout: list[tuple[int, int, int]], canvas_size: tuple[int, int],
                      warp: Transform) -> tuple[np.ndarray, list[_Tile], Callable[[], np.ndarray]]:
        """The output of an axis-aligned ``warp`` of the canvas, made without the canvas.

        Each tile's shown part is cut to whole output pixels and resized straight into its place:
        the output's pixels are read once, and each tile gets its own exact placement (its scale
        differs from the warp's by under a pixel over the tile), which its targets follow.
        """
        h, w = warp.size
        th, tw = images.shape[1:3]
        (sy, sx), (oy, ox) = (warp.matrix[1, 1], warp.matrix[0, 0]), (warp.matrix[1, 2], warp.matrix[0, 2])
        image = np.full((h, w, 3), self.fill, np.uint8)
        tiles = []
        for source, x, y in layout:
            # the tile's part on the canvas (its own pixels), then that part's output pixels
            lx0, ly0, lx1, ly1 = max(0, -x), max(0, -y), min(tw, canvas_size[1] - x), min(th, canvas_size[0] - y)
            if lx1 <= lx0 or ly1 <= ly0:
                continue
            dx0, dx1 = (min(max(round(sx * (v + x) + ox), 0), w) for v in (lx0, lx1))
            dy0, dy1 = (min(max(round(sy * (v + y) + oy), 0), h) for v in (ly0, ly1))
            # the whole tile pixels that land there
            cx0, cx1 = max(lx0, round((dx0 - ox) / sx - x)), min(lx1, round((dx1 - ox) / sx - x))
            cy0, cy1 = max(ly0, round((dy0 - oy) / sy - y)), min(ly1, round((dy1 - oy) / sy - y))
            if min(dx1 - dx0, dy1 - dy0, cx1 - cx0, cy1 - cy0) <= 0:  # on the canvas, not in the output
                move = Transform.placement((1.0, 1.0), (float(y), float(x)), canvas_size).then(warp)
                tiles.append(_Tile(source, move, (lx0, ly0, lx1, ly1), (0, 0, 0, 0)))  # its boxes are cut away
                continue
            image[dy0:dy1, dx0:dx1] = cv2.resize(images[source][cy0:cy1, cx0:cx1], (dx1 - dx0, dy1 - dy0),
                                                 interpolation=cv2.INTER_LINEAR)
            scale = ((dy1 - dy0) / (cy1 - cy0), (dx1 - dx0) / (cx1 - cx0))
            move = Transform.placement(scale, (dy0 - cy0 * scale[0], dx0 - cx0 * scale[1]), (h, w))
            tiles.append(_Tile(source, move, (lx0, ly0, lx1, ly1), (dx0, dy0, dx1, dy1)))

        return image, tiles, lambda: _numbered([tile.shown for tile in tiles], (h, w))  # whole pixels here

    def _warp_canvas(self, images: np.ndarray, layout: list[tuple[int, int, int]], canvas_size: tuple[int, int],
                     warp: Transform) -> tuple[np.ndarray, list[_Tile], Callable[[], np.ndarray]]:
        """The tiles pasted on a canvas of ``canvas_size`` and the canvas moved by ``warp`` (any affine)."""
        h, w = warp.size
        th, tw = images.shape[1:3]
        single = len(layout) == 1 and canvas_size == (th, tw)
        canvas = images[layout[0][0]] if single else np.full((*canvas_size, 3), self.fill, np.uint8)
        tiles, regions = [], []
        for source, x, y in layout:
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + tw, canvas_size[1]), min(y + th, canvas_size[0])
            if x1 <= x0 or y1 <= y0:
                continue
            if not single:
                canvas[y0:y1, x0:x1] = images[source][y0 - y:y1 - y, x0 - x:x1 - x]
            (rx0, ry0, rx1, ry1), = warp.boxes(np.array([[x0, y0, x1, y1]], np.float32)).tolist()
            shown = (max(rx0, 0.0), max(ry0, 0.0), min(rx1, float(w)), min(ry1, float(h)))
            move = Transform.placement((1.0, 1.0), (float(y), float(x)), canvas_size).then(warp)
            tiles.append(_Tile(source, move, (x0 - x, y0 - y, x1 - x, y1 - y), shown))
            regions.append((x0, y0, x1, y1))

        return warp.image(canvas, self.fill), tiles, lambda: warp.label_map(_numbered(regions, canvas_size))

    def _move_tiles(self, tiles: list[_Tile], samples: Sequence[LoadedSample], size: tuple[int, int],
                    shown_map: Callable[[], np.ndarray]) -> tuple[list[LoadedSample], int]:
        """Each tile's sample moved to the output and cut to what it shows there; and how many boxes were cut away.

        ``shown_map()`` gives which tile (1, 2, ...; 0: none) each output pixel shows, for masks
        and the valid region; it is made only when a tile has them.
        """
        maps = any(samples[t.source].masks is not None or samples[t.source].valid_region is not None for t in tiles)
        shown = shown_map() if maps else None
        parts, cut = [], 0
        for number, tile in enumerate(tiles, 1):
            sample, move = samples[tile.source], tile.move
            boxes, keep = visible_boxes_in(move.boxes(sample.boxes), tile.shown, self.min_visibility, self.min_size)
            changes: dict[str, Any] = {"boxes": boxes, "image_size": size}
            if sample.keypoints is not None:
                kp = sample.keypoints
                x0, y0, x1, y1 = tile.local
                th, tw = sample.image_size
                in_tile = (kp[..., 0] >= 0) & (kp[..., 0] <= tw) & (kp[..., 1] >= 0) & (kp[..., 1] <= th)
                shown_here = (kp[..., 0] >= x0) & (kp[..., 0] <= x1) & (kp[..., 1] >= y0) & (kp[..., 1] <= y1)
                gone = (kp[..., 2] > 0) & in_tile & ~shown_here  # in its image, but in the part cut away
                moved = move.keypoints(kp)
                moved[..., 2] = np.where(gone, 0.0, moved[..., 2])
                changes["keypoints"] = moved
            if shown is not None:
                mine = shown == number
                if sample.masks is not None:
                    changes["masks"] = move.masks(sample.masks) & mine
                region_map = sample.valid_region
                valid = move.label_map(region_map) if region_map is not None else move.coverage(sample.image_size)
                changes["valid_region"] = valid & mine
            moved_sample = sample.replace(**changes)
            parts.append(moved_sample if keep.all() else moved_sample.select(keep))
            cut += int((~keep).sum())
        return parts, cut

    def _copy_paste(self, image: np.ndarray, sample: LoadedSample,
                    rng: np.random.Generator) -> tuple[np.ndarray, LoadedSample]:
        """A ``copy_paste`` fraction of the mirrored instances pasted where they overlap no box much."""
        if sample.masks is None or not sample.num_boxes:
            return image, sample
        mirror = Transform.hflip(image.shape[:2])
        flipped = mirror.apply(sample, self.flip_index)
        a, b = flipped.boxes[:, None], sample.boxes[None]
        inter = (np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
                 * np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None))
        ioa = inter / np.maximum(box_areas(flipped.boxes), 1e-12)[:, None]
        eligible = np.flatnonzero((ioa < COPY_PASTE_MAX_IOA).all(axis=1))
        count = round(self.copy_paste * len(eligible))
        if not count:
            return image, sample
        chosen = np.sort(rng.choice(eligible, count, replace=False))
        pasted = flipped.select(chosen)
        where = pasted.masks.any(axis=0)
        image = image.copy()
        image[where] = mirror.image(image)[where]
        region = None if sample.valid_region is None else sample.valid_region | where
        kept = sample.replace(masks=sample.masks & ~where)
        return image, concat_samples([kept, pasted], sample, valid_region=region)

    def _hsv(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Hue, saturation and value multiplied by gains drawn in ``1 ± gain`` (:func:`scale_hsv`)."""
        if not (self.hue or self.saturation or self.value):
            return image
        gain = rng.uniform(-1.0, 1.0, 3) * (self.hue, self.saturation, self.value) + 1.0
        return cv2.cvtColor(scale_hsv(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), gain), cv2.COLOR_HSV2RGB)

    def __repr__(self) -> str:
        parts = [f"mosaic={self.mosaic:g}" + (" (3x3)" if self.grid == 3 else "")]
        if self.mixup:
            parts.append(f"mixup={self.mixup:g}")
        if self.copy_paste:
            parts.append(f"copy_paste={self.copy_paste:g}")
        parts.append(f"scale {self.scale[0]:g}-{self.scale[1]:g}, translate {self.translate:g}")
        if self.rotate != (0.0, 0.0):
            parts.append(f"rotate {self.rotate[0]:g}-{self.rotate[1]:g}°")
        parts.append(f"hsv ({self.hue:g}, {self.saturation:g}, {self.value:g}), flip={self.flip:g}")
        if self.mosaic_off_from is not None:
            parts.append(f"mosaic off from epoch {self.mosaic_off_from}")
        for name in ("before", "after"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)!r}")
        return f"YoloAugmenter({', '.join(parts)})"

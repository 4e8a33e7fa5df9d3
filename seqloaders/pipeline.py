"""One sample from storage bytes to the model's input frame: read → decode once → resize → augment.

This is the loading core that every Sequence shares. It is a pure function of its inputs and
the random generator it is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .geometry import clip_boxes, valid_box_mask
from .imageio import DEFAULT_MAX_PIXELS, choose_reduction, decode_image, probe_image
from .masks import decode_masks
from .records import LoadedSample, Sample
from .resize import resize_image, target_content_size
from .storage.base import Storage
from .transform import Transform

__all__ = ["LoadOptions", "load_sample"]

AUGMENT_AT = ("output", "source")


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """How images become model inputs.

    Attributes:
        image_size: (H, W) of the model input.
        resize: "stretch" or "letterbox".
        pad_value: letterbox fill.
        augment_at: "output" (augment the resized image: fast, the default) or "source"
            (augment the decoded image, then resize: for crop-heavy pipelines).
        reduced_decode: decode JPEGs at the smallest DCT scale that keeps enough pixels.
        max_pixels: refuse images whose header declares more pixels.
        masks: render ``sample.masks`` (polygons, RLE, mask files) to (N, H, W) bool at the output
            size, moved by the same resize and augmentation as the image (for mask encoders);
            when False the loaded sample carries no masks. With letterbox or augmentation,
            its ``valid_region`` then marks the pixels that show the image.
    """

    image_size: tuple[int, int]
    resize: str = "stretch"
    pad_value: int = 0
    augment_at: str = "output"
    reduced_decode: bool = True
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    masks: bool = False

    def __post_init__(self):
        if self.resize not in ("stretch", "letterbox"):
            raise ValueError(f"resize must be 'stretch' or 'letterbox', got {self.resize!r}")
        if self.augment_at not in AUGMENT_AT:
            raise ValueError(f"augment_at must be one of {AUGMENT_AT}, got {self.augment_at!r}")
        h, w = self.image_size
        if h <= 0 or w <= 0:
            raise ValueError(f"image_size must be positive (H, W), got {self.image_size}")


def load_sample(
    sample: Sample,
    storage: Storage,
    options: LoadOptions,
    augment: Callable | None = None,
    rng: np.random.Generator | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, LoadedSample, dict[str, int]]:
    """Load one sample into the model's input frame.

    Args:
        sample: the sample (boxes in XYXY pixels of the source image).
        storage: where ``sample.image`` is read from.
        options: the target size and resize policy.
        augment: an :class:`~seqloaders.Augmenter` or None.
        rng: the generator the augmenter draws from.
        out: optional (H, W, 3) uint8 array the image is written into.

    Returns:
        The (H, W, 3) uint8 RGB image, its :class:`~seqloaders.LoadedSample` (boxes and keypoints
        in its pixels, masks and the valid region when ``options.masks``; boxes clipped to it,
        zero-size boxes removed) and
        counters (``boxes_without_area``: boxes removed because they had no area inside the
        image, or because the augmentation left them out: moved (mostly) out of the image).
    """
    data = storage.read(sample.image)
    info = probe_image(data)
    reduce = 1
    if info is not None and info.format == "jpeg" and options.reduced_decode and options.augment_at == "output":
        needed = target_content_size(info.size, options.image_size, options.resize)
        reduce = choose_reduction(info.size, needed)
    image = decode_image(data, reduce=reduce, path=sample.image, max_pixels=options.max_pixels, info=info)
    source_size = info.size if info is not None else image.shape[:2]
    # DCT scaling maps source pixel x to x / reduce exactly; fall back to the ratio if sizes disagree
    dh, dw = image.shape[:2]
    expect = (-(-source_size[0] // reduce), -(-source_size[1] // reduce))
    if (dh, dw) == expect:
        to_decoded = (1.0 / reduce, 1.0 / reduce)
    else:
        to_decoded = (dh / source_size[0], dw / source_size[1])
    masks = _source_masks(sample, source_size) if options.masks else None
    at_source = options.augment_at == "source" and augment is not None
    size = tuple(options.image_size)
    if at_source:  # boxes and keypoints into decoded pixels, then they travel with the image
        to_image = Transform.placement(to_decoded, (0.0, 0.0), (dh, dw))
        current = _loaded(sample, to_image.boxes(sample.boxes), (dh, dw), to_image.keypoints(sample.keypoints),
                          None if masks is None else to_image.masks(masks),
                          None if masks is None else np.ones((dh, dw), bool))
        masks = None
        before = current.num_boxes
        image, current = augment(image, current, rng)
        dropped = max(0, before - current.num_boxes)  # moved out of the image, or had no area to move
        to_frame = (1.0, 1.0)  # from the augmented image's pixels
    else:
        current = sample
        to_frame = to_decoded  # from source pixels: one transform for decode and resize together
        dropped = 0
    resized, place = resize_image(image, options.image_size, options.resize, options.pad_value,
                                  out=out if augment is None or at_source else None)
    region = None
    if masks is not None:  # straight from source pixels to the output: one nearest-neighbour pass
        from_source = Transform.placement((to_decoded[0] * place.scale[0], to_decoded[1] * place.scale[1]),
                                          place.offset, size)
        masks = from_source.masks(masks)
        if options.resize == "letterbox" or augment is not None:
            region = from_source.coverage(source_size)
    elif at_source and current.masks is not None:
        placed = Transform.placement(place.scale, place.offset, size)
        masks = placed.masks(current.masks)
        if current.valid_region is not None:
            region = placed.label_map(current.valid_region)
    to_output = Transform.placement((to_frame[0] * place.scale[0], to_frame[1] * place.scale[1]), place.offset,
                                    size)
    current = _loaded(current, to_output.boxes(current.boxes), size, to_output.keypoints(current.keypoints),
                      masks, region)
    if options.augment_at == "output" and augment is not None:
        before = current.num_boxes
        resized, current = augment(resized, current, rng)
        dropped += max(0, before - current.num_boxes)
        if resized.shape[:2] != tuple(options.image_size):
            raise ValueError(f"the augmentation changed the image size to {resized.shape[:2]}; with "
                             f"augment_at='output' it must keep {tuple(options.image_size)}")
        if out is not None:
            out[...] = resized
            resized = out
    boxes = clip_boxes(current.boxes, options.image_size)
    keep = valid_box_mask(boxes)
    current = dataclasses.replace(current, boxes=boxes)
    stats = {}
    lost = dropped + int((~keep).sum())
    if lost:
        stats["boxes_without_area"] = lost
    if not keep.all():
        current = current.select(keep)
    return resized, current, stats


def _loaded(record: Sample | LoadedSample, boxes: np.ndarray, size: tuple[int, int], keypoints: np.ndarray | None,
            masks: np.ndarray | None, region: np.ndarray | None) -> LoadedSample:
    """The record moved into a new frame: the Sample's (or a loaded record's) other fields kept."""
    sources = record.sources if isinstance(record, LoadedSample) else ()
    return LoadedSample(record.image, boxes, record.labels, size, record.attributes, keypoints, masks, region,
                        record.meta, sources)


def _source_masks(sample: Sample, source_size: tuple[int, int]) -> np.ndarray:
    """The sample's masks rendered in source pixels: (N, H, W) bool, checked against the image."""
    masks = decode_masks(sample, image_size=source_size)
    if masks.shape[1:] != tuple(source_size):
        raise ValueError(f"{sample.image}: the masks are {masks.shape[1]}x{masks.shape[2]} but the image is "
                         f"{source_size[0]}x{source_size[1]} (H x W); a mask must cover its image pixel for pixel")
    return masks

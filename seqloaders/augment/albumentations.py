"""The albumentations adapter, the function adapter and the albumentations detection pipeline."""

from __future__ import annotations

import copy
import inspect
import os
import threading
from typing import Any

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check at import time

from ..geometry import clip_boxes, valid_box_mask
from ..records import LoadedSample, as_loaded
from ..transform import keep_unlabelled
from .base import Augmenter

__all__ = ["AlbumentationsAugmenter", "FunctionAugmenter", "detection_preset"]


def _prepare_boxes(image: np.ndarray, sample: LoadedSample) -> tuple[np.ndarray, np.ndarray]:
    """The boxes clipped to the image, and the indices of those albumentations can take (non-degenerate)."""
    h, w = image.shape[:2]
    boxes = clip_boxes(sample.boxes, (h, w))
    return boxes, np.flatnonzero(valid_box_mask(boxes))


class AlbumentationsAugmenter(Augmenter):
    """Runs an ``albumentations.Compose`` built with
    ``bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"])``.

    Boxes are clipped to the image first; boxes of zero size cannot be augmented and are left
    out of the result (the Sequence counts them). Attributes follow their boxes. Each worker
    thread uses its own copy of the pipeline, seeded from ``rng`` on every call.

    Example:
        >>> import albumentations as A
        >>> aug = AlbumentationsAugmenter(A.Compose([A.HorizontalFlip()],
        ...     bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"])))
    """

    def __init__(self, transform: Any):
        processors = getattr(transform, "processors", {})
        bbox = processors.get("bboxes")
        if bbox is None:
            raise ValueError(
                "the albumentations pipeline has no bbox_params, so boxes would not follow the image; build it with "
                "A.Compose([...], bbox_params=A.BboxParams(format='pascal_voc', label_fields=['labels']))")
        fmt = bbox.params.format
        if fmt != "pascal_voc":
            raise ValueError(f"bbox_params format must be 'pascal_voc' (XYXY pixels), got {fmt!r}")
        self.transform = transform
        self.label_fields = tuple(bbox.params.label_fields or ())
        keypoints = processors.get("keypoints")
        if keypoints is not None and (keypoints.params.format != "xy" or keypoints.params.remove_invisible):
            raise ValueError("keypoint_params must be A.KeypointParams(format='xy', remove_invisible=False) so that "
                             "every keypoint stays with its object")
        self.has_keypoints = keypoints is not None
        self._local = threading.local()

    def _pipeline(self):
        pipe = getattr(self._local, "pipe", None)
        if pipe is None:
            pipe = self._local.pipe = copy.deepcopy(self.transform)
        return pipe

    def __call__(self, image, sample, rng):
        sample = as_loaded(sample, image.shape[:2])
        pipe = self._pipeline()
        pipe.set_random_seed(int(rng.integers(2**31 - 1)))
        boxes, keep = _prepare_boxes(image, sample)
        bboxes = np.concatenate([boxes[keep], keep[:, None].astype(np.float32)], axis=1)
        fields = dict.fromkeys(self.label_fields, sample.labels[keep])
        if sample.keypoints is not None:
            if not self.has_keypoints:
                raise ValueError("this sample has keypoints but the albumentations pipeline has no keypoint_params; "
                                 "add keypoint_params=A.KeypointParams(format='xy', remove_invisible=False)")
            # albumentations indexes pixels (a flip maps x to W - 1 - x); ours is the continuous frame
            fields["keypoints"] = sample.keypoints[..., :2].reshape(-1, 2) - 0.5
        masks = sample.masks
        if masks is not None and len(masks):
            fields["masks"] = masks.view(np.uint8) if masks.dtype == bool else masks  # OpenCV has no bool
        region = sample.valid_region
        if region is not None:
            fields["mask"] = region.view(np.uint8)
        result = pipe(image=image, bboxes=bboxes, **fields)
        out_boxes = np.asarray(result["bboxes"], np.float32).reshape(-1, bboxes.shape[1])
        index = np.rint(out_boxes[:, 4]).astype(np.int64)  # column 4 carries each box's index in the sample
        changes = {"boxes": out_boxes[:, :4], "image_size": result["image"].shape[:2]}
        if sample.keypoints is not None:
            kp = sample.keypoints.copy()
            kp[..., :2] = np.asarray(result["keypoints"], np.float32)[:, :2].reshape(kp.shape[0], kp.shape[1], 2) + 0.5
            changes["keypoints"] = keep_unlabelled(kp, sample.keypoints)[index]  # the kernel's rule for v = 0
        if masks is not None:
            if len(masks):
                moved = np.asarray(result["masks"]).reshape(len(masks), *result["image"].shape[:2])
                changes["masks"] = moved[index] != 0
            else:
                changes["masks"] = np.zeros((0, *result["image"].shape[:2]), bool)
        if region is not None:
            changes["valid_region"] = np.asarray(result["mask"]) != 0
        out = sample.select(index).replace(**changes)
        return np.ascontiguousarray(result["image"]), out

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_local", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def __repr__(self) -> str:
        names = [type(t).__name__ for t in getattr(self.transform, "transforms", [])]
        return f"AlbumentationsAugmenter([{', '.join(names)}])"


class FunctionAugmenter(Augmenter):
    """Wraps a function with albumentations' calling convention:
    ``fn(image=..., bboxes=..., labels=...) -> {"image", "bboxes", "labels"}``, boxes XYXY pixels.

    If the function accepts an ``rng`` keyword it receives the generator; otherwise it must be
    deterministic. Samples with rendered masks need a function with a ``masks`` keyword
    ((N, H, W) bool in, the moved masks out under ``"masks"``). If it changes the number of
    boxes, per-box attributes cannot be matched and
    are removed from the augmented sample.
    """

    def __init__(self, fn: Any):
        self.fn = fn
        try:
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            parameters = {}
        self._takes_rng = "rng" in parameters
        self._takes_masks = "masks" in parameters

    def __call__(self, image, sample, rng):
        sample = as_loaded(sample, image.shape[:2])
        kwargs = {"rng": rng} if self._takes_rng else {}
        has_masks = sample.masks is not None
        if has_masks:
            if not self._takes_masks:
                raise ValueError(f"{sample.image}: this sample has rendered masks but the augmentation function "
                                 f"{getattr(self.fn, '__name__', self.fn)!r} takes no 'masks' argument, so they would "
                                 "no longer match the image; accept masks=(N, H, W) and return them")
            kwargs["masks"] = sample.masks.copy()
        result = self.fn(image=image, bboxes=sample.boxes.copy(), labels=sample.labels.copy(), **kwargs)
        boxes = np.asarray(result["bboxes"], np.float32).reshape(-1, 4)
        labels = np.asarray(result.get("labels", sample.labels), np.int64)
        new_image = np.ascontiguousarray(result["image"])
        size = new_image.shape[:2]
        # the function cannot move the valid region: it stays where the image keeps its size
        region = sample.valid_region if size == sample.image_size else None
        if len(boxes) == sample.num_boxes:
            changes = {"masks": np.asarray(result["masks"]) != 0} if has_masks else {}
            out = sample.replace(boxes=boxes, labels=labels, image_size=size, valid_region=region, **changes)
        else:
            out = sample.replace(boxes=boxes, labels=labels, attributes={}, keypoints=None, masks=None,
                                 image_size=size, valid_region=region)
        return new_image, out

    def __repr__(self) -> str:
        return f"FunctionAugmenter({getattr(self.fn, '__name__', self.fn)!r})"


def detection_preset(strength: str = "standard") -> Any:
    """A standard detection augmentation (albumentations): flip, colour, affine.

    The ``"detection"`` preset of a Sequence runs the same operations and ranges in numpy and
    OpenCV (:class:`~seqloaders.NativeAugmenter`), several times faster; this pipeline is the
    ``"albumentations-detection"`` preset, and a starting point for your own.

    Boxes, keypoints (kept even when they leave the image) and masks follow the image. The flip
    does not swap left and right keypoints; for pose data use :class:`NativeAugmenter` or
    :class:`HorizontalFlipAugmenter` with a flip index.

    Args:
        strength: "light" (flip and colour) or "standard" (plus scale/shift/rotate affine).
    """
    import albumentations as A

    ops = [A.HorizontalFlip(p=0.5),
           A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
           A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=20, val_shift_limit=0, p=0.3)]
    if strength == "standard":
        ops.append(A.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1), rotate=(-10, 10), p=0.7))
    elif strength != "light":
        raise ValueError(f"unknown strength {strength!r}; available: light, standard")
    return A.Compose(ops, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.3),
                     keypoint_params=A.KeypointParams(format="xy", remove_invisible=False))

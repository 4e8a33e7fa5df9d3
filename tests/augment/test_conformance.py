"""The library's augmenters through the conformance checks (tests/augment_conformance.py)."""

import albumentations as A
import numpy as np
import pytest
from augment_conformance import AugmenterConformance, check_targets_follow_pixels, scene

import seqloaders as sl
from seqloaders.augment import as_augmenter
from seqloaders.encoders import HorizontalFlipAugmenter


class TestNativeFlipConformance(AugmenterConformance):
    def make_augmenter(self):
        return sl.NativeAugmenter(flip=1.0, brightness_contrast=0, hue_saturation=0, affine=0, min_visibility=0)


class TestNativeAffineConformance(AugmenterConformance):
    def make_augmenter(self):
        return sl.NativeAugmenter(flip=0.5, brightness_contrast=0, hue_saturation=0, affine=1.0, scale=(0.8, 1.1),
                                  rotate=(-8, 8), translate=(-0.05, 0.05), min_visibility=0, fill=128)


class TestHorizontalFlipConformance(AugmenterConformance):
    def make_augmenter(self):
        return HorizontalFlipAugmenter(p=1.0)


class TestAlbumentationsConformance(AugmenterConformance):
    def make_augmenter(self):
        return as_augmenter(A.Compose(
            [A.HorizontalFlip(p=1.0), A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-5, 5),
                                               fill=128, p=1.0)],
            bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
            keypoint_params=A.KeypointParams(format="xy", remove_invisible=False)))


def test_the_checks_have_teeth():
    image, sample = scene()
    flipped, _ = HorizontalFlipAugmenter(p=1.0)(image, sample, np.random.default_rng(0))
    with pytest.raises(AssertionError):
        check_targets_follow_pixels(flipped, sample)  # targets left where they were

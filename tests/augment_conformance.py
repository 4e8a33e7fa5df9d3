"""The conformance base class every augmenter's tests inherit: the targets follow the pixels.

Each test draws a scene of saturated rectangles on grey (one colour per object), with its boxes,
rendered masks, a keypoint at each centre and an unlabelled one, per-box attributes and a valid
region; runs the augmenter with a few seeds; and checks that every kept box encloses its colour,
every mask is its colour, every labelled keypoint lands on it, unlabelled keypoints stay where
they were, attributes stay with their boxes and the valid region has the output's size::

    from augment_conformance import AugmenterConformance

    class TestMyAugmenter(AugmenterConformance):
        def make_augmenter(self):
            return MyAugmenter(...)

An augmenter that changes colours is tested without its colour part (the objects are found by
their colour).
"""

import numpy as np
import pytest

import seqloaders as sl

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def scene(h=60, w=80):
    """Three saturated rectangles on grey, their boxes, masks, and a keypoint at each one's centre."""
    image = np.full((h, w, 3), 128, np.uint8)
    boxes = np.array([[6, 8, 26, 30], [40, 10, 70, 24], [20, 36, 44, 56]], np.float32)
    masks = np.zeros((3, h, w), bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        image[y1:y2, x1:x2] = COLOURS[k]
        masks[k, y1:y2, x1:x2] = True
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, np.full(3, 2.0)], axis=1)
    keypoints = np.stack([centres, np.zeros((3, 3), np.float32)], axis=1).astype(np.float32)  # 2nd: unlabelled
    sample = sl.LoadedSample("scene.png", boxes=boxes, labels=[0, 1, 2], image_size=(h, w),
                             attributes={"id": np.array([10, 11, 12])}, keypoints=keypoints, masks=masks,
                             valid_region=np.ones((h, w), bool))
    return image, sample


def colour_pixels(image, k, tol=60):
    return (np.abs(image.astype(int) - np.array(COLOURS[k])) < tol).all(axis=-1)


def check_targets_follow_pixels(image, out):
    """Each kept box encloses its colour, each mask is its colour, each labelled keypoint is on it."""
    assert len(out.boxes) >= 1
    for box, label, mask, kp in zip(out.boxes, out.labels, out.masks, out.keypoints, strict=True):
        pixels = colour_pixels(image, int(label))
        ys, xs = np.nonzero(pixels)
        assert len(xs) > 20
        x1, y1, x2, y2 = box
        assert xs.min() >= x1 - 1.5 and xs.max() + 1 <= x2 + 1.5 and ys.min() >= y1 - 1.5 and ys.max() + 1 <= y2 + 1.5
        inter = (mask & pixels).sum() / (mask | pixels).sum()
        assert inter > 0.85, inter
        x, y = kp[0, :2]
        assert pixels[int(np.clip(y, 0, image.shape[0] - 1)), int(np.clip(x, 0, image.shape[1] - 1))]
        np.testing.assert_array_equal(kp[1], [0, 0, 0])  # unlabelled: not moved
    np.testing.assert_array_equal(out.attributes["id"] - 10, out.labels)  # attributes stay with their boxes



class AugmenterConformance:
    """Checks every single-image augmenter passes; subclasses give ``make_augmenter``."""

    def make_augmenter(self):
        raise NotImplementedError

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_targets_follow_the_pixels(self, seed):
        image, sample = scene()
        moved_image, out = self.make_augmenter()(image, sample, np.random.default_rng(seed))
        assert moved_image.dtype == np.uint8 and moved_image.ndim == 3
        check_targets_follow_pixels(moved_image, out)
        assert out.valid_region.shape == moved_image.shape[:2]
        assert out.image_size == moved_image.shape[:2]

    def test_the_inputs_are_not_changed(self):
        image, sample = scene()
        before_image, before = image.copy(), scene()[1]
        self.make_augmenter()(image, sample, np.random.default_rng(0))
        np.testing.assert_array_equal(image, before_image)
        assert sample == before

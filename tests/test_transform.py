"""The geometry kernel: every mover moves every target the way the pixels moved, with one rule for v = 0."""

import albumentations as A
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.augment import as_augmenter
from seqloaders.encoders import HorizontalFlipAugmenter
from seqloaders.geometry import scale_boxes
from seqloaders.records import VALID_REGION
from seqloaders.transform import Transform, affine_matrix, keep_unlabelled, visible_boxes

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
    sample = sl.Sample("scene.png", boxes=boxes, labels=[0, 1, 2], keypoints=keypoints, masks=masks,
                       attributes={"id": np.array([10, 11, 12])}, image_size=(h, w),
                       meta={VALID_REGION: np.ones((h, w), bool)})
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


MOVERS = {
    "native-flip": sl.NativeAugmenter(flip=1.0, brightness_contrast=0, hue_saturation=0, affine=0,
                                      min_visibility=0),
    "native-affine": sl.NativeAugmenter(flip=0.5, brightness_contrast=0, hue_saturation=0, affine=1.0,
                                        scale=(0.8, 1.1), rotate=(-8, 8), translate=(-0.05, 0.05), min_visibility=0,
                                        fill=128),
    "hflip": HorizontalFlipAugmenter(p=1.0),
    "albumentations": as_augmenter(A.Compose(
        [A.HorizontalFlip(p=1.0), A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-5, 5),
                                           fill=128, p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False))),
}


@pytest.mark.parametrize("name", sorted(MOVERS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_mover_moves_targets_with_the_pixels(name, seed):
    image, sample = scene()
    moved_image, out = MOVERS[name](image, sample, np.random.default_rng(seed))
    check_targets_follow_pixels(moved_image, out)
    assert out.meta[VALID_REGION].shape == moved_image.shape[:2]


def test_the_check_has_teeth():
    image, sample = scene()
    flipped, _ = HorizontalFlipAugmenter(p=1.0)(image, sample, np.random.default_rng(0))
    with pytest.raises(AssertionError):
        check_targets_follow_pixels(flipped, sample)  # targets left where they were


def test_resize_placement_moves_targets_with_the_pixels(tmp_path):
    import cv2

    image, sample = scene()
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image[..., ::-1])
    sample = sample.replace(image=str(path), meta={})
    seq = sl.SegmentationSequence([sample], batch_size=1, image_size=(50, 50), resize="letterbox",
                                  encoder=sl.encoders.InstanceMaskEncoder(max_instances=3), preprocess="uint8")
    x, samples = seq.load_batch(0)
    out = samples[0]
    check_targets_follow_pixels(x[0], out)
    region = out.meta[VALID_REGION]
    assert region.shape == (50, 50) and not region.all() and region[25].all()  # padding rows are outside


def test_one_rule_for_unlabelled_keypoints_everywhere():
    """v = 0 keeps its coordinates in the placement, a flip, an affine and albumentations; v > 0 moves."""
    kp = np.array([[[10, 5, 2], [3, 4, 0]]], np.float32)
    transforms = [Transform.placement((0.5, 2.0), (1.0, 3.0), (20, 40)), Transform.hflip((20, 40)),
                  Transform.affine(affine_matrix((20, 40), True, 1.1, 5.0, (0.1, 0.0)), (20, 40))]
    for t in transforms:
        moved = t.keypoints(kp)
        np.testing.assert_array_equal(moved[0, 1], [3, 4, 0])
        assert not np.array_equal(moved[0, 0], kp[0, 0])
    after_albumentations = np.array([[[30, 5, 2], [37, 4, 0]]], np.float32)
    np.testing.assert_array_equal(keep_unlabelled(after_albumentations, kp)[0, 1], [3, 4, 0])


def test_flip_index_swaps_only_when_the_map_mirrors():
    kp = np.array([[[10, 5, 2], [30, 5, 1]]], np.float32)
    flipped = Transform.hflip((20, 100)).keypoints(kp, [1, 0])
    np.testing.assert_array_equal(flipped, [[[70, 5, 1], [90, 5, 2]]])
    zoom = Transform.affine(affine_matrix((20, 100), scale=1.5), (20, 100))
    assert not zoom.mirrors and Transform.hflip((20, 100)).mirrors
    np.testing.assert_array_equal(zoom.keypoints(kp, [1, 0])[0, :, 2], [2, 1])
    with pytest.raises(ValueError, match="its own inverse"):
        Transform.hflip((20, 100)).keypoints(np.zeros((1, 3, 3), np.float32), [1, 2, 0])


def test_kernel_arithmetic():
    boxes = np.array([[1.25, 2.5, 7.75, 9.0]], np.float32)
    placed = Transform.placement((0.3, 0.7), (2.0, 5.0), (10, 10))
    np.testing.assert_array_equal(placed.boxes(boxes), scale_boxes(boxes, (0.3, 0.7), (2.0, 5.0)))
    twice = Transform.hflip((10, 20))
    np.testing.assert_array_equal(twice.boxes(twice.boxes(boxes)), boxes)
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(Transform.hflip((3, 4)).label_map(labels), labels[:, ::-1])
    shift = Transform.affine(affine_matrix((3, 4), translate=(0.25, 0.0)), (3, 4))  # one pixel right
    np.testing.assert_array_equal(shift.label_map(labels)[:, 1:], labels[:, :3])
    assert (shift.label_map(labels)[:, 0] == 0).all()
    np.testing.assert_array_equal(shift.image(np.dstack([labels] * 3))[:, 1:, 0], labels[:, :3])
    cover = Transform.placement((1.0, 1.0), (2.0, 0.0), (6, 4)).coverage((3, 4))
    np.testing.assert_array_equal(cover.any(axis=1), [False, False, True, True, True, False])
    clipped, keep = visible_boxes(np.array([[0, 0, 4, 4], [0, 0, 4, 4]], np.float32),
                                  np.array([[-3, 0, 1, 4], [1, 1, 3, 3]], np.float32), (10, 10), 0.3)
    np.testing.assert_array_equal(keep, [False, True])
    np.testing.assert_array_equal(clipped[1], [1, 1, 3, 3])
    with pytest.raises(ValueError, match="resize_image"):
        placed.image(np.zeros((4, 4, 3), np.uint8))

"""The geometry kernel: every mover moves every target the way the pixels moved, with one rule for v = 0."""

import numpy as np
import pytest
from augment_conformance import check_targets_follow_pixels, scene

import seqloaders as sl
from seqloaders.geometry import scale_boxes
from seqloaders.transform import Transform, affine_matrix, keep_unlabelled, visible_boxes


def test_resize_placement_moves_targets_with_the_pixels(tmp_path):
    import cv2

    image, sample = scene()
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image[..., ::-1])
    sample = sl.Sample(str(path), boxes=sample.boxes, labels=sample.labels, image_size=sample.image_size,
                       attributes=sample.attributes, keypoints=sample.keypoints, masks=sample.masks)
    seq = sl.SegmentationSequence([sample], batch_size=1, image_size=(50, 50), resize="letterbox",
                                  encoder=sl.encoders.InstanceMaskEncoder(max_instances=3), preprocess="uint8")
    x, samples = seq.load_batch(0)
    out = samples[0]
    check_targets_follow_pixels(x[0], out)
    region = out.valid_region
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

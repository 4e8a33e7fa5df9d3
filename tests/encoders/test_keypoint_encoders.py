"""Heatmaps, padded keypoints, flips with left/right swap: against hand-computed arrays."""

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import (
    COCO_PERSON_FLIP_INDEX,
    COCO_PERSON_KEYPOINTS,
    HeatmapEncoder,
    HorizontalFlipAugmenter,
    KeypointEncoder,
    decode_heatmaps,
    encode_heatmaps,
    flip_keypoints,
)


def make(keypoints, boxes=None, **kw):
    kp = None if keypoints is None else np.array(keypoints, np.float32)
    n = 0 if kp is None else len(kp)
    if boxes is None:
        boxes = np.tile([[0, 0, 1, 1]], (n, 1))
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return sl.Sample("img.jpg", boxes=boxes, labels=np.zeros(len(boxes)), keypoints=kp, **kw)


def gauss(rows, cols, r0, c0, sigma):
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.exp(-((r - r0) ** 2 + (c - c0) ** 2) / (2 * sigma**2)).astype(np.float32)


# -- heatmaps ----------------------------------------------------------------------------------

def test_heatmap_hand_computed_peak_and_values():
    enc = HeatmapEncoder(num_keypoints=3, output_stride=4, sigma=1.0, image_size=(16, 16))
    assert enc.output_shape == (4, 4, 3) and enc.dtype == np.float32
    # keypoint 0 at (x=6, y=10) -> cell (row 2, col 1); keypoint 1 unlabelled (v=0); keypoint 2 occluded (v=1)
    hm = enc.encode_sample(make([[[6, 10, 2], [6, 10, 0], [1, 1, 1]]]), (16, 16))
    assert hm.shape == (4, 4, 3) and hm.dtype == np.float32
    assert hm[2, 1, 0] == 1.0
    np.testing.assert_allclose(hm[2, 2, 0], np.exp(-0.5), rtol=1e-6)
    np.testing.assert_allclose(hm[0, 0, 0], np.exp(-2.5), rtol=1e-6)  # (dr, dc) = (2, 1)
    np.testing.assert_allclose(hm[..., 0], gauss(4, 4, 2, 1, 1.0), rtol=1e-6)
    assert not hm[..., 1].any()  # v = 0 is not drawn
    np.testing.assert_allclose(hm[..., 2], gauss(4, 4, 0, 0, 1.0), rtol=1e-6)  # v = 1 is drawn by default
    hm2 = HeatmapEncoder(3, output_stride=4, sigma=1.0, min_visibility=2).encode_sample(
        make([[[6, 10, 2], [6, 10, 0], [1, 1, 1]]]), (16, 16))
    assert not hm2[..., 2].any()


def test_heatmap_max_over_objects_not_sum():
    enc = HeatmapEncoder(num_keypoints=1, output_stride=4, sigma=1.0)
    hm = enc.encode_sample(make([[[1, 1, 2]], [[9, 1, 2]]]), (16, 16))  # cells (0, 0) and (0, 2)
    np.testing.assert_allclose(hm[..., 0], np.maximum(gauss(4, 4, 0, 0, 1), gauss(4, 4, 0, 2, 1)), rtol=1e-6)
    np.testing.assert_allclose(hm[0, 1, 0], np.exp(-0.5), rtol=1e-6)  # not 2 * exp(-0.5)
    assert hm.max() == 1.0


def test_heatmap_two_keypoints_in_one_cell():
    enc = HeatmapEncoder(num_keypoints=1, output_stride=4, sigma=1.0)
    hm = enc.encode_sample(make([[[4.2, 4.9, 2]], [[7.9, 7.1, 2]]]), (16, 16))  # both in cell (1, 1)
    np.testing.assert_allclose(hm[..., 0], gauss(4, 4, 1, 1, 1.0), rtol=1e-6)


def test_heatmap_border_and_outside():
    enc = HeatmapEncoder(num_keypoints=2, output_stride=4, sigma=1.0)
    stats = {}
    # keypoint 0 on the bottom-right corner (x = W, y = H): last cell; keypoint 1 just outside: not drawn, counted
    hm = enc.encode_batch([make([[[16, 16, 2], [16.5, 3, 2]]])], (16, 16), stats)
    np.testing.assert_allclose(hm[0, ..., 0], gauss(4, 4, 3, 3, 1.0), rtol=1e-6)
    assert not hm[0, ..., 1].any()
    assert stats == {"keypoints_not_encoded": 1}


def test_heatmap_radius_cut_and_heatmap_size():
    hm, outside = encode_heatmaps([np.array([[[0.5, 0.5, 2]]], np.float32)], (16, 16), (16, 16), sigma=1.0)
    np.testing.assert_allclose(hm[0, 0, 3, 0], np.exp(-4.5), rtol=1e-6)
    assert hm[0, 0, 4, 0] == 0 and hm[0, 4, 0, 0] == 0 and outside == 0  # beyond ceil(3 sigma) = 3 cells
    # a fixed heatmap size: a 16x32 image onto 4x4 cells (4 px per row, 8 px per column)
    enc = HeatmapEncoder(num_keypoints=1, heatmap_size=(4, 4), sigma=1.0)
    assert enc.output_shape == (4, 4, 1)
    hm = enc.encode_sample(make([[[20, 5, 2]]]), (16, 32))
    assert hm[1, 2, 0] == 1.0 and np.argmax(hm[..., 0]) == 1 * 4 + 2


def test_heatmap_empty_image_and_missing_keypoints():
    enc = HeatmapEncoder(num_keypoints=17, output_stride=4, sigma=2.0, image_size=(32, 32))
    stats = {}
    hm = enc.encode_batch([make(None), make(np.zeros((0, 17, 3))), make(np.zeros((0, 0, 3)))], (32, 32), stats)
    assert hm.shape == (3, 8, 8, 17) and not hm.any() and stats["keypoints_not_encoded"] == 0
    with pytest.raises(sl.EncodingError, match=r"img.jpg: HeatmapEncoder needs sample.keypoints.*2 boxes"):
        enc.encode_sample(make(None, boxes=[[0, 0, 4, 4], [1, 1, 5, 5]]), (32, 32))
    with pytest.raises(sl.EncodingError, match=r"expects keypoints of shape \(N, 17, 3\), got \(1, 2, 3\)"):
        enc.encode_sample(make(np.zeros((1, 2, 3))), (32, 32))
    with pytest.raises(sl.EncodingError, match=r"built for image_size=\(32, 32\)"):
        enc.encode_sample(make(None), (64, 64))


def test_heatmap_vectorised_batch_and_decode_round_trip():
    enc = HeatmapEncoder(num_keypoints=2, output_stride=4, sigma=1.5)
    samples = [make([[[6, 10, 2], [30, 2, 2]]]), make(None), make([[[2, 2, 2], [0, 0, 0]], [[10, 14, 1], [18, 26, 2]]])]
    batch = enc.encode_batch(samples, (32, 32))
    for i, s in enumerate(samples):
        np.testing.assert_array_equal(batch[i], enc.encode_sample(s, (32, 32)))
    kp, scores = enc.decode(batch[0], (32, 32))  # keypoints at cell centres come back exactly
    np.testing.assert_allclose(kp, [[6, 10, 2], [30, 2, 2]])
    np.testing.assert_allclose(scores, [1, 1])
    kp, scores = decode_heatmaps(np.zeros((8, 8, 1)), (32, 32))
    assert kp[0, 2] == 0 and scores[0] == 0


# -- padded raw keypoints ------------------------------------------------------------------------

def test_keypoint_encoder_padding_overflow_relative():
    enc = KeypointEncoder(max_objects=2, num_keypoints=2)
    assert enc.output_shape == (2, 2, 3)
    stats = {}
    kp = [[[1, 2, 2], [3, 4, 0]], [[5, 6, 1], [7, 8, 2]], [[9, 9, 2], [9, 9, 2]]]
    y = enc.encode_batch([make(kp), make(None)], (10, 20), stats)
    assert y.shape == (2, 2, 2, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y[0], kp[:2])
    np.testing.assert_array_equal(y[1], np.full((2, 2, 3), -1))
    assert stats["boxes_not_encoded"] == 1
    rel = KeypointEncoder(max_objects=3, num_keypoints=2, relative=True)
    y = rel.encode_sample(make(kp[:1]), (10, 20))
    np.testing.assert_allclose(y[0], [[1 / 20, 2 / 10, 2], [3 / 20, 4 / 10, 0]], rtol=1e-6)
    np.testing.assert_array_equal(y[1:], -1)
    np.testing.assert_allclose(rel.decode(y, (10, 20)).keypoints, kp[:1], rtol=1e-6)
    assert "max_objects=3" in repr(rel)


# -- flips ---------------------------------------------------------------------------------------

def test_coco_flip_index_swaps_left_and_right():
    assert len(COCO_PERSON_FLIP_INDEX) == len(COCO_PERSON_KEYPOINTS) == 17
    for k, name in enumerate(COCO_PERSON_KEYPOINTS):
        twin = name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        assert COCO_PERSON_KEYPOINTS[COCO_PERSON_FLIP_INDEX[k]] == twin


def test_flip_keypoints_hand_computed():
    kp = np.array([[[10, 5, 2], [30, 6, 1], [0, 0, 0]]], np.float32)  # left eye, right eye, unlabelled
    out = flip_keypoints(kp, 100, flip_index=[1, 0, 2])
    np.testing.assert_array_equal(out, [[[70, 6, 1], [90, 5, 2], [0, 0, 0]]])
    np.testing.assert_array_equal(flip_keypoints(out, 100, [1, 0, 2]), kp)  # twice is the identity
    np.testing.assert_array_equal(flip_keypoints(kp, 100), [[[90, 5, 2], [70, 6, 1], [0, 0, 0]]])
    with pytest.raises(ValueError, match="one entry per keypoint"):
        flip_keypoints(kp, 100, [0, 1])
    with pytest.raises(ValueError, match="permutation"):
        flip_keypoints(kp, 100, [0, 0, 1])
    with pytest.raises(ValueError, match="its own inverse"):
        flip_keypoints(kp, 100, [1, 2, 0])


def test_flip_augmenter_image_boxes_keypoints_masks():
    image = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    masks = np.zeros((1, 2, 5), bool)
    masks[0, :, :2] = True
    s = make([[[1, 0.5, 2], [4, 1.5, 2]]], boxes=[[0, 0, 2, 2]], masks=masks)
    aug = HorizontalFlipAugmenter([1, 0], p=1.0)
    out_image, out = aug(image, s, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, image[:, ::-1])
    assert out_image.flags.c_contiguous
    np.testing.assert_array_equal(out.boxes, [[3, 0, 5, 2]])
    np.testing.assert_array_equal(out.keypoints, [[[1, 1.5, 2], [4, 0.5, 2]]])
    np.testing.assert_array_equal(out.masks[0], [[0, 0, 0, 1, 1]] * 2)
    assert out.image_size == (2, 5)
    same_image, same = HorizontalFlipAugmenter([1, 0], p=0.0)(image, s, np.random.default_rng(0))
    assert same_image is image and same == sl.LoadedSample.from_sample(s, (2, 5))  # unchanged, as a loaded record
    lazy = make(None, boxes=[[0, 0, 1, 1]], masks=["polygon"])
    with pytest.raises(ValueError, match="cannot move masks of type list"):
        aug(image, lazy, np.random.default_rng(0))
    assert HorizontalFlipAugmenter(p=1.0, masks="drop")(image, lazy, np.random.default_rng(0))[1].masks is None
    with pytest.raises(ValueError, match="flip_index has 2 entries but the sample has 17"):
        aug(image, make(np.zeros((1, 17, 3))), np.random.default_rng(0))
    assert "p=1" in repr(aug)


def test_flip_augmenter_is_reproducible_and_matches_albumentations_for_boxes():
    import albumentations as A

    aug = HorizontalFlipAugmenter(COCO_PERSON_FLIP_INDEX)
    s = make(np.zeros((1, 17, 3)), boxes=[[1, 1, 9, 4]])
    image = np.random.default_rng(0).integers(0, 255, (6, 12, 3), dtype=np.uint8)
    flips = [aug(image, s, np.random.default_rng([7, i]))[1].boxes[0, 0] != 1 for i in range(20)]
    assert flips == [aug(image, s, np.random.default_rng([7, i]))[1].boxes[0, 0] != 1 for i in range(20)]
    assert 0 < sum(flips) < 20
    ref = A.Compose([A.HorizontalFlip(p=1.0)], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    result = ref(image=image, bboxes=s.boxes, labels=s.labels)
    out_image, out = HorizontalFlipAugmenter(p=1.0)(image, s, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, result["image"])
    np.testing.assert_allclose(out.boxes, np.asarray(result["bboxes"]), atol=1e-4)

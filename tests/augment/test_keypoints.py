import albumentations as A
import numpy as np
import pytest

import seqloaders as sl


def run(augment, sample, image):
    return augment(image, sample, np.random.default_rng(0))


def test_keypoints_follow_a_flip_in_the_continuous_pixel_frame():
    image = np.zeros((40, 60, 3), np.uint8)
    sample = sl.Sample("a", boxes=[[10, 5, 20, 25], [30, 10, 50, 30]], labels=[0, 1],
                       keypoints=[[[12.0, 7.0, 2], [18.5, 20.0, 1]], [[35.0, 15.0, 2], [0.0, 0.0, 0]]])
    aug = sl.AlbumentationsAugmenter(A.Compose(
        [A.HorizontalFlip(p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False)))
    _, out = run(aug, sample, image)
    np.testing.assert_allclose(out.boxes, [[40, 5, 50, 25], [10, 10, 30, 30]], atol=1e-4)
    np.testing.assert_allclose(out.keypoints[0, :, 0], [60 - 12.0, 60 - 18.5], atol=1e-4)
    np.testing.assert_allclose(out.keypoints[:, :, 2], [[2, 1], [2, 0]])  # visibility kept, per object


def test_keypoints_without_keypoint_params_is_an_error():
    sample = sl.Sample("a", boxes=[[10, 5, 20, 25]], labels=[0], keypoints=[[[12.0, 7.0, 2]]])
    aug = sl.AlbumentationsAugmenter(A.Compose(
        [A.HorizontalFlip(p=1.0)], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"])))
    with pytest.raises(ValueError, match="keypoint_params"):
        run(aug, sample, np.zeros((40, 60, 3), np.uint8))


def test_select_keeps_rendered_masks_aligned():
    masks = np.zeros((3, 4, 4), bool)
    masks[1, 0, 0] = True
    s = sl.Sample("a", boxes=[[0, 0, 1, 1]] * 3, labels=[0, 1, 2], masks=masks)
    assert s.select(np.array([False, True, False])).masks.shape == (1, 4, 4)
    assert s.select(np.array([1])).masks[0, 0, 0]

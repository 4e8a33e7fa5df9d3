"""NativeAugmenter: pixels, boxes, keypoints, masks and the valid region move together."""

from __future__ import annotations

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.augment import AlbumentationsAugmenter, as_augmenter
from seqloaders.transform import affine_matrix

GEOMETRY_ONLY = {"brightness_contrast": 0.0, "hue_saturation": 0.0}


def fixed(flip=0.0, scale=1.0, rotate=0.0, translate=0.0, **kwargs):
    """An augmenter that always applies exactly the given geometry (and nothing else unless asked)."""
    options = dict(GEOMETRY_ONLY, flip=flip, scale=(scale, scale), rotate=(rotate, rotate),
                   translate=(translate, translate),
                   affine=1.0 if (scale, rotate, translate) != (1.0, 0.0, 0.0) else 0.0)
    options.update(kwargs)
    return sl.NativeAugmenter(**options)


def painted(size=(96, 128), box=(30, 20, 70, 60)):
    """A black image with one white rectangle, and its sample (box in the continuous pixel frame)."""
    image = np.zeros((*size, 3), np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    return image, sl.Sample("img.jpg", boxes=[box], labels=[3], image_size=size,
                            attributes={"blur": np.array([2])})


def bright_box(image):
    ys, xs = np.nonzero(image[..., 0] > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def run(aug, image, sample, seed=0):
    return aug(image, sample, np.random.default_rng(seed))


def test_flip_is_exact():
    image, sample = painted()
    out_image, out = run(fixed(flip=1.0), image, sample)
    np.testing.assert_array_equal(out_image, image[:, ::-1])
    np.testing.assert_allclose(out.boxes, [[128 - 70, 20, 128 - 30, 60]])
    np.testing.assert_array_equal(out.labels, [3])


@pytest.mark.parametrize("geometry", [
    {"scale": 1.2}, {"scale": 0.8}, {"translate": 0.1}, {"translate": -0.1, "scale": 1.1},
    {"flip": 1.0, "scale": 0.9, "translate": 0.05},
])
def test_boxes_follow_the_pixels_without_rotation(geometry):
    image, sample = painted()
    out_image, out = run(fixed(**geometry), image, sample)
    np.testing.assert_allclose(out.boxes[0], bright_box(out_image), atol=1.0)


@pytest.mark.parametrize("angle", [-10.0, 7.0, 30.0])
def test_rotated_boxes_envelope_the_rotated_object(angle):
    image, sample = painted()
    out_image, out = run(fixed(rotate=angle), image, sample)
    pixels = bright_box(out_image)
    box = out.boxes[0]
    assert (box[:2] <= pixels[:2] + 1).all() and (box[2:] >= pixels[2:] - 1).all()  # the object is inside
    np.testing.assert_allclose(box, pixels, atol=1.5)  # and the envelope of a rectangle is tight


def test_rotation_turns_counter_clockwise_on_screen():
    # a point right of the centre moves up (smaller y) when turned counter-clockwise
    m = affine_matrix((100, 100), angle=90.0)
    np.testing.assert_allclose(m @ [80.0, 50.0, 1.0], [50.0, 20.0], atol=1e-9)


def test_single_pixel_lands_where_the_matrix_says():
    size = (64, 80)
    image = np.zeros((*size, 3), np.uint8)
    image[20, 10] = 255  # pixel centre (10.5, 20.5) in the continuous frame
    aug = fixed(scale=1.0, translate=0.125, flip=1.0)
    out_image, _ = run(aug, image, sl.Sample("p.jpg", boxes=np.zeros((0, 4)), labels=[], image_size=size))
    x, y = affine_matrix(size, flip=True, translate=(0.125, 0.125)) @ [10.5, 20.5, 1.0]
    ys, xs = np.nonzero(out_image[..., 0] == 255)
    assert (xs[0], ys[0]) == (int(x - 0.5), int(y - 0.5))


def test_keypoints_stay_on_their_pixels_and_swap_on_flip():
    size = (96, 128)
    image = np.zeros((*size, 3), np.uint8)
    image[40, 30] = 255  # keypoint 0 ("left")
    image[44, 90, 1] = 255  # keypoint 1 ("right"), green
    kp = np.array([[[30.5, 40.5, 2], [90.5, 44.5, 2]]], np.float32)
    sample = sl.Sample("k.jpg", boxes=[[20, 30, 100, 60]], labels=[0], keypoints=kp, image_size=size)
    aug = fixed(flip=1.0, scale=1.1, rotate=5.0, flip_index=(1, 0))
    out_image, out = run(aug, image, sample)
    # after the swap, keypoint 0 is the old right one (green), keypoint 1 the old left one (red channel)
    for k, channel in ((0, 1), (1, 0)):
        ys, xs = np.unravel_index(np.argmax(out_image[..., channel]), size)
        np.testing.assert_allclose(out.keypoints[0, k, :2], [xs + 0.5, ys + 0.5], atol=1.0)
    assert out.keypoints[0, :, 2].tolist() == [2, 2]


def test_masks_and_valid_region_move_with_the_image():
    image, sample = painted()
    mask = image[..., 0] > 0
    region = np.ones(image.shape[:2], bool)
    sample = sl.LoadedSample.from_sample(sample.replace(masks=mask[None])).replace(valid_region=region)
    out_image, out = run(fixed(scale=0.8, rotate=8.0, translate=0.05, fill=7), image, sample)
    moved = out.masks[0]
    bright = out_image[..., 0] > 127
    iou = (moved & bright).sum() / (moved | bright).sum()
    assert iou > 0.9
    valid = out.valid_region
    assert valid.dtype == bool and not valid.all() and valid.any()
    # the uncovered pixels are the fill value (away from the interpolated edge)
    assert (out_image[0, 0] == 7).all() and not valid[0, 0]
    assert valid[48, 64]


def test_boxes_leaving_the_image_are_dropped_with_their_attributes():
    size = (100, 100)
    image = np.zeros((*size, 3), np.uint8)
    sample = sl.Sample("d.jpg", boxes=[[0, 40, 20, 60], [40, 40, 60, 60]], labels=[1, 2], image_size=size,
                       attributes={"blur": np.array([5, 6])})
    # shifting right by 30%: nothing leaves; left by 30%: the first box is gone
    _, kept = run(fixed(translate=0.3), image, sample)
    assert kept.labels.tolist() == [1, 2]
    _, out = run(fixed(translate=-0.3), image, sample)
    assert out.labels.tolist() == [2] and out.attributes["blur"].tolist() == [6]
    np.testing.assert_allclose(out.boxes, [[10, 10, 30, 30]], atol=1e-4)
    # half the box outside is kept at min_visibility 0.3, dropped at 0.6
    shift = -0.1  # the first box loses 10 of its 20 px
    assert run(fixed(translate=shift, min_visibility=0.3), image, sample)[1].labels.tolist() == [1, 2]
    assert run(fixed(translate=shift, min_visibility=0.6), image, sample)[1].labels.tolist() == [2]


def test_brightness_contrast_is_the_documented_formula():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    aug = sl.NativeAugmenter(flip=0.0, affine=0.0, hue_saturation=0.0, brightness_contrast=1.0,
                             brightness=0.1, contrast=0.5)
    rng = np.random.default_rng(5)
    draw = aug.draw(np.random.default_rng(5))
    out, _ = aug(image, sl.Sample("c.jpg", boxes=np.zeros((0, 4)), labels=[]), rng)
    expect = np.clip(np.arange(256) * draw.contrast + draw.brightness, 0, 255).round()
    np.testing.assert_array_equal(out[..., 0].ravel(), expect)


def test_hue_saturation_keeps_grey_grey_and_changes_colour():
    grey = np.full((8, 8, 3), 120, np.uint8)
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 200
    colour[..., 1] = 60
    aug = sl.NativeAugmenter(flip=0.0, affine=0.0, brightness_contrast=0.0, hue_saturation=1.0,
                             hue=(20), saturation=40)
    empty = sl.Sample("g.jpg", boxes=np.zeros((0, 4)), labels=[])
    for seed in range(5):
        out_grey, _ = aug(grey, empty, np.random.default_rng(seed))
        np.testing.assert_array_equal(out_grey, grey)
    changed = [not np.array_equal(aug(colour, empty, np.random.default_rng(s))[0], colour) for s in range(5)]
    assert any(changed)


def test_same_seed_same_result_and_a_fixed_number_of_draws():
    image, sample = painted()
    aug = sl.NativeAugmenter()
    a_image, a = run(aug, image, sample, seed=11)
    b_image, b = run(aug, image, sample, seed=11)
    np.testing.assert_array_equal(a_image, b_image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    # whatever the branches, one call consumes the same amount of the stream
    states = []
    for options in ({}, {"affine": 0.0, "flip": 0.0}, {"hue_saturation": 1.0, "brightness_contrast": 1.0}):
        rng = np.random.default_rng(3)
        sl.NativeAugmenter(**options)(image, sample, rng)
        states.append(rng.random())
    assert states[0] == states[1] == states[2]


def test_the_input_is_not_modified():
    image, sample = painted()
    before_image, before_boxes = image.copy(), sample.boxes.copy()
    for seed in range(10):
        run(sl.NativeAugmenter(), image, sample, seed)
    np.testing.assert_array_equal(image, before_image)
    np.testing.assert_array_equal(sample.boxes, before_boxes)


def test_presets():
    assert isinstance(as_augmenter("detection"), sl.NativeAugmenter)
    assert as_augmenter("detection-light").affine == 0.0
    assert isinstance(as_augmenter("albumentations-detection"), AlbumentationsAugmenter)
    assert "affine=0.7" in repr(as_augmenter("detection"))
    with pytest.raises(ValueError, match="albumentations-detection"):
        as_augmenter("detecton")


@pytest.mark.parametrize("bad, match", [
    ({"flip": 1.5}, "flip must be a probability"),
    ({"scale": (1.2, 0.8)}, "scale must be a"),
    ({"scale": (0.0, 1.0)}, "scale must be positive"),
    ({"flip_index": (0, 0)}, "permutation"),
])
def test_bad_options_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        sl.NativeAugmenter(**bad)


def test_lazy_masks_and_wrong_flip_index_name_the_image():
    image, sample = painted()
    with pytest.raises(ValueError, match=r"img.jpg.*lazy"):
        run(fixed(flip=1.0), image, sample.replace(masks=["polygon"]))
    kp = np.zeros((1, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"img.jpg.*flip_index has 2"):
        run(fixed(flip=1.0, flip_index=(1, 0)), image, sample.replace(keypoints=kp))


@pytest.mark.parametrize("augment", [None, "flip", "affine", "albumentations-detection"])
def test_boxes_the_augmentation_leaves_out_are_counted(tmp_path, augment):
    import cv2

    from seqloaders.pipeline import LoadOptions, load_sample
    from seqloaders.storage.local import LocalStorage

    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.zeros((50, 60, 3), np.uint8))
    sample = sl.Sample(path, boxes=[[5, 5, 5, 20], [10, 10, 30, 30]], labels=[0, 1])  # the first has no area
    aug = {"flip": fixed(flip=1.0), "affine": fixed(scale=1.1)}.get(augment, augment)
    _, out, stats = load_sample(sample, LocalStorage(), LoadOptions((32, 32)), as_augmenter(aug),
                                np.random.default_rng(0))
    assert out.labels.tolist() == [1] and stats == {"boxes_without_area": 1}
    # a box the affine moves out of the image is counted too
    far = sample.replace(boxes=[[0, 0, 6, 6], [10, 10, 30, 30]])
    _, out, stats = load_sample(far, LocalStorage(), LoadOptions((32, 32)), fixed(translate=-0.3),
                                np.random.default_rng(0))
    assert out.labels.tolist() == [1] and stats == {"boxes_without_area": 1}

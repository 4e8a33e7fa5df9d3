"""Semantic and instance mask encoders and nearest-neighbour label map resizing."""

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import (
    InstanceMaskEncoder,
    SemanticMaskEncoder,
    encode_semantic_mask,
    masks_to_boxes,
    resize_label_map,
)


def make(masks, labels, **kw):
    masks = None if masks is None else np.asarray(masks)
    n = len(labels)
    return sl.Sample("img.jpg", boxes=np.tile([[0, 0, 1, 1]], (n, 1)), labels=labels, masks=masks, **kw)


def rect(shape, y0, y1, x0, x1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


# two overlapping instances on a 4x5 image: A (class 1) rows 0-2 x cols 0-2, B (class 2) rows 1-3 x cols 2-4
A = rect((4, 5), 0, 3, 0, 3)
B = rect((4, 5), 1, 4, 2, 5)


def test_semantic_later_instances_over_earlier():
    enc = SemanticMaskEncoder(num_classes=3)
    y = enc.encode_sample(make([A, B], [1, 2]), (4, 5))
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [[1, 1, 1, 0, 0],
                                      [1, 1, 2, 2, 2],
                                      [1, 1, 2, 2, 2],
                                      [0, 0, 2, 2, 2]])
    y = enc.encode_sample(make([B, A], [2, 1]), (4, 5))  # the other order: A on top
    np.testing.assert_array_equal(y, [[1, 1, 1, 0, 0],
                                      [1, 1, 1, 2, 2],
                                      [1, 1, 1, 2, 2],
                                      [0, 0, 2, 2, 2]])


def test_semantic_crowd_to_ignore_stays_under_other_objects():
    crowd = {"iscrowd": np.array([0, 1])}
    y = SemanticMaskEncoder(3, crowd_to_ignore=True).encode_sample(make([A, B], [1, 2], attributes=crowd), (4, 5))
    np.testing.assert_array_equal(y, [[1, 1, 1, 0, 0],
                                      [1, 1, 1, 255, 255],  # A keeps its pixels even though the crowd comes later
                                      [1, 1, 1, 255, 255],
                                      [0, 0, 255, 255, 255]])
    y = SemanticMaskEncoder(3, crowd_to_ignore=False).encode_sample(make([A, B], [1, 2], attributes=crowd), (4, 5))
    assert y[3, 2] == 2 and y[1, 2] == 2  # a crowd is an ordinary object unless asked


def test_semantic_background_offset_empty_and_uint8_masks():
    enc = SemanticMaskEncoder(num_classes=4, ignore_index=-1, background=0, label_offset=1, image_size=(4, 5))
    assert enc.output_shape == (4, 5)
    y = enc.encode_batch([make(np.stack([A]).astype(np.uint8), [0]), make(None, [])], (4, 5))
    assert y.shape == (2, 4, 5) and y.dtype == np.int32
    np.testing.assert_array_equal(y[0], A.astype(np.int32))  # label 0 + offset 1
    np.testing.assert_array_equal(y[1], np.zeros((4, 5)))  # no objects: all background
    y = SemanticMaskEncoder(3, background=255).encode_sample(make(np.zeros((0, 4, 5), bool), []), (4, 5))
    assert (y == 255).all()


def test_semantic_errors():
    enc = SemanticMaskEncoder(num_classes=3)
    with pytest.raises(sl.EncodingError, match=r"needs sample.masks as an \(N, H, W\) array.*2 boxes and no masks"):
        enc.encode_sample(make(None, [1, 2]), (4, 5))
    with pytest.raises(sl.EncodingError, match="got list \\(a lazy mask source\\)"):
        enc.encode_sample(sl.Sample("img.jpg", boxes=[[0, 0, 1, 1]], labels=[1], masks=[[0, 0, 1, 0, 1, 1]]), (4, 5))
    with pytest.raises(sl.EncodingError, match=r"expects masks of shape \(2, 8, 10\).*got \(2, 4, 5\)"):
        enc.encode_sample(make([A, B], [1, 2]), (8, 10))
    with pytest.raises(sl.EncodingError, match=r"class 3 .* out of range for num_classes=3"):
        enc.encode_sample(make([A], [3]), (4, 5))
    with pytest.raises(ValueError, match="ignore_index=1 is one of the 3 classes"):
        SemanticMaskEncoder(3, ignore_index=1)
    with pytest.raises(sl.EncodingError, match="built for image_size"):
        SemanticMaskEncoder(3, image_size=(8, 8)).encode_sample(make([A], [1]), (4, 5))
    assert "num_classes=3" in repr(enc)


def test_instance_masks_padded_with_validity():
    enc = InstanceMaskEncoder(max_instances=3, image_size=(4, 5))
    assert enc.output_shape == {"masks": (3, 4, 5), "valid": (3,), "classes": (3,)}
    stats = {}
    y = enc.encode_batch([make([A, B], [1, 2]), make(None, [])], (4, 5), stats)
    assert y["masks"].shape == (2, 3, 4, 5) and y["masks"].dtype == np.uint8
    np.testing.assert_array_equal(y["masks"][0, 0], A)
    np.testing.assert_array_equal(y["masks"][0, 1], B)
    assert not y["masks"][0, 2].any() and not y["masks"][1].any()  # padding and the empty image
    assert y["valid"].tolist() == [[True, True, False], [False, False, False]]
    assert y["classes"].tolist() == [[1, 2, -1], [-1, -1, -1]] and y["classes"].dtype == np.int32
    assert stats == {"boxes_not_encoded": 0}
    boxes, masks, labels = enc.decode({k: v[0] for k, v in y.items()})
    np.testing.assert_array_equal(boxes, [[0, 0, 3, 3], [2, 1, 5, 4]])  # B touches the border: x_max = W
    assert masks.dtype == bool and labels.tolist() == [1, 2]


def test_instance_overflow_and_dtype():
    small = rect((4, 5), 0, 1, 0, 1)
    stats = {}
    y = InstanceMaskEncoder(1, overflow="largest", mask_dtype=bool).encode_batch([make([small, B], [1, 2])], (4, 5),
                                                                                 stats)
    assert y["masks"].dtype == bool and y["classes"].tolist() == [[2]] and stats["boxes_not_encoded"] == 1
    np.testing.assert_array_equal(y["masks"][0, 0], B)
    y = InstanceMaskEncoder(1).encode_sample(make([small, B], [1, 2]), (4, 5))
    assert y["classes"].tolist() == [1]
    with pytest.raises(ValueError, match="mask_dtype must be uint8, bool or float32"):
        InstanceMaskEncoder(2, mask_dtype=np.int64)
    np.testing.assert_array_equal(masks_to_boxes(np.zeros((1, 3, 3), bool)), [[0, 0, 0, 0]])


def test_resize_label_map_nearest_hand_computed():
    labels = np.array([[1, 2], [3, 4]], np.int32)
    np.testing.assert_array_equal(resize_label_map(labels, (4, 4)), [[1, 1, 2, 2], [1, 1, 2, 2],
                                                                      [3, 3, 4, 4], [3, 3, 4, 4]])
    big = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_array_equal(resize_label_map(big, (2, 2)), [[5, 7], [13, 15]])  # the pixel under each centre
    # letterbox: a 1x2 map into 4x4 lands in rows 1-2, borders are the ignore index
    np.testing.assert_array_equal(resize_label_map(np.array([[1, 2]], np.uint8), (4, 4), mode="letterbox"),
                                  [[255] * 4, [1, 1, 2, 2], [1, 1, 2, 2], [255] * 4])


def test_resize_label_map_never_blends_and_keeps_dtype():
    labels = np.random.default_rng(0).choice([0, 7, 19, 255], size=(7, 5)).astype(np.uint8)
    for size in [(13, 11), (3, 2), (7, 5), (20, 3)]:
        for mode in ["stretch", "letterbox"]:
            out = resize_label_map(labels, size, mode)
            assert out.shape == size and out.dtype == np.uint8
            assert set(np.unique(out)) <= {0, 7, 19, 255}
    stack = np.stack([A, B])
    out = resize_label_map(stack, (8, 10), ignore_index=0)
    assert out.shape == (2, 8, 10) and out.dtype == bool
    np.testing.assert_array_equal(out[1], np.kron(B, np.ones((2, 2), bool)))
    with pytest.raises(ValueError, match="ignore_index=255 does not fit labels of dtype bool"):
        resize_label_map(stack, (8, 8), mode="letterbox")
    with pytest.raises(ValueError, match="integer or bool array"):
        resize_label_map(np.zeros((2, 2), np.float32), (4, 4))
    with pytest.raises(ValueError, match="unknown resize mode 'crop'"):
        resize_label_map(labels, (4, 4), mode="crop")


@pytest.mark.parametrize("src,dst", [((30, 50), (32, 32)), ((50, 30), (32, 48)), ((7, 5), (13, 11)), ((1, 9), (4, 4))])
def test_resize_label_map_letterbox_matches_resize_image(src, dst):
    image = np.full((*src, 3), 200, np.uint8)
    resized, _ = sl.resize_image(image, dst, "letterbox", pad_value=0)
    labels = resize_label_map(np.ones(src, np.uint8), dst, "letterbox", ignore_index=0)
    np.testing.assert_array_equal(labels == 1, resized[..., 0] > 0)


def test_encode_semantic_mask_pure_function():
    y = encode_semantic_mask(np.zeros((0, 2, 3), bool), np.zeros(0), num_classes=2)
    np.testing.assert_array_equal(y, np.zeros((2, 3)))
    with pytest.raises(sl.EncodingError, match="got 1 masks but 2 labels"):
        encode_semantic_mask(np.stack([A]), np.array([1, 1]), num_classes=3)

"""PaddedBoxEncoder: padded box lists in a declared format, against hand-computed arrays."""

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import PaddedBoxEncoder, decode_padded_boxes, encode_padded_boxes

PAD = [-1.0, -1.0, -1.0, -1.0]


def make(boxes, labels, **kw):
    return sl.Sample("img.jpg", boxes=np.array(boxes, np.float32).reshape(-1, 4), labels=labels, **kw)


def test_batch_with_border_box_and_empty_image():
    enc = PaddedBoxEncoder(max_boxes=3)
    samples = [make([[10, 20, 50, 80], [0, 0, 224, 224]], [3, 1]), make([], [])]
    stats = {}
    y = enc.encode_batch(samples, (224, 224), stats)
    assert set(y) == {"boxes", "classes"}
    assert y["boxes"].dtype == np.float32 and y["classes"].dtype == np.float32
    assert y["boxes"].shape == (2, 3, 4) and y["classes"].shape == (2, 3)
    np.testing.assert_array_equal(y["boxes"][0], [[10, 20, 50, 80], [0, 0, 224, 224], PAD])
    np.testing.assert_array_equal(y["classes"][0], [3, 1, -1])
    np.testing.assert_array_equal(y["boxes"][1], [PAD, PAD, PAD])  # no objects: all padding
    np.testing.assert_array_equal(y["classes"][1], [-1, -1, -1])
    assert stats == {"boxes_not_encoded": 0}


# box [10, 20, 50, 80] (XYXY pixels) in an image of H=100, W=200
FORMATS = {
    "xyxy": [10, 20, 50, 80],
    "xywh": [10, 20, 40, 60],
    "coco": [10, 20, 40, 60],
    "cxcywh": [30, 50, 40, 60],
    "rel_xyxy": [0.05, 0.2, 0.25, 0.8],
    "rel_xywh": [0.05, 0.2, 0.2, 0.6],
    "rel_cxcywh": [0.15, 0.5, 0.2, 0.6],
    "yolo": [0.15, 0.5, 0.2, 0.6],
    "yxyx": [20, 10, 80, 50],
    "rel_yxyx": [0.2, 0.05, 0.8, 0.25],
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_box_format_and_round_trip(fmt):
    enc = PaddedBoxEncoder(max_boxes=2, box_format=fmt)
    y = enc.encode_sample(make([[10, 20, 50, 80]], [7]), (100, 200))
    np.testing.assert_allclose(y["boxes"][0], FORMATS[fmt], rtol=1e-6)
    np.testing.assert_array_equal(y["boxes"][1], PAD)
    np.testing.assert_array_equal(y["classes"], [7, -1])
    boxes, labels = enc.decode(y, (100, 200))
    np.testing.assert_allclose(boxes, [[10, 20, 50, 80]], rtol=1e-5)
    assert labels.tolist() == [7] and labels.dtype == np.int64


def test_overflow_first_and_largest_count_not_encoded():
    boxes = [[0, 0, 1, 1], [0, 0, 10, 10], [0, 0, 2, 2], [0, 0, 5, 10]]  # areas 1, 100, 4, 50
    stats = {}
    y = PaddedBoxEncoder(max_boxes=2).encode_batch([make(boxes, [0, 1, 2, 3])], (20, 20), stats)
    np.testing.assert_array_equal(y["boxes"][0], boxes[:2])
    np.testing.assert_array_equal(y["classes"][0], [0, 1])
    assert stats["boxes_not_encoded"] == 2
    y = PaddedBoxEncoder(max_boxes=2, overflow="largest").encode_batch([make(boxes, [0, 1, 2, 3])], (20, 20), stats)
    np.testing.assert_array_equal(y["boxes"][0], [boxes[1], boxes[3]])  # the two largest, in sample order
    np.testing.assert_array_equal(y["classes"][0], [1, 3])
    assert stats["boxes_not_encoded"] == 4


@pytest.mark.parametrize("overflow", ["first", "largest"])
def test_vectorised_batch_equals_sample_by_sample(overflow):
    rng = np.random.default_rng(0)
    samples = []
    for n in [3, 0, 5, 1, 2]:
        xy = rng.uniform(0, 50, (n, 2))
        wh = rng.uniform(1, 40, (n, 2))
        samples.append(make(np.concatenate([xy, xy + wh], 1), rng.integers(0, 4, n)))
    enc = PaddedBoxEncoder(max_boxes=2, box_format="rel_cxcywh", overflow=overflow)
    stats = {}
    y = enc.encode_batch(samples, (100, 100), stats)
    for i, s in enumerate(samples):
        one = enc.encode_sample(s, (100, 100))
        np.testing.assert_array_equal(y["boxes"][i], one["boxes"])
        np.testing.assert_array_equal(y["classes"][i], one["classes"])
    assert stats["boxes_not_encoded"] == 1 + 3


def test_keras_hub_keys_and_output_shape():
    enc = PaddedBoxEncoder(max_boxes=4, box_format="yxyx", classes_key="labels", pad_value=-1)
    assert enc.output_shape == {"boxes": (4, 4), "labels": (4,)}
    assert enc.dtype == {"boxes": np.float32, "labels": np.float32}
    y = enc.encode_batch([make([[1, 2, 3, 4]], [0])], (8, 8))
    assert set(y) == {"boxes", "labels"}
    np.testing.assert_array_equal(y["boxes"][0, 0], [2, 1, 4, 3])
    assert "classes_key='labels'" in repr(enc) and "max_boxes=4" in repr(enc) and "'yxyx'" in repr(enc)


def test_pure_functions_and_errors():
    b, c, dropped = encode_padded_boxes([], [], (10, 10), max_boxes=2)
    assert b.shape == (0, 2, 4) and c.shape == (0, 2) and dropped == 0
    boxes, labels = decode_padded_boxes(np.full((3, 4), -1.0), np.full(3, -1.0), (10, 10))
    assert boxes.shape == (0, 4) and labels.shape == (0,)
    with pytest.raises(ValueError, match="max_boxes must be >= 1"):
        PaddedBoxEncoder(max_boxes=0)
    with pytest.raises(ValueError, match=r"unknown box format 'xyz'; available: xyxy.*yxyx"):
        PaddedBoxEncoder(box_format="xyz")
    with pytest.raises(ValueError, match="overflow must be one of"):
        PaddedBoxEncoder(overflow="random")
    with pytest.raises(ValueError, match="needs image_size"):
        decode_padded_boxes(np.zeros((1, 4)), np.zeros(1), None, "rel_xyxy")

"""AnchorGridEncoder: multi-scale YOLO v2/v3 grids, against hand-computed arrays."""

import math

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import (
    YOLOV3_ANCHORS,
    YOLOV3_STRIDES,
    AnchorGridEncoder,
    decode_anchor_grids,
    encode_anchor_grids,
)

# a 64x64 input; scale 0: stride 8 (8x8 cells) with anchors 8x8 and 16x16; scale 1: stride 16 (4x4) with 32x32
ANCHORS = [[(8, 8), (16, 16)], [(32, 32)]]
STRIDES = [8, 16]


def make(boxes, labels=None):
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return sl.Sample("img.jpg", boxes=boxes, labels=np.zeros(len(boxes)) if labels is None else labels)


def encoder(**kw):
    kw.setdefault("num_classes", 1)
    return AnchorGridEncoder(ANCHORS, STRIDES, image_size=(64, 64), **kw)


def test_hand_computed_image_coding():
    # box A: 8x8 -> anchor (8, 8) of scale 0, centre (8, 8) -> cell (1, 1)
    # box B: 30x34 -> IoU with 32x32 is 960/1084, with 16x16 256/1020 -> scale 1, centre (15, 17) -> cell (row 1, col 0)
    g0, g1 = encoder().encode_sample(make([[4, 4, 12, 12], [0, 0, 30, 34]]), (64, 64))
    assert g0.shape == (8, 8, 2, 5) and g1.shape == (4, 4, 1, 5) and g0.dtype == np.float32
    expected0 = np.zeros((8, 8, 2, 5), np.float32)
    expected0[1, 1, 0] = [0.125, 0.125, 0.125, 0.125, 1]  # x, y, w, h relative to the image, obj
    expected1 = np.zeros((4, 4, 1, 5), np.float32)
    expected1[1, 0, 0] = [15 / 64, 17 / 64, 30 / 64, 34 / 64, 1]
    np.testing.assert_array_equal(g0, expected0)
    np.testing.assert_allclose(g1, expected1, rtol=1e-6)


def test_hand_computed_cell_coding_with_classes():
    g0, g1 = encoder(coding="cell", num_classes=3).encode_sample(
        make([[4, 4, 12, 12], [0, 0, 30, 34]], [2, 0]), (64, 64))
    assert g0.shape == (8, 8, 2, 8)
    expected0 = np.zeros((8, 8, 2, 8), np.float32)
    expected0[1, 1, 0] = [0.0, 0.0, 0.0, 0.0, 1, 0, 0, 1]  # centre on the cell corner, size = anchor
    expected1 = np.zeros((4, 4, 1, 8), np.float32)
    expected1[1, 0, 0] = [15 / 16, 17 / 16 - 1, math.log(30 / 32), math.log(34 / 32), 1, 1, 0, 0]
    np.testing.assert_allclose(g0, expected0, atol=1e-7)
    np.testing.assert_allclose(g1, expected1, rtol=1e-6, atol=1e-7)


def test_border_boxes_stay_inside_the_grid():
    # 60x60 input: ceil(60 / 8) = 8 cells; the box touching the right/bottom border lands in cell 7
    enc = AnchorGridEncoder([[(8, 8)]], [8], num_classes=1, image_size=(60, 60))
    (g,) = enc.encode_sample(make([[52, 52, 60, 60], [-6, -6, 4, 4]]), (60, 60))
    assert g.shape == (8, 8, 1, 5)
    assert g[7, 7, 0, 4] == 1 and g[0, 0, 0, 4] == 1 and g[..., 4].sum() == 2
    np.testing.assert_allclose(g[7, 7, 0, :4], [56 / 60, 56 / 60, 8 / 60, 8 / 60], rtol=1e-6)
    np.testing.assert_allclose(g[0, 0, 0, :4], [2 / 60, 2 / 60, 4 / 60, 4 / 60], rtol=1e-6)  # clipped to [0, 0, 4, 4]


def test_two_boxes_in_one_cell():
    # same cell, same anchor: the collision policy picks one, the other is counted
    boxes = [[0, 0, 8, 8], [1, 1, 7, 7]]
    for collision, kept in [("largest", 0), ("first", 0), ("last", 1)]:
        stats = {}
        g0, _ = encoder(collision=collision).encode_batch([make(boxes)], (64, 64), stats)
        assert stats["boxes_not_encoded"] == 1
        b = np.array(boxes[kept], np.float64)
        np.testing.assert_allclose(g0[0, 0, 0, 0], [(b[0] + b[2]) / 128, (b[1] + b[3]) / 128,
                                                    (b[2] - b[0]) / 64, (b[3] - b[1]) / 64, 1], rtol=1e-6)
    # same cell, different anchors (8x8 and 12x12 -> 16x16): both kept
    stats = {}
    g0, _ = encoder().encode_batch([make([[0, 0, 8, 8], [0, 0, 12, 12]])], (64, 64), stats)
    assert stats["boxes_not_encoded"] == 0
    assert g0[0, 0, 0, 0, 4] == 1 and g0[0, 0, 0, 1, 4] == 1 and g0[..., 4].sum() == 2


def test_empty_image_and_zero_size_boxes():
    stats = {}
    g0, g1 = encoder(num_classes=4).encode_batch([make([]), make([[5, 5, 5, 9]])], (64, 64), stats)
    assert g0.shape == (2, 8, 8, 2, 9) and g1.shape == (2, 4, 4, 1, 9)
    assert not g0.any() and not g1.any()
    assert stats["boxes_not_encoded"] == 1  # the box without width


@pytest.mark.parametrize("coding", ["image", "cell"])
def test_round_trip(coding):
    enc = AnchorGridEncoder(YOLOV3_ANCHORS, YOLOV3_STRIDES, num_classes=5, image_size=(416, 416), coding=coding)
    rng = np.random.default_rng(1)
    for _ in range(10):
        n = int(rng.integers(0, 12))
        xy = rng.uniform(0, 380, (n, 2))
        wh = rng.uniform(2, 300, (n, 2))
        boxes = np.clip(np.concatenate([xy, xy + wh], 1), 0, 416).astype(np.float32)
        labels = rng.integers(0, 5, n)
        stats = {}
        grids = enc.encode_batch([make(boxes, labels)], (416, 416), stats)
        got, scores, got_labels = enc.decode(tuple(g[0] for g in grids))
        assert len(got) + stats["boxes_not_encoded"] == n
        assert (scores == 1).all()
        for box, label in zip(got, got_labels):  # every decoded box is one of the input boxes
            match = np.abs(boxes - box).max(axis=1) < 1e-3
            assert match.any() and label in labels[match]


def test_round_trip_exact_and_dict_output():
    enc = encoder(num_classes=2, names=("p3", "p4"))
    assert enc.output_shape == {"p3": (8, 8, 2, 7), "p4": (4, 4, 1, 7)}
    boxes = np.array([[4, 4, 12, 12], [0, 0, 30, 34], [40, 40, 56, 56]], np.float32)
    y = enc.encode_batch([make(boxes, [1, 0, 1]), make([])], (64, 64))
    assert set(y) == {"p3", "p4"} and y["p3"].shape == (2, 8, 8, 2, 7)
    got, _scores, labels = enc.decode({k: v[0] for k, v in y.items()})
    order = np.lexsort(got.T[::-1])
    np.testing.assert_allclose(got[order], boxes[np.lexsort(boxes.T[::-1])], atol=1e-4)
    assert sorted(labels.tolist()) == [0, 1, 1]


def test_vectorised_batch_equals_sample_by_sample():
    rng = np.random.default_rng(2)
    samples = []
    for n in [4, 0, 7, 2]:
        xy = rng.uniform(0, 60, (n, 2))
        samples.append(make(np.concatenate([xy, xy + rng.uniform(1, 30, (n, 2))], 1), rng.integers(0, 3, n)))
    enc = encoder(num_classes=3)
    batch = enc.encode_batch(samples, (64, 64))
    for i, s in enumerate(samples):
        for b, one in zip(batch, enc.encode_sample(s, (64, 64))):
            np.testing.assert_array_equal(b[i], one)


def test_errors_and_repr():
    enc = encoder()
    with pytest.raises(sl.EncodingError, match=r"built for image_size=\(64, 64\).*\(32, 32\)"):
        enc.encode_batch([make([])], (32, 32))
    with pytest.raises(sl.EncodingError, match="label 3 is out of range for num_classes=3"):
        encoder(num_classes=3).encode_sample(make([[0, 0, 4, 4]], [3]), (64, 64))
    with pytest.raises(ValueError, match="2 anchor sets but 1 strides"):
        AnchorGridEncoder(ANCHORS, [8], image_size=(64, 64))
    with pytest.raises(ValueError, match="positive widths and heights"):
        AnchorGridEncoder([[(0, 8)]], [8], image_size=(64, 64))
    with pytest.raises(ValueError, match="names must be 2 distinct names"):
        encoder(names=("a",))
    assert "strides=(8, 16)" in repr(enc) and "(8, 8, 2, 5)" in repr(enc)
    grids, dropped = encode_anchor_grids([], [], (64, 64), ANCHORS, STRIDES)
    assert [g.shape for g in grids] == [(0, 8, 8, 2, 5), (0, 4, 4, 1, 5)] and dropped == 0
    boxes, scores, labels = decode_anchor_grids([g[0] for g in encoder().encode_batch([make([])], (64, 64))],
                                                (64, 64), ANCHORS, STRIDES)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)

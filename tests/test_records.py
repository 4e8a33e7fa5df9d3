import dataclasses
import itertools

import numpy as np
import pytest

import seqloaders as sl

BOXES = np.array([[10, 20, 50, 80], [0, 0, 1, 1], [99.5, 30.25, 100, 60]], np.float32)
SIZE = (120, 100)


@pytest.mark.parametrize("fmt", list(sl.BoxFormat))
def test_every_format_round_trips_through_xyxy(fmt):
    out = sl.convert_boxes(BOXES, "xyxy", fmt, image_size=SIZE)
    back = sl.convert_boxes(out, fmt, "xyxy", image_size=SIZE)
    np.testing.assert_allclose(back, BOXES, rtol=0, atol=1e-4)


@pytest.mark.parametrize("src,dst", list(itertools.permutations(list(sl.BoxFormat), 2)))
def test_pairwise_round_trip(src, dst):
    start = sl.convert_boxes(BOXES, "xyxy", src, image_size=SIZE)
    there = sl.convert_boxes(start, src, dst, image_size=SIZE)
    np.testing.assert_allclose(sl.convert_boxes(there, dst, src, image_size=SIZE), start, atol=1e-4)


def test_known_values():
    xyxy = np.array([[10, 20, 50, 80]], np.float32)
    np.testing.assert_array_equal(sl.convert_boxes(xyxy, "xyxy", "xywh"), [[10, 20, 40, 60]])
    np.testing.assert_array_equal(sl.convert_boxes(xyxy, "xyxy", "cxcywh"), [[30, 50, 40, 60]])
    np.testing.assert_allclose(sl.convert_boxes(xyxy, "xyxy", "yolo", image_size=(100, 200)),
                               [[0.15, 0.5, 0.2, 0.6]])
    np.testing.assert_allclose(sl.convert_boxes(xyxy, "pascal_voc", "rel_xyxy", image_size=(100, 200)),
                               [[0.05, 0.2, 0.25, 0.8]])


def test_relative_format_needs_image_size():
    with pytest.raises(ValueError, match="image_size"):
        sl.convert_boxes(BOXES, "xyxy", "rel_xyxy")


def test_unknown_format_lists_the_available_ones():
    with pytest.raises(ValueError, match="available: xyxy, xywh"):
        sl.convert_boxes(BOXES, "xyxy", "xyz")


def test_sample_coerces_types_and_validates_shapes():
    s = sl.Sample("a.jpg", boxes=[[1, 2, 3, 4]], labels=[2], image_size=(10, 20),
                  attributes={"blur": [1]})
    assert s.boxes.dtype == np.float32 and s.boxes.shape == (1, 4)
    assert s.labels.dtype == np.int64
    assert s.image_size == (10, 20)
    empty = sl.Sample("b.jpg")
    assert empty.num_boxes == 0 and empty.boxes.shape == (0, 4) and empty.labels.shape == (0,)
    with pytest.raises(ValueError, match="labels"):
        sl.Sample("a.jpg", boxes=[[1, 2, 3, 4]], labels=[1, 2])
    with pytest.raises(ValueError, match="attribute 'blur'"):
        sl.Sample("a.jpg", boxes=[[1, 2, 3, 4]], labels=[0], attributes={"blur": [1, 2]})
    with pytest.raises(ValueError, match="boxes"):
        sl.Sample("a.jpg", boxes=[[1, 2, 3]])


def test_sample_is_frozen_and_select_keeps_attributes_aligned():
    s = sl.Sample("a.jpg", boxes=BOXES, labels=[0, 1, 2], attributes={"blur": np.array([5, 6, 7])})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.image = "b.jpg"
    t = s.select(np.array([True, False, True]))
    np.testing.assert_array_equal(t.labels, [0, 2])
    np.testing.assert_array_equal(t.attributes["blur"], [5, 7])
    assert s.num_boxes == 3  # unchanged
    assert s == sl.Sample("a.jpg", boxes=BOXES, labels=[0, 1, 2], attributes={"blur": np.array([5, 6, 7])})
    assert s != t
    assert "boxes=3" in repr(s) and "attributes=['blur']" in repr(s)

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


def test_loaded_sample_checks_its_frame():
    """The output-frame record: every target in the loaded image's pixels, checked against its size."""
    masks = np.zeros((1, 4, 6), bool)
    ok = sl.LoadedSample("a.jpg", boxes=[[0, 0, 2, 2]], labels=[3], image_size=(4, 6), masks=masks,
                         valid_region=np.ones((4, 6), bool), attributes={"blur": [1]})
    assert ok.sources == ("a.jpg",) and ok.boxes.dtype == np.float32 and ok.labels.dtype == np.int64
    with pytest.raises(ValueError, match=r"a.jpg: masks must be an \(1, 4, 5\) array"):
        ok.replace(image_size=(4, 5), valid_region=None)
    with pytest.raises(ValueError, match=r"valid_region must have shape \(4, 6\)"):
        ok.replace(valid_region=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="labels must have shape"):
        sl.LoadedSample("a.jpg", boxes=[[0, 0, 2, 2]], labels=[1, 2], image_size=(4, 6))
    with pytest.raises(ValueError, match="every attribute must have 1 entries"):
        ok.replace(attributes={"blur": [1, 2]})


def test_loaded_sample_select_keeps_every_target_aligned():
    masks = np.zeros((3, 4, 6), bool)
    for k in range(3):
        masks[k, k] = True
    kp = np.arange(3 * 2 * 3, dtype=np.float32).reshape(3, 2, 3)
    s = sl.LoadedSample("a.jpg", boxes=np.arange(12).reshape(3, 4), labels=[0, 1, 2], image_size=(4, 6),
                        masks=masks, keypoints=kp, attributes={"id": np.array([10, 11, 12])},
                        valid_region=np.ones((4, 6), bool), sources=("a.jpg", "b.jpg"))
    out = s.select(np.array([True, False, True]))
    assert out.labels.tolist() == [0, 2] and out.attributes["id"].tolist() == [10, 12]
    np.testing.assert_array_equal(out.masks, masks[[0, 2]])
    np.testing.assert_array_equal(out.keypoints, kp[[0, 2]])
    assert out.sources == ("a.jpg", "b.jpg") and out.valid_region is s.valid_region
    assert s == s.replace() and out != s


def test_a_sample_taken_as_loaded():
    masks = np.ones((1, 4, 6), bool)
    sample = sl.Sample("a.jpg", boxes=[[0, 0, 2, 2]], labels=[1], image_size=(4, 6), masks=masks,
                       meta={"line": 7})
    loaded = sl.records.as_loaded(sample)
    assert isinstance(loaded, sl.LoadedSample) and loaded.meta == {"line": 7} and loaded.valid_region is None
    np.testing.assert_array_equal(loaded.masks, masks)
    assert sl.records.as_loaded(loaded) is loaded
    with pytest.raises(ValueError, match="has no image_size"):
        sl.LoadedSample.from_sample(sl.Sample("b.jpg"))
    assert sl.LoadedSample.from_sample(sl.Sample("b.jpg"), (2, 3)).image_size == (2, 3)


def test_unchecked_is_the_fast_constructor():
    boxes, labels = np.zeros((1, 4), np.float32), np.zeros((1,), np.int64)
    fast = sl.Sample.unchecked("a.jpg", boxes, labels, (4, 6), meta={"line": 2})
    assert fast == sl.Sample("a.jpg", boxes=boxes, labels=labels, image_size=(4, 6))
    assert fast.boxes is boxes and fast.attributes == {} and fast.meta == {"line": 2}


def test_a_samples_masks_are_always_a_mask_source():
    """An array given as masks becomes ArrayMasks (source pixels); the rendered array is the LoadedSample's."""
    array = np.zeros((2, 4, 6), np.uint8)
    array[1, 2, 3] = 5
    sample = sl.Sample("a.jpg", boxes=[[0, 0, 1, 1], [2, 2, 4, 4]], labels=[0, 1], masks=array)
    assert isinstance(sample.masks, sl.records.ArrayMasks) and sample.masks.image_size == (4, 6)
    assert sample.masks.decode().dtype == bool and sample.masks.decode().sum() == 1
    picked = sample.select(np.array([False, True]))
    assert isinstance(picked.masks, sl.records.ArrayMasks) and picked.masks[0, 2, 3]
    np.testing.assert_array_equal(sl.decode_masks(picked), array[1:] != 0)
    loaded = sl.LoadedSample.from_sample(sample, (4, 6))
    assert isinstance(loaded.masks, np.ndarray) and loaded.masks.shape == (2, 4, 6)
    assert "masks=(2, 4, 6)" in repr(sample)

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import seqloaders as sl
from seqloaders.masks import (
    MaskFiles,
    MaskSource,
    SegmentationMasks,
    decode_masks,
    encode_rle,
    mask_boxes,
    rle_counts_from_string,
)


@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 9))))
def test_rle_encoding_is_byte_identical_to_pycocotools(mask):
    from pycocotools import mask as mask_api

    ours = encode_rle(mask)
    theirs = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert ours["counts"].encode("ascii") == theirs["counts"] and ours["size"] == list(theirs["size"])
    assert rle_counts_from_string(ours["counts"]) == encode_rle(mask, compressed=False)["counts"]
    for rle in (ours, encode_rle(mask, compressed=False)):
        kind = "rle" if isinstance(rle["counts"], str) else "urle"
        data = {"size": rle["size"], "counts": rle["counts"].encode() if kind == "rle" else np.array(rle["counts"])}
        np.testing.assert_array_equal(SegmentationMasks([(kind, data)], mask.shape).decode()[0], mask)


def test_long_runs_use_several_characters():
    mask = np.zeros((300, 200), bool)
    mask[100:250, 20:180] = True
    counts = encode_rle(mask)["counts"]
    assert rle_counts_from_string(counts) == encode_rle(mask, compressed=False)["counts"]


@pytest.mark.parametrize("counts, message", [("0\x7f", "invalid character"), ("0P", "truncated")])
def test_invalid_compressed_rle(counts, message):
    with pytest.raises(ValueError, match=message):
        rle_counts_from_string(counts)


def test_mask_boxes_cover_the_pixels():
    masks = np.zeros((2, 5, 6), bool)
    masks[0, 4, 5] = True
    np.testing.assert_array_equal(mask_boxes(masks), [[5, 4, 6, 5], [0, 0, 0, 0]])


def test_select_and_pickle_keep_entries_aligned():
    poly = ("polygon", [np.array([0.0, 0, 4, 0, 4, 4])])
    rle = ("urle", {"size": [5, 6], "counts": np.array([7, 3, 20], np.uint32)})
    masks = SegmentationMasks([poly, rle], (5, 6))
    assert isinstance(masks, MaskSource) and len(masks) == 2 and "kinds=['polygon', 'urle']" in repr(masks)
    np.testing.assert_array_equal(masks.select(np.array([False, True])).decode(), masks.decode()[1:])
    np.testing.assert_array_equal(masks.select([1, 0]).decode(), masks.decode()[::-1])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(masks)).decode(), masks.decode())
    files = pickle.loads(pickle.dumps(MaskFiles(["a.png", "b.png"], (3, 4))))
    assert files.select([1]).paths == ("b.png",) and files.image_size == (3, 4)
    with pytest.raises(ValueError, match="unknown segmentation kind"):
        SegmentationMasks([("bitmap", None)], (2, 2))
    with pytest.raises(ValueError, match="boolean selection must have 2 entries"):
        masks.select(np.array([True]))


def test_decode_masks_checks_the_sample():
    sample = sl.Sample("a.jpg", boxes=[[0, 0, 1, 1]], labels=[0], image_size=(4, 4))
    with pytest.raises(ValueError, match="has 1 boxes but no masks"):
        decode_masks(sample)
    masks = SegmentationMasks([], (4, 4))
    with pytest.raises(ValueError, match="1 boxes but 0 masks"):
        decode_masks(sample.replace(masks=masks))
    assert decode_masks(sl.Sample("a.jpg", image_size=(4, 4))).shape == (0, 4, 4)
    assert decode_masks(masks).shape == (0, 4, 4)


def test_rendered_masks_are_returned_as_bool():
    rendered = np.zeros((1, 4, 4), np.uint8)
    rendered[0, 1, 1] = 3
    sample = sl.Sample("a.jpg", boxes=[[0, 0, 1, 1]], labels=[0], masks=rendered)
    out = decode_masks(sample)
    assert out.dtype == bool and out.sum() == 1
    with pytest.raises(ValueError, match=r"must be an \(N, H, W\) array, got shape \(1, 4\)"):
        sample.replace(masks=np.zeros((1, 4), bool))  # refused when the Sample is made

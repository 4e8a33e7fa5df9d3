"""ClassificationEncoder: image-level one-hot or integer labels."""

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import ClassificationEncoder, encode_labels, sample_label


def make(labels=(), **meta):
    labels = np.asarray(labels, np.int64)
    return sl.Sample("img.jpg", boxes=np.tile([[0, 0, 4, 4]], (len(labels), 1)), labels=labels, meta=meta)


def test_one_hot_and_integer_batches():
    samples = [make(label=2), make(label=0), make(label=3)]
    enc = ClassificationEncoder(num_classes=4)
    assert enc.output_shape == (4,) and enc.dtype == np.float32
    y = enc.encode_batch(samples, (8, 8))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    sparse = ClassificationEncoder(num_classes=4, one_hot=False)
    assert sparse.output_shape == () and sparse.dtype == np.int32
    y = sparse.encode_batch(samples, (8, 8))
    assert y.dtype == np.int32 and y.tolist() == [2, 0, 3]
    assert sparse.encode_sample(samples[0], (8, 8)).shape == ()
    assert enc.decode(enc.encode_sample(samples[2], (8, 8))).label == 3 and sparse.decode(np.int32(1)).label == 1
    assert "num_classes=4" in repr(enc) and "float32" in repr(enc)


def test_label_from_boxes_when_meta_is_absent():
    assert sample_label(make([2])) == 2  # one box
    assert sample_label(make([1, 1, 1])) == 1  # several objects of one class
    assert sample_label(make([1, 2], label=0)) == 0  # meta wins
    with pytest.raises(sl.EncodingError, match=r"img.jpg: no image label in meta\['label'\] and no boxes"):
        sample_label(make())
    with pytest.raises(sl.EncodingError, match="boxes of 2 classes \\[1, 2\\]"):
        sample_label(make([1, 2, 1]))
    with pytest.raises(sl.EncodingError, match=r"no image label in meta\['label'\]$"):
        sample_label(make([1]), from_boxes=False)
    assert sample_label(make(category=4), key="category") == 4


def test_errors():
    with pytest.raises(sl.EncodingError, match="label 5 is out of range for num_classes=3"):
        ClassificationEncoder(3).encode_batch([make(label=5)], (8, 8))
    with pytest.raises(sl.EncodingError, match="must be an integer class id, got 'cat'"):
        ClassificationEncoder(3).encode_sample(make(label="cat"), (8, 8))
    with pytest.raises(sl.EncodingError, match="integer class id, got True"):
        sample_label(make(label=True))
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        ClassificationEncoder(0)
    assert encode_labels([], 3).shape == (0, 3)
    assert sample_label(make(label=np.int64(2))) == 2

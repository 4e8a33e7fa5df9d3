"""Encoders compose: a dict of encoders gives a dict y, dict-valued encoders pass through the Sequence."""

import doctest
import importlib

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import (
    AnchorGridEncoder,
    ClassificationEncoder,
    HeatmapEncoder,
    HorizontalFlipAugmenter,
    KeypointEncoder,
    PaddedBoxEncoder,
)


def person(boxes, keypoints, label):
    return sl.Sample("p.jpg", boxes=np.array(boxes, np.float32).reshape(-1, 4), labels=np.zeros(len(boxes)),
                     keypoints=np.array(keypoints, np.float32).reshape(len(boxes), 2, 3), meta={"label": label})


def test_dict_of_encoders_gives_dict_y():
    samples = [person([[0, 0, 16, 16], [8, 8, 32, 32], [1, 1, 2, 2]],
                      [[[6, 10, 2], [0, 0, 0]], [[20, 20, 2], [40, 4, 2]], [[1, 1, 1], [2, 2, 1]]], 1),
               person([], np.zeros((0, 2, 3)), 0)]
    encoders = {"boxes": PaddedBoxEncoder(max_boxes=2, box_format="rel_xyxy"),
                "keypoints": KeypointEncoder(max_objects=2, num_keypoints=2),
                "heatmaps": HeatmapEncoder(num_keypoints=2, output_stride=4, sigma=1.0, image_size=(32, 32)),
                "label": ClassificationEncoder(num_classes=2)}
    stats = {}
    y = {name: enc.encode_batch(samples, (32, 32), stats) for name, enc in encoders.items()}
    assert y["boxes"]["boxes"].shape == (2, 2, 4) and y["boxes"]["classes"].shape == (2, 2)
    assert y["keypoints"].shape == (2, 2, 2, 3)
    assert y["heatmaps"].shape == (2, 8, 8, 2)
    np.testing.assert_array_equal(y["label"], [[0, 1], [1, 0]])
    np.testing.assert_allclose(y["boxes"]["boxes"][0], [[0, 0, 0.5, 0.5], [0.25, 0.25, 1, 1]])
    # row i of the padded boxes and of the padded keypoints is the same object
    np.testing.assert_array_equal(y["keypoints"][0, 1], [[20, 20, 2], [40, 4, 2]])
    assert stats == {"boxes_not_encoded": 2, "keypoints_not_encoded": 1}  # 1 box per encoder; x = 40 > W
    for name, enc in encoders.items():  # shapes agree with output_shape
        shape = enc.output_shape
        if isinstance(shape, dict):
            assert {k: v.shape[1:] for k, v in y[name].items()} == shape
        else:
            assert y[name].shape[1:] == shape


def test_sequence_passes_dict_and_tuple_targets_through(tmp_path):
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=6, image_size=(48, 64), max_faces=3)
    padded = PaddedBoxEncoder(max_boxes=5, box_format="rel_yxyx", classes_key="labels")
    seq = sl.DetectionSequence(toy.samples, batch_size=3, image_size=(64, 64), encoder=padded, shuffle=False,
                               augment=HorizontalFlipAugmenter(p=0.5), threads=1)
    x, y = seq[0]
    assert x.shape == (3, 64, 64, 3)
    assert set(y) == {"boxes", "labels"} and y["boxes"].shape == (3, 5, 4) and y["labels"].shape == (3, 5)
    _, samples = seq.load_batch(0)
    for i, s in enumerate(samples):  # the targets are the augmented boxes
        boxes, labels = padded.decode({k: v[i] for k, v in y.items()}, (64, 64))
        np.testing.assert_allclose(boxes, s.boxes, atol=1e-4)
        assert len(labels) == s.num_boxes
    anchors = AnchorGridEncoder([[(8, 8), (16, 16)], [(32, 32)]], [8, 16], image_size=(64, 64))
    seq = sl.DetectionSequence(toy.samples, batch_size=2, image_size=(64, 64), shuffle=False, threads=1,
                               encoder={"det": padded, "yolo": anchors})
    _, y = seq[0]
    assert set(y) == {"det", "yolo"} and set(y["det"]) == {"boxes", "labels"}
    assert [g.shape for g in y["yolo"]] == [(2, 8, 8, 2, 5), (2, 4, 4, 1, 5)]


@pytest.mark.parametrize("module", ["padded", "anchors", "keypoints", "classification", "masks"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"seqloaders.encoders.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_model_fit_on_nested_dict_targets(tmp_path):
    import keras

    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=4, image_size=(48, 64))
    encoder = {"det": PaddedBoxEncoder(max_boxes=4, box_format="rel_xyxy"),
               "grid": AnchorGridEncoder([[(16, 16)]], [16], image_size=(32, 32))}
    seq = sl.DetectionSequence(toy.samples, batch_size=2, image_size=(32, 32), encoder=encoder, threads=1)
    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten()(inputs)
    outputs = {"det": {"boxes": keras.layers.Reshape((4, 4))(keras.layers.Dense(16)(flat)),
                       "classes": keras.layers.Dense(4)(flat)},
               "grid": (keras.layers.Reshape((2, 2, 1, 5))(keras.layers.Dense(20)(flat)),)}
    model = keras.Model(inputs, outputs)
    model.compile("adam", loss={"det": {"boxes": "mse", "classes": "mse"}, "grid": ("mse",)})
    history = model.fit(seq, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

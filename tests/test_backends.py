"""model.fit on whatever Keras backend this process has: every task, a dict y, threads and processes.

``make test`` runs this module with the whole suite in ``.venv`` (TensorFlow, Keras' default
backend), then alone (``-m backend``) in ``.venv-jax`` and ``.venv-torch``, where TensorFlow is not
installed (``KERAS_BACKEND=jax`` / ``torch``, and ``SEQLOADERS_EXPECT_NO_TENSORFLOW=1`` so a
dependency that brings TensorFlow back fails here). Real JPEG files (and PNG masks) from the toy writers, tiny
models, two epochs each: the point is that the batches go through each backend's ``fit``, not
that the models learn.
"""

import importlib.util
import os

import keras
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import SemanticMaskEncoder

pytestmark = [pytest.mark.backend, pytest.mark.slow]

BACKEND = keras.backend.backend()
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
NUM_CLASSES = len(sl.toy.TOY_CLASSES) + 1  # background 0, toy class k -> k + 1
#: the loader's two ways of building batches off the training thread
WORKERS = {"threads": {"threads": 2}, "processes": {"processes": 2}}


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    root = tmp_path_factory.mktemp("backends")
    toys = sl.make_toy_formats(root, ["maskfolders", "yolo-pose", "classfolders"], num_images=8, seed=1)
    toys["widerface"] = sl.make_toy_dataset(root / "widerface", num_images=8, image_size=(40, 56), seed=2)
    return toys


def fit(model, seq, loss, **kwargs):
    """Two epochs of ``model.fit(seq)`` with fit's defaults; the losses, checked finite."""
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    try:
        losses = model.fit(seq, epochs=2, verbose=0, **kwargs).history["loss"]
        if seq.processes:  # the batches came from the loader's worker processes
            assert len(seq.loader._rt.processes.pids) == seq.processes
    finally:
        seq.close()
    assert len(losses) == 2 and np.isfinite(losses).all(), losses
    return losses


def features(inputs, stride):
    """A two-layer convolutional trunk: (B, H, W, 3) -> (B, H / stride, W / stride, 8)."""
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    return keras.layers.Conv2D(8, 3, strides=stride // 2, padding="same", activation="relu")(h)


def test_the_backend_is_the_one_asked_for():
    if "KERAS_BACKEND" in os.environ:
        assert os.environ["KERAS_BACKEND"] == BACKEND
    if os.environ.get("SEQLOADERS_EXPECT_NO_TENSORFLOW") == "1":
        assert not HAS_TENSORFLOW, "TensorFlow is installed in a venv meant to have none: what brought it in?"


@pytest.mark.parametrize("workers", WORKERS)
def test_detection_fit(toys, workers):
    seq = sl.DetectionSequence(toys["widerface"].samples, batch_size=4, image_size=(32, 32),
                               encoder=sl.GridEncoder(grid_size=4), augment="detection", **WORKERS[workers])
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(5, 1)(features(inputs, 8)))
    fit(model, seq, "mse")


def test_detection_fit_in_order(toys):
    """fit(shuffle=False) asks for the batches in order: the loader builds the next ones ahead."""
    seq = sl.DetectionSequence(toys["widerface"].samples, batch_size=4, image_size=(32, 32),
                               encoder=sl.GridEncoder(grid_size=4), threads=2)
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(5, 1)(features(inputs, 8)))
    fit(model, seq, "mse", shuffle=False)


@pytest.mark.parametrize("workers", WORKERS)
def test_dict_y_fit(toys, workers):
    """A multi-output model: a class map and a detection grid from the same batch, as a dict y."""
    encoder = {"classes": SemanticMaskEncoder(NUM_CLASSES), "grid": sl.GridEncoder(grid_size=4)}
    seq = sl.DetectionSequence(toys["maskfolders"].read(), batch_size=4, image_size=(32, 32), encoder=encoder,
                               augment="detection-light", **WORKERS[workers])
    _, y = seq[0]
    assert set(y) == {"classes", "grid"} and y["classes"].shape == (4, 32, 32)
    inputs = keras.Input((32, 32, 3))
    trunk = features(inputs, 2)
    grid = keras.layers.Conv2D(y["grid"].shape[-1], 1)(keras.layers.MaxPooling2D(4)(trunk))
    model = keras.Model(inputs, {"classes": keras.layers.UpSampling2D(2)(keras.layers.Conv2D(NUM_CLASSES, 1)(trunk)),
                                 "grid": grid})
    fit(model, seq, {"classes": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255),
                     "grid": "mse"})


@pytest.mark.parametrize("workers", WORKERS)
def test_segmentation_fit(toys, workers):
    seq = sl.SegmentationSequence(toys["maskfolders"].read(), num_classes=NUM_CLASSES, batch_size=4,
                                  image_size=(32, 48), augment="detection-light", **WORKERS[workers])
    inputs = keras.Input((32, 48, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(NUM_CLASSES, 1)(h))
    fit(model, seq, keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255))


@pytest.mark.parametrize("workers", WORKERS)
def test_keypoint_fit(toys, workers):
    seq = sl.KeypointSequence(toys["yolo-pose"].read(), num_keypoints=3, batch_size=4, image_size=(32, 48),
                              augment=sl.HorizontalFlipAugmenter([0, 1, 2]), **WORKERS[workers])
    inputs = keras.Input((32, 48, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="sigmoid")(features(inputs, 4)))
    fit(model, seq, "mse")


@pytest.mark.parametrize("workers", WORKERS)
def test_classification_fit(toys, workers):
    seq = sl.ClassificationSequence(toys["classfolders"].read(), num_classes=4, batch_size=4, image_size=(32, 32),
                                    **WORKERS[workers])
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(features(inputs, 4))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(pooled))
    fit(model, seq, "categorical_crossentropy")


def test_tfrecord_shards_train_without_tf_data(toys, tmp_path):
    """Writing and reading TFRecord shards needs no TensorFlow: a Sequence over TFRecordSource trains."""
    sl.write_tfrecords(toys["widerface"].samples, tmp_path / "shards", num_shards=2)
    source = sl.TFRecordSource(str(tmp_path / "shards"))
    assert len(source) == len(toys["widerface"].samples)
    seq = sl.DetectionSequence(source, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4),
                               threads=2)
    inputs = keras.Input((32, 32, 3))
    fit(keras.Model(inputs, keras.layers.Conv2D(5, 1)(features(inputs, 8))), seq, "mse")


@pytest.mark.skipif(HAS_TENSORFLOW, reason="TensorFlow is installed: tests/test_tfrecord*.py run the tf.data paths")
def test_without_tensorflow_the_tf_data_paths_name_the_extra(toys, tmp_path):
    seq = sl.DetectionSequence(toys["widerface"].samples, batch_size=4, image_size=(32, 32),
                               encoder=sl.GridEncoder(grid_size=4), threads=1)
    with pytest.raises(ImportError, match=r'seqloaders\[tf\].*pass the Sequence to model.fit'):
        sl.to_tf_dataset(seq)
    sl.write_tfrecords(toys["widerface"].samples, tmp_path / "shards", num_shards=1)
    with pytest.raises(ImportError, match=r'seqloaders\[tf\].*TFRecordSource'):
        sl.tfrecord_dataset(str(tmp_path / "shards"))
    seq.close()


@pytest.mark.skipif(importlib.util.find_spec("apache_beam") is not None, reason="Apache Beam is installed")
def test_without_beam_write_tfrecords_beam_names_the_extra(toys, tmp_path):
    with pytest.raises(ImportError, match=r'seqloaders\[beam\]'):
        sl.write_tfrecords_beam(toys["widerface"].samples, tmp_path / "shards", num_shards=1)

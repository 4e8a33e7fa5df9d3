"""Read-ahead under ``model.fit`` on whatever Keras backend this process has (``make test`` runs it
under TensorFlow, JAX and PyTorch): with fit's default ``shuffle=True`` and with ``shuffle=False``,
every batch but fit's very first is already being built when Keras asks for it.
"""

import random

import keras
import numpy as np
import pytest

import seqloaders as sl

pytestmark = [pytest.mark.backend, pytest.mark.slow]


class RecordingSequence(sl.DetectionSequence):
    """Records, for every request, whether the loader was already building that batch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests: list[tuple[int, int, bool]] = []

    def __getitem__(self, index):
        key = (self.epoch, self.start + index)
        self.requests.append((*key, key in self.loader.ahead))
        return super().__getitem__(index)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    toy = sl.make_toy_dataset(tmp_path_factory.mktemp("ahead"), num_images=24, image_size=(40, 56), seed=5)
    return sl.read_wider_face(toy.annotations, toy.images)


def tiny_model():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=8, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(5, 1, activation="sigmoid")(x))
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_finds_every_batch_built_ahead(samples, shuffle):
    seq = RecordingSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4),
                            threads=2)
    keras.utils.set_random_seed(0)
    try:
        tiny_model().fit(seq, epochs=3, verbose=0, shuffle=shuffle)
    finally:
        seq.close()
    fitted = {epoch for epoch, _, _ in seq.requests[-3 * len(seq):]}
    assert len(fitted) == 3, seq.requests  # each epoch asks for all of its 6 batches
    in_fit = [r for r in seq.requests if r[0] in fitted]
    orders = [[i for e, i, _ in in_fit if e == epoch] for epoch in sorted(fitted)]
    assert all(sorted(order) == list(range(len(seq))) for order in orders)
    if shuffle:
        assert any(order != sorted(order) for order in orders)  # Keras did shuffle the batches
    misses = [r for r in in_fit if not r[2]]
    assert len(misses) <= 1 and all(r == in_fit[0] for r in misses), in_fit


def test_a_request_off_the_predicted_order_stops_following_it(samples):
    seq = sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4))
    random.seed(1)
    seq.on_epoch_begin()
    order = list(range(len(seq)))
    random.shuffle(order)  # what Keras draws right after on_epoch_begin
    assert seq._expected == order
    seq[order[0]]
    assert seq.loader.ahead == [(0, order[1])]  # the next one it will ask for
    other = next(i for i in range(len(seq)) if i not in order[:2])
    np.testing.assert_array_equal(seq[other][0], sl.DetectionSequence(
        samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4), read_ahead=False)[other][0])
    assert seq._expected is None
    seq.close()

"""Resuming: ``seq.get_state``/``set_state`` and ``sl.BackupAndRestore``, down to a killed training script.

The kill tests run a real training script (a tiny model, ``model.fit``, real JPEGs) in a
subprocess, end it with ``os._exit`` mid-epoch after a backup, run it again, and compare a hash
of every batch the model trained on with an uninterrupted run of the same script: the batches
trained up to each backup plus those of the last run must be the uninterrupted run's, exactly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import seqloaders as sl

SCRIPT = '''
"""Train a tiny model with sl.BackupAndRestore; log a hash of every batch it trains on."""
import hashlib
import json
import os
import sys
import warnings

import numpy as np

import seqloaders as sl


class Interrupted(Exception):
    """What crash_after raises: a crash inside fit, for a test that stays in one process."""


def build_sequence(config):
    samples = list(sl.read_wider_face(config["annotations"], config["images"]))
    for position, image in config["broken"]:
        samples.insert(position, sl.Sample(image))
    return sl.DetectionSequence(samples, batch_size=config["batch_size"], image_size=(16, 16),
                                encoder=sl.GridEncoder(grid_size=2), augment="detection", seed=5,
                                **config["sequence"])


def train(config, log_path, kill_after=None, crash_after=None):
    import keras

    seq = build_sequence(config)
    log = open(log_path, "a")

    class Recorded(keras.Model):
        def train_step(self, *args):  # (data) under TensorFlow and PyTorch, (state, data) under JAX
            x, y = args[-1]
            log.write(hashlib.sha256(np.asarray(x).tobytes() + np.asarray(y).tobytes()).hexdigest() + "\\n")
            log.flush()
            return super().train_step(*args)

    class Kill(keras.callbacks.Callback):
        trained = 0

        def on_train_batch_end(self, batch, logs=None):
            self.trained += 1
            if self.trained == kill_after:
                os._exit(3)
            if self.trained == crash_after:
                raise Interrupted

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    model = Recorded(inputs, keras.layers.Conv2D(5, 3, strides=8, padding="same")(inputs))
    model.compile(optimizer="adam", loss="mse", run_eagerly=True)
    backup = sl.BackupAndRestore(seq, config["backup"], save_freq=config["save_freq"])
    try:
        model.fit(seq, epochs=config["epochs"], shuffle=False, verbose=0, callbacks=[backup, Kill()])
    finally:
        log.close()
        seq.close()
    return model, seq.report()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        config = json.load(f)
    train(config, sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
'''

# threads: 20 samples in shard 1 of 2 -> 10 per epoch, 5 batches of 2, 3 epochs = 15 steps; backups every
# 3 steps. Run 1 is killed after step 7 (epoch 1, batch 2; last backup at 6: epoch 1 after batch 0). Run 2
# resumes there, backs up inside the resumed epoch (after 3 steps) and is killed after step 4, the epoch's
# last batch, before the epoch ends. Run 3 trains what is left.
# processes: 20 samples, 5 batches of 4, 2 epochs = 10 steps; killed after step 7, resumed once.
CONFIGS = {
    "threads-read-ahead-shard-skip": {
        "sequence": {"threads": 2, "shard": [1, 2], "on_error": "skip", "read_ahead": True},
        "batch_size": 2, "epochs": 3, "save_freq": 3, "kills": [7, 4]},
    "processes-read-ahead-skip": {
        "sequence": {"processes": 2, "on_error": "skip", "read_ahead": True},
        "batch_size": 4, "epochs": 2, "save_freq": 3, "kills": [7]},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """18 toy JPEGs, a corrupt one and a missing one (so on_error="skip" replaces samples), and the script."""
    root = tmp_path_factory.mktemp("resume")
    toy = sl.make_toy_dataset(root / "toy", num_images=18, image_size=(40, 48), seed=2)
    broken = root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG after all" * 4)
    script = root / "train.py"
    script.write_text(SCRIPT)
    return {"annotations": str(toy.annotations), "images": str(toy.images), "script": str(script),
            "broken": [[3, str(broken)], [11, str(root / "gone.jpg")]]}


def _script_module(path):
    spec = importlib.util.spec_from_file_location("resume_train_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(dataset, tmp_path, name):
    config = {**{k: v for k, v in CONFIGS[name].items() if k != "kills"}, **dataset,
              "backup": str(tmp_path / "backup")}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return config, path


def _lines(path):
    with open(path) as f:
        return f.read().split()


def _run(script, config_path, log, kill_after=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "error::UserWarning"}
    args = [sys.executable, script, str(config_path), str(log)] + ([str(kill_after)] if kill_after else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_killed_training_script_resumes_on_exactly_the_batches_it_had_left(dataset, tmp_path, name):
    config, config_path = _config(dataset, tmp_path, name)
    kills, save_freq = CONFIGS[name]["kills"], config["save_freq"]
    trained = []  # the batches the model trained on and a backup kept, run after run
    for run, kill_after in enumerate(kills):
        log = tmp_path / f"killed-{run}.log"
        done = _run(dataset["script"], config_path, log, kill_after)
        assert done.returncode == 3, done.stderr[-3000:]
        lines = _lines(log)
        assert len(lines) == kill_after
        with open(tmp_path / "backup" / "state.json") as f:
            state = json.load(f)
        assert state["sequence"]["position"] > 0  # the kill came in the middle of an epoch, after a backup
        trained += lines[:kill_after // save_freq * save_freq]
    done = _run(dataset["script"], config_path, tmp_path / "last.log")
    assert done.returncode == 0, done.stderr[-3000:]
    trained += _lines(tmp_path / "last.log")
    assert not (tmp_path / "backup").exists()  # a finished run removes its backup

    reference_config = {**config, "backup": str(tmp_path / "reference-backup")}
    _, report = _script_module(dataset["script"]).train(reference_config, tmp_path / "reference.log")
    reference = _lines(tmp_path / "reference.log")
    shards = config["sequence"].get("shard", [0, 1])[1]
    num_batches = -(-len(_samples(dataset)) // shards) // config["batch_size"]
    assert len(reference) == config["epochs"] * num_batches and report.skip_events > 0
    assert len(set(reference)) == len(reference)  # every batch differs, so order and repeats show
    assert trained == reference


def _samples(dataset):
    samples = list(sl.read_wider_face(dataset["annotations"], dataset["images"]))
    for position, image in dataset["broken"]:
        samples.insert(position, sl.Sample(image))
    return samples


@pytest.mark.slow
def test_fit_resumes_mid_epoch_after_a_crash(dataset, tmp_path):
    """In one process (one thread, no read-ahead), what resuming relies on in Keras still holds.

    ``fit`` starts at ``model._initial_epoch`` set in ``on_train_begin``, and ends an epoch
    early, without a warning escaping (``filterwarnings = error``), when the Sequence has fewer
    batches left; the next epoch is whole.
    """
    module = _script_module(dataset["script"])
    sequence = {"threads": 1, "on_error": "skip", "read_ahead": False}
    config = {**dataset, "batch_size": 4, "epochs": 2, "save_freq": 3, "sequence": sequence,
              "backup": str(tmp_path / "backup")}
    uninterrupted, _ = module.train(config, tmp_path / "reference.log")
    reference = _lines(tmp_path / "reference.log")
    assert len(reference) == 10  # 2 epochs of 5 batches
    with pytest.raises(module.Interrupted):  # in fit epoch 1's second batch, backed up after its first
        module.train(config, tmp_path / "crashed.log", crash_after=7)
    assert len(_lines(tmp_path / "crashed.log")) == 7
    with open(tmp_path / "backup" / "state.json") as f:
        state = json.load(f)
    assert state["epoch"] == 1 and state["sequence"]["position"] == 1
    # what a kill in the middle of the next backup leaves: a half-written weights file and state: both ignored
    (tmp_path / "backup" / "weights-000099.weights.h5").write_bytes(b"\x89HDF\r\n half of it")
    (tmp_path / "backup" / "state.json.123.tmp").write_text('{"format": "seqloaders.Back')
    resumed, _ = module.train(config, tmp_path / "resumed.log")  # the same script again: trains what is left
    assert _lines(tmp_path / "resumed.log") == reference[6:]
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights(), strict=True):  # weights and Adam restored
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _seq(dataset, **kwargs):
    kwargs = {"batch_size": 4, "image_size": (16, 16), "encoder": sl.GridEncoder(grid_size=2), "seed": 1,
              "on_error": "skip", **kwargs}
    return sl.DetectionSequence(_samples(dataset), **kwargs)


def test_set_state_goes_on_with_the_next_batch_and_the_next_epoch_is_whole(dataset):
    seq = _seq(dataset)
    seq.on_epoch_end()
    first = [seq[i] for i in range(2)]
    state = seq.get_state()
    assert state["epoch"] == 1 and state["position"] == 2
    assert json.loads(json.dumps(state)) == state
    again = _seq(dataset)
    again.set_state(json.loads(json.dumps(state)))
    assert again.num_batches == len(again) - 2 and len(again) == len(seq)
    rest = list(again)
    assert len(rest) == len(seq) - 2
    for (x, y), i in zip(rest, range(2, len(seq)), strict=True):
        np.testing.assert_array_equal(x, seq.loader.batch(1, i)[0])
        np.testing.assert_array_equal(y, seq.loader.batch(1, i)[1])
    with pytest.raises(IndexError, match="left of epoch 1"):
        again[len(seq) - 2]
    again.on_epoch_end()
    assert again.num_batches == len(seq) and again.get_state()["epoch"] == 2
    np.testing.assert_array_equal(again[0][0], seq.loader.batch(2, 0)[0])
    assert not np.array_equal(first[0][0], again[0][0])
    assert seq.get_state(len(seq))["epoch"] == 2 and seq.get_state(len(seq))["position"] == 0  # the next start


def test_set_state_refuses_a_state_of_another_sequence(dataset):
    state = _seq(dataset).get_state(1)
    with pytest.raises(ValueError, match=r"seed=1.*seed=2"):
        _seq(dataset, seed=2).set_state(state)
    with pytest.raises(ValueError, match=r"shard=\[0, 1\].*shard=\[0, 2\]"):
        _seq(dataset, shard=(0, 2)).set_state(state)
    with pytest.raises(ValueError, match="position missing"):
        _seq(dataset).set_state({k: v for k, v in state.items() if k != "position"})
    with pytest.raises(ValueError, match="position must be"):
        _seq(dataset).get_state(99)


def test_fit_with_shuffled_batches_is_warned_about(dataset, tmp_path):
    import keras

    seq = _seq(dataset)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(5, 3, strides=8, padding="same")(inputs))
    model.compile(optimizer="sgd", loss="mse")
    keras.utils.set_random_seed(3)
    backup = sl.BackupAndRestore(seq, tmp_path / "backup")
    with warnings.catch_warnings(record=True) as caught:  # (TensorFlow's own DeprecationWarnings pass too)
        warnings.simplefilter("always")
        model.fit(seq, epochs=2, verbose=0, callbacks=[backup])
    ours = [str(w.message) for w in caught if "BackupAndRestore" in str(w.message)]
    assert len(ours) == 1 and "out of order" in ours[0] and "shuffle=False" in ours[0]
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(seq, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0, callbacks=[backup])
    with pytest.raises(TypeError, match="seqloaders Sequence"):
        sl.BackupAndRestore([1, 2], tmp_path / "backup")

"""The loading core on its own: sl.Loader without Keras, its threads and worker processes, its lifetime."""

import concurrent.futures
import errno
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import psutil
import pytest

import seqloaders as sl
from loader.test_dying_workers import FailingAugmenter  # module level: picklable into the workers
from seqloaders.loader.processes import RemoteTraceback
from seqloaders.storage.files import call_with_retries, stop_retries_when

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", NO_ALBUMENTATIONS_UPDATE="1")


class WideEncoder(sl.TargetEncoder):
    """Declares a small output but encodes a large one: the worker's slot must grow."""

    output_shape = (1,)

    def encode_sample(self, sample, image_size):
        raise NotImplementedError

    def encode_batch(self, samples, image_size, stats=None):
        return np.stack([np.full((300, 300), s.num_boxes, np.float32) for s in samples])


def _samples(toy):
    return list(sl.read_wider_face(toy.annotations, toy.images))


def _loader(samples, **kwargs):
    kwargs.setdefault("encoder", sl.GridEncoder(grid_size=4))
    return sl.Loader(samples, batch_size=kwargs.pop("batch_size", 5), image_size=(48, 48), **kwargs)


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def test_the_core_builds_batches_without_keras_or_tensorflow(toy, tmp_path):
    script = tmp_path / "nokeras.py"
    script.write_text(textwrap.dedent("""
        import sys
        sys.modules["keras"] = None  # any import of them fails
        sys.modules["tensorflow"] = None
        import numpy as np
        import seqloaders as sl

        if __name__ == "__main__":
            annotations, images, out = sys.argv[1:]
            samples = sl.read_wider_face(annotations, images)
            arrays = {}
            for name, workers in (("threads", {"threads": 2}), ("processes", {"processes": 2})):
                with sl.Loader(samples, batch_size=5, image_size=(48, 48), encoder=sl.GridEncoder(grid_size=4),
                               augment="detection", seed=7, **workers) as loader:
                    for epoch in (0, 1):
                        for index, (x, y) in enumerate(loader.iter_epoch(epoch)):
                            arrays[f"{name}-{epoch}-{index}-x"], arrays[f"{name}-{epoch}-{index}-y"] = x, y
            np.savez(out, **arrays)
            print("heavy:", sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow")
                                   and sys.modules[m] is not None))
    """))
    out = tmp_path / "batches.npz"
    run = subprocess.run([sys.executable, str(script), toy.annotations, toy.images, str(out)], capture_output=True,
                         text=True, env=ENV, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "heavy: []" in run.stdout
    seq = sl.DetectionSequence(_samples(toy), batch_size=5, image_size=(48, 48), encoder=sl.GridEncoder(grid_size=4),
                               augment="detection", seed=7)
    with np.load(out) as arrays:
        for epoch in (0, 1):
            seq.set_epoch(epoch)
            for index in range(len(seq)):
                x, y = seq[index]
                for name in ("threads", "processes"):
                    np.testing.assert_array_equal(arrays[f"{name}-{epoch}-{index}-x"], x)
                    np.testing.assert_array_equal(arrays[f"{name}-{epoch}-{index}-y"], y)


CONFIGS = {
    "native": {"augment": "detection"},
    "albumentations-dict-y": {"augment": "albumentations-detection",
                              "encoder": {"grid": sl.GridEncoder(grid_size=4), "boxes": sl.PaddedBoxEncoder(8)}},
    "uint8-letterbox-shard": {"preprocess": "uint8", "resize": "letterbox", "shard": (1, 2), "batch_size": 3},
    "slot-grows": {"encoder": WideEncoder()},
}


@pytest.mark.slow
@pytest.mark.parametrize("config", list(CONFIGS))
def test_processes_give_the_batches_threads_give(toy, config):
    samples = _samples(toy)
    reference = _loader(samples, seed=5, threads=2, **CONFIGS[config])
    with _loader(samples, seed=5, processes=2, **CONFIGS[config]) as loader:
        for epoch in (0, 1):  # in order: whole batches built ahead, each in one worker
            got = list(loader.iter_epoch(epoch))
            assert len(got) == len(reference)
            for index, (x, y) in enumerate(got):
                ex, ey = reference.batch(epoch, index)
                _assert_same(x, ex)
                _assert_same(y, ey)
        for index in (3, 0, 2):  # asked for one at a time: the workers load parts of it, encoded here
            x, y = loader.batch(1, index)
            ex, ey = reference.batch(1, index)
            _assert_same(x, ex)
            _assert_same(y, ey)
        assert loader.report() == reference.report()


@pytest.mark.slow
def test_skipped_samples_are_counted_the_same_with_processes(toy, tmp_path):
    samples = _samples(toy)
    samples[4] = sl.Sample(str(tmp_path / "gone.jpg"))
    samples[11] = sl.Sample(str(tmp_path / "gone-too.jpg"))
    reference = _loader(samples, on_error="skip", shuffle=False, threads=1)
    with _loader(samples, on_error="skip", shuffle=False, processes=2) as loader:
        for epoch in (0, 1):
            for index, (x, _) in enumerate(loader.iter_epoch(epoch)):
                np.testing.assert_array_equal(x, reference.batch(epoch, index)[0])
        report = loader.report(epoch=1)
        assert set(report.skipped) == {str(tmp_path / "gone.jpg"), str(tmp_path / "gone-too.jpg")}
        assert report == reference.report(epoch=1) and report.skip_events == 2
        with pytest.warns(UserWarning, match="gone.jpg"):
            _loader(samples, on_error="warn", shuffle=False, processes=2).batch(0, 0)


@pytest.mark.slow
def test_an_exception_in_a_worker_arrives_with_its_traceback_and_the_sample(toy):
    samples = _samples(toy)
    bad = samples[7].image
    with _loader(samples, shuffle=False, augment=FailingAugmenter(bad), processes=2) as loader, \
            pytest.raises(sl.SampleError) as info:
        list(loader.iter_epoch(0))
    error = info.value
    assert (error.image, error.batch, error.epoch) == (bad, 1, 0)
    assert "ZeroDivisionError: augmenter bug" in str(error)
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "Traceback (most recent call last)" in str(error.__cause__) and "in __call__" in str(error.__cause__)


def test_what_cannot_be_pickled_is_named(toy):
    loader = _loader(_samples(toy), augment=lambda image, bboxes, labels: {"image": image, "bboxes": bboxes,
                                                                           "labels": labels}, processes=2)
    with pytest.raises(TypeError, match=r"picklable, and augment=FunctionAugmenter\('<lambda>'\) is not.*threads="):
        loader.batch(0, 0)


def test_arguments_are_checked(toy):
    samples = _samples(toy)
    for kwargs, message in (({"processes": -1}, "processes must be >= 0"), ({"threads": 0}, "threads must be >= 1"),
                            ({"prefetch": -2}, "prefetch must be >= 0")):
        with pytest.raises(ValueError, match=message):
            _loader(samples, **kwargs)
    with pytest.raises(ValueError, match="either the loader's processes= or Keras' use_multiprocessing"):
        sl.DetectionSequence(samples, encoder=sl.GridEncoder(grid_size=4), processes=2, use_multiprocessing=True)
    assert "processes=2, prefetch=4" in repr(_loader(samples, processes=2))


def _children():
    return {c.pid for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE}


def _gone(pids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_close_context_manager_and_garbage_collection_end_the_workers(toy):
    samples = _samples(toy)
    threads_before = set(threading.enumerate())
    with _loader(samples, processes=2) as loader:
        loader.batch(0, 0)
        pids = loader._rt.processes.pids
        assert len(pids) == 2 and set(pids) <= _children()
    assert _gone(pids)
    loader.batch(0, 1)  # usable again: a new pool
    pids = loader._rt.processes.pids
    del loader
    gc.collect()
    assert _gone(pids)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [t for t in set(threading.enumerate()) - threads_before
                                           if t.name.startswith("seqloaders-collector")]:
        time.sleep(0.05)
    assert not [t.name for t in set(threading.enumerate()) - threads_before if t.name.startswith("seqloaders-coll")]


def test_a_read_ahead_nobody_waits_for_does_not_hold_up_exit(toy, tmp_path):
    script = tmp_path / "slow_exit.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        import seqloaders as sl

        class StuckStorage(sl.LocalStorage):  # every image after the first batch takes a minute to arrive
            def read(self, key):
                if not key.endswith(FIRST):
                    time.sleep(60)
                return super().read(key)

        if __name__ == "__main__":
            samples = sl.read_wider_face(sys.argv[1], sys.argv[2])
            FIRST = str(samples[0].image).rsplit("/", 1)[-1]
            loader = sl.Loader(samples, batch_size=1, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=2),
                               shuffle=False, storage=StuckStorage(), threads=1, prefetch=2)
            x, y = next(loader.iter_epoch(0))  # batches 1 and 2 are now being read ahead
            print("GOT", x.shape, flush=True)
    """))
    started = time.monotonic()
    run = subprocess.run([sys.executable, str(script), toy.annotations, toy.images], capture_output=True, text=True,
                         env=ENV, timeout=50)
    took = time.monotonic() - started
    assert run.returncode == 0 and "GOT (1, 32, 32, 3)" in run.stdout, run.stderr[-2000:]
    assert took < 30, f"the process took {took:.0f} s to exit after its work was done"


def test_retries_stop_once_nobody_waits_for_the_read():
    attempts = []

    def unreachable():
        attempts.append(time.monotonic())
        raise ConnectionResetError("connection reset by peer")

    stop = threading.Event()

    def read():
        with stop_retries_when(stop):
            return call_with_retries(unreachable, "s3://bucket/a.jpg", retries=50, backoff=0.5)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(read)
        time.sleep(0.3)
        stop.set()
        stopped = time.monotonic()
        with pytest.raises(OSError) as info:
            future.result(timeout=5)
    assert info.value.errno == errno.ECANCELED and "nobody waits" in str(info.value)
    assert time.monotonic() - stopped < 1.0 and len(attempts) <= 2


@pytest.mark.slow
def test_jax_model_fit_with_processes_has_no_fork_warning(toy, tmp_path):
    pytest.importorskip("jax")
    script = tmp_path / "fit_jax.py"
    script.write_text(textwrap.dedent("""
        import sys
        import keras
        import numpy as np
        import seqloaders as sl

        if __name__ == "__main__":
            assert keras.backend.backend() == "jax"
            samples = sl.read_wider_face(sys.argv[1], sys.argv[2])
            seq = sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4),
                                       augment="detection", processes=2)
            model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3, strides=8, padding="same")])
            model.compile(optimizer="adam", loss="mse")
            history = model.fit(seq, epochs=2, verbose=0)
            history = model.fit(seq, epochs=1, verbose=0, shuffle=False)  # in order: batches built ahead
            assert np.isfinite(history.history["loss"]).all()
            print("FIT OK", flush=True)
    """))
    run = subprocess.run([sys.executable, "-W", "always", str(script), toy.annotations, toy.images],
                         capture_output=True, text=True, env=dict(ENV, KERAS_BACKEND="jax"), timeout=240)
    assert run.returncode == 0 and "FIT OK" in run.stdout, run.stderr[-3000:]
    assert "fork" not in run.stderr, run.stderr[-3000:]

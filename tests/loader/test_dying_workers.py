"""Faults inside workers: a bad sample, a buggy augmenter or encoder, a killed worker process, Ctrl-C.

Each must reach the code that called ``model.fit`` (or iterates a Loader) as an error naming what
failed (or end the run), within seconds, leaving no process behind. The worker processes are
the Loader's own (``processes=``); Keras' ``use_multiprocessing`` is Keras' business.
"""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import cv2
import numpy as np
import psutil
import pytest
from reliability import record

import seqloaders as sl

BAD = 9  # sample position of the fault: batch 2 with batch_size=4, past the two batches Keras builds up front


class FailingAugmenter(sl.Augmenter):
    """A user augmenter with a bug that shows on one image only."""

    def __init__(self, bad_image):
        self.bad_image = bad_image

    def __call__(self, image, sample, rng):
        if sample.image == self.bad_image:
            raise ZeroDivisionError("augmenter bug")
        return image, sample


class FailingEncoder(sl.TargetEncoder):
    """One float per image (does it hold a face?); cannot encode the one bad image."""

    output_shape = (1,)

    def __init__(self, bad_image):
        self.bad_image = bad_image

    def encode_sample(self, sample, image_size):
        if sample.image == self.bad_image:
            raise KeyError("no class for this image")
        return np.array([sample.num_boxes > 0], np.float32)


def _dataset(tmp_path, fault):
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=16, seed=1)
    samples = list(sl.read_wider_face(toy.annotations, toy.images))
    if fault == "corrupt image":
        bad = tmp_path / "corrupt.jpg"
        with open(samples[BAD].image, "rb") as f:
            bad.write_bytes(f.read()[:300])  # a real JPEG, cut short
        samples[BAD] = sl.Sample(str(bad), boxes=samples[BAD].boxes, labels=samples[BAD].labels)
    return samples, samples[BAD].image


def _sequence(samples, bad_image, fault, **kwargs):
    encoder = FailingEncoder(bad_image) if fault == "encoder" else sl.GridEncoder(grid_size=4)
    augment = FailingAugmenter(bad_image) if fault == "augmenter" else None
    return sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=encoder, augment=augment,
                                shuffle=False, threads=1, **kwargs)


def _tiny_model(fault):
    import keras

    keras.utils.set_random_seed(0)
    if fault == "encoder":
        layers = [keras.layers.Conv2D(4, 3, strides=4), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)]
    else:
        layers = [keras.layers.Conv2D(5, 3, strides=8, padding="same")]
    model = keras.Sequential([keras.Input((32, 32, 3)), *layers])
    model.compile(optimizer="sgd", loss="mse")
    return model


EXPECTED = {  # fault -> (what the message says, a frame of the original traceback)
    "corrupt image": ("ImageError", "in load_sample"),
    "augmenter": ("ZeroDivisionError: augmenter bug", "in __call__"),
    "encoder": ("KeyError: 'no class for this image'", "in encode_sample"),
}


@pytest.mark.fault
@pytest.mark.parametrize("fault", list(EXPECTED))
def test_the_error_names_the_sample_and_chains_the_original(tmp_path, fault):
    samples, bad = _dataset(tmp_path, fault)
    seq = _sequence(samples, bad, fault)
    with pytest.raises(sl.SampleError) as info:
        seq[BAD // 4]
    error = info.value
    assert bad in str(error) and "batch 2, epoch 0" in str(error) and EXPECTED[fault][0] in str(error)
    assert (error.image, error.batch, error.epoch) == (bad, 2, 0)
    assert error.__cause__ is not None and error.__cause__.__traceback__ is not None
    again = pickle.loads(pickle.dumps(error))  # what a worker process sends back
    assert (again.image, again.batch, again.epoch, str(again)) == (bad, 2, 0, str(error))
    record("dying workers", f"exception in a batch ({fault}), no workers", 1,
           "SampleError naming image, batch and epoch, original chained")


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.parametrize("fault,processes", [("corrupt image", False), ("corrupt image", True),
                                             ("augmenter", True), ("encoder", False), ("encoder", True)])
def test_a_failing_batch_reaches_model_fit_with_the_sample_and_traceback(tmp_path, fault, processes):
    samples, bad = _dataset(tmp_path, fault)
    seq = _sequence(samples, bad, fault, **({"processes": 2} if processes else {"workers": 2}))
    model = _tiny_model(fault)
    with pytest.raises(Exception) as info:
        model.fit(seq, epochs=2, verbose=0)
    message = str(info.value)
    what, frame = EXPECTED[fault]
    assert bad in message and f"batch 2, epoch {seq.epoch}" in message and what in message
    assert "SampleError" in message
    # the original traceback came along: through pickling (processes) and through TensorFlow
    assert "Traceback (most recent call last)" in message and frame in message
    # a load error happens in a worker process; an encoder's error too when the batch was built ahead
    # (the Sequence follows fit's shuffled order), or in this process when the batch was split over
    # the workers and encoded here (a batch asked for out of the order it expected)
    if not processes:
        assert "RemoteTraceback" not in message
    elif fault != "encoder":
        assert "RemoteTraceback" in message
    mode = "worker processes" if processes else "worker threads"
    record("dying workers", f"exception in a batch ({fault}), {mode}, model.fit", 1,
           f"{type(info.value).__name__} from fit naming image, batch, epoch, with original traceback")


_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import keras
    import seqloaders as sl


    def slow(image, bboxes, labels):  # a user augmentation that takes its time: workers stay busy
        time.sleep(0.02)
        return {"image": image, "bboxes": bboxes, "labels": labels}


    class Ready(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 5:  # mid-epoch: both workers are building batches
                print("READY", flush=True)


    if __name__ == "__main__":  # worker processes import this file too (forkserver)
        # Ctrl-C raises KeyboardInterrupt even when this script was started with SIGINT ignored (as a
        # background job of a non-interactive shell is, and Python then installs no handler of its own)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        root, epochs = sys.argv[1], int(sys.argv[2])
        toy = sl.make_toy_dataset(root, num_images=64, seed=1)
        seq = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=2,
                                   image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4), augment=slow,
                                   processes=2)
        model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3, strides=8, padding="same")])
        model.compile(optimizer="sgd", loss="mse")
        try:
            model.fit(seq, epochs=epochs, verbose=0, callbacks=[Ready()], shuffle=False)
        except Exception as exc:
            print("FAILED", type(exc).__name__, exc, flush=True)
            sys.exit(3)
        print("FINISHED", flush=True)
""")


def _start_training(tmp_path, epochs=1000):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", NO_ALBUMENTATIONS_UPDATE="1")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "toy"), str(epochs)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    for line in proc.stdout:
        if line.startswith("READY"):
            return proc
    proc.wait(30)
    pytest.fail(f"the training script ended before it was ready:\n{proc.stderr.read()[-3000:]}")


def _workers_of(proc):
    """Every process under ``proc``, and the loader's workers: those the forkserver (a child of ``proc``) forked."""
    children = psutil.Process(proc.pid).children(recursive=True)
    workers = [c for c in children if c.ppid() != proc.pid and c.status() != psutil.STATUS_ZOMBIE]
    assert workers, f"no worker process is running: {[c.cmdline() for c in children]}"
    return children, workers


def _wait_gone(processes, timeout=10.0):
    """Those of ``processes`` still alive (zombies count as gone: their parent has exited) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for p in processes:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(p)
            except psutil.NoSuchProcess:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _finish(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"training still running {timeout} s later (a hang):\n{err[-3000:]}")
    return out, err


@pytest.mark.slow
@pytest.mark.fault
def test_a_killed_worker_process_ends_fit_with_an_error_within_seconds(tmp_path):
    proc = _start_training(tmp_path)
    try:
        everyone, live = _workers_of(proc)
        victim = max(live, key=lambda p: p.create_time())
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = _finish(proc, timeout=60)
        took = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 3, (out, err[-3000:])
    assert "FAILED" in out and "WorkerError" in out, out
    assert f"pid {victim.pid}) was killed by SIGKILL" in out, out
    assert took < 30, f"fit raised only {took:.1f} s after the kill"
    assert "while building batch" in out, out
    assert not _wait_gone(everyone), "worker processes outlived the training process"
    named = "and the batch it was building " if "while building batch" in out else ""
    record("dying workers", "worker process SIGKILL during model.fit", 1,
           f"WorkerError naming the process {named}from fit; the training process exited {took:.1f} s after the "
           "kill, no process left")


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.parametrize("target", ["process group", "main process"])
def test_ctrl_c_during_fit_with_worker_processes_leaves_no_process(tmp_path, target):
    # With Keras' pool, 1 run in 18 hung here (a worker interrupted inside the pool's queue lock); the
    # loader's workers share no lock.
    # The process used to hang at exit after the KeyboardInterrupt in about 1 attempt in 6-8 (a tf.data thread
    # still had Python to run when finalization began: README "When workers fail"); since the exit handler
    # waits for it, none of 24 did. A second attempt stays, recorded, so that a rare hang shows in
    # RELIABILITY.md without failing CI; a healthy exit takes about 2 s, so an attempt gives up after 30.
    for attempt in (1, 2):
        folder = tmp_path / f"attempt{attempt}"
        folder.mkdir()
        proc = _start_training(folder)
        try:
            everyone, _ = _workers_of(proc)
            everyone.append(psutil.Process(proc.pid))
            if target == "process group":  # what a terminal does on Ctrl-C: the workers get SIGINT too
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.send_signal(signal.SIGINT)
            sent_at = time.monotonic()
            try:
                out, err = _finish(proc, timeout=30)
            except pytest.fail.Exception:
                if attempt == 2:
                    raise
                continue
            took = time.monotonic() - sent_at
            break
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "FINISHED" not in out
    assert "KeyboardInterrupt" in err, err[-3000:]
    left = _wait_gone(everyone)
    assert not left, f"processes left after Ctrl-C: {left}"
    retried = f", after {attempt - 1} attempt(s) that hung (known issue)" if attempt > 1 else ""
    record("dying workers", f"SIGINT (Ctrl-C) to the {target} during model.fit with worker processes", attempt,
           f"KeyboardInterrupt, exited {took:.1f} s later, no orphan process{retried}")


@pytest.mark.slow
@pytest.mark.fault
def test_idle_workers_killed_end_the_next_batch_in_an_error_and_leave_nothing(tmp_path):
    """Both workers idle (waiting for a task) and SIGKILLed: the next batch fails at once, the next-but-one works."""
    samples, _ = _dataset(tmp_path, None)
    threads_before = set(threading.enumerate())
    loader = sl.Loader(samples, batch_size=1, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4), processes=2)
    me = psutil.Process()
    before = {c.pid for c in me.children(recursive=True)}
    expected = sl.Loader(samples, batch_size=1, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4)).batch(0, 3)
    loader.batch(0, 0)
    workers = [psutil.Process(pid) for pid in loader._rt.processes.pids]
    time.sleep(0.5)
    assert all(w.status() != psutil.STATUS_RUNNING for w in workers)
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    outcome = {}

    def consume():  # in a thread, so that a hang fails the test instead of stopping the suite
        try:
            loader.batch(0, 1)
        except Exception as exc:
            outcome["error"] = exc

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(30)
    assert not consumer.is_alive(), "the next batch hung after the workers were killed"
    took = time.monotonic() - killed_at
    error = outcome.get("error")
    assert isinstance(error, sl.WorkerError) and "was killed by SIGKILL" in str(error), repr(error)
    assert error.exitcode == -signal.SIGKILL and error.pid in {w.pid for w in workers}
    assert took < 2.0, f"the error came {took:.1f} s after the kill"
    x, _y = loader.batch(0, 3)  # a new pool
    np.testing.assert_array_equal(x, expected[0])
    loader.close()
    left = _wait_gone([c for c in me.children(recursive=True) if c.pid not in before
                       and "forkserver" not in " ".join(c.cmdline()) and "resource_tracker" not in
                       " ".join(c.cmdline())], timeout=10)
    assert not left, f"worker processes left: {left}"
    assert not [t.name for t in set(threading.enumerate()) - threads_before if t.name.startswith("seqloaders")]
    record("dying workers", "idle loader worker processes SIGKILLed", 1,
           f"WorkerError {took:.2f} s later; a new pool served the next batch; no process or thread left after close()")


def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    """Worker processes start by importing the main module: one that builds a Loader at import fails in them."""
    image = np.full((24, 32, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    body = textwrap.dedent(f'''
        import seqloaders as sl
        samples = [sl.Sample({str(tmp_path / "a.png")!r}, boxes=[[2, 2, 12, 12]], labels=[0])] * 4
        loader = sl.Loader(samples, batch_size=2, image_size=(16, 16), processes=1,
                           encoder=sl.GridEncoder(grid_size=2, num_classes=1))
        try:
            print(sum(len(x) for x, _ in loader.iter_epoch(0)))
        finally:
            loader.close()
    ''')
    unguarded = tmp_path / "unguarded.py"
    unguarded.write_text(body)
    proc = subprocess.run([sys.executable, str(unguarded)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert "WorkerError" in proc.stderr and "exited with code 1" in proc.stderr, proc.stderr[-3000:]
    assert 'put the script\'s work under `if __name__ == "__main__":`' in proc.stderr, proc.stderr[-3000:]
    assert "out-of-memory" not in proc.stderr
    assert "leaked shared_memory" not in proc.stderr  # the failed start in the worker released its slot
    guarded = tmp_path / "guarded.py"
    guarded.write_text("def main():\n" + textwrap.indent(body, "    ") + "\n\nif __name__ == '__main__':\n    main()\n")
    proc = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.split()[-1] == "4"

"""What a person sees when a batch fails inside TensorFlow's ``model.fit``: short, the sample first.

Every exception a ``PyDataset`` raises under ``fit`` (TensorFlow backend) reaches the caller as
the text of a ``tf.errors.UnknownError`` that TensorFlow writes itself: its header, ``str(error)``,
``traceback.format_exception(error)`` (with four frames of tf.data and Keras' adapter), its
footer. No public API changes that text, so the bound is relative: a bare
``raise RuntimeError("x")`` in ``__getitem__`` (39 lines with TensorFlow 2.21 and Keras 3.15) is
the floor, and a seqloaders error may add only the original error's own frames, the chain
separator and two frames (the Sequence's ``__getitem__`` and ``Loader.batch``), never the
loader's internals or a second copy of anything.
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import os, signal, sys, traceback
    import numpy as np
    import keras
    import seqloaders as sl

    BAD = 41  # batch 10 of 16: past the batches Keras builds (and the loader reads ahead) before fit's loop


    class Bare(keras.utils.PyDataset):  # the floor: what TensorFlow prints for any exception
        def __len__(self):
            return 16

        def __getitem__(self, index):
            if index == 10:
                raise RuntimeError("x")
            return np.zeros((4, 32, 32, 3), np.float32), np.zeros((4, 4, 4, 5), np.float32)


    class KillSelf(sl.Augmenter):
        """Kills the worker process that loads one image, as the out-of-memory killer would."""

        def __init__(self, image):
            self.image = image

        def __call__(self, image, sample, rng):
            if sample.image == self.image:
                os.kill(os.getpid(), signal.SIGKILL)
            return image, sample


    def fit(data):
        model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3, strides=8, padding="same")])
        model.compile(optimizer="sgd", loss="mse")
        try:
            model.fit(data, epochs=2, verbose=0)
        except Exception:  # printed as an uncaught exception would be
            traceback.print_exc(file=sys.stdout)
        else:
            print("NO ERROR")
        sys.stdout.flush()


    if __name__ == "__main__":  # worker processes import this file too
        root, case = sys.argv[1], sys.argv[2]
        toy = sl.make_toy_dataset(root, num_images=64, seed=1)
        samples = list(sl.read_wider_face(toy.annotations, toy.images))
        kwargs = {"processes": 2} if case.endswith(("processes", "worker")) else {}
        if case.startswith("corrupt"):
            bad = os.path.join(root, "corrupt.jpg")
            with open(samples[BAD].image, "rb") as f:
                head = f.read()[:300]  # a real JPEG, cut short
            with open(bad, "wb") as f:
                f.write(head)
            samples[BAD] = sl.Sample(bad, boxes=samples[BAD].boxes, labels=samples[BAD].labels)
        elif case == "killed worker":
            kwargs["augment"] = KillSelf(samples[BAD].image)
        if case == "bare":
            data = Bare()
        else:
            data = sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=4),
                                        shuffle=False, threads=1, on_error="raise", **kwargs)
        print("BAD", samples[BAD].image, flush=True)
        fit(data)
        if case == "bare":
            os._exit(0)  # a plain PyDataset has no exit guard: tf.data's thread can hold up the exit (not tested here)
''')

#: TensorFlow's start-up lines (absl, oneDNN, CUDA probing, CPU features), not part of the error
STARTUP = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} |To enable the following instructions)")


def _fit_output(tmp_path, case):
    """The lines a failing ``fit`` prints (start-up lines left out), and the bad image's path."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", NO_ALBUMENTATIONS_UPDATE="1")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "toy"), case], capture_output=True, text=True,
                          env=env, timeout=240, check=False)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if not STARTUP.match(line)]
    assert lines and lines[0].startswith("BAD "), "\n".join(lines[-40:])
    assert "NO ERROR" not in lines, "fit did not fail"
    return lines[1:], lines[0].split(" ", 1)[1]


def _first(lines, *words):
    return next(i for i, line in enumerate(lines) if all(w in line for w in words))


@pytest.fixture(scope="module")
def floor(tmp_path_factory):
    lines, _ = _fit_output(tmp_path_factory.mktemp("bare"), "bare")
    assert sum("RuntimeError: x" in line for line in lines) == 2  # TensorFlow's header, then the last line
    return lines


_CAMPAIGN = pytest.mark.skipif(not os.environ.get("SEQLOADERS_FUZZ_EXAMPLES"),
                               reason="one more path over the same code, for make fuzz's long campaign (keeps make "
                                      "test under its time budget)")


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.parametrize("case", ["corrupt jpeg", pytest.param("corrupt jpeg, processes", marks=_CAMPAIGN)])
def test_a_bad_sample_in_fit_is_named_first_said_once_and_short(tmp_path, floor, case):
    lines, bad = _fit_output(tmp_path, case)
    text = "\n".join(lines)
    headline = _first(lines, "SampleError: failed to load sample", bad, "(batch 10, epoch 1")
    assert headline <= _first(floor, "RuntimeError: x"), text  # right after TensorFlow's header
    assert "ImageError: cannot decode" in lines[headline], text  # why, in the same line
    # the headline twice, as TensorFlow writes any error; the original traceback once, after it
    assert sum(lines[headline] in line for line in lines) == 2, text
    assert sum("in decode_image" in line for line in lines) == 1, text
    assert _first(lines, "in decode_image") > headline
    assert ("RemoteTraceback" in text) == case.endswith("processes")
    assert not [line for line in lines if "/seqloaders/loader/" in line and "in batch" not in line], text
    assert len(lines) <= len(floor) + 22, text


@pytest.mark.slow
@pytest.mark.fault
def test_a_killed_worker_in_fit_is_one_short_error(tmp_path, floor):
    lines, _ = _fit_output(tmp_path, "killed worker")
    text = "\n".join(lines)
    headline = _first(lines, "WorkerError: a loader worker process (pid", "was killed by SIGKILL",
                      "while building batch 10 of epoch 1")
    assert headline <= _first(floor, "RuntimeError: x"), text
    assert sum("was killed by SIGKILL" in line for line in lines) == 2, text
    assert "and 3 more" in lines[headline], text  # the first image of the batch, not all four
    assert not [line for line in lines if "/seqloaders/loader/" in line and "in batch" not in line], text
    assert len(lines) <= len(floor) + 6, text

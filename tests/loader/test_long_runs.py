"""200 epochs through Keras' adapter: memory, threads, open files and processes stay flat.

The epochs run through Keras' ``PyDatasetAdapter`` (the object ``model.fit`` iterates), without a
model: with Keras' own worker threads (an ``OrderedEnqueuer`` with a new pool every epoch), and
with the loader's worker processes (one pool for the whole run, reading ahead); one real
``model.fit`` of a few epochs is in test_sequence.py. After the warm-up epochs (pools, caches and
allocators settle), every 50 epochs and at the end the process is measured; a leak of one batch,
one thread, one pipe or one process per epoch breaks the bounds many times over.
"""

import os
import threading
import time

import numpy as np
import psutil
import pytest
from reliability import record

import seqloaders as sl

EPOCHS = 200
WARMUP = 20
BATCH_MIB = 8 * 96 * 96 * 3 * 4 / 2**20  # one float32 batch: 0.84 MiB
# glibc grows its per-thread arenas for a while (threads: about +14 MiB by epoch 200, flattening out, while
# tracemalloc sees no growth); one leaked batch every epoch would add (EPOCHS - WARMUP) * BATCH_MIB = 150 MiB
MAX_RSS_GROWTH_MIB = 32


def _measure():
    me = psutil.Process()
    children = me.children(recursive=True)
    return {
        "rss_mib": me.memory_info().rss / 2**20,
        "os_threads": me.num_threads(),
        "py_threads": threading.active_count(),
        "fds": len(os.listdir("/proc/self/fd")),
        "children": len(children),
        "zombies": sum(1 for c in children if c.status() == psutil.STATUS_ZOMBIE),
    }


_CAMPAIGN = pytest.mark.skipif(not os.environ.get("SEQLOADERS_FUZZ_EXAMPLES"),
                               reason="one more path over the same code, for make fuzz's long campaign (keeps make "
                                      "test under its time budget)")


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.parametrize("processes", [pytest.param(False, marks=_CAMPAIGN), True],
                         ids=["keras-threads", "loader-processes"])
def test_200_epochs_through_keras_workers_leak_nothing(tmp_path, processes):
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=16, seed=2)
    samples = list(sl.read_wider_face(toy.annotations, toy.images))
    samples[5] = sl.Sample(str(tmp_path / "missing.jpg"))  # one skipped sample per epoch, reported every time
    seq = sl.DetectionSequence(samples, batch_size=8, image_size=(96, 96), encoder=sl.GridEncoder(grid_size=6),
                               augment="detection", on_error="skip",
                               **({"processes": 2} if processes else {"workers": 2}))
    allowed = 2
    adapter = PyDatasetAdapter(seq, shuffle=False)
    callback = sl.LoadReportCallback(seq)
    marks = {}
    started = time.monotonic()
    for epoch in range(EPOCHS):
        callback.on_epoch_begin(epoch)
        adapter.on_epoch_begin()
        batches = 0
        for x, y in adapter.get_numpy_iterator():
            assert x.shape == (8, 96, 96, 3) and y.shape == (8, 6, 6, 5) and np.isfinite(x).all()
            batches += 1
        adapter.on_epoch_end()
        logs = {}
        callback.on_epoch_end(epoch, logs)
        assert batches == 2 and logs["skipped_samples"] == 1
        if epoch + 1 == WARMUP or (epoch + 1) % 50 == 0:
            marks[epoch + 1] = _measure()
    took = time.monotonic() - started
    warm, end = marks[WARMUP], marks[EPOCHS]
    growth = end["rss_mib"] - warm["rss_mib"]
    assert MAX_RSS_GROWTH_MIB < (EPOCHS - WARMUP) * BATCH_MIB / 4  # the bound is far below a leak
    assert growth < MAX_RSS_GROWTH_MIB, marks
    assert end["py_threads"] <= warm["py_threads"], marks
    assert end["os_threads"] <= warm["os_threads"] + 2, marks  # slack for the runtime's own helper threads
    assert end["fds"] <= warm["fds"] + 2, marks
    assert end["children"] <= warm["children"] and end["zombies"] <= allowed, marks
    for mark in marks.values():  # never more than one pool's workers at a time
        assert mark["children"] <= warm["children"] + allowed, marks
    assert seq.report().skipped == {samples[5].image: seq.report(epoch=seq.epoch - 1).skipped[samples[5].image]}
    mode = "loader worker processes" if processes else "Keras worker threads"
    record("long runs", f"{EPOCHS} epochs, 16 images, batch 8, {mode}, through Keras' PyDatasetAdapter", EPOCHS,
           f"after epoch {WARMUP} -> {EPOCHS}: RSS {warm['rss_mib']:.0f} -> {end['rss_mib']:.0f} MiB "
           f"({growth:+.1f}), OS threads {warm['os_threads']} -> {end['os_threads']}, fds {warm['fds']} -> "
           f"{end['fds']}, children {warm['children']} -> {end['children']}; {took:.0f} s")

"""LoadReportCallback: per-epoch skipped samples in the logs and the log, with or without worker processes."""

import logging

import pytest
from reliability import record

import seqloaders as sl


def _samples_with_bad_images(toy, tmp_path):
    """The toy samples with two missing images and one corrupt one (real files on disk)."""
    samples = list(sl.read_wider_face(toy.annotations, toy.images))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    samples[2] = sl.Sample(str(tmp_path / "gone-1.jpg"), boxes=[[1, 1, 9, 9]], labels=[0])
    samples[11] = sl.Sample(str(tmp_path / "gone-2.jpg"))
    samples[17] = sl.Sample(str(corrupt), boxes=[[2, 2, 8, 8]], labels=[0])
    return samples, {samples[2].image: "FileNotFoundError", samples[11].image: "FileNotFoundError",
                     samples[17].image: "ImageError"}


def _make(samples, **kwargs):
    return sl.DetectionSequence(samples, batch_size=6, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=2),
                                on_error="skip", threads=1, **kwargs)


def _run_epoch(seq, callback, epoch):
    """One epoch the way fit drives the callback and the Sequence."""
    callback.on_epoch_begin(epoch)
    for index in range(len(seq)):
        x, y = seq[index]
        assert x.shape[0] == y.shape[0] == min(6, 24 - 6 * index)  # batches keep their shape
    seq.on_epoch_end()
    logs = {"loss": 1.0}
    callback.on_epoch_end(epoch, logs)
    return logs


def test_each_epoch_logs_its_own_skipped_samples_and_why(toy, tmp_path, caplog):
    samples, bad = _samples_with_bad_images(toy, tmp_path)
    seq = _make(samples)
    callback = sl.LoadReportCallback(seq, max_listed=2)
    with caplog.at_level(logging.INFO, logger="seqloaders"):
        first = _run_epoch(seq, callback, 0)
        second = _run_epoch(seq, callback, 1)
    for logs in (first, second):  # per epoch, not cumulative
        assert logs["skipped_samples"] == 3 and logs["skip_events"] >= 3 and logs["loss"] == 1.0
    assert [sorted(r.skipped) for r in callback.reports] == [sorted(bad)] * 2
    for report in callback.reports:
        for image, kind in bad.items():
            assert report.skipped[image].startswith(kind)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].getMessage().startswith("epoch 1: 3 samples skipped")
    assert "FileNotFoundError" in warnings[0].getMessage() and "and 1 more" in warnings[0].getMessage()
    assert sorted(seq.report().skipped) == sorted(bad)  # the whole run, too
    record("broken images", "unreadable samples under on_error='skip' (missing, corrupt)", 3,
           "batch keeps its shape; LoadReportCallback logs count and reasons per epoch")


def test_a_clean_epoch_logs_zero(toy, caplog):
    seq = _make(sl.read_wider_face(toy.annotations, toy.images))
    callback = sl.LoadReportCallback(seq)
    with caplog.at_level(logging.INFO, logger="seqloaders"):
        logs = _run_epoch(seq, callback, 0)
    assert logs["skipped_samples"] == 0
    assert any(r.getMessage() == "epoch 1: no samples skipped" for r in caplog.records)


def test_the_callback_needs_a_sequence():
    with pytest.raises(TypeError, match="LoadReportCallback needs a seqloaders Sequence"):
        sl.LoadReportCallback([1, 2, 3])


@pytest.mark.slow
@pytest.mark.parametrize("workers", [{"workers": 2}, {"processes": 2}], ids=["keras-threads", "loader-processes"])
def test_model_fit_history_has_the_skips_counted_in_worker_processes(toy, tmp_path, workers):
    import keras

    samples, _bad = _samples_with_bad_images(toy, tmp_path)
    seq = _make(samples, augment="detection", **workers)
    callback = sl.LoadReportCallback(seq)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3, strides=16, padding="same")])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(seq, epochs=3, verbose=0, callbacks=[callback])
    assert history.history["skipped_samples"] == [3.0, 3.0, 3.0]
    # what the workers counted equals what one process counts building the same batches
    reference = _make(samples, augment="detection")
    for report in callback.reports:
        epoch = seq.epoch - len(callback.reports) + callback.reports.index(report)
        reference.set_epoch(epoch)
        for index in range(len(reference)):
            reference[index]
        assert report == reference.report(epoch=epoch)
        # two faces in one cell of the 2x2 grid: counters other than the skips came from the workers too
        assert report.boxes_not_encoded + report.boxes_without_area > 0
    mode = "loader worker processes" if "processes" in workers else "Keras worker threads"
    record("broken images", f"unreadable samples under on_error='skip', {mode}, model.fit", 3,
           "History skipped_samples == 3 every epoch; report() equals a single-process count")

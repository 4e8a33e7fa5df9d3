"""Interop with real TensorFlow: it reads our shards, we read its Object Detection API records,
the tf.data path gives the same samples, and a Sequence becomes a tf.data.Dataset."""

import hashlib

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.cli import main as cli_main
from seqloaders.tfrecord import TFRecordSource, tfrecord_dataset, to_tf_dataset, write_tfrecords

tf = pytest.importorskip("tensorflow")

OD_API_SPEC = {  # the keys of the Object Detection API's TfExampleDecoder
    "image/encoded": tf.io.FixedLenFeature((), tf.string),
    "image/format": tf.io.FixedLenFeature((), tf.string),
    "image/filename": tf.io.FixedLenFeature((), tf.string),
    "image/source_id": tf.io.FixedLenFeature((), tf.string),
    "image/key/sha256": tf.io.FixedLenFeature((), tf.string),
    "image/height": tf.io.FixedLenFeature((), tf.int64),
    "image/width": tf.io.FixedLenFeature((), tf.int64),
    "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
    "image/object/class/text": tf.io.VarLenFeature(tf.string),
    "image/object/attr/blur": tf.io.VarLenFeature(tf.int64),
}


def test_tensorflow_reads_our_shards_with_the_object_detection_api_keys(tmp_path, toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)[:10]  # a slice is a plain list: no class_names
    report = write_tfrecords(samples, tmp_path / "out", num_shards=3, threads=2, class_names=["face"])

    def parse(record):
        parsed = tf.io.parse_single_example(record, OD_API_SPEC)
        return {k: v.values if isinstance(v, tf.SparseTensor) else v for k, v in parsed.items()}

    ds = tf.data.TFRecordDataset(report.shards).map(parse)
    rows = list(ds.as_numpy_iterator())
    assert len(rows) == 10
    for row, sample, truth in zip(rows, samples, toy.samples):
        image = tf.io.decode_image(row["image/encoded"], channels=3).numpy()
        assert image.shape[:2] == truth.image_size == (row["image/height"], row["image/width"])
        assert row["image/format"] == b"jpeg" and row["image/filename"].decode() == sample.image
        assert row["image/key/sha256"].decode() == hashlib.sha256(row["image/encoded"]).hexdigest()
        h, w = truth.image_size
        boxes = np.stack([row[f"image/object/bbox/{k}"] for k in ("xmin", "ymin", "xmax", "ymax")], -1)
        assert np.allclose(boxes * [w, h, w, h], sample.boxes.reshape(-1, 4), atol=1e-3)
        assert row["image/object/class/label"].tolist() == [1] * sample.num_boxes
        assert row["image/object/class/text"].tolist() == [b"face"] * sample.num_boxes
        assert row["image/object/attr/blur"].tolist() == sample.attributes["blur"].tolist()


def _od_api_example(tf_image, fmt, boxes=None, labels=None, texts=None, extra=None):
    """An Example the way create_coco_tf_record.py / create_pascal_tf_record.py build one."""
    def b(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    def f(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def i(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    h, w = tf_image["size"]
    feature = {
        "image/height": i([h]), "image/width": i([w]),
        "image/filename": b([tf_image["name"].encode()]), "image/source_id": b([b"17"]),
        "image/key/sha256": b([hashlib.sha256(tf_image["data"]).hexdigest().encode()]),
        "image/encoded": b([tf_image["data"]]), "image/format": b([fmt]),
    }
    if boxes is not None:  # records with no objects omit every image/object/* key
        boxes = np.asarray(boxes, np.float64)
        feature.update({
            "image/object/bbox/xmin": f((boxes[:, 0] / w).tolist()),
            "image/object/bbox/xmax": f((boxes[:, 2] / w).tolist()),
            "image/object/bbox/ymin": f((boxes[:, 1] / h).tolist()),
            "image/object/bbox/ymax": f((boxes[:, 3] / h).tolist()),
            "image/object/class/text": b([t.encode() for t in texts]),
            "image/object/class/label": i(labels),
            "image/object/is_crowd": i([0] * len(labels)),
            "image/object/area": f(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).tolist()),
        })
    feature.update(extra or {})
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _image(tmp_path, name, size, ext):
    rng = np.random.default_rng(len(name))
    image = cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), size[::-1])
    _ok, buf = cv2.imencode(ext, image)
    return {"name": name, "size": size, "data": buf.tobytes()}


def test_we_read_records_written_by_tensorflow_in_the_od_api_layout(tmp_path):
    a = _image(tmp_path, "a.jpg", (40, 60), ".jpg")
    b = _image(tmp_path, "b.png", (30, 20), ".png")
    kp = tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, 0.25]))
    records = [
        _od_api_example(a, b"jpg", boxes=[[6, 4, 30, 20], [0, 0, 60, 40]], labels=[1, 3], texts=["person", "car"]),
        _od_api_example(b, b"png"),  # no objects
        _od_api_example(a, b"jpeg", boxes=[[12, 8, 24, 36]], labels=[2], texts=["bike"],
                        extra={"image/object/keypoint/x": kp, "image/object/keypoint/y": kp}),
    ]
    path = str(tmp_path / "coco_train.record-00000-of-00001")
    with tf.io.TFRecordWriter(path) as writer:
        for r in records:
            writer.write(r)
    source = TFRecordSource(path)  # no index: built by scanning
    assert len(source) == 3
    first, empty, third = source
    assert np.allclose(first.boxes, [[6, 4, 30, 20], [0, 0, 60, 40]], atol=1e-4)
    assert first.labels.tolist() == [0, 2] and first.image_size == (40, 60)
    assert first.meta["class_texts"] == ["person", "car"] and first.meta["filename"] == "a.jpg"
    assert first.meta["format"] == "jpg" and first.meta["source_id"] == "17"
    assert first.attributes["iscrowd"].tolist() == [0, 0]
    assert np.allclose(first.attributes["area"], [24 * 16, 60 * 40])
    assert empty.num_boxes == 0 and empty.boxes.shape == (0, 4) and empty.attributes == {}
    assert empty.keypoints is None and empty.image_size == (30, 20)
    assert third.keypoints.shape == (1, 2, 3)
    assert np.allclose(third.keypoints[0], [[30, 20, 2], [15, 10, 2]], atol=1e-4)
    assert source.storage.read(empty.image) == b["data"]
    seq = sl.DetectionSequence(source, batch_size=3, image_size=(32, 32), shuffle=False,
                               encoder=sl.GridEncoder(grid_size=2, num_classes=3))
    x, y = seq[0]
    assert x.shape == (3, 32, 32, 3) and y.shape == (3, 2, 2, 8)
    assert y[1, ..., 0].sum() == 0 and y[0, ..., 0].sum() == 2  # the empty image encodes no object


def test_tfrecord_dataset_gives_the_same_samples_as_the_source(tmp_path, toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)[:6]
    rng = np.random.default_rng(0)
    png = tmp_path / "p.png"
    _ok, buf = cv2.imencode(".png", rng.integers(0, 256, (21, 33, 3), dtype=np.uint8))
    png.write_bytes(buf.tobytes())
    xy = rng.uniform(0, 20, (2, 2, 2))
    extra = sl.Sample(str(png), boxes=np.concatenate([xy.min(1), xy.max(1)], 1), labels=[0, 0],
                      attributes={name: [1, 2] for name in sl.WIDER_FACE_ATTRIBUTES})
    report = write_tfrecords([*list(samples), extra], tmp_path / "out", num_shards=2, class_names=["face"])
    source = TFRecordSource(report.pattern)
    rows = list(tfrecord_dataset(report.pattern).as_numpy_iterator())
    assert len(rows) == len(source) == 7
    for row, sample in zip(rows, source):
        assert np.array_equal(row["boxes"], sample.boxes)  # bit for bit, extension key included
        assert np.array_equal(row["labels"], sample.labels)
        assert tuple(row["image_size"]) == sample.image_size
        assert row["filename"].decode() == sample.meta["filename"]
        assert set(row["attributes"]) == set(sample.attributes)
        for name, values in sample.attributes.items():
            assert np.array_equal(row["attributes"][name], values)
        ours = sl.decode_image(source.storage.read(sample.image))
        if sample.meta["format"] == "png":
            assert np.array_equal(row["image"], ours)
        else:  # TensorFlow's and OpenCV's JPEG decoders may round differently
            assert row["image"].shape == ours.shape
            assert np.abs(row["image"].astype(int) - ours.astype(int)).mean() < 2
    raw = next(iter(tfrecord_dataset(report.pattern, decode=False)))
    assert raw["image"].dtype == tf.string


def test_tfrecord_dataset_with_keypoints(tmp_path):
    _ok, buf = cv2.imencode(".png", np.zeros((10, 16, 3), np.uint8))
    path = tmp_path / "k.png"
    path.write_bytes(buf.tobytes())
    keypoints = [[[1.3, 2.7, 2], [5.1, 8.9, 0]]]
    sample = sl.Sample(str(path), boxes=[[1, 1, 9, 9]], labels=[0], keypoints=keypoints)
    report = write_tfrecords([sample], tmp_path / "out", num_shards=1)
    row = next(tfrecord_dataset(report.pattern).as_numpy_iterator())
    assert np.array_equal(row["keypoints"], sample.keypoints)


def test_sequence_to_tf_dataset_and_fit(tmp_path, toy):
    report = write_tfrecords(toy.samples[:10], tmp_path / "out", num_shards=2)
    seq = sl.DetectionSequence(TFRecordSource(report.pattern), batch_size=4, image_size=(32, 32), seed=2,
                               encoder=sl.GridEncoder(grid_size=2, num_classes=1))
    reference = sl.DetectionSequence(toy.samples[:10], batch_size=4, image_size=(32, 32), seed=2,
                                     encoder=sl.GridEncoder(grid_size=2, num_classes=1))
    ds = to_tf_dataset(seq)
    x_spec, y_spec = ds.element_spec
    assert x_spec.shape.as_list() == [None, 32, 32, 3] and x_spec.dtype == tf.float32
    assert y_spec.shape.as_list() == [None, 2, 2, 5]
    for epoch in range(2):
        batches = list(ds.as_numpy_iterator())
        assert [len(x) for x, _ in batches] == [4, 4, 2]
        reference.set_epoch(epoch)
        for k, (x, y) in enumerate(batches):
            rx, ry = reference[k]
            assert np.array_equal(x, rx) and np.array_equal(y, ry)
    assert seq.epoch == 2  # each pass is an epoch: reshuffled like model.fit on the Sequence
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 16, strides=16)])
    model.compile("sgd", "mse")
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)  # the Sequence shuffles
    assert np.isfinite(history.history["loss"][0])


def test_cli_convert(tmp_path, toy, capsys):
    out = tmp_path / "shards"
    argv = ["convert", "widerface", toy.annotations, "--images-dir", toy.images, "--to", "tfrecord",
            "--out", str(out), "--shards", "3", "--threads", "2"]
    assert cli_main(argv) == 0
    assert "24 of 24 samples written to 3 shards" in capsys.readouterr().out
    samples = sl.read_wider_face(toy.annotations, toy.images)
    source = TFRecordSource(str(out / "train-*.tfrecord"))
    assert len(source) == 24
    for back, original in zip(source, samples):
        assert back.replace(image=original.image, image_size=None) == original
    assert cli_main(argv) == 0
    assert "3 shards kept from an earlier run" in capsys.readouterr().out
    assert cli_main(["convert", "nosuchformat", toy.annotations, "--out", str(out)]) == 2
    assert "unknown format" in capsys.readouterr().err


def test_every_toy_format_round_trips_through_tfrecord(tmp_path):
    """Each format of the formats issue: read → shards → read back, equal samples, masks included."""
    toyformats = pytest.importorskip("seqloaders.toy")
    masks_module = pytest.importorskip("seqloaders.masks")
    toys = toyformats.make_toy_formats(tmp_path / "toys", num_images=5)
    for name, toy in toys.items():
        samples = toy.read()
        report = write_tfrecords(samples, tmp_path / "out" / name, num_shards=2, threads=2)
        assert report.num_written == len(samples), (name, report.failed)
        source = TFRecordSource(report.pattern)
        assert source.class_names == tuple(getattr(samples, "class_names", ()))
        for original, back in zip(samples, source):
            expected = original if original.image_size else original.replace(image_size=back.image_size)
            assert back.replace(image=original.image) == expected, (name, original, back)
            if "label" in original.meta:  # image-level class (class folders)
                assert back.meta["label"] == original.meta["label"], name
            if original.masks is not None and original.num_boxes:
                want = masks_module.decode_masks(original)
                assert np.array_equal(back.masks.decode(), want), name


def test_to_tf_dataset_repeat_runs_epoch_after_epoch(toy):
    import keras

    seq = sl.DetectionSequence(toy.samples[:10], batch_size=4, image_size=(32, 32), seed=5, preprocess="uint8",
                               encoder=sl.GridEncoder(grid_size=2, num_classes=1))
    reference = sl.DetectionSequence(toy.samples[:10], batch_size=4, image_size=(32, 32), seed=5,
                                     preprocess="uint8", encoder=sl.GridEncoder(grid_size=2, num_classes=1))
    ds = to_tf_dataset(seq, repeat=True)
    assert ds.cardinality().numpy() == tf.data.INFINITE_CARDINALITY
    assert ds.element_spec[0].dtype == tf.uint8
    batches = list(ds.take(3 * len(seq)).as_numpy_iterator())  # three epochs in one pass
    assert [len(x) for x, _ in batches] == [4, 4, 2] * 3
    for epoch in range(3):
        reference.set_epoch(epoch)
        for k in range(len(seq)):
            x, y = batches[epoch * len(seq) + k]
            rx, ry = reference[k]
            assert np.array_equal(x, rx) and np.array_equal(y, ry)  # reshuffled between passes
    fresh = sl.DetectionSequence(toy.samples[:10], batch_size=4, image_size=(32, 32), seed=5, preprocess="uint8",
                                 encoder=sl.GridEncoder(grid_size=2, num_classes=1))
    model = keras.Sequential([keras.Input((32, 32, 3), dtype="uint8"), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(5, 16, strides=16)])
    model.compile("sgd", "mse")
    history = model.fit(to_tf_dataset(fresh, repeat=True), steps_per_epoch=len(fresh), epochs=3, verbose=0,
                        shuffle=False)  # the Sequence shuffles
    assert len(history.history["loss"]) == 3 and np.isfinite(history.history["loss"]).all()
    assert fresh.epoch >= 2  # the passes went on between fit's epochs

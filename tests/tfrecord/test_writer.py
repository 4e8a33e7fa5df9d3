"""write_tfrecords and TFRecordSource: round trips, conversions, failures, resuming, Sequences."""

import glob
import json
import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.tfrecord import PngMasks, TFRecordSource, write_tfrecords
from seqloaders.tfrecord.example import decode_example
from seqloaders.tfrecord.framing import iter_records
from seqloaders.tfrecord.schema import PIXEL_BOXES


def assert_same(read_back, original, check_size=True):
    """Equal as samples, apart from the image key (a storage key after the round trip)."""
    expected = original if check_size else original.replace(image_size=read_back.image_size)
    assert read_back.replace(image=original.image) == expected, (read_back, original)
    assert read_back.meta["filename"] == original.meta.get("filename", original.image)


def write_png(path, image):
    ok, buf = cv2.imencode(".png", image)
    assert ok
    with open(path, "wb") as f:
        f.write(buf.tobytes())
    return str(path)


def test_round_trip_keeps_every_field_and_the_original_bytes(tmp_path, toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    report = write_tfrecords(samples, tmp_path / "out", num_shards=4, threads=2)
    assert report.num_written == len(samples) == 24 and not report.failed
    assert [os.path.basename(p) for p in report.shards] == [f"train-{i:05d}-of-00004.tfrecord" for i in range(4)]
    source = TFRecordSource(str(tmp_path / "out" / "train-*.tfrecord"))
    assert len(source) == 24 and source.class_names == ("face",)
    for original, toy_sample, back in zip(samples, toy.samples, source):
        assert_same(back, original, check_size=False)
        assert back.image_size == toy_sample.image_size
        assert back.image.startswith(str(tmp_path / "out" / "train-")) and "#" in back.image
        assert source.storage.read(back.image) == Path(original.image).read_bytes()  # carried over, not re-encoded
    empty = [s for s in source if s.num_boxes == 0]
    assert empty and all(set(s.attributes) == set(sl.WIDER_FACE_ATTRIBUTES) for s in empty)
    manifest = json.loads(Path(report.manifest).read_text())
    assert manifest["complete"] and manifest["num_written"] == 24 and manifest["class_names"] == ["face"]


def test_random_access_slicing_and_pickling(tmp_path, toy):
    report = write_tfrecords(toy.samples[:10], tmp_path / "out", num_shards=3, threads=1)
    source = TFRecordSource(report.pattern)
    assert_same(source[-1], toy.samples[9])
    assert_same(source[4], toy.samples[4])
    view = source[2:9:3]
    assert len(view) == 3 and view.storage is not source.storage
    for k, i in enumerate([2, 5, 8]):
        assert_same(view[k], toy.samples[i])
        assert view.storage.read(view[k].image) == source.storage.read(source[i].image)
    clone = pickle.loads(pickle.dumps(view))
    assert_same(clone[1], toy.samples[5])
    with pytest.raises(IndexError):
        source[10]
    with pytest.raises(FileNotFoundError, match="not a record of this TFRecordSource"):
        source.storage.read(toy.samples[0].image)
    with pytest.raises(FileNotFoundError, match="no TFRecord shards match"):
        TFRecordSource(str(tmp_path / "nothing-*.tfrecord"))


@pytest.mark.parametrize("num_shards, workers", [(1, 3), (5, 2), (7, 4), (12, 3)])
def test_any_shard_count_with_any_worker_count_gives_the_same_records(tmp_path, toy, num_shards, workers):
    samples = toy.samples[:9]
    report = write_tfrecords(samples, tmp_path / "a", num_shards=num_shards, threads=workers)
    reference = write_tfrecords(samples, tmp_path / "b", num_shards=num_shards, threads=1)
    assert len(report.shards) == num_shards and report.num_written == 9
    for a, b in zip(report.shards, reference.shards):  # independent of the worker count, byte for byte
        assert Path(a).read_bytes() == Path(b).read_bytes()
    source = TFRecordSource(report.pattern)
    assert len(source) == 9  # shards beyond the sample count are empty files
    for original, back in zip(samples, source):
        assert_same(back, original)


def test_failures_are_reported_and_never_stop_the_run(tmp_path, toy):
    bad_jpeg = tmp_path / "bad.jpg"
    bad_jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    samples = list(toy.samples[:5])
    samples.insert(1, sl.Sample(str(tmp_path / "missing.jpg")))
    samples.insert(3, sl.Sample(str(bad_jpeg)))
    samples.append(toy.samples[5].replace(image_size=(7, 9)))  # annotation disagrees with the image
    with pytest.warns(UserWarning, match="3 of 8 samples could not be written"):
        report = write_tfrecords(samples, tmp_path / "out", num_shards=3, threads=2)
    assert report.num_written == 5 and report.num_failed == 3
    failed = dict(report.failed)
    assert "FileNotFoundError" in failed[str(tmp_path / "missing.jpg")]
    assert "ImageError" in failed[str(bad_jpeg)]
    assert "image_size (7, 9)" in failed[toy.samples[5].image]
    manifest = json.loads(Path(report.manifest).read_text())
    assert [f["index"] for f in manifest["failed"]] == [1, 3, 7]
    assert manifest["num_failed"] == 3 and "3 failed" in str(report)
    source = TFRecordSource(report.pattern)
    for original, back in zip(toy.samples[:5], source):
        assert_same(back, original)


def test_formats_the_schema_cannot_hold_are_converted(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)  # BGR as OpenCV writes it
    bmp = str(tmp_path / "a.bmp")
    cv2.imwrite(bmp, image)
    png16 = write_png(tmp_path / "b.png", image.astype(np.uint16) * 257)
    smooth = cv2.resize(image[:2, :3], (30, 20), interpolation=cv2.INTER_LINEAR)  # JPEG-friendly content
    _ok, jpg = cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])
    # an EXIF orientation 6 (rotate 90° clockwise): TensorFlow ignores it, so the writer applies it
    exif = (b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00" + b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"
            + b"\x00\x00\x00\x00")
    jpg = jpg.tobytes()
    rotated = tmp_path / "c.jpg"
    rotated.write_bytes(jpg[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif + jpg[2:])
    box = [[2.0, 3.0, 10.0, 12.0]]
    samples = [sl.Sample(bmp, boxes=box, labels=[0]), sl.Sample(png16, boxes=box, labels=[0]),
               sl.Sample(str(rotated), boxes=box, labels=[0], image_size=(30, 20))]
    report = write_tfrecords(samples, tmp_path / "out", num_shards=1)
    assert report.num_written == 3
    source = TFRecordSource(report.pattern)
    formats = [decode_example(r)["image/format"][0] for r in iter_records(report.shards[0])]
    assert formats == [b"png", b"png", b"jpeg"]
    rgb = image[..., ::-1]
    assert np.array_equal(sl.decode_image(source.storage.read(source[0].image)), rgb)  # lossless
    assert np.array_equal(sl.decode_image(source.storage.read(source[1].image)), rgb)  # 16 → 8 bit
    upright = sl.decode_image(source.storage.read(source[2].image))
    assert upright.shape == (30, 20, 3) and source[2].image_size == (30, 20)
    assert sl.probe_image(source.storage.read(source[2].image)).orientation == 1
    assert np.abs(upright.astype(int) - np.rot90(smooth[..., ::-1], -1).astype(int)).mean() < 3
    again = write_tfrecords(samples[:1], tmp_path / "re", num_shards=1, reencode=True, quality=90)
    assert TFRecordSource(again.pattern)[0].meta["format"] == "jpeg"


def test_killed_and_restarted_conversion_equals_an_uninterrupted_one(tmp_path, toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    whole = write_tfrecords(samples, tmp_path / "whole", num_shards=4, threads=2)
    out = tmp_path / "resumed"
    first = write_tfrecords(samples, out, num_shards=4, threads=3)
    # simulate a kill: shard 2 never finished (only a partial temporary file), shard 3 was renamed
    # but not yet recorded in the manifest
    os.remove(first.shards[2])
    os.remove(first.shards[2] + ".index")
    with open(first.shards[2] + ".tmp-99999", "wb") as f:
        f.write(b"\x05\x00\x00\x00partial")
    manifest = json.loads(Path(first.manifest).read_text())
    manifest["shards"] = [e for e in manifest["shards"] if not e["file"].startswith("train-00003")]
    Path(first.manifest).write_text(json.dumps(manifest))
    kept = {p: os.stat(p).st_mtime_ns for p in first.shards[:2]}
    looks_whole = sorted(glob.glob(str(out / "train-*.tfrecord")))
    assert first.shards[2] not in looks_whole  # an interrupted shard never looks whole

    second = write_tfrecords(samples, out, num_shards=4, threads=1)
    assert second.resumed_shards == 2 and second.num_written == 24
    assert {p: os.stat(p).st_mtime_ns for p in first.shards[:2]} == kept  # not rewritten
    assert not glob.glob(str(out / "*.tmp-*"))
    for a, b in zip(whole.shards, second.shards):
        assert Path(a).read_bytes() == Path(b).read_bytes()
        assert Path(a + ".index").read_text() == Path(b + ".index").read_text()
    strip = ("shards",)
    m1, m2 = json.loads(Path(whole.manifest).read_text()), json.loads(Path(second.manifest).read_text())
    assert {k: v for k, v in m1.items() if k not in strip} == {k: v for k, v in m2.items() if k not in strip}
    assert [e["fingerprint"] for e in m1["shards"]] == [e["fingerprint"] for e in m2["shards"]]
    # changed annotations change the fingerprint: the shard holding them is rewritten
    changed = sl.SampleList(samples, class_names=samples.class_names)
    assert changed[0].num_boxes
    changed[0] = changed[0].replace(labels=np.ones(changed[0].num_boxes, np.int64))
    third = write_tfrecords(changed, out, num_shards=4)
    assert third.resumed_shards == 3
    assert (TFRecordSource(third.pattern)[0].labels == 1).all()


def test_masks_keypoints_and_image_classes_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    h, w = 23, 31
    path = write_png(tmp_path / "m.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    masks = [rng.random((h, w)) > 0.5 for _ in range(3)]
    boxes = np.sort(rng.uniform(0, 20, (3, 2, 2)), axis=1).transpose(0, 2, 1).reshape(3, 4)[:, [0, 2, 1, 3]]
    keypoints = np.concatenate([rng.uniform(0, 20, (3, 5, 2)), rng.integers(0, 3, (3, 5, 1))], -1)
    with_all = sl.Sample(path, boxes=boxes, labels=[0, 2, 1], keypoints=keypoints, masks=masks,
                         attributes={"iscrowd": [0, 1, 0], "score": [0.5, 0.25, 1.0], "kind": ["a", "b", "c"]},
                         meta={"image_labels": [3, 0], "image_texts": ["street", "night"], "source_id": "42"})
    no_objects = sl.Sample(path, keypoints=np.zeros((0, 5, 3)), masks=[], meta={"label": 1})
    report = write_tfrecords([with_all, no_objects], tmp_path / "out", num_shards=1,
                             class_names=["person", "car", "bike"])
    assert not report.failed
    source = TFRecordSource(report.pattern)
    back, empty = source[0], source[1]
    assert_same(back, with_all, check_size=False)
    assert back.attributes["kind"].tolist() == ["a", "b", "c"]
    assert isinstance(back.masks, PngMasks) and np.array_equal(back.masks.decode(), np.stack(masks))
    assert back.select([2]).masks.decode()[0].tolist() == masks[2].tolist()
    assert back.meta["class_texts"] == ["person", "bike", "car"]
    assert back.meta["image_labels"] == [3, 0] and back.meta["image_texts"] == ["street", "night"]
    assert back.meta["source_id"] == "42"
    assert_same(empty, no_objects, check_size=False)
    assert empty.keypoints.shape == (0, 5, 3)
    assert empty.meta["label"] == 1 and empty.meta["class_name"] == "car"  # the classification convention
    features = decode_example(next(iter_records(report.shards[0])))
    assert features["image/object/is_crowd"].tolist() == [0, 1, 0]
    assert features["image/object/class/label"].tolist() == [1, 3, 2]  # 1-based, as the API expects
    assert len(features["image/object/mask"]) == 3


def test_fractional_boxes_come_back_bit_for_bit(tmp_path):
    rng = np.random.default_rng(3)
    path = write_png(tmp_path / "f.png", np.zeros((333, 641, 3), np.uint8))
    xy = rng.uniform(0, 300, (200, 2, 2)).astype(np.float32)
    boxes = np.concatenate([xy.min(1), xy.max(1)], 1)
    integer = np.round(boxes)
    report = write_tfrecords([sl.Sample(path, boxes=boxes, labels=0), sl.Sample(path, boxes=integer, labels=0)],
                             tmp_path / "out", num_shards=1)
    source = TFRecordSource(report.pattern)
    assert np.array_equal(source[0].boxes, boxes) and np.array_equal(source[1].boxes, integer)
    extension = [PIXEL_BOXES in decode_example(r) for r in iter_records(report.shards[0])]
    assert extension[0]  # fractional pixels need the exact copy on this canvas


def test_detection_sequence_reads_shards_like_loose_files(tmp_path, toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    report = write_tfrecords(samples, tmp_path / "out", num_shards=3, threads=2)
    source = TFRecordSource(report.pattern)
    kwargs = dict(batch_size=5, image_size=(48, 48), encoder=sl.GridEncoder(grid_size=3, num_classes=1), seed=4,
                  augment="detection")
    loose = sl.DetectionSequence(samples, **kwargs)
    shards = sl.DetectionSequence(source, workers=2, **kwargs)
    assert isinstance(shards.storage, sl.tfrecord.TFRecordStorage)
    for epoch in (0, 1):
        loose.set_epoch(epoch)
        shards.set_epoch(epoch)
        for i in range(len(loose)):
            x1, y1 = loose[i]
            x2, y2 = shards[i]
            assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


@pytest.mark.slow
def test_detection_sequence_over_shards_in_worker_processes(tmp_path, toy):
    report = write_tfrecords(toy.samples[:8], tmp_path / "out", num_shards=2)
    kwargs = dict(batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=2, num_classes=1), seed=1)
    source = TFRecordSource(report.pattern)
    source[0]  # handles opened in the parent must not leak into the children
    expected = [sl.DetectionSequence(toy.samples[:8], **kwargs)[i] for i in range(2)]
    seq = sl.DetectionSequence(source, workers=2, use_multiprocessing=True, **kwargs)
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 16, strides=16)])
    model.compile("sgd", "mse")
    got = model.predict(seq, verbose=0)
    want = model.predict(np.concatenate([x for x, _ in expected]), verbose=0)
    assert np.allclose(got, want, atol=1e-5)


def test_progress_bar_on_request(tmp_path, toy, capsys):
    write_tfrecords(toy.samples[:3], tmp_path / "out", num_shards=2, progress=True)
    assert "3/3" in capsys.readouterr().err
    write_tfrecords(toy.samples[:3], tmp_path / "quiet", num_shards=2)  # stderr is no terminal here
    assert capsys.readouterr().err == ""


def test_reading_needs_neither_tensorflow_nor_keras(tmp_path, toy):
    """Worker processes that only read shards stay light: the reader imports no TensorFlow."""
    import subprocess
    import sys

    report = write_tfrecords(toy.samples[:3], tmp_path / "out", num_shards=1)
    package = os.path.dirname(sl.__file__)
    code = (
        "import sys, types\n"
        "pkg = types.ModuleType('seqloaders'); pkg.__path__ = [sys.argv[1]]; sys.modules['seqloaders'] = pkg\n"
        "from seqloaders.tfrecord.source import TFRecordSource\n"
        "s = TFRecordSource(sys.argv[2]); x = s[2]; b = s.storage.read(x.image)\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print(len(s), x.num_boxes, len(b), heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, package, report.pattern], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONWARNINGS": "error"})
    assert out.stdout.split() == ["3", str(toy.samples[2].num_boxes), str(os.path.getsize(toy.samples[2].image)),
                                  "[]"]


def test_other_shard_counts_in_the_folder_are_warned_about(tmp_path, toy):
    first = write_tfrecords(toy.samples[:4], tmp_path, num_shards=2)
    with pytest.warns(UserWarning, match="2 'train' shards of another shard count"):
        second = write_tfrecords(toy.samples[:4], tmp_path, num_shards=3)
    assert len(TFRecordSource(second.pattern)) == 4 and len(TFRecordSource(first.pattern)) == 4
    assert len(TFRecordSource(str(tmp_path))) == 8  # a folder means every shard in it
    with pytest.raises(ValueError, match="name must be"):
        write_tfrecords(toy.samples[:1], tmp_path, name="a/b")
    with pytest.raises(ValueError, match="num_shards must be >= 1"):
        write_tfrecords(toy.samples[:1], tmp_path, num_shards=0)


def test_png_with_an_exif_orientation_is_stored_upright(tmp_path):
    import io

    from PIL import Image

    image = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    pil = Image.fromarray(image)
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    pil.save(buffer, "PNG", exif=exif.tobytes())
    path = tmp_path / "turned.png"
    path.write_bytes(buffer.getvalue())
    assert sl.probe_image(path.read_bytes()).orientation == 6
    report = write_tfrecords([sl.Sample(str(path), boxes=[[1, 2, 5, 9]], labels=[0])], tmp_path / "out", num_shards=1)
    stored = TFRecordSource(report.pattern).storage.read(TFRecordSource(report.pattern)[0].image)
    assert sl.probe_image(stored).orientation == 1  # TensorFlow ignores EXIF: the pixels must be upright
    np.testing.assert_array_equal(sl.decode_image(stored), np.rot90(image, -1))  # PNG: lossless


def test_workers_is_the_deprecated_name_of_threads(tmp_path, toy):
    with pytest.warns(DeprecationWarning, match=r"write_tfrecords\(workers=...\) is deprecated"):
        old = write_tfrecords(toy.samples[:3], tmp_path / "old", num_shards=1, workers=2, progress=False)
    new = write_tfrecords(toy.samples[:3], tmp_path / "new", num_shards=1, threads=2, progress=False)
    assert old.num_written == new.num_written == 3
    with pytest.raises(TypeError, match="threads=1 and its deprecated alias workers=2"):
        write_tfrecords(toy.samples[:3], tmp_path / "both", num_shards=1, threads=1, workers=2)

"""Every reader, the Sequence and TFRecord shards on a real S3-compatible server (moto's standalone
server on 127.0.0.1, started and stopped by this module): the same dataset read from disk and
from the bucket gives identical samples and identical batches."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from remotehelpers import assert_same_samples, s3_server

import seqloaders as sl
from seqloaders.formats.common import image_size_of
from seqloaders.storage import files
from seqloaders.tfrecord import TFRecordSource, write_tfrecords

BUCKET = "s3://seqloaders-formats"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(str(tmp_path_factory.mktemp("s3-env"))) as server:
        yield server


@pytest.fixture(scope="module")
def wider(s3, tmp_path_factory):
    """The toy WIDER FACE dataset on disk and in the bucket."""
    toy = sl.make_toy_dataset(tmp_path_factory.mktemp("wider"), num_images=10)
    remote = s3.upload(toy.root, f"{BUCKET}/wider")
    rel_ann = os.path.relpath(toy.annotations, toy.root).replace(os.sep, "/")
    rel_img = os.path.relpath(toy.images, toy.root).replace(os.sep, "/")
    return toy, f"{remote}/{rel_ann}", f"{remote}/{rel_img}"


@pytest.fixture(scope="module")
def formats(s3, tmp_path_factory):
    """Every toy format on disk and in the bucket."""
    root = tmp_path_factory.mktemp("formats")
    toys = sl.make_toy_formats(root, num_images=6)
    s3.upload(str(root), f"{BUCKET}/formats")
    return root, toys


def _batches_equal(a: sl.DetectionSequence, b: sl.DetectionSequence) -> None:
    assert len(a) == len(b) > 0
    for k in range(len(a)):
        (xa, ya), (xb, yb) = a[k], b[k]
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def _sequence(samples, **kwargs):
    return sl.DetectionSequence(samples, batch_size=4, image_size=(48, 64), seed=3, threads=2,
                                encoder=sl.GridEncoder(grid_size=4, num_classes=1), augment="detection", **kwargs)


def test_wider_face_from_the_bucket_gives_the_same_samples_and_batches(wider, tmp_path):
    toy, annotations, images = wider
    local = sl.read_wider_face(toy.annotations, toy.images)
    remote = sl.read_wider_face(annotations, images)  # endpoint and keys from AWS_* variables
    assert_same_samples(local, remote, toy.images, images)
    seq = _sequence(remote)
    assert isinstance(seq.storage, sl.FsspecStorage)  # picked because the images are URLs
    _batches_equal(_sequence(local), seq)
    seq.on_epoch_end()
    local_seq = _sequence(local)
    local_seq.on_epoch_end()
    _batches_equal(local_seq, seq)  # the second epoch (served from the cache) too


def test_storage_options_reach_the_server_without_environment(wider, s3, monkeypatch, tmp_path):
    toy, annotations, images = wider
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    options = s3.storage_options
    remote = sl.read_wider_face(annotations, images, storage_options=options)
    assert remote.storage.storage_options == options  # the Sequence reads images the same way
    storage = sl.FsspecStorage(images, storage_options=options, cache_dir=tmp_path / "cache")
    seq = _sequence(remote)
    assert seq.storage is remote.storage
    _batches_equal(_sequence(sl.read_wider_face(toy.annotations, toy.images)), seq)
    rel = remote[0].image[len(images) + 1:]  # a key relative to the storage's root
    with open(os.path.join(toy.images, rel), "rb") as f:
        assert storage.read(rel) == f.read()


@pytest.mark.parametrize("name", ["coco", "voc", "yolo", "yolo-segment", "yolo-pose", "maskfolders", "csv",
                                  "classfolders"])
def test_every_reader_gives_the_same_samples_from_the_bucket(formats, name):
    root, toys = formats
    toy = toys[name]
    local_path = toy.path
    remote_path = f"{BUCKET}/formats/" + os.path.relpath(local_path, root).replace(os.sep, "/")
    options = dict(toy.options)
    remote_options = dict(options)
    if "images_dir" in options:
        remote_options["images_dir"] = f"{BUCKET}/formats/" + os.path.relpath(options["images_dir"], root).replace(
            os.sep, "/")
    local = sl.read(toy.format, local_path, **options)
    remote = sl.read(toy.format, remote_path, **remote_options)
    assert_same_samples(local, remote, str(root), f"{BUCKET}/formats")
    if name in ("coco", "maskfolders"):  # masks: rendered from RLE / read from the bucket's mask files
        for a, b in zip(local, remote):
            np.testing.assert_array_equal(sl.decode_masks(a), sl.decode_masks(b))
    if name == "classfolders":
        assert [s.meta["label"] for s in local] == [s.meta["label"] for s in remote]


def test_relative_csv_boxes_read_image_sizes_from_the_bucket(s3, formats):
    _root, toys = formats
    toy = toys["csv"]
    local = sl.read("csv", toy.path, **toy.options)
    rows = ["image,cx,cy,w,h,label"]
    for s in local:
        h, w = image_size_of(s.image)
        rel = os.path.relpath(s.image, os.path.dirname(toy.path)).replace(os.sep, "/")
        for box, label in zip(s.boxes.astype(float).tolist(), s.labels):
            cx, cy = (box[0] + box[2]) / 2 / w, (box[1] + box[3]) / 2 / h
            rows.append(f"{rel},{cx!r},{cy!r},{(box[2] - box[0]) / w!r},{(box[3] - box[1]) / h!r},"
                        f"{local.class_names[label]}")
    csv_url = f"{BUCKET}/formats/csv/relative.csv"
    s3.fs.pipe_file(csv_url.split("://", 1)[1], ("\n".join(rows) + "\n").encode())
    columns = {"image": "image", "boxes": ["cx", "cy", "w", "h"], "label": "label"}
    samples = sl.read_csv(csv_url, columns, box_format="rel_cxcywh", class_names=local.class_names)
    boxed = [s for s in local if s.num_boxes]
    remote_boxed = [s for s in samples if s.num_boxes]
    assert [s.image_size for s in remote_boxed] == [image_size_of(s.image) for s in boxed]
    for a, b in zip(boxed, remote_boxed):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def test_a_missing_object_raises_file_not_found_naming_the_url(s3, wider):
    url = f"{BUCKET}/wider/no_such_file.txt"
    with pytest.raises(FileNotFoundError, match=r"no_such_file.txt") as info:
        sl.read_wider_face(url)
    assert info.value.filename == url
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        sl.read_coco(f"{BUCKET}/nothing_here/instances.json")
    with pytest.raises(FileNotFoundError):
        sl.read_mask_folders(f"{BUCKET}/no_such_folder")
    with pytest.raises(FileNotFoundError, match="no-such-bucket-xyz"):
        files.read_bytes("s3://no-such-bucket-xyz/a.jpg")
    with pytest.raises(FileNotFoundError, match="tfrecord"):
        TFRecordSource(f"{BUCKET}/no_shards/train-*.tfrecord")
    # a sample whose image is missing in the bucket: the Sequence's error policy sees FileNotFoundError
    _toy, annotations, images = wider
    samples = sl.read_wider_face(annotations, images)
    broken = [samples[0].replace(image=f"{images}/missing.jpg")]
    seq = sl.DetectionSequence(broken, batch_size=1, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=2),
                               storage=sl.FsspecStorage(cache_bytes=0))
    with pytest.raises(sl.SampleError, match=r"missing.jpg") as err:
        seq[0]
    assert isinstance(err.value.__cause__, FileNotFoundError)


def test_tfrecord_shards_from_the_bucket_give_the_same_batches(s3, wider, tmp_path, monkeypatch):
    toy, _annotations, _images = wider
    samples = sl.read_wider_face(toy.annotations, toy.images)
    write_tfrecords(samples, tmp_path / "shards", num_shards=3, threads=1, progress=False)
    remote_dir = s3.upload(str(tmp_path / "shards"), f"{BUCKET}/shards")
    local = TFRecordSource(str(tmp_path / "shards" / "train-*.tfrecord"))

    def no_download(*args, **kwargs):
        raise AssertionError("the uploaded .index files must be used; nothing should be downloaded to scan")

    monkeypatch.setattr(files, "download", no_download)
    remote = TFRecordSource(f"{remote_dir}/train-*.tfrecord", remote=sl.FsspecStorage(cache_dir=tmp_path / "c"))
    monkeypatch.undo()
    assert remote.shards == [f"{remote_dir}/{os.path.basename(p)}" for p in local.shards]
    assert remote.class_names == local.class_names and len(remote) == len(local) == len(samples)
    for r_local, r_remote in zip(local._readers, remote._readers):
        np.testing.assert_array_equal(r_local.offsets, r_remote.offsets)
    for k in range(len(local)):
        a, b = local[k], remote[k]
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert a.meta["filename"] == b.meta["filename"]
    _batches_equal(_sequence(local), _sequence(remote))
    # a folder URL works as a pattern, and a shard without its index is scanned from a download
    s3.fs.rm(f"{remote_dir.split('://', 1)[1]}/train-00001-of-00003.tfrecord.index")
    s3.fs.invalidate_cache()
    scanned = TFRecordSource(remote_dir, remote=sl.FsspecStorage(cache_bytes=0))
    assert len(scanned) == len(local)
    np.testing.assert_array_equal(scanned._readers[1].offsets, local._readers[1].offsets)
    _batches_equal(_sequence(local), _sequence(scanned))


def test_write_tfrecords_reads_images_from_the_bucket(wider, tmp_path):
    toy, annotations, images = wider
    remote = sl.read_wider_face(annotations, images)
    report = write_tfrecords(remote, tmp_path / "from-s3", num_shards=1, threads=2, progress=False)
    assert report.num_failed == 0
    source = TFRecordSource(glob.glob(str(tmp_path / "from-s3" / "*.tfrecord")))
    local = sl.read_wider_face(toy.annotations, toy.images)
    assert len(source) == len(local)
    for k in range(len(local)):
        with open(local[k].image, "rb") as f:
            assert source.storage.read(source[k].image) == f.read()

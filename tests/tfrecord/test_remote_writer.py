"""write_tfrecords and write_tfrecords_beam to an object store: against moto's standalone S3 server
on 127.0.0.1 (started and stopped here), the objects equal a local run's files byte for byte
(shards, indexes, manifest), a rerun uploads nothing for the shards already complete (counted with
the bucket's object versions), TFRecordSource reads the shards back from the bucket, and failures
are in the uploaded manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from remotehelpers import s3_server

import seqloaders as sl
from seqloaders.cli import main as cli_main
from seqloaders.storage import files
from seqloaders.tfrecord import TFRecordSource, write_tfrecords, write_tfrecords_beam

BUCKET = "seqloaders-writer"
VERSIONED = "seqloaders-writer-versioned"
DIRECT = ["--runner=DirectRunner", "--direct_num_workers=1"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(str(tmp_path_factory.mktemp("s3-env"))) as server:
        server.fs.mkdir(BUCKET)
        server.fs.mkdir(VERSIONED)
        server.fs.make_bucket_versioned(VERSIONED)  # every PUT becomes a new version: uploads can be counted
        yield server


@pytest.fixture(scope="module")
def samples(toy):
    return sl.read_wider_face(toy.annotations, toy.images)[:9]


def files_of(folder) -> dict[str, bytes]:
    """{file name: bytes} of every file in a local folder."""
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def objects_of(s3, url: str) -> dict[str, bytes]:
    """{object name: bytes} of every object under ``url`` (``s3://bucket/prefix``)."""
    prefix = url.split("://", 1)[1].rstrip("/")
    s3.fs.invalidate_cache()
    return {key[len(prefix) + 1:]: s3.fs.cat_file(key) for key in sorted(s3.fs.find(prefix))}


def versions(s3, url: str) -> dict[str, int]:
    """{object name: number of versions} under ``url`` in the versioned bucket: one per PUT."""
    import s3fs

    fs = s3fs.S3FileSystem(version_aware=True, skip_instance_cache=True, **s3.storage_options)
    prefix = url.split("://", 1)[1].rstrip("/")
    return {key[len(prefix) + 1:]: sum(v["Key"] == key.split("/", 1)[1] for v in fs.object_version_info(key))
            for key in sorted(fs.find(prefix))}  # (the versions listed are those of every key with that prefix)


def test_local_writer_uploads_the_files_of_a_local_run(s3, samples, tmp_path):
    local = write_tfrecords(samples, tmp_path / "local", num_shards=3, threads=2)
    url = f"s3://{BUCKET}/local-writer/shards"
    report = write_tfrecords(samples, url, num_shards=3, threads=2, storage_options=s3.storage_options)
    expected = files_of(tmp_path / "local")
    assert len(expected) == 7  # 3 shards, 3 indexes, the manifest
    assert objects_of(s3, url) == expected
    assert report.shards == [f"{url}/train-0000{s}-of-00003.tfrecord" for s in range(3)]
    assert report.manifest == f"{url}/train.manifest.json" and report.num_written == 9 and not report.failed
    assert report.pattern == f"{url}/train-*-of-00003.tfrecord"

    back = TFRecordSource(f"s3://{BUCKET}/local-writer/shards/train-*.tfrecord")  # endpoint from AWS_* variables
    on_disk = TFRecordSource(local.pattern)
    assert len(back) == len(on_disk) == 9 and back.class_names == on_disk.class_names
    for original, remote, disk in zip(samples, back, on_disk):
        assert remote.replace(image=disk.image) == disk
        assert remote.meta["filename"] == original.image
        assert back.storage.read(remote.image) == Path(original.image).read_bytes()


def test_beam_direct_runner_uploads_the_files_of_a_local_run(s3, toy, tmp_path):
    pytest.importorskip("apache_beam")
    prefix = f"s3://{BUCKET}/beam/wider"
    s3.upload(toy.root, prefix)  # images read from the bucket by the workers, shards written back to it
    rel = os.path.relpath(toy.annotations, toy.root).replace(os.sep, "/")
    remote_samples = sl.read_wider_face(f"{prefix}/{rel}", f"{prefix}/images")[:7]
    local = write_tfrecords(remote_samples, tmp_path / "local", num_shards=3, threads=2)
    url = f"s3://{BUCKET}/beam/shards"
    report = write_tfrecords_beam(remote_samples, url, num_shards=3, pipeline_options=DIRECT)
    assert objects_of(s3, url) == files_of(tmp_path / "local")
    assert report.num_written == 7 and report.resumed_shards == 0 and report.shards[0].startswith(url)
    assert [s.meta["filename"] for s in TFRecordSource(report.pattern)] == [s.image for s in remote_samples]
    assert local.num_written == 7


def test_a_rerun_uploads_only_the_shards_that_are_not_complete(s3, samples, tmp_path):
    pytest.importorskip("apache_beam")
    url = f"s3://{VERSIONED}/resume"
    write_tfrecords(samples, url, num_shards=3, threads=1)
    expected = objects_of(s3, url)
    before = versions(s3, url)
    assert before.pop("train.manifest.json") == 3  # committed after each shard
    assert len(before) == 6 and set(before.values()) == {1}

    s3.fs.rm_file(f"{VERSIONED}/resume/train-00002-of-00003.tfrecord")  # as if killed before its upload
    report = write_tfrecords(samples, url, num_shards=3, threads=1)
    assert report.resumed_shards == 2 and report.num_written == 9
    assert objects_of(s3, url) == expected
    after = versions(s3, url)
    for s in (0, 1):  # the complete shards and their indexes were not uploaded again
        name = f"train-0000{s}-of-00003.tfrecord"
        assert after[name] == before[name] == 1 and after[name + ".index"] == before[name + ".index"] == 1
    assert after["train-00002-of-00003.tfrecord"] == 2 and after["train-00002-of-00003.tfrecord.index"] == 2

    # an index missing (or a manifest without the shard) is enough for a shard to be written anew
    s3.fs.rm_file(f"{VERSIONED}/resume/train-00001-of-00003.tfrecord.index")
    beam = write_tfrecords_beam(samples, url, num_shards=3, pipeline_options=DIRECT)
    assert beam.resumed_shards == 2 and objects_of(s3, url) == expected
    again = versions(s3, url)
    assert again["train-00000-of-00003.tfrecord"] == 1 and again["train-00002-of-00003.tfrecord"] == 2
    assert again["train-00001-of-00003.tfrecord"] == 2

    done = write_tfrecords(samples, url, num_shards=3, threads=1)
    assert done.resumed_shards == 3
    last = versions(s3, url)
    assert {k: v for k, v in last.items() if k.endswith((".tfrecord", ".index"))} == \
        {k: v for k, v in again.items() if k.endswith((".tfrecord", ".index"))}


def test_failures_are_in_the_uploaded_manifest(s3, samples, tmp_path):
    bad = list(samples[:4])
    bad.insert(2, sl.Sample(str(tmp_path / "missing.jpg")))
    with pytest.warns(UserWarning, match="1 of 5 samples could not be written"):
        local = write_tfrecords(bad, tmp_path / "local", num_shards=2, threads=1)
    url = f"s3://{BUCKET}/failures"
    with pytest.warns(UserWarning, match=r"1 of 5 samples .* listed in s3://seqloaders-writer/failures/train"):
        report = write_tfrecords(bad, url, num_shards=2, threads=1)
    assert report.failed == local.failed and report.num_written == 4
    manifest = json.loads(files.read_bytes(f"{url}/train.manifest.json"))
    assert [(f["image"], f["index"], f["shard"]) for f in manifest["failed"]] == [(str(tmp_path / "missing.jpg"), 2, 1)]
    assert "FileNotFoundError" in manifest["failed"][0]["error"]
    assert objects_of(s3, url) == files_of(tmp_path / "local")
    assert len(TFRecordSource(report.pattern)) == 4


def test_cli_writes_to_the_bucket_with_storage_options(s3, toy, tmp_path, monkeypatch, capsys):
    local = write_tfrecords(sl.read_wider_face(toy.annotations, toy.images), tmp_path / "local", num_shards=2)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)  # only --storage-option can reach the server now
    url = f"s3://{BUCKET}/cli"
    options = [f"--storage-option={k}={v}" for k, v in s3.storage_options.items()]
    assert cli_main(["convert", "widerface", toy.annotations, "--images-dir", toy.images, "--shards", "2",
                     "--out", url, "--no-progress", *options]) == 0
    assert "24 of 24 samples written to 2 shards in s3://seqloaders-writer/cli" in capsys.readouterr().out
    assert objects_of(s3, url) == files_of(tmp_path / "local") and local.num_written == 24


def test_a_missing_bucket_is_file_not_found_naming_the_url(s3, samples, toy, capsys):
    with pytest.raises(FileNotFoundError, match="create the bucket") as info:
        write_tfrecords(samples[:2], "s3://no-such-bucket-here/shards", num_shards=1, threads=1)
    assert info.value.filename == "s3://no-such-bucket-here/shards"
    with pytest.raises(FileNotFoundError, match="create the bucket") as info:
        files.write_bytes("s3://no-such-bucket-here/x.json", b"{}")
    assert info.value.filename == "s3://no-such-bucket-here/x.json"
    common = ["convert", "widerface", toy.annotations, "--images-dir", toy.images, "--no-progress"]
    assert cli_main([*common, "--out", "s3://no-such-bucket-here/shards"]) == 2
    assert "create the bucket first" in capsys.readouterr().err
    assert cli_main([*common, "--out", f"s3://{BUCKET}/never", "--storage-option", "endpoint_url"]) == 2
    assert "--storage-option expects KEY=VALUE" in capsys.readouterr().err


class _FlakyPuts:
    """A real fsspec file system whose uploads first raise the given errors (fault injection)."""

    def __init__(self, fs, failures):
        self.fs, self.failures, self.puts = fs, list(failures), []

    def __getattr__(self, name):
        return getattr(self.fs, name)

    def _fail(self, path):
        self.puts.append(path)
        if self.failures:
            raise self.failures.pop(0)

    def put_file(self, lpath, rpath, **kwargs):
        self._fail(rpath)
        return self.fs.put_file(lpath, rpath, **kwargs)

    def pipe_file(self, path, value, **kwargs):
        self._fail(path)
        return self.fs.pipe_file(path, value, **kwargs)


def test_transient_upload_errors_are_retried(s3, samples, tmp_path, monkeypatch):
    write_tfrecords(samples[:3], tmp_path / "local", num_shards=1, threads=1)
    real_filesystem = files.filesystem
    flaky = _FlakyPuts(real_filesystem(f"s3://{BUCKET}")[0], [ConnectionResetError("reset by peer"),
                                                             TimeoutError("write timed out")])
    monkeypatch.setattr(files, "filesystem", lambda url, options=None: (flaky, real_filesystem(url, options)[1]))
    url = f"s3://{BUCKET}/flaky"
    report = write_tfrecords(samples[:3], url, num_shards=1, threads=1)
    assert report.num_written == 3
    # index, shard, manifest: 3 uploads, the first twice retried
    assert [p.rsplit("/", 1)[-1] for p in flaky.puts] == ["train-00000-of-00001.tfrecord.index"] * 3 + \
        ["train-00000-of-00001.tfrecord", "train.manifest.json"]
    monkeypatch.undo()
    assert objects_of(s3, url) == files_of(tmp_path / "local")

"""FsspecStorage and the URL helpers against real servers on 127.0.0.1 (moto's standalone S3
server and Python's http.server, started and stopped here): the read-through cache (hits without
the server, the size bound, corrupt entries), retries with back-off, local-file errors, and the
error that names the extra to install when fsspec is missing."""

from __future__ import annotations

import errno
import glob
import os
import pickle
import sys
import threading

import numpy as np
import pytest
from remotehelpers import _clear_filesystems, http_server, s3_server

import seqloaders as sl
from seqloaders.storage import files
from seqloaders.storage.remote import FsspecStorage, default_storage

BUCKET = "seqloaders-storage"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(str(tmp_path_factory.mktemp("s3-env"))) as server:
        server.fs.mkdir(BUCKET)
        for k in range(6):
            server.fs.pipe_file(f"{BUCKET}/objects/{k}.bin", bytes([k]) * (1000 + 100 * k))
        server.fs.invalidate_cache()
        yield server


def _url(k: int) -> str:
    return f"s3://{BUCKET}/objects/{k}.bin"


def _entries(cache_dir) -> list[str]:
    return sorted(glob.glob(os.path.join(str(cache_dir), "*", "*.entry")))


# -- URL helpers --------------------------------------------------------------------------------


def test_urls_are_told_from_local_paths_and_joined_with_slashes():
    assert files.is_url("s3://b/k") and files.is_url("https://host/x.jpg") and files.is_url("simplecache::s3://b/k")
    assert not files.is_url("/data/x.jpg") and not files.is_url("C:\\data\\x.jpg") and not files.is_url("a/b")
    assert not files.is_url(None) and files.is_url(type("P", (os.PathLike,), {"__fspath__": lambda s: "gs://b"})())
    assert files.join("s3://b/root", "images", "a\\b.jpg") == "s3://b/root/images/a/b.jpg"
    assert files.join("s3://b/root/", "x") == "s3://b/root/x"
    assert files.dirname("s3://b/root/ann.json") == "s3://b/root"
    assert files.basename("s3://b/root/") == "root"
    assert files.normpath("s3://b/x/../y/./z.jpg") == "s3://b/y/z.jpg"
    assert files.normpath("https://h/a/../b.jpg?v=1") == "https://h/b.jpg?v=1"
    assert files.abspath("s3://b/x") == "s3://b/x"
    assert files.join("data", "x") == os.path.join("data", "x")
    assert sl.formats.yolo.yolo_label_path("s3://b/ds/images/train/a.jpg") == "s3://b/ds/labels/train/a.txt"


def test_transient_errors_are_told_from_permanent_ones():
    assert files.is_transient(ConnectionResetError())
    assert files.is_transient(TimeoutError())
    assert files.is_transient(OSError(errno.ETIMEDOUT, "timed out"))
    slow_down = Exception("throttled")
    slow_down.response = {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}
    wrapped = OSError(errno.EIO, "SlowDown")  # how s3fs wraps an unknown botocore error code
    wrapped.__cause__ = slow_down
    assert files.is_transient(wrapped)
    http_503 = Exception("Service Unavailable")
    http_503.status = 503
    assert files.is_transient(http_503)
    not_found = Exception("nope")
    not_found.status = 404
    assert not files.is_transient(not_found)
    assert not files.is_transient(FileNotFoundError("k"))
    assert not files.is_transient(PermissionError("denied"))
    assert not files.is_transient(ValueError("bad"))


# -- without fsspec -----------------------------------------------------------------------------


def test_without_fsspec_a_url_names_the_extra_and_local_files_still_work(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # as if fsspec were not installed
    _clear_filesystems()
    with pytest.raises(ImportError, match=r'pip install "seqloaders\[s3\]"'):
        files.read_bytes("s3://bucket/a.jpg")
    with pytest.raises(ImportError, match=r"seqloaders\[s3\]"):
        sl.read_wider_face("s3://bucket/wider/train.txt")
    with pytest.raises(ImportError, match=r"seqloaders\[s3\]"):
        FsspecStorage(cache_bytes=0).read("gs://bucket/a.jpg")
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=2)  # local paths never import fsspec
    samples = sl.read_wider_face(toy.annotations, toy.images)
    seq = sl.DetectionSequence(samples, batch_size=2, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=2))
    assert isinstance(seq.storage, sl.LocalStorage)
    assert seq[0][0].shape == (2, 32, 32, 3)


# -- FsspecStorage on S3 ------------------------------------------------------------------------


def test_reads_keys_relative_to_a_root_and_full_urls(s3, tmp_path):
    storage = FsspecStorage(f"s3://{BUCKET}/objects", cache_dir=tmp_path / "c")
    assert storage.read("2.bin") == bytes([2]) * 1200
    assert storage.read(_url(3)) == bytes([3]) * 1300
    assert storage.read_range("4.bin", 10, 20) == bytes([4]) * 10
    local = tmp_path / "local.bin"
    local.write_bytes(b"on disk")
    assert FsspecStorage(cache_dir=tmp_path / "c").read(str(local)) == b"on disk"  # mixed lists work
    assert isinstance(default_storage([sl.Sample(image=_url(1))]), FsspecStorage)
    assert isinstance(default_storage([sl.Sample(image=str(local))]), sl.LocalStorage)


def test_a_missing_object_is_file_not_found_with_its_url_and_is_not_retried(s3, tmp_path):
    calls = []
    real = files.filesystem(_url(0))[0]
    storage = FsspecStorage(cache_dir=tmp_path / "c", backoff=0, filesystem=_Flaky(real, [], calls))
    with pytest.raises(FileNotFoundError) as info:
        storage.read(f"s3://{BUCKET}/objects/missing.bin")
    assert info.value.filename == f"s3://{BUCKET}/objects/missing.bin"
    assert info.value.errno == errno.ENOENT
    assert len(calls) == 1


def test_a_cache_hit_is_served_without_the_server(s3, tmp_path):
    cache = tmp_path / "cache"
    s3.fs.pipe_file(f"{BUCKET}/gone/a.bin", b"soon deleted")
    storage = FsspecStorage(cache_dir=cache)
    url = f"s3://{BUCKET}/gone/a.bin"
    assert storage.read(url) == b"soon deleted"
    s3.fs.rm(f"{BUCKET}/gone/a.bin")  # the server no longer has it: only the cache can answer
    with pytest.raises(FileNotFoundError):
        files.read_bytes(url)
    assert storage.read(url) == b"soon deleted"
    assert storage.cache_info()["hits"] == 1
    again = pickle.loads(pickle.dumps(FsspecStorage(cache_dir=cache)))  # another process's view of the cache
    assert again.read(url) == b"soon deleted"
    assert FsspecStorage(cache_dir=tmp_path / "other").cache_info()["bytes"] == 0


def test_the_cache_stays_within_its_bound_and_evicts_the_least_recently_used(s3, tmp_path):
    cache = tmp_path / "cache"
    storage = FsspecStorage(cache_dir=cache, cache_bytes=4000)
    for k in range(6):  # 1000..1500 bytes each: 7.5 kB in all
        storage.read(_url(k))
        size = sum(os.path.getsize(p) for p in _entries(cache))
        assert size <= 4000
    info = storage.cache_info()
    assert info["evicted"] >= 3 and info["bytes"] <= 4000 and info["misses"] == 6
    storage.read(_url(5))  # the newest is still there
    assert storage.cache_info()["hits"] == 1
    storage.read(_url(0))  # the oldest was evicted
    assert storage.cache_info()["misses"] == 7
    assert FsspecStorage(cache_dir=tmp_path / "tiny", cache_bytes=100).read(_url(1)) == bytes([1]) * 1100
    assert _entries(tmp_path / "tiny") == []  # larger than the whole cache: not cached
    storage.clear_cache()
    assert _entries(cache) == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_a_corrupt_cache_entry_is_detected_and_fetched_again(s3, tmp_path, damage, caplog):
    cache = tmp_path / "cache"
    storage = FsspecStorage(cache_dir=cache)
    expected = bytes([2]) * 1200
    assert storage.read(_url(2)) == expected
    (entry,) = _entries(cache)
    with open(entry, "rb") as f:
        raw = bytearray(f.read())
    if damage == "flip":
        raw[-1] ^= 0xFF  # one bit of the data: the SHA-256 no longer matches
    elif damage == "truncate":
        raw = raw[:-10]
    else:
        raw = bytearray(b"not an entry")
    with open(entry, "wb") as f:
        f.write(raw)
    with caplog.at_level("WARNING", logger="seqloaders.storage.remote"):
        assert storage.read(_url(2)) == expected
    assert "corrupt" in caplog.text
    assert storage.cache_info()["corrupt"] == 1
    assert storage.read(_url(2)) == expected  # re-fetched and cached again
    assert storage.cache_info()["hits"] == 1


def test_cache_entries_are_keyed_by_endpoint(s3, tmp_path):
    cache = tmp_path / "cache"
    a = FsspecStorage(cache_dir=cache, storage_options=s3.storage_options)
    a.read(_url(1))
    b = FsspecStorage(cache_dir=cache, storage_options={**s3.storage_options, "endpoint_url": s3.endpoint + "/"})
    b.read(_url(1))  # another endpoint: its own entry, never the first server's bytes
    assert len(_entries(cache)) == 2


def test_threads_share_one_storage(s3, tmp_path):
    storage = FsspecStorage(cache_dir=tmp_path / "c")
    results: dict[int, bytes] = {}
    errors = []

    def work(k):
        try:
            for _ in range(3):
                results[k] = storage.read(_url(k % 6))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(results[k] == bytes([k % 6]) * (1000 + 100 * (k % 6)) for k in range(12))


# -- retries ------------------------------------------------------------------------------------


class _Flaky:
    """A real fsspec file system whose ``cat_file`` first raises the given errors (fault injection)."""

    def __init__(self, fs, failures, calls):
        self.fs, self.failures, self.calls = fs, list(failures), calls

    def __getattr__(self, name):
        return getattr(self.fs, name)

    def cat_file(self, path, start=None, end=None, **kwargs):
        self.calls.append(path)
        if self.failures:
            raise self.failures.pop(0)
        return self.fs.cat_file(path, start=start, end=end, **kwargs)


def test_transient_errors_are_retried_until_the_read_succeeds(s3, tmp_path):
    calls = []
    real = files.filesystem(_url(0))[0]
    failures = [ConnectionResetError("reset by peer"), TimeoutError("read timed out")]
    storage = FsspecStorage(cache_dir=tmp_path / "c", retries=3, backoff=0, filesystem=_Flaky(real, failures, calls))
    assert storage.read(_url(3)) == bytes([3]) * 1300
    assert len(calls) == 3


def test_retries_give_up_with_an_error_naming_the_url(s3, tmp_path):
    calls = []
    real = files.filesystem(_url(0))[0]
    failures = [ConnectionResetError("reset")] * 5
    storage = FsspecStorage(cache_bytes=0, retries=2, backoff=0, filesystem=_Flaky(real, failures, calls))
    with pytest.raises(OSError, match="gave up after 3 attempts") as info:
        storage.read(_url(1))
    assert info.value.filename == _url(1) and len(calls) == 3


def test_a_permission_error_is_not_retried(s3, tmp_path):
    calls = []
    real = files.filesystem(_url(0))[0]
    storage = FsspecStorage(cache_bytes=0, retries=5, backoff=0,
                            filesystem=_Flaky(real, [PermissionError("Access Denied")], calls))
    with pytest.raises(PermissionError, match="credentials") as info:
        storage.read(_url(1))
    assert info.value.filename == _url(1) and len(calls) == 1


def test_the_back_off_doubles(monkeypatch):
    waits = []
    attempts = iter([ConnectionError(), ConnectionError(), ConnectionError(), None])

    def fn():
        exc = next(attempts)
        if exc is not None:
            raise exc
        return b"ok"

    assert files.call_with_retries(fn, "s3://b/k", retries=3, backoff=1.0, sleep=waits.append) == b"ok"
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0


# -- HTTP ---------------------------------------------------------------------------------------


def test_a_dataset_served_over_http_gives_the_same_batches(tmp_path):
    pytest.importorskip("aiohttp", reason="fsspec's HTTP file system needs aiohttp (the s3 extra brings it)")
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=6)
    local = sl.read_wider_face(toy.annotations, toy.images)
    with http_server(str(toy.root)) as base:
        rel = os.path.relpath(toy.annotations, toy.root).replace(os.sep, "/")
        images = base + "/" + os.path.relpath(toy.images, toy.root).replace(os.sep, "/")
        remote = sl.read_wider_face(f"{base}/{rel}", images)
        assert [s.image for s in remote] == [
            images + "/" + os.path.relpath(s.image, toy.images).replace(os.sep, "/") for s in local]
        kwargs = dict(batch_size=3, image_size=(40, 40), encoder=sl.GridEncoder(grid_size=4), seed=1)
        storage = FsspecStorage(cache_dir=tmp_path / "c")
        a, b = sl.DetectionSequence(local, **kwargs), sl.DetectionSequence(remote, storage=storage, **kwargs)
        for k in range(len(a)):
            np.testing.assert_array_equal(a[k][0], b[k][0])
            np.testing.assert_array_equal(a[k][1], b[k][1])
        # http.server ignores Range headers: a ranged read still returns the right bytes
        with open(local[0].image, "rb") as f:
            assert storage.read_range(remote[0].image, 2, 12) == f.read()[2:12]
        with pytest.raises(FileNotFoundError) as info:
            storage.read(f"{base}/images/nope.jpg")
        assert info.value.filename == f"{base}/images/nope.jpg"

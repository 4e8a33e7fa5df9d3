"""TFRecord framing, CRC32C and corrupt shards: our bytes against TensorFlow's own writer."""

import os

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.errors import RecordError
from seqloaders.tfrecord import TFRecordSource, write_tfrecords
from seqloaders.tfrecord.framing import (
    _crc32c_table,
    crc32c,
    encode_record,
    index_path,
    iter_records,
    read_index,
    scan_records,
)


def test_crc32c_known_value_and_fallback_agree():
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value of CRC-32C
    assert crc32c(b"") == 0
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 8, 9, 63, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert _crc32c_table(data) == crc32c(data)


def test_framing_is_byte_identical_to_tensorflows_writer(tmp_path):
    import tensorflow as tf

    payloads = [b"", b"a", os.urandom(1000), b"x" * 70000]
    path = str(tmp_path / "tf.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for p in payloads:
            w.write(p)
    with open(path, "rb") as f:
        assert f.read() == b"".join(encode_record(p) for p in payloads)
    _offsets, sizes = scan_records(path)
    assert sizes.tolist() == [len(p) + 16 for p in payloads]
    assert list(iter_records(path)) == payloads


def _write(tmp_path, toy, num_shards=2):
    return write_tfrecords(toy.samples[:6], tmp_path / "out", num_shards=num_shards, threads=2)


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def test_flipped_data_byte_names_shard_and_record(tmp_path, toy):
    report = _write(tmp_path, toy)
    shard = report.shards[1]
    offsets, _sizes = read_index(index_path(shard))
    _flip(shard, int(offsets[2]) + 200)  # inside the data of record 2
    source = TFRecordSource(report.pattern)
    source[0]  # records before it are fine
    with pytest.raises(RecordError, match=r"train-00001-of-00002\.tfrecord: record 2: corrupt data") as info:
        source[3 + 2]
    assert info.value.record == 2 and info.value.path == shard
    assert isinstance(info.value, ValueError) and isinstance(info.value, sl.SeqloadersError)
    with pytest.raises(RecordError, match="record 2"):
        source.storage.read(f"{shard}#2")
    # the flip is inside the JPEG bytes: without CRC checks the record still parses
    assert isinstance(TFRecordSource(report.pattern, check_crc=False)[5], sl.Sample)


def test_flipped_length_byte_found_by_scan(tmp_path, toy):
    report = _write(tmp_path, toy)
    shard = report.shards[0]
    offsets, _ = read_index(index_path(shard))
    os.remove(index_path(shard))
    _flip(shard, int(offsets[1]) + 1)  # the length field of record 1
    with pytest.raises(RecordError, match=r"train-00000-of-00002\.tfrecord: record 1: corrupt header"):
        TFRecordSource(report.pattern)


@pytest.mark.parametrize("keep_index", [True, False])
def test_truncated_tail_names_shard_and_record(tmp_path, toy, keep_index):
    report = _write(tmp_path, toy)
    shard = report.shards[1]
    if not keep_index:
        os.remove(index_path(shard))
    size = os.path.getsize(shard)
    with open(shard, "r+b") as f:
        f.truncate(size - 100)
    # a stale index (its records end past the file) is ignored and the shard rescanned
    with pytest.raises(RecordError, match=r"train-00001-of-00002\.tfrecord: record 2: truncated"):
        TFRecordSource(report.pattern)


def test_index_is_rebuilt_by_scanning_and_matches_the_written_one(tmp_path, toy):
    report = _write(tmp_path, toy)
    written = [read_index(index_path(s)) for s in report.shards]
    for s in report.shards:
        os.remove(index_path(s))
    source = TFRecordSource(report.pattern, save_index=True)
    assert len(source) == 6
    for s, (offsets, sizes) in zip(report.shards, written):
        rebuilt = read_index(index_path(s), os.path.getsize(s))
        assert np.array_equal(rebuilt[0], offsets) and np.array_equal(rebuilt[1], sizes)


def test_malformed_index_is_ignored(tmp_path, toy):
    report = _write(tmp_path, toy, num_shards=1)
    with open(index_path(report.shards[0]), "w") as f:
        f.write("0 12\nnot numbers\n")
    assert len(TFRecordSource(report.shards[0])) == 6

"""The parse cache: hits without parsing, misses on a changed file or option, damaged entries rebuilt,
touched files still hit, and mapped tables shared with worker processes by path."""

import json
import logging
import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import seqloaders as sl
from seqloaders import parsecache
from seqloaders.masks import decode_masks
from seqloaders.table import SampleTable
from seqloaders.toy import write_toy_coco


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SEQLOADERS_CACHE", str(folder))
    return folder / "tables"


@pytest.fixture
def toy(tmp_path):
    return write_toy_coco(tmp_path / "coco", num_images=10, seed=7)


class Counting:
    """A build function that counts its calls."""

    def __init__(self, toy):
        self.toy, self.calls = toy, 0

    def __call__(self) -> SampleTable:
        self.calls += 1
        return sl.read_coco(self.toy.path, self.toy.options["images_dir"], cache=False)


def _read(toy, build, **options):
    return parsecache.cached("coco-test", [toy.path], {"drop_crowd": False, **options}, build)


def _decoded(samples):
    return [decode_masks(s) if s.masks is not None else None for s in samples]


def _same(a, b):
    assert list(a) == list(b) and [s.meta for s in a] == [s.meta for s in b]
    for x, y in zip(_decoded(a), _decoded(b)):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


def test_the_second_read_is_a_hit_without_parsing(cache, toy):
    build = Counting(toy)
    first = _read(toy, build)
    second = _read(toy, build)
    assert build.calls == 1
    assert second.path is not None and second.path.startswith(str(cache)) and first.path == second.path
    _same(second, build())
    assert second.report.num_samples == len(second) and second.category_ids == first.category_ids
    assert not any(str(p).startswith(os.path.dirname(toy.path)) for p in cache.iterdir())


def test_a_changed_file_or_option_parses_again(cache, toy):
    build = Counting(toy)
    _read(toy, build)
    _read(toy, build, drop_crowd=True)
    assert build.calls == 2
    data = json.loads(Path(toy.path).read_text(encoding="utf-8"))
    data["annotations"] = data["annotations"][:-1]
    with open(toy.path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    table = _read(toy, build)
    assert build.calls == 3 and table.num_boxes == len(data["annotations"])
    assert len(list(cache.glob("coco-test-*.sltable"))) == 2  # the old version of the entry is gone


def test_same_size_new_content_is_a_miss_and_a_touch_is_a_hit(cache, toy):
    build = Counting(toy)
    _read(toy, build)
    st = os.stat(toy.path)
    os.utime(toy.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, content unchanged
    _read(toy, build)
    assert build.calls == 1
    manifest = json.loads(next(cache.glob("coco-test-*.json")).read_text())
    assert manifest["sources"][0]["mtime_ns"] == st.st_mtime_ns + 10**9  # no rehash next time
    text = Path(toy.path).read_bytes()
    changed = text.replace(b'"iscrowd": 1', b'"iscrowd": 0', 1)
    assert changed != text and len(changed) == len(text)
    with open(toy.path, "wb") as f:
        f.write(changed)
    os.utime(toy.path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    table = _read(toy, build)
    assert build.calls == 2 and table == build()


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "missing"])
def test_a_damaged_entry_is_rebuilt_quietly(cache, toy, damage, caplog):
    build = Counting(toy)
    first = _read(toy, build)
    table_file = next(cache.glob("coco-test-*.sltable"))
    del first
    if damage == "flip":
        data = bytearray(table_file.read_bytes())
        data[-20] ^= 0xFF
        table_file.write_bytes(bytes(data))
    elif damage == "truncate":
        table_file.write_bytes(table_file.read_bytes()[:-100])
    elif damage == "manifest":
        next(cache.glob("coco-test-*.json")).write_text("{not json")
    else:
        table_file.unlink()
    with caplog.at_level(logging.INFO, logger="seqloaders.parsecache"):
        table = _read(toy, build)
    assert build.calls == 2
    assert "parsing again" in caplog.text
    again = _read(toy, build)
    assert build.calls == 2 and again.path == table.path  # the rebuilt entry hits
    _same(table, build())


def test_read_coco_caches_by_default_and_not_when_told(cache, toy):
    sl.read_coco(toy.path, toy.options["images_dir"], cache=False)
    assert not cache.exists()
    first = sl.read_coco(toy.path, toy.options["images_dir"])
    second = sl.read_coco(toy.path, toy.options["images_dir"])
    assert first.path == second.path and second.path is not None
    assert len(list(cache.glob("coco-*.sltable"))) == 1
    sl.read_coco(toy.path, toy.options["images_dir"], drop_crowd=True)
    assert len(list(cache.glob("coco-*.sltable"))) == 2


def test_a_cached_read_warns_as_the_parse_did(cache, tmp_path):
    toy = write_toy_coco(tmp_path / "bad", num_images=6, seed=1)
    data = json.loads(Path(toy.path).read_text(encoding="utf-8"))
    data["annotations"][1]["bbox"] = [1, 2]
    with open(toy.path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    for _ in range(2):
        with pytest.warns(UserWarning, match="skipped 1 malformed"):
            skipped = sl.read_coco(toy.path, on_error="skip")
        assert len(skipped.report.skipped) == 1
    with pytest.raises(sl.AnnotationError, match="'bbox'"):  # "raise" is another entry: it raises
        sl.read_coco(toy.path)


def _child_samples(table):
    """In a spawned process: the samples of a table the parent pickled, masks decoded."""
    return table.path, [(s, decode_masks(s) if s.masks is not None else None) for s in table]


def test_a_mapped_table_pickles_as_its_path_into_a_spawned_process(cache, toy):
    table = sl.read_coco(toy.path, toy.options["images_dir"])
    assert table.path is not None and len(pickle.dumps(table)) < 2000
    part = table[2:7]
    assert len(pickle.dumps(part)) < 2000  # a slice of a mapped table: the path and the rows
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        path, got = pool.apply(_child_samples, (table,))
        _, got_part = pool.apply(_child_samples, (part,))
    assert path == table.path
    expected = [(s, decode_masks(s) if s.masks is not None else None) for s in table]
    assert [s for s, _ in got] == [s for s, _ in expected]
    for (_, a), (_, b) in zip(got, expected):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert [s for s, _ in got_part] == [s for s, _ in expected[2:7]]


def test_a_replaced_cache_file_is_refused_by_a_worker(cache, toy):
    table = sl.read_coco(toy.path, toy.options["images_dir"])
    state = pickle.dumps(table)
    other = SampleTable.from_samples(list(table)[:3])
    other.save(table.path)  # another version written over the file after the parent mapped it
    with pytest.raises(sl.table.CorruptFileError, match="holds other data"):
        pickle.loads(state)

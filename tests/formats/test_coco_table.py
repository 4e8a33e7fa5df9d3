"""read_coco's table: the fast, chunked path gives the samples of the record-by-record checks, and the
table behaves as the list of samples it replaces."""

import json
import pickle

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats import cocojson
from seqloaders.formats.coco import parse_coco, read_coco
from seqloaders.masks import decode_masks, encode_rle
from seqloaders.table import SampleTable
from seqloaders.toy import write_toy_coco


def _assert_same(got, expected):
    assert len(got) == len(expected)
    assert got == list(expected)
    for a, b in zip(got, expected):
        assert a.meta == b.meta and a.image_size == b.image_size
        assert (a.masks is None) == (b.masks is None)
        if b.masks is not None:
            assert [k for k, _ in a.masks.entries] == [k for k, _ in b.masks.entries]
            np.testing.assert_array_equal(decode_masks(a), decode_masks(b))
        for name, value in b.attributes.items():
            assert a.attributes[name].dtype == value.dtype, name
        assert a.boxes.dtype == np.float32 and a.labels.dtype == np.int64
    assert got.report.skipped == expected.report.skipped
    assert got.report.dropped_boxes == expected.report.dropped_boxes
    assert got.class_names == expected.class_names and got.meta == expected.meta
    assert got.category_ids == expected.category_ids


def _mixed(num_images=60, seed=0, string_ids=False):
    """A COCO document with every kind of record: multi-part polygons, compressed and uncompressed RLE,
    objects without segmentation, keypoints, crowd, images without annotations, sizes missing."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(num_images):
        image_id = f"img{i}" if string_ids else 1000 + 7 * i
        h, w = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        images.append({"id": image_id, "file_name": f"{i:04d}.jpg", "height": h, "width": w})
        for _ in range(int(rng.integers(0, 5))):
            x, y = round(float(rng.uniform(0, w - 4)), 2), round(float(rng.uniform(0, h - 4)), 2)
            bw, bh = round(float(rng.uniform(1, w - x)), 2), round(float(rng.uniform(1, h - y)), 2)
            ann = {"id": len(anns) + 1, "image_id": image_id, "category_id": [1, 3, 18][len(anns) % 3],
                   "bbox": [x, y, bw, bh], "area": round(bw * bh, 3), "iscrowd": 0}
            kind = len(anns) % 6
            if kind in (0, 1):
                parts = 2 if kind else 1
                ann["segmentation"] = [[round(float(v), 2) for v in (x, y, x + bw, y, x + bw, y + bh, x, y + bh)]
                                       for _ in range(parts)]
            elif kind == 2:
                mask = np.zeros((h, w), bool)
                mask[int(y):int(y + bh), int(x):int(x + bw)] = True
                ann["segmentation"], ann["iscrowd"] = encode_rle(mask, compressed=False), 1
            elif kind == 3:
                mask = np.zeros((h, w), bool)
                mask[int(y):int(y + bh) + 1, int(x)] = True
                ann["segmentation"] = encode_rle(mask)
            elif kind == 4:
                ann["keypoints"] = [x, y, 2, x + 1, y + 1, 1, 0, 0, 0]
                del ann["area"]
            anns.append(ann)
    images.append({"id": "no-size" if string_ids else 1, "file_name": "nosize.jpg"})
    return {"images": images, "annotations": anns,
            "categories": [{"id": 3, "name": "b"}, {"id": 1, "name": "a", "keypoints": ["p", "q", "r"]},
                           {"id": 18, "name": "c"}]}


@pytest.mark.parametrize("string_ids", [False, True])
@pytest.mark.parametrize("drop_crowd", [False, True])
def test_the_fast_path_gives_the_checked_path_samples(monkeypatch, string_ids, drop_crowd):
    doc = _mixed(string_ids=string_ids)
    text = json.dumps(doc, indent=1)
    checked = parse_coco(json.loads(text), "imgs", drop_crowd=drop_crowd)  # a dict: record by record
    monkeypatch.setattr(cocojson, "CHUNK_BYTES", 500)  # many chunks
    fast = parse_coco(text.encode(), "imgs", drop_crowd=drop_crowd)
    assert isinstance(fast, SampleTable) and fast.report.num_boxes == fast.num_boxes > 0
    _assert_same(fast, checked)


def test_toy_files_read_the_same_through_every_path(tmp_path, monkeypatch):
    for seed in range(3):
        toy = write_toy_coco(tmp_path / str(seed), num_images=10, seed=seed)
        with open(toy.path, encoding="utf-8") as f:
            checked = parse_coco(json.load(f), toy.options["images_dir"], path=toy.path)
        _assert_same(read_coco(toy.path, toy.options["images_dir"], cache=False), checked)
        monkeypatch.setattr(cocojson, "CHUNK_BYTES", 300)
        _assert_same(read_coco(toy.path, toy.options["images_dir"], cache=False), checked)
        monkeypatch.undo()


def test_a_bad_record_in_a_middle_chunk_skips_as_before(monkeypatch):
    doc = _mixed(num_images=80, seed=2)
    doc["annotations"][40]["bbox"] = [1, 2, "x", 4]
    doc["annotations"][70]["category_id"] = 99
    text = json.dumps(doc, indent=1)
    with pytest.warns(UserWarning, match="skipped 2 malformed"):
        checked = parse_coco(text, on_error="skip", path="a.json")  # one chunk, checked record by record
    monkeypatch.setattr(cocojson, "CHUNK_BYTES", 2000)
    with pytest.warns(UserWarning, match="skipped 2 malformed"):
        fast = parse_coco(text, on_error="skip", path="a.json")
    _assert_same(fast, checked)
    assert [line for line, _ in fast.report.skipped] == [line for line, _ in checked.report.skipped] != [None, None]


def test_an_annotation_holding_a_list_of_objects_parses_whole(monkeypatch):
    doc = _mixed(num_images=30, seed=3)
    for ann in doc["annotations"]:
        ann["attributes"] = [{"occluded": 0}, {"truncated": 1}]  # "}, {" inside a record
    text = json.dumps(doc)
    monkeypatch.setattr(cocojson, "CHUNK_BYTES", 100)
    _assert_same(parse_coco(text), parse_coco(json.loads(text)))


def test_booleans_and_nulls_take_the_checked_path():
    doc = _mixed(num_images=20, seed=4)
    doc["annotations"][0]["iscrowd"] = False  # accepted as 0, as before
    doc["annotations"][1]["segmentation"] = None
    doc["annotations"][2]["bbox"] = [True, 1, 2, 3]
    with pytest.raises(sl.AnnotationError, match=r"annotations\[2\].*'bbox' must be"):
        parse_coco(json.dumps(doc))
    doc["annotations"][2]["bbox"] = [0, 1, 2, 3]
    _assert_same(parse_coco(json.dumps(doc)), parse_coco(doc))


def test_the_table_is_a_compact_sample_list():
    table = parse_coco(json.dumps(_mixed(num_images=200, seed=5)), "imgs")
    samples = list(table)
    assert isinstance(table, sl.SampleList) and list.__len__(table) == 0  # no list of Samples inside
    assert table.nbytes < 200 * table.num_boxes + 100 * len(table)
    assert repr(table).startswith(f"SampleTable({len(table)} samples, {table.num_boxes} boxes")
    assert table[5:9] == samples[5:9] and table[-1] == samples[-1]
    assert table[[3, 3, 0]] == [samples[3]] * 2 + samples[:1]
    assert samples + table == samples * 2 and table + samples == samples * 2
    again = pickle.loads(pickle.dumps(table))
    _assert_same(again, table)
    with pytest.raises(IndexError):
        table[len(table)]


def test_mutating_the_table_makes_it_a_plain_list():
    table = parse_coco(json.dumps(_mixed(num_images=10, seed=6)))
    samples = list(table)
    table[0] = samples[1]
    table.append(samples[2])
    assert len(table) == len(samples) + 1 and table[0] == samples[1] and table[-1] == samples[2]
    assert table.report.num_samples == len(samples) and pickle.loads(pickle.dumps(table)) == table
    table.sort(key=lambda s: s.image)
    assert [s.image for s in table] == sorted(s.image for s in [samples[1], *samples[1:], samples[2]])


def test_from_samples_round_trips_any_reader(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    table = SampleTable.from_samples(samples)
    assert table == samples and table.class_names == samples.class_names
    assert [s.meta for s in table] == [s.meta for s in samples]

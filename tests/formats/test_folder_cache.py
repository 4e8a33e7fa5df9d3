"""read_voc and read_yolo keep their samples in the parse cache, keyed by the folder's listing."""

import os
import time

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats import voc, yolo
from seqloaders.table import SampleTable
from seqloaders.toy import TOY_CLASSES, write_toy_voc, write_toy_yolo


@pytest.fixture(autouse=True)
def cache_folder(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SEQLOADERS_CACHE", str(folder))
    return folder


class Counter:
    """Wraps a reader's uncached read and counts the parses."""

    def __init__(self, monkeypatch, module, name):
        self.calls, original = 0, getattr(module, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)


def later(path) -> None:
    """Give ``path`` an mtime the previous read cannot have seen (coarse file system clocks)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_voc_second_read_is_a_hit_and_the_same_samples(tmp_path, monkeypatch):
    toy = write_toy_voc(tmp_path / "voc", num_images=8)
    parses = Counter(monkeypatch, voc, "_read_files")
    first = sl.read_voc(toy.path, class_names=TOY_CLASSES)
    second = sl.read_voc(toy.path, class_names=TOY_CLASSES)
    plain = sl.read_voc(toy.path, class_names=TOY_CLASSES, cache=False)
    assert parses.calls == 2  # the first read and the uncached one
    assert isinstance(second, SampleTable) and second.path is not None
    assert second == plain and first == plain and second.report == plain.report
    assert second.class_names == plain.class_names
    assert [s.meta for s in second] == [s.meta for s in plain]
    assert not any(str(tmp_path / "voc") in os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "cache") for f in fs)
    assert not [f for f in os.listdir(tmp_path / "voc") if "cache" in f or f.endswith(".sltable")]


def test_voc_what_invalidates_the_entry(tmp_path, monkeypatch):
    toy = write_toy_voc(tmp_path / "voc", num_images=8)
    annotations = tmp_path / "voc" / "Annotations"
    parses = Counter(monkeypatch, voc, "_read_files")
    sl.read_voc(toy.path)
    xml = sorted(annotations.iterdir())[1]
    xml.write_text(xml.read_text().replace("<pose>Left</pose>", "<pose>Right</pose>"))  # another size
    assert [str(p) for p in sl.read_voc(toy.path)[1].attributes["pose"]].count("Right") >= 1
    assert parses.calls == 2
    later(xml)  # a touch: same content, another mtime (no hashing of 118 k files: it re-parses)
    sl.read_voc(toy.path)
    assert parses.calls == 3
    (annotations / "extra.xml").write_text(xml.read_text())
    assert len(sl.read_voc(toy.path)) == 9 and parses.calls == 4
    os.unlink(annotations / "extra.xml")
    assert len(sl.read_voc(toy.path)) == 8 and parses.calls == 5
    sl.read_voc(toy.path, class_names=TOY_CLASSES)  # another option
    sl.read_voc(toy.path, class_names=TOY_CLASSES, drop_difficult=True)
    assert parses.calls == 7
    sl.read_voc(toy.path, class_names=TOY_CLASSES, drop_difficult=True)
    sl.read_voc(toy.path)
    assert parses.calls == 7


def test_voc_a_hit_warns_again_about_what_was_skipped(tmp_path):
    toy = write_toy_voc(tmp_path / "voc", num_images=8)
    xml = sorted((tmp_path / "voc" / "Annotations").iterdir())[2]
    xml.write_text(xml.read_text().replace("<xmin>", "<xmin>x", 1))
    for _ in range(2):
        with pytest.warns(UserWarning, match="skipped 1 malformed"):
            samples = sl.read_voc(toy.path, on_error="skip")
        assert len(samples) == 7 and samples.report.skipped[0][0] is not None
    with pytest.raises(sl.AnnotationError, match="must be a number"):
        sl.read_voc(toy.path)


def test_a_damaged_entry_is_rebuilt(tmp_path, cache_folder, monkeypatch):
    toy = write_toy_voc(tmp_path / "voc", num_images=8)
    expected = sl.read_voc(toy.path, cache=False)
    sl.read_voc(toy.path)
    tables = [os.path.join(d, f) for d, _, fs in os.walk(cache_folder) for f in fs if f.endswith(".sltable")]
    assert len(tables) == 1
    with open(tables[0], "r+b") as f:
        f.truncate(os.path.getsize(tables[0]) // 2)
    assert sl.read_voc(toy.path) == expected


def _jpeg(path, h, w):
    cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def test_yolo_second_read_is_a_hit_and_what_invalidates_it(tmp_path, monkeypatch):
    toy = write_toy_yolo(tmp_path / "yolo", task="segment", num_images=8)
    parses = Counter(monkeypatch, yolo, "_read_images")
    first = sl.read_yolo(toy.path)
    second = sl.read_yolo(toy.path)
    assert parses.calls == 1 and isinstance(second, SampleTable) and second.path is not None
    assert second == sl.read_yolo(toy.path, cache=False) == first
    assert second[1].masks is not None and second.report == first.report
    images = tmp_path / "yolo" / "images" / "train"
    image = sorted(images.iterdir())[0]
    h, w = first[0].image_size
    _jpeg(image, h + 10, w)  # the same name, another size: the boxes move
    assert sl.read_yolo(toy.path)[0].image_size == (h + 10, w)
    label = tmp_path / "yolo" / "labels" / "train" / (image.stem + ".txt")
    label.write_text("0 0.5 0.5 0.2 0.2\n")
    assert sl.read_yolo(toy.path)[0].num_boxes == 1
    os.unlink(label)
    assert sl.read_yolo(toy.path)[0].num_boxes == 0
    calls = parses.calls
    assert calls == 5  # with the uncached read
    yaml = tmp_path / "yolo" / "data.yaml"
    yaml.write_text(yaml.read_text().replace("names:", "# renamed\nnames:"))
    later(yaml)
    sl.read_yolo(toy.path)
    sl.read_yolo(toy.path, split="val")
    sl.read_yolo(toy.path, class_names=("a", "b", "c", "d"))
    assert parses.calls == calls + 3
    sl.read_yolo(toy.path, split="val")
    assert parses.calls == calls + 3


def test_yolo_images_folder_and_cache_off(tmp_path, cache_folder, monkeypatch):
    toy = write_toy_yolo(tmp_path / "yolo", num_images=8)
    images = tmp_path / "yolo" / "images" / "train"
    parses = Counter(monkeypatch, yolo, "_read_images")
    assert sl.read_yolo(images, class_names=TOY_CLASSES) == toy.samples
    assert sl.read_yolo(images, class_names=TOY_CLASSES) == toy.samples
    assert parses.calls == 1
    before = sorted(os.listdir(cache_folder / "tables"))
    plain = sl.read_yolo(images, class_names=TOY_CLASSES, cache=False)
    assert not isinstance(plain, SampleTable) and parses.calls == 2
    assert sorted(os.listdir(cache_folder / "tables")) == before


def test_listing_file_changes_are_seen_within_one_clock_tick(tmp_path, monkeypatch):
    toy = write_toy_voc(tmp_path / "voc", num_images=3)
    parses = Counter(monkeypatch, voc, "_read_files")
    xml = sorted((tmp_path / "voc" / "Annotations").iterdir())[0]
    for k in range(5):  # quicker than a coarse mtime clock: every change must still re-parse
        text = xml.read_text()
        xml.write_text(text.replace("<segmented>0</segmented>", "<segmented>0</segmented> " if k % 2 == 0 else
                                    "<segmented>0</segmented>"))
        st = os.stat(xml)
        os.utime(xml, ns=(st.st_atime_ns, time.time_ns() + k))
        sl.read_voc(toy.path)
    assert parses.calls == 5

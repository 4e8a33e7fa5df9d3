"""The fast and threaded paths of read_voc and read_yolo give what the plain serial loop gives.

Real folders of a few hundred files, broken ones among them, read four ways: serially, with the
read-ahead threads forced on from the first file, and with each reader's fast parser turned off
(every file through the checked, line-tracking parser). Samples, reports, skipped lines, warnings
and the first error raised must be the same.
"""

import os
import warnings

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats import readahead, voc, yolo
from seqloaders.formats.readahead import read_ahead

NUM_FILES = 300


def assert_same(got: sl.SampleList, expected: sl.SampleList) -> None:
    """Strict equality: every field, dtypes and meta included, and the reports."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (g.image, g.image_size, g.meta) == (e.image, e.image_size, e.meta)
        for a, b in ((g.boxes, e.boxes), (g.labels, e.labels)):
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        assert g.attributes.keys() == e.attributes.keys()
        for key, value in e.attributes.items():
            assert g.attributes[key].dtype == value.dtype and g.attributes[key].tolist() == value.tolist()
        assert (g.keypoints is None) == (e.keypoints is None)
        if e.keypoints is not None:
            assert g.keypoints.tobytes() == e.keypoints.tobytes()
        assert (g.masks is None) == (e.masks is None)
    assert got.report == expected.report
    assert got.class_names == expected.class_names


def force_threads(m) -> None:
    """Read-ahead threads after the first 32 files, whatever the cache (a warm one would keep one thread)."""
    m.setattr(readahead, "PROBE", 16)
    m.setattr(readahead, "WAITING", -1.0)


@pytest.fixture
def threaded(monkeypatch):
    force_threads(monkeypatch)


def read_four_ways(reader, monkeypatch, path, fast_off, **options):
    """The reader serially, threaded, and both again with the fast parser off; warnings recorded."""
    results = []
    for off in (False, True):
        with monkeypatch.context() as m:
            if off:
                fast_off(m)
            for forced in (False, True):
                if forced:
                    force_threads(m)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    samples = reader(path, threads=4 if forced else 0, cache=False, **options)
                results.append((samples, [str(w.message) for w in caught]))
    return results


# ------------------------------------------------------------------------------------------ VOC
def _voc_file(k: int, rng: np.random.Generator) -> str:
    newline = ("\n", "\r\n", "\r")[k % 3]
    objects = []
    for j in range(int(rng.integers(0, 4))):
        x0, y0 = (int(v) for v in rng.integers(1, 200, 2))
        objects.append(f"  <object>{newline}    <name>{('dog', 'cat', 'person')[j % 3]}</name>{newline}"
                       f"    <difficult>{j % 2}</difficult>{newline}    <bndbox>{newline}"
                       f"      <xmin>{x0}</xmin><ymin>{y0}</ymin>{newline}"
                       f"      <xmax>{x0 + 20}</xmax><ymax>{y0 + 30}</ymax>{newline}    </bndbox>{newline}"
                       f"  </object>{newline}")
    text = (f"<annotation>{newline}  <filename>{k:05d}.jpg</filename>{newline}"
            f"  <size><width>500</width><height>375</height></size>{newline}{''.join(objects)}</annotation>{newline}")
    if k % 37 == 5:  # a comment with an <object> in it: the fast path's line count must step aside
        text = text.replace("<annotation>", "<annotation><!-- <object> -->", 1)
    if k % 41 == 7:
        text = '<?xml version="1.0" encoding="utf-8"?>' + newline + text
    broken = {11: ("<xmax>", "<xmax>12px"), 53: ("</annotation>", ""), 97: ("<filename>", "<file>"),
              151: ("<annotation>", '<!DOCTYPE a [<!ENTITY e "x">]><annotation>'),
              233: ("<ymin>", "<ymin>nan")}
    if k in broken and "<object>" in text:
        old, new = broken[k]
        text = text.replace(old, new, 1)
    return text


@pytest.fixture(scope="module")
def voc_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc-parallel")
    rng = np.random.default_rng(0)
    (root / "Annotations").mkdir()
    for k in range(NUM_FILES):
        (root / "Annotations" / f"{k:05d}.xml").write_bytes(_voc_file(k, rng).encode())
    return root


def _voc_fast_off(m):
    m.setattr(voc, "_parse_fast", lambda raw, path, one_based: None)


def test_voc_the_four_ways_agree_and_skip_the_same_lines(voc_folder, monkeypatch):
    runs = read_four_ways(sl.read_voc, monkeypatch, voc_folder, _voc_fast_off, on_error="skip")
    (serial, warned), *others = runs
    assert len(serial.report.skipped) >= 4 and len(warned) == 1
    assert any(line is not None for line, _ in serial.report.skipped)
    for samples, caught in others:
        assert_same(samples, serial)
        assert caught == warned


def test_voc_warn_and_raise_agree(voc_folder, monkeypatch):
    runs = read_four_ways(sl.read_voc, monkeypatch, voc_folder, _voc_fast_off, on_error="warn")
    assert len(runs[0][1]) >= 4 and all(caught == runs[0][1] for _, caught in runs)
    errors = []
    for threads, off in ((0, False), (4, False), (0, True)):
        with monkeypatch.context() as m:
            if threads:
                force_threads(m)
            if off:
                _voc_fast_off(m)
            with pytest.raises(sl.AnnotationError) as info:
                sl.read_voc(voc_folder, threads=threads, cache=False)
            errors.append((str(info.value), info.value.path, info.value.line))
    assert errors[0][0].startswith(os.path.join(str(voc_folder), "Annotations", "00011.xml"))
    assert errors.count(errors[0]) == 3


def _outcome(data: bytes):
    try:
        parsed = voc.parse_voc_xml(data, path="x.xml")
    except sl.AnnotationError as exc:
        return str(exc), exc.line
    return parsed.lines, parsed.names, parsed.boxes.tobytes(), parsed.image_size, parsed.filename


def test_voc_fast_path_gives_the_checked_paths_lines_and_errors(voc_folder, monkeypatch):
    files = sorted(os.listdir(voc_folder / "Annotations"))
    fast = [_outcome((voc_folder / "Annotations" / f).read_bytes()) for f in files]
    _voc_fast_off(monkeypatch)
    checked = [_outcome((voc_folder / "Annotations" / f).read_bytes()) for f in files]
    assert fast == checked
    assert sum(isinstance(o[0], list) and len(o[0]) > 0 for o in fast) > NUM_FILES // 2


# ----------------------------------------------------------------------------------------- YOLO
def _write_yolo(root, segments: bool):
    images, labels = root / "images" / "train", root / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    rng = np.random.default_rng(1)
    sources = []
    for h, w in ((30, 40), (48, 32), (17, 23)):
        _ok, data = cv2.imencode(".jpg", np.full((h, w, 3), 90, np.uint8))
        sources.append(data.tobytes())
    bad = {17: "0 0.5 0.5 0.2", 71: "1 0.5 0.5 1.7 0.1", 130: "x 0.1 0.1 0.1 0.1", 250: "0 nan 0.5 0.1 0.1",
           261: "9 0.5 0.5 0.1 0.1"}
    for k in range(NUM_FILES):
        (images / f"{k:05d}.jpg").write_bytes(sources[k % 3] if k != 199 else b"\xff\xd8not a jpeg")
        if k % 10 == 3:  # no label file: no objects
            continue
        rows = [f"{int(rng.integers(0, 5))} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}"
                for x, y, bw, bh in rng.uniform(0.2, 0.4, (int(rng.integers(0, 9)), 4))]
        if k % 10 == 6:
            rows = []  # an empty file
        if k in bad:
            rows.insert(len(rows) // 2, bad[k])
        if segments and k % 50 == 9:  # a segment line among boxes: the line parser's business
            rows.append("2 0.1 0.1 0.3 0.1 0.2 0.3")
        (labels / f"{k:05d}.txt").write_text(("\r\n" if k % 3 else "\n").join(rows) + ("\n" if k % 2 else ""))
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nnames: [a, b, c, d, e]\n")
    return root / "data.yaml"


@pytest.fixture(scope="module", params=["detect", "segment"])
def yolo_folder(request, tmp_path_factory):
    return _write_yolo(tmp_path_factory.mktemp(f"yolo-{request.param}"), request.param == "segment")


def _yolo_fast_off(m):
    m.setattr(yolo, "detection_labels", lambda texts, sizes, num_classes=None: [None] * len(texts))


def test_yolo_the_four_ways_agree_and_skip_the_same_lines(yolo_folder, monkeypatch):
    runs = read_four_ways(sl.read_yolo, monkeypatch, yolo_folder, _yolo_fast_off, on_error="skip")
    (serial, warned), *others = runs
    assert len(serial.report.skipped) == 6 and len(warned) == 1
    assert sum("cannot read the image size" in message for _, message in serial.report.skipped) == 1
    assert (serial[0].masks is not None) == ("segment" in str(yolo_folder))
    for samples, caught in others:
        assert_same(samples, serial)
        assert caught == warned


def test_yolo_warn_gives_the_same_warnings(yolo_folder, monkeypatch):
    runs = read_four_ways(sl.read_yolo, monkeypatch, yolo_folder, _yolo_fast_off, on_error="warn")
    assert len(runs[0][1]) == 6 and all(caught == runs[0][1] for _, caught in runs)


def test_yolo_raise_gives_the_first_error_whichever_path(yolo_folder, monkeypatch):
    errors = []
    for threads, off in ((0, False), (4, False), (0, True)):
        with monkeypatch.context() as m:
            if threads:
                force_threads(m)
            if off:
                _yolo_fast_off(m)
            with pytest.raises(sl.AnnotationError) as info:
                sl.read_yolo(yolo_folder, threads=threads, cache=False)
            errors.append((str(info.value), info.value.path, info.value.line))
    assert "00017.txt" in errors[0][0] and errors.count(errors[0]) == 3


# ------------------------------------------------------------------------------------ read_ahead
def test_read_ahead_keeps_order_and_yields_errors_in_place(threaded):
    def fn(k):
        if k % 97 == 5:
            raise ValueError(k)
        return k * 2

    out = list(read_ahead(fn, range(1000), threads=3))
    assert [v for v in out if not isinstance(v, ValueError)] == [k * 2 for k in range(1000) if k % 97 != 5]
    assert [v.args[0] for v in out if isinstance(v, ValueError)] == [k for k in range(1000) if k % 97 == 5]
    serial = list(read_ahead(fn, range(1000), threads=0))
    assert [v if not isinstance(v, ValueError) else v.args for v in serial] == \
        [v if not isinstance(v, ValueError) else v.args for v in out]


def test_read_ahead_stops_when_the_consumer_stops(threaded):
    seen = []
    stream = read_ahead(seen.append, range(100_000), threads=2)
    for _ in range(100):
        next(stream)
    stream.close()
    assert len(seen) <= 100 + 5 * 2 * readahead.CHUNK


class FakeClock:
    """Each read takes 1 s of CPU and ``ratio`` s of the clock: it waits 1 - 1/ratio of its time."""

    def __init__(self, ratio: float):
        self.ratio, self.cpu, self.wall = ratio, 0.0, 0.0

    def read(self, k: int) -> str:
        import threading

        self.cpu += 1.0
        self.wall += self.ratio
        return threading.current_thread().name

    def thread_time(self) -> float:
        return self.cpu

    def perf_counter(self) -> float:
        return self.wall


@pytest.mark.parametrize("ratio, expect_threads", [(1.1, False), (1.9, False), (4.0, True)])
def test_read_ahead_starts_threads_only_when_the_reads_wait(monkeypatch, ratio, expect_threads):
    import threading

    clock = FakeClock(ratio)
    monkeypatch.setattr(readahead, "time", clock)
    names = list(read_ahead(clock.read, range(3000), threads=4))
    assert (set(names) != {threading.current_thread().name}) == expect_threads
    assert names[:2 * readahead.PROBE] == [threading.current_thread().name] * (2 * readahead.PROBE)
    assert list(read_ahead(clock.read, range(3000), threads=1)) == [threading.current_thread().name] * 3000

"""Every registered reader, fed hostile files: random bytes and mutations of valid toy files.

A reader may only return a valid list of samples or raise the library's documented errors
(``AnnotationError`` naming the file, and the line where the format has lines; ``ImageError``
naming the file; ``FileNotFoundError``). Any other exception, a warning other than the
reader's own ``UserWarning`` (a numpy ``RuntimeWarning`` included), a hang or an allocation out
of proportion to the file fails the test.

The number of examples per format and strategy comes from ``SEQLOADERS_FUZZ_EXAMPLES`` (30 by
default, derandomized so ``make test`` is reproducible; ``make fuzz`` runs 10,000 each with a
recorded seed). Each test logs what it tried with :func:`reliability.record`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import re
import signal
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability import record

import seqloaders as sl
from seqloaders.formats import get_reader, parse_voc_xml, parse_yolo_labels
from seqloaders.toy import (
    make_toy_scenes,
    write_toy_class_folders,
    write_toy_coco,
    write_toy_csv,
    write_toy_mask_folders,
    write_toy_voc,
    write_toy_yolo,
)

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("SEQLOADERS_FUZZ_EXAMPLES", "30"))
#: Seconds one example may take before it counts as a hang (the watchdog interrupts it).
WATCHDOG_S = 30
_COMMON = dict(database=None, deadline=5000, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("seqloaders-short", max_examples=EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile("seqloaders-long", max_examples=EXAMPLES, derandomize=False, **_COMMON)
PROFILE = os.environ.get("SEQLOADERS_FUZZ_PROFILE") or ("seqloaders-long" if EXAMPLES > 1000 else "seqloaders-short")
FUZZ = settings.get_profile(PROFILE)
CATEGORY = "hostile annotation files"


# --------------------------------------------------------------------------------- the targets
@dataclasses.dataclass
class Target:
    """One file of a toy dataset to replace with hostile bytes, and how to read the dataset."""

    name: str
    file: str  # the file the fuzzer overwrites
    read: object  # on_error -> SampleList
    binary: bool = False  # an image file: byte mutations instead of text mutations
    needs_line: bool = True  # the format has lines: an AnnotationError must name one
    allowed: tuple = (sl.AnnotationError,)

    def __post_init__(self):
        with open(self.file, "rb") as f:
            self.valid = f.read()


def _make_target(name: str, root: str) -> Target:
    scenes = make_toy_scenes(4, seed=1)
    if name == "widerface":
        toy = sl.make_toy_dataset(root, num_images=4, image_size=(48, 64), seed=1)
        return Target(name, toy.annotations,
                      lambda on_error: sl.read("widerface", toy.annotations, images_dir=toy.images, on_error=on_error))
    if name == "coco":
        toy = write_toy_coco(root, scenes)
        return Target(name, toy.path, lambda on_error: toy.read(on_error=on_error))
    if name == "voc":
        toy = write_toy_voc(root, scenes)
        file = os.path.join(toy.path, "Annotations", f"{scenes[0].name}.xml")
        return Target(name, file, lambda on_error: toy.read(on_error=on_error))
    if name in ("yolo", "yolo-pose", "yolo-yaml"):
        toy = write_toy_yolo(root, scenes, task="pose" if name == "yolo-pose" else "detect")
        file = toy.path if name == "yolo-yaml" else os.path.join(root, "labels", "train", f"{scenes[0].name}.txt")
        # a YAML may name a folder that does not exist (FileNotFoundError) or a folder holding a file that is not
        # an image (ImageError, re-raised under on_error="raise"): both documented
        return Target(name, file, lambda on_error: toy.read(on_error=on_error), needs_line=name != "yolo-yaml",
                      allowed=(sl.AnnotationError, sl.ImageError, FileNotFoundError))
    if name == "csv":
        toy = write_toy_csv(root, scenes)
        return Target(name, toy.path, lambda on_error: toy.read(on_error=on_error))
    if name in ("maskfolders-mask", "maskfolders-image"):
        toy = write_toy_mask_folders(root, scenes)
        folder = os.path.join(root, scenes[0].name)
        file = os.path.join(folder, "masks" if name.endswith("mask") else "images",
                            f"{scenes[0].name}_000.png" if name.endswith("mask") else f"{scenes[0].name}.png")
        return Target(name, file, lambda on_error: toy.read(on_error=on_error), binary=True, needs_line=False)
    if name == "classfolders":
        toy = write_toy_class_folders(root, num_images=4, seed=1)
        return Target(name, toy.samples[0].image, lambda on_error: toy.read(on_error=on_error), binary=True,
                      needs_line=False)
    raise ValueError(name)


TARGETS = ["widerface", "coco", "voc", "yolo", "yolo-pose", "yolo-yaml", "csv", "maskfolders-mask",
           "maskfolders-image", "classfolders"]


def test_every_registered_reader_is_fuzzed():
    ours = {name for name in sl.available_formats() if get_reader(name).__module__.startswith("seqloaders.")}
    assert ours and ours <= {t.split("-")[0] for t in TARGETS}, "a new reader needs a fuzz target here"


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    return _make_target(request.param, str(tmp_path_factory.mktemp(request.param)))


# ------------------------------------------------------------------------------ the strategies
HOSTILE = ["1000000000000", "-1000000000000", "99999999999999999999999999", "1" * 5000, "-1", "-0", "0", "nan",
           "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "3.5e38", "1e39", "1e-320", "0.5", "0x10",
           "1_000", "", " ", "null", "true", "[]", "{}", '""', "é", "日本語", "\x00", "\ufeff", "\u2028", "\x85",
           "../../etc/passwd", "/etc/passwd", "A" * 300, "-", ".", "'", '"', "<", "&amp;", "&x;", "]]>", "*a", "&a",
           "!!python/object:os.system", "\t", "\r"]
_TOKEN = re.compile(r"[^\s,;:<>\"'\[\]{}()=/]+")


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "crlf":
        return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogatepass")
    if encoding == "cr":
        return text.replace("\n", "\r").encode("utf-8", "surrogatepass")
    if encoding == "latin-1":
        return text.encode("latin-1", "replace")
    return text.encode(encoding, "surrogatepass")


@st.composite
def text_mutations(draw, valid: bytes) -> bytes:
    """A valid text file changed by 1-4 edits, then written in one of several encodings."""
    text = valid.decode("utf-8")
    for op in draw(st.lists(st.sampled_from(["truncate", "line-delete", "line-dup", "line-swap", "token-hostile",
                                             "token-delete", "token-dup", "token-swap", "insert", "char"]),
                            min_size=1, max_size=4)):
        lines = text.splitlines(keepends=True)
        tokens = list(_TOKEN.finditer(text))
        if op == "truncate":
            text = text[:draw(st.integers(0, len(text)))]
        elif op.startswith("line") and lines:
            i = draw(st.integers(0, len(lines) - 1))
            if op == "line-delete":
                del lines[i]
            elif op == "line-dup":
                lines.insert(i, lines[i] * draw(st.integers(1, 3)))
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
        elif op.startswith("token") and tokens:
            m = tokens[draw(st.integers(0, len(tokens) - 1))]
            if op == "token-hostile":
                value = draw(st.sampled_from(HOSTILE))
            elif op == "token-delete":
                value = ""
            elif op == "token-dup":
                value = m.group() + draw(st.sampled_from([" ", ",", "\n", ""])) + m.group()
            else:
                value = tokens[draw(st.integers(0, len(tokens) - 1))].group()
            text = text[:m.start()] + value + text[m.end():]
        elif op == "insert":
            k = draw(st.integers(0, len(text)))
            text = text[:k] + draw(st.sampled_from(HOSTILE) | st.text(max_size=8)) + text[k:]
        elif op == "char" and text:
            k = draw(st.integers(0, len(text) - 1))
            text = text[:k] + draw(st.characters()) + text[k + 1:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "crlf", "cr"]))
    return _encode(text, encoding)


@st.composite
def byte_mutations(draw, valid: bytes) -> bytes:
    """A valid image file changed by 1-4 byte-level edits (cuts, flips, huge header fields)."""
    data = bytearray(valid)
    for op in draw(st.lists(st.sampled_from(["truncate", "flip", "huge", "insert", "delete"]), min_size=1,
                            max_size=4)):
        k = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "truncate":
            del data[k:]
        elif op == "flip" and data:
            data[k] = draw(st.integers(0, 255))
        elif op == "huge":  # early offsets hold the header: width, height, lengths
            k = draw(st.integers(0, min(len(data), 64)))
            data[k:k + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00",
                                                  b"\x00\x01\x00\x00"]))
        elif op == "insert":
            data[k:k] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[k:k + draw(st.integers(1, 64))]
    return bytes(data)


def random_input():
    return st.binary(max_size=2048) | st.text(max_size=512).map(lambda t: t.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------------------------- the checks
class Hang(Exception):
    """An example ran longer than WATCHDOG_S seconds."""


@contextlib.contextmanager
def watchdog(seconds: float):
    """Interrupt the body after ``seconds`` (a real hang never returns, so a deadline alone cannot catch it)."""
    def fire(signum, frame):
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_result(result) -> None:
    """A reader's result must be a SampleList of samples that pass Sample's own validation."""
    assert isinstance(result, sl.SampleList), type(result)
    num_classes = len(result.class_names)
    for s in result:
        assert isinstance(s, sl.Sample) and isinstance(s.image, str) and s.image
        n = len(s.boxes)
        assert s.boxes.dtype == np.float32 and s.boxes.shape == (n, 4)
        assert np.isfinite(s.boxes).all(), f"non-finite box in {s.image}: {s.boxes}"
        assert s.labels.dtype == np.int64 and s.labels.shape == (n,)
        if n:
            assert s.labels.min() >= 0 and s.labels.max() < num_classes, (s.labels, result.class_names)
        for key, value in s.attributes.items():
            assert len(value) == n, key
        if s.keypoints is not None:
            assert s.keypoints.shape[0] == n and s.keypoints.shape[2] == 3 and np.isfinite(s.keypoints).all()
        if s.image_size is not None:
            assert all(isinstance(v, int) and v > 0 for v in s.image_size)
        dataclasses.replace(s)  # Sample.__post_init__ validates every field again
    assert result.report.num_samples == len(result)


def _leaves_the_dataset(data: bytes) -> bool:
    """A dataset YAML whose ``path``/``train``/``val``/``test`` is absolute or climbs with ``..``.

    Such a YAML is configuration the user chose (as Roboflow's ``train: ../train/images``):
    the reader lists whatever folder it names, the whole file system for ``train: /``. The fuzzer
    stays inside its toy dataset, so these inputs are left out (and counted as such).
    """
    import yaml

    try:
        config = yaml.safe_load(data.decode("utf-8-sig"))
    except Exception:
        return False
    if not isinstance(config, dict):
        return False
    for key in ("path", "train", "val", "test"):
        values = config.get(key)
        for value in values if isinstance(values, list) else [values]:
            text = str(value) if value is not None else ""
            if os.path.isabs(text) or ".." in text or text.startswith("~"):
                return True
    return False


def outcome(target: Target, data: bytes, on_error: str) -> str:
    """Write ``data`` over the target file, read the dataset and classify what happened."""
    if target.name == "yolo-yaml" and _leaves_the_dataset(data):
        return "left out: YAML naming folders outside the dataset"
    with open(target.file, "wb") as f:
        f.write(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with watchdog(WATCHDOG_S):
                result = target.read(on_error)
        except sl.AnnotationError as exc:
            assert sl.AnnotationError in target.allowed
            assert exc.path, f"AnnotationError without a path: {exc}"
            if target.needs_line:
                assert exc.line is not None and exc.line >= 1, f"AnnotationError without a line: {exc}"
            kind = "AnnotationError"
        except sl.ImageError as exc:
            assert sl.ImageError in target.allowed, f"unexpected ImageError: {exc}"
            assert exc.path
            kind = "ImageError"
        except FileNotFoundError:
            assert FileNotFoundError in target.allowed
            kind = "FileNotFoundError"
        else:
            check_result(result)
            kind = "valid result, with entries skipped" if result.report.skipped else "valid result"
    others = [w for w in caught if not issubclass(w.category, UserWarning)]
    assert not others, f"unexpected warnings: {[str(w.message) for w in others]}"
    return kind


def _summary(counts: collections.Counter) -> str:
    return "; ".join(f"{n} {kind}" for kind, n in counts.most_common()) + "; 0 other exceptions, hangs or warnings"


def _fuzz(target: Target, strategy, label: str) -> None:
    counts: collections.Counter = collections.Counter()

    @FUZZ
    @given(data=strategy, on_error=st.sampled_from(["raise", "skip"]))
    def run(data, on_error):
        counts[outcome(target, data, on_error)] += 1

    try:
        run()
    finally:
        with open(target.file, "wb") as f:
            f.write(target.valid)
    tried = sum(n for kind, n in counts.items() if not kind.startswith("left out"))
    record(CATEGORY, f"{target.name}: {label}", tried, _summary(counts))


def test_valid_file_reads(target):
    assert outcome(target, target.valid, "raise") == "valid result"


def test_random_bytes(target):
    _fuzz(target, random_input(), "random bytes or text")


def test_mutations_of_a_valid_file(target):
    strategy = byte_mutations(target.valid) if target.binary else text_mutations(target.valid)
    _fuzz(target, strategy, "mutations of a valid file" + (" (bytes)" if target.binary else
                                                           " (lines, fields, numbers, encodings)"))


# ------------------------------------------------------------------- counts that promise a lot
def _peak(fn) -> tuple[int, object]:
    """Peak traced allocation (bytes) while ``fn`` runs, and what it returned or raised."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            value = fn()
        except Exception as exc:
            value = exc
        return tracemalloc.get_traced_memory()[1], value
    finally:
        tracemalloc.stop()


def _bound(size: int) -> int:
    """What reading a file of ``size`` bytes may allocate: a multiple of its size, plus a floor."""
    return 64 * size + (4 << 20)


def _memory_case(tmp_path, name: str, text: str, read, expect=sl.AnnotationError, match: str | None = None):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    peak, value = _peak(lambda: read(str(path)))
    size = len(text.encode("utf-8"))
    assert peak < _bound(size), f"{name}: {peak / 2**20:.1f} MiB allocated for a {size / 1024:.1f} KiB file"
    if expect is None:
        assert not isinstance(value, Exception), value
    else:
        assert isinstance(value, expect), value
        if match:
            assert match in str(value), value
    return peak, size


def test_huge_declared_counts_allocate_in_proportion_to_the_file(tmp_path):
    cases = 0
    # WIDER FACE: a count of 10**12 boxes, with 20,000 box lines behind it
    lines = "".join("1 2 3 4 0 0 0 0 0 0\n" for _ in range(20_000))
    _memory_case(tmp_path, "wider.txt", "a.jpg\n1000000000000\n" + lines,
                 lambda p: sl.read_wider_face(p, "images"), match="count promises 1000000000000")
    _memory_case(tmp_path, "wider_neg.txt", "a.jpg\n-1000000000000\n" + lines,
                 lambda p: sl.read_wider_face(p, "images"), match="box count must be >= 0")
    cases += 2
    # COCO: huge ids, image sizes, boxes, RLE run lengths: refused (they do not fit the arrays), never cast
    def coco(image=None, ann=None, category=None):
        return json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 10, **(image or {})}],
                           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                                            **(ann or {})}],
                           "categories": [{"id": 1, "name": "x", **(category or {})}]})

    for k, (text, message) in enumerate([
        (coco(image={"id": 10**30}), "'id' must be an integer (int64)"),
        (coco(image={"height": 10**30}), "'height' and 'width' must be positive integers"),
        (coco(ann={"id": 10**40}), None),  # an unusable annotation id is kept as -1
        (coco(category={"id": 10**20}), "'id' must be an integer (int64)"),
        (coco(ann={"bbox": [0, 0, 1e300, 1e300]}), "float32 range"),
        (coco(ann={"bbox": [3e38, 0, 3e38, 1]}), "out of float32 range"),
        (coco(ann={"area": 1e300}), "'area' must be a non-negative number"),
        (coco(image={"height": 10**9, "width": 10**9},
              ann={"segmentation": {"size": [10**9, 10**9], "counts": [10**18]}}), "below 2**32"),
        (coco(image={"height": 10**9, "width": 10**9},
              ann={"segmentation": {"size": [10**9, 10**9], "counts": "0" * 20000}}), "RLE runs cover"),
    ]):
        _memory_case(tmp_path, f"coco{k}.json", text, lambda p: sl.read_coco(p),
                     expect=None if message is None else sl.AnnotationError, match=message)
        cases += 1
    # COCO: many keypoint names times many objects would need a dense (objects, K, 3) array
    names = [f"k{i}" for i in range(30_000)]
    anns = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]} for i in range(3000)]
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 10}], "annotations": anns,
            "categories": [{"id": 1, "name": "p", "keypoints": names}]}
    _memory_case(tmp_path, "coco_kp.json", json.dumps(coco), lambda p: sl.read_coco(p), match="keypoints")
    cases += 1
    # YOLO: a pose YAML promising 10**12 keypoints, and one label line of 200,000 fields
    root = tmp_path / "yolo"
    toy = write_toy_yolo(root, make_toy_scenes(2, seed=1))
    with open(toy.path, "a", encoding="utf-8") as f:
        f.write("kpt_shape: [1000000000000, 3]\n")
    label = root / "labels" / "train" / "toy_00000.txt"
    label.write_text("0 0.5 0.5 0.1 0.1\n")
    peak, value = _peak(lambda: sl.read_yolo(toy.path))
    assert isinstance(value, sl.AnnotationError) and "5 + 1000000000000 keypoints" in str(value)
    assert peak < _bound(1 << 16)
    for k, fields in enumerate((200_000, 200_001)):  # a polygon of 100,000 points, then an even count
        _memory_case(tmp_path, f"yolo_line{k}.txt", "0 " + " ".join(["0.5"] * fields) + "\n",
                     lambda p: parse_yolo_labels(Path(p).read_text(), (10, 10), path=p),
                     expect=None if k == 0 else sl.AnnotationError)
    cases += 3
    record(CATEGORY, "huge declared counts (WIDER FACE 10**12 boxes, COCO huge ids/sizes/RLE/keypoint names, "
           "YOLO 10**12 keypoints and 200,000-field lines)", cases,
           "AnnotationError or valid result; peak allocation under 64 x file size + 4 MiB (tracemalloc)")


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path):
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, 9):
        prev, cur = chr(ord("a") + k - 1), chr(ord("a") + k)
        levels.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    cases = 0
    for key in ("names", "train", "path"):
        path = tmp_path / f"bomb_{key}.yaml"
        base = {"names": "[x]", "train": "images", "path": "."}
        base[key] = "*i"
        path.write_text("\n".join(levels) + "\n" + "".join(f"{k}: {v}\n" for k, v in base.items()))
        peak, value = _peak(lambda path=path: sl.read_yolo(path))
        assert isinstance(value, sl.AnnotationError), value
        assert f"bomb_{key}.yaml:" in str(value) and repr(key) in str(value)
        assert peak < _bound(path.stat().st_size)
        cases += 1
    record(CATEGORY, "yolo: YAML alias bombs (10**9 expanded strings) in names, train, path", cases,
           "AnnotationError naming file and line, nothing expanded")


# ------------------------------------------------------------------ regressions found by fuzzing
@pytest.mark.parametrize("text,message,line", [
    # json raises a bare ValueError for integers of more than 4,300 digits
    ('{"images": [{"id": 1,\n "height": 1' + "1" * 5000 + '}]}', "more than 4,300 digits", 2),
    # and RecursionError for deep nesting
    ('{"images": [\n' + "[" * 100_000 + "]" * 100_000 + "]}", "nested too deeply", 2),
])
def test_coco_json_beyond_the_json_modules_limits(text, message, line):
    with pytest.raises(sl.AnnotationError, match=message) as info:
        sl.parse_coco(text, path="x.json")
    assert info.value.path == "x.json" and info.value.line == line


@pytest.mark.parametrize("yaml,message", [
    ("names: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),  # RecursionError in PyYAML
    ("train: images\nnames:\n  0: person\n  11 11: car\n", "'names' must map ids 0..1"),  # TypeError in sorted()
    ("names: [a]\n", "no 'train' entry; this dataset has: none"),  # was a bare ValueError
    ("train: images\nflip_idx: 5\n", "'flip_idx' must be a list"),  # TypeError in tuple()
    ("train: images\nnc: " + "1" * 5000 + "\n", "not valid YAML"),  # ValueError: int of > 4,300 digits
])
def test_yolo_yaml_regressions(tmp_path, yaml, message):
    (tmp_path / "images").mkdir()
    path = tmp_path / "data.yaml"
    path.write_text(yaml)
    with pytest.raises(sl.AnnotationError, match=message) as info:
        sl.read_yolo(path)
    assert info.value.path == str(path)


def test_deeply_nested_voc_xml_is_parsed_without_recursion():
    xml = "<annotation>" + "<a>" * 100_000 + "</a>" * 100_000 + "<filename>x.jpg</filename></annotation>"
    assert parse_voc_xml(xml).filename == "x.jpg"


def test_utf16_files_are_named_as_such(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("a.jpg\n0\n", encoding="utf-16")
    with pytest.raises(sl.AnnotationError, match=r"gt\.txt:1: the file is UTF-16 text .* save it as UTF-8"):
        sl.read_wider_face(path)


@pytest.mark.parametrize("box_line", ["\xa01 2 3 4 0 0 0 0 0 0", "1\x1f2 3 4 0 0 0 0 0 0", "\u0661 2 3 4 0 0 0 0 0 0",
                                      "1_0 2 3 4 0 0 0 0 0 0"])
def test_wider_face_box_lines_with_unicode_spaces_or_digits(box_line):
    """str.split and float() accept Unicode spaces and digits and underscores, numpy's parser does not:
    the slow path used to accept what the fast path refused, ending in an error without a line."""
    text = f"a.jpg\n1\n{box_line}\nb.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n"
    with pytest.raises(sl.AnnotationError) as info:
        sl.parse_wider_face(text, path="gt.txt")
    assert info.value.line == 3
    with pytest.warns(UserWarning, match="skipped 1"):
        samples = sl.parse_wider_face(text, path="gt.txt", on_error="skip")
    assert [s.image for s in samples] == ["b.jpg"]


@pytest.mark.parametrize("fmt,text,message", [
    # numbers beyond float32/int32 were cast with a RuntimeWarning to inf, or wrapped silently
    ("widerface", "a.jpg\n1\n1e39 0 1 1 0 0 0 0 0 0\n", "out of float32 range"),
    ("widerface", "a.jpg\n1\n3e38 0 3e38 1 0 0 0 0 0 0\n", "out of float32 range"),
    ("widerface", "a.jpg\n1\n1 0 1 1 0 0 99999999999 0 0 0\n", "must be an integer (32-bit)"),  # wrapped
    ("widerface", "a.jpg\n1\n1 0 1 1 0 0 1e300 0 0 0\n", "must be an integer (32-bit)"),
    ("voc", "<annotation><filename>a</filename><object><name>d</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
            "<xmax>1e39</xmax><ymax>2</ymax></bndbox></object></annotation>", "within float32 range"),
    ("voc", "<annotation><filename>a</filename><object><name>d</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
            "<xmax>2</xmax><ymax>2</ymax></bndbox><difficult>99999999999</difficult></object></annotation>",
     "must be an integer (32-bit)"),  # was an OverflowError
    ("csv", "image,x0,y0,x1,y1\na.jpg,1e308,0,1,1\n", "float32 range"),
    ("csv", "image,x0,y0,w,h,W,H\na.jpg,0.5,0.5,0.1,0.1,inf,10\n", "positive integers below 2**31"),  # OverflowError
])
def test_numbers_beyond_the_array_types_are_refused(tmp_path, fmt, text, message):
    path = tmp_path / "annotation"
    path.write_text(text)
    options = {}
    if fmt == "csv":
        header = text.split("\n")[0].split(",")
        options = {"columns": {"image": "image", "boxes": header[1:5], **({"width": "W", "height": "H"}
                                                                           if "W" in header else {})},
                   "box_format": "rel_xywh" if "W" in header else "xyxy"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(sl.AnnotationError, match=re.escape(message)) as info:
            sl.read(fmt, str(path), **options)
    assert info.value.path == str(path) and info.value.line is not None


def test_reliability_report_is_rendered_from_the_log(tmp_path, monkeypatch):
    import reliability

    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("SEQLOADERS_RELIABILITY_LOG", str(log))
    reliability.record(CATEGORY, "coco: random bytes", 10, "AnnotationError | valid")
    reliability.record(CATEGORY, "coco: mutations", 5, "AnnotationError")
    reliability.record(CATEGORY, "yolo-yaml: mutations", 7, "AnnotationError")
    reliability.record("broken images", "zero-byte file", 1, "ImageError naming the file")
    reliability.record(CATEGORY, "coco: mutations", 6, "AnnotationError")  # the same test again: replaces
    out = tmp_path / "RELIABILITY.md"
    assert reliability.main([str(log), "--out", str(out), "--seed", "42", "--examples", "9", "--status", "0",
                             "--command", "make fuzz", "--seconds", "90"]) == 0
    text = out.read_text()
    assert "## Failed tests" not in text
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase classname="tests.test_x" name="test_a"/>'
                     '<testcase classname="tests.test_x" name="test_b[p]"><failure message="boom&#10;more"/></testcase>'
                     "</testsuite></testsuites>")
    failed = tmp_path / "failed.md"
    assert reliability.main([str(log), "--out", str(failed), "--status", "1", "--junit", str(junit)]) == 0
    failed_text = failed.read_text()
    assert "| Result | FAILED (pytest exit status 1) |" in failed_text
    assert "| `tests/test_x.py::test_b[p]` | boom |" in failed_text
    assert "| coco | 16 |" in text and "| yolo | 7 |" in text  # cases per format
    assert "| coco: random bytes | 10 | AnnotationError \\| valid |" in text
    assert "## Broken images" in text and "seed `42`" in text and "| Result | passed |" in text
    assert text.index("## Hostile annotation files") < text.index("## Broken images")


def test_csv_attributes_and_integer_labels_beyond_their_types(tmp_path):
    columns = {"image": "image", "boxes": ["x0", "y0", "x1", "y1"], "label": "label"}
    path = tmp_path / "boxes.csv"
    # attribute values beyond float32 (cast to inf with a warning) are kept as text; beyond int64 (an
    # OverflowError) as float32
    path.write_text("image,x0,y0,x1,y1,label,a,b\nx.jpg,0,0,1,1,cat,1e308,99999999999999999999\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = sl.read_csv(path, columns, attributes=["a", "b"])[0]
    assert s.attributes["a"].tolist() == ["1e308"] and s.attributes["b"].tolist() == [np.float32(1e20)]
    # an integer label of 10**12 would have built a list of 10**12 class names
    path.write_text("image,x0,y0,x1,y1,label\nx.jpg,0,0,1,1,3\ny.jpg,0,0,1,1,1000000000000\n")
    peak, value = _peak(lambda: sl.read_csv(path, columns))
    assert isinstance(value, sl.AnnotationError) and value.line == 3 and "class_names" in str(value)
    assert peak < _bound(path.stat().st_size)
    assert sl.read_csv(path, columns, class_names=["3", "1000000000000"])[1].labels.tolist() == [1]


def test_yolo_class_ids_beyond_their_types(tmp_path):
    write_toy_yolo(tmp_path, make_toy_scenes(1, seed=1))  # images/train + labels/train
    folder = tmp_path / "images" / "train"  # read without the YAML: no class names
    label = tmp_path / "labels" / "train" / "toy_00000.txt"
    for line, message in (("1e30 0.5 0.5 0.1 0.1", "below 2**31"),  # was an OverflowError
                          ("1000000 0.5 0.5 0.1 0.1", "would make 1000001 classes")):  # a list of 10**6 names
        label.write_text(line + "\n")
        peak, value = _peak(lambda: sl.read_yolo(folder))
        assert isinstance(value, sl.AnnotationError) and message in str(value), value
        assert value.path == str(label) and peak < _bound(1 << 16)

import numpy as np
import pytest

import seqloaders as sl

VALID = (
    "0--Parade/0_Parade_marchingband_1_849.jpg\n"
    "1\n"
    "449 330 122 149 0 0 0 0 0 0 \n"
    "0--Parade/0_Parade_Parade_0_904.jpg\n"
    "0\n"
    "0 0 0 0 0 0 0 0 0 0 \n"
    "1--Handshaking/1_Handshaking_1.jpg\n"
    "3\n"
    "10 20 30 40 2 1 0 0 1 0 \n"
    "5 5 0 0 0 0 0 1 0 0 \n"
    "100 100 4 6 1 0 1 0 2 1 \n"
    "\n"
    "\n"
)


def write(tmp_path, text, name="wider_face_train_bbx_gt.txt", mode="w"):
    path = tmp_path / name
    if mode == "w":
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


def test_reads_every_declared_box_with_its_attributes(tmp_path):
    samples = sl.read_wider_face(write(tmp_path, VALID), images_dir=tmp_path / "images")
    assert [s.num_boxes for s in samples] == [1, 0, 3]
    assert samples[0].image == str(tmp_path / "images" / "0--Parade/0_Parade_marchingband_1_849.jpg")
    np.testing.assert_array_equal(samples[0].boxes, [[449, 330, 571, 479]])  # XYWH -> XYXY
    np.testing.assert_array_equal(samples[2].boxes[1], [5, 5, 5, 5])  # zero-size box kept
    assert list(samples[2].attributes) == ["blur", "expression", "illumination", "invalid", "occlusion", "pose"]
    np.testing.assert_array_equal(samples[2].attributes["blur"], [2, 0, 1])
    np.testing.assert_array_equal(samples[2].attributes["invalid"], [0, 1, 0])
    np.testing.assert_array_equal(samples[2].attributes["pose"], [0, 0, 1])
    np.testing.assert_array_equal(samples[2].attributes["occlusion"], [1, 0, 2])
    assert all((s.labels == 0).all() for s in samples)
    assert samples.class_names == ("face",)
    assert samples.report.num_samples == 3 and samples.report.num_boxes == 4 and not samples.report.skipped


def test_zero_count_placeholder_is_not_a_box_and_may_be_absent(tmp_path):
    text = "a.jpg\n0\nb.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n"
    samples = sl.read_wider_face(write(tmp_path, text), images_dir="")
    assert [s.num_boxes for s in samples] == [0, 1]
    assert samples[0].boxes.shape == (0, 4)


def test_dropping_is_explicit_and_reported(tmp_path):
    path = write(tmp_path, VALID)
    samples = sl.read_wider_face(path, images_dir="", drop_invalid=True, min_size=5)
    assert [s.num_boxes for s in samples] == [1, 0, 1]
    assert samples.report.dropped_boxes == {"invalid": 1, "smaller than 5 px": 1}
    np.testing.assert_array_equal(samples[2].attributes["blur"], [2])


def test_crlf_bom_and_trailing_spaces(tmp_path):
    data = b"\xef\xbb\xbf" + VALID.replace("\n", "\r\n").encode()
    samples = sl.read_wider_face(write(tmp_path, data, mode="b"), images_dir="")
    assert [s.num_boxes for s in samples] == [1, 0, 3]


def test_registered_by_name(tmp_path):
    samples = sl.read("widerface", write(tmp_path, VALID), images_dir="")
    assert len(samples) == 3
    assert "widerface" in sl.available_formats()
    with pytest.raises(ValueError, match=r"unknown format 'widerfac'; available: .*widerface"):
        sl.read("widerfac", "x")


@pytest.mark.parametrize("text,line,message", [
    ("a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n", 2, "count promises 3 box lines"),
    ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\nb.jpg\n0\n", 4, "box 2 has 1 fields"),
    ("a.jpg\n1\n1 2 x 4 0 0 0 0 0 0\n", 3, "field 3 is not a number: 'x'"),
    ("a.jpg\n1\n1 2 3 4 0 0 0 0 0\n", 3, "box 1 has 9 fields"),
    ("a.jpg\nb.jpg\n0\n", 2, "expected a box count, got 'b.jpg'"),
    ("a.jpg\n-1\n", 2, "box count must be >= 0"),
    ("a.jpg\n", 2, "missing box count"),
    ("1\n1 2 3 4 0 0 0 0 0 0\n", 1, "expected an image path, got '1'"),
    ("a.jpg\n1\n1 2 nan 4 0 0 0 0 0 0\n", 3, "not finite"),
    ("a.jpg\n1\n1 2 3 4 0.5 0 0 0 0 0\n", 3, "attribute 'blur' must be an integer"),
    ("../../etc/passwd\n0\n", 1, "leaves the images root"),
    ("/abs/a.jpg\n0\n", 1, "leaves the images root"),
])
def test_malformed_files_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(sl.AnnotationError, match=message) as info:
        sl.read_wider_face(path, images_dir="imgs")
    assert info.value.path == str(path) and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert isinstance(info.value, ValueError)


def test_skip_keeps_good_entries_warns_and_reports(tmp_path):
    text = VALID + "bad.jpg\n1\n1 2 x 4 0 0 0 0 0 0\nlast.jpg\n1\n1 1 2 2 0 0 0 0 0 0\nworse.jpg\nnope\n"
    path = write(tmp_path, text)
    with pytest.warns(UserWarning, match="skipped 2 malformed entries"):
        samples = sl.read_wider_face(path, images_dir="", on_error="skip")
    assert [s.image for s in samples][-1] == "last.jpg"
    assert len(samples) == 4
    lines = [line for line, _ in samples.report.skipped]
    assert sorted(lines) == [16, 21]
    with pytest.warns(UserWarning) as record:
        sl.read_wider_face(path, images_dir="", on_error="warn")
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert messages[0].endswith("16: field 3 is not a number: 'x'")
    assert messages[1].endswith("21: expected a box count, got 'nope'")


def test_outside_root_allowed_on_request(tmp_path):
    samples = sl.read_wider_face(write(tmp_path, "../x.jpg\n0\n"), images_dir="imgs", allow_outside_root=True)
    assert samples[0].image.endswith("x.jpg")


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(FileNotFoundError):
        sl.read_wider_face(tmp_path / "nope.txt")
    path = write(tmp_path, b"a.jpg\n0\n\xff\xfe\n", mode="b")
    with pytest.raises(sl.AnnotationError, match="not valid UTF-8") as info:
        sl.read_wider_face(path)
    assert info.value.line == 3


def test_parse_on_a_string_matches_the_toy_ground_truth(toy):
    with open(toy.annotations) as f:
        text = f.read()
    samples = sl.parse_wider_face(text, toy.images, path="toy.txt")
    expected = [s.replace(image_size=None) for s in toy.samples]
    assert samples == expected
    assert any(s.num_boxes == 0 for s in samples) and any(s.num_boxes > 1 for s in samples)

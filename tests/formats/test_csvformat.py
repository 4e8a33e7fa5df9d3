import os

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats.csvformat import parse_csv, read_csv
from seqloaders.toy import write_toy_csv

from .conformance import Broken, FormatConformance


class TestCsvConformance(FormatConformance):
    format_name = "csv"

    def make_data(self, root):
        return write_toy_csv(root, num_images=8)

    def make_broken(self, root):
        toy = write_toy_csv(root, num_images=8)
        with open(toy.path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        k = next(i for i, line in enumerate(lines) if i and ",," not in line)
        fields = lines[k].split(",")
        fields[2] = "twelve"
        lines[k] = ",".join(fields)
        with open(toy.path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return Broken(toy.path, toy.options, rf"boxes\.csv:{k + 1}: box cells must be 4 numbers", toy.path,
                      os.path.basename(fields[0]), len(toy.samples))


COLUMNS = {"image": "file", "boxes": ["x0", "y0", "x1", "y1"], "label": "cls"}


def test_rows_are_grouped_by_image_in_order_of_appearance():
    text = "file,x0,y0,x1,y1,cls\nb.jpg,1,2,3,4,dog\na.jpg,0,0,5,5,cat\nb.jpg,2,2,6,6,cat\nc.jpg,,,,,\n"
    samples = parse_csv(text, COLUMNS, images_dir="root")
    assert [os.path.basename(s.image) for s in samples] == ["b.jpg", "a.jpg", "c.jpg"]
    assert [s.num_boxes for s in samples] == [2, 1, 0]
    assert samples.class_names == ("cat", "dog") and samples[0].labels.tolist() == [1, 0]


def test_headerless_file_with_column_indices():
    text = "img/a.jpg,10,20,30,40,person\nimg/b.jpg,,,,,\n"
    samples = parse_csv(text, {"image": 0, "boxes": [1, 2, 3, 4], "label": 5})
    np.testing.assert_array_equal(samples[0].boxes, [[10, 20, 30, 40]])
    assert samples[1].num_boxes == 0


def test_relative_boxes_with_size_columns():
    text = "file,cx,cy,w,h,W,H\na.jpg,0.5,0.5,0.5,1.0,200,100\n"
    samples = parse_csv(text, {"image": "file", "boxes": ["cx", "cy", "w", "h"], "width": "W", "height": "H"},
                        box_format="yolo")
    np.testing.assert_allclose(samples[0].boxes, [[50, 0, 150, 100]])
    assert samples[0].image_size == (100, 200) and samples.class_names == ("object",)


def test_relative_boxes_read_sizes_from_image_headers(tmp_path):
    import cv2

    _ok, data = cv2.imencode(".png", np.zeros((50, 80, 3), np.uint8))
    (tmp_path / "a.png").write_bytes(data.tobytes())
    (tmp_path / "boxes.csv").write_text("file,x,y,w,h,cls\na.png,0.25,0.5,0.5,0.5,3\n")
    samples = read_csv(tmp_path / "boxes.csv", {"image": "file", "boxes": ["x", "y", "w", "h"], "label": "cls"},
                       box_format="rel_xywh")
    np.testing.assert_allclose(samples[0].boxes, [[20, 25, 60, 50]])
    assert samples.class_names == ("0", "1", "2", "3") and samples[0].labels.tolist() == [3]


def test_xywh_and_attribute_columns():
    text = "file,x,y,w,h,cls,score,tag\na.jpg,1,2,3,4,dog,0.5,x\na.jpg,0,0,1,1,dog,1,y\n"
    samples = parse_csv(text, {"image": "file", "boxes": ["x", "y", "w", "h"], "label": "cls"}, box_format="coco",
                        attributes=["score", "tag"])
    np.testing.assert_array_equal(samples[0].boxes, [[1, 2, 4, 6], [0, 0, 1, 1]])
    assert samples[0].attributes["score"].dtype == np.float32 and samples[0].attributes["tag"].tolist() == ["x", "y"]


@pytest.mark.parametrize("text, message", [
    ("file,x0,y0,x1,y1,cls\na.jpg,1,2,3\n", r"t\.csv:2: expected at least 6 columns, got 4"),
    ("file,x0,y0,x1,y1,cls\na.jpg,5,2,3,4,dog\n", r"t\.csv:2: box .* gives x_max < x_min"),
    ("file,x0,y0,x1,y1,cls\na.jpg,1,2,3,4,\n", r"t\.csv:2: empty class label"),
    ("file,x0,y0,x1,y1,cls\n,1,2,3,4,dog\n", r"t\.csv:2: empty image path"),
    ("file,x0,y0,x1,y1,cls\na.jpg,1,2,3,4,cow\n", r"t\.csv:2: unknown class 'cow'; known: cat, dog"),
    ("file,x0,y0,x1,y1,klass\na.jpg,1,2,3,4,dog\n", r"t\.csv:1: column 'cls' \(for 'label'\) is not in the header"),
    ("", r"t\.csv:1: empty CSV file"),
])
def test_malformed_rows_name_file_and_line(text, message):
    with pytest.raises(sl.AnnotationError, match=message):
        parse_csv(text, COLUMNS, class_names=("cat", "dog"), path="t.csv")


def test_quoted_fields_spanning_lines_keep_line_numbers():
    text = 'file,x0,y0,x1,y1,cls,note\na.jpg,1,2,3,4,dog,"two\nlines"\nb.jpg,1,2,x,4,dog,ok\n'
    with pytest.raises(sl.AnnotationError, match=r"t\.csv:4: "):
        parse_csv(text, COLUMNS, path="t.csv")


def test_bad_column_specs_are_refused():
    with pytest.raises(ValueError, match="unknown column roles"):
        parse_csv("a\n", {"image": "a", "boxes": ["a"] * 4, "colour": "c"})
    with pytest.raises(ValueError, match="must list 4 columns"):
        parse_csv("a\n", {"image": "a", "boxes": ["a"]})
    with pytest.raises(ValueError, match="is relative"):
        parse_csv("a,b,c,d,e\n", {"image": "a", "boxes": ["b", "c", "d", "e"]}, box_format="rel_xyxy")

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats.coco import parse_coco, read_coco
from seqloaders.masks import decode_masks
from seqloaders.toy import TOY_CATEGORY_IDS, TOY_CLASSES, write_toy_coco

from .conformance import Broken, FormatConformance


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _dump(data, path, indent=1):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent)


class TestCocoConformance(FormatConformance):
    format_name = "coco"

    def make_data(self, root):
        return write_toy_coco(root, num_images=8)

    def make_broken(self, root):
        toy = write_toy_coco(root, num_images=8)
        data = _load(toy.path)
        ann = data["annotations"][1]
        ann["bbox"] = [1, 2]
        image = next(i["file_name"] for i in data["images"] if i["id"] == ann["image_id"])
        _dump(data, toy.path)
        return Broken(toy.path, toy.options, rf"annotations\.json:\d+: annotations\[1\] \(id {ann['id']}\): 'bbox'",
                      toy.path, image, len(toy.samples))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_coco(tmp_path_factory.mktemp("coco"), num_images=12, seed=5)


def test_masks_agree_with_pycocotools_pixel_for_pixel(toy):
    from pycocotools.coco import COCO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pycocotools' decode under NumPy 2
        coco = COCO(toy.path)
    samples = read_coco(toy.path, toy.options["images_dir"])
    kinds = set()
    checked = 0
    for sample in samples:
        image_id = sample.meta["image_id"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None))
        masks = decode_masks(sample)
        assert masks.shape == (len(anns), *sample.image_size) and masks.dtype == bool
        for k, ann in enumerate(anns):
            assert ann["id"] == sample.attributes["annotation_id"][k]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                expected = coco.annToMask(ann).astype(bool)
            np.testing.assert_array_equal(masks[k], expected)
            seg = ann["segmentation"]
            kinds.add("polygon" if isinstance(seg, list) else "rle" if isinstance(seg["counts"], str) else "urle")
            if isinstance(seg, list) and len(seg) > 1:
                kinds.add("multi-part")
            checked += 1
    assert kinds == {"polygon", "rle", "urle", "multi-part"} and checked > 5


def test_category_ids_are_not_contiguous_and_the_mapping_is_kept(toy):
    samples = toy.read()
    assert samples.class_names == TOY_CLASSES
    assert samples.category_ids == TOY_CATEGORY_IDS == samples.meta["category_ids"]
    for s in samples:
        np.testing.assert_array_equal([samples.category_ids[k] for k in s.labels], s.attributes["category_id"])


def test_keypoints_and_their_names(toy):
    samples = toy.read()
    assert samples.meta["keypoint_names"] == {"person": ("top", "centre", "bottom")}
    assert samples.meta["skeleton"] == {"person": [[1, 2], [2, 3]]}
    for s in samples:
        assert s.keypoints.shape == (s.num_boxes, 3, 3)
        assert not s.keypoints[s.labels != 0].any()  # objects without keypoints: zeros
        assert set(np.unique(s.keypoints[..., 2])) <= {0, 1, 2}


def test_crowd_boxes_are_kept_as_an_attribute_and_dropped_only_on_request(toy):
    samples = toy.read()
    crowd = sum(int(s.attributes["iscrowd"].sum()) for s in samples)
    assert crowd > 0
    dropped = toy.read(drop_crowd=True)
    assert dropped.report.dropped_boxes == {"crowd": crowd}
    assert sum(s.num_boxes for s in dropped) == sum(s.num_boxes for s in samples) - crowd
    assert "dropped" in str(dropped.report)


def test_error_line_is_where_the_record_starts(tmp_path):
    toy = write_toy_coco(tmp_path, num_images=4)
    data = _load(toy.path)
    data["annotations"][2]["category_id"] = 99
    _dump(data, toy.path)
    with pytest.raises(sl.AnnotationError, match=r"'category_id' 99 is not in 'categories' \(ids: 1, 3, 18, 62\)") \
            as info:
        read_coco(toy.path)
    lines = Path(toy.path).read_text().splitlines()
    assert lines[info.value.line - 1].strip() == "{"
    assert f'"id": {data["annotations"][2]["id"]},' in lines[info.value.line]


def test_minified_json_names_the_record(tmp_path):
    toy = write_toy_coco(tmp_path, num_images=4)
    data = _load(toy.path)
    data["annotations"][0]["keypoints"] = [1, 2]
    _dump(data, toy.path, indent=None)
    with pytest.raises(sl.AnnotationError, match=r"annotations\.json:1: annotations\[0\] \(id 101\): 'keypoints'"):
        read_coco(toy.path)


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "images": [\n    {"id": 1,}\n  ]\n}\n')
    with pytest.raises(sl.AnnotationError, match=r"bad\.json:3: not valid JSON"):
        read_coco(path)


BASE = {
    "images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 12},
               {"id": 2, "file_name": "b.jpg", "height": 10, "width": 12},
               {"id": 3, "file_name": "c.jpg"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]},
                    {"id": 2, "image_id": 2, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 1, "area": 9.5}],
    "categories": [{"id": 7, "name": "thing"}],
}


def _with(**changes):
    data = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        section, index, key = path.split("__")
        data[section][int(index)][key] = value
    return data


def test_parse_accepts_a_dict_and_fills_defaults():
    samples = parse_coco(BASE, "imgs")
    assert [s.num_boxes for s in samples] == [1, 1, 0]
    assert samples[0].image.replace("\\", "/") == "imgs/a.jpg"
    np.testing.assert_array_equal(samples[0].boxes, [[1, 2, 4, 6]])
    assert samples[0].attributes["area"][0] == 12 and samples[1].attributes["area"][0] == 9.5
    assert samples[2].image_size is None and samples[0].image_size == (10, 12)
    assert all(s.masks is None and s.keypoints is None for s in samples)


@pytest.mark.parametrize("change, message", [
    ({"annotations__0__bbox": [1, 2, -3, 4]}, "width and height must be >= 0"),
    ({"annotations__0__bbox": [1, 2, float("nan"), 4]}, "4 finite numbers"),
    ({"annotations__0__iscrowd": 2}, "'iscrowd' must be 0 or 1"),
    ({"annotations__0__segmentation": [[1, 2, 3, 4]]}, "at least 3 points"),
    ({"annotations__0__segmentation": [[1, 2, 3, 4, 5, 6, 7]]}, "at least 3 points"),
    ({"annotations__0__segmentation": {"size": [10, 11], "counts": [120]}}, "differs from the image"),
    ({"annotations__0__segmentation": {"size": [10, 12], "counts": [100, 3]}}, "cover 103 pixels"),
    ({"annotations__0__segmentation": {"size": [10, 12], "counts": "\x7f\x7f"}}, "compressed RLE 'counts' is invalid"),
    ({"annotations__0__keypoints": [1, 2, 5]}, "visibility must be 0"),
    ({"images__0__width": 0}, "'height' and 'width' must be positive"),
    ({"images__0__file_name": "../../etc/passwd"}, "leaves the images root"),
    ({"images__1__id": 1}, "duplicate image id 1"),
])
def test_malformed_records_are_named(change, message):
    with pytest.raises(sl.AnnotationError, match=message):
        parse_coco(_with(**change), path="x.json")


def test_polygon_on_an_image_without_size_is_an_error():
    data = _with(annotations__0__image_id=3, annotations__0__segmentation=[[0, 0, 4, 0, 4, 4]])
    with pytest.raises(sl.AnnotationError, match="no 'height'/'width'"):
        parse_coco(data)


def test_skip_leaves_out_the_whole_image_of_a_bad_annotation():
    with pytest.warns(UserWarning, match="skipped 1 malformed entries"):
        samples = parse_coco(_with(annotations__1__bbox="x"), on_error="skip")
    assert [s.meta["image_id"] for s in samples] == [1, 3]


def test_annotation_of_an_unknown_image_is_skipped_alone():
    data = _with(annotations__1__image_id=42)
    with pytest.raises(sl.AnnotationError, match="'image_id' 42 is not the id of any record"):
        parse_coco(data)
    with pytest.warns(UserWarning):
        samples = parse_coco(data, on_error="skip")
    assert [s.num_boxes for s in samples] == [1, 0, 0]


def test_a_skipped_image_takes_its_annotations_along_without_more_errors():
    data = _with(images__0__file_name="")
    with pytest.warns(UserWarning, match="skipped 1 malformed"):
        samples = parse_coco(data, on_error="skip")
    assert [s.meta["image_id"] for s in samples] == [2, 3]
    assert len(samples.report.skipped) == 1


def test_category_errors_always_raise():
    data = _with()
    data["categories"].append({"id": 7, "name": "again"})
    with pytest.raises(sl.AnnotationError, match=r"categories\[1\] \(id 7\): duplicate category id 7"):
        parse_coco(data, on_error="skip")


def test_not_a_coco_file():
    with pytest.raises(sl.AnnotationError, match="'images' list"):
        parse_coco("[1, 2]", path="list.json")


def test_objects_without_segmentation_get_their_box_as_mask():
    data = _with(annotations__1__segmentation=[[0, 0, 5, 0, 5, 5, 0, 5]])
    samples = parse_coco(data)
    mask = decode_masks(samples[0])
    assert mask.shape == (1, 10, 12)
    ys, xs = np.nonzero(mask[0])
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (1, 2, 4, 6)
    assert decode_masks(samples[2], image_size=(4, 4)).shape == (0, 4, 4)


def test_missing_pycocotools_names_the_extra(toy, monkeypatch):
    sample = next(s for s in toy.read() if any(kind == "polygon" for kind, _ in s.masks.entries))
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    with pytest.raises(ImportError, match=r"seqloaders\[masks\]"):
        decode_masks(sample)

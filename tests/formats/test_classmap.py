import json
from pathlib import Path

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.classmap import ClassMap, default_colors
from seqloaders.masks import decode_masks
from seqloaders.toy import TOY_CLASSES, make_toy_formats

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classmaps" / "coco_to_4.json"


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    return make_toy_formats(tmp_path_factory.mktemp("toys"), ["coco", "voc", "yolo", "classfolders"], num_images=12)


@pytest.fixture(scope="module")
def coco_to_4():
    return ClassMap.from_json(EXAMPLE)


def test_the_example_class_map(coco_to_4):
    assert coco_to_4.names == ("void", "person", "vehicle", "animal")
    assert coco_to_4.background_index == 0 and coco_to_4.ignore_index == 255 and coco_to_4.unknown == "drop"
    assert coco_to_4.colors.shape == (4, 3) and coco_to_4.colors.dtype == np.uint8
    assert coco_to_4.colors[1].tolist() == [220, 20, 60]
    assert coco_to_4.sources["truck"] == 2 and coco_to_4.sources["giraffe"] == 3 and "void" not in coco_to_4.sources
    palette = coco_to_4.palette()
    assert palette.shape == (256, 3) and palette[255].tolist() == [255, 255, 255]


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_apply_works_on_any_readers_output(toys, coco_to_4, fmt):
    samples = toys[fmt].read()
    mapped = coco_to_4.apply(samples)
    assert mapped.class_names == coco_to_4.names
    target = {"person": 1, "car": 2, "dog": 3}
    chairs = 0
    for before, after in zip(samples, mapped):
        names = [TOY_CLASSES[k] for k in before.labels]
        keep = np.array([n != "chair" for n in names], bool)
        chairs += int((~keep).sum())
        assert after.labels.tolist() == [target[n] for n in names if n != "chair"]
        np.testing.assert_array_equal(after.boxes, before.boxes[keep])
        for key, value in before.attributes.items():
            np.testing.assert_array_equal(after.attributes[key], value[keep])
        if before.masks is not None:
            np.testing.assert_array_equal(decode_masks(after), decode_masks(before)[keep])
    assert chairs > 0
    assert mapped.report.dropped_boxes == {"class 'chair' (unknown, dropped by the class map)": chairs}
    assert mapped.report.num_boxes == sum(s.num_boxes for s in mapped)


def test_unknown_classes_are_an_error_unless_a_policy_says_otherwise(toys, coco_to_4):
    samples = toys["coco"].read()
    with pytest.raises(ValueError, match=r"source classes not mapped: 'chair' \(\d+\); add them"):
        coco_to_4.apply(samples, unknown="error")
    ignored = coco_to_4.apply(samples, unknown="ignore")
    chairs = sum(int((s.labels == 3).sum()) for s in samples)
    assert ignored.meta["ignored_boxes"] == {"chair": chairs}
    assert sum(int((s.labels == 255).sum()) for s in ignored) == chairs and not ignored.report.dropped_boxes


def test_merge_rename_drop_and_source_ids(toys):
    cmap = ClassMap.from_dict({
        "classes": [{"name": "background"}, {"name": "human", "from": ["person"]},
                    {"name": "thing", "from": [3, "dog"]}],  # 3 is COCO's id of "car"
        "background": 0, "ignore_index": -1, "drop": ["chair"],
    })
    samples = toys["coco"].read()
    mapped = cmap.apply(samples)
    for before, after in zip(samples, mapped):
        expected = [{0: 1, 1: 2, 2: 2}[k] for k in before.labels if k != 3]
        assert after.labels.tolist() == expected
    assert list(mapped.report.dropped_boxes) == ["class 'chair' (dropped, dropped by the class map)"]
    assert mapped.meta["source_class_names"] == TOY_CLASSES and "category_ids" not in mapped.meta


def test_integer_sources_match_labels_when_there_are_no_source_ids(toys):
    cmap = ClassMap.from_dict({"classes": [{"name": "a", "from": [0, 1]}, {"name": "b", "from": [2, 3]}]})
    samples = toys["yolo"].read()
    mapped = cmap.apply(samples)
    for before, after in zip(samples, mapped):
        assert after.labels.tolist() == (before.labels // 2).tolist()


def test_image_level_labels_of_class_folders(toys, coco_to_4):
    samples = toys["classfolders"].read()
    mapped = coco_to_4.apply(samples)
    chairs = sum(s.meta["class_name"] == "chair" for s in samples)
    assert len(mapped) == len(samples) - chairs
    assert {(s.meta["class_name"], s.meta["label"]) for s in mapped} == {("person", 1), ("vehicle", 2), ("animal", 3)}
    assert mapped.report.dropped_boxes == {"images of class 'chair' (unknown, dropped by the class map)": chairs}


def test_plain_lists_need_class_names():
    cmap = ClassMap.from_dict({"classes": [{"name": "x"}]})
    samples = [sl.Sample("a.jpg", boxes=[[0, 0, 1, 1]], labels=[0])]
    with pytest.raises(ValueError, match="pass class_names"):
        cmap.apply(samples)
    assert cmap.apply(samples, class_names=["x"])[0].labels.tolist() == [0]
    with pytest.raises(ValueError, match="outside the 1 source classes"):
        cmap.apply([sl.Sample("a.jpg", boxes=[[0, 0, 1, 1]], labels=[4])], class_names=["x"])


def _write(tmp_path, data):
    path = tmp_path / "map.json"
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.mark.parametrize("data, message, line", [
    ({"classes": [{"name": "a"}, {"name": "b", "from": ["a"]}]}, r"classes\[1\] \('b'\): source class 'a' is "
                                                                  r"already mapped to 'a'", 6),
    ({"classes": [{"name": "a", "color": [1, 2]}]}, r"'color' must be \[r, g, b\]", 3),
    ({"classes": [{"name": "a", "colour": [1, 2, 3]}]}, r"unknown keys \['colour'\]", 3),
    ({"classes": [{"name": "a"}], "ignore_index": 0}, r"'ignore_index' must be an integer outside 0\.\.0", 7),
    ({"classes": [{"name": "a"}], "background": "b"}, r"'background' must be a class name or id", 7),
    ({"classes": [{"name": "a"}], "drop": ["a"]}, r"source class 'a' is both dropped and mapped", 7),
    ({"classes": [{"name": "a"}], "unknown": "keep"}, r"'unknown' must be one of error, drop, ignore", 7),
    ({"classes": [{"name": "a"}], "mapping": {}}, r"unknown keys \['mapping'\]", 7),
    ({"classes": []}, r"'classes' must be a non-empty list", 2),
])
def test_malformed_class_maps_name_file_and_line(tmp_path, data, message, line):
    with pytest.raises(sl.AnnotationError, match=rf"map\.json:{line}: .*{message}"):
        ClassMap.from_json(_write(tmp_path, data))


def test_invalid_json_and_round_trip(tmp_path, coco_to_4):
    path = tmp_path / "map.json"
    path.write_text('{"classes": [\n  {"name": "a",}\n]}')
    with pytest.raises(sl.AnnotationError, match=r"map\.json:2: not valid JSON"):
        ClassMap.from_json(path)
    again = ClassMap.from_dict(json.loads(json.dumps(coco_to_4.to_dict())))
    assert again.names == coco_to_4.names and again.sources == coco_to_4.sources
    np.testing.assert_array_equal(again.colors, coco_to_4.colors)
    assert again.background_index == 0 and again.unknown == "drop"


def test_default_colours_are_distinct():
    colors = default_colors(21)
    assert len({tuple(c) for c in colors.tolist()}) == 21
    assert ClassMap.from_dict({"classes": [{"name": "a"}, {"name": "b"}]}).colors.tolist() == [[0, 0, 0], [128, 0, 0]]

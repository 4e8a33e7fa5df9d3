import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats.yolo import load_yolo_config, parse_yolo_labels, read_yolo, yolo_label_path
from seqloaders.masks import decode_masks
from seqloaders.toy import TOY_CLASSES, make_toy_scenes, write_toy_yolo

from .conformance import Broken, FormatConformance


def _break_a_label_file(toy, bad_line):
    sample = next(s for s in toy.samples if s.num_boxes)
    label = Path(yolo_label_path(sample.image))
    lines = label.read_text().splitlines()
    lines.insert(1, bad_line)
    label.write_text("\n".join(lines) + "\n")
    return str(label), os.path.basename(sample.image)


class TestYoloDetectConformance(FormatConformance):
    format_name = "yolo"

    def make_data(self, root):
        return write_toy_yolo(root, num_images=8)

    def make_broken(self, root):
        toy = write_toy_yolo(root, num_images=8)
        label, image = _break_a_label_file(toy, "0 0.5 0.5 0.2")
        return Broken(toy.path, toy.options, rf"{os.path.basename(label)}:2: expected 5 fields", label, image,
                      len(toy.samples))


class TestYoloSegmentConformance(FormatConformance):
    format_name = "yolo"

    def make_data(self, root):
        return write_toy_yolo(root, task="segment", num_images=8)

    def make_broken(self, root):
        toy = write_toy_yolo(root, task="segment", num_images=8)
        label, image = _break_a_label_file(toy, "1 0.1 0.1 0.2 0.2 0.3 1.5")
        return Broken(toy.path, toy.options, rf"{os.path.basename(label)}:2: coordinates must be normalised", label,
                      image, len(toy.samples))


class TestYoloPoseConformance(FormatConformance):
    format_name = "yolo"

    def make_data(self, root):
        return write_toy_yolo(root, task="pose", num_images=8)

    def make_broken(self, root):
        toy = write_toy_yolo(root, task="pose", num_images=8)
        label, image = _break_a_label_file(toy, "0 0.5 0.5 0.2 0.2 0.1 0.1 2")
        return Broken(toy.path, toy.options, rf"{os.path.basename(label)}:2: a pose line has 5 \+ 3 keypoints", label,
                      image, len(toy.samples))


def test_centre_boxes_become_pixel_xyxy():
    labels = parse_yolo_labels("0 0.5 0.5 0.5 1.0\n\n3 0.25 0.75 0.1 0.2\n", (100, 200))
    np.testing.assert_allclose(labels.boxes, [[50, 0, 150, 100], [40, 65, 60, 85]], atol=1e-4)
    assert labels.labels.tolist() == [0, 3] and labels.polygons is None and labels.keypoints is None


def test_polygon_box_is_its_extent_and_mask_is_rendered_by_pycocotools():
    labels = parse_yolo_labels("2 0.1 0.2 0.5 0.2 0.3 0.8", (10, 20))
    np.testing.assert_allclose(labels.boxes, [[2, 2, 10, 8]], atol=1e-5)
    np.testing.assert_allclose(labels.polygons[0], [2, 2, 10, 2, 6, 8], atol=1e-9)


def test_pose_with_two_values_per_keypoint():
    labels = parse_yolo_labels("0 0.5 0.5 0.2 0.2 0.5 0.5 0 0", (10, 20), keypoint_shape=(2, 2))
    np.testing.assert_allclose(labels.keypoints, [[[10, 5, 2], [0, 0, 0]]])


@pytest.mark.parametrize("line, message", [
    ("0 0.5 0.5 0.1 0.1 0.9", "expected 5 fields"),
    ("a 0.5 0.5 0.1 0.1", "expected numbers, got 'a'"),
    ("1.5 0.5 0.5 0.1 0.1", "class id must be a non-negative integer"),
    ("-1 0.5 0.5 0.1 0.1", "class id must be a non-negative integer"),
    ("7 0.5 0.5 0.1 0.1", r"class id 7 is out of range: the dataset has 4 classes"),
    ("0 0.5 0.5 1.1 0.1", "normalised to"),
    ("0 0.5 nan 0.1 0.1", "finite"),
    ("0 0.1 0.1 0.2 0.1 0.2 0.2 0.3 0.3 0.4 0.4 0.5 0.5 0.6 0.6 0.7", "a pose line"),
])
def test_malformed_lines_name_file_and_line(line, message):
    with pytest.raises(sl.AnnotationError, match=rf"a\.txt:2: .*{message}"):
        parse_yolo_labels(f"0 0.5 0.5 0.1 0.1\n{line}\n", (10, 10), path="a.txt", num_classes=4)


def test_label_path_replaces_the_last_images_folder():
    assert yolo_label_path(os.path.join("d", "images", "x", "images", "a.b.jpg")) == \
        os.path.join("d", "images", "x", "labels", "a.b.txt")
    assert yolo_label_path(os.path.join("flat", "a.png")) == os.path.join("flat", "a.txt")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_yolo(tmp_path_factory.mktemp("yolo"), task="segment", num_images=8)


def test_images_folder_without_yaml(toy):
    images = os.path.join(os.path.dirname(toy.path), "images", "train")
    samples = read_yolo(images)
    top = max(int(s.labels.max()) for s in toy.samples if s.num_boxes)
    assert samples.class_names == tuple(str(k) for k in range(top + 1))
    assert read_yolo(images, class_names=TOY_CLASSES) == toy.samples


def test_image_list_file_and_yaml_list_entries(toy):
    root = os.path.dirname(toy.path)
    listing = Path(root, "train.txt")
    listing.write_text("".join(f"./images/train/{os.path.basename(s.image)}\n" for s in toy.samples[:3]))
    assert len(read_yolo(listing)) == 3
    yaml = Path(root, "list.yaml")
    yaml.write_text("path: .\ntrain: [train.txt, images/train]\nnames: [person, car, dog, chair]\n")
    samples = read_yolo(yaml)
    assert len(samples) == 3 + len(toy.samples) and samples.class_names == TOY_CLASSES


def test_segment_masks_are_the_polygons_rendered_by_pycocotools(toy):
    from pycocotools import mask as mask_api

    sample = next(s for s in toy.read() if s.num_boxes)
    h, w = sample.image_size
    masks = decode_masks(sample)
    for k, (kind, parts) in enumerate(sample.masks.entries):
        rle = mask_api.merge(mask_api.frPyObjects([p.tolist() for p in parts], h, w))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pycocotools' decode under NumPy 2
            expected = mask_api.decode(rle).astype(bool)
        assert kind == "polygon" and expected.any()
        np.testing.assert_array_equal(masks[k], expected)


def test_image_sizes_come_from_headers_and_other_formats_are_decoded(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    _ok, bmp = cv2.imencode(".bmp", np.zeros((30, 40, 3), np.uint8))
    (images / "a.bmp").write_bytes(bmp.tobytes())
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 1 1\n")
    samples = read_yolo(images)
    assert samples[0].image_size == (30, 40)
    np.testing.assert_allclose(samples[0].boxes, [[0, 0, 40, 30]])


def test_broken_image_is_skipped_by_policy(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "bad.jpg").write_bytes(b"\xff\xd8not a jpeg")
    with pytest.raises(sl.ImageError):
        read_yolo(images)
    with pytest.warns(UserWarning, match="cannot read the image size"):
        assert len(read_yolo(images, on_error="skip")) == 0


def test_yaml_is_loaded_safely_and_errors_name_the_line(tmp_path):
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("train: images\nnames: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(sl.AnnotationError, match=r"unsafe\.yaml:2: not valid YAML"):
        load_yolo_config(unsafe)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: images\nnames: {0: a, 2: b}\n")
    with pytest.raises(sl.AnnotationError, match=r"bad\.yaml:2: 'names' must map ids 0\.\.1"):
        load_yolo_config(bad)
    kpt = tmp_path / "kpt.yaml"
    kpt.write_text("train: images\nkpt_shape: [17, 4]\n")
    with pytest.raises(sl.AnnotationError, match=r"kpt\.yaml:2: 'kpt_shape' must be"):
        load_yolo_config(kpt)


def test_missing_split_names_the_available_ones(toy):
    with pytest.raises(ValueError, match="no 'test' entry; this dataset has: train, val"):
        read_yolo(toy.path, split="test")


def test_pose_dataset_keeps_flip_index(tmp_path):
    toy = write_toy_yolo(tmp_path, make_toy_scenes(4), task="pose")
    samples = toy.read()
    assert samples.meta["flip_idx"] == (0, 1, 2)
    assert samples[0].keypoints.shape == (samples[0].num_boxes, 3, 3)


def test_sizes_follow_exif_orientation_even_behind_a_large_exif_block(tmp_path):
    from PIL import Image

    image = Image.fromarray(np.zeros((50, 70, 3), np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated: displayed as 70 high, 50 wide
    exif[0x010E] = "x" * 20000  # pushes the size marker past the first bytes read
    (tmp_path / "images").mkdir()
    image.save(tmp_path / "images" / "a.jpg", "JPEG", exif=exif)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 1 1\n")
    sample = read_yolo(tmp_path / "images")[0]
    assert sample.image_size == (70, 50)
    np.testing.assert_allclose(sample.boxes, [[0, 0, 50, 70]])

import os

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats.maskfolders import read_mask_folders
from seqloaders.masks import decode_masks, read_mask_file
from seqloaders.toy import write_toy_mask_folders

from .conformance import Broken, FormatConformance


def _png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _ok, data = cv2.imencode(".png", array)
    with open(path, "wb") as f:
        f.write(data.tobytes())


class TestMaskFoldersConformance(FormatConformance):
    """RGBA images (as in the DSB 2018 set) and 8-bit masks."""

    format_name = "maskfolders"

    def make_data(self, root):
        return write_toy_mask_folders(root, image_mode="rgba", mask_depth=8, num_images=8)

    def make_broken(self, root):
        toy = write_toy_mask_folders(root, num_images=8)
        sample = next(s for s in toy.samples if s.num_boxes)
        masks = os.path.join(os.path.dirname(os.path.dirname(sample.image)), "masks")
        bad = os.path.join(masks, sorted(os.listdir(masks))[0])
        _png(bad, np.zeros(sample.image_size, np.uint8))
        return Broken(toy.path, toy.options, r"_000\.png: mask has no foreground", bad, os.path.basename(sample.image),
                      len(toy.samples))


class TestMaskFolders16BitConformance(TestMaskFoldersConformance):
    """16-bit RGB images and 16-bit masks."""

    def make_data(self, root):
        return write_toy_mask_folders(root, image_mode="rgb16", mask_depth=16, num_images=8)


def test_boxes_follow_cocos_convention(tmp_path):
    image = np.zeros((6, 8, 3), np.uint8)
    _png(str(tmp_path / "a" / "images" / "a.png"), image)
    mask = np.zeros((6, 8), np.uint8)
    mask[1:4, 2:5] = 255  # rows 1..3, columns 2..4
    _png(str(tmp_path / "a" / "masks" / "m1.png"), mask)
    samples = read_mask_folders(tmp_path, class_name="nucleus")
    np.testing.assert_array_equal(samples[0].boxes, [[2, 1, 5, 4]])  # x_max = last column + 1
    assert samples.class_names == ("nucleus",) and samples[0].meta["id"] == "a"
    np.testing.assert_array_equal(decode_masks(samples[0])[0], mask > 0)


def test_rgba_and_16_bit_mask_files(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[1, 2, :3] = 7
    rgba[2, 2, :3] = 9
    rgba[2, 2, 3] = 0  # transparent: not in the mask
    _png(str(tmp_path / "rgba.png"), rgba)
    assert np.argwhere(read_mask_file(tmp_path / "rgba.png")).tolist() == [[1, 2]]
    deep = np.zeros((4, 4), np.uint16)
    deep[3, 0] = 1  # would vanish if converted to 8 bits
    _png(str(tmp_path / "deep.png"), deep)
    assert np.argwhere(read_mask_file(tmp_path / "deep.png")).tolist() == [[3, 0]]
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"junk.png: cannot decode"):
        read_mask_file(tmp_path / "junk.png")


def test_a_mask_of_another_size_is_named(tmp_path):
    _png(str(tmp_path / "a" / "images" / "a.png"), np.zeros((6, 8, 3), np.uint8))
    _png(str(tmp_path / "a" / "masks" / "m.png"), np.full((6, 9), 255, np.uint8))
    with pytest.raises(sl.AnnotationError, match=r"m\.png: mask is 9x6 pixels but the image is 8x6"):
        read_mask_folders(tmp_path)


def test_an_image_folder_needs_exactly_one_image(tmp_path):
    (tmp_path / "a" / "images").mkdir(parents=True)
    with pytest.raises(sl.AnnotationError, match="expected one image in images/, found 0"):
        read_mask_folders(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_mask_folders(tmp_path / "missing")


def test_masks_files_are_read_only_when_decoded(tmp_path):
    toy = write_toy_mask_folders(tmp_path, num_images=4)
    samples = toy.read()
    sample = next(s for s in samples if s.num_boxes)
    os.remove(sample.masks.paths[0])
    with pytest.raises(FileNotFoundError):
        decode_masks(sample)

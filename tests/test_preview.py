"""Previews: encoded targets decoded back and drawn on the model's input pixels; pixels prove the drawing."""

import os

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.cli import main
from seqloaders.encoders import (
    AnchorGridEncoder,
    ClassificationEncoder,
    HeatmapEncoder,
    InstanceMaskEncoder,
    KeypointEncoder,
    SemanticMaskEncoder,
)
from seqloaders.preview import (
    CELL_ALPHA,
    CELL_COLOR,
    KEYPOINT_COLOR,
    MASK_ALPHA,
    PALETTE,
    SKELETON_COLOR,
    input_pixels,
    preview_sequence,
    render_batch,
)

GREY = (100, 100, 100)
BLUE = (0, 0, 80)
BOX = (8, 16, 40, 48)  # XYXY pixels of a 64x64 image


def _blend(under, color, alpha):
    return np.rint(np.asarray(under, np.float32) * (1 - alpha) + np.asarray(color, np.float32) * alpha)


def _read_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _write_png(path, rgb):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture
def boxed(tmp_path):
    """Two 64x64 PNGs: grey with a dark blue object exactly at BOX; their samples."""
    image = np.full((64, 64, 3), GREY, np.uint8)
    x0, y0, x1, y1 = BOX
    image[y0:y1, x0:x1] = BLUE
    samples = []
    for k in range(2):
        path = tmp_path / f"img{k}.png"
        _write_png(path, image)
        samples.append(sl.Sample(str(path), boxes=[BOX], labels=[0], image_size=(64, 64)))
    return image, samples


def _sequence(samples, encoder, **kw):
    return sl.DetectionSequence(samples, batch_size=len(samples), image_size=(64, 64), encoder=encoder,
                                shuffle=False, **kw)


class ShiftedGridEncoder(sl.GridEncoder):
    """A buggy encoder: it writes every box 16 pixels right of where the object is."""

    def encode_batch(self, samples, image_size, stats=None):
        moved = [s.replace(boxes=s.boxes + np.float32([16, 0, 16, 0])) for s in samples]
        return super().encode_batch(moved, image_size, stats)


def test_grid_preview_draws_boxes_and_occupied_cells_on_the_input_pixels(boxed, tmp_path):
    _image, samples = boxed
    seq = _sequence(samples, sl.GridEncoder(grid_size=4))
    path = preview_sequence(seq, tmp_path / "out" / "grid.png", columns=2)
    mosaic = _read_rgb(path)
    assert mosaic.shape == (64, 128, 3)  # 2 tiles of 64x64 side by side
    tile = mosaic[:, :64]
    np.testing.assert_array_equal(mosaic[:, 64:], tile)
    x0, _y0, x1, y1 = BOX
    green = tuple(int(c) for c in PALETTE[0])
    for x, y in ((x0, 32), (x1 - 1, 32), (24, y1 - 1)):  # left, right and bottom edges of the known box
        assert tuple(tile[y, x]) == green, (x, y)
    # the box centre (24, 32) is in cell row 2, col 1 (x 16..32, y 32..48): shaded over the blue object
    np.testing.assert_array_equal(tile[40, 24], _blend(BLUE, CELL_COLOR, CELL_ALPHA))
    assert tuple(tile[24, 24]) == BLUE  # the cell above: not shaded
    assert tuple(tile[8, 56]) == GREY  # far from the object: the input pixel itself
    assert tuple(tile[8, 48]) == tuple(tile[56, 16]) == (200, 200, 200)  # grid lines


def test_a_wrong_encoder_draws_visibly_different_output(boxed, tmp_path):
    _, samples = boxed
    right = _read_rgb(preview_sequence(_sequence(samples, sl.GridEncoder(4)), tmp_path / "right.png"))
    wrong = _read_rgb(preview_sequence(_sequence(samples, ShiftedGridEncoder(4)), tmp_path / "wrong.png"))
    green = tuple(int(c) for c in PALETTE[0])
    assert tuple(right[36, 8]) == green and tuple(wrong[36, 8]) == BLUE  # the object's edge has no box
    assert tuple(wrong[36, 24]) == green and tuple(wrong[36, 55]) == green  # the box is 16 px to the right
    assert tuple(right[36, 55]) == GREY  # where the wrong box ends there is only background
    assert (np.abs(right.astype(int) - wrong.astype(int)).sum(axis=2) > 30).sum() > 100


def test_instance_masks_from_a_sequence_are_coloured_overlays(tmp_path):
    root = tmp_path / "cells"
    image = np.full((64, 64, 3), GREY, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:54, 12:54] = 255
    _write_png(root / "a" / "images" / "a.png", image)
    os.makedirs(root / "a" / "masks", exist_ok=True)
    assert cv2.imwrite(str(root / "a" / "masks" / "m0.png"), mask)
    samples = sl.read_mask_folders(root)
    seq = _sequence(samples, InstanceMaskEncoder(max_instances=4, image_size=(64, 64)))
    tile = _read_rgb(preview_sequence(seq, tmp_path / "instance.png"))
    assert tile.shape == (64, 64, 3)
    overlay = _blend(GREY, PALETTE[0], MASK_ALPHA)
    np.testing.assert_array_equal(tile[40, 30], overlay)  # inside the mask
    assert tuple(tile[58, 30]) == GREY and tuple(tile[5, 5]) == GREY  # outside it
    assert tuple(tile[30, 12]) == tuple(PALETTE[0])  # the box decoded from the mask: its left edge


def test_semantic_and_instance_targets_drawn_from_encoder_outputs():
    """Masks drawn from hand-made encoder outputs (the encoders' own encode_batch on rendered masks)."""
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 2:10, 2:10] = True
    masks[1, 20:30, 16:30] = True
    sample = sl.Sample("a.png", boxes=[[2, 2, 10, 10], [16, 20, 30, 30]], labels=[1, 3], masks=masks)
    images = np.full((1, 32, 32, 3), GREY, np.uint8)
    semantic = SemanticMaskEncoder(num_classes=5, label_offset=1)
    y = semantic.encode_batch([sample], (32, 32))
    tile = render_batch(images, y, semantic)
    np.testing.assert_array_equal(tile[5, 5], _blend(GREY, PALETTE[1], MASK_ALPHA))
    np.testing.assert_array_equal(tile[25, 22], _blend(GREY, PALETTE[3], MASK_ALPHA))
    assert tuple(tile[15, 15]) == GREY  # background is not drawn
    instance = InstanceMaskEncoder(max_instances=3)
    tile = render_batch(images, instance.encode_batch([sample], (32, 32)), instance)
    np.testing.assert_array_equal(tile[25, 22], _blend(GREY, PALETTE[3], MASK_ALPHA))
    assert tuple(tile[20, 16]) == tuple(PALETTE[3])  # the decoded box's corner
    # a dict of encoders gives a dict y: both drawn on one tile
    both = {"seg": semantic, "inst": instance}
    y = {name: enc.encode_batch([sample], (32, 32)) for name, enc in both.items()}
    assert render_batch(images, y, both).shape == (32, 32, 3)


def test_keypoints_and_skeleton_from_a_sequence(tmp_path):
    path = tmp_path / "p.png"
    _write_png(path, np.zeros((64, 64, 3), np.uint8))
    kp = [[[10, 10, 2], [10, 50, 2], [50, 50, 1]]]
    samples = [sl.Sample(str(path), boxes=[[5, 5, 55, 55]], labels=[0], keypoints=kp)]
    encoders = {"kp": KeypointEncoder(max_objects=2, num_keypoints=3), "boxes": sl.PaddedBoxEncoder(max_boxes=2)}
    seq = _sequence(samples, encoders)
    tile = _read_rgb(preview_sequence(seq, tmp_path / "kp.png", skeleton=[(0, 1), (1, 2)]))
    assert tuple(tile[10, 10]) == KEYPOINT_COLOR and tuple(tile[50, 10]) == KEYPOINT_COLOR  # visible: filled
    assert tuple(tile[50, 50]) != KEYPOINT_COLOR and tuple(tile[48, 50]) == KEYPOINT_COLOR  # hidden: a ring
    assert tuple(tile[30, 10]) == SKELETON_COLOR and tuple(tile[50, 30]) == SKELETON_COLOR  # the two limbs
    assert tuple(tile[30, 5]) == tuple(PALETTE[0])  # the padded box's left edge
    # the same keypoints as heatmaps: peaks at the centres of the cells holding them
    heat = HeatmapEncoder(num_keypoints=3, output_stride=4, sigma=1.0, image_size=(64, 64))
    tile = _read_rgb(preview_sequence(_sequence(samples, heat), tmp_path / "heat.png"))
    assert tuple(tile[10, 10]) == KEYPOINT_COLOR and tuple(tile[50, 10]) == KEYPOINT_COLOR
    assert tile[20, 40].sum() < 30  # far from every keypoint: the black input


def test_anchor_cells_and_classification_text(boxed):
    _image, samples = boxed
    anchors = AnchorGridEncoder([[(32, 32)]], strides=[16], num_classes=1, image_size=(64, 64))
    seq = _sequence(samples, anchors)
    x, y = seq[0]
    tile = render_batch(x, y, anchors, max_images=1)
    assert tile.shape == (64, 64, 3)
    # the box centre (24, 32) is in the stride-16 cell x 16..32, y 32..48
    np.testing.assert_array_equal(tile[40, 24], _blend(BLUE, CELL_COLOR, CELL_ALPHA))
    assert tuple(tile[24, 24]) == BLUE
    cls = ClassificationEncoder(num_classes=2)
    tile = render_batch(np.zeros((1, 32, 64, 3), np.uint8), cls.encode_batch(samples[:1], (32, 64)), cls,
                        class_names=["thing", "other"], zoom=2)
    assert tile.shape == (64, 128, 3) and (tile[:20, :60] > 200).all(axis=2).any()  # white text top left


def test_input_pixels_undoes_the_preprocess():
    pixels = np.arange(48, dtype=np.uint8).reshape(1, 4, 4, 3) * 5
    np.testing.assert_array_equal(input_pixels(pixels.astype(np.float32) / 255, "scale"), pixels)
    np.testing.assert_array_equal(input_pixels(pixels.astype(np.float32), None), pixels)
    np.testing.assert_array_equal(input_pixels(pixels), pixels)
    with pytest.raises(ValueError, match="cannot be undone"):
        input_pixels(pixels.astype(np.float32), lambda v: v)


def test_preview_cli_writes_the_grid(toy, tmp_path, capsys):
    out = tmp_path / "preview.png"
    assert main(["preview", "widerface", toy.annotations, "--images-dir", toy.images, "--out", str(out),
                 "--num-images", "4", "--columns", "2", "--image-size", "64", "96", "--grid-size", "4"]) == 0
    assert _read_rgb(out).shape == (2 * 64 + 4, 2 * 96 + 4, 3)  # 2 x 2 tiles, 4 white pixels between them
    assert main(["preview", "widerface", toy.annotations, "--images-dir", toy.images, "--out", str(out),
                 "--num-images", "3", "--columns", "3", "--image-size", "32", "32", "--gap", "0", "--zoom", "2",
                 "--augment", "none", "--encoder", "anchors"]) == 0
    assert _read_rgb(out).shape == (64, 192, 3)
    assert "wrote" in capsys.readouterr().out
    assert main(["preview", "widerface", toy.annotations, "--images-dir", toy.images, "--out", str(out),
                 "--encoder", "keypoints"]) == 2
    assert "needs keypoints" in capsys.readouterr().err

import numpy as np
import pytest

import seqloaders as sl

SIZE = (140, 70)  # H, W: cells are 20 x 10 pixels on a 7x7 grid


def test_hand_computed_default_layout():
    enc = sl.GridEncoder(grid_size=7, num_classes=1)
    grid = enc.encode(np.array([[20, 30, 40, 70]]), np.array([0]), SIZE)
    # centre (30, 50): column 30/10 = 3.0, row 50/20 = 2.5
    expected = np.zeros((7, 7, 5), np.float32)
    expected[2, 3] = [1, 0.0, 0.5, 20 / 70, 40 / 140]
    np.testing.assert_allclose(grid, expected, atol=1e-6)
    assert enc.output_shape == (7, 7, 5) and grid.dtype == np.float32


def test_tutorial_layout_top_left_point():
    enc = sl.GridEncoder(grid_size=7, channels=("h", "w", "y", "x", "obj"), cell_point="top_left")
    grid = enc.encode(np.array([[25, 45, 45, 85]]), np.array([0]), SIZE)
    # top-left (25, 45): column 2 (offset 0.5), row 2 (offset 0.25)
    expected = np.zeros((7, 7, 5), np.float32)
    expected[2, 2] = [40 / 140, 20 / 70, 0.25, 0.5, 1]
    np.testing.assert_allclose(grid, expected, atol=1e-6)


def test_box_on_right_and_bottom_border_lands_in_last_cell():
    enc = sl.GridEncoder(grid_size=7, cell_point="top_left")
    grid = enc.encode(np.array([[70, 140, 70, 140], [60, 120, 70, 140]]), np.array([0, 0]), SIZE)
    assert grid[6, 6, 0] == 1  # the zero-size corner box is dropped, the other one is in the last cell
    assert grid[..., 0].sum() == 1
    enc = sl.GridEncoder(grid_size=7)
    grid = enc.encode(np.array([[0, 0, 70, 140]]), np.array([0]), SIZE)  # centre exactly on a line: cell 3
    assert grid[3, 3, 0] == 1
    grid = enc.encode(np.array([[69, 139, 75, 150]]), np.array([0]), SIZE)  # clipped to the image first
    assert grid[6, 6, 0] == 1 and grid[..., 0].sum() == 1


def test_empty_image_is_all_zeros_never_a_face_in_cell_0_0():
    enc = sl.GridEncoder(grid_size=7)
    grid = enc.encode(np.zeros((0, 4)), np.zeros(0), SIZE)
    assert grid.shape == (7, 7, 5) and not grid.any()


@pytest.mark.parametrize("collision,kept", [("largest", 1), ("first", 0), ("last", 2)])
def test_two_boxes_in_one_cell_policy_and_drop_count(collision, kept):
    boxes = np.array([[21, 41, 29, 59], [20, 40, 30, 60], [22, 42, 28, 58]], np.float32)
    enc = sl.GridEncoder(grid_size=7, collision=collision)
    grid = enc.encode(boxes, np.zeros(3), SIZE)
    assert grid[..., 0].sum() == 1
    w = (boxes[kept, 2] - boxes[kept, 0]) / 70
    assert grid[2, 2, 3] == pytest.approx(w)
    assert enc.count_dropped(boxes, np.zeros(3), SIZE) == 2
    stats = {}
    enc.encode_batch([sl.Sample("a", boxes=boxes, labels=[0, 0, 0])] * 2, SIZE, stats)
    assert stats == {"boxes_not_encoded": 4}


def test_class_channels_one_hot_and_label_range():
    enc = sl.GridEncoder(grid_size=(2, 4), num_classes=3)
    grid = enc.encode(np.array([[0, 0, 10, 10], [60, 100, 70, 140]]), np.array([2, 1]), SIZE)
    assert grid.shape == (2, 4, 8)
    np.testing.assert_array_equal(grid[0, 0, 5:], [0, 0, 1])
    np.testing.assert_array_equal(grid[1, 3, 5:], [0, 1, 0])
    with pytest.raises(sl.EncodingError, match="label 3 is out of range for num_classes=3"):
        enc.encode(np.array([[0, 0, 10, 10]]), np.array([3]), SIZE)


@pytest.mark.parametrize("cell_point", ["center", "top_left"])
@pytest.mark.parametrize("channels", [("obj", "x", "y", "w", "h"), ("h", "w", "y", "x", "obj")])
def test_decode_inverts_encode(cell_point, channels):
    rng = np.random.default_rng(0)
    enc = sl.GridEncoder(grid_size=7, num_classes=4, channels=channels, cell_point=cell_point)
    # one box per cell: random boxes whose chosen point lies in distinct cells
    cells = rng.choice(49, 10, replace=False)
    boxes, labels = [], []
    for cell in cells:
        r, c = divmod(int(cell), 7)
        px, py = (c + rng.uniform(0.05, 0.95)) * 10, (r + rng.uniform(0.05, 0.95)) * 20
        bw, bh = rng.uniform(1, 8), rng.uniform(1, 15)
        x0, y0 = (px - bw / 2, py - bh / 2) if cell_point == "center" else (px, py)
        boxes.append([x0, y0, x0 + bw, y0 + bh])
        labels.append(rng.integers(4))
    boxes = np.clip(np.array(boxes, np.float32), 0, [70, 140, 70, 140])
    grid = enc.encode(boxes, np.array(labels), SIZE)
    out_boxes, scores, out_labels = enc.decode(grid, SIZE)
    order = np.lexsort((boxes[:, 0], boxes[:, 1]))
    got = np.lexsort((out_boxes[:, 0], out_boxes[:, 1]))
    np.testing.assert_allclose(out_boxes[got], boxes[order], atol=1e-4)
    np.testing.assert_array_equal(out_labels[got], np.array(labels)[order])
    assert (scores == 1).all()


def test_batch_encoding_matches_single():
    enc = sl.GridEncoder(grid_size=7)
    samples = [sl.Sample("a", boxes=[[1, 2, 30, 40]], labels=[0]), sl.Sample("b"),
               sl.Sample("c", boxes=[[10, 10, 20, 20], [50, 100, 69, 139]], labels=[0, 0])]
    batch = enc.encode_batch(samples, SIZE)
    for k, s in enumerate(samples):
        np.testing.assert_array_equal(batch[k], enc.encode(s.boxes, s.labels, SIZE))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="channels"):
        sl.GridEncoder(channels=("obj", "x", "y", "w"))
    with pytest.raises(ValueError, match="cell_point"):
        sl.GridEncoder(cell_point="middle")
    with pytest.raises(ValueError, match="collision"):
        sl.GridEncoder(collision="random")
    assert "GridEncoder(grid_size=(7, 7)" in repr(sl.GridEncoder())

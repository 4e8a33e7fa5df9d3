"""YOLO-v1-style grid targets: one box per cell, S×S×(5+C)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..records import Sample
from .base import Decoded, TargetEncoder, check_image_size
from .boxbatch import COLLISIONS, collision_order, flatten_boxes

__all__ = ["GridEncoder", "decode_grid", "encode_grid"]

BOX_CHANNELS = ("obj", "x", "y", "w", "h")
CELL_POINTS = ("center", "top_left")


def _grid_hw(grid_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(grid_size, (int, np.integer)):
        return int(grid_size), int(grid_size)
    rows, cols = grid_size
    return int(rows), int(cols)


def encode_grid(
    boxes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    image_size: tuple[int, int],
    grid_size: int | tuple[int, int] = 7,
    num_classes: int = 1,
    channels: Sequence[str] = BOX_CHANNELS,
    cell_point: str = "center",
    collision: str = "largest",
) -> tuple[np.ndarray, int]:
    """Encode a batch of box sets into grids (vectorised over the whole batch).

    Args:
        boxes: B arrays of (N_i, 4) float, XYXY pixels of an image of size ``image_size``.
        labels: B arrays of (N_i,) int class ids in ``[0, num_classes)``.
        image_size: (H, W) of the image the boxes live in.
        grid_size: S or (rows, cols).
        num_classes: class channels are added (one-hot, after the box channels) when > 1.
        channels: order of the five box channels "obj", "x", "y", "w", "h".
        cell_point: "center" or "top_left": the point of the box that picks the cell; x and y
            are that point's offset inside its cell, in cell units [0, 1].
        collision: which box a cell keeps when several fall in it: "largest" (area), "first"
            or "last" (in the sample's order).

    Returns:
        (B, rows, cols, 5 + C) float32 grids and the number of boxes not encoded (cell
        collisions plus boxes of zero size after clipping to the image).
    """
    rows, cols = _grid_hw(grid_size)
    h, w = image_size
    c = num_classes if num_classes > 1 else 0
    order = [channels.index(name) for name in BOX_CHANNELS]  # where obj, x, y, w, h go
    batch = len(boxes)
    out = np.zeros((batch, rows, cols, 5 + c), np.float32)
    flat_boxes = flatten_boxes(boxes, labels, image_size, num_classes)
    total = flat_boxes.total
    if total == 0:
        return out, 0
    b, lab, owner = flat_boxes.boxes, flat_boxes.labels, flat_boxes.owner
    bw, bh = flat_boxes.widths, flat_boxes.heights
    if cell_point == "center":
        px, py = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    else:
        px, py = b[:, 0], b[:, 1]
    gx, gy = px / w * cols, py / h * rows
    col = np.clip(np.floor(gx), 0, cols - 1).astype(np.int64)  # a point on the right border: last cell
    row = np.clip(np.floor(gy), 0, rows - 1).astype(np.int64)
    idx = np.flatnonzero(flat_boxes.valid)
    idx = idx[collision_order(flat_boxes, idx, collision)]
    cell = (owner[idx] * rows + row[idx]) * cols + col[idx]
    _, first = np.unique(cell, return_index=True)
    keep = idx[first]
    dropped = total - len(keep)
    values = np.stack([np.ones(len(keep)), gx[keep] - col[keep], gy[keep] - row[keep],
                       bw[keep] / w, bh[keep] / h], axis=1)
    flat = out.reshape(-1, 5 + c)
    target = (owner[keep] * rows + row[keep]) * cols + col[keep]
    flat[target[:, None], np.array(order)[None, :]] = values
    if c:
        flat[target, 5 + lab[keep]] = 1.0
    return out, dropped


def decode_grid(
    grid: np.ndarray,
    image_size: tuple[int, int],
    threshold: float = 0.5,
    channels: Sequence[str] = BOX_CHANNELS,
    cell_point: str = "center",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one (rows, cols, 5 + C) grid back to boxes.

    Returns:
        ``boxes`` (M, 4) float32 XYXY pixels of an image of size ``image_size``, ``scores``
        (M,) float32 (the objectness) and ``labels`` (M,) int64, for cells whose objectness
        is at least ``threshold``, in row-major cell order.
    """
    grid = np.asarray(grid, np.float32)
    rows, cols = grid.shape[:2]
    h, w = image_size
    ch = {name: channels.index(name) for name in BOX_CHANNELS}
    obj = grid[..., ch["obj"]]
    r, c = np.nonzero(obj >= threshold)
    cells = grid[r, c]
    px = (c + cells[:, ch["x"]]) / cols * w
    py = (r + cells[:, ch["y"]]) / rows * h
    bw, bh = cells[:, ch["w"]] * w, cells[:, ch["h"]] * h
    if cell_point == "center":
        x0, y0 = px - bw / 2, py - bh / 2
    else:
        x0, y0 = px, py
    boxes = np.stack([x0, y0, x0 + bw, y0 + bh], axis=1).astype(np.float32).reshape(-1, 4)
    labels = np.argmax(cells[:, 5:], axis=1).astype(np.int64) if grid.shape[-1] > 5 else np.zeros(len(r), np.int64)
    return boxes, cells[:, ch["obj"]].astype(np.float32), labels


class GridEncoder(TargetEncoder):
    """YOLO-v1-style grid target: S×S×(5+C) float32.

    Default layout per cell: objectness, x and y offset of the box centre inside the cell (cell
    units), w and h relative to the image; then C one-hot class channels when
    ``num_classes > 1``. An image without boxes encodes to all zeros.

    Args:
        grid_size: S or (rows, cols).
        num_classes: number of classes; 1 adds no class channel.
        channels: order of "obj", "x", "y", "w", "h". The TF2 tiny-face-detector layout is
            ``channels=("h", "w", "y", "x", "obj"), cell_point="top_left"``.
        cell_point: "center" or "top_left".
        collision: "largest" (default), "first" or "last": the box a shared cell keeps.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> enc = sl.GridEncoder(grid_size=7, num_classes=1)
        >>> grid = enc.encode(np.array([[10, 20, 60, 90]]), np.array([0]), (224, 224))
        >>> grid.shape, enc.decode(grid, (224, 224))[0].round(3).tolist()
        ((7, 7, 5), [[10.0, 20.0, 60.0, 90.0]])
    """

    def __init__(
        self,
        grid_size: int | tuple[int, int] = 7,
        num_classes: int = 1,
        channels: Sequence[str] = BOX_CHANNELS,
        cell_point: str = "center",
        collision: str = "largest",
    ):
        if sorted(channels) != sorted(BOX_CHANNELS):
            raise ValueError(f"channels must order exactly {BOX_CHANNELS}, got {tuple(channels)}")
        if cell_point not in CELL_POINTS:
            raise ValueError(f"cell_point must be one of {CELL_POINTS}, got {cell_point!r}")
        if collision not in COLLISIONS:
            raise ValueError(f"collision must be one of {COLLISIONS}, got {collision!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.grid_size = _grid_hw(grid_size)
        if min(self.grid_size) < 1:
            raise ValueError(f"grid_size must be positive, got {grid_size}")
        self.num_classes = int(num_classes)
        self.channels = tuple(channels)
        self.cell_point = cell_point
        self.collision = collision
        self.output_shape = (*self.grid_size, 5 + (self.num_classes if self.num_classes > 1 else 0))
        self.dtype = np.float32

    def _options(self) -> dict:
        return dict(grid_size=self.grid_size, num_classes=self.num_classes, channels=self.channels,
                    cell_point=self.cell_point, collision=self.collision)

    def encode(self, boxes: np.ndarray, labels: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Encode (N, 4) XYXY pixel boxes of an image of size (H, W) to one grid."""
        grid, _ = encode_grid([boxes], [labels], image_size, **self._options())
        return grid[0]

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> np.ndarray:
        return self.encode(sample.boxes, sample.labels, image_size)

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> np.ndarray:
        grids, dropped = encode_grid([s.boxes for s in samples], [s.labels for s in samples], image_size,
                                     **self._options())
        if stats is not None:
            stats["boxes_not_encoded"] = stats.get("boxes_not_encoded", 0) + dropped
        return grids

    def count_dropped(self, boxes: np.ndarray, labels: np.ndarray, image_size: tuple[int, int]) -> int:
        """How many of these boxes a grid cannot hold (shared cells, zero size)."""
        return encode_grid([boxes], [labels], image_size, **self._options())[1]

    def decode(self, grid: np.ndarray, image_size: tuple[int, int] | None = None, *,
               threshold: float = 0.5) -> Decoded:
        """One image's grid → boxes (M, 4) float32 XYXY pixels, their objectness as scores, and labels.

        Unpacks as ``(boxes, scores, labels)``.
        """
        boxes, scores, labels = decode_grid(grid, check_image_size(image_size, self), threshold, self.channels,
                                            self.cell_point)
        return Decoded(boxes=boxes, labels=labels, scores=scores, legacy=(boxes, scores, labels))

    def preview_layers(self, grid: np.ndarray, image_size: tuple[int, int], threshold: float = 0.5) -> dict:
        """What ``seqloaders preview`` draws besides the decoded boxes: the grid and its occupied cells."""
        h, w = image_size
        rows, cols = self.grid_size
        obj = np.asarray(grid)[..., self.channels.index("obj")]
        cells = [(c * w / cols, r * h / rows, (c + 1) * w / cols, (r + 1) * h / rows)
                 for r, c in np.argwhere(obj >= threshold)]
        return {"cells": cells, "grid": (rows, cols)}

    def __repr__(self) -> str:
        return (f"GridEncoder(grid_size={self.grid_size}, num_classes={self.num_classes}, channels={self.channels}, "
                f"cell_point={self.cell_point!r}, collision={self.collision!r}) -> {self.output_shape}")

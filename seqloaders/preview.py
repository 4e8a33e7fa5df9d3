"""Pictures of what the model sees: images with their *encoded* targets decoded back and drawn."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["draw_samples", "save_preview"]

_BOX = (40, 220, 40)
_CELL = (255, 210, 0)


def draw_samples(
    images: np.ndarray,
    boxes: Sequence[np.ndarray],
    grid_size: tuple[int, int] | None = None,
    cells: Sequence[np.ndarray] | None = None,
    columns: int = 4,
) -> np.ndarray:
    """Draw boxes (and optionally grid lines and occupied cells) on images and tile them.

    Args:
        images: (B, H, W, 3) uint8 RGB.
        boxes: B arrays of (N, 4) XYXY pixel boxes.
        grid_size: (rows, cols) to draw the grid lines of a grid encoder.
        cells: B arrays of (M, 2) (row, col) cells that hold an object, to shade.
        columns: tiles per row.

    Returns:
        One (rows*H, columns*W, 3) uint8 RGB mosaic.
    """
    b, h, w = images.shape[:3]
    columns = max(1, min(columns, b))
    rows = math.ceil(b / columns)
    mosaic = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i in range(b):
        tile = images[i].copy()
        if grid_size is not None:
            gr, gc = grid_size
            if cells is not None:
                overlay = tile.copy()
                for r, c in np.asarray(cells[i]).reshape(-1, 2):
                    y0, y1 = int(r * h / gr), int((r + 1) * h / gr)
                    x0, x1 = int(c * w / gc), int((c + 1) * w / gc)
                    overlay[y0:y1, x0:x1] = _CELL
                tile = cv2.addWeighted(overlay, 0.45, tile, 0.55, 0)
            for k in range(1, gr):
                tile[int(k * h / gr), :] = (200, 200, 200)
            for k in range(1, gc):
                tile[:, int(k * w / gc)] = (200, 200, 200)
        for x0, y0, x1, y1 in np.asarray(boxes[i]).reshape(-1, 4):
            cv2.rectangle(tile, (int(round(x0)), int(round(y0))), (int(round(x1)) - 1, int(round(y1)) - 1), _BOX, 2)
        r, c = divmod(i, columns)
        mosaic[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    return mosaic


def save_preview(sequence, path: str | os.PathLike, batch_index: int = 0, max_images: int = 8,
                 threshold: float = 0.5) -> str:
    """Render a batch of ``sequence`` as the model sees it, targets decoded from the encoder, to a PNG.

    Works with any encoder that has ``decode(array, image_size, threshold)``; grid encoders also
    get their grid and occupied cells drawn.
    """
    images, samples = sequence.load_batch(batch_index)
    images, samples = images[:max_images], samples[:max_images]
    encoder = sequence.encoder
    if isinstance(encoder, dict):
        encoder = next(iter(encoder.values()))
    targets = encoder.encode_batch(samples, sequence.image_size)
    decoded, cells = [], []
    for t in targets:
        boxes, _, _ = encoder.decode(t, sequence.image_size, threshold=threshold)
        decoded.append(boxes)
        if hasattr(encoder, "grid_size"):
            obj = t[..., list(encoder.channels).index("obj")]
            cells.append(np.argwhere(obj >= threshold))
    grid = getattr(encoder, "grid_size", None)
    mosaic = draw_samples(images, decoded, grid_size=grid, cells=cells if grid else None)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(mosaic, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path

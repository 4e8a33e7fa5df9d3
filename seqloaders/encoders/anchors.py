"""Multi-scale anchor grids, YOLO v2/v3 style: one (rows, cols, A, 5 + C) grid per output stride.

Each box goes to the one anchor (over all scales) whose width and height match it best (IoU of
the two sizes placed at the same centre), in the cell of that anchor's scale that contains the
box centre. The grids are the targets of a YOLO v3 head with one output per stride.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import EncodingError
from ..records import Sample
from .base import Decoded, TargetEncoder, check_image_size
from .boxbatch import COLLISIONS, collision_order, flatten_boxes

__all__ = ["YOLOV3_ANCHORS", "YOLOV3_STRIDES", "AnchorGridEncoder", "decode_anchor_grids", "encode_anchor_grids"]

#: The nine COCO anchors of YOLO v3 (width, height in pixels of a 416×416 input), small to large,
#: three per scale, for the strides :data:`YOLOV3_STRIDES`.
YOLOV3_ANCHORS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((10, 13), (16, 30), (33, 23)),
    ((30, 61), (62, 45), (59, 119)),
    ((116, 90), (156, 198), (373, 326)),
)
#: The output strides of YOLO v3's three heads, matching :data:`YOLOV3_ANCHORS`.
YOLOV3_STRIDES: tuple[int, ...] = (8, 16, 32)

BOX_CHANNELS = ("x", "y", "w", "h", "obj")
CODINGS = ("image", "cell")


def _check_anchors(anchors: Sequence, strides: Sequence[int]) -> tuple[list[np.ndarray], tuple[int, ...]]:
    if len(anchors) != len(strides):
        raise ValueError(f"got {len(anchors)} anchor sets but {len(strides)} strides; give one set per stride")
    if len(strides) == 0:
        raise ValueError("at least one scale (a stride and its anchors) is needed")
    sets = []
    for i, a in enumerate(anchors):
        arr = np.asarray(a, np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
            raise ValueError(f"anchors of scale {i} must be a non-empty list of (width, height), got shape {arr.shape}")
        if not (np.isfinite(arr).all() and (arr > 0).all()):
            raise ValueError(f"anchors of scale {i} must be positive widths and heights, got {arr.tolist()}")
        sets.append(arr)
    steps = tuple(int(s) for s in strides)
    if any(s < 1 or s != t for s, t in zip(steps, strides)):
        raise ValueError(f"strides must be positive integers, got {tuple(strides)}")
    return sets, steps


def grid_shapes(image_size: tuple[int, int], strides: Sequence[int]) -> list[tuple[int, int]]:
    """(rows, cols) of each scale: ``ceil(H / stride)``, ``ceil(W / stride)`` (a 'same'-padded backbone)."""
    h, w = image_size
    return [(math.ceil(h / s), math.ceil(w / s)) for s in strides]


def encode_anchor_grids(
    boxes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    image_size: tuple[int, int],
    anchors: Sequence[Sequence[tuple[float, float]]],
    strides: Sequence[int],
    num_classes: int = 1,
    coding: str = "image",
    channels: Sequence[str] = BOX_CHANNELS,
    collision: str = "largest",
) -> tuple[list[np.ndarray], int]:
    """Encode a batch of box sets into one anchor grid per scale (vectorised over the batch).

    Args:
        boxes: B arrays of (N_i, 4) float, XYXY pixels of an image of size ``image_size``.
        labels: B arrays of (N_i,) int class ids in ``[0, num_classes)``.
        image_size: (H, W) of the image the boxes live in (the model input).
        anchors: one list per scale of (width, height) anchors in pixels of that image.
        strides: the output stride of each scale; scale s has ``ceil(H / s)`` rows and
            ``ceil(W / s)`` columns.
        num_classes: one-hot class channels are added after the box channels when > 1.
        coding: "image": x, y (box centre) and w, h relative to the image, in [0, 1] (the
            keras-yolo3 targets); "cell": x, y the centre's offset inside its cell in [0, 1) and
            w, h = log(box size / anchor size) (the t-targets of the YOLO v2/v3 papers).
        channels: order of the five box channels "x", "y", "w", "h", "obj".
        collision: which box an anchor slot keeps when several boxes pick the same cell and
            anchor: "largest" (area), "first" or "last" (in the sample's order).

    Returns:
        One (B, rows_s, cols_s, A_s, 5 + C) float32 array per scale, and the number of boxes not
        encoded (slot collisions plus boxes of zero size after clipping to the image).
    """
    sets, steps = _check_anchors(anchors, strides)
    h, w = image_size
    c = num_classes if num_classes > 1 else 0
    depth = 5 + c
    order = np.array([channels.index(name) for name in BOX_CHANNELS])  # where x, y, w, h, obj go
    shapes = grid_shapes(image_size, steps)
    batch = len(boxes)
    outs = [np.zeros((batch, rows, cols, len(a), depth), np.float32) for (rows, cols), a in zip(shapes, sets)]
    flat_boxes = flatten_boxes(boxes, labels, image_size, num_classes)
    total = flat_boxes.total
    if total == 0:
        return outs, 0
    b, lab, owner = flat_boxes.boxes, flat_boxes.labels, flat_boxes.owner
    bw, bh = flat_boxes.widths, flat_boxes.heights
    idx = np.flatnonzero(flat_boxes.valid)
    if len(idx) == 0:
        return outs, total
    # the best anchor over all scales, by the IoU of the sizes (first anchor on ties)
    all_anchors = np.concatenate(sets)
    scale_of = np.repeat(np.arange(len(sets)), [len(a) for a in sets])
    anchor_of = np.concatenate([np.arange(len(a)) for a in sets])
    vw, vh = bw[idx, None], bh[idx, None]
    inter = np.minimum(vw, all_anchors[None, :, 0]) * np.minimum(vh, all_anchors[None, :, 1])
    iou = inter / (vw * vh + all_anchors[None, :, 0] * all_anchors[None, :, 1] - inter)
    best = np.argmax(iou, axis=1)
    scale = scale_of[best]
    anchor = anchor_of[best]
    stride = np.asarray(steps, np.float64)[scale]
    rows = np.array([s[0] for s in shapes])[scale]
    cols = np.array([s[1] for s in shapes])[scale]
    num_a = np.array([len(a) for a in sets])[scale]
    cx, cy = (b[idx, 0] + b[idx, 2]) / 2, (b[idx, 1] + b[idx, 3]) / 2
    gx, gy = cx / stride, cy / stride
    col = np.minimum(np.floor(gx), cols - 1).astype(np.int64)  # a centre on the right border: last cell
    row = np.minimum(np.floor(gy), rows - 1).astype(np.int64)
    # one key per (scale, image, row, col, anchor) slot, unique across scales
    sizes = np.array([batch * r * cc * len(a) for (r, cc), a in zip(shapes, sets)])
    offset = (np.cumsum(sizes) - sizes)[scale]
    pos = ((owner[idx] * rows + row) * cols + col) * num_a + anchor  # position inside its scale
    key = offset + pos
    prio = collision_order(flat_boxes, idx, collision)
    _, first = np.unique(key[prio], return_index=True)
    keep = prio[first]  # indices into idx
    dropped = total - len(keep)
    k = keep
    if coding == "image":
        values = np.stack([cx[k] / w, cy[k] / h, bw[idx][k] / w, bh[idx][k] / h, np.ones(len(k))], axis=1)
    else:
        aw, ah = all_anchors[best[k], 0], all_anchors[best[k], 1]
        values = np.stack([gx[k] - col[k], gy[k] - row[k], np.log(bw[idx][k] / aw), np.log(bh[idx][k] / ah),
                           np.ones(len(k))], axis=1)
    for s, out in enumerate(outs):
        here = scale[k] == s
        if not here.any():
            continue
        flat = out.reshape(-1, depth)
        target = pos[k][here]
        flat[target[:, None], order[None, :]] = values[here]
        if c:
            flat[target, 5 + lab[idx][k][here]] = 1.0
    return outs, dropped


def decode_anchor_grids(
    grids: Sequence[np.ndarray],
    image_size: tuple[int, int],
    anchors: Sequence[Sequence[tuple[float, float]]],
    strides: Sequence[int],
    threshold: float = 0.5,
    coding: str = "image",
    channels: Sequence[str] = BOX_CHANNELS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image's grids (one (rows_s, cols_s, A_s, 5 + C) array per scale) back to boxes.

    Args:
        grids: one (rows_s, cols_s, A_s, 5 + C) float array per scale, as encoded with the
            same ``anchors``, ``strides``, ``coding`` and ``channels``.
        image_size: (H, W) of the model input.
        anchors, strides, coding, channels: as in :func:`encode_anchor_grids`.
        threshold: the least objectness of a decoded slot.

    Returns:
        ``boxes`` (K, 4) float32 XYXY pixels of an image of size ``image_size``, ``scores`` (K,)
        float32 (the objectness) and ``labels`` (K,) int64, scale by scale in row-major
        (row, col, anchor) order.
    """
    sets, steps = _check_anchors(anchors, strides)
    if len(grids) != len(sets):
        raise ValueError(f"got {len(grids)} grids for {len(sets)} scales")
    h, w = image_size
    ch = {name: channels.index(name) for name in BOX_CHANNELS}
    all_boxes, all_scores, all_labels = [], [], []
    for grid, a, stride in zip(grids, sets, steps):
        grid = np.asarray(grid, np.float32)
        if grid.ndim != 4 or grid.shape[2] != len(a):
            raise ValueError(f"a grid of a scale with {len(a)} anchors must be (rows, cols, {len(a)}, depth), "
                             f"got {grid.shape}")
        r, cc, an = np.nonzero(grid[..., ch["obj"]] >= threshold)
        cells = grid[r, cc, an].astype(np.float64)
        if coding == "image":
            cx, cy = cells[:, ch["x"]] * w, cells[:, ch["y"]] * h
            bw, bh = cells[:, ch["w"]] * w, cells[:, ch["h"]] * h
        else:
            cx, cy = (cc + cells[:, ch["x"]]) * stride, (r + cells[:, ch["y"]]) * stride
            bw, bh = a[an, 0] * np.exp(cells[:, ch["w"]]), a[an, 1] * np.exp(cells[:, ch["h"]])
        all_boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).reshape(-1, 4))
        all_scores.append(cells[:, ch["obj"]])
        if grid.shape[-1] > 5:
            all_labels.append(np.argmax(cells[:, 5:], axis=1))
        else:
            all_labels.append(np.zeros(len(r), np.int64))
    return (np.concatenate(all_boxes).astype(np.float32), np.concatenate(all_scores).astype(np.float32),
            np.concatenate(all_labels).astype(np.int64))


class AnchorGridEncoder(TargetEncoder):
    """Multi-scale anchor grids (YOLO v2/v3): per scale a (rows, cols, A, 5 + C) float32 grid.

    A box goes to the single anchor, over all scales, with the best IoU of width and height,
    and to the cell of that scale containing its centre (a centre on the right or bottom border
    goes to the last cell). Default layout per anchor slot: x, y, w, h, objectness, then C
    one-hot class channels when ``num_classes > 1`` (as :class:`~seqloaders.GridEncoder`, one
    class adds no channel). An image without boxes encodes to all zeros. When several boxes pick
    the same slot, ``collision`` chooses the one kept; the others, and boxes without area, are
    counted in ``stats["boxes_not_encoded"]``.

    The output is a tuple of per-scale arrays, in the order of ``strides`` (for a model with one
    output per scale), or a dict when ``names`` are given (for a model whose outputs are named).

    Args:
        anchors_per_scale: one list of (width, height) anchors per scale, in pixels of the
            model input (e.g. :data:`YOLOV3_ANCHORS` for a 416×416 input).
        strides: the output stride of each scale (e.g. :data:`YOLOV3_STRIDES`).
        num_classes: number of classes; 1 adds no class channel.
        image_size: (H, W) of the model input; the Sequence's ``image_size`` must match.
        coding: "image" (x, y, w, h relative to the image; keras-yolo3) or "cell" (x, y offset in
            the cell, w, h as log of the size over the anchor size; the YOLO v2/v3 t-targets).
        channels: order of "x", "y", "w", "h", "obj".
        collision: "largest" (default), "first" or "last".
        names: one name per scale to return a dict instead of a tuple.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> from seqloaders.encoders import AnchorGridEncoder
        >>> enc = AnchorGridEncoder([[(16, 16)], [(64, 64)]], strides=[8, 16], num_classes=1,
        ...                         image_size=(64, 64))
        >>> sample = sl.Sample("a.jpg", boxes=[[4, 4, 20, 20], [0, 0, 60, 64]], labels=[0, 0])
        >>> grids = enc.encode_sample(sample, (64, 64))
        >>> [g.shape for g in grids]
        [(8, 8, 1, 5), (4, 4, 1, 5)]
        >>> enc.decode(grids)[0].tolist()
        [[4.0, 4.0, 20.0, 20.0], [0.0, 0.0, 60.0, 64.0]]
    """

    def __init__(
        self,
        anchors_per_scale: Sequence[Sequence[tuple[float, float]]] = YOLOV3_ANCHORS,
        strides: Sequence[int] = YOLOV3_STRIDES,
        num_classes: int = 1,
        image_size: tuple[int, int] = (416, 416),
        *,
        coding: str = "image",
        channels: Sequence[str] = BOX_CHANNELS,
        collision: str = "largest",
        names: Sequence[str] | None = None,
    ):
        sets, steps = _check_anchors(anchors_per_scale, strides)
        if sorted(channels) != sorted(BOX_CHANNELS):
            raise ValueError(f"channels must order exactly {BOX_CHANNELS}, got {tuple(channels)}")
        if coding not in CODINGS:
            raise ValueError(f"coding must be one of {CODINGS}, got {coding!r}")
        if collision not in COLLISIONS:
            raise ValueError(f"collision must be one of {COLLISIONS}, got {collision!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        h, w = (int(v) for v in image_size)
        if h <= 0 or w <= 0:
            raise ValueError(f"image_size must be positive (H, W), got {tuple(image_size)}")
        if names is not None:
            names = tuple(str(n) for n in names)
            if len(names) != len(steps) or len(set(names)) != len(names):
                raise ValueError(f"names must be {len(steps)} distinct names (one per scale), got {names}")
        self.anchors_per_scale = tuple(tuple((float(aw), float(ah)) for aw, ah in a) for a in sets)
        self.strides = steps
        self.num_classes = int(num_classes)
        self.image_size = (h, w)
        self.coding = coding
        self.channels = tuple(channels)
        self.collision = collision
        self.names = names
        depth = 5 + (self.num_classes if self.num_classes > 1 else 0)
        grids = grid_shapes(self.image_size, steps)
        shapes = tuple((rows, cols, len(a), depth) for (rows, cols), a in zip(grids, sets))
        self.output_shape = dict(zip(names, shapes)) if names else shapes
        self.dtype = np.float32

    def _encode(self, samples: Sequence[Sample], image_size: tuple[int, int]) -> tuple[list[np.ndarray], int]:
        if tuple(image_size) != self.image_size:
            raise EncodingError(f"AnchorGridEncoder was built for image_size={self.image_size} but is asked to encode "
                                f"samples of size {tuple(image_size)}; build it with image_size={tuple(image_size)}")
        return encode_anchor_grids([s.boxes for s in samples], [s.labels for s in samples], image_size,
                                   self.anchors_per_scale, self.strides, self.num_classes, self.coding,
                                   self.channels, self.collision)

    def _pack(self, grids: Sequence[np.ndarray]):
        return dict(zip(self.names, grids)) if self.names else tuple(grids)

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]):
        """Encode one sample: a tuple (or dict) of (rows_s, cols_s, A_s, 5 + C) float32 grids."""
        grids, _ = self._encode([sample], image_size)
        return self._pack([g[0] for g in grids])

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None):
        """Encode a batch: a tuple (or dict) of (B, rows_s, cols_s, A_s, 5 + C) float32 grids."""
        grids, dropped = self._encode(samples, image_size)
        if stats is not None:
            stats["boxes_not_encoded"] = stats.get("boxes_not_encoded", 0) + dropped
        return self._pack(grids)

    def count_dropped(self, boxes: np.ndarray, labels: np.ndarray) -> int:
        """How many of these (N, 4) XYXY pixel boxes the grids cannot hold (shared slots, zero size)."""
        return encode_anchor_grids([boxes], [labels], self.image_size, self.anchors_per_scale, self.strides,
                                   self.num_classes, self.coding, self.channels, self.collision)[1]

    def decode(self, grids, image_size: tuple[int, int] | None = None, *, threshold: float = 0.5) -> Decoded:
        """One image's grids (tuple, list or dict, as encoded) → boxes, scores and labels.

        ``boxes`` (K, 4) float32 XYXY pixels of the model input, ``scores`` (K,) float32,
        ``labels`` (K,) int64; unpacks as ``(boxes, scores, labels)``. ``image_size`` is the
        encoder's own (None, or the same).
        """
        if image_size is not None and tuple(check_image_size(image_size, self)) != tuple(self.image_size):
            raise ValueError(f"this encoder's grids are for {tuple(self.image_size)}, not {tuple(image_size)}")
        boxes, scores, labels = decode_anchor_grids(self._grids_of(grids), self.image_size, self.anchors_per_scale,
                                                    self.strides, threshold, self.coding, self.channels)
        return Decoded(boxes=boxes, labels=labels, scores=scores, legacy=(boxes, scores, labels))

    def _grids_of(self, grids) -> list:
        if isinstance(grids, dict):
            if self.names is None:
                raise ValueError("this encoder has no names; pass the grids as a tuple in the order of strides")
            return [grids[n] for n in self.names]
        return list(grids)

    def preview_layers(self, grids, image_size: tuple[int, int], threshold: float = 0.5) -> dict:
        """What ``seqloaders preview`` draws besides the decoded boxes: the cells with an object, per stride."""
        h, w = image_size
        obj = self.channels.index("obj")
        cells = []
        for grid, stride in zip(self._grids_of(grids), self.strides):
            occupied = (np.asarray(grid)[..., obj] >= threshold).any(axis=-1)
            cells += [(c * stride, r * stride, min((c + 1) * stride, w), min((r + 1) * stride, h))
                      for r, c in np.argwhere(occupied)]
        return {"cells": cells}

    def __repr__(self) -> str:
        anchors = [[(int(aw) if aw.is_integer() else aw, int(ah) if ah.is_integer() else ah) for aw, ah in a]
                   for a in self.anchors_per_scale]
        names = f", names={self.names}" if self.names else ""
        return (f"AnchorGridEncoder(anchors_per_scale={anchors}, strides={self.strides}, "
                f"num_classes={self.num_classes}, image_size={self.image_size}, coding={self.coding!r}, "
                f"collision={self.collision!r}{names}) -> {self.output_shape}")

"""Pictures of what the model sees: input pixels with their *encoded* targets decoded back and drawn.

:func:`preview_sequence` takes a batch ``x, y`` exactly as ``model.fit`` receives it, turns ``x``
back into uint8 pixels, decodes ``y`` with the Sequence's own encoders and draws the result:
boxes with class names, the grid cells that hold an object (grid and anchor encoders), masks as
coloured semi-transparent overlays (semantic class maps and instance masks), heatmaps, and
keypoints joined by their skeleton, one tile per image, tiles in a grid, saved as PNG. When the
targets and the pixels disagree (a wrong box format, swapped axes, a grid offset, a mask from
another image) it shows at a glance.

Colours: class k is drawn in ``PALETTE[k % len(PALETTE)]`` (or ``colors[k]`` when given, e.g.
a :class:`~seqloaders.ClassMap`'s), occupied grid cells in :data:`CELL_COLOR`, keypoints in
:data:`KEYPOINT_COLOR` joined by lines of :data:`SKELETON_COLOR`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from .encoders.base import Decoded, target_of

__all__ = [
    "CELL_COLOR",
    "COCO_PERSON_SKELETON",
    "KEYPOINT_COLOR",
    "PALETTE",
    "SKELETONS",
    "SKELETON_COLOR",
    "draw_samples",
    "input_pixels",
    "preview_sequence",
    "render_batch",
    "save_preview",
]

#: Class colours (RGB): class k is drawn in ``PALETTE[k % len(PALETTE)]``.
PALETTE = np.array([
    (40, 220, 40), (230, 50, 50), (50, 120, 255), (255, 160, 0), (180, 60, 230), (0, 210, 210),
    (255, 90, 180), (150, 220, 0), (140, 90, 40), (0, 130, 110), (120, 120, 255), (255, 230, 60),
], np.uint8)
#: Fill of the grid cells that hold an object (RGB), blended with :data:`CELL_ALPHA`.
CELL_COLOR = (255, 210, 0)
#: Keypoints (RGB): filled for visible (v = 2), a ring for labelled but hidden (v = 1).
KEYPOINT_COLOR = (255, 0, 255)
#: Skeleton lines (RGB).
SKELETON_COLOR = (0, 255, 255)
#: Heatmap overlay (RGB), its opacity proportional to the heatmap value.
HEATMAP_COLOR = (255, 60, 200)
#: Opacity of mask overlays, of occupied-cell shading and of a heatmap at value 1.
MASK_ALPHA = 0.5
CELL_ALPHA = 0.35
HEATMAP_ALPHA = 0.6
_GRID_LINE = (200, 200, 200)
_IGNORE_COLOR = (255, 255, 255)

#: The 19 limbs of a COCO person (0-based keypoint indices, :data:`~seqloaders.COCO_PERSON_KEYPOINTS` order).
COCO_PERSON_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
    (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
#: Named skeletons for the ``skeleton`` argument.
SKELETONS: dict[str, tuple[tuple[int, int], ...]] = {"coco_person": COCO_PERSON_SKELETON,
                                                      "coco": COCO_PERSON_SKELETON, "none": ()}


# ----------------------------------------------------------------------------------- decoding
@dataclasses.dataclass
class _Targets:
    """What one image's targets decode to, in pixels of the model input."""

    boxes: list[tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=list)  # (N, 4), (N,)
    cells: list[tuple[float, float, float, float]] = dataclasses.field(default_factory=list)  # XYXY
    grids: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    label_maps: list[tuple[np.ndarray, int, int, int]] = dataclasses.field(default_factory=list)
    masks: list[tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=list)  # (N, H, W), (N,)
    heatmaps: list[np.ndarray] = dataclasses.field(default_factory=list)  # (Hh, Wh) max over keypoints
    keypoints: list[tuple[np.ndarray, bool]] = dataclasses.field(default_factory=list)  # (N, K, 3), skeleton?
    texts: list[str] = dataclasses.field(default_factory=list)


def _decode_target(out: _Targets, encoder: Any, target: Any, image_size: tuple[int, int], threshold: float,
                   class_names: Sequence[str]) -> None:
    """Decode one image's target through the encoder's ``decode`` (the TargetEncoder protocol) into ``out``.

    Any encoder draws, a user's own too: boxes, masks, keypoints, a class map or an image label,
    whichever its :class:`~seqloaders.encoders.Decoded` holds. An encoder may also offer
    ``preview_layers(target, image_size, threshold) -> dict`` for what only it knows how to show
    ("cells" it assigned, its "grid", a "heatmap", "keypoints" as (array, skeleton?)).
    """
    try:
        decoded = encoder.decode(target, image_size, threshold=threshold)
    except NotImplementedError:
        out.texts.append(f"{type(encoder).__name__}: not drawn (it has no decode)")
        return
    if not isinstance(decoded, Decoded):
        out.texts.append(f"{type(encoder).__name__}: not drawn (decode returned {type(decoded).__name__}, "
                         "not seqloaders.encoders.Decoded)")
        return
    layers = {}
    if hasattr(encoder, "preview_layers"):
        layers = encoder.preview_layers(target, image_size, threshold)
    if decoded.masks is not None:
        out.masks.append((decoded.masks, decoded.labels))
    drawn = decoded.masks is not None or decoded.keypoints is not None or decoded.class_map is not None \
        or decoded.label is not None
    if len(decoded.boxes) or not drawn:
        out.boxes.append((decoded.boxes, decoded.labels))
    out.cells.extend(layers.get("cells", ()))
    if "grid" in layers:
        out.grids.append(layers["grid"])
    if decoded.class_map is not None:
        out.label_maps.append((decoded.class_map, getattr(encoder, "background", 0),
                               getattr(encoder, "ignore_index", None), getattr(encoder, "label_offset", 0)))
    if "heatmap" in layers:
        out.heatmaps.append(layers["heatmap"])
    if "keypoints" in layers:
        out.keypoints.append(layers["keypoints"])
    elif decoded.keypoints is not None:
        out.keypoints.append((decoded.keypoints, True))
    if decoded.label is not None:
        label = decoded.label
        out.texts.append(class_names[label] if 0 <= label < len(class_names) else f"class {label}")


# ------------------------------------------------------------------------------------ drawing
def _resolve_skeleton(skeleton: Any, num_keypoints: int) -> tuple[tuple[int, int], ...]:
    if skeleton is None:
        return COCO_PERSON_SKELETON if num_keypoints == 17 else ()
    if isinstance(skeleton, str):
        try:
            pairs = SKELETONS[skeleton.lower()]
        except KeyError:
            raise ValueError(f"unknown skeleton {skeleton!r}; available: {', '.join(SKELETONS)}, or a list of "
                             "(i, j) keypoint index pairs") from None
    else:
        pairs = tuple((int(i), int(j)) for i, j in skeleton)
    bad = [(i, j) for i, j in pairs if not (0 <= i < num_keypoints and 0 <= j < num_keypoints)]
    if bad:
        raise ValueError(f"skeleton pairs {bad} name keypoints outside 0..{num_keypoints - 1}")
    return tuple(pairs)


def _blend(tile: np.ndarray, where: np.ndarray, color: Any, alpha: float | np.ndarray) -> None:
    """``tile[where] = (1 - alpha) * tile + alpha * color`` in place."""
    if not where.any():
        return
    color = np.asarray(color, np.float32)
    a = alpha[where][:, None] if isinstance(alpha, np.ndarray) else np.float32(alpha)
    tile[where] = np.rint(tile[where].astype(np.float32) * (1 - a) + color * a).astype(np.uint8)


def _put_text(tile: np.ndarray, text: str, origin: tuple[int, int], color: Any) -> None:
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    cv2.putText(tile, text, origin, font, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, origin, font, scale, tuple(int(c) for c in color), 1, cv2.LINE_AA)


def _draw_tile(image: np.ndarray, targets: _Targets, colors: np.ndarray, class_names: Sequence[str],
               skeleton: Any, zoom: int) -> np.ndarray:
    h, w = image.shape[:2]
    tile = image if zoom == 1 else cv2.resize(image, (w * zoom, h * zoom), interpolation=cv2.INTER_NEAREST)
    tile = np.ascontiguousarray(tile.copy())
    th, tw = tile.shape[:2]

    def color_of(label: int) -> tuple[int, ...]:
        return tuple(int(c) for c in colors[int(label) % len(colors)])

    def up(mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.shape != (h, w):
            mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        if zoom > 1:
            mask = cv2.resize(mask.astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST)
        return mask

    for label_map, background, ignore, offset in targets.label_maps:
        label_map = up(label_map.astype(np.int32))
        for value in np.unique(label_map):
            if value == background:
                continue
            color = _IGNORE_COLOR if value == ignore else color_of(value - offset)
            _blend(tile, label_map == value, color, MASK_ALPHA)
    for masks, labels in targets.masks:
        for mask, label in zip(masks, labels):
            mask = up(mask).astype(bool)
            _blend(tile, mask, color_of(label), MASK_ALPHA)
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(tile, contours, -1, color_of(label), 1)
    if targets.cells:
        shade = np.zeros((th, tw), bool)
        for x0, y0, x1, y1 in targets.cells:
            shade[int(round(y0 * zoom)):int(round(y1 * zoom)), int(round(x0 * zoom)):int(round(x1 * zoom))] = True
        _blend(tile, shade, CELL_COLOR, CELL_ALPHA)
    for rows, cols in targets.grids:
        for k in range(1, rows):
            tile[int(k * th / rows), :] = _GRID_LINE
        for k in range(1, cols):
            tile[:, int(k * tw / cols)] = _GRID_LINE
    for x0, y0, x1, y1 in targets.cells:  # outline the occupied cells over the grid lines
        cv2.rectangle(tile, (int(round(x0 * zoom)), int(round(y0 * zoom))),
                      (int(round(x1 * zoom)) - 1, int(round(y1 * zoom)) - 1), CELL_COLOR, 1)
    for heat in targets.heatmaps:
        value = cv2.resize(np.clip(heat, 0, 1).astype(np.float32), (tw, th), interpolation=cv2.INTER_LINEAR)
        _blend(tile, value > 0.01, HEATMAP_COLOR, HEATMAP_ALPHA * value)
    thickness = 2
    for boxes, labels in targets.boxes:
        for (x0, y0, x1, y1), label in zip(np.asarray(boxes, np.float64).reshape(-1, 4), labels):
            p0 = (int(round(x0 * zoom)), int(round(y0 * zoom)))
            p1 = (int(round(x1 * zoom)) - 1, int(round(y1 * zoom)) - 1)
            cv2.rectangle(tile, p0, p1, color_of(label), thickness)
            name = class_names[label] if 0 <= label < len(class_names) else str(int(label))
            ty = p0[1] - 4 if p0[1] >= 14 else p0[1] + 13
            _put_text(tile, name, (max(0, p0[0]) + 1, ty), color_of(label))
    radius = max(2, zoom + 1)
    for keypoints, joined in targets.keypoints:
        keypoints = np.asarray(keypoints, np.float64)
        if keypoints.size == 0:
            continue
        pairs = _resolve_skeleton(skeleton, keypoints.shape[1]) if joined else ()
        for obj in keypoints:
            pts = [(int(round(x * zoom)), int(round(y * zoom))) for x, y, _ in obj]
            for i, j in pairs:
                if obj[i, 2] > 0 and obj[j, 2] > 0:
                    cv2.line(tile, pts[i], pts[j], SKELETON_COLOR, 1)
            for (x, y), v in zip(pts, obj[:, 2]):
                if v > 0:
                    cv2.circle(tile, (x, y), radius, KEYPOINT_COLOR, -1 if v >= 2 else 1)
    for k, text in enumerate(targets.texts):
        _put_text(tile, text, (3, 13 + 14 * k), (255, 255, 255))
    return tile


def _mosaic(tiles: Sequence[np.ndarray], columns: int, gap: int = 0) -> np.ndarray:
    th, tw = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    mosaic = np.full((rows * th + (rows - 1) * gap, columns * tw + (columns - 1) * gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = r * (th + gap), c * (tw + gap)
        mosaic[y:y + th, x:x + tw] = tile
    return mosaic


# ------------------------------------------------------------------------------------ public
def input_pixels(x: np.ndarray, preprocess: Any = "auto") -> np.ndarray:
    """Model inputs back to (B, H, W, 3) uint8 pixels: undo the Sequence's ``preprocess``.

    Args:
        x: (B, H, W, 3) batch as the model receives it.
        preprocess: the Sequence's ``preprocess``: "scale" ([0, 1] floats, multiplied by 255),
            None ([0, 255] floats), "uint8" (already pixels), or "auto" (uint8 stays, floats
            whose maximum is at most 1 are scaled by 255). A callable cannot be undone: pass the
            pixels of ``sequence.load_batch`` instead (:func:`preview_sequence` does).

    Example:
        >>> input_pixels(np.full((1, 2, 2, 3), 0.5, np.float32), "scale")[0, 0, 0].tolist()
        [128, 128, 128]
    """
    x = np.asarray(x)
    if x.dtype == np.uint8 or preprocess == "uint8":
        return np.clip(x, 0, 255).astype(np.uint8)
    if callable(preprocess):
        raise ValueError("a callable preprocess cannot be undone; pass the uint8 images of sequence.load_batch()")
    if preprocess == "auto":
        preprocess = "scale" if x.size and float(np.nanmax(x)) <= 1.0 + 1e-6 else None
    if preprocess == "scale":
        x = x.astype(np.float32) * 255
    elif preprocess is not None:
        raise ValueError(f"preprocess must be 'scale', 'uint8', None or 'auto', got {preprocess!r}")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def render_batch(
    images: np.ndarray,
    y: Any,
    encoder: Any,
    *,
    image_size: tuple[int, int] | None = None,
    max_images: int = 16,
    columns: int = 4,
    threshold: float = 0.5,
    class_names: Sequence[str] | None = None,
    colors: np.ndarray | None = None,
    skeleton: str | Sequence[tuple[int, int]] | None = None,
    zoom: int = 1,
    gap: int = 0,
) -> np.ndarray:
    """Decode a batch of encoded targets and draw them on their images, tiled in a grid.

    Args:
        images: (B, H, W, 3) model inputs: uint8 pixels, or floats (see :func:`input_pixels`,
            "auto" mode).
        y: the batch of targets the encoder produced: an array, or the tuple/dict the encoder
            returns; for a dict of encoders, a dict of those by the same names.
        encoder: the :class:`~seqloaders.TargetEncoder` that made ``y``, or a dict of them.
        image_size: (H, W) the targets were encoded for (default: the images' size).
        max_images: draw at most this many images of the batch.
        columns: tiles per row.
        threshold: the least objectness (grids, anchors) or heatmap value drawn.
        class_names: names written next to the boxes (default: the class ids).
        colors: (C, 3) uint8 RGB colour per class (default: :data:`PALETTE`).
        skeleton: keypoint pairs to join: a list of (i, j), a name of :data:`SKELETONS`, or None
            (the COCO person skeleton for 17 keypoints, else no lines).
        zoom: integer upscaling of each tile (nearest neighbour) before drawing, for small inputs.
        gap: white pixels between tiles.

    Returns:
        (rows * H * zoom + (rows - 1) * gap, columns * W * zoom + (columns - 1) * gap, 3) uint8
        RGB mosaic; unused tiles are white.

    Example:
        >>> import seqloaders as sl
        >>> enc = sl.GridEncoder(grid_size=4)
        >>> s = sl.Sample("a.jpg", boxes=[[8, 8, 24, 24]], labels=[0])
        >>> mosaic = render_batch(np.zeros((1, 32, 32, 3), np.uint8), enc.encode_batch([s], (32, 32)), enc)
        >>> mosaic.shape
        (32, 32, 3)
    """
    images = input_pixels(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (B, H, W, 3), got shape {images.shape}")
    if int(zoom) < 1:
        raise ValueError(f"zoom must be a positive integer, got {zoom}")
    if int(gap) < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    n = min(len(images), int(max_images))
    if n < 1:
        raise ValueError("there is no image to draw (an empty batch or max_images < 1)")
    size = tuple(image_size) if image_size is not None else images.shape[1:3]
    names = tuple(class_names or ())
    palette = PALETTE if colors is None else np.asarray(colors, np.uint8).reshape(-1, 3)
    encoders = encoder if isinstance(encoder, Mapping) else {None: encoder}
    if isinstance(encoder, Mapping) and not isinstance(y, Mapping):
        raise ValueError("a dict of encoders gives a dict y; got y of type " + type(y).__name__)
    tiles = []
    for i in range(n):
        targets = _Targets()
        for name, enc in encoders.items():
            target = target_of(y if name is None else y[name], i)
            _decode_target(targets, enc, target, size, threshold, names)
        tiles.append(_draw_tile(images[i], targets, palette, names, skeleton, int(zoom)))
    return _mosaic(tiles, columns, int(gap))


def preview_sequence(
    sequence: Any,
    path: str | os.PathLike,
    batch_index: int = 0,
    max_images: int = 16,
    *,
    columns: int = 4,
    threshold: float = 0.5,
    class_names: Sequence[str] | None = None,
    colors: np.ndarray | None = None,
    skeleton: str | Sequence[tuple[int, int]] | None = None,
    zoom: int = 1,
    gap: int = 0,
    encoder: Any = None,
) -> str:
    """Save a PNG of a batch as the model sees it, the encoded targets decoded back and drawn.

    The batch is ``sequence[batch_index]``, the very ``x, y`` that ``model.fit`` gets (augmented,
    resized, encoded); ``x`` is turned back into pixels (the "scale" preprocess undone; for a
    callable preprocess the pixels of ``sequence.load_batch`` are used) and ``y`` is decoded
    with the Sequence's encoders. What is drawn depends on the encoder: boxes with class names
    (grid, anchors, padded boxes, instance masks), occupied grid cells shaded and outlined (grid,
    anchors), masks as coloured overlays (semantic, instance), heatmaps and keypoints with their
    skeleton (heatmap, keypoints), the class name (classification).

    Args:
        sequence: a :class:`~seqloaders.DetectionSequence` (or any Keras ``PyDataset`` giving
            ``(x, y)`` batches, with ``encoder=`` given).
        path: the PNG to write (folders are created).
        batch_index: which batch.
        max_images: draw at most this many images of it.
        columns, threshold, colors, skeleton, zoom, gap: as in :func:`render_batch`.
        class_names: names written next to the boxes (default: ``sequence.samples.class_names``).
        encoder: the encoder(s) that made ``y`` (default: ``sequence.encoder``).

    Returns:
        The path written.

    Raises:
        OSError: the PNG cannot be written.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
        >>> seq = sl.DetectionSequence(sl.read_wider_face(toy.annotations, toy.images), batch_size=8,
        ...                            image_size=(224, 224), encoder=sl.GridEncoder(7), augment="detection")
        >>> sl.preview_sequence(seq, "/tmp/seqloaders-preview.png")
        '/tmp/seqloaders-preview.png'
    """
    x, y = sequence[batch_index]
    preprocess = getattr(sequence, "preprocess", "auto")
    if callable(preprocess) and hasattr(sequence, "load_batch"):
        images, _ = sequence.load_batch(batch_index)
    else:
        images = input_pixels(x, preprocess)
    if encoder is None:
        encoder = getattr(sequence, "encoder", None)
        if encoder is None:
            raise ValueError("the sequence has no .encoder; pass encoder= (the encoder or dict of encoders of y)")
    if class_names is None:
        class_names = getattr(getattr(sequence, "samples", None), "class_names", None)
    mosaic = render_batch(images, y, encoder, image_size=getattr(sequence, "image_size", None), max_images=max_images,
                          columns=columns, threshold=threshold, class_names=class_names, colors=colors,
                          skeleton=skeleton, zoom=zoom, gap=gap)
    return _write_png(mosaic, path)


def save_preview(sequence: Any, path: str | os.PathLike, batch_index: int = 0, max_images: int = 8,
                 threshold: float = 0.5) -> str:
    """Render a batch of ``sequence`` as the model sees it to a PNG (:func:`preview_sequence`, 4 columns).

    Example:
        >>> save_preview(seq, "demo_output/augmented_samples.png")     # doctest: +SKIP
        'demo_output/augmented_samples.png'
    """
    return preview_sequence(sequence, path, batch_index, max_images, columns=4, threshold=threshold)


def draw_samples(
    images: np.ndarray,
    boxes: Sequence[np.ndarray],
    grid_size: tuple[int, int] | None = None,
    cells: Sequence[np.ndarray] | None = None,
    columns: int = 4,
) -> np.ndarray:
    """Draw given boxes (and optionally grid lines and occupied cells) on images and tile them.

    For targets straight from an encoder use :func:`render_batch`, which decodes them first.

    Args:
        images: (B, H, W, 3) uint8 RGB.
        boxes: B arrays of (N, 4) XYXY pixel boxes.
        grid_size: (rows, cols) to draw the grid lines of a grid encoder.
        cells: B arrays of (M, 2) (row, col) cells that hold an object, to shade.
        columns: tiles per row.

    Returns:
        One (rows*H, columns*W, 3) uint8 RGB mosaic.

    Example:
        >>> draw_samples(np.zeros((2, 16, 16, 3), np.uint8), [np.array([[2, 2, 8, 8]]), np.zeros((0, 4))]).shape
        (16, 32, 3)
    """
    images = np.asarray(images)
    b, h, w = images.shape[:3]
    tiles = []
    for i in range(b):
        targets = _Targets()
        box_array = np.asarray(boxes[i], np.float32).reshape(-1, 4)
        targets.boxes.append((box_array, np.zeros(len(box_array), np.int64)))
        if grid_size is not None:
            gr, gc = grid_size
            targets.grids.append((gr, gc))
            if cells is not None:
                for r, c in np.asarray(cells[i]).reshape(-1, 2):
                    targets.cells.append((c * w / gc, r * h / gr, (c + 1) * w / gc, (r + 1) * h / gr))
        tiles.append(_draw_tile(images[i], targets, PALETTE, ("",), None, 1))
    return _mosaic(tiles, columns)


def _write_png(mosaic: np.ndarray, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    ok, data = cv2.imencode(".png", cv2.cvtColor(mosaic, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:  # pragma: no cover
        raise OSError(f"OpenCV could not encode the preview of shape {mosaic.shape} as PNG")
    with open(path, "wb") as f:
        f.write(data.tobytes())
    return path

"""Resizing an image to the model's input size, with the box transform that goes with it."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

__all__ = ["Placement", "ResizeMode", "place_label_map", "resize_image"]

ResizeMode = str  # "stretch" | "letterbox"
_MODES = ("stretch", "letterbox")


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a resized image landed: ``out = in * scale + offset`` per axis, (y, x) order."""

    scale: tuple[float, float]
    offset: tuple[float, float] = (0.0, 0.0)

    def content_size(self, size: tuple[int, int]) -> tuple[float, float]:
        return size[0] * self.scale[0], size[1] * self.scale[1]


def target_content_size(size: tuple[int, int], out_size: tuple[int, int], mode: ResizeMode) -> tuple[float, float]:
    """(H, W) that an image of ``size`` occupies in the output after resizing."""
    if mode == "stretch":
        return float(out_size[0]), float(out_size[1])
    s = min(out_size[0] / size[0], out_size[1] / size[1])
    return size[0] * s, size[1] * s


def letterbox_geometry(size: tuple[int, int], out_size: tuple[int, int], mode: ResizeMode) -> tuple[int, int, int, int]:
    """(content height, content width, top, left) of an image of ``size`` resized into ``out_size``.

    The one place that decides where a resized image lands: images, masks and class maps all
    follow it. ``"stretch"`` fills the output; ``"letterbox"`` keeps the aspect ratio, centred.
    """
    if mode not in _MODES:
        raise ValueError(f"unknown resize mode {mode!r}; available: {', '.join(_MODES)}")
    h, w = size
    oh, ow = out_size
    if mode == "stretch":
        return oh, ow, 0, 0
    s = min(oh / h, ow / w)
    nh, nw = max(1, min(oh, round(h * s))), max(1, min(ow, round(w * s)))
    return nh, nw, (oh - nh) // 2, (ow - nw) // 2


def place_label_map(
    labels: np.ndarray,
    out_size: tuple[int, int],
    source_per_output: tuple[float, float],
    offset: tuple[float, float] = (0.0, 0.0),
    fill: int = 0,
) -> np.ndarray:
    """Map a class map or a stack of masks into an output frame with nearest neighbour.

    Output pixel ``i`` (per axis) takes the input pixel under its centre,
    ``floor((i + 0.5 - offset) * source_per_output)``; pixels that fall outside the input get
    ``fill``. Class ids are never blended. This is the inverse of a :class:`Placement`
    (``source_per_output = 1 / scale``), so masks land exactly where the image did.

    Args:
        labels: (..., H, W) integer or bool array in input pixels.
        out_size: (H, W) of the output.
        source_per_output: (y, x) input pixels per output pixel.
        offset: (y, x) where the input's origin lands in the output, in output pixels.
        fill: the value of output pixels outside the input.

    Returns:
        (..., out_size[0], out_size[1]) array of ``labels``' dtype.

    Example:
        >>> import numpy as np
        >>> place_label_map(np.array([[1, 2]], np.uint8), (1, 6), (1.0, 0.5), (0, 1)).tolist()
        [[0, 1, 1, 2, 2, 0]]
    """
    h, w = labels.shape[-2:]
    ys = _source_index(out_size[0], h, source_per_output[0], offset[0])
    xs = _source_index(out_size[1], w, source_per_output[1], offset[1])
    yin, xin = (ys >= 0) & (ys < h), (xs >= 0) & (xs < w)
    if yin.all() and xin.all():
        return labels[..., ys[:, None], xs[None, :]]
    out = np.full((*labels.shape[:-2], int(out_size[0]), int(out_size[1])), fill, labels.dtype)
    y0, y1 = _span(yin)
    x0, x1 = _span(xin)
    out[..., y0:y1, x0:x1] = labels[..., ys[y0:y1, None], xs[None, x0:x1]]
    return out


def _source_index(n_out: int, n_in: int, per_output: float, offset: float) -> np.ndarray:
    return np.floor((np.arange(int(n_out)) + 0.5 - offset) * per_output).astype(np.int64)


def _span(inside: np.ndarray) -> tuple[int, int]:
    """First and one-past-last True of a monotone run (a resize maps an interval to an interval)."""
    idx = np.flatnonzero(inside)
    return (0, 0) if len(idx) == 0 else (int(idx[0]), int(idx[-1]) + 1)


def resize_image(
    image: np.ndarray,
    out_size: tuple[int, int],
    mode: ResizeMode = "stretch",
    pad_value: int = 0,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Placement]:
    """Resize (H, W, C) uint8 to ``out_size`` (H, W).

    ``"stretch"`` fills the output (the aspect ratio changes); ``"letterbox"`` keeps the aspect
    ratio and centres the image on ``pad_value``. Shrinking by more than 3x uses area averaging
    (antialiased); anything less, and enlarging, bilinear interpolation.

    Args:
        image: (H, W, C) uint8.
        out_size: (H, W) of the result.
        mode: "stretch" or "letterbox".
        pad_value: fill of the letterbox borders.
        out: optional preallocated (H, W, C) uint8 array to write into.

    Returns:
        The resized image and the :class:`Placement` that maps input pixels to output pixels.
    """
    h, w = image.shape[:2]
    oh, ow = out_size
    nh, nw, oy, ox = letterbox_geometry((h, w), out_size, mode)
    if out is None:
        out = np.empty((oh, ow, image.shape[2]), np.uint8)
    if (nh, nw) != (oh, ow):
        out[...] = pad_value
    region = out[oy:oy + nh, ox:ox + nw]
    if (nh, nw) == (h, w):
        region[...] = image
    else:
        # area averaging only for strong shrinking. After a reduced JPEG decode (the DCT scaling is
        # the antialiasing filter) what is left is a factor below 2 on one axis and rarely above 3
        # on the other; bilinear is then nearly as clean and, at non-integer factors, ~15x cheaper
        interp = cv2.INTER_AREA if nh * 3 < h or nw * 3 < w else cv2.INTER_LINEAR
        if region.flags.c_contiguous:
            cv2.resize(image, (nw, nh), dst=region, interpolation=interp)
        else:
            region[...] = cv2.resize(image, (nw, nh), interpolation=interp)
    return out, Placement((nh / h, nw / w), (float(oy), float(ox)))

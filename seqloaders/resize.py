"""Resizing an image to the model's input size, with the box transform that goes with it."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

__all__ = ["resize_image", "ResizeMode", "Placement"]

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


def resize_image(
    image: np.ndarray,
    out_size: tuple[int, int],
    mode: ResizeMode = "stretch",
    pad_value: int = 0,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Placement]:
    """Resize (H, W, C) uint8 to ``out_size`` (H, W).

    ``"stretch"`` fills the output (the aspect ratio changes); ``"letterbox"`` keeps the aspect
    ratio and centres the image on ``pad_value``. Downscaling uses area averaging (antialiased),
    upscaling bilinear interpolation.

    Args:
        image: (H, W, C) uint8.
        out_size: (H, W) of the result.
        mode: "stretch" or "letterbox".
        pad_value: fill of the letterbox borders.
        out: optional preallocated (H, W, C) uint8 array to write into.

    Returns:
        The resized image and the :class:`Placement` that maps input pixels to output pixels.
    """
    if mode not in _MODES:
        raise ValueError(f"unknown resize mode {mode!r}; available: {', '.join(_MODES)}")
    h, w = image.shape[:2]
    oh, ow = out_size
    if mode == "stretch":
        nh, nw, oy, ox = oh, ow, 0, 0
    else:
        s = min(oh / h, ow / w)
        nh, nw = max(1, min(oh, round(h * s))), max(1, min(ow, round(w * s)))
        oy, ox = (oh - nh) // 2, (ow - nw) // 2
    if out is None:
        out = np.empty((oh, ow, image.shape[2]), np.uint8)
    if (nh, nw) != (oh, ow):
        out[...] = pad_value
    region = out[oy:oy + nh, ox:ox + nw]
    if (nh, nw) == (h, w):
        region[...] = image
    else:
        # area averaging only for strong shrinking; up to 2x (what is left after a reduced JPEG
        # decode) bilinear is as sharp and about 8x cheaper
        interp = cv2.INTER_AREA if nh * 2 < h or nw * 2 < w else cv2.INTER_LINEAR
        if region.flags.c_contiguous:
            cv2.resize(image, (nw, nh), dst=region, interpolation=interp)
        else:
            region[...] = cv2.resize(image, (nw, nh), interpolation=interp)
    return out, Placement((nh / h, nw / w), (float(oy), float(ox)))

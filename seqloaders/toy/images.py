"""Writing toy images to files: RGB, RGBA, gray and 16-bit arrays as JPEG or PNG."""

from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["write_image"]


def write_image(path: str, image: np.ndarray, quality: int = 90) -> None:
    """Encode ``image`` by the extension of ``path`` and write it, creating the folder.

    Args:
        path: the file to write (``.jpg``/``.jpeg`` or ``.png``).
        image: (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) gray; uint8, or uint16 for PNG.
        quality: JPEG quality.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "a", "b.png")
        >>> write_image(path, np.zeros((4, 6, 3), np.uint8))
        >>> cv2.imread(path).shape
        (4, 6, 3)
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ext = os.path.splitext(path)[1].lower()
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:  # pragma: no cover
        raise RuntimeError(f"OpenCV could not encode {path}")
    with open(path, "wb") as f:
        f.write(data.tobytes())

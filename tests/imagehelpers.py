"""Helpers that write tiny test images."""

import os

import cv2
import numpy as np


def write_jpeg(path, image_rgb, quality=95, exif_orientation=None):
    """Write an RGB uint8 array as JPEG (with an EXIF orientation tag if asked) and return the bytes."""
    if exif_orientation is None:
        bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        _ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        data = data.tobytes()
    else:
        import io

        from PIL import Image

        img = Image.fromarray(image_rgb)
        exif = img.getexif()
        exif[0x0112] = exif_orientation
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, exif=exif)
        data = buf.getvalue()
    if path is not None:
        os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return data


def solid_box_image(size, box, color=(255, 255, 255), background=(0, 0, 0)):
    """(H, W, 3) uint8 with a filled XYXY box."""
    h, w = size
    image = np.zeros((h, w, 3), np.uint8)
    image[:] = background
    x0, y0, x1, y1 = (int(v) for v in box)
    image[y0:y1, x0:x1] = color
    return image

"""Encoded bytes → (H, W, 3) uint8 RGB. The only module that calls an image decoder.

Decoding is the most expensive step of a loader, so it happens once per image, and, for JPEG,
at the smallest DCT scale (1/2, 1/4, 1/8) that still leaves at least the pixels the output needs.
A cheap header probe gives the size and EXIF orientation before decoding, so oversized images
(decompression bombs) are refused without allocating them.

JPEGs are decoded by libjpeg-turbo through simplejpeg (:data:`JPEG_DECODER` says which decoder is
in use), every other format by OpenCV. OpenCV is also the fallback: for the JPEGs simplejpeg
refuses (a kind it does not decode, or any libjpeg warning such as corrupt data, which its strict
mode turns into an error) and wherever simplejpeg is not installed, so what is decoded, refused and
reported is what OpenCV alone gave. The two give the same pixels, CMYK and grey included: OpenCV's
wheels build libjpeg-turbo too, with the same accurate integer DCT and upsampling
(tests/test_decoders.py holds them equal on the broken-image matrix and the EXIF samples, at every
scale). On 1024-px photos simplejpeg is about 1.1x faster in full and ties at 1/2 to 1/8
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import math
import struct

import cv2
import numpy as np

from .errors import ImageError

try:
    import simplejpeg as _simplejpeg
except ImportError:  # a platform without its wheel: OpenCV decodes JPEGs too, a little slower
    _simplejpeg = None

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "JPEG_DECODER",
    "ImageInfo",
    "choose_reduction",
    "decode_image",
    "decode_mask",
    "probe_image",
]

#: The decoder :func:`decode_image` tries first for JPEG: "simplejpeg" (libjpeg-turbo) or "opencv".
JPEG_DECODER = "opencv" if _simplejpeg is None else "simplejpeg"

#: Images declaring more pixels than this are refused before decoding (override per call).
DEFAULT_MAX_PIXELS = 1 << 28  # 268 M pixels, ~800 MB as RGB

_REDUCED = {1: 0, 2: cv2.IMREAD_REDUCED_COLOR_2 & ~cv2.IMREAD_COLOR, 4: cv2.IMREAD_REDUCED_COLOR_4 & ~cv2.IMREAD_COLOR,
            8: cv2.IMREAD_REDUCED_COLOR_8 & ~cv2.IMREAD_COLOR}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the header of an encoded image says, read without decoding it.

    Attributes:
        format: "jpeg" or "png".
        height, width: stored size in pixels (before EXIF orientation).
        orientation: EXIF orientation 1-8 (1 when absent).
        scan_offset: JPEG only: byte offset of the first scan (used to detect truncation).
    """

    format: str
    height: int
    width: int
    orientation: int = 1
    scan_offset: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) as displayed, i.e. after EXIF orientation."""
        if self.orientation in (5, 6, 7, 8):
            return self.width, self.height
        return self.height, self.width


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png_chunks(data: bytes, path: str | None) -> None:
    """Refuse a PNG whose chunk lengths run past the end of the file.

    OpenCV allocates a chunk's declared length before reading it: a 300-byte file declaring a
    4 GB chunk would cost 4 GB and seconds. Walking the chunk headers costs microseconds.
    """
    i, n = 8, len(data)
    while i + 8 <= n:
        (length,) = struct.unpack_from(">I", data, i)
        if length > n - i - 12:
            kind = data[i + 4:i + 8].decode("latin-1")
            raise ImageError(f"truncated or corrupt PNG: chunk {kind!r} at byte {i} declares {length} bytes but "
                             f"the file has {max(0, n - i - 12)} left", path)
        if data[i + 4:i + 8] == b"IEND":
            return
        i += 12 + length


def probe_image(data: bytes) -> ImageInfo | None:
    """Read size and orientation from a JPEG or PNG header; None for other or broken headers."""
    if data[:8] == _PNG_SIGNATURE and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        if not width or not height:  # invalid: let the decoder refuse it
            return None
        return ImageInfo("png", height, width, _png_orientation(data))
    if data[:2] == b"\xff\xd8":
        return _probe_jpeg(data)
    return None


def _png_orientation(data: bytes) -> int:
    """EXIF orientation from a PNG's ``eXIf`` chunk (OpenCV applies it, before or after the image data)."""
    i, n = 8, len(data)
    while i + 8 <= n:
        (length,) = struct.unpack_from(">I", data, i)
        kind = data[i + 4:i + 8]
        if kind == b"IEND" or length > n - i - 8:
            break
        if kind == b"eXIf":
            return _exif_orientation(data[i + 8:i + 8 + length]) or 1
        i += 12 + length
    return 1


def _probe_jpeg(data: bytes) -> ImageInfo | None:
    i, n = 2, len(data)
    orientation, size = 1, None
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker == 0xD9:
            return None
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if length < 2:
            return None
        segment = data[i + 4:i + 2 + length]
        if marker == 0xDA:
            if size is None or not size[0] or not size[1]:  # height 0 (set later by a DNL marker) or broken
                return None
            return ImageInfo("jpeg", size[0], size[1], orientation, i)
        if marker in _SOF and len(segment) >= 5:
            size = struct.unpack(">HH", segment[1:5])
        elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(segment[6:]) or orientation
        i += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int | None:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    end = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(end + "H", tiff[ifd:ifd + 2])
    for k in range(min(count, 512)):
        entry = tiff[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        if len(entry) < 12:
            return None
        tag, _type = struct.unpack(end + "HH", entry[:4])
        if tag == 0x0112:
            (value,) = struct.unpack(end + "H", entry[8:10])
            return value if 1 <= value <= 8 else None
    return None


def choose_reduction(source_size: tuple[int, int], needed_size: tuple[float, float]) -> int:
    """Largest JPEG DCT reduction (1, 2, 4 or 8) that keeps at least ``needed_size`` pixels.

    Args:
        source_size: (H, W) of the full image.
        needed_size: (H, W) the image content will be resized to.
    """
    h, w = source_size
    nh, nw = needed_size
    for k in (8, 4, 2):
        if math.ceil(h / k) >= nh and math.ceil(w / k) >= nw:
            return k
    return 1


def decode_image(
    data: bytes,
    *,
    reduce: int = 1,
    path: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    info: ImageInfo | None = None,
) -> np.ndarray:
    """Decode an encoded image to (H, W, 3) uint8 RGB.

    EXIF orientation is applied; grayscale, palette, 16-bit and alpha images become 3-channel
    8-bit RGB (alpha is dropped). JPEGs can be decoded at 1/``reduce`` scale in the DCT domain,
    which is several times faster than decoding in full and resizing.

    Args:
        data: the encoded file's bytes.
        reduce: 1, 2, 4 or 8; JPEG only (ignored for other formats).
        path: the file name, for error messages.
        max_pixels: refuse images whose header declares more pixels (None: no limit).
        info: the :func:`probe_image` result if already computed.

    Returns:
        (H, W, 3) uint8 RGB; H and W are ``ceil(size / reduce)`` for a reduced JPEG.

    Raises:
        ImageError: empty, truncated, corrupt or oversized image (the message names ``path``).

    Example:
        >>> import cv2, numpy as np
        >>> ok, png = cv2.imencode(".png", np.zeros((4, 6, 3), np.uint8))
        >>> decode_image(png.tobytes()).shape
        (4, 6, 3)
    """
    if reduce not in _REDUCED:
        raise ValueError(f"reduce must be 1, 2, 4 or 8, got {reduce}")
    if not data:
        raise ImageError("empty file (0 bytes)", path)
    if info is None:
        info = probe_image(data)
    if info is not None:
        if max_pixels is not None and info.height * info.width > max_pixels:
            raise ImageError(
                f"image declares {info.width}x{info.height} = {info.height * info.width} pixels, more than "
                f"max_pixels={max_pixels}; refusing to decode (raise max_pixels if the image is genuine)", path)
        if info.format == "jpeg" and data.rfind(b"\xff\xd9") < info.scan_offset:
            raise ImageError("truncated JPEG: no end-of-image marker after the image data", path)
        if info.format == "png":
            _check_png_chunks(data, path)
    if info is not None and info.format == "jpeg" and _simplejpeg is not None:
        image = _decode_turbo(data, reduce, info)
        if image is not None:
            return image
    flags = cv2.IMREAD_COLOR_RGB
    if reduce > 1 and info is not None and info.format == "jpeg":
        flags |= _REDUCED[reduce]
    buf = np.frombuffer(data, np.uint8)
    try:
        image = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageError(f"cannot decode image: {exc.err or exc}", path) from None
    if image is None:
        kind = info.format.upper() if info else "file"
        raise ImageError(f"cannot decode {kind}: corrupt or unsupported image format", path)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image


#: EXIF orientation -> how OpenCV turns the stored image upright (its ExifTransform), step by step.
_ORIENT = {
    2: (lambda a: cv2.flip(a, 1),),
    3: (lambda a: cv2.rotate(a, cv2.ROTATE_180),),
    4: (lambda a: cv2.flip(a, 0),),
    5: (cv2.transpose,),
    6: (lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),),
    7: (cv2.transpose, lambda a: cv2.flip(a, -1)),
    8: (lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),),
}


def _decode_turbo(data: bytes, reduce: int, info: ImageInfo) -> np.ndarray | None:
    """A JPEG through simplejpeg at 1/``reduce`` scale, oriented upright; None to leave it to OpenCV.

    libjpeg-turbo scales by M/8 (M = 1..16): asking for at least ceil(size / reduce) pixels, the
    fewest that keep it, gives exactly 1/reduce, the size OpenCV's IMREAD_REDUCED_* gives.
    """
    height, width = -(-info.height // reduce), -(-info.width // reduce)
    try:
        if reduce == 1:
            image = _simplejpeg.decode_jpeg(data, "rgb")
        else:
            image = _simplejpeg.decode_jpeg(data, "rgb", min_height=height, min_width=width)
    except (ValueError, RuntimeError):  # corrupt data, a kind it does not decode: OpenCV decides, as before
        return None
    if image.shape != (height, width, 3):  # a header the probe read otherwise than libjpeg did
        return None
    for step in _ORIENT.get(info.orientation, ()):
        image = step(image)
    return image


def decode_mask(data: bytes, *, path: str | None = None) -> np.ndarray:
    """Decode an encoded mask image to (H, W) bool: a pixel is in the mask when it is non-zero.

    The file is read at its own depth (a 16-bit mask with value 1 stays in the mask), grey, RGB
    and RGBA alike; for RGBA a pixel counts when a colour channel is non-zero and it is not
    fully transparent.

    Raises:
        ImageError: empty, corrupt or unsupported file (the message names ``path``).

    Example:
        >>> import cv2, numpy as np
        >>> ok, png = cv2.imencode(".png", np.eye(3, dtype=np.uint8))
        >>> decode_mask(png.tobytes()).sum()
        3
    """
    if data[:8] == _PNG_SIGNATURE:
        _check_png_chunks(data, path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None:
        raise ImageError("cannot decode the mask image (empty, corrupt or unsupported format)", path)
    if image.ndim == 2:
        return image != 0
    if image.shape[2] == 4:
        return image[..., :3].any(axis=2) & (image[..., 3] != 0)
    return image.any(axis=2)

"""The JPEG decoder (libjpeg-turbo through simplejpeg) against OpenCV's, which it replaced for JPEG.

decode_image must give OpenCV's pixels (within a small tolerance; measured: identical) at every DCT
scale, on the broken-image matrix's decodable JPEGs (CMYK and grey included) and on the EXIF
orientation samples; leave to OpenCV what simplejpeg refuses (corrupt data), with the same pixels
or the same ImageError; and work without simplejpeg installed.
"""

import cv2
import numpy as np
import pytest
from imagehelpers import write_jpeg
from PIL import Image
from test_broken_images import blocks, cv_bytes, orient, pil_bytes, with_exif

import seqloaders as sl
from seqloaders import imageio

simplejpeg = pytest.importorskip("simplejpeg")

SCALES = (1, 2, 4, 8)
_REDUCED = {1: 0, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def opencv(data: bytes, reduce: int) -> np.ndarray:
    """What decode_image gave before simplejpeg: OpenCV's imdecode, RGB, DCT-reduced, EXIF-oriented."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | (_REDUCED[reduce] & ~cv2.IMREAD_COLOR))
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image


def photo(h=301, w=403, seed=0) -> np.ndarray:
    """A photo-like (H, W, 3) uint8: smooth gradients, edges and sensor noise; odd sizes on purpose."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([x * 255 / w, y * 255 / h, 128 + 100 * np.sin(x / 17) * np.cos(y / 23)], axis=-1)
    image[h // 3:h // 2, w // 4:w // 2] = (250, 30, 60)
    image += np.random.default_rng(seed).normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def calls(monkeypatch):
    """Counts the decodes simplejpeg did (and succeeded at) through decode_image."""
    done = []
    real = imageio._simplejpeg.decode_jpeg

    def counting(*args, **kwargs):
        out = real(*args, **kwargs)
        done.append(out.shape)
        return out

    monkeypatch.setattr(imageio._simplejpeg, "decode_jpeg", counting)
    return done


def jpeg_cases() -> dict[str, bytes]:
    """name -> JPEG bytes, every one decoded by simplejpeg."""
    image, gray = photo(), cv2.cvtColor(photo(), cv2.COLOR_RGB2GRAY)
    cases = {
        "baseline 4:2:0 (OpenCV's writer)": write_jpeg(None, image, quality=90),
        "blocks 48x80": write_jpeg(None, blocks()),
        "4:4:4": pil_bytes(image, "JPEG", quality=95, subsampling=0),
        "4:2:2": pil_bytes(image, "JPEG", quality=95, subsampling=1),
        "progressive JPEG": pil_bytes(image, "JPEG", quality=90, progressive=True),
        "JPEG with trailing bytes": write_jpeg(None, image) + b"garbage after the end marker",
        "JPEG named .png": cv_bytes(blocks(), ".jpg"),
        "grey JPEG": pil_bytes(Image.fromarray(gray), "JPEG", quality=95),
        "1x1 JPEG": write_jpeg(None, image[:1, :1].copy()),
        "CMYK JPEG": pil_bytes(Image.fromarray(image).convert("CMYK"), "JPEG", quality=95),
    }
    for orientation in range(1, 9):
        cases[f"EXIF orientation {orientation}"] = with_exif(image, "JPEG", orientation, quality=95)
    return cases


@pytest.mark.parametrize("name", list(jpeg_cases()))
def test_pixels_match_opencv_at_every_scale(name, calls):
    data = jpeg_cases()[name]
    for reduce in SCALES:
        calls.clear()
        out = sl.decode_image(data, reduce=reduce, path=name)
        expected = opencv(data, reduce)
        assert out.dtype == np.uint8 and out.flags.c_contiguous and out.shape == expected.shape, (name, reduce)
        diff = np.abs(out.astype(int) - expected)
        assert diff.max() <= 2 and diff.mean() <= 0.25, (name, reduce, diff.max(), diff.mean())
        assert len(calls) == 1, (name, reduce, calls)  # decoded by simplejpeg, not left to OpenCV


def test_orientation_matches_the_viewer():
    """The EXIF samples come out as a viewer shows them, at full and reduced scale (as OpenCV does)."""
    image = blocks()
    for orientation in range(1, 9):
        data = with_exif(image, "JPEG", orientation, quality=95)
        upright = orient(image, orientation)
        assert np.abs(sl.decode_image(data).astype(int) - upright).mean() < 3, orientation
        assert sl.decode_image(data, reduce=2).shape == (-(-upright.shape[0] // 2), -(-upright.shape[1] // 2), 3)


def test_refusals_are_opencvs_and_name_the_file(monkeypatch):
    """Corrupt JPEGs: simplejpeg refuses them, OpenCV decides; the ImageError is the one it gave alone."""
    good = write_jpeg(None, photo())
    scan = sl.probe_image(good).scan_offset
    cases = {
        "JPEG SOI then garbage": b"\xff\xd8" + b"\x00" * 100,
        "header only": good[:200],
        "scan overwritten": good[:scan + 40] + b"\x00" * 64 + good[scan + 104:],
        "scan cut, end marker kept": good[:scan + 200] + b"\xff\xd9",
    }
    outcomes = {}
    for decoder in ("simplejpeg", "opencv"):
        if decoder == "opencv":
            monkeypatch.setattr(imageio, "_simplejpeg", None)
        for name, data in cases.items():
            try:
                outcomes[decoder, name] = sl.decode_image(data, path=f"broken/{name}.jpg")
            except sl.ImageError as exc:
                assert exc.path == f"broken/{name}.jpg" and str(exc).startswith(f"broken/{name}.jpg: ")
                outcomes[decoder, name] = str(exc)
    for name in cases:
        a, b = outcomes["simplejpeg", name], outcomes["opencv", name]
        assert type(a) is type(b), name
        if isinstance(a, str):
            assert a == b
        else:  # OpenCV decodes what it can of a damaged scan; so do we, through it
            np.testing.assert_array_equal(a, b)


def test_without_simplejpeg_opencv_decodes_jpeg(monkeypatch):
    data = with_exif(photo(), "JPEG", 6, quality=90)
    with_turbo = [sl.decode_image(data, reduce=k) for k in SCALES]
    monkeypatch.setattr(imageio, "_simplejpeg", None)
    for k, expected in zip(SCALES, with_turbo):
        np.testing.assert_array_equal(sl.decode_image(data, reduce=k), expected)
    assert imageio.JPEG_DECODER == "simplejpeg"


def test_png_and_other_formats_stay_with_opencv(calls):
    image = blocks()
    for ext in (".png", ".bmp", ".webp", ".tiff"):
        np.testing.assert_array_equal(sl.decode_image(cv_bytes(image, ext, [cv2.IMWRITE_WEBP_QUALITY, 101])), image)
    assert calls == []

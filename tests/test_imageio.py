import struct
import zlib

import cv2
import numpy as np
import pytest
from imagehelpers import write_jpeg

import seqloaders as sl
from seqloaders.imageio import choose_reduction


def png(array):
    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


def gradient(h=64, w=96):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], axis=-1).astype(np.uint8)


def test_png_rgb_order():
    rgb = gradient()
    out = sl.decode_image(png(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)))
    assert out.dtype == np.uint8 and out.shape == (64, 96, 3)
    np.testing.assert_array_equal(out, rgb)


def test_gray_alpha_and_16bit_become_three_channel_rgb():
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    out = sl.decode_image(png(gray))
    assert out.shape == (6, 8, 3)
    np.testing.assert_array_equal(out[..., 0], gray)
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 0] = 200  # blue
    bgra[..., 3] = 10
    out = sl.decode_image(png(bgra))
    assert out.shape == (4, 5, 3) and (out[..., 2] == 200).all() and (out[..., 0] == 0).all()
    deep = np.full((3, 4, 3), 65535, np.uint16)
    out = sl.decode_image(png(deep))
    assert out.dtype == np.uint8 and out.shape == (3, 4, 3) and (out == 255).all()


@pytest.mark.parametrize("orientation,expected_shape", [(1, (40, 60, 3)), (3, (40, 60, 3)), (6, (60, 40, 3)),
                                                         (8, (60, 40, 3))])
def test_exif_orientation_is_applied(orientation, expected_shape):
    image = np.zeros((40, 60, 3), np.uint8)
    image[:20, :30] = 255  # white top-left quadrant
    data = write_jpeg(None, image, exif_orientation=orientation)
    info = sl.probe_image(data)
    assert info.orientation == orientation and (info.height, info.width) == (40, 60)
    assert info.size == expected_shape[:2]
    out = sl.decode_image(data)
    assert out.shape == expected_shape
    # where the white quadrant went: 6 = rotate 90 clockwise -> top-right; 8 -> bottom-left; 3 -> bottom-right
    corner = {1: out[5, 5], 3: out[-5, -5], 6: out[5, -5], 8: out[-5, 5]}[orientation]
    assert corner.mean() > 200


def test_reduced_jpeg_decoding():
    image = cv2.resize(gradient(), (403, 301))
    data = write_jpeg(None, image)
    for k in (2, 4, 8):
        out = sl.decode_image(data, reduce=k)
        assert out.shape == (-(-301 // k), -(-403 // k), 3)
        reference = cv2.resize(image, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
        assert np.abs(out.astype(int) - reference).mean() < 4
    # not a JPEG: reduce is ignored, the image is decoded in full
    assert sl.decode_image(png(image), reduce=4).shape == (301, 403, 3)
    with pytest.raises(ValueError, match="reduce must be"):
        sl.decode_image(data, reduce=3)


def test_choose_reduction_keeps_enough_pixels():
    assert choose_reduction((768, 1024), (224, 224)) == 2
    assert choose_reduction((1000, 1000), (224, 224)) == 4
    assert choose_reduction((2000, 2000), (224, 224)) == 8
    assert choose_reduction((200, 200), (224, 224)) == 1


@pytest.mark.parametrize("data,message", [
    (b"", "empty file"),
    (b"not an image at all", "cannot decode"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "cannot decode"),
])
def test_bad_bytes_raise_image_error_naming_the_file(data, message):
    with pytest.raises(sl.ImageError, match=message) as info:
        sl.decode_image(data, path="dir/x.jpg")
    assert str(info.value).startswith("dir/x.jpg: ")


def test_truncated_jpeg_is_refused():
    data = write_jpeg(None, gradient(200, 200))
    with pytest.raises(sl.ImageError, match="truncated JPEG"):
        sl.decode_image(data[: len(data) // 2], path="cut.jpg")


def test_decompression_bomb_refused_before_decoding():
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    bomb = header + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    with pytest.raises(sl.ImageError, match="max_pixels"):
        sl.decode_image(bomb, path="bomb.png")
    small = png(gradient(10, 10))
    with pytest.raises(sl.ImageError, match="max_pixels=50"):
        sl.decode_image(small, max_pixels=50)
    assert sl.decode_image(small, max_pixels=None).shape == (10, 10, 3)

"""Broken and odd images: each case is decoded correctly or refused with an ImageError naming the file.

The matrix: empty, truncated and corrupt files, wrong extensions, CMYK, 16-bit, grey, palette,
alpha, EXIF orientations 1-8 (JPEG and PNG), other containers, non-ASCII names and decompression
bombs. Then the same files through :class:`DetectionSequence` with ``on_error="skip"``: batches
keep their shape and the report names every skipped file with its reason. Each class of input is
logged with :func:`reliability.record` for RELIABILITY.md.
"""

import io
import json
import os
import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from imagehelpers import write_jpeg
from PIL import Image
from reliability import record

import seqloaders as sl
from seqloaders.formats.common import image_size_of

pytestmark = pytest.mark.fuzz

CATEGORY = "broken images"


def blocks(h=48, w=80):
    """(H, W, 3) uint8 RGB of four flat colours in unequal quadrants: every flip and rotation differs."""
    image = np.empty((h, w, 3), np.uint8)
    image[:16, :48] = (230, 40, 40)
    image[:16, 48:] = (40, 200, 40)
    image[16:, :48] = (40, 40, 220)
    image[16:, 48:] = (240, 240, 240)
    return image


def pil_bytes(image, fmt, **options) -> bytes:
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, fmt, **options)
    return buf.getvalue()


def cv_bytes(image_rgb, ext, params=()) -> bytes:
    bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR) if image_rgb.ndim == 3 else image_rgb
    ok, data = cv2.imencode(ext, bgr, list(params))
    assert ok
    return data.tobytes()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width, height, depth=8, colour=2) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb)."""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + png_chunk(b"IEND", b""))


def jpeg_declaring(width, height) -> bytes:
    """A real JPEG whose SOF marker is rewritten to declare ``width`` x ``height``."""
    data = bytearray(write_jpeg(None, blocks(16, 16)))
    i = 2
    while data[i + 1] not in (0xC0, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def orient(image, orientation):
    """What a viewer shows for ``image`` stored with an EXIF ``orientation`` (1-8)."""
    return {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
            7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}[orientation](image)


def with_exif(image, fmt, orientation, **options) -> bytes:
    pil = Image.fromarray(image)
    exif = pil.getexif()
    exif[0x0112] = orientation
    return pil_bytes(pil, fmt, exif=exif.tobytes(), **options)


def assert_close(out, expected, tolerance=6.0, name=""):
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, name
    assert out.shape == expected.shape, (name, out.shape, expected.shape)
    diff = np.abs(out.astype(int) - expected.astype(int)).mean()
    assert diff < tolerance, (name, diff)


def refused(data, path, match=None, **options) -> str:
    with pytest.raises(sl.ImageError) as info:
        sl.decode_image(data, path=path, **options)
    assert info.value.path == path and str(info.value).startswith(path + ": ")
    if match:
        assert match in str(info.value), str(info.value)
    return str(info.value)


# --------------------------------------------------------------------------------- the matrix
def test_broken_files_are_refused_naming_the_file():
    jpeg = write_jpeg(None, blocks())
    png = cv_bytes(blocks(), ".png")
    cases = {
        "zero-byte file": (b"", "empty file"),
        "truncated JPEG (half)": (jpeg[:len(jpeg) // 2], "truncated JPEG"),
        "truncated JPEG (header only)": (jpeg[:200], None),
        "JPEG without end marker": (jpeg[:-2], "truncated JPEG"),
        "truncated PNG": (png[:len(png) // 2], "truncated or corrupt PNG"),
        "PNG chunk declaring 4 GB": (png[:33] + b"\xff\x00\x00\xfc" + png[37:], "declares 4278190332 bytes"),
        "PNG signature then garbage": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, None),
        "text named .jpg": (b"this is not an image\n", "cannot decode"),
        "HTML error page named .jpg": (b"<html><body>404 Not Found</body></html>", "cannot decode"),
        "random bytes": (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "cannot decode"),
        "JPEG SOI then garbage": (b"\xff\xd8" + b"\x00" * 100, "cannot decode"),
    }
    for name, (data, match) in cases.items():
        refused(data, f"broken/{name}.jpg", match)
    record(CATEGORY, "corrupt files (zero bytes, truncated JPEG/PNG, 4 GB PNG chunk, text/HTML/random bytes named "
           ".jpg)", len(cases), "ImageError naming the file")


def test_wrong_extensions_and_containers_decode_by_content(tmp_path):
    image = blocks()
    cases = {
        "PNG named .jpg": (cv_bytes(image, ".png"), 0),
        "JPEG named .png": (write_jpeg(None, image), 6),
        "BMP": (cv_bytes(image, ".bmp"), 0),
        "TIFF": (cv_bytes(image, ".tiff"), 0),
        "WebP lossless": (cv_bytes(image, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]), 0),
        "progressive JPEG": (pil_bytes(image, "JPEG", quality=95, progressive=True), 6),
        "JPEG with trailing bytes": (write_jpeg(None, image) + b"garbage after the end marker", 6),
    }
    for name, (data, tolerance) in cases.items():
        path = tmp_path / f"{name}.{'png' if 'JPEG' in name else 'jpg'}"
        path.write_bytes(data)
        assert_close(sl.decode_image(data, path=str(path)), image, tolerance + 0.01)
        assert image_size_of(str(path)) == image.shape[:2], name
    record(CATEGORY, "wrong extensions and other containers (PNG named .jpg, JPEG named .png, BMP, TIFF, WebP, "
           "progressive JPEG, trailing bytes)", len(cases), "decoded to the right pixels and size")


def test_colour_modes_become_three_channel_rgb():
    image = blocks()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gradient16 = (np.arange(48 * 80 * 3, dtype=np.uint32).reshape(48, 80, 3) * 97 % 65536).astype(np.uint16)
    palette = Image.fromarray(image).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    rgba = np.dstack([image, np.full(image.shape[:2], 7, np.uint8)])  # nearly transparent: alpha is dropped
    cmyk = Image.fromarray(image).convert("CMYK")
    cases = {
        "CMYK JPEG": (pil_bytes(cmyk, "JPEG", quality=95), image, 8),
        "grey JPEG": (pil_bytes(Image.fromarray(gray), "JPEG", quality=95), np.dstack([gray] * 3), 3),
        "grey PNG": (cv_bytes(gray, ".png"), np.dstack([gray] * 3), 0),
        "grey + alpha PNG": (pil_bytes(Image.fromarray(gray).convert("LA"), "PNG"), np.dstack([gray] * 3), 0),
        "palette PNG": (pil_bytes(palette, "PNG"), np.asarray(palette.convert("RGB")), 0),
        "RGBA PNG": (pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"), image, 0),
        "16-bit RGB PNG": (cv_bytes(gradient16, ".png"), (gradient16 >> 8).astype(np.uint8), 0.6),
        "16-bit grey PNG": (cv_bytes(gradient16[..., 0].copy(), ".png"),
                            np.dstack([(gradient16[..., 0] >> 8).astype(np.uint8)] * 3), 0.6),
        "1-bit PNG": (pil_bytes(Image.fromarray(gray > 128), "PNG"), np.dstack([(gray > 128) * 255] * 3), 0),
    }
    for name, (data, expected, tolerance) in cases.items():
        out = sl.decode_image(data, path=name)
        assert_close(out, expected, tolerance + 0.01, name)
    record(CATEGORY, "colour modes (CMYK JPEG, grey JPEG/PNG, grey+alpha, palette, RGBA, 16-bit RGB/grey, 1-bit)",
           len(cases), "decoded to 3-channel uint8 RGB matching the expected pixels (16-bit scaled by 1/257)")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientations_one_to_eight(tmp_path, fmt):
    image = blocks()
    for orientation in range(1, 9):
        data = with_exif(image, fmt, orientation, **({"quality": 95} if fmt == "JPEG" else {}))
        expected = orient(image, orientation)
        info = sl.probe_image(data)
        assert info.orientation == orientation and info.size == expected.shape[:2]
        path = tmp_path / f"o{orientation}.{fmt.lower()}"
        path.write_bytes(data)
        assert image_size_of(str(path)) == expected.shape[:2]
        tolerance = 6 if fmt == "JPEG" else 0.01
        assert_close(sl.decode_image(data, path=str(path)), expected, tolerance)
        if fmt == "JPEG":  # the DCT-reduced decode is oriented the same way
            half = cv2.resize(expected, (expected.shape[1] // 2, expected.shape[0] // 2), interpolation=cv2.INTER_AREA)
            assert_close(sl.decode_image(data, reduce=2), half, 10)
    record(CATEGORY, f"EXIF orientations 1-8 ({fmt})", 8,
           "decoded upright, pixel-compared to the flipped/rotated array; probe and header size agree")


def test_orientation_keeps_boxes_on_their_objects(tmp_path):
    """Boxes are given in the upright frame; after loading (reduced decode, resize) they still frame the object."""
    image = np.full((64, 96, 3), 40, np.uint8)
    samples = []
    for orientation in range(1, 9):
        stored = image.copy()
        stored[8:24, 16:40] = 250  # the object, in the stored frame
        upright = orient(stored, orientation)
        ys, xs = np.nonzero(upright[..., 0] > 200)
        path = tmp_path / f"o{orientation}.jpg"
        path.write_bytes(with_exif(stored, "JPEG", orientation, quality=95))
        samples.append(sl.Sample(str(path), boxes=[[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], labels=[0]))
    seq = sl.DetectionSequence(samples, batch_size=8, image_size=(32, 32), encoder=sl.GridEncoder(4),
                               shuffle=False, threads=1)
    images, loaded = seq.load_batch(0)
    for img, s in zip(images, loaded):
        x0, y0, x1, y1 = np.round(s.boxes[0]).astype(int)
        assert img[y0:y1, x0:x1].mean() > 180 and img.mean() < 120
    record(CATEGORY, "EXIF orientations 1-8 through DetectionSequence (reduced decode + resize)", 8,
           "boxes given upright still frame their object in the batch")


def test_non_ascii_file_names_load(tmp_path):
    names = ["visage_é_日本.jpg", "Ärger ü.png", "лицо.jpeg", "😀.jpg", "a b&c'd.jpg",
             "e\u0301-decomposed.jpg"]
    images = tmp_path / "imágenes"
    (images / "évènement").mkdir(parents=True)
    records = []
    for k, name in enumerate(names, 1):
        data = cv_bytes(blocks(), ".png") if name.endswith(".png") else write_jpeg(None, blocks())
        (images / "évènement" / name).write_bytes(data)
        records.append({"id": k, "file_name": f"évènement/{name}", "height": 48, "width": 80})
    annotations = tmp_path / "instances_é.json"
    annotations.write_text(json.dumps({"images": records, "annotations": [], "categories": [{"id": 1, "name": "x"}]},
                                      ensure_ascii=False), encoding="utf-8")
    samples = sl.read_coco(annotations, images)
    assert [os.path.basename(s.image) for s in samples] == names
    seq = sl.DetectionSequence(samples, batch_size=len(names), image_size=(48, 80), encoder=sl.GridEncoder(4),
                               shuffle=False, threads=1)
    x, _y = seq[0]
    assert x.shape == (len(names), 48, 80, 3)
    for image in x:
        assert_close((image * 255).round().astype(np.uint8), blocks(), 6)
    assert all(image_size_of(s.image) == (48, 80) for s in samples)
    record(CATEGORY, "non-ASCII file and folder names (é, 日本, Cyrillic, emoji, spaces and quotes, NFD)",
           len(names), "read from the annotation file, header read and loaded with the right pixels")


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    bombs = {
        "PNG declaring 100000 x 100000": png_declaring(100_000, 100_000),
        "16-bit PNG declaring 50000 x 50000": png_declaring(50_000, 50_000, depth=16),
        "PNG declaring 2**31-1 x 2**31-1": png_declaring(2**31 - 1, 2**31 - 1),
        "JPEG declaring 65000 x 65000": jpeg_declaring(65_000, 65_000),
    }
    for name, data in bombs.items():
        tracemalloc.start()
        try:
            refused(data, name, "max_pixels")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20, (name, peak)
        path = tmp_path / "bomb.png"
        path.write_bytes(data)
        h, w = image_size_of(str(path))  # readers get the size from the header, never decoding
        assert h * w > sl.imageio.DEFAULT_MAX_PIXELS
    # the limit is configurable: a normal image over a small limit is refused, under None it loads
    normal = write_jpeg(None, blocks())
    refused(normal, "normal.jpg", "max_pixels=1000", max_pixels=1000)
    assert sl.decode_image(normal, max_pixels=None).shape == (48, 80, 3)
    record(CATEGORY, "decompression bombs (PNG 100000^2, 16-bit PNG 50000^2, PNG (2^31-1)^2, JPEG 65000^2) and a "
           "configurable limit", len(bombs) + 1,
           "ImageError naming max_pixels before decoding (< 1 MiB allocated); max_pixels=None lifts the limit")


# ------------------------------------------------------------------- through the Sequence, skip
def test_skip_keeps_batches_whole_and_reports_each_file(tmp_path):
    good = write_jpeg(None, blocks())
    broken = {
        "empty.jpg": (b"", "empty file"),
        "cut.jpg": (good[:-100], "truncated JPEG"),
        "bomb.png": (png_declaring(100_000, 100_000), "max_pixels"),
        "text.jpg": (b"not an image", "cannot decode"),
        "chunk.png": (png_declaring(8, 8)[:33] + b"\xff\x00\x00\xfc" + png_declaring(8, 8)[37:], "corrupt PNG"),
    }
    samples = []
    for k in range(11):
        path = tmp_path / f"good_{k}.jpg"
        path.write_bytes(good)
        samples.append(sl.Sample(str(path), boxes=[[8, 8, 24, 24]], labels=[0]))
    for k, (name, (data, _)) in enumerate(broken.items()):
        path = tmp_path / name
        path.write_bytes(data)
        samples.insert(2 * k + 1, sl.Sample(str(path), boxes=[[8, 8, 24, 24]], labels=[0]))
    samples.append(sl.Sample(str(tmp_path / "missing.jpg"), boxes=[[8, 8, 24, 24]], labels=[0]))
    seq = sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(4),
                               on_error="skip", shuffle=True, seed=1, threads=2)
    for epoch in range(2):
        seq.set_epoch(epoch)
        for i in range(len(seq)):
            x, y = seq[i]
            expected = min(4, len(samples) - 4 * i)
            assert x.shape == (expected, 32, 32, 3) and y.shape == (expected, 4, 4, 5)
            assert np.isfinite(x).all() and x.max() > 0
    report = seq.report()
    assert set(report.skipped) == {str(tmp_path / n) for n in [*broken, "missing.jpg"]}
    for name, (_, reason) in broken.items():
        message = report.skipped[str(tmp_path / name)]
        assert message.startswith("ImageError: ") and reason in message and name in message, message
    assert report.skipped[str(tmp_path / "missing.jpg")].startswith("FileNotFoundError")
    assert report.skip_events >= 2 * len(report.skipped) and str(len(report.skipped)) in str(report)
    with pytest.raises(sl.SampleError, match=r"empty.jpg") as info:
        sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(4),
                             shuffle=False).load_batch(0)
    assert isinstance(info.value.__cause__, sl.ImageError)
    record(CATEGORY, "broken files in a DetectionSequence with on_error='skip' (5 kinds + a missing file, 2 epochs)",
           len(broken) + 1, "every batch keeps its shape; report() names each skipped file with its reason; "
           "on_error='raise' gives SampleError caused by ImageError")


def test_a_header_declaring_zero_pixels_is_not_trusted(tmp_path):
    """Found by fuzzing: a JPEG whose SOF declares height 0 gave image_size (0, W) without decoding."""
    cases = {"jpeg-h0.jpg": jpeg_declaring(16, 0), "jpeg-w0.jpg": jpeg_declaring(0, 16),
             "png-0x0.png": png_declaring(0, 0)}
    for name, data in cases.items():
        assert sl.probe_image(data) is None, name
        (tmp_path / name).write_bytes(data)
        with pytest.raises(sl.ImageError, match=name):
            image_size_of(str(tmp_path / name))
        refused(data, name)
    record(CATEGORY, "headers declaring zero width or height (JPEG SOF, PNG IHDR)", len(cases),
           "not trusted: decoded instead, and refused with ImageError naming the file")


def test_readers_refuse_broken_images_naming_them(tmp_path):
    """Readers that read image headers (class folders with check_images) name a file whose header is broken.

    Only the header is read (a PNG cut after its header passes here and is refused when loaded).
    """
    root = tmp_path / "cls" / "cat"
    root.mkdir(parents=True)
    (root / "ok.jpg").write_bytes(write_jpeg(None, blocks()))
    cases = {"empty.jpg": b"", "cut.png": cv_bytes(blocks(), ".png")[:20], "text.jpg": b"hello"}
    for name, data in cases.items():
        (root / name).write_bytes(data)
        with pytest.raises(sl.AnnotationError, match=name):
            sl.read_class_folders(tmp_path / "cls", check_images=True)
        (root / name).unlink()
    record(CATEGORY, "broken images met by readers that read headers (class folders)", len(cases),
           "AnnotationError naming the image")

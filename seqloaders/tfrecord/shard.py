"""One TFRecord shard: samples → records → a shard file and its index, shared by the local and Beam writers.

:func:`prepare_image` chooses the bytes to store for an image (carried over, or converted so that
TensorFlow's decoders see the upright pixels), :func:`prepare_record` turns a sample into its
framed record, :func:`shard_records` yields a shard's records in sample order while collecting
the failures, and :func:`write_shard` writes them to a temporary name, writes the index, then
renames (or, for a URL, uploads the index and the shard, each in one atomic PUT).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError
from ..imageio import DEFAULT_MAX_PIXELS, decode_image, probe_image
from ..records import Sample
from ..storage import files
from .framing import encode_record, index_path, write_index
from .schema import encode_sample

__all__ = ["RecordOptions", "ordered_map", "prepare_image", "prepare_record", "shard_records", "try_prepare",
           "write_shard"]


@dataclasses.dataclass(frozen=True)
class RecordOptions:
    """How samples become records: the image options and the label mapping (part of each shard's fingerprint)."""

    reencode: bool
    quality: int
    verify: bool
    max_pixels: int | None
    label_offset: int
    class_names: tuple[str, ...]


def _png_bit_depth(data: bytes) -> int | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 26 and data[12:16] == b"IHDR":
        return data[24]
    return None


def _encode(image: np.ndarray, fmt: str, quality: int, path: str) -> bytes:
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)]) if fmt == "jpeg" else (".png", [])
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover
        raise ImageError(f"OpenCV could not encode the image as {fmt.upper()}", path)
    return buf.tobytes()


def prepare_image(data: bytes, path: str, *, reencode: bool = False, quality: int = 95, verify: bool = True,
                  max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[bytes, str, tuple[int, int]]:
    """The bytes, format and (H, W) to store for one encoded image.

    JPEG and PNG (8-bit) are carried over as they are. Everything else is converted: other
    formats (BMP, TIFF, WebP, GIF, ...) and 16-bit PNGs become 8-bit PNG (lossless for 8-bit
    content), and images with an EXIF orientation are re-encoded upright in their own format,
    because TensorFlow's decoders ignore EXIF and the boxes are in the upright frame.

    Args:
        data: the encoded image.
        path: its name, for error messages.
        reencode: re-encode every image as JPEG at ``quality``.
        quality: JPEG quality for re-encoded images.
        verify: decode carried-over images once (JPEGs at 1/8 scale) to refuse corrupt files.
        max_pixels: refuse images whose header declares more pixels.

    Returns:
        (bytes, "jpeg" or "png", (H, W) upright).

    Raises:
        ImageError: the image cannot be decoded.
    """
    info = probe_image(data)
    convert_to = None
    if reencode:
        convert_to = "jpeg"
    elif info is None or (info.format == "png" and _png_bit_depth(data) == 16):
        convert_to = "png"
    elif info.orientation != 1:  # JPEG EXIF, or a PNG eXIf chunk: store the upright pixels
        convert_to = info.format
    if convert_to is None:
        if verify:
            decode_image(data, reduce=8 if info.format == "jpeg" else 1, path=path, max_pixels=max_pixels, info=info)
        return data, info.format, info.size
    image = decode_image(data, path=path, max_pixels=max_pixels, info=info)
    return _encode(image, convert_to, quality, path), convert_to, image.shape[:2]


def prepare_record(sample: Sample, storage: Any, options: RecordOptions) -> bytes:
    """The framed record of one sample, its image read from ``storage``.

    Raises:
        ImageError, ValueError, OSError: the image cannot be read, decoded or stored, or its size
            is not the annotation's.
    """
    data = storage.read(sample.image)
    encoded, fmt, size = prepare_image(data, sample.image, reencode=options.reencode, quality=options.quality,
                                       verify=options.verify, max_pixels=options.max_pixels)
    if sample.image_size is not None and tuple(sample.image_size) != tuple(size):
        raise ValueError(f"the annotation gives image_size {tuple(sample.image_size)} (H, W) but the image is "
                         f"{tuple(size)}; fix the annotation or drop image_size")
    if "filename" not in sample.meta:  # keep the original name when the key is a storage key
        sample = sample.replace(meta={**sample.meta, "filename": sample.image})
    return encode_record(encode_sample(sample, encoded, fmt, size, label_offset=options.label_offset,
                                       class_names=options.class_names))


def try_prepare(sample: Sample, storage: Any, options: RecordOptions) -> tuple[bytes | None, str | None]:
    """``(record, None)``, or ``(None, "ErrorType: message")`` when the sample cannot be written."""
    try:
        return prepare_record(sample, storage, options), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


def ordered_map(pool: concurrent.futures.Executor, fn: Callable[[Any], Any], items: list,
                window: int) -> Iterator[Any]:
    """``map(fn, items)`` on ``pool`` in order, with at most ``window`` results in flight."""
    pending: collections.deque = collections.deque()
    it = iter(items)
    for item in it:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            break
    while pending:
        yield pending.popleft().result()
        for item in it:
            pending.append(pool.submit(fn, item))
            break


def shard_records(results: Iterator[tuple[bytes | None, str | None]], samples: Iterable[tuple[int, Sample]],
                  shard: int, failed: list[dict[str, Any]], bar: Any = None) -> Iterator[bytes]:
    """The records of one shard, in sample order, from ``(record, error)`` results (one per sample).

    Args:
        results: :func:`try_prepare` results, consumed one per sample.
        samples: (index in the whole sample list, sample) of the shard's samples.
        shard: the shard number, for the failure entries.
        failed: receives ``{"image", "index", "shard", "error"}`` for every failed sample.
        bar: a progress bar, updated once per sample.
    """
    for i, sample in samples:
        record, error = next(results)
        if error is None:
            yield record
        else:
            failed.append({"image": sample.image, "index": i, "shard": shard, "error": error})
        if bar is not None:
            bar.update(1)


def write_shard(path: str, records: Iterable[bytes], tmp: str | None = None,
                storage_options: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """Write framed ``records`` to ``tmp``, fsync, write the index, rename to ``path``.

    For a URL ``path``, the same is done in a local temporary folder (``tmp`` is ignored), then
    the index and the shard are uploaded, in that order, each replacing its object whole.

    Returns:
        (number of records, bytes written).
    """
    if files.is_url(path):
        with tempfile.TemporaryDirectory(prefix="seqloaders-shard-") as folder:
            local = os.path.join(folder, files.basename(path))
            result = _write_local_shard(local, records, f"{local}.tmp", sync=False)
            files.upload(index_path(local), index_path(path), storage_options)
            files.upload(local, path, storage_options)
        return result
    return _write_local_shard(path, records, tmp)


def _write_local_shard(path: str, records: Iterable[bytes], tmp: str | None = None,
                       sync: bool = True) -> tuple[int, int]:
    tmp = tmp or f"{path}.tmp-{os.getpid()}"
    offsets: list[int] = []
    sizes: list[int] = []
    pos = 0
    with open(tmp, "wb") as f:
        for record in records:
            f.write(record)
            offsets.append(pos)
            sizes.append(len(record))
            pos += len(record)
        f.flush()
        if sync:
            os.fsync(f.fileno())
    write_index(index_path(path), np.asarray(offsets, np.int64), np.asarray(sizes, np.int64))
    os.replace(tmp, path)
    return len(offsets), pos


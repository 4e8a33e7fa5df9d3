"""Keypoint targets: CenterNet-style Gaussian heatmaps, padded raw coordinates, and flips that swap sides.

Keypoints live in the same continuous pixel frame as boxes: x = 0 is the left edge of the image,
x = W its right edge, and the centre of pixel column c is c + 0.5. Each keypoint is (x, y, v)
with COCO's visibility v: 0 not labelled, 1 labelled but not visible, 2 labelled and visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from ..augment.native import HorizontalFlipAugmenter  # re-exported: it was defined here
from ..errors import EncodingError
from ..records import Sample
from ..transform import Transform, check_flip_index
from .base import Decoded, TargetEncoder, check_image_size
from .padded import select_slots

__all__ = [
    "COCO_PERSON_FLIP_INDEX",
    "COCO_PERSON_KEYPOINTS",
    "HeatmapEncoder",
    "HorizontalFlipAugmenter",
    "KeypointEncoder",
    "decode_heatmaps",
    "encode_heatmaps",
    "encode_keypoints",
    "flip_keypoints",
    "heatmap_peaks",
]

#: The 17 keypoints of a COCO person, in COCO's order.
COCO_PERSON_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
#: After a horizontal flip, keypoint k of the result is keypoint ``COCO_PERSON_FLIP_INDEX[k]`` of the
#: mirrored person: the nose stays, each left keypoint swaps with its right twin.
COCO_PERSON_FLIP_INDEX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


def flip_keypoints(keypoints: np.ndarray, image_width: float, flip_index: Sequence[int] | None = None) -> np.ndarray:
    """Mirror keypoints horizontally and swap left and right keypoints.

    x becomes ``image_width - x`` (the flip of the continuous pixel frame, the same as for boxes;
    albumentations uses ``width - 1 - x``, the flip of pixel indices). Keypoints that are not
    labelled (v = 0) keep their coordinates, so COCO's (0, 0, 0) stays (0, 0, 0).

    Args:
        keypoints: (N, K, 3) float x, y (pixels of an image ``image_width`` wide) and visibility.
        image_width: W of the image.
        flip_index: K ints, a permutation that is its own inverse: keypoint k of the result is
            keypoint ``flip_index[k]`` of the mirrored input (e.g. :data:`COCO_PERSON_FLIP_INDEX`);
            None mirrors without swapping.

    Returns:
        (N, K, 3) float32 flipped keypoints.

    Raises:
        ValueError: the keypoints are not (N, K, 3), or ``flip_index`` is not a self-inverse
            permutation of K keypoints.

    Example:
        >>> kp = np.array([[[10, 5, 2], [30, 5, 2], [0, 0, 0]]], np.float32)  # left eye, right eye, unlabelled
        >>> flip_keypoints(kp, 100, flip_index=[1, 0, 2]).tolist()
        [[[70.0, 5.0, 2.0], [90.0, 5.0, 2.0], [0.0, 0.0, 0.0]]]
    """
    kp = np.asarray(keypoints, np.float32)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError(f"keypoints must have shape (N, K, 3), got {kp.shape}")
    check_flip_index(flip_index, kp.shape[1])
    mirror = Transform(np.array([[-1.0, 0.0, float(image_width)], [0.0, 1.0, 0.0]]), (1, 1), "flip")
    return mirror.keypoints(kp, flip_index)


def _sample_keypoints(sample: Sample, num_keypoints: int, encoder: str) -> np.ndarray:
    """(N, K, 3) float32 keypoints of a sample, checked against the encoder's K."""
    kp = sample.keypoints
    if kp is None:
        if sample.num_boxes == 0:
            return np.zeros((0, num_keypoints, 3), np.float32)
        raise EncodingError(f"{sample.image}: {encoder} needs sample.keypoints (N, K, 3), but the sample has "
                            f"{sample.num_boxes} boxes and no keypoints")
    kp = np.asarray(kp, np.float32)
    if sample.num_boxes == 0:
        return np.zeros((0, num_keypoints, 3), np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (num_keypoints, 3):
        raise EncodingError(f"{sample.image}: {encoder} expects keypoints of shape (N, {num_keypoints}, 3), "
                            f"got {kp.shape}")
    return kp


def _heatmap_hw(image_size: tuple[int, int], heatmap_size: tuple[int, int] | None,
                output_stride: int | None) -> tuple[int, int]:
    if heatmap_size is not None:
        return int(heatmap_size[0]), int(heatmap_size[1])
    return math.ceil(image_size[0] / output_stride), math.ceil(image_size[1] / output_stride)


def encode_heatmaps(
    keypoints: Sequence[np.ndarray],
    image_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    sigma: float = 2.0,
    min_visibility: int = 1,
    radius: int | None = None,
) -> tuple[np.ndarray, int]:
    """Draw a batch of keypoint sets as per-keypoint Gaussian heatmaps (vectorised over the batch).

    A keypoint (x, y) of an image of size (H, W) falls in heatmap cell
    ``(floor(y * Hh / H), floor(x * Wh / W))`` (a point on the right or bottom border: the last
    cell). The Gaussian ``exp(-(dr² + dc²) / (2 sigma²))`` is centred on that cell, so its peak
    is exactly 1.0, and cut to 0 beyond ``radius`` cells; where objects overlap the heatmap is the
    maximum of their Gaussians (CenterNet). Keypoints with visibility below ``min_visibility``
    are not drawn, nor are keypoints outside the image (counted).

    Args:
        keypoints: B arrays of (N_i, K, 3) float x, y (pixels of an image of size ``image_size``)
            and visibility.
        image_size: (H, W) of the image the keypoints live in.
        heatmap_size: (Hh, Wh) of the heatmaps.
        sigma: the Gaussian's standard deviation, in heatmap cells.
        min_visibility: the least visibility drawn: 1 draws labelled keypoints (v = 1 and 2), 2
            only visible ones.
        radius: half the size of the drawn square, in cells (default ``ceil(3 * sigma)``).

    Returns:
        (B, Hh, Wh, K) float32 heatmaps, and the number of keypoints with enough visibility that
        were not drawn because they lay outside the image.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    h, w = image_size
    hh, ww = heatmap_size
    arrays = [np.asarray(k, np.float32) for k in keypoints]
    num_k = next((a.shape[1] for a in arrays if a.ndim == 3), None)
    if num_k is None:
        raise ValueError("cannot tell the number of keypoints: give arrays of shape (N, K, 3)")
    if any(a.ndim != 3 or a.shape[1:] != (num_k, 3) for a in arrays):
        raise EncodingError(f"every keypoint array must be (N, {num_k}, 3), got "
                            f"{[a.shape for a in arrays]}")
    batch = len(arrays)
    out = np.zeros((batch, hh, ww, num_k), np.float32)
    counts = [len(a) for a in arrays]
    if sum(counts) == 0:
        return out, 0
    kp = np.concatenate(arrays)  # (P, K, 3)
    owner = np.repeat(np.arange(batch), counts)
    x, y, v = kp[..., 0], kp[..., 1], kp[..., 2]
    labelled = v >= min_visibility
    inside = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x <= w) & (y >= 0) & (y <= h)
    outside = int((labelled & ~inside).sum())
    obj, k = np.nonzero(labelled & inside)
    if len(obj) == 0:
        return out, outside
    col = np.minimum(np.floor(x[obj, k].astype(np.float64) * ww / w), ww - 1).astype(np.int64)
    row = np.minimum(np.floor(y[obj, k].astype(np.float64) * hh / h), hh - 1).astype(np.int64)
    r = int(math.ceil(3 * sigma)) if radius is None else int(radius)
    d = np.arange(-r, r + 1)
    dr, dc = np.meshgrid(d, d, indexing="ij")
    dr, dc = dr.ravel(), dc.ravel()
    gauss = np.exp(-(dr**2 + dc**2) / (2.0 * sigma**2)).astype(np.float32)
    rr = row[:, None] + dr[None, :]
    cc = col[:, None] + dc[None, :]
    ok = (rr >= 0) & (rr < hh) & (cc >= 0) & (cc < ww)
    flat = ((owner[obj][:, None] * hh + rr) * ww + cc) * num_k + k[:, None]
    values = np.broadcast_to(gauss, flat.shape)
    np.maximum.at(out.reshape(-1), flat[ok], values[ok])
    return out, outside


def decode_heatmaps(
    heatmaps: np.ndarray,
    image_size: tuple[int, int],
    threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """The strongest point of each heatmap channel, as one keypoint per channel (one object).

    Args:
        heatmaps: (Hh, Wh, K) float heatmaps of one image.
        image_size: (H, W) of the image the keypoints are returned in.
        threshold: the least peak value of a keypoint marked visible.

    Returns:
        ``keypoints`` (K, 3) float32: x, y at the centre of the peak cell, in pixels of an image
        of size ``image_size``, and visibility 2 where the peak reaches ``threshold`` (else 0);
        and ``scores`` (K,) float32, the peak values. Decoding several objects needs a grouping
        step and is not done here.
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    if heatmaps.ndim != 3:
        raise ValueError(f"heatmaps must be (Hh, Wh, K), got {heatmaps.shape}")
    hh, ww, num_k = heatmaps.shape
    h, w = image_size
    flat = heatmaps.reshape(hh * ww, num_k)
    best = np.argmax(flat, axis=0)
    scores = flat[best, np.arange(num_k)]
    row, col = np.divmod(best, ww)
    out = np.stack([(col + 0.5) * w / ww, (row + 0.5) * h / hh, np.where(scores >= threshold, 2.0, 0.0)], axis=1)
    return out.astype(np.float32), scores.astype(np.float32)


def heatmap_peaks(heatmaps: np.ndarray, image_size: tuple[int, int], threshold: float) -> tuple[np.ndarray, bool]:
    """Local maxima of each keypoint channel → keypoints at the peak cells' centres.

    One peak per channel is one object (drawn with its skeleton); otherwise every peak is drawn
    as a point of its own (grouping peaks into objects is the model's job, not the preview's).
    """
    hh, ww, num_k = heatmaps.shape
    h, w = image_size
    points = []
    for k in range(num_k):
        channel = np.ascontiguousarray(heatmaps[..., k])
        peak = (channel >= threshold) & (channel == cv2.dilate(channel, np.ones((3, 3), np.uint8)))
        points.append(np.argwhere(peak))
    if all(len(p) <= 1 for p in points):
        kp = np.zeros((1, num_k, 3), np.float32)
        for k, p in enumerate(points):
            if len(p):
                r, c = p[0]
                kp[0, k] = ((c + 0.5) * w / ww, (r + 0.5) * h / hh, 2)
        return kp, True
    flat = [((c + 0.5) * w / ww, (r + 0.5) * h / hh, 2) for p in points for r, c in p]
    return np.array(flat, np.float32).reshape(-1, 1, 3), False


class HeatmapEncoder(TargetEncoder):
    """Per-keypoint Gaussian heatmaps (CenterNet style): (Hh, Wh, K) float32.

    Each labelled keypoint of each object of ``sample.keypoints`` is drawn as a Gaussian with
    peak exactly 1.0 at the heatmap cell that contains it; overlapping objects give the maximum.
    Keypoints with visibility below ``min_visibility`` (by default those with v = 0) are not
    drawn, and visible keypoints outside the image are counted in
    ``stats["keypoints_not_encoded"]``. An image without objects encodes to all zeros. A sample
    with boxes but no keypoints is an :class:`~seqloaders.EncodingError`.

    Args:
        num_keypoints: K, the keypoints per object.
        output_stride: heatmap cells per input pixel, inverted: the heatmaps are
            ``ceil(H / output_stride)`` × ``ceil(W / output_stride)`` (CenterNet uses 4).
        heatmap_size: (Hh, Wh), instead of ``output_stride``; any image size then maps onto it.
        sigma: the Gaussian's standard deviation, in heatmap cells.
        image_size: (H, W) of the model input: needed for a fixed ``output_shape`` with
            ``output_stride`` (else its H and W are None), and then checked at encode time.
        min_visibility: 1 (default) draws v = 1 and v = 2; 2 draws only visible keypoints.

    Example:
        >>> import numpy as np, seqloaders as sl
        >>> from seqloaders.encoders import HeatmapEncoder
        >>> enc = HeatmapEncoder(num_keypoints=2, output_stride=4, sigma=1.0, image_size=(32, 32))
        >>> s = sl.Sample("a.jpg", boxes=[[0, 0, 32, 32]], labels=[0], keypoints=[[[10, 6, 2], [0, 0, 0]]])
        >>> hm = enc.encode_sample(s, (32, 32))
        >>> hm.shape, hm[1, 2, 0], hm[..., 1].max()
        ((8, 8, 2), np.float32(1.0), np.float32(0.0))
        >>> enc.decode(hm, (32, 32))[0].tolist()
        [[10.0, 6.0, 2.0], [2.0, 2.0, 0.0]]
    """

    def __init__(
        self,
        num_keypoints: int,
        output_stride: int | None = 4,
        heatmap_size: tuple[int, int] | None = None,
        sigma: float = 2.0,
        *,
        image_size: tuple[int, int] | None = None,
        min_visibility: int = 1,
    ):
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        if heatmap_size is not None:
            heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
            if min(heatmap_size) < 1:
                raise ValueError(f"heatmap_size must be positive (Hh, Wh), got {heatmap_size}")
            output_stride = None
        elif output_stride is None or int(output_stride) < 1 or int(output_stride) != output_stride:
            raise ValueError(f"give a positive integer output_stride or a heatmap_size, "
                             f"got output_stride={output_stride}")
        else:
            output_stride = int(output_stride)
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if min_visibility not in (1, 2):
            raise ValueError(f"min_visibility must be 1 or 2, got {min_visibility}")
        self.num_keypoints = int(num_keypoints)
        self.output_stride = output_stride
        self.heatmap_size = heatmap_size
        self.sigma = float(sigma)
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        self.min_visibility = int(min_visibility)
        if heatmap_size is not None:
            hw: tuple = heatmap_size
        elif self.image_size is not None:
            hw = _heatmap_hw(self.image_size, None, output_stride)
        else:
            hw = (None, None)
        self.output_shape = (*hw, self.num_keypoints)
        self.dtype = np.float32

    def _size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        if self.image_size is not None and self.heatmap_size is None and tuple(image_size) != self.image_size:
            raise EncodingError(f"HeatmapEncoder was built for image_size={self.image_size} but is asked to encode "
                                f"samples of size {tuple(image_size)}")
        return _heatmap_hw(image_size, self.heatmap_size, self.output_stride)

    def _encode(self, samples: Sequence[Sample], image_size: tuple[int, int]) -> tuple[np.ndarray, int]:
        kps = [_sample_keypoints(s, self.num_keypoints, "HeatmapEncoder") for s in samples]
        if not kps:
            return np.zeros((0, *self._size(image_size), self.num_keypoints), np.float32), 0
        return encode_heatmaps(kps, image_size, self._size(image_size), self.sigma, self.min_visibility)

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> np.ndarray:
        """Encode one sample to (Hh, Wh, K) float32 heatmaps."""
        return self._encode([sample], image_size)[0][0]

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> np.ndarray:
        """Encode a batch to (B, Hh, Wh, K) float32 heatmaps."""
        heatmaps, outside = self._encode(samples, image_size)
        if stats is not None:
            stats["keypoints_not_encoded"] = stats.get("keypoints_not_encoded", 0) + outside
        return heatmaps

    def decode(self, heatmaps: np.ndarray, image_size: tuple[int, int] | None = None, *,
               threshold: float = 0.5) -> Decoded:
        """(Hh, Wh, K) heatmaps of one single-object image → one keypoint set (1, K, 3) and the K peak scores.

        Unpacks as ``(keypoints (K, 3), scores (K,))``.
        """
        keypoints, scores = decode_heatmaps(heatmaps, check_image_size(image_size or self.image_size, self), threshold)
        return Decoded(keypoints=keypoints[None], scores=scores, legacy=(keypoints, scores))

    def preview_layers(self, heatmaps: np.ndarray, image_size: tuple[int, int], threshold: float = 0.5) -> dict:
        """What ``seqloaders preview`` draws: the heatmaps' maximum, and every local peak (a model's may hold
        several)."""
        heatmaps = np.asarray(heatmaps, np.float32)
        return {"heatmap": heatmaps.max(axis=-1), "keypoints": heatmap_peaks(heatmaps, image_size, threshold)}

    def __repr__(self) -> str:
        size = f"heatmap_size={self.heatmap_size}" if self.heatmap_size else f"output_stride={self.output_stride}"
        image = f", image_size={self.image_size}" if self.image_size else ""
        return (f"HeatmapEncoder(num_keypoints={self.num_keypoints}, {size}, sigma={self.sigma:g}{image}, "
                f"min_visibility={self.min_visibility}) -> {self.output_shape}")


def encode_keypoints(
    keypoints: Sequence[np.ndarray],
    max_objects: int,
    image_size: tuple[int, int] | None = None,
    relative: bool = False,
    pad_value: float = -1.0,
) -> tuple[np.ndarray, int]:
    """Pad a batch of keypoint sets to a fixed number of objects.

    Args:
        keypoints: B arrays of (N_i, K, 3) float x, y (pixels of an image of size
            ``image_size``) and visibility.
        max_objects: M, the objects per image; the first M of each image are kept.
        image_size: (H, W), needed when ``relative``.
        relative: divide x by W and y by H.
        pad_value: the value of every entry (x, y and visibility) of unused rows.

    Returns:
        (B, M, K, 3) float32 and the number of objects left out.
    """
    if max_objects < 1:
        raise ValueError(f"max_objects must be >= 1, got {max_objects}")
    arrays = [np.asarray(k, np.float32) for k in keypoints]
    num_k = next((a.shape[1] for a in arrays if a.ndim == 3), None)
    if num_k is None:
        raise ValueError("cannot tell the number of keypoints: give arrays of shape (N, K, 3)")
    if any(a.ndim != 3 or a.shape[1:] != (num_k, 3) for a in arrays):
        raise EncodingError(f"every keypoint array must be (N, {num_k}, 3), got {[a.shape for a in arrays]}")
    out = np.full((len(arrays), max_objects, num_k, 3), pad_value, np.float32)
    counts = [len(a) for a in arrays]
    if sum(counts) == 0:
        return out, 0
    kp = np.concatenate(arrays)
    if relative:
        if image_size is None:
            raise ValueError("relative keypoints need image_size=(H, W)")
        kp = kp / np.array([image_size[1], image_size[0], 1], np.float32)
    kept, owner, slot = select_slots(counts, max_objects)
    out[owner, slot] = kp[kept]
    return out, sum(counts) - len(kept)


class KeypointEncoder(TargetEncoder):
    """Raw keypoint coordinates with visibility, padded to M objects: (M, K, 3) float32.

    Row i is object i of the sample (the first M are kept, the rest counted in
    ``stats["boxes_not_encoded"]``), so it lines up with row i of a
    :class:`~seqloaders.encoders.PaddedBoxEncoder` with the same M and ``overflow="first"``.
    Unused rows are ``pad_value`` everywhere, visibility included, so a loss can tell padding
    (v = -1) from an unlabelled keypoint (v = 0). A sample with boxes but no keypoints is an
    :class:`~seqloaders.EncodingError`.

    Args:
        max_objects: M, the objects per image.
        num_keypoints: K, the keypoints per object.
        relative: give x / W and y / H instead of pixels of the model input.
        pad_value: the value of unused rows.

    Example:
        >>> import seqloaders as sl
        >>> from seqloaders.encoders import KeypointEncoder
        >>> enc = KeypointEncoder(max_objects=2, num_keypoints=1)
        >>> s = sl.Sample("a.jpg", boxes=[[0, 0, 8, 8]], labels=[0], keypoints=[[[3, 4, 2]]])
        >>> enc.encode_sample(s, (8, 8)).tolist()
        [[[3.0, 4.0, 2.0]], [[-1.0, -1.0, -1.0]]]
    """

    def __init__(self, max_objects: int, num_keypoints: int, *, relative: bool = False, pad_value: float = -1.0):
        if int(max_objects) < 1:
            raise ValueError(f"max_objects must be >= 1, got {max_objects}")
        if int(num_keypoints) < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        self.max_objects = int(max_objects)
        self.num_keypoints = int(num_keypoints)
        self.relative = bool(relative)
        self.pad_value = float(pad_value)
        self.output_shape = (self.max_objects, self.num_keypoints, 3)
        self.dtype = np.float32

    def _encode(self, samples: Sequence[Sample], image_size: tuple[int, int]) -> tuple[np.ndarray, int]:
        kps = [_sample_keypoints(s, self.num_keypoints, "KeypointEncoder") for s in samples]
        if not kps:
            return np.zeros((0, *self.output_shape), np.float32), 0
        return encode_keypoints(kps, self.max_objects, image_size, self.relative, self.pad_value)

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> np.ndarray:
        """Encode one sample to (M, K, 3) float32."""
        return self._encode([sample], image_size)[0][0]

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> np.ndarray:
        """Encode a batch to (B, M, K, 3) float32."""
        out, dropped = self._encode(samples, image_size)
        if stats is not None:
            stats["boxes_not_encoded"] = stats.get("boxes_not_encoded", 0) + dropped
        return out

    def decode(self, target: np.ndarray, image_size: tuple[int, int] | None = None, *,
               threshold: float = 0.5) -> Decoded:
        """One image's (M, K, 3) target → ``keypoints`` (N, K, 3) float32 in pixels, padding rows removed.

        Unpacks as ``(keypoints,)``.
        """
        kp = self._decode(target, check_image_size(image_size, self) if self.relative else image_size)
        return Decoded(keypoints=kp, legacy=(kp,))

    def _decode(self, target: np.ndarray, image_size: tuple[int, int] | None) -> np.ndarray:
        target = np.asarray(target, np.float32)
        real = ~np.all(target == np.float32(self.pad_value), axis=(1, 2))
        kp = target[real].copy()
        if self.relative:
            kp[..., 0] *= image_size[1]
            kp[..., 1] *= image_size[0]
        return kp

    def __repr__(self) -> str:
        return (f"KeypointEncoder(max_objects={self.max_objects}, num_keypoints={self.num_keypoints}, "
                f"relative={self.relative}, pad_value={self.pad_value:g}) -> {self.output_shape}")

"""The conformance base class every target encoder's tests inherit (as the formats have theirs).

An encoder's test class says how to build the encoder and what its layout can hold, and inherits
the checks below: the batch has the declared shapes and dtypes, ``decode`` follows the protocol
(one signature, a ``Decoded`` back), and encoding then decoding hand-made samples (boxes on the
image's border, an empty image, boxes that collide in the layout) gives back what the layout
holds and nothing it was not given::

    from .conformance import EncoderConformance

    class TestMyEncoder(EncoderConformance):
        holds = ("boxes", "labels")

        def make_encoder(self):
            return MyEncoder(...)
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

import seqloaders as sl
from seqloaders.encoders.base import Decoded, target_of
from seqloaders.evaluate import box_overlaps

SIZE = (64, 96)  # (H, W) of the model input


def _array_tree(y, shape, dtype):
    if isinstance(shape, dict):
        assert set(y) == set(shape), (set(y), set(shape))
        for key in shape:
            _array_tree(y[key], shape[key], dtype[key] if isinstance(dtype, dict) else dtype)
        return
    if isinstance(y, (tuple, list)):  # several arrays (one per scale): a shape for each
        assert len(y) == len(shape), (len(y), shape)
        for k, part in enumerate(y):
            _array_tree(part, shape[k], dtype[k] if isinstance(dtype, (tuple, list)) else dtype)
        return
    assert isinstance(y, np.ndarray), type(y)
    assert len(y.shape[1:]) == len(shape), (y.shape, shape)
    assert all(d is None or d == got for d, got in zip(shape, y.shape[1:], strict=True)), (y.shape, shape)  # None: any
    assert y.dtype == np.dtype(dtype), (y.dtype, dtype)


class EncoderConformance:
    """Checks every TargetEncoder passes; subclasses give ``make_encoder`` and what the layout ``holds``."""

    #: what a decoded target gives back: any of "boxes", "labels", "masks", "keypoints", "class_map", "label"
    holds: ClassVar[tuple[str, ...]] = ("boxes", "labels")
    image_size: ClassVar[tuple[int, int]] = SIZE
    #: how close a decoded box must be to the one encoded (pixels)
    box_tolerance: ClassVar[float] = 0.05
    num_classes: ClassVar[int] = 3

    def make_encoder(self):
        raise NotImplementedError

    # -- hand-made samples ---------------------------------------------------------------------

    def separate_sample(self) -> sl.Sample:
        """Boxes far apart (one per grid cell of any coarse layout), two of them on the image's border."""
        h, w = self.image_size
        boxes = np.array([[0, 0, 20, 16], [w - 24, h - 20, w, h], [36, 22, 60, 42]], np.float32)
        return self._with_targets(sl.Sample("separate.jpg", boxes=boxes, labels=[0, 2, 1], image_size=self.image_size))

    def colliding_sample(self) -> sl.Sample:
        """Two boxes with the same centre, and more boxes than a small layout has room for."""
        _h, w = self.image_size
        boxes = [[40, 24, 56, 40], [38, 22, 58, 42]] + [[x, 2, x + 6, 8] for x in range(2, w - 8, 9)]
        labels = [i % self.num_classes for i in range(len(boxes))]
        return self._with_targets(sl.Sample("colliding.jpg", boxes=np.array(boxes, np.float32), labels=labels,
                                            image_size=self.image_size))

    def empty_sample(self) -> sl.Sample:
        return self._with_targets(sl.Sample("empty.jpg", image_size=self.image_size))

    def _with_targets(self, sample: sl.Sample) -> sl.Sample:
        """The sample with what every layout might read: rendered masks, keypoints at box centres, a label."""
        h, w = self.image_size
        masks = np.zeros((sample.num_boxes, h, w), bool)
        for k, (x1, y1, x2, y2) in enumerate(sample.boxes.astype(int)):
            masks[k, y1:y2, x1:x2] = True
        centres = (sample.boxes[:, :2] + sample.boxes[:, 2:]) / 2
        keypoints = np.concatenate([centres, np.full((sample.num_boxes, 1), 2.0)], axis=1)[:, None].astype(np.float32)
        label = int(sample.labels[0]) if sample.num_boxes else 0
        return sample.replace(masks=masks, keypoints=keypoints, attributes={**sample.attributes},
                              meta={**sample.meta, "label": label})

    # -- checks --------------------------------------------------------------------------------

    def _encode(self, samples):
        encoder = self.make_encoder()
        y = encoder.encode_batch(samples, self.image_size, {})
        return encoder, y

    def test_the_batch_has_the_declared_shapes_and_dtypes(self):
        samples = [self.separate_sample(), self.empty_sample(), self.colliding_sample()]
        encoder, y = self._encode(samples)
        shape = encoder.output_shape
        _array_tree(y, shape, encoder.dtype)
        leaves = list(y.values()) if isinstance(y, dict) else list(y) if isinstance(y, (tuple, list)) else [y]
        assert all(len(leaf) == len(samples) for leaf in leaves)

    def test_decode_follows_the_protocol(self):
        encoder, y = self._encode([self.separate_sample()])
        decoded = encoder.decode(target_of(y, 0), self.image_size, threshold=0.5)
        assert isinstance(decoded, Decoded)
        assert decoded.boxes.dtype == np.float32 and decoded.boxes.shape[1:] == (4,)
        for name in ("masks", "keypoints", "class_map", "label"):
            if name not in self.holds:
                assert getattr(decoded, name) is None, f"{name} is not in what this layout holds"

    def test_encode_then_decode_gives_back_the_separate_boxes(self):
        sample = self.separate_sample()
        encoder, y = self._encode([sample])
        decoded = encoder.decode(target_of(y, 0), self.image_size)
        if "boxes" in self.holds:
            self._same_boxes(decoded, sample)
        if "masks" in self.holds:
            assert decoded.masks.shape == (sample.num_boxes, *self.image_size)
            order = self._match(decoded.boxes, sample.boxes)
            np.testing.assert_array_equal(decoded.masks, sample.masks[order])
        if "keypoints" in self.holds:
            got = decoded.keypoints.reshape(-1, 3)
            want = sample.keypoints.reshape(-1, 3)
            assert len(got) == len(want)
            for point in want:  # each keypoint comes back (a layout may order objects its own way)
                assert np.abs(got[:, :2] - point[:2]).max(axis=1).min() <= 1.0, (point, got)
        if "label" in self.holds:
            assert decoded.label == sample.meta["label"]

    def test_an_empty_image_decodes_to_nothing(self):
        encoder, y = self._encode([self.empty_sample()])
        decoded = encoder.decode(target_of(y, 0), self.image_size)
        assert len(decoded.boxes) == 0
        if "masks" in self.holds:
            assert len(decoded.masks) == 0
        if "keypoints" in self.holds:
            assert decoded.keypoints is None or (decoded.keypoints[..., 2] > 0).sum() == 0
        if "class_map" in self.holds:
            assert len(np.unique(decoded.class_map)) == 1

    def test_collisions_keep_only_boxes_that_were_given(self):
        sample = self.colliding_sample()
        encoder, y = self._encode([sample])
        decoded = encoder.decode(target_of(y, 0), self.image_size)
        if "boxes" not in self.holds or not len(decoded.boxes):
            return
        assert len(decoded.boxes) <= sample.num_boxes
        overlaps = box_overlaps(decoded.boxes.astype(np.float64), sample.boxes.astype(np.float64))
        best = overlaps.argmax(axis=1)
        assert (overlaps.max(axis=1) > 0.99).all(), overlaps.max(axis=1)  # no box invented or blended
        np.testing.assert_array_equal(decoded.labels, sample.labels[best])

    # -- helpers -------------------------------------------------------------------------------

    def _match(self, got: np.ndarray, want: np.ndarray) -> np.ndarray:
        """For each decoded box, the index of the encoded box it is."""
        distance = np.abs(got[:, None, :] - want[None, :, :]).max(axis=2)
        return distance.argmin(axis=1)

    def _same_boxes(self, decoded: Decoded, sample: sl.Sample) -> None:
        assert len(decoded.boxes) == sample.num_boxes, (decoded.boxes, sample.boxes)
        order = self._match(decoded.boxes, sample.boxes)
        assert sorted(order.tolist()) == list(range(sample.num_boxes))
        np.testing.assert_allclose(decoded.boxes, sample.boxes[order], atol=self.box_tolerance)
        if "labels" in self.holds:
            np.testing.assert_array_equal(decoded.labels, sample.labels[order])

"""Every encoder of the library through the conformance checks (tests/encoders/conformance.py)."""

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import (
    AnchorGridEncoder,
    ClassificationEncoder,
    InstanceMaskEncoder,
    KeypointEncoder,
    PaddedBoxEncoder,
    SemanticMaskEncoder,
)
from seqloaders.encoders.base import Decoded, TargetEncoder

from .conformance import EncoderConformance


class TestGridConformance(EncoderConformance):
    def make_encoder(self):
        return sl.GridEncoder(grid_size=(4, 6), num_classes=self.num_classes)


class TestPaddedConformance(EncoderConformance):
    def make_encoder(self):
        return PaddedBoxEncoder(max_boxes=6)


class TestPaddedRelativeYxyxConformance(EncoderConformance):
    box_tolerance = 0.01

    def make_encoder(self):
        return PaddedBoxEncoder(max_boxes=6, box_format="rel_yxyx")


class TestAnchorConformance(EncoderConformance):
    box_tolerance = 0.05

    def make_encoder(self):
        return AnchorGridEncoder([[(20, 18), (24, 20)], [(8, 8)]], strides=[16, 8], num_classes=self.num_classes,
                                 image_size=self.image_size)


class TestInstanceMaskConformance(EncoderConformance):
    holds = ("boxes", "labels", "masks")
    box_tolerance = 0.0

    def make_encoder(self):
        return InstanceMaskEncoder(max_instances=6)


class TestKeypointConformance(EncoderConformance):
    holds = ("keypoints",)

    def make_encoder(self):
        return KeypointEncoder(max_objects=6, num_keypoints=1)


class TestClassificationConformance(EncoderConformance):
    holds = ("label",)

    def make_encoder(self):
        return ClassificationEncoder(num_classes=self.num_classes)

    def empty_sample(self):  # an image-level class needs no box, but must be given
        return super().empty_sample().replace(meta={"label": 1})


class TestSemanticConformance(EncoderConformance):
    holds = ("class_map",)

    def make_encoder(self):
        return SemanticMaskEncoder(num_classes=self.num_classes + 1, label_offset=1)

    def test_the_class_map_is_the_boxes_painted(self):
        sample = self.separate_sample()
        encoder = self.make_encoder()
        decoded = encoder.decode(encoder.encode_sample(sample, self.image_size), self.image_size)
        masks = np.asarray(sample.masks)
        for mask, label in zip(masks, sample.labels, strict=True):
            assert (decoded.class_map[mask] == label + 1).all()
        assert (decoded.class_map[~masks.any(axis=0)] == 0).all()


def test_the_checks_have_teeth():
    """An encoder that shifts its boxes by a pixel fails the round trip."""

    class Shifted(PaddedBoxEncoder):
        def decode(self, target, image_size=None, *, threshold=0.5):
            d = super().decode(target, image_size, threshold=threshold)
            return Decoded(boxes=d.boxes + 1, labels=d.labels)

    class TestShifted(EncoderConformance):
        def make_encoder(self):
            return Shifted(max_boxes=6)

    with pytest.raises(AssertionError):
        TestShifted().test_encode_then_decode_gives_back_the_separate_boxes()


def test_a_users_encoder_without_decode_says_what_to_implement():
    class HasObject(TargetEncoder):
        output_shape = (1,)

        def encode_sample(self, sample, image_size):
            return np.array([sample.num_boxes > 0], np.float32)

    with pytest.raises(NotImplementedError, match=r"decode\(target, image_size, \*, threshold=0.5\)"):
        HasObject().decode(np.ones(1), (8, 8))


def test_a_decoded_unpacks_as_the_tuple_decode_gave_before():
    grid = sl.GridEncoder(grid_size=2)
    y = grid.encode_sample(sl.Sample("a.jpg", boxes=[[0, 0, 8, 8]], labels=[0]), (16, 16))
    boxes, scores, labels = grid.decode(y, (16, 16))
    assert boxes.shape == (1, 4) and scores.tolist() == [1.0] and labels.tolist() == [0]
    with pytest.raises(TypeError, match="pass threshold by keyword"):
        grid.decode(y, 0.3)

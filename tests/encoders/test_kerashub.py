"""keras_hub_targets: the encoders' arrays (no keras-hub needed), and KerasHub detectors built from
small configs with random weights (no download) trained on them (skipped without keras-hub).

The suite checks D-FINE's targets against its own ``compute_loss`` (eagerly, 4 s); the README's
example (tests/test_readme.py) trains both for two steps. The compiled fits here take 6 s
(RetinaNet) and about a minute (D-FINE traces its Hungarian matcher) on 2 cores: they run with
``SEQLOADERS_SLOW_KERAS_HUB=1``.
"""

import os

import keras
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import (
    KERAS_HUB_DETECTORS,
    PaddedBoxEncoder,
    RepeatPaddedBoxEncoder,
    keras_hub_targets,
)

SIZE = 64


def test_retinanet_targets_are_padded_pixel_boxes_in_the_models_format():
    enc = keras_hub_targets("retinanet", max_boxes=3)
    assert type(enc) is PaddedBoxEncoder and enc.box_format == "yxyx"
    y = enc.encode_sample(sl.Sample("a.jpg", boxes=[[10, 20, 30, 60]], labels=[2]), (SIZE, SIZE))
    assert y["boxes"].tolist() == [[20, 10, 60, 30], [-1] * 4, [-1] * 4]
    assert y["labels"].tolist() == [2, -1, -1]
    assert keras_hub_targets("RetinaNet", bounding_box_format="xyxy").box_format == "xyxy"


def test_d_fine_targets_are_normalised_centre_boxes_repeated_to_every_row():
    enc = keras_hub_targets("d-fine", max_boxes=5)
    assert isinstance(enc, RepeatPaddedBoxEncoder) and enc.box_format == "rel_cxcywh"
    sample = sl.Sample("a.jpg", boxes=[[0, 0, 32, 16], [32, 32, 64, 64]], labels=[0, 1])
    y = enc.encode_sample(sample, (SIZE, SIZE))
    np.testing.assert_allclose(y["boxes"][:2], [[0.25, 0.125, 0.5, 0.25], [0.75, 0.75, 0.5, 0.5]])
    np.testing.assert_array_equal(y["boxes"][2:], y["boxes"][[0, 1, 0]])
    assert y["labels"].tolist() == [0, 1, 0, 1, 0]
    boxes, labels = enc.decode(y, (SIZE, SIZE))
    np.testing.assert_allclose(boxes, sample.boxes)
    assert labels.tolist() == [0, 1]
    batch = enc.encode_batch([sl.Sample("b.jpg"), sample], (SIZE, SIZE))
    assert (batch["labels"][0] == -1).all() and batch["boxes"].shape == (2, 5, 4)


def test_unknown_family_and_wrong_format_are_refused():
    with pytest.raises(ValueError, match="available: retinanet, d_fine"):
        keras_hub_targets("yolo")
    with pytest.raises(ValueError, match="rel_cxcywh"):
        keras_hub_targets("d_fine", bounding_box_format="xyxy")
    assert set(KERAS_HUB_DETECTORS) == {"retinanet", "d_fine"}


# -- real detectors ------------------------------------------------------------------------------

try:
    import keras_hub
except ImportError:
    keras_hub = None
needs_keras_hub = pytest.mark.skipif(keras_hub is None, reason="keras-hub is not installed")


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    toy = sl.make_toy_dataset(tmp_path_factory.mktemp("kerashub"), num_images=8, image_size=(40, 56), seed=2)
    return sl.read_wider_face(toy.annotations, toy.images)


def small_retinanet():
    """A RetinaNet of ~0.2 M random weights: a 3-stage ResNet, levels P3-P4, 8-16 px anchors."""
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16, 16],
        stackwise_num_blocks=[1, 1, 1], stackwise_num_strides=[1, 2, 2], block_type="basic_block",
        image_shape=(SIZE, SIZE, 3))
    backbone = keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=4, use_p5=False,
                                                  image_shape=(SIZE, SIZE, 3))
    anchors = keras_hub.layers.AnchorGenerator("yxyx", min_level=3, max_level=4, num_scales=2, aspect_ratios=[1.0],
                                               anchor_size=2)
    return keras_hub.models.RetinaNetObjectDetector(backbone=backbone, num_classes=1, anchor_generator=anchors,
                                                    pre_logits_num_conv_layers=1)


def small_d_fine():
    """A D-FINE of random weights: a 4-stage HGNetV2 of 8-64 channels, 10 queries, one decoder layer."""
    hgnet = keras_hub.models.HGNetV2Backbone(
        stem_channels=[3, 8, 8],
        stackwise_stage_filters=[[8, 8, 16, 1, 1, 3], [16, 8, 32, 1, 1, 3], [32, 16, 64, 1, 1, 3],
                                 [64, 16, 64, 1, 1, 3]],
        apply_downsample=[False, True, True, True], use_lightweight_conv_block=[False, False, True, True],
        depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 64], embedding_size=8, use_learnable_affine_block=True,
        hidden_act="relu", image_shape=(SIZE, SIZE, 3), out_features=["stage3", "stage4"])
    backbone = keras_hub.models.DFineBackbone(
        backbone=hgnet, decoder_in_channels=[16, 16], encoder_hidden_dim=16, num_denoising=0, num_labels=1,
        hidden_dim=16, learn_initial_query=False, num_queries=10, anchor_image_size=(SIZE, SIZE),
        feat_strides=[16, 32], num_feature_levels=2, encoder_in_channels=[64, 64], encode_proj_layers=[1],
        num_attention_heads=2, encoder_ffn_dim=16, num_encoder_layers=1, hidden_expansion=0.34, depth_multiplier=0.5,
        eval_idx=-1, num_decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=16, decoder_n_points=[2, 2],
        lqe_hidden_dim=8, num_lqe_layers=1, out_features=["stage3", "stage4"], image_shape=(SIZE, SIZE, 3))
    return keras_hub.models.DFineObjectDetector(backbone=backbone, num_classes=1)


def fit(model, samples, family):
    seq = sl.DetectionSequence(samples, batch_size=4, image_size=(SIZE, SIZE),
                               encoder=keras_hub_targets(family, max_boxes=4))
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    try:
        # KerasHub's fit takes tf.data (or Grain) only; shuffle=False: the Sequence shuffles itself
        losses = model.fit(sl.to_tf_dataset(seq, repeat=True), steps_per_epoch=len(seq), epochs=1, verbose=0,
                           shuffle=False).history["loss"]
    finally:
        seq.close()
    assert np.isfinite(losses).all() and losses[0] > 0, losses  # > 0: boxes matched anchors / queries


SLOW = pytest.mark.skipif(not os.environ.get("SEQLOADERS_SLOW_KERAS_HUB"),
                          reason="compiled keras-hub fits are slow on a CPU: set SEQLOADERS_SLOW_KERAS_HUB=1")


@needs_keras_hub
@SLOW
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning:jax.*")  # int64 ids in D-FINE's loss under JAX
def test_retinanet_trains_on_its_targets(samples):
    pytest.importorskip("tensorflow", reason="to_tf_dataset needs TensorFlow")
    fit(small_retinanet(), samples, "retinanet")


@needs_keras_hub
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning:jax.*")  # int64 ids in D-FINE's loss under JAX
def test_d_fine_loss_reads_its_targets(samples):
    model = small_d_fine()
    seq = sl.DetectionSequence(samples, batch_size=4, image_size=(SIZE, SIZE),
                               encoder=keras_hub_targets("d_fine", max_boxes=4))
    x, y = seq[0]
    seq.close()
    loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True), sample_weight=None)
    assert np.isfinite(float(keras.ops.convert_to_numpy(loss))) and float(keras.ops.convert_to_numpy(loss)) > 0


@needs_keras_hub
@pytest.mark.slow
@SLOW
def test_d_fine_trains_on_its_targets(samples):
    pytest.importorskip("tensorflow", reason="to_tf_dataset needs TensorFlow")
    fit(small_d_fine(), samples, "d_fine")

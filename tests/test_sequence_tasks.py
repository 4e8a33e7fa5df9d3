"""Segmentation, instance, keypoint and classification sequences: targets stay on their pixels, and each trains.

The toy scenes paint every object in its class colour, so the pixels of a batch say where each
class is; the targets decoded from the same batch must say the same after resizing, letterboxing
and augmentation.
"""

import keras
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.encoders import InstanceMaskEncoder, KeypointEncoder, PaddedBoxEncoder, masks_to_boxes
from seqloaders.toy import TOY_COLORS as _COLORS

NUM_CLASSES = len(sl.toy.TOY_CLASSES) + 1  # background 0, toy class k → k + 1


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    return sl.make_toy_formats(root, ["coco", "maskfolders", "yolo-segment", "yolo-pose", "classfolders"],
                               num_images=12, seed=5)


def colour_region(image, label, tol=40):
    """Pixels of ``image`` ((H, W, 3) uint8) painted in the colour of toy class ``label``."""
    return (np.abs(image.astype(int) - np.array(_COLORS[label])) < tol).all(axis=-1)


def iou(a, b):
    union = (a | b).sum()
    return 1.0 if union == 0 else (a & b).sum() / union


def class_ious(x, y, per_class=True):
    """IoU of each class map region with the pixels of that class's colour, over a batch.

    Without ``per_class`` (formats with one class, such as mask folders) the foreground is
    compared with the pixels of any object colour.
    """
    ious = []
    for image, class_map in zip(x, y):
        if not per_class:
            target = (class_map > 0) & (class_map != 255)
            if target.sum() >= 20:
                ious.append(iou(target, np.any([colour_region(image, k) for k in range(NUM_CLASSES - 1)], axis=0)))
            continue
        for label in range(NUM_CLASSES - 1):
            target = class_map == label + 1
            if target.sum() >= 20:
                ious.append(iou(target, colour_region(image, label)))
    return np.array(ious)


def geometric_augmentation():
    """Flip and affine, no colour change (the test finds objects by their colour)."""
    import albumentations as A

    return A.Compose([A.HorizontalFlip(p=0.5), A.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1),
                                                        rotate=(-15, 15), p=1.0)],
                     bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
                     keypoint_params=A.KeypointParams(format="xy", remove_invisible=False))


@pytest.mark.parametrize("fmt", ["coco", "maskfolders", "yolo-segment"])
@pytest.mark.parametrize("augment", [None, "geometric"])
@pytest.mark.parametrize("augment_at", ["output", "source"])
def test_semantic_masks_stay_on_their_pixels(toys, fmt, augment, augment_at):
    samples = toys[fmt].read()
    if fmt == "yolo-segment":  # YOLO keeps one polygon per object: drop the two-part cars
        samples = [s.select(s.labels != 1) for s in samples]
    seq = sl.SegmentationSequence(samples, num_classes=NUM_CLASSES, batch_size=6, image_size=(60, 84),
                                  augment=geometric_augmentation() if augment else None, augment_at=augment_at,
                                  preprocess="uint8", seed=2)
    per_class = fmt != "maskfolders"
    ious = np.concatenate([class_ious(*seq[i], per_class=per_class) for i in range(len(seq))])
    assert len(ious) >= 6
    assert ious.min() > 0.6 and np.median(ious) > 0.8, ious
    # the same targets shifted by a few pixels no longer match: the check has teeth
    x, y = seq[0]
    shifted = np.roll(y, 6, axis=2)
    assert np.median(class_ious(x, shifted, per_class)) < np.median(class_ious(x, y, per_class)) - 0.2


def test_masks_are_resized_with_nearest_neighbour_only(toys):
    seq = sl.SegmentationSequence(toys["coco"].read(), num_classes=NUM_CLASSES, batch_size=12, image_size=(37, 53),
                                  augment="detection", seed=1)
    _, y = seq[0]
    assert y.dtype == np.int32
    assert set(np.unique(y)) <= {*range(NUM_CLASSES), 255}


def test_letterbox_padding_is_ignored(toys):
    # toy images are wider than tall: a square output pads top and bottom
    seq = sl.SegmentationSequence(toys["maskfolders"].read(), num_classes=NUM_CLASSES, batch_size=4,
                                  image_size=(96, 96), resize="letterbox", shuffle=False, preprocess="uint8")
    x, y = seq[0]
    for image, class_map, sample in zip(x, y, seq.samples[:4]):
        h, w = sample.image_size
        content = round(h * 96 / w)
        top = (96 - content) // 2
        assert (class_map[:top] == 255).all() and (class_map[top + content:] == 255).all()
        assert not (class_map[top:top + content] == 255).any()
        assert (image[:top] == 0).all()


def test_augmentation_borders_are_ignored_and_crowds_optional(toys):
    import albumentations as A

    shift = A.Compose([A.Affine(translate_px={"x": 20, "y": 0}, p=1.0)],
                      bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    seq = sl.SegmentationSequence(toys["maskfolders"].read(), num_classes=NUM_CLASSES, batch_size=4,
                                  image_size=(64, 64), augment=shift, shuffle=False)
    _, y = seq[0]
    assert (y[:, :, :20] == 255).all() and not (y[:, :, 21:] == 255).any()
    unpadded = sl.SegmentationSequence(toys["maskfolders"].read(), encoder=sl.encoders.SemanticMaskEncoder(
        NUM_CLASSES, label_offset=1, padding_to_ignore=False), batch_size=4, image_size=(64, 64), augment=shift,
        shuffle=False)
    assert not (unpadded[0][1] == 255).any()


def test_crowd_regions_can_be_ignored(tmp_path):
    image = np.full((40, 40, 3), 120, np.uint8)
    path = str(tmp_path / "a.png")
    import cv2

    cv2.imwrite(path, image)
    masks = np.zeros((2, 40, 40), bool)
    masks[0, 0:20] = True   # a crowd
    masks[1, 20:30] = True  # a person
    sample = sl.Sample(path, boxes=[[0, 0, 40, 20], [0, 20, 40, 30]], labels=[0, 0], image_size=(40, 40),
                       attributes={"iscrowd": np.array([True, False])}, masks=masks)
    seq = sl.SegmentationSequence([sample], num_classes=2, crowd_to_ignore=True, batch_size=1, image_size=(20, 20))
    y = seq[0][1][0]
    assert (y[:10] == 255).all() and (y[10:15] == 1).all() and (y[15:] == 0).all()


def test_instance_masks_and_boxes_agree(toys):
    encoders = {"instances": InstanceMaskEncoder(max_instances=4),
                "boxes": PaddedBoxEncoder(max_boxes=4, box_format="xyxy")}
    for augment in (None, "detection"):
        seq = sl.SegmentationSequence(toys["coco"].read(), encoder=encoders, batch_size=6, image_size=(64, 80),
                                      augment=augment, seed=4)
        checked = 0
        for i in range(len(seq)):
            _, y = seq[i]
            inst, boxes = y["instances"], y["boxes"]
            assert inst["masks"].shape == (len(boxes["boxes"]), 4, 64, 80)
            for b in range(len(inst["masks"])):
                valid = inst["valid"][b]
                np.testing.assert_array_equal(valid, boxes["classes"][b] >= 0)
                np.testing.assert_array_equal(inst["classes"][b], boxes["classes"][b])
                for m in np.flatnonzero(valid):
                    mask = inst["masks"][b, m].astype(bool)
                    if mask.sum() < 10:
                        continue
                    from_mask = masks_to_boxes(mask[None])[0]
                    box = boxes["boxes"][b, m]
                    # the mask lies inside its box (a rotation makes the box a loose fit) ...
                    assert (from_mask[:2] >= box[:2] - 1.5).all() and (from_mask[2:] <= box[2:] + 1.5).all()
                    if augment is None:  # ... and fills it without augmentation (up to nearest-neighbour
                        # sampling, and pycocotools drawing polygons a pixel thinner than the toy painted them)
                        np.testing.assert_allclose(from_mask, box, atol=2.5)
                    checked += 1
        assert checked >= 8


@pytest.mark.parametrize("augment", [
    sl.HorizontalFlipAugmenter([0, 1, 2]),
    # scale and shift keep a vertical centre line vertical and central; a rotation would not
    sl.NativeAugmenter(flip_index=(0, 1, 2), rotate=(0.0, 0.0), affine=0.8, min_visibility=0.0),
], ids=["flip", "native"])
def test_keypoints_follow_flips_and_resizes(toys, augment):
    samples = toys["yolo-pose"].read()
    seq = sl.KeypointSequence(samples, encoder={"heatmaps": sl.encoders.HeatmapEncoder(3, output_stride=4),
                                                "keypoints": KeypointEncoder(max_objects=3, num_keypoints=3)},
                              batch_size=6, image_size=(64, 96), augment=augment, seed=3)
    _, loaded = seq.load_batch(0)
    flipped = 0
    for sample, original in zip(loaded, [samples[i] for i in seq.permutation()[:6]]):
        for box, kps in zip(sample.boxes, sample.keypoints):
            # the toy's keypoints sit on the box's vertical centre line
            assert abs(kps[1, 0] - (box[0] + box[2]) / 2) < 1.0
        if sample.num_boxes:
            sx = 96 / original.image_size[1]
            flipped += not np.allclose(sample.keypoints[..., 0], original.keypoints[..., 0] * sx, atol=1e-3)
    assert flipped >= 1
    _, y = seq[0]
    assert y["heatmaps"].shape == (6, 16, 24, 3) and y["keypoints"].shape == (6, 3, 3, 3)
    # the heatmap peaks where the raw coordinates say
    for b in range(6):
        for obj in y["keypoints"][b]:
            for k, (px, py, v) in enumerate(obj):
                if v > 0:
                    cy, cx = int(py // 4), int(px // 4)
                    assert y["heatmaps"][b, cy, cx, k] > 0.5


def test_classification_labels_come_from_the_folders(toys):
    toy = toys["classfolders"]
    seq = sl.ClassificationSequence(toy.read(), num_classes=4, batch_size=4, image_size=(32, 32), shuffle=False)
    _, y = seq[0]
    np.testing.assert_array_equal(y.argmax(axis=1), [s.meta["label"] for s in toy.samples[:4]])
    ids = sl.ClassificationSequence(toy.read(), num_classes=4, one_hot=False, batch_size=4, image_size=(32, 32),
                                    shuffle=False)[0][1]
    np.testing.assert_array_equal(ids, y.argmax(axis=1))


def test_task_sequences_need_their_sizes(toys):
    with pytest.raises(TypeError, match="num_classes"):
        sl.SegmentationSequence(toys["coco"].read())
    with pytest.raises(TypeError, match="num_keypoints"):
        sl.KeypointSequence(toys["coco"].read())
    with pytest.raises(TypeError, match="num_classes"):
        sl.ClassificationSequence(toys["coco"].read())


def test_function_augmenter_must_move_masks(toys):
    def flip(image, bboxes, labels):
        return {"image": image[:, ::-1], "bboxes": bboxes, "labels": labels}

    seq = sl.SegmentationSequence(toys["coco"].read(), num_classes=NUM_CLASSES, batch_size=2, image_size=(32, 32),
                                  augment=flip)
    with pytest.raises(sl.SampleError, match="masks"):
        seq[0]


def _fit(model, seq, loss, epochs=4):
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    return model.fit(seq, epochs=epochs, verbose=0).history["loss"]


@pytest.mark.slow
def test_segmentation_model_fit(toys):
    seq = sl.SegmentationSequence(toys["maskfolders"].read(), num_classes=NUM_CLASSES, batch_size=4,
                                  image_size=(32, 48), augment="detection-light")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 48, 3))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(NUM_CLASSES, 1)(h)
    losses = _fit(keras.Model(inputs, outputs), seq,
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255), epochs=6)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.slow
def test_keypoint_model_fit(toys):
    seq = sl.KeypointSequence(toys["yolo-pose"].read(), num_keypoints=3, batch_size=4, image_size=(32, 48),
                              augment=sl.HorizontalFlipAugmenter([0, 1, 2]))
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 48, 3))
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(h)
    outputs = keras.layers.Conv2D(3, 1, activation="sigmoid")(h)
    losses = _fit(keras.Model(inputs, outputs), seq, "mse", epochs=6)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.slow
def test_classification_model_fit(toys):
    seq = sl.ClassificationSequence(toys["classfolders"].read(), num_classes=4, batch_size=4, image_size=(32, 32))
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(4, activation="softmax")(h)
    losses = _fit(keras.Model(inputs, outputs), seq, "categorical_crossentropy", epochs=8)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

"""Train a small face detector with seqloaders and model.fit, then measure it on held-out images.

The default model is a seven-layer CNN at 128x128 px with an 8x8x5 YOLO-style grid head, the one
that learns the toy faces best in a few minutes on a CPU; ``--model mobilenet`` is the classic TF2
tiny-face-detector tutorial layout instead (MobileNetV2 alpha 0.35 from scratch, 224 px, 7x7x5).
After training, the detections on the held-out images are moved back to source pixels and scored
with COCO's matching (``sl.evaluate_detections``): AP50, AP@[.50:.95], AR; a PNG shows the
predictions beside the ground truth.

On the built-in toy dataset (``make demo`` does this; 320 training and 80 held-out images):

    python examples/train_face_detector.py --toy --out demo_output

On the real WIDER FACE (invalid faces are ignored in the evaluation, as WIDER FACE marks them):

    python examples/train_face_detector.py \
        --annotations wider_face_split/wider_face_train_bbx_gt.txt --images WIDER_train/images \
        --val-annotations wider_face_split/wider_face_val_bbx_gt.txt --val-images WIDER_val/images
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import keras
import numpy as np

import seqloaders as sl
from seqloaders.preview import save_preview

MODELS = {"cnn": dict(image_size=(128, 128), grid_size=8), "mobilenet": dict(image_size=(224, 224), grid_size=7)}


def grid_loss(y_true, y_pred):
    """YOLO-v1-style loss for the default GridEncoder layout (obj, x, y, w, h)."""
    obj = y_true[..., 0]
    bce = keras.losses.binary_crossentropy(obj[..., None], y_pred[..., :1])
    xy = keras.ops.sum(keras.ops.square(y_true[..., 1:3] - y_pred[..., 1:3]), axis=-1)
    wh = keras.ops.sum(keras.ops.square(keras.ops.sqrt(y_true[..., 3:5]) - keras.ops.sqrt(y_pred[..., 3:5] + 1e-7)),
                       axis=-1)
    return keras.ops.mean(bce + 5.0 * obj * (xy + wh), axis=(1, 2))


def build_cnn(image_size=(128, 128)) -> keras.Model:
    """Seven 3x3 conv layers (batch norm, ReLU; four of stride 2: 128 px -> 8x8) and a 1x1 grid head."""
    x = inputs = keras.Input((*image_size, 3))
    for filters, stride in ((16, 2), (32, 1), (32, 2), (64, 1), (64, 2), (128, 1), (128, 2)):
        x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    head = keras.layers.Conv2D(5, 1, activation="sigmoid", name="grid")(x)
    return keras.Model(inputs, head, name="face_cnn")


def build_mobilenet(image_size=(224, 224)) -> keras.Model:
    """MobileNetV2 (alpha 0.35, weights=None) with a 7x7x5 head, as in the TF2 tiny face detector tutorial."""
    backbone = keras.applications.MobileNetV2(input_shape=(*image_size, 3), alpha=0.35, weights=None,
                                              include_top=False)
    head = keras.layers.Conv2D(5, 1, activation="sigmoid", name="grid")(backbone.output)  # 7x7x5
    return keras.Model(backbone.input, head)


def draw_predictions(samples, predictions, path, count=4, height=160, threshold=0.5) -> str:
    """Save a PNG: for each of ``count`` images, the ground truth (green) beside the detections above
    ``threshold`` (red, with their scores), both drawn on the source image."""
    tiles = []
    for sample, pred in list(zip(samples, predictions))[:count]:
        with open(sample.image, "rb") as f:
            image = sl.decode_image(f.read())
        scale = height / image.shape[0]
        image = cv2.resize(image, (round(image.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
        truth, found = image.copy(), image.copy()
        for box in sample.boxes * scale:
            cv2.rectangle(truth, tuple(int(v) for v in box[:2]), tuple(int(v) for v in box[2:]), (40, 220, 40), 2)
        keep = pred["scores"] >= threshold
        for box, score in zip(pred["boxes"][keep] * scale, pred["scores"][keep]):
            cv2.rectangle(found, tuple(int(v) for v in box[:2]), tuple(int(v) for v in box[2:]), (230, 50, 50), 2)
            cv2.putText(found, f"{score:.2f}", (int(box[0]), max(10, int(box[1]) - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(truth, "ground truth", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(found, f"predicted (score >= {threshold})", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([truth, np.full((height, 4, 3), 255, np.uint8), found], axis=1))
    width = max(t.shape[1] for t in tiles)
    rows = [np.pad(t, ((0, 6), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    cv2.imwrite(path, cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="generate and use the toy dataset (train and held-out)")
    parser.add_argument("--annotations", help="wider_face_train_bbx_gt.txt")
    parser.add_argument("--images", help="the WIDER_train/images folder")
    parser.add_argument("--val-annotations", help="wider_face_val_bbx_gt.txt (the held-out set)")
    parser.add_argument("--val-images", help="the WIDER_val/images folder")
    parser.add_argument("--out", default="demo_output", help="folder for the toy data, pictures and model")
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn",
                        help="cnn: 7 conv layers, 128 px, 8x8 grid (default); mobilenet: the 7x7x5 tutorial layout")
    parser.add_argument("--num-images", type=int, default=320, help="toy training images")
    parser.add_argument("--num-val", type=int, default=80, help="toy held-out images")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=None, help="the loader's decoding threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    if args.toy or not args.annotations:
        if args.annotations or args.images:
            parser.error("give --toy, or --annotations and --images")
        train_toy = sl.make_toy_dataset(os.path.join(args.out, "toy_train"), num_images=args.num_images, seed=args.seed)
        val_toy = sl.make_toy_dataset(os.path.join(args.out, "toy_val"), num_images=args.num_val, seed=args.seed + 1)
        args.annotations, args.images = train_toy.annotations, train_toy.images
        args.val_annotations, args.val_images = val_toy.annotations, val_toy.images
        ignore = None  # every held-out face counts (the toy set has no invalid faces)
    else:
        if not (args.images and args.val_annotations and args.val_images):
            parser.error("with --annotations, also give --images, --val-annotations and --val-images")
        ignore = "invalid"  # WIDER FACE's invalid faces: matched, but neither found nor missed

    keras.utils.set_random_seed(args.seed)
    try:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    except (ImportError, AttributeError):  # another Keras backend
        pass

    config = MODELS[args.model]
    image_size, encoder = config["image_size"], sl.GridEncoder(grid_size=config["grid_size"], num_classes=1)
    samples = sl.read_wider_face(args.annotations, images_dir=args.images)
    val_samples = sl.read_wider_face(args.val_annotations, images_dir=args.val_images)
    print(f"train: {samples.report}")
    print(f"held-out: {val_samples.report}")
    train = sl.DetectionSequence(samples, batch_size=args.batch_size, image_size=image_size, encoder=encoder,
                                 augment="detection", shuffle=True, seed=args.seed, threads=args.threads)
    val = sl.DetectionSequence(val_samples, batch_size=args.batch_size, image_size=image_size, encoder=encoder,
                               shuffle=False, threads=args.threads)
    print(train)
    preview = save_preview(train, os.path.join(args.out, "augmented_samples.png"))
    print(f"augmented samples with their decoded grid targets: {preview}")

    model = build_cnn(image_size) if args.model == "cnn" else build_mobilenet(image_size)
    steps = args.epochs * len(train)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=grid_loss)
    start = time.perf_counter()
    # shuffle=False: the Sequence reshuffles its samples every epoch itself, and reads ahead in order
    history = model.fit(train, epochs=args.epochs, shuffle=False, verbose=2)
    seconds = time.perf_counter() - start
    losses = history.history["loss"]
    print(f"model.fit: {seconds:.0f} s for {args.epochs} epochs of {len(samples)} images "
          f"({args.epochs * len(samples) / seconds:.0f} images/s including training)")
    print(f"loss went from {losses[0]:.3f} to {losses[-1]:.3f}")
    print(f"load report: {train.report()}")

    predictions = sl.predict_detections(model, val)
    report = sl.evaluate_detections(val.samples, predictions, ignore=ignore, class_names=["face"])
    print(report.summary())
    counted = "every held-out face counted" if ignore is None else f"{report.num_ignored} invalid faces ignored"
    print(f"AP50 on the held-out set: {report.ap50:.3f} ({len(val_samples)} images, {report.num_objects} faces, "
          f"{counted})")
    picture = draw_predictions(val.samples, predictions, os.path.join(args.out, "predictions.png"))
    print(f"held-out predictions beside the ground truth: {picture}")
    model.save(os.path.join(args.out, "face_detector.keras"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

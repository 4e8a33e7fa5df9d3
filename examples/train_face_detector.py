"""Train a small face detector on WIDER FACE annotations with seqloaders and model.fit.

MobileNetV2 (weights=None) with a 7x7x5 YOLO-style head, as in the classic TF2 tiny face
detector tutorial. Run on the built-in toy dataset (`make demo` does this):

    python examples/train_face_detector.py --toy --out demo_output

or on the real WIDER FACE training set:

    python examples/train_face_detector.py \
        --annotations wider_face_split/wider_face_train_bbx_gt.txt --images WIDER_train/images
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import seqloaders as sl  # noqa: E402
from seqloaders.preview import save_preview  # noqa: E402


def grid_loss(y_true, y_pred):
    """YOLO-v1-style loss for the default GridEncoder layout (obj, x, y, w, h)."""
    obj = y_true[..., 0]
    bce = keras.losses.binary_crossentropy(obj[..., None], y_pred[..., :1])
    xy = keras.ops.sum(keras.ops.square(y_true[..., 1:3] - y_pred[..., 1:3]), axis=-1)
    wh = keras.ops.sum(keras.ops.square(keras.ops.sqrt(y_true[..., 3:5]) - keras.ops.sqrt(y_pred[..., 3:5] + 1e-7)),
                       axis=-1)
    return keras.ops.mean(bce + 5.0 * obj * (xy + wh), axis=(1, 2))


def build_model(image_size=(224, 224)) -> keras.Model:
    backbone = keras.applications.MobileNetV2(input_shape=(*image_size, 3), alpha=0.35, weights=None,
                                              include_top=False)
    head = keras.layers.Conv2D(5, 1, activation="sigmoid", name="grid")(backbone.output)  # 7x7x5
    return keras.Model(backbone.input, head)


def loader_throughput(seq: sl.DetectionSequence) -> float:
    """Images per second of one pass over the sequence, without a model."""
    start, count = time.perf_counter(), 0
    for i in range(len(seq)):
        x, _ = seq[i]
        count += len(x)
    return count / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="generate and use the built-in toy dataset")
    parser.add_argument("--annotations", help="wider_face_*_bbx_gt.txt")
    parser.add_argument("--images", help="the WIDER_*/images folder")
    parser.add_argument("--out", default="demo_output", help="folder for the toy data, preview and model")
    parser.add_argument("--num-images", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    if args.toy:
        toy = sl.make_toy_dataset(os.path.join(args.out, "toy"), num_images=args.num_images, seed=0)
        args.annotations, args.images = toy.annotations, toy.images
    elif not (args.annotations and args.images):
        parser.error("give --toy, or --annotations and --images")

    samples = sl.read_wider_face(args.annotations, images_dir=args.images)
    print(samples.report)
    train = sl.DetectionSequence(
        samples, batch_size=args.batch_size, image_size=(224, 224),
        encoder=sl.GridEncoder(grid_size=7, num_classes=1),
        augment="detection", shuffle=True, seed=0, workers=args.workers)
    print(train)

    print(f"loader throughput: {loader_throughput(train):.0f} images/s (one pass, no model)")
    preview = save_preview(train, os.path.join(args.out, "augmented_samples.png"))
    print(f"augmented samples with their decoded grid targets: {preview}")

    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=grid_loss)
    start = time.perf_counter()
    history = model.fit(train, epochs=args.epochs, verbose=2)
    seconds = time.perf_counter() - start
    losses = history.history["loss"]
    print(f"model.fit: {args.epochs * len(samples) / seconds:.0f} images/s including training")
    print("loss by epoch: " + ", ".join(f"{v:.3f}" for v in losses))
    print(f"loss went from {losses[0]:.3f} to {losses[-1]:.3f} ({'falling' if losses[-1] < losses[0] else 'NOT falling'})")
    print(f"load report: {train.report()}")

    boxes, scores, _ = train.encoder.decode(model.predict(train[0][0][:1], verbose=0)[0], (224, 224), threshold=0.5)
    print(f"first image: {len(boxes)} faces predicted above 0.5 (scores {np.round(scores, 2).tolist()[:5]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

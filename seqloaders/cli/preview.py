"""``seqloaders preview FORMAT PATH [--out preview.png]``: a batch as the model sees it, targets drawn.

Example::

    seqloaders preview widerface wider_face_train_bbx_gt.txt --images-dir WIDER_train/images \\
        --out preview.png --encoder grid --augment detection --image-size 224 224 --num-images 16

Without ``--out`` the PNG is ``preview.png`` in the current folder; nothing else is written.

The batch is built by a :class:`~seqloaders.DetectionSequence` with the chosen encoder and
augmentation; its encoded targets are decoded back and drawn on the input pixels (see
:func:`seqloaders.preview_sequence`). The exit status is 0 when the PNG was written, 1 when the
batch could not be built or encoded, 2 for bad arguments.
"""

from __future__ import annotations

import argparse

from .common import (
    USER_ERRORS,
    add_dataset_arguments,
    load_class_map,
    non_negative_int,
    positive_int,
    print_error,
    read_dataset,
)

HELP = "save a PNG of augmented samples with their encoded targets decoded back and drawn"

#: where the PNG goes without ``--out``: the current folder, never a path inside the package or its docs
DEFAULT_OUT = "preview.png"

ENCODERS = ("grid", "padded", "anchors", "semantic", "instance", "heatmap", "keypoints", "classification")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``preview`` arguments on ``parser``."""
    add_dataset_arguments(parser)
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="PNG",
                        help=f"the PNG to write (default: {DEFAULT_OUT} in the current folder)")
    parser.add_argument("--encoder", choices=ENCODERS, default="grid", help="the target encoder (default: grid)")
    parser.add_argument("--augment", choices=("detection", "yolo", "none"), default="detection",
                        help="augmentation preset (default: detection; yolo: mosaic batches)")
    parser.add_argument("--image-size", type=positive_int, nargs=2, default=[224, 224], metavar=("H", "W"),
                        help="model input size (default: 224 224)")
    parser.add_argument("--batch", type=non_negative_int, default=0, metavar="N",
                        help="which batch to draw (default: 0)")
    parser.add_argument("--num-images", type=positive_int, default=16, metavar="N", help="images drawn (default: 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of shuffling and augmentation (default: 0)")
    parser.add_argument("--no-shuffle", action="store_true", help="take the images in the dataset's order")
    parser.add_argument("--grid-size", type=positive_int, default=7, metavar="S",
                        help="grid of --encoder grid (default: 7)")
    parser.add_argument("--columns", type=positive_int, default=4, help="tiles per row (default: 4)")
    parser.add_argument("--zoom", type=positive_int, default=1, help="integer upscaling of each tile (default: 1)")
    parser.add_argument("--gap", type=non_negative_int, default=4, help="white pixels between tiles (default: 4)")
    parser.add_argument("--threshold", type=float, default=0.5, help="least objectness drawn (default: 0.5)")
    parser.add_argument("--skeleton", default=None, metavar="PAIRS",
                        help="keypoint pairs to join, e.g. '0-1,1-2', or 'coco' (default: COCO for 17 keypoints)")


def parse_skeleton(text: str | None):
    """``"0-1,1-2"`` → ``[(0, 1), (1, 2)]``; a name (``coco``, ``none``) is kept as is."""
    if text is None or not any(ch.isdigit() for ch in text):
        return text
    pairs = []
    for item in text.split(","):
        a, sep, b = item.strip().partition("-")
        if not sep or not a.strip().isdigit() or not b.strip().isdigit():
            raise ValueError(f"--skeleton expects pairs like '0-1,1-2', got {item!r}")
        pairs.append((int(a), int(b)))
    return pairs


def build_encoder(kind: str, samples, image_size: tuple[int, int], grid_size: int = 7):
    """The encoder ``--encoder KIND`` names, sized for the dataset's classes and keypoints."""
    from .. import encoders as enc

    names = tuple(getattr(samples, "class_names", ()) or ())
    top = max((int(s.labels.max()) for s in samples if s.num_boxes), default=0)
    num_classes = max(len(names), top + 1, 1)
    h, w = image_size
    if kind == "grid":
        return enc.GridEncoder(grid_size=grid_size, num_classes=num_classes)
    if kind == "padded":
        return enc.PaddedBoxEncoder(max_boxes=100)
    if kind == "anchors":
        anchors = [[(aw * w / 416, ah * h / 416) for aw, ah in scale] for scale in enc.YOLOV3_ANCHORS]
        return enc.AnchorGridEncoder(anchors, enc.YOLOV3_STRIDES, num_classes=num_classes, image_size=(h, w))
    if kind == "semantic":
        return enc.SemanticMaskEncoder(num_classes + 1, label_offset=1, image_size=(h, w))
    if kind == "instance":
        return enc.InstanceMaskEncoder(max_instances=64, image_size=(h, w))
    if kind == "classification":
        return enc.ClassificationEncoder(num_classes)
    with_keypoints = next((s for s in samples if s.keypoints is not None), None)
    if with_keypoints is None:
        raise ValueError(f"--encoder {kind} needs keypoints, and this dataset has none")
    k = with_keypoints.keypoints.shape[1]
    if kind == "heatmap":
        return enc.HeatmapEncoder(num_keypoints=k, output_stride=4, image_size=(h, w))
    return enc.KeypointEncoder(max_objects=64, num_keypoints=k)


def run(args: argparse.Namespace) -> int:
    """Build the Sequence, draw one batch and write the PNG; returns the exit status."""
    from ..preview import preview_sequence
    from ..sequence import DetectionSequence

    try:
        class_map = load_class_map(args)
        samples = read_dataset(args)
        if class_map is not None:
            samples = class_map.apply(samples)
        image_size = tuple(args.image_size)
        encoder = build_encoder(args.encoder, samples, image_size, args.grid_size)
        skeleton = parse_skeleton(args.skeleton)
        sequence = DetectionSequence(samples, batch_size=max(1, args.num_images), image_size=image_size,
                                     encoder=encoder, augment=None if args.augment == "none" else args.augment,
                                     shuffle=not args.no_shuffle, seed=args.seed)
    except USER_ERRORS as exc:
        return print_error("preview", exc)
    if not 0 <= args.batch < len(sequence):
        return print_error("preview", ValueError(f"--batch {args.batch} is out of range: the dataset gives "
                                                 f"{len(sequence)} batches of {args.num_images} images"))
    colors = None if class_map is None else class_map.colors
    try:
        path = preview_sequence(sequence, args.out, args.batch, args.num_images, columns=args.columns,
                                threshold=args.threshold, class_names=getattr(samples, "class_names", None),
                                colors=colors, skeleton=skeleton, zoom=args.zoom, gap=args.gap)
    except OSError as exc:
        return print_error("preview", exc)
    except (ValueError, RuntimeError) as exc:  # SampleError, EncodingError: the batch cannot be built
        print(f"seqloaders preview: error: {exc}")
        return 1
    print(f"wrote {path}: batch {args.batch} of {len(sequence)}, {min(args.num_images, len(samples))} images, "
          f"encoder {encoder!r}")
    return 0

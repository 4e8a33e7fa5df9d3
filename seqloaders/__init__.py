"""seqloaders: feed annotated image datasets to Keras, lazily and fast.

Example:
    >>> import seqloaders as sl
    >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)
    >>> samples = sl.read_wider_face(toy.annotations, images_dir=toy.images)
    >>> train = sl.DetectionSequence(samples, batch_size=4, image_size=(224, 224),
    ...                              encoder=sl.GridEncoder(grid_size=7, num_classes=1))
    >>> x, y = train[0]
    >>> x.shape, y.shape
    ((4, 224, 224, 3), (4, 7, 7, 5))
"""

import os as _os

_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from .augment import AlbumentationsAugmenter, Augmenter, FunctionAugmenter, detection_preset  # noqa: E402
from .native_augment import NativeAugmenter  # noqa: E402
from .mosaic import MultiImageAugmenter, YoloAugmenter  # noqa: E402
from .encoders import (  # noqa: E402
    COCO_PERSON_FLIP_INDEX,
    COCO_PERSON_KEYPOINTS,
    YOLOV3_ANCHORS,
    YOLOV3_STRIDES,
    AnchorGridEncoder,
    ClassificationEncoder,
    GridEncoder,
    HeatmapEncoder,
    HorizontalFlipAugmenter,
    InstanceMaskEncoder,
    KeypointEncoder,
    PaddedBoxEncoder,
    SemanticMaskEncoder,
    TargetEncoder,
    decode_grid,
    encode_grid,
    flip_keypoints,
    resize_label_map,
)
from .errors import AnnotationError, EncodingError, ImageError, RecordError, SampleError, SeqloadersError  # noqa: E402
from .errors import WorkerError  # noqa: E402
from .evaluate import DetectionReport, decode_predictions, evaluate_detections, predict_detections  # noqa: E402
from .classmap import ClassMap  # noqa: E402
from .formats import (  # noqa: E402
    VOC_CLASSES,
    WIDER_FACE_ATTRIBUTES,
    parse_coco,
    parse_voc_xml,
    read_class_folders,
    read_coco,
    read_csv,
    read_mask_folders,
    read_voc,
    read_yolo,
    available_formats,
    parse_wider_face,
    read,
    read_wider_face,
    register_format,
)
from .geometry import box_areas, clip_boxes, convert_boxes  # noqa: E402
from .imageio import decode_image, probe_image  # noqa: E402
from .pipeline import LoadOptions, load_sample  # noqa: E402
from .loader import Loader, LoadReport  # noqa: E402
from .preview import COCO_PERSON_SKELETON, draw_samples, preview_sequence, render_batch  # noqa: E402
from .check import CheckReport, Finding, check_dataset  # noqa: E402
from .records import BoxFormat, ReadReport, Sample, SampleList  # noqa: E402
from .resize import resize_image  # noqa: E402
from .storage import FsspecStorage, LocalStorage, Storage  # noqa: E402
from .summary import DatasetSummary, summarize  # noqa: E402
from .tfrecord import (  # noqa: E402
    PngMasks,
    TFRecordSource,
    TFRecordStorage,
    WriteReport,
    tfrecord_dataset,
    to_tf_dataset,
    write_tfrecords,
    write_tfrecords_beam,
)
from .masks import MaskFiles, SegmentationMasks, decode_masks  # noqa: E402
from .toy import ToyDataset, make_toy_dataset  # noqa: E402
from .toyformats import ToyFormat, make_toy_formats  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ClassMap",
    "VOC_CLASSES",
    "parse_coco",
    "parse_voc_xml",
    "read_class_folders",
    "read_coco",
    "read_csv",
    "read_mask_folders",
    "read_voc",
    "read_yolo",
    "MaskFiles",
    "SegmentationMasks",
    "decode_masks",
    "ToyFormat",
    "make_toy_formats",
    "PngMasks",
    "TFRecordSource",
    "TFRecordStorage",
    "WriteReport",
    "tfrecord_dataset",
    "to_tf_dataset",
    "write_tfrecords",
    "write_tfrecords_beam",
    "RecordError",
    "COCO_PERSON_FLIP_INDEX",
    "COCO_PERSON_KEYPOINTS",
    "YOLOV3_ANCHORS",
    "YOLOV3_STRIDES",
    "AnchorGridEncoder",
    "ClassificationEncoder",
    "HeatmapEncoder",
    "HorizontalFlipAugmenter",
    "NativeAugmenter",
    "InstanceMaskEncoder",
    "KeypointEncoder",
    "PaddedBoxEncoder",
    "SemanticMaskEncoder",
    "flip_keypoints",
    "resize_label_map",
    "AlbumentationsAugmenter",
    "AnnotationError",
    "Augmenter",
    "BackupAndRestore",
    "BoxFormat",
    "DatasetSummary",
    "DetectionReport",
    "ClassificationSequence",
    "DetectionSequence",
    "KeypointSequence",
    "SampleSequence",
    "SegmentationSequence",
    "EncodingError",
    "FunctionAugmenter",
    "GridEncoder",
    "ImageError",
    "LoadOptions",
    "Loader",
    "LoadReport",
    "LoadReportCallback",
    "LocalStorage",
    "MultiImageAugmenter",
    "FsspecStorage",
    "ReadReport",
    "Sample",
    "SampleError",
    "WorkerError",
    "YoloAugmenter",
    "SampleList",
    "SeqloadersError",
    "Storage",
    "TargetEncoder",
    "ToyDataset",
    "WIDER_FACE_ATTRIBUTES",
    "available_formats",
    "box_areas",
    "clip_boxes",
    "convert_boxes",
    "decode_grid",
    "decode_image",
    "decode_predictions",
    "detection_preset",
    "draw_samples",
    "preview_sequence",
    "render_batch",
    "COCO_PERSON_SKELETON",
    "CheckReport",
    "Finding",
    "check_dataset",
    "encode_grid",
    "evaluate_detections",
    "load_sample",
    "make_toy_dataset",
    "parse_wider_face",
    "predict_detections",
    "probe_image",
    "read",
    "read_wider_face",
    "register_format",
    "resize_image",
    "summarize",
]

# Keras (and with it TensorFlow) loads only when a Sequence or the callback is first used, so
# parsing, checking and converting a dataset, and the CLI, start in a fraction of a second.
_LAZY = {
    "LoadReportCallback": "callbacks",
    "BackupAndRestore": "resume",
    "ClassificationSequence": "sequence",
    "DetectionSequence": "sequence",
    "KeypointSequence": "sequence",
    "SampleSequence": "sequence",
    "SegmentationSequence": "sequence",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqloaders' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

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

from . import toyformats  # deprecated re-export module, imported so that sl.toyformats keeps resolving
from .augment import (
    AlbumentationsAugmenter,
    Augmenter,
    FunctionAugmenter,
    MultiImageAugmenter,
    NativeAugmenter,
    YoloAugmenter,
    detection_preset,
)
from .check import CheckReport, Finding, check_dataset
from .classmap import ClassMap
from .encoders import (
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
from .errors import (
    AnnotationError,
    EncodingError,
    ImageError,
    RecordError,
    SampleError,
    SeqloadersError,
    WorkerError,
)
from .evaluate import DetectionReport, decode_predictions, evaluate_detections, predict_detections
from .formats import (
    VOC_CLASSES,
    WIDER_FACE_ATTRIBUTES,
    available_formats,
    parse_coco,
    parse_voc_xml,
    parse_wider_face,
    read,
    read_class_folders,
    read_coco,
    read_csv,
    read_mask_folders,
    read_voc,
    read_wider_face,
    read_yolo,
    register_format,
)
from .geometry import box_areas, clip_boxes, convert_boxes
from .imageio import decode_image, probe_image
from .loader import Loader, LoadReport
from .masks import MaskFiles, SegmentationMasks, decode_masks
from .pipeline import LoadOptions, load_sample
from .preview import COCO_PERSON_SKELETON, draw_samples, preview_sequence, render_batch
from .records import BoxFormat, LoadedSample, ReadReport, Sample, SampleList
from .resize import resize_image
from .storage import FsspecStorage, LocalStorage, Storage
from .summary import DatasetSummary, summarize
from .tfrecord import (
    PngMasks,
    TFRecordSource,
    TFRecordStorage,
    WriteReport,
    tfrecord_dataset,
    to_tf_dataset,
    write_tfrecords,
    write_tfrecords_beam,
)
from .toy import ToyDataset, ToyFormat, make_toy_dataset, make_toy_formats

__version__ = "0.1.0"

#: The front door: the names the README's examples use, and the errors and protocols a user meets.
#: Everything else lives in its module (``sl.encoders``, ``sl.formats``, ``sl.augment``, ``sl.geometry``,
#: ``sl.tfrecord``, ``sl.storage``, ``sl.toy``, ...); the names that used to be here as well still work
#: from the top level (see ``__getattr__``), but are no longer listed.
__all__ = [
    "AnnotationError",
    "Augmenter",
    "BackupAndRestore",
    "ClassMap",
    "ClassificationSequence",
    "DetectionSequence",
    "FsspecStorage",
    "GridEncoder",
    "HorizontalFlipAugmenter",
    "ImageError",
    "KeypointEncoder",
    "KeypointSequence",
    "LoadReport",
    "LoadReportCallback",
    "LoadedSample",
    "Loader",
    "MultiImageAugmenter",
    "NativeAugmenter",
    "PaddedBoxEncoder",
    "ReadReport",
    "Sample",
    "SampleError",
    "SampleList",
    "SegmentationSequence",
    "SeqloadersError",
    "TFRecordSource",
    "TargetEncoder",
    "WorkerError",
    "YoloAugmenter",
    "check_dataset",
    "decode_masks",
    "decode_predictions",
    "detection_preset",
    "evaluate_detections",
    "make_toy_dataset",
    "make_toy_formats",
    "predict_detections",
    "preview_sequence",
    "read",
    "read_class_folders",
    "read_coco",
    "read_csv",
    "read_mask_folders",
    "read_voc",
    "read_wider_face",
    "read_yolo",
    "register_format",
    "tfrecord_dataset",
    "to_tf_dataset",
    "write_tfrecords",
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
    if name in _COMPAT:  # kept working from the top level; its home is its module
        return _COMPAT[name]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqloaders' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    modules = [name for name, value in globals().items() if isinstance(value, type(_os))]
    return sorted(set(__all__) | set(modules) | {"__version__"})


# The names imported above that are not in __all__ leave the module's namespace (so that dir(),
# tab completion and help() show the front door) and stay reachable through __getattr__.
_COMPAT = {name: globals().pop(name) for name in [n for n, v in list(globals().items())
                                                  if not n.startswith("_") and n not in __all__
                                                  and not isinstance(v, type(_os))]}

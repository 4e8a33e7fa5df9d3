"""Target encoders: the tensors a model trains on."""

from .anchors import YOLOV3_ANCHORS, YOLOV3_STRIDES, AnchorGridEncoder, decode_anchor_grids, encode_anchor_grids
from .base import TargetEncoder
from .classification import ClassificationEncoder, encode_labels, sample_label
from .grid import GridEncoder, decode_grid, encode_grid
from .kerashub import KERAS_HUB_DETECTORS, RepeatPaddedBoxEncoder, keras_hub_targets
from .keypoints import (
    COCO_PERSON_FLIP_INDEX,
    COCO_PERSON_KEYPOINTS,
    HeatmapEncoder,
    HorizontalFlipAugmenter,
    KeypointEncoder,
    decode_heatmaps,
    encode_heatmaps,
    encode_keypoints,
    flip_keypoints,
)
from .masks import (
    InstanceMaskEncoder,
    SemanticMaskEncoder,
    encode_instance_masks,
    encode_semantic_mask,
    masks_to_boxes,
    resize_label_map,
)
from .padded import PaddedBoxEncoder, decode_padded_boxes, encode_padded_boxes

__all__ = [
    "TargetEncoder",
    "GridEncoder",
    "encode_grid",
    "decode_grid",
    "PaddedBoxEncoder",
    "encode_padded_boxes",
    "decode_padded_boxes",
    "RepeatPaddedBoxEncoder",
    "keras_hub_targets",
    "KERAS_HUB_DETECTORS",
    "AnchorGridEncoder",
    "encode_anchor_grids",
    "decode_anchor_grids",
    "YOLOV3_ANCHORS",
    "YOLOV3_STRIDES",
    "HeatmapEncoder",
    "KeypointEncoder",
    "HorizontalFlipAugmenter",
    "encode_heatmaps",
    "decode_heatmaps",
    "encode_keypoints",
    "flip_keypoints",
    "COCO_PERSON_KEYPOINTS",
    "COCO_PERSON_FLIP_INDEX",
    "ClassificationEncoder",
    "encode_labels",
    "sample_label",
    "SemanticMaskEncoder",
    "InstanceMaskEncoder",
    "encode_semantic_mask",
    "encode_instance_masks",
    "masks_to_boxes",
    "resize_label_map",
]

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
    "COCO_PERSON_FLIP_INDEX",
    "COCO_PERSON_KEYPOINTS",
    "KERAS_HUB_DETECTORS",
    "YOLOV3_ANCHORS",
    "YOLOV3_STRIDES",
    "AnchorGridEncoder",
    "ClassificationEncoder",
    "GridEncoder",
    "HeatmapEncoder",
    "HorizontalFlipAugmenter",
    "InstanceMaskEncoder",
    "KeypointEncoder",
    "PaddedBoxEncoder",
    "RepeatPaddedBoxEncoder",
    "SemanticMaskEncoder",
    "TargetEncoder",
    "decode_anchor_grids",
    "decode_grid",
    "decode_heatmaps",
    "decode_padded_boxes",
    "encode_anchor_grids",
    "encode_grid",
    "encode_heatmaps",
    "encode_instance_masks",
    "encode_keypoints",
    "encode_labels",
    "encode_padded_boxes",
    "encode_semantic_mask",
    "flip_keypoints",
    "keras_hub_targets",
    "masks_to_boxes",
    "resize_label_map",
    "sample_label",
]

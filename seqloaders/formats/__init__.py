"""Annotation formats: one module per format, each registered by name."""

from .classfolders import read_class_folders
from .coco import parse_coco, read_coco
from .common import finish
from .csvformat import parse_csv, read_csv
from .errorpolicy import check_on_error, handle_error, warn_summary
from .maskfolders import read_mask_folders
from .registry import available_formats, get_reader, read, register_format
from .voc import VOC_CLASSES, parse_voc_xml, read_voc
from .widerface import WIDER_FACE_ATTRIBUTES, parse_wider_face, read_wider_face
from .yolo import load_yolo_config, parse_yolo_labels, read_yolo

__all__ = [
           "VOC_CLASSES",
           "WIDER_FACE_ATTRIBUTES",
           "available_formats",
           "check_on_error",
           "finish",
           "get_reader",
           "handle_error",
           "load_yolo_config",
           "parse_coco",
           "parse_csv",
           "parse_voc_xml",
           "parse_wider_face",
           "parse_yolo_labels",
           "read",
           "read_class_folders",
           "read_coco",
           "read_csv",
           "read_mask_folders",
           "read_voc",
           "read_wider_face",
           "read_yolo",
           "register_format",
           "warn_summary",
]

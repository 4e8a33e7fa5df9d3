"""Annotation formats: one module per format, each registered by name."""

from .classfolders import read_class_folders
from .coco import parse_coco, read_coco
from .csvformat import parse_csv, read_csv
from .errorpolicy import check_on_error, handle_error, warn_summary
from .maskfolders import read_mask_folders
from .registry import available_formats, get_reader, read, register_format
from .voc import VOC_CLASSES, parse_voc_xml, read_voc
from .widerface import WIDER_FACE_ATTRIBUTES, parse_wider_face, read_wider_face
from .yolo import load_yolo_config, parse_yolo_labels, read_yolo

__all__ = ["available_formats", "get_reader", "read", "register_format", "read_wider_face", "parse_wider_face",
           "WIDER_FACE_ATTRIBUTES", "read_coco", "parse_coco", "read_voc", "parse_voc_xml", "VOC_CLASSES",
           "read_yolo", "parse_yolo_labels", "load_yolo_config", "read_mask_folders", "read_csv", "parse_csv",
           "read_class_folders", "check_on_error", "handle_error", "warn_summary"]

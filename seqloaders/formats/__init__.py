"""Annotation formats: one module per format, each registered by name."""

from .registry import available_formats, get_reader, read, register_format
from .widerface import WIDER_FACE_ATTRIBUTES, parse_wider_face, read_wider_face

__all__ = ["available_formats", "get_reader", "read", "register_format", "read_wider_face", "parse_wider_face",
           "WIDER_FACE_ATTRIBUTES"]

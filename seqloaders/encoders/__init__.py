"""Target encoders: the tensors a model trains on."""

from .base import TargetEncoder
from .grid import GridEncoder, decode_grid, encode_grid

__all__ = ["TargetEncoder", "GridEncoder", "encode_grid", "decode_grid"]

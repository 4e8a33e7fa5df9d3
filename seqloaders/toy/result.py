"""What a toy writer returns: :class:`ToyFormat`, where the files are and what a reader must give back."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..formats import read as read_format
from ..records import Sample, SampleList

__all__ = ["ToyFormat"]


@dataclasses.dataclass
class ToyFormat:
    """A toy dataset written in one format.

    :class:`~seqloaders.toy.widerface.ToyDataset` (the WIDER FACE face set) has the same
    attributes and :meth:`read`, so code that takes one takes the other.

    Attributes:
        format: the registered format name (``sl.read(format, path, **options)``).
        path: what the reader takes (annotation file, dataset YAML or folder).
        options: keyword arguments for the reader.
        samples: what a correct reader returns (image paths, boxes, labels, sizes, attributes,
            keypoints).
        class_names: the class names the reader reports.
        masks: for formats whose masks are exact pixels (RLE, mask files), the expected (N, H, W)
            bool masks of each sample; None otherwise.

    Example:
        >>> import tempfile
        >>> from seqloaders.toy import write_toy_csv
        >>> toy = write_toy_csv(tempfile.mkdtemp(), num_images=4)
        >>> toy.format, len(toy.read()) == len(toy.samples)
        ('csv', True)
    """

    format: str
    path: str
    options: dict[str, Any]
    samples: list[Sample]
    class_names: tuple[str, ...]
    masks: list[np.ndarray | None] | None = None

    def read(self, **overrides: Any) -> SampleList:
        """Read the dataset back with its registered reader (``overrides`` replace ``options``)."""
        return read_format(self.format, self.path, **{**self.options, **overrides})

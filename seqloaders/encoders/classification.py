"""Image-level class targets: one-hot float32 vectors or integer labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import EncodingError
from ..records import Sample
from .base import Decoded, TargetEncoder

__all__ = ["ClassificationEncoder", "encode_labels", "sample_label"]


def sample_label(sample: Sample, key: str = "label", from_boxes: bool = True) -> int:
    """The image-level class of a sample.

    ``sample.meta[key]`` when present (what class-per-folder readers set). Otherwise, when
    ``from_boxes``, the label shared by all of the sample's boxes: a sample whose boxes all carry
    one class (a single box, or several objects of the same class) is an image of that class.
    Anything else is ambiguous and raises.

    Args:
        sample: the sample.
        key: the ``meta`` entry holding the class id.
        from_boxes: fall back on the boxes' single distinct label.

    Returns:
        The class id.

    Raises:
        EncodingError: no ``meta[key]`` and no single box label (no boxes, or several classes),
            or ``meta[key]`` is not an integer.
    """
    if key in sample.meta:
        value = sample.meta[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise EncodingError(f"{sample.image}: meta[{key!r}] must be an integer class id, got {value!r}")
        return int(value)
    if from_boxes:
        distinct = np.unique(sample.labels)
        if len(distinct) == 1:
            return int(distinct[0])
        found = "no boxes" if len(distinct) == 0 else f"boxes of {len(distinct)} classes {distinct.tolist()}"
        raise EncodingError(f"{sample.image}: no image label in meta[{key!r}] and {found}, so the image class is "
                            "ambiguous; set meta['label'] (e.g. with the class-folder reader)")
    raise EncodingError(f"{sample.image}: no image label in meta[{key!r}]")


def encode_labels(labels: Sequence[int] | np.ndarray, num_classes: int, one_hot: bool = True) -> np.ndarray:
    """Class ids → one-hot rows or integer labels.

    Args:
        labels: (B,) int class ids in ``[0, num_classes)``.
        num_classes: C.
        one_hot: one-hot rows instead of the ids.

    Returns:
        (B, C) float32 one-hot rows, or (B,) int32 ids.

    Raises:
        EncodingError: a label outside ``[0, num_classes)``.

    Example:
        >>> encode_labels([2, 0], num_classes=3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    labels = np.asarray(labels, np.int64).reshape(-1)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise EncodingError(f"label {labels[bad][0]} is out of range for num_classes={num_classes}")
    if not one_hot:
        return labels.astype(np.int32)
    out = np.zeros((len(labels), num_classes), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


class ClassificationEncoder(TargetEncoder):
    """Image-level classes: (C,) float32 one-hot, or () int32 for sparse losses.

    The class comes from ``sample.meta["label"]``; when absent, from the single distinct label of
    the sample's boxes (see :func:`sample_label`); a sample with no boxes or boxes of several
    classes and no ``meta`` label raises :class:`~seqloaders.EncodingError`, since guessing would
    teach the model a wrong class.

    Args:
        num_classes: C.
        one_hot: one-hot float32 (for ``categorical_crossentropy``) or int32 ids (for
            ``sparse_categorical_crossentropy``).
        key: the ``meta`` entry holding the class id.
        from_boxes: fall back on the boxes' single distinct label.

    Example:
        >>> import seqloaders as sl
        >>> from seqloaders.encoders import ClassificationEncoder
        >>> enc = ClassificationEncoder(num_classes=3)
        >>> enc.encode_sample(sl.Sample("cat.jpg", meta={"label": 1}), (224, 224)).tolist()
        [0.0, 1.0, 0.0]
        >>> ClassificationEncoder(3, one_hot=False).encode_batch([sl.Sample("a.jpg", meta={"label": 2})], (8, 8))
        array([2], dtype=int32)
    """

    def __init__(self, num_classes: int, one_hot: bool = True, *, key: str = "label", from_boxes: bool = True):
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.one_hot = bool(one_hot)
        self.key = key
        self.from_boxes = bool(from_boxes)
        self.output_shape = (self.num_classes,) if self.one_hot else ()
        self.dtype = np.float32 if self.one_hot else np.int32

    def encode_sample(self, sample: Sample, image_size: tuple[int, int]) -> np.ndarray:
        """Encode one sample: (C,) float32 one-hot or a () int32 id."""
        return self.encode_batch([sample], image_size)[0]

    def encode_batch(self, samples: Sequence[Sample], image_size: tuple[int, int],
                     stats: dict[str, int] | None = None) -> np.ndarray:
        """Encode a batch: (B, C) float32 one-hot or (B,) int32 ids."""
        labels = [sample_label(s, self.key, self.from_boxes) for s in samples]
        return encode_labels(labels, self.num_classes, self.one_hot)

    def decode(self, target: np.ndarray, image_size: tuple[int, int] | None = None, *,
               threshold: float = 0.5) -> Decoded:
        """One image's target (one-hot or scores (C,), or an id) → ``Decoded(label=class id)``.

        A model's scores give their best class, with its score in ``scores``.
        """
        target = np.asarray(target)
        label = int(np.argmax(target)) if target.ndim == 1 else int(target)
        scores = np.asarray([target[label]], np.float32) if target.ndim == 1 else None
        return Decoded(label=label, scores=scores, legacy=(label,))

    def __repr__(self) -> str:
        return (f"ClassificationEncoder(num_classes={self.num_classes}, one_hot={self.one_hot}, key={self.key!r}, "
                f"from_boxes={self.from_boxes}) -> {self.output_shape} {np.dtype(self.dtype).name}")

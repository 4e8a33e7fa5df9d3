"""Targets for KerasHub's object detectors, exactly as their ``compute_loss`` reads them.

Checked against keras-hub 0.32 (``keras_hub.models.RetinaNetObjectDetector`` and
``DFineObjectDetector``). Both take ``y = {"boxes": (B, M, 4), "labels": (B, M)}`` float32, but
not the same boxes:

- **RetinaNet** converts ``boxes`` from the model's ``bounding_box_format`` (default "yxyx":
  pixels of the input image) and matches them to anchors by IoU; a row of -1 matches no anchor,
  so unused rows are -1 in both arrays (:class:`PaddedBoxEncoder`'s padding).
- **D-FINE** reads ``boxes`` as normalised centre boxes (cx, cy, w, h in [0, 1] of the input
  image: seqloaders' "rel_cxcywh"), whatever its ``bounding_box_format`` (that one is only the
  format of its predictions), and counts every one of the M rows of an image as an object (its
  Hungarian matcher takes ``M`` targets per image; nothing marks a row unused). So the rows past
  an image's boxes repeat its boxes in order: a repeated box weighs more in the loss, where a
  padding row would be a phantom object. An image without boxes has -1 rows, which 0.32 still
  trains on as objects: keep such images out of D-FINE's training set, or few.

Either way the images go to the model as the Sequence makes them (``preprocess=``), and the
models' ``fit`` takes tf.data or Grain datasets only: pass ``sl.to_tf_dataset(seq, repeat=True)``
with ``steps_per_epoch=len(seq)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..records import Sample
from .padded import PaddedBoxEncoder

__all__ = ["KERAS_HUB_DETECTORS", "RepeatPaddedBoxEncoder", "keras_hub_targets"]

#: detector family → (its class in keras_hub.models, the box format its loss reads, how rows are padded)
KERAS_HUB_DETECTORS: dict[str, tuple[str, str, str]] = {
    "retinanet": ("RetinaNetObjectDetector", "the model's bounding_box_format (default yxyx, pixels)", "-1 rows"),
    "d_fine": ("DFineObjectDetector", "rel_cxcywh (normalised centre boxes)", "the image's boxes repeated"),
}
_ALIASES = {"retinanet": "retinanet", "retina_net": "retinanet", "d_fine": "d_fine", "dfine": "d_fine",
            "d-fine": "d_fine"}


class RepeatPaddedBoxEncoder(PaddedBoxEncoder):
    """A :class:`PaddedBoxEncoder` whose rows past an image's boxes repeat its boxes in order.

    For losses that count every row as an object (KerasHub's D-FINE): an image with N boxes,
    0 < N < M, fills its M rows with boxes 0, 1, ..., N-1, 0, 1, ...; an image without boxes
    keeps ``pad_value`` rows. :meth:`decode` drops the repeats (rows equal to an earlier row).

    Example:
        >>> import seqloaders as sl
        >>> enc = RepeatPaddedBoxEncoder(max_boxes=3, box_format="xyxy", classes_key="labels")
        >>> y = enc.encode_sample(sl.Sample("a.jpg", boxes=[[1, 2, 3, 4], [5, 6, 7, 8]], labels=[0, 1]), (10, 10))
        >>> y["labels"].tolist()
        [0.0, 1.0, 0.0]
        >>> enc.decode(y, (10, 10))[1].tolist()
        [0, 1]
    """

    def _encode(self, samples: Sequence[Sample], image_size: tuple[int, int]):
        boxes, classes, dropped = super()._encode(samples, image_size)
        counts = np.minimum([s.num_boxes for s in samples], self.max_boxes)
        rows = np.arange(self.max_boxes)
        for i in np.flatnonzero((counts > 0) & (counts < self.max_boxes)):
            source = rows % counts[i]
            boxes[i], classes[i] = boxes[i][source], classes[i][source]
        return boxes, classes, dropped

    def decode(self, target: dict[str, np.ndarray], image_size: tuple[int, int] | None = None, **kwargs):
        """One image's rows, repeats and padding left out, decoded as :meth:`PaddedBoxEncoder.decode` does."""
        boxes = np.asarray(target[self.boxes_key], np.float32).reshape(-1, 4)
        classes = np.asarray(target[self.classes_key], np.float32).reshape(-1)
        _, first = np.unique(np.concatenate([boxes, classes[:, None]], axis=1), axis=0, return_index=True)
        keep = np.sort(first)
        return super().decode({self.boxes_key: boxes[keep], self.classes_key: classes[keep]}, image_size, **kwargs)

    def __repr__(self) -> str:
        return "Repeat" + super().__repr__()


def keras_hub_targets(family: str, max_boxes: int = 100, *, bounding_box_format: str = "yxyx",
                      overflow: str = "largest") -> PaddedBoxEncoder:
    """The encoder whose ``y`` a KerasHub detector of ``family`` trains on, as its loss reads it.

    Args:
        family: "retinanet" (``keras_hub.models.RetinaNetObjectDetector``) or "d_fine"
            (``DFineObjectDetector``; also "dfine", "d-fine").
        max_boxes: M, the rows per image (RetinaNet: the most objects an image keeps; D-FINE:
            every row is an object, so keep M near the usual count and well under the model's
            ``num_queries``).
        bounding_box_format: RetinaNet only: the ``bounding_box_format`` the model was built with
            ("yxyx", its default, "xyxy", "rel_yxyx", ...). D-FINE's loss always reads "rel_cxcywh".
        overflow: which boxes an image with more than M keeps: "largest" (default) or "first".

    Returns:
        A :class:`PaddedBoxEncoder` (D-FINE: a :class:`RepeatPaddedBoxEncoder`) writing
        ``{"boxes": (B, M, 4), "labels": (B, M)}`` float32.

    Raises:
        ValueError: an unknown family, or a ``bounding_box_format`` for D-FINE other than its own.

    Example:
        >>> import seqloaders as sl
        >>> sl.encoders.keras_hub_targets("retinanet", max_boxes=4).output_shape
        {'boxes': (4, 4), 'labels': (4,)}
        >>> sl.encoders.keras_hub_targets("d_fine", max_boxes=4).box_format
        'rel_cxcywh'
    """
    key = _ALIASES.get(str(family).lower().replace(" ", "_"))
    if key is None:
        raise ValueError(f"unknown KerasHub detector family {family!r}; available: {', '.join(KERAS_HUB_DETECTORS)}")
    if key == "retinanet":
        return PaddedBoxEncoder(max_boxes, bounding_box_format, overflow=overflow, classes_key="labels")
    if bounding_box_format not in ("yxyx", "rel_cxcywh"):
        raise ValueError(f"D-FINE's loss reads normalised centre boxes (rel_cxcywh) whatever the model's "
                         f"bounding_box_format; got bounding_box_format={bounding_box_format!r}: leave it out")
    return RepeatPaddedBoxEncoder(max_boxes, "rel_cxcywh", overflow=overflow, classes_key="labels")

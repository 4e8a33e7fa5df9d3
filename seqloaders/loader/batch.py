"""What building a batch produces: the loaded samples of some positions, the built batch, and how
a failure of one sample is worded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..encoders.base import TargetEncoder
from ..errors import SampleError
from ..records import LoadedSample, Sample
from .report import LoadCounters

__all__ = ["Built", "Loaded", "encoding_error", "failure_reason"]


@dataclasses.dataclass
class Built:
    """One built batch: what the model gets and what was counted while building it."""

    x: Any
    y: Any
    counters: LoadCounters
    skips: list[tuple[str, str]]  # (image, why) for every sample replaced in the batch


@dataclasses.dataclass
class Loaded:
    """The loaded (not yet encoded) samples of some positions of a batch."""

    images: np.ndarray
    samples: list[LoadedSample]
    stats: dict[str, int]
    skips: list[tuple[str, str]]


def failure_reason(exc: BaseException, sample: Sample) -> str:
    """``"ImageError: cannot decode ..."``: the error's type and text, without the path when it is the sample's."""
    text = str(exc)
    if getattr(exc, "path", None) == str(sample.image) and isinstance(getattr(exc, "reason", None), str):
        text = exc.reason  # the message names the sample already
    return f"{type(exc).__name__}: {text}"


def encoding_error(encoder: TargetEncoder | Mapping[str, TargetEncoder], image_size: tuple[int, int], exc: Exception,
                   samples: list[LoadedSample], index: int, epoch: int) -> SampleError:
    """A SampleError naming the sample whose targets ``exc`` came from (found by encoding them one by one)."""
    encoders = list(encoder.items()) if isinstance(encoder, Mapping) else [(None, encoder)]
    failing = []  # (sample, encoder name): the first encoder each sample fails with
    for sample in samples:
        for name, enc in encoders:
            try:
                enc.encode_batch([sample], image_size, {})
            except Exception:
                failing.append((sample, f"{type(enc).__name__}" + ("" if name is None else f" {name!r}")))
                break
    if failing and (len(failing) < len(samples) or len(samples) == 1):  # not a failure of every sample
        sample, which = failing[0]
        return SampleError(f"failed to encode the targets of sample {sample.image!r} (batch {index}, "
                           f"epoch {epoch}) with {which}: {type(exc).__name__}: {exc}",
                           str(sample.image), index, epoch)
    images = ", ".join(str(s.image) for s in samples[:8]) + (" ..." if len(samples) > 8 else "")
    return SampleError(f"failed to encode the targets of batch {index} (epoch {epoch}: {images}): "
                       f"{type(exc).__name__}: {exc}", None, index, epoch)

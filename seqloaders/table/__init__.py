"""Samples as columns: :class:`SampleTable` (a :class:`~seqloaders.SampleList` whose samples are
made on access from a few flat arrays), its columns (:mod:`.columns`) and the memory-mapped file it
is saved to (:mod:`.arrayfile`)."""

from .arrayfile import CorruptFileError
from .samples import SampleTable

__all__ = ["CorruptFileError", "SampleTable"]

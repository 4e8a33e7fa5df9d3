"""The loading core: :class:`Loader` and what it reports. No Keras or TensorFlow import.

* :mod:`~seqloaders.loader.core`: ``Loader``: the epoch's order, one batch from samples to
  arrays, prefetch, the replacement of failed samples;
* :mod:`~seqloaders.loader.threads`: the daemon threads that decode a batch's images and read ahead;
* :mod:`~seqloaders.loader.processes`: worker processes writing batches into shared memory;
* :mod:`~seqloaders.loader.report`: the typed counters and :class:`LoadReport`.
"""

from .core import Loader
from .report import LoadCounters, LoadReport

__all__ = ["LoadCounters", "LoadReport", "Loader"]

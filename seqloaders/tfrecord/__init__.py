"""TFRecord shards in the TF Object Detection API layout: write, index, read at random, tf.data.

- :func:`write_tfrecords`: samples → shards, in parallel, resumable, failures reported.
- :func:`write_tfrecords_beam`: the same shards from an Apache Beam pipeline (the ``beam`` extra).
- :class:`TFRecordSource`: shards → a random-access ``Sequence[Sample]`` with a ``storage``,
  so every Sequence of the library reads from shards as from a list of samples.
- :func:`tfrecord_dataset`: shards → ``tf.data.Dataset``; :func:`to_tf_dataset`: a Sequence →
  ``tf.data.Dataset``.

Writing and reading need neither TensorFlow's runtime nor its protobuf classes; the schema is
documented in ``docs/tfrecord.md``.
"""

from .beam import write_tfrecords_beam  # Apache Beam itself is imported only when called
from .dataset import tfrecord_dataset, to_tf_dataset
from .framing import crc32c, masked_crc32c, scan_records
from .schema import PngMasks
from .source import TFRecordSource, TFRecordStorage
from .writer import WriteReport, write_tfrecords

__all__ = [
    "PngMasks",
    "TFRecordSource",
    "TFRecordStorage",
    "WriteReport",
    "crc32c",
    "masked_crc32c",
    "scan_records",
    "tfrecord_dataset",
    "to_tf_dataset",
    "write_tfrecords",
    "write_tfrecords_beam",
]

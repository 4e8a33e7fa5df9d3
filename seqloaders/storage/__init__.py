"""Where bytes come from: local files, object stores behind fsspec (TFRecord shards live in
:mod:`seqloaders.tfrecord`).

:mod:`.files` is the one module that knows about URLs; readers use it for every file they open.
"""

from .base import Storage
from .local import LocalStorage
from .remote import FsspecStorage, default_storage

__all__ = ["FsspecStorage", "LocalStorage", "Storage", "default_storage"]

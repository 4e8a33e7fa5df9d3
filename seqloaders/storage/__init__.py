"""Where bytes come from: local files today; TFRecord shards and object stores plug in here."""

from .base import Storage
from .local import LocalStorage

__all__ = ["Storage", "LocalStorage"]

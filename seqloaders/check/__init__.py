"""Dataset checks that open every image (``seqloaders check``).

- :mod:`.dataset`: :func:`check_dataset`, the checks themselves (the finding kinds are listed there);
- :mod:`.findings`: :class:`Finding` and :class:`CheckReport`, what a check returns and prints;
- :mod:`.missing`: :func:`locate_missing_images`, the folder a dataset's images moved to.
"""

from .dataset import check_dataset
from .findings import FINDING_KINDS, CheckReport, Finding
from .missing import MANY_MISSING, MissingImages, locate_missing_images

__all__ = ["FINDING_KINDS", "MANY_MISSING", "CheckReport", "Finding", "MissingImages", "check_dataset",
           "locate_missing_images"]

"""Add an annotation format of your own: a parser, a reader, one registration line.

The format here ("boxlist") has one line per image, boxes as ``x0,y0,x1,y1,class``::

    images/a.jpg 10,20,50,80,cat 60,10,90,40,dog
    images/b.jpg

Once registered, ``sl.read("boxlist", path)`` works like every built-in format, and a test that
subclasses ``tests/formats/conformance.py:FormatConformance`` checks it like the built-in ones
(see ``tests/formats/test_custom_format.py``).

Run: ``python examples/custom_format.py``
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

import seqloaders as sl
from seqloaders.formats import check_on_error, finish, handle_error

CLASSES = ("cat", "dog")


def parse_boxlist(text: str, images_dir: str = "", *, path: str = "<string>", on_error: str = "raise"):
    """Parse boxlist text. Source box format: XYXY pixels (already the internal format)."""
    check_on_error(on_error)
    report = sl.ReadReport(path=path)
    samples = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        image, items = fields[0], fields[1:]
        try:
            boxes = [[float(v) for v in item.split(",")[:4]] for item in items]
            labels = [CLASSES.index(item.split(",")[4]) for item in items]
        except (ValueError, IndexError):
            handle_error(sl.AnnotationError(f"expected x0,y0,x1,y1,class items, got {items}", path, lineno),
                         on_error, report)
            continue
        samples.append(sl.Sample(os.path.join(images_dir, image), boxes=np.reshape(boxes, (-1, 4)), labels=labels))
    return finish(samples, report, CLASSES, on_error)  # counts, the one "skipped N" warning, the SampleList


@sl.register_format("boxlist")
def read_boxlist(path, images_dir=None, *, on_error: str = "raise"):
    """Read a boxlist file. Source box format: XYXY pixels."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_boxlist(text, images_dir or os.path.dirname(path), path=str(path), on_error=on_error)


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        path = os.path.join(root, "boxes.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("images/a.jpg 10,20,50,80,cat 60,10,90,40,dog\nimages/b.jpg\n")
        samples = sl.read("boxlist", path)
        print(samples, samples.report, sep="\n")
        for sample in samples:
            print(sample, sample.boxes.tolist())


if __name__ == "__main__":
    main()

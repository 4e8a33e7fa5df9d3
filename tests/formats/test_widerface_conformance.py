"""The WIDER FACE reader, held to the same conformance checks as every other format."""

import os
from pathlib import Path

import seqloaders as sl
from seqloaders.toy import ToyFormat

from .conformance import Broken, FormatConformance


def _toy(root):
    toy = sl.make_toy_dataset(root, num_images=8, image_size=(48, 64), seed=2)
    samples = [s.replace(image_size=None) for s in toy.samples]  # the reader does not open images
    return toy, ToyFormat("widerface", toy.annotations, {"images_dir": toy.images}, samples, ("face",))


class TestWiderFaceConformance(FormatConformance):
    format_name = "widerface"

    def make_data(self, root):
        return _toy(root)[1]

    def make_broken(self, root):
        toy, data = _toy(root)
        lines = Path(toy.annotations).read_text().splitlines()
        k = next(i for i, line in enumerate(lines) if len(line.split()) == 10 and line.split()[2] != "0")
        lines[k] = "1 2 3"
        Path(toy.annotations).write_text("\n".join(lines) + "\n")
        image = next(lines[i] for i in range(k, -1, -1) if lines[i].endswith(".jpg"))
        return Broken(toy.annotations, data.options, rf"bbx_gt\.txt:{k + 1}: ", toy.annotations,
                      os.path.basename(image), len(data.samples))

"""The user-defined format of examples/custom_format.py passes the same conformance checks."""

import importlib.util
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats import finish, handle_error
from seqloaders.toy import ToyFormat

from .conformance import Broken, FormatConformance

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_format.py"


def _example():
    name = "seqloaders_example_custom_format"
    if name not in sys.modules:  # import once: a second import would register "boxlist" again
        spec = importlib.util.spec_from_file_location(name, EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _write(root, broken=False):
    example = _example()
    rows = [("a.jpg", [[1, 2, 11, 12, "cat"], [20, 5, 30, 25, "dog"]]), ("b.jpg", []), ("c.jpg", [[0, 0, 8, 8, "dog"]])]
    lines, samples = [], []
    for name, boxes in rows:
        _ok, data = cv2.imencode(".jpg", np.zeros((32, 40, 3), np.uint8))
        os.makedirs(os.path.join(root, "images"), exist_ok=True)
        with open(os.path.join(root, "images", name), "wb") as f:
            f.write(data.tobytes())
        lines.append(" ".join([f"images/{name}"] + [",".join(map(str, b)) for b in boxes]))
        samples.append(sl.Sample(os.path.join(root, "images", name), boxes=[b[:4] for b in boxes],
                                 labels=[example.CLASSES.index(b[4]) for b in boxes]))
    if broken:
        lines[2] = "images/c.jpg 0,0,8,dog"
    path = os.path.join(root, "boxes.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return ToyFormat("boxlist", path, {}, samples, example.CLASSES)


class TestCustomFormatConformance(FormatConformance):
    format_name = "boxlist"

    def make_data(self, root):
        return _write(str(root))

    def make_broken(self, root):
        data = _write(str(root), broken=True)
        return Broken(data.path, {}, r"boxes\.txt:3: expected x0,y0,x1,y1,class items", data.path, "c.jpg", 3)


def test_the_example_runs(capsys):
    _example().main()
    assert "SampleList(2 samples, 2 boxes" in capsys.readouterr().out


def test_finish_is_the_public_end_of_a_reader():
    """What a format author's reader gets from finish: counts, class names, meta, one summary warning."""
    samples = [sl.Sample("a.jpg", boxes=[[1, 2, 11, 12], [3, 3, 5, 5]], labels=[0, 1]), sl.Sample("b.jpg")]
    result = finish(samples, sl.ReadReport(path="boxes.txt"), ["cat", "dog"], "raise", meta={"version": 2})
    assert isinstance(result, sl.SampleList) and list(result) == samples
    assert (result.report.num_samples, result.report.num_boxes) == (2, 2)
    assert result.class_names == ("cat", "dog") and result.meta == {"version": 2}
    report = sl.ReadReport(path="boxes.txt")
    for line in (3, 7):
        handle_error(sl.AnnotationError("bad box", "boxes.txt", line), "skip", report)
    with pytest.warns(UserWarning, match=r"skipped 2 malformed entries in boxes\.txt") as caught:
        finish(samples[:1], report, ["cat"], "skip")
    assert len(caught) == 1 and report.num_samples == 1


def test_finish_docstring_example_runs():
    import doctest

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(finish, globs={"finish": finish}):
        runner.run(test)
    assert runner.summarize(verbose=False) == doctest.TestResults(failed=0, attempted=5)

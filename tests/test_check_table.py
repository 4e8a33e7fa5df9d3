"""The README's table of ``seqloaders check`` findings says what the code reports.

Every row's kinds are provoked on real tiny files (images, masks, an annotation file the reader
has to skip a line of) and checked against the severity the row states; the kinds of the table
and of :data:`seqloaders.check.FINDING_KINDS` are the same.
"""

from __future__ import annotations

import os
import re

import cv2
import numpy as np
import pytest
from imagehelpers import write_jpeg
from readmeblocks import README, REPO

import seqloaders as sl
from seqloaders.check import FINDING_KINDS, check_dataset
from seqloaders.masks import MaskFiles

SECTION = "Check a dataset before training"
ERROR_MAP = {"classes": [{"name": "face"}, {"name": "cat"}]}  # "unknown": "error", the default


def table_rows(text: str, section: str = SECTION) -> list[tuple[list[str], str, str]]:
    """``(kinds, severity, first cell)`` of each row of the first table after the ``section`` heading.

    The kinds are the back-quoted names of the first cell outside its parentheses.
    """
    start = next(i for i, line in enumerate(text.splitlines()) if line.startswith("#") and section in line)
    rows, seen_table = [], False
    for line in text.splitlines()[start + 1:]:
        if not line.startswith("|"):
            if seen_table:
                break
            continue
        seen_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("kind", "") or set(cells[0]) <= {"-", ":"}:
            continue
        first = cells[0]
        while re.search(r"\([^()]*\)", first):
            first = re.sub(r"\([^()]*\)", "", first)
        rows.append((re.findall(r"`([^`]+)`", first), cells[1], cells[0]))
    return rows


def _png(path, image) -> None:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    cv2.imwrite(str(path), image)


def _noise(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def every_kind(tmp_path):
    """Samples on real files with one of every finding kind, and the reader report of a skipped line."""
    d = tmp_path
    write_jpeg(d / "good.jpg", _noise(40, 60, 0))
    (d / "copy.jpg").write_bytes((d / "good.jpg").read_bytes())
    (d / "empty.jpg").write_bytes(b"")
    whole = write_jpeg(None, _noise(40, 60, 1))
    (d / "trunc.jpg").write_bytes(whole[: len(whole) // 2])
    (d / "garbage.jpg").write_bytes(b"this is not an image at all" * 10)
    write_jpeg(d / "rotated.jpg", _noise(40, 64, 2), exif_orientation=6)
    for name, seed in (("sized.png", 3), ("boxes.png", 4), ("masked.png", 5), ("listed.png", 6), ("cls.png", 7)):
        _png(d / name, _noise(30, 50, seed))
    _png(d / "m_good.png", np.full((30, 50), 255, np.uint8))
    _png(d / "m_small.png", np.full((10, 10), 255, np.uint8))
    (d / "m_bad.png").write_bytes(b"not a png")
    box = [[2, 2, 10, 10]]
    samples = [
        sl.Sample(str(d / "good.jpg"), boxes=box, labels=[0]),
        sl.Sample(str(d / "copy.jpg"), boxes=box, labels=[0]),                        # duplicate image
        sl.Sample(str(d / "gone.jpg"), boxes=box, labels=[0]),                        # missing image
        sl.Sample(str(d / "empty.jpg"), boxes=box, labels=[0]),                       # empty image
        sl.Sample(str(d / "trunc.jpg"), boxes=box, labels=[0]),                       # truncated image
        sl.Sample(str(d / "garbage.jpg"), boxes=box, labels=[0]),                     # unreadable image
        sl.Sample(str(d / "rotated.jpg"), boxes=box, labels=[0]),                     # exif orientation
        sl.Sample(str(d / "sized.png"), boxes=box, labels=[0], image_size=(31, 50)),  # image size mismatch
        sl.Sample(str(d / "boxes.png"), boxes=[[0, 0, 80, 10], [5, 5, 5, 9]], labels=[0, 0]),  # outside, zero-size
        sl.Sample(str(d / "listed.png"), boxes=box, labels=[0]),
        sl.Sample(str(d / "listed.png"), boxes=box, labels=[0]),                      # duplicate entry
        sl.Sample(str(d / "masked.png"), boxes=box * 4, labels=[0] * 4,              # mask findings
                  masks=MaskFiles([d / "m_good.png", d / "m_gone.png", d / "m_bad.png", d / "m_small.png"], (30, 50))),
        sl.Sample(str(d / "masked.png"), boxes=box * 2, labels=[0] * 2,              # mask count mismatch
                  masks=MaskFiles([d / "m_good.png"], (30, 50))),
        sl.Sample(str(d / "cls.png"), boxes=box * 3, labels=[1, 2, 7]),               # class map, unknown class
    ]
    annotations = d / "bad.txt"  # a WIDER FACE file whose second entry the reader skips
    annotations.write_text("good.jpg\n1\n2 2 8 8 0 0 0 0 0 0\nbroken.jpg\nx\n")
    with pytest.warns(UserWarning):
        report = sl.read_wider_face(annotations, d, on_error="skip").report
    assert report.skipped
    return sl.SampleList(samples, report=report, class_names=("face", "cat", "chair"))


def _severities(samples, class_map) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in check_dataset(samples, class_map=class_map, progress=False, threads=2).findings:
        found.setdefault(f.kind, set()).add(f.severity)
    return found


def test_the_readme_table_states_the_severity_the_code_reports(every_kind):
    with open(README, encoding="utf-8") as f:
        rows = table_rows(f.read())
    assert rows, f"no findings table under the '{SECTION}' heading of README.md"
    table_kinds = {kind for kinds, _, _ in rows for kind in kinds}
    assert table_kinds == set(FINDING_KINDS), (f"in the README only: {sorted(table_kinds - set(FINDING_KINDS))}; "
                                               f"in the code only: {sorted(set(FINDING_KINDS) - table_kinds)}")
    default = _severities(every_kind, sl.ClassMap.from_dict(ERROR_MAP))
    assert set(default) == set(FINDING_KINDS), sorted(set(FINDING_KINDS) - set(default))  # every kind provoked
    for kinds, severity, cell in rows:
        maps = re.findall(r"`(examples/[^`]+\.json)`", cell)
        observed = _severities(every_kind, sl.ClassMap.from_json(os.path.join(REPO, maps[0]))) if maps else default
        for kind in kinds:
            assert observed[kind] == {severity}, (f"README row '{cell}' says {severity}; the code reports "
                                                  f"{sorted(observed[kind])}")


def test_coco_to_4_drops_unmapped_classes_so_they_are_warnings():
    """The repository's own class map: a class it does not list is dropped, not an error."""
    cmap = sl.ClassMap.from_json(os.path.join(REPO, "examples", "classmaps", "coco_to_4.json"))
    assert cmap.unknown == "drop"
    sample = sl.Sample("x.png", boxes=[[0, 0, 4, 4], [0, 0, 5, 5]], labels=[0, 1])
    report = check_dataset([sample], class_map=cmap, class_names=["person", "chair"], progress=False)
    (finding,) = report.by_kind("class not in class map")
    assert finding.severity == "warning" and "'chair'" in finding.message and "dropped" in finding.message


def test_table_parser_reads_kinds_outside_parentheses():
    text = ("## Check a dataset before training\n\n| kind | severity |\n|---|---|\n"
            "| `a`, `b` (see `--x`) | error |\n| `c` (one (nested) note), `d` | warning |\n\nafter\n| `z` | no |\n")
    assert [(k, s) for k, s, _ in table_rows(text)] == [(["a", "b"], "error"), (["c", "d"], "warning")]

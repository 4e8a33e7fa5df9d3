"""Hostile annotation files: XML entities, YAML tags, image paths that leave the images root.

Each class of input is logged with :func:`reliability.record` for RELIABILITY.md.
"""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from imagehelpers import write_jpeg
from reliability import record

import seqloaders as sl
from seqloaders.formats import load_yolo_config, parse_voc_xml

pytestmark = pytest.mark.fuzz

CATEGORY = "hostile annotation files"
SECRET = "TOP-SECRET-7f3a"


# ------------------------------------------------------------------------------------ XML (VOC)
def _voc(doctype: str, filename: str = "a.jpg") -> str:
    return (f'<?xml version="1.0"?>\n{doctype}\n<annotation>\n<filename>{filename}</filename>\n'
            "<object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox>"
            "</object>\n</annotation>\n")


def _xml_attacks(secret: Path) -> dict[str, str]:
    uri = secret.as_uri()
    laughs = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{k} "' + f"&lol{k - 1};" * 10 + '">' for k in range(1, 10)]
    return {
        "billion laughs": _voc("<!DOCTYPE annotation [\n" + "\n".join(laughs) + "\n]>", "&lol9;"),
        "quadratic blowup": _voc(f'<!DOCTYPE annotation [<!ENTITY a "{"x" * 50_000}">]>', "&a;" * 2000),
        "external entity (file:// secret)": _voc(f'<!DOCTYPE annotation [<!ENTITY s SYSTEM "{uri}">]>', "&s;"),
        "external parameter entity": _voc(f'<!DOCTYPE annotation [<!ENTITY % p SYSTEM "{uri}"> %p;]>'),
        "external DTD": _voc(f'<!DOCTYPE annotation SYSTEM "{uri}">'),
        "network entity": _voc('<!DOCTYPE annotation [<!ENTITY s SYSTEM "http://127.0.0.1:9/x">]>', "&s;"),
    }


def test_xml_entities_and_external_references_never_expand_or_leak(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    attacks = _xml_attacks(secret)
    for name, text in attacks.items():
        path = tmp_path / f"{re.sub(r'[^a-z]+', '_', name)}.xml"
        path.write_text(text)
        try:
            samples = sl.read_voc(path)
        except sl.AnnotationError as exc:  # refused: naming the file, the line, and why
            assert str(path) in str(exc) and exc.line is not None
            assert "refused XML" in str(exc) or "not well-formed" in str(exc), (name, exc)
            assert SECRET not in str(exc)
        else:  # only the external DTD is not an entity: expat never fetches it, so nothing is read
            assert name == "external DTD", name
            assert SECRET not in repr([(s.image, s.meta) for s in samples])
    record(CATEGORY, "voc: XML entity bombs and external references (billion laughs, quadratic blowup, "
           "file:// entity, parameter entity, external DTD, network entity)", len(attacks),
           "refused with AnnotationError naming file:line (external DTD: ignored, never fetched); secret never read")


def test_a_plain_voc_file_still_parses():
    assert parse_voc_xml(_voc("")).filename == "a.jpg"


# ------------------------------------------------------------------------------------ YAML (YOLO)
YAML_ATTACKS = {
    "python/object/apply": "names: !!python/object/apply:os.system ['touch {marker}']\n",
    "python/object": "names: !!python/object:argparse.Namespace {{a: 1}}\n",
    "python/name": "names: !!python/name:os.system\n",
    "python/module": "names: !!python/module:os\n",
    "python/object/new": "names: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
}


def test_yaml_python_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    for name, body in YAML_ATTACKS.items():
        path = tmp_path / f"{name.replace('/', '_')}.yaml"
        path.write_text("train: images\n" + body.format(marker=marker))
        with pytest.raises(sl.AnnotationError, match=r"\.yaml:2: not valid YAML") as info:
            load_yolo_config(path)
        assert "could not determine a constructor" in str(info.value), str(info.value)
        assert not marker.exists()
    record(CATEGORY, "yolo: YAML !!python tags (object, object/apply, object/new, name, module)", len(YAML_ATTACKS),
           "refused by yaml.safe_load: AnnotationError naming file:line; nothing constructed or run")


def test_no_reader_unpickles_or_evaluates_input():
    """A source scan: no module that reads input files uses pickle, eval/exec or an unsafe YAML loader."""
    package = Path(sl.__file__).parent
    forbidden = re.compile(r"\bpickle\.loads?\(|\beval\(|\bexec\(|yaml\.(load|full_load|unsafe_load)\(|"
                           r"allow_pickle\s*=\s*True|\bmarshal\.loads?\(|\bshelve\.")
    # the loader's worker processes unpickle the loader their parent sent them (processes.py), never input files
    internal = {"processes.py"}
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name in internal:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if forbidden.search(code) and not code.strip().startswith(("\"", "'", ">>>")):
                found.append(f"{path.relative_to(package)}:{lineno}: {line.strip()}")
    assert not found, found


# ------------------------------------------------------------------------- image paths outside root
@pytest.fixture
def tree(tmp_path):
    """``data/images`` with a real image, a secret image outside, and links inside pointing out and in."""
    data = tmp_path / "data"
    images = data / "images"
    outside = tmp_path / "outside"
    image = np.full((8, 10, 3), 128, np.uint8)
    write_jpeg(images / "in.jpg", image)
    write_jpeg(outside / "secret.jpg", image)
    os.symlink(outside / "secret.jpg", images / "link.jpg")  # a file link leading out
    os.symlink(outside, images / "linkdir")  # a folder link leading out
    os.symlink(images / "in.jpg", images / "inner.jpg")  # a link that stays inside: fine
    return data, images, outside


ESCAPES = {
    "../": "../../outside/secret.jpg",
    "absolute path": None,  # filled with the absolute path of the secret image
    "symlink to a file outside": "link.jpg",
    "symlink to a folder outside": "linkdir/secret.jpg",
}


def _write_annotation(fmt: str, data: Path, images: Path, name: str) -> tuple[str, dict]:
    """Write a one-image annotation file of ``fmt`` naming ``name``; return its path and reader options."""
    if fmt == "widerface":
        path = data / "gt.txt"
        path.write_text(f"{name}\n1\n1 1 2 2 0 0 0 0 0 0\n")
        return str(path), {"images_dir": str(images)}
    if fmt == "coco":
        path = data / "instances.json"
        path.write_text(json.dumps({"images": [{"id": 1, "file_name": name, "height": 8, "width": 10}],
                                    "annotations": [], "categories": [{"id": 1, "name": "x"}]}))
        return str(path), {"images_dir": str(images)}
    if fmt == "voc":
        path = data / "a.xml"
        path.write_text(_voc("", name).replace("<?xml version=\"1.0\"?>\n\n", ""))
        return str(path), {"images_dir": str(images)}
    if fmt == "csv":
        path = data / "boxes.csv"
        path.write_text(f"image,x0,y0,x1,y1\n{name},1,1,2,2\n")
        return str(path), {"images_dir": str(images), "columns": {"image": "image", "boxes": ["x0", "y0", "x1", "y1"]}}
    if fmt == "yolo":  # an image list: entries are relative to the list's folder
        path = images / "list.txt"
        path.write_text(f"{name}\n")
        return str(path), {}
    raise ValueError(fmt)


READERS = ["widerface", "coco", "voc", "csv", "yolo"]


@pytest.mark.parametrize("fmt", READERS)
def test_image_paths_leaving_the_root_are_refused_unless_allowed(tree, fmt):
    data, images, outside = tree
    escapes = dict(ESCAPES, **{"absolute path": str(outside / "secret.jpg")})
    for kind, name in escapes.items():
        path, options = _write_annotation(fmt, data, images, name)
        with pytest.raises(sl.AnnotationError, match=r"leaves the images root|symbolic link") as info:
            sl.read(fmt, path, **options)
        assert info.value.path == path and "allow_outside_root=True" in str(info.value), kind
        samples = sl.read(fmt, path, allow_outside_root=True, **options)
        assert len(samples) == 1, kind
        assert os.path.realpath(samples[0].image) == os.path.realpath(outside / "secret.jpg"), kind
    for inside in ("in.jpg", "inner.jpg", "./in.jpg"):  # links that stay inside the root are fine
        path, options = _write_annotation(fmt, data, images, inside)
        assert len(sl.read(fmt, path, **options)) == 1
    record(CATEGORY, f"{fmt}: image paths leaving the images root (../, absolute, symlinked file, symlinked folder)",
           len(escapes), "refused with AnnotationError naming the file; read with allow_outside_root=True")


def test_skip_policy_skips_only_the_escaping_image(tree):
    data, images, _ = tree
    path = data / "gt.txt"
    path.write_text("in.jpg\n0\n0 0 0 0 0 0 0 0 0 0\nlink.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n")
    with pytest.warns(UserWarning, match="skipped 1 malformed"):
        samples = sl.read_wider_face(path, images, on_error="skip")
    assert [os.path.basename(s.image) for s in samples] == ["in.jpg"]
    assert samples.report.skipped[0][0] == 4


def test_relative_csv_boxes_read_sizes_of_allowed_outside_images(tree):
    data, images, outside = tree
    path = data / "rel.csv"
    path.write_text(f"image,cx,cy,w,h\n{outside / 'secret.jpg'},0.5,0.5,0.5,0.5\n")
    columns = {"image": "image", "boxes": ["cx", "cy", "w", "h"]}
    with pytest.raises(sl.AnnotationError, match="leaves the images root"):
        sl.read_csv(path, columns, box_format="yolo", images_dir=images)
    samples = sl.read_csv(path, columns, box_format="yolo", images_dir=images, allow_outside_root=True)
    assert samples[0].image_size == (8, 10)
    np.testing.assert_allclose(samples[0].boxes, [[2.5, 2, 7.5, 6]])

"""``check_dataset`` and ``seqloaders check``: every image opened, every problem found, nothing changed."""

import hashlib
import json
import os
import shutil

import cv2
import numpy as np
import pytest
from imagehelpers import write_jpeg

import seqloaders as sl
from seqloaders.check import CheckReport, Finding, check_dataset
from seqloaders.cli import main
from seqloaders.masks import MaskFiles, encode_rle

CSV_COLUMNS = '{"image": "image", "boxes": ["xmin", "ymin", "xmax", "ymax"], "label": "label"}'


def _png(path, image):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    _ok, data = cv2.imencode(".png", image)
    path.write_bytes(data.tobytes())


def _noise(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _hashes(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture
def seeded(tmp_path):
    """A CSV dataset with one of each problem; returns (root, csv path, class map path, {image: line})."""
    root = tmp_path / "data"
    images = root / "images"
    images.mkdir(parents=True)
    good = write_jpeg(images / "good.jpg", _noise(40, 60, 0))
    (images / "copy.jpg").write_bytes(good)  # same bytes: a duplicate
    _png(images / "clean.png", _noise(48, 48, 1))
    _png(images / "other.png", _noise(30, 30, 2))
    whole = write_jpeg(None, _noise(40, 60, 3))
    (images / "trunc.jpg").write_bytes(whole[: len(whole) // 2])
    (images / "empty.jpg").write_bytes(b"")
    # stored 64 wide x 40 high; EXIF orientation 6 turns it to 40 wide x 64 high
    write_jpeg(images / "rotated.jpg", _noise(40, 64, 4), exif_orientation=6)
    rows = [
        ("good.jpg", "5,5,20,20,person"),
        ("copy.jpg", "5,5,20,20,person"),
        ("clean.png", "10,10,10,30,person"),     # zero-size box
        ("other.png", "2,2,20,20,zebra"),        # class not in the class map
        ("trunc.jpg", "1,1,5,5,car"),
        ("empty.jpg", "1,1,5,5,car"),
        ("rotated.jpg", "30,5,60,20,person"),    # fits the stored 64 px width, not the decoded 40
    ]
    csv = root / "boxes.csv"
    csv.write_text("image,xmin,ymin,xmax,ymax,label\n" + "".join(f"images/{i},{r}\n" for i, r in rows))
    lines = {f"images/{image}": k + 2 for k, (image, _) in enumerate(rows)}
    cmap = tmp_path / "classes.json"
    cmap.write_text(json.dumps({"classes": [{"name": "person"}, {"name": "car"}]}))
    return root, csv, cmap, lines


def test_check_cli_reports_every_problem_with_file_and_line(seeded, tmp_path, capsys):
    root, csv, cmap, lines = seeded
    before = _hashes(root)
    out_json = tmp_path / "report.json"
    status = main(["check", "csv", str(csv), "--images-dir", str(root), "-o", f"columns={CSV_COLUMNS}",
                   "--class-map", str(cmap), "--json", str(out_json), "--threads", "3"])
    assert status == 1
    text = capsys.readouterr().out
    assert "FAILED" in text and f"wrote {out_json}" in text
    for kind in ("truncated image", "empty image", "exif orientation", "box outside image", "zero-size box",
                 "duplicate image", "class not in class map"):
        assert kind in text

    report = json.loads(out_json.read_text())
    assert report["ok"] is False and report["num_images"] == 7 and report["num_samples"] == 7
    found = {(f["kind"], os.path.relpath(f["image"], root)): f for f in report["findings"]}
    expected = {
        ("truncated image", "images/trunc.jpg"): "error",
        ("empty image", "images/empty.jpg"): "error",
        ("exif orientation", "images/rotated.jpg"): "warning",
        ("box outside image", "images/rotated.jpg"): "error",
        ("zero-size box", "images/clean.png"): "warning",
        ("duplicate image", "images/good.jpg"): "warning",
        ("class not in class map", "images/other.png"): "error",
    }
    assert set(found) == set(expected)
    for key, severity in expected.items():
        f = found[key]
        assert f["severity"] == severity
        assert f["file"] == str(csv) and f["line"] == lines[key[1]], f  # annotation file and line of the image
    assert report["errors"] == 4 and report["warnings"] == 3 and report["counts"]["duplicate image"] == 1

    # the details say what and where
    rotated = found[("exif orientation", "images/rotated.jpg")]
    assert rotated["details"] == {"orientation": 6, "stored_size": [40, 64], "image_size": [64, 40]}
    assert "64x40" in rotated["message"] and "40x64" in rotated["message"]
    outside = found[("box outside image", "images/rotated.jpg")]
    assert outside["details"]["xyxy"] == [30, 5, 60, 20] and outside["details"]["image_size"] == [64, 40]
    copies = found[("duplicate image", "images/good.jpg")]["details"]["copies"]
    assert [(os.path.relpath(c["image"], root), c["line"]) for c in copies] == [("images/good.jpg", 2),
                                                                                  ("images/copy.jpg", 3)]
    assert "truncated JPEG" in found[("truncated image", "images/trunc.jpg")]["message"]
    assert "zebra" in found[("class not in class map", "images/other.png")]["message"]
    assert _hashes(root) == before  # read-only: no file changed, none added


def test_check_dataset_api_same_findings_on_one_or_many_threads(seeded):
    root, csv, cmap, _ = seeded
    samples = sl.read_csv(csv, columns=json.loads(CSV_COLUMNS), images_dir=root)
    cmap = sl.ClassMap.from_json(cmap)
    one = check_dataset(samples, class_map=cmap, threads=1, progress=False)
    many = check_dataset(samples, class_map=cmap, threads=4, progress=True)  # not a TTY: no bar
    assert [f.to_dict() for f in one.findings] == [f.to_dict() for f in many.findings]
    assert not one.ok and len(one.errors) == 4 and len(one.warnings) == 3
    assert "FAILED, 4 errors, 3 warnings: " in repr(one)
    assert one.summary().splitlines()[0].startswith("checked 7 images (7 samples, 7 boxes)")
    assert json.loads(one.to_json())["findings"] == [f.to_dict() for f in one.findings]
    # without a class map the zebra is a known class of the CSV
    assert not check_dataset(samples, progress=False).by_kind("class not in class map")
    drop = sl.ClassMap.from_dict({"classes": [{"name": "person"}, {"name": "car"}], "unknown": "drop"})
    (zebra,) = check_dataset(samples, class_map=drop, progress=False).by_kind("class not in class map")
    assert zebra.severity == "warning" and "will be dropped" in zebra.message


def test_workers_is_a_deprecated_alias_of_threads(toy, capsys):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    with pytest.warns(DeprecationWarning, match=r"workers=.*threads="):
        old = check_dataset(samples, workers=2, progress=False)
    assert old.ok and old.num_images == len(toy.samples)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="pass threads= only"):
        check_dataset(samples, threads=1, workers=2, progress=False)
    with pytest.warns(DeprecationWarning, match="--workers is deprecated: use --threads"):
        assert main(["check", "widerface", toy.annotations, "--images", toy.images, "--workers", "2",
                     "--no-progress"]) == 0
    assert "OK, 0 errors" in capsys.readouterr().out


def test_check_clean_dataset_exits_zero(toy, capsys):
    assert main(["check", "widerface", toy.annotations, "--images", toy.images]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"checked {len(toy.samples)} images") and "OK, 0 errors, 0 warnings" in out


def test_mask_file_of_the_wrong_size(tmp_path):
    image = tmp_path / "a.png"
    _png(image, _noise(40, 60, 0))
    good, bad = tmp_path / "m0.png", tmp_path / "m1.png"
    _png(good, np.full((40, 60), 255, np.uint8))
    _png(bad, np.full((30, 30), 255, np.uint8))
    sample = sl.Sample(str(image), boxes=[[0, 0, 60, 40], [0, 0, 30, 30]], labels=[0, 0],
                       masks=MaskFiles([good, bad], (40, 60)), meta={"line": 7})
    report = check_dataset([sample], progress=False, annotation_file="list.txt")
    (finding,) = report.findings
    assert finding.kind == "mask size mismatch" and finding.severity == "error" and not report.ok
    assert (finding.file, finding.line, finding.details["box"], finding.details["mask"]) == ("list.txt", 7, 1,
                                                                                             str(bad))
    assert finding.details["mask_size"] == [30, 30] and finding.details["image_size"] == [40, 60]
    assert str(finding).startswith(f"error: list.txt:7 ({image}): mask size mismatch: mask file {bad} is 30x30")
    os.remove(bad)
    (missing,) = check_dataset([sample], progress=False).findings
    assert missing.kind == "missing mask"


def test_check_cli_coco_masks_of_another_size_than_the_real_image(tmp_path, capsys):
    """The annotations say 60x40 and their RLE masks agree, but the image file is 60x50."""
    root = tmp_path / "coco"
    _png(root / "images" / "a.png", _noise(50, 60, 0))
    _png(root / "images" / "b.png", _noise(40, 60, 1))
    mask = np.zeros((40, 60), bool)
    mask[5:20, 10:30] = True
    rle = encode_rle(mask)
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40},
                   {"id": 2, "file_name": "b.png", "width": 60, "height": 40}],
        "annotations": [{"id": k, "image_id": k, "category_id": 1, "bbox": [10, 5, 20, 15], "area": 300,
                         "iscrowd": 0, "segmentation": rle} for k in (1, 2)],
        "categories": [{"id": 1, "name": "person"}],
    }
    ann = root / "annotations.json"
    ann.write_text(json.dumps(data))
    out_json = tmp_path / "r.json"
    assert main(["check", "coco", str(ann), "--images-dir", str(root / "images"), "--json", str(out_json),
                 "--no-progress"]) == 1
    findings = json.loads(out_json.read_text())["findings"]
    assert {(f["kind"], os.path.basename(f["image"])) for f in findings} == {
        ("image size mismatch", "a.png"), ("mask size mismatch", "a.png")}
    mismatch = next(f for f in findings if f["kind"] == "mask size mismatch")
    assert mismatch["file"] == str(ann) and mismatch["details"]["mask_size"] == [40, 60]
    assert mismatch["details"]["image_size"] == [50, 60]
    capsys.readouterr()


def test_check_cli_reports_entries_the_reader_skipped(tmp_path, capsys):
    toy = sl.make_toy_formats(tmp_path, ["maskfolders"], num_images=4)["maskfolders"]
    first = sorted(os.listdir(toy.path))[0]
    mask = os.path.join(toy.path, first, "masks", sorted(os.listdir(os.path.join(toy.path, first, "masks")))[0])
    _png(type(tmp_path)(mask), np.full((5, 5), 255, np.uint8))  # a mask of the wrong size
    assert main(["check", "maskfolders", toy.path, "-o", "class_name=shape"]) == 1
    out = capsys.readouterr().out
    assert "error malformed annotation: 1" in out and mask in out and "mask is 5x5 pixels" in out


def test_bad_arguments_exit_two(tmp_path, capsys):
    assert main(["check", "widerface", str(tmp_path / "none.txt")]) == 2
    assert main(["check", "csv", str(tmp_path / "none.csv"), "-o", "columns"]) == 2
    err = capsys.readouterr().err
    assert "seqloaders check: error" in err and "KEY=VALUE" in err


def test_finding_and_empty_report_texts():
    f = Finding("duplicate image", "warning", "a.jpg", "2 files have the same content")
    assert f.where == "a.jpg" and f.to_dict()["details"] == {}
    empty = CheckReport([], num_samples=0)
    assert empty.ok and "no findings" in repr(empty)


def test_duplicates_group_all_copies(tmp_path):
    data = write_jpeg(tmp_path / "a.jpg", _noise(8, 8, 0))
    for name in ("b.jpg", "c.jpg"):
        shutil.copy(tmp_path / "a.jpg", tmp_path / name)
    write_jpeg(tmp_path / "d.jpg", _noise(8, 8, 1))
    samples = [sl.Sample(str(tmp_path / n)) for n in ("a.jpg", "b.jpg", "c.jpg", "d.jpg")]
    (dup,) = check_dataset(samples, progress=False).findings
    assert [os.path.basename(c["image"]) for c in dup.details["copies"]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert dup.details["sha256"] == hashlib.sha256(data).hexdigest()

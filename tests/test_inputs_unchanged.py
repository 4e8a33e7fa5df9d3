"""Nothing lost, nothing changed: no operation of the library modifies or adds a file in its input tree.

A toy dataset in every format is hashed (SHA-256, size, modification time of every file, and the
list of files and folders) before and after each operation: reading, loading batches through
DetectionSequence with every kind of encoder, rendering masks, converting to TFRecord (API and
``seqloaders convert``), previews (API and ``seqloaders preview``), ``seqloaders check`` and
``seqloaders inspect``. Outputs go to a separate folder.
"""

import hashlib
import json
import os
import warnings

import numpy as np
import pytest
from reliability import record

import seqloaders as sl
from seqloaders.cli import main as cli
from seqloaders.preview import save_preview
from seqloaders.toy import TOY_KEYPOINTS, make_toy_formats

pytestmark = pytest.mark.fuzz

FORMATS = ["widerface", "coco", "voc", "yolo", "yolo-segment", "yolo-pose", "maskfolders", "csv", "classfolders"]


def snapshot(root) -> dict[str, tuple]:
    """Every file and folder under ``root``: (sha256, size, mtime_ns) for files, "dir" for folders."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            state[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            path = os.path.join(dirpath, f)
            st = os.lstat(path)
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            state[os.path.relpath(path, root)] = (digest, st.st_size, st.st_mtime_ns)
    return state


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    toys = {name: (toy.format, toy.path, dict(toy.options))
            for name, toy in make_toy_formats(root, [f for f in FORMATS if f != "widerface"], num_images=6).items()}
    wider = sl.make_toy_dataset(root / "widerface", num_images=6, image_size=(60, 80))
    toys["widerface"] = ("widerface", wider.annotations, {"images_dir": wider.images})
    return root, toys, snapshot(root)


def _encoders(fmt: str, samples) -> dict:
    num_classes = max(1, len(samples.class_names))
    if fmt == "classfolders":
        return {"label": sl.ClassificationEncoder(num_classes)}
    encoders = {"grid": sl.GridEncoder(4, num_classes=num_classes), "padded": sl.PaddedBoxEncoder(8)}
    if fmt in ("coco", "yolo-segment", "maskfolders"):
        encoders["instance"] = sl.InstanceMaskEncoder(4)
        encoders["semantic"] = sl.SemanticMaskEncoder(num_classes)
    if fmt in ("coco", "yolo-pose"):
        encoders["keypoints"] = sl.KeypointEncoder(4, len(TOY_KEYPOINTS))
    return encoders


def _cli(args: list[str]) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # commands report skipped entries themselves
        return cli(args)


def _option_args(options: dict) -> list[str]:
    args = []
    for key, value in options.items():
        if key == "images_dir":
            args += ["--images-dir", str(value)]
        else:
            args += ["-o", f"{key}={json.dumps(list(value) if isinstance(value, tuple) else value)}"]
    return args


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_operation_changes_or_adds_an_input_file(inputs, tmp_path, fmt, capsys):
    root, toys, before = inputs
    name, path, options = toys[fmt]
    out = tmp_path / "out"
    done = []

    samples = sl.read(name, path, **options)
    assert len(samples) == 6
    done.append("read")

    seq = sl.DetectionSequence(samples, batch_size=4, image_size=(48, 64), encoder=_encoders(fmt, samples),
                               augment="detection", seed=1, threads=2)
    for epoch in range(2):
        seq.set_epoch(epoch)
        for i in range(len(seq)):
            x, y = seq[i]
            assert x.shape[1:] == (48, 64, 3) and set(y) == set(seq.encoder)
    done.append(f"DetectionSequence ({', '.join(seq.encoder)}, augmented, 2 epochs)")

    if any(s.masks is not None for s in samples):
        for s in samples:
            if s.masks is not None:
                assert sl.decode_masks(s).shape[0] == s.num_boxes
        done.append("decode_masks")

    save_preview(seq, out / "preview.png")
    done.append("save_preview")

    report = sl.check_dataset(samples, progress=False)
    assert report.num_images == 6
    done.append("check_dataset")
    sl.summarize(samples)
    done.append("summarize")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        written = sl.write_tfrecords(samples, out / "tfrecord", num_shards=2, progress=False)
    assert not written.failed
    done.append("write_tfrecords")

    dataset_args = [name, str(path), *_option_args(options)]
    assert _cli(["check", *dataset_args, "--no-progress", "--json", str(out / "check.json")]) in (0, 1)
    assert _cli(["inspect", *dataset_args, "--json", str(out / "inspect.json")]) in (0, 1)
    encoder = "classification" if fmt == "classfolders" else "grid"
    assert _cli(["preview", *dataset_args, "--out", str(out / "cli-preview.png"), "--encoder", encoder,
                 "--num-images", "4", "--image-size", "48", "64"]) == 0
    done += ["seqloaders check", "seqloaders inspect", "seqloaders preview"]
    if set(options) <= {"images_dir"}:  # convert takes only --images-dir
        assert _cli(["convert", *dataset_args, "--out", str(out / "cli-tfrecord"), "--no-progress"]) == 0
        done.append("seqloaders convert")
    capsys.readouterr()

    after = snapshot(root)
    assert sorted(set(after) - set(before)) == [], "new files in the input tree"
    assert sorted(set(before) - set(after)) == [], "files gone from the input tree"
    changed = [p for p in before if before[p] != after[p]]
    assert changed == [], f"changed input files: {changed}"
    mine = {p: v for p, v in before.items() if p.split(os.sep)[0] == fmt and v != "dir"}
    assert mine and all(os.path.exists(root / p) for p in mine)
    record("nothing changed", f"{fmt}: {', '.join(done)}", len(mine),
           "every input file has the same SHA-256, size and mtime afterwards; no file or folder added or removed")


def test_the_snapshot_sees_a_change(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    before = snapshot(tmp_path)
    (tmp_path / "a.txt").write_text("b")
    (tmp_path / "new").mkdir()
    after = snapshot(tmp_path)
    assert before["a.txt"] != after["a.txt"] and "new" in after and np.array_equal(sorted(before), ["a.txt"])

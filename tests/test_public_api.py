import os

import cv2
import numpy as np

import seqloaders as sl
from seqloaders.preview import save_preview


def test_all_lists_exactly_the_public_names():
    public = {name for name in dir(sl) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(sl, name)).__name__ == "module"}
    assert set(sl.__all__) == public - modules
    for name in sl.__all__:
        assert getattr(sl, name).__doc__, f"{name} has no docstring"


def test_the_top_level_is_the_front_door():
    """At most 50 names, sorted; every name the README uses as sl.X works; the rest stay reachable."""
    import re

    assert len(sl.__all__) <= 50 and sl.__all__ == sorted(sl.__all__)
    with open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for name in sorted(set(re.findall(r"\bsl\.([A-Za-z_][A-Za-z0-9_]*)", readme))):
        assert hasattr(sl, name), f"README.md uses sl.{name}, which the top level does not have"
    for name in ("encode_grid", "SampleSequence", "box_areas", "ToyDataset", "write_tfrecords_beam"):
        assert getattr(sl, name) is not None and name not in dir(sl)  # compatible, but not listed
    with __import__("pytest").raises(AttributeError, match="no attribute 'nope'"):
        sl.nope  # noqa: B018


def test_version():
    assert sl.__version__.count(".") == 2


def test_toy_dataset_boxes_are_exact(tmp_path):
    toy = sl.make_toy_dataset(tmp_path, num_images=8, seed=1)
    assert "8 images" in repr(toy)
    assert toy.samples[7].num_boxes == 0  # every 8th image has no face
    for sample in toy.samples:
        with open(sample.image, "rb") as f:
            image = sl.decode_image(f.read())
        assert image.shape[:2] == sample.image_size
        for x0, y0, x1, y1 in sample.boxes.astype(int):
            # skin-coloured pixels (red > blue + 30) reach every side of the box, and not beyond it
            face = image[y0:y1, x0:x1].astype(int)
            skin = face[..., 0] > face[..., 2] + 30
            assert skin[0].any() and skin[-1].any() and skin[:, 0].any() and skin[:, -1].any()
    again = sl.make_toy_dataset(tmp_path / "again", num_images=8, seed=1)
    assert [s.boxes.tolist() for s in again.samples] == [s.boxes.tolist() for s in toy.samples]


def test_preview_draws_the_decoded_targets(toy, tmp_path):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    seq = sl.DetectionSequence(samples, batch_size=4, image_size=(112, 112), encoder=sl.GridEncoder(grid_size=7))
    path = save_preview(seq, tmp_path / "preview.png")
    mosaic = cv2.imread(path)
    assert mosaic.shape == (112, 448, 3)
    green = (mosaic[..., 1] > 200) & (mosaic[..., 0] < 80) & (mosaic[..., 2] < 80)
    assert green.sum() > 50  # box outlines were drawn
    images, _ = seq.load_batch(0)
    assert not np.array_equal(cv2.cvtColor(mosaic, cv2.COLOR_BGR2RGB)[:, :112], images[0])
    assert os.path.getsize(path) > 1000


def test_import_and_parsing_do_not_load_keras_or_tensorflow(toy):
    import subprocess
    import sys

    code = ("import sys, seqloaders as sl\n"
            f"samples = sl.read_wider_face({str(toy.annotations)!r}, {str(toy.images)!r})\n"
            "assert len(samples) > 0\n"
            "heavy = sorted(m for m in ('keras', 'tensorflow') if m in sys.modules)\n"
            "assert not heavy, heavy\n"
            "sl.DetectionSequence  # the first use loads Keras\n"
            "assert 'keras' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_cli_commands_that_need_no_model_do_not_load_keras(toy):
    import subprocess
    import sys

    code = ("import sys\n"
            "from seqloaders.cli import main\n"
            f"assert main(['inspect', 'widerface', {str(toy.annotations)!r},"
            f" '--images-dir', {str(toy.images)!r}]) == 0\n"
            f"assert main(['check', 'widerface', {str(toy.annotations)!r}, '--images-dir', {str(toy.images)!r}]) == 0\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

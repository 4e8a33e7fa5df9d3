import os

import pytest

from seqloaders.formats.classfolders import read_class_folders
from seqloaders.toy import TOY_CLASSES, write_toy_class_folders

from .conformance import Broken, FormatConformance


class TestClassFoldersConformance(FormatConformance):
    format_name = "classfolders"

    def make_data(self, root):
        return write_toy_class_folders(root, num_images=8)

    def make_broken(self, root):
        toy = write_toy_class_folders(root, num_images=8)
        bad = toy.samples[1].image
        with open(bad, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n broken")
        return Broken(toy.path, toy.options, rf"{os.path.basename(bad)}: cannot read the image header", bad,
                      os.path.basename(bad), len(toy.samples))


def test_default_classes_are_the_sorted_folders_and_hidden_files_are_skipped(tmp_path):
    toy = write_toy_class_folders(tmp_path, num_images=8)
    (tmp_path / "dog" / ".hidden.jpg").write_bytes(b"")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "dog" / "nested").mkdir()
    (tmp_path / "dog" / "nested" / "x.JPG").write_bytes(b"")
    (tmp_path / "README.md").write_text("top-level files are not classes")
    samples = read_class_folders(tmp_path)
    assert samples.class_names == tuple(sorted(TOY_CLASSES))
    assert len(samples) == len(toy.samples) + 1
    assert all(s.num_boxes == 0 and samples.class_names[s.meta["label"]] == s.meta["class_name"] for s in samples)
    assert any(s.image.endswith(os.path.join("nested", "x.JPG")) for s in samples)


def test_missing_class_folder(tmp_path):
    write_toy_class_folders(tmp_path, num_images=4)
    with pytest.raises(FileNotFoundError, match=r"class folders missing .*: cow"):
        read_class_folders(tmp_path, class_names=["person", "cow"])
    with pytest.raises(FileNotFoundError):
        read_class_folders(tmp_path / "nothing")

"""The conformance test base class every annotation format's tests inherit.

A format's test class writes fake data in the format's real layout, states the samples a
correct reader returns, and inherits the checks below (as torchvision's ``DatasetTestCase``
does for datasets)::

    from .conformance import Broken, FormatConformance

    class TestMyFormat(FormatConformance):
        format_name = "myformat"

        def make_data(self, root):
            ...write files under root...
            return ToyFormat("myformat", path, options, expected_samples, class_names)

        def make_broken(self, root):          # optional: data with one malformed entry
            ...
            return Broken(path, options, location=r"ann\\.txt:3: ", error_file=path, skipped_image="b.jpg")

The data must contain at least one image without objects. ``make_data`` may return any object
with the attributes of :class:`seqloaders.toy.ToyFormat` (the toy writers return one).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.masks import decode_masks
from seqloaders.toy import ToyFormat

__all__ = ["Broken", "FormatConformance", "assert_samples_match"]


@dataclasses.dataclass
class Broken:
    """Data with exactly one malformed entry.

    Attributes:
        path, options: what the reader is called with.
        location: a regular expression the error message must match (file and line or record).
        error_file: the file the error must name (``AnnotationError.path``).
        skipped_image: basename of the image whose sample ``on_error="skip"`` leaves out.
        num_samples: how many samples the data has when nothing is broken.
    """

    path: str
    options: dict[str, Any]
    location: str
    error_file: str
    skipped_image: str
    num_samples: int


def _same_path(a: str, b: str) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


def assert_samples_match(got: list[sl.Sample], expected: list[sl.Sample], atol: float = 1e-3) -> None:
    """Samples equal up to ``atol`` pixels: image, boxes, labels, size, attributes, keypoints, image label."""
    assert len(got) == len(expected), f"{len(got)} samples, expected {len(expected)}"
    for k, (g, e) in enumerate(zip(got, expected)):
        where = f"sample {k} ({os.path.basename(e.image)})"
        assert _same_path(g.image, e.image), f"{where}: image {g.image!r}"
        assert g.num_boxes == e.num_boxes, f"{where}: {g.num_boxes} boxes, expected {e.num_boxes}"
        np.testing.assert_allclose(g.boxes, e.boxes, rtol=0, atol=atol, err_msg=f"{where}: boxes")
        np.testing.assert_array_equal(g.labels, e.labels, err_msg=f"{where}: labels")
        if e.image_size is not None:
            assert g.image_size == e.image_size, f"{where}: image_size {g.image_size}, expected {e.image_size}"
        assert sorted(g.attributes) == sorted(e.attributes), f"{where}: attributes {sorted(g.attributes)}"
        for name, value in e.attributes.items():
            if np.issubdtype(np.asarray(value).dtype, np.floating):
                np.testing.assert_allclose(g.attributes[name], value, atol=atol, err_msg=f"{where}: {name}")
            else:
                np.testing.assert_array_equal(g.attributes[name], value, err_msg=f"{where}: {name}")
            assert g.attributes[name].dtype.kind == np.asarray(value).dtype.kind, f"{where}: {name} dtype"
        if e.keypoints is None:
            assert g.keypoints is None, f"{where}: unexpected keypoints"
        else:
            assert g.keypoints is not None, f"{where}: keypoints missing"
            np.testing.assert_allclose(g.keypoints, e.keypoints, atol=atol, err_msg=f"{where}: keypoints")
        if "label" in e.meta:
            assert g.meta.get("label") == e.meta["label"], f"{where}: image label {g.meta.get('label')}"


class FormatConformance:
    """Checks every reader must pass. Subclass, set ``format_name`` and implement ``make_data``."""

    #: the name the reader is registered under.
    format_name: ClassVar[str] = ""
    #: tolerance in pixels when comparing boxes and keypoints (normalised formats round).
    atol: ClassVar[float] = 1e-3

    # ---------------------------------------------------------------- to implement
    def make_data(self, root: Path) -> ToyFormat:
        """Write fake data under ``root``; return where it is and the expected samples."""
        raise NotImplementedError

    def make_broken(self, root: Path) -> Broken | None:
        """Write data with one malformed entry, or return None if the format has none to break."""
        return None

    # ---------------------------------------------------------------- fixtures
    @pytest.fixture(scope="class")
    @classmethod
    def data(cls, tmp_path_factory) -> ToyFormat:
        return cls().make_data(tmp_path_factory.mktemp(cls.format_name or "format"))

    @pytest.fixture(scope="class")
    @classmethod
    def samples(cls, data) -> sl.SampleList:
        return sl.read(cls.format_name, data.path, **data.options)

    @pytest.fixture(scope="class")
    @classmethod
    def broken(cls, tmp_path_factory) -> Broken:
        broken = cls().make_broken(tmp_path_factory.mktemp(f"{cls.format_name or 'format'}-broken"))
        if broken is None:
            pytest.skip(f"{cls.format_name}: no malformed entry to test")
        return broken

    # ---------------------------------------------------------------- checks
    def test_registered_by_name(self, data):
        assert self.format_name in sl.available_formats()
        assert data.format == self.format_name

    def test_returns_a_sample_list_with_a_report(self, samples):
        assert isinstance(samples, sl.SampleList)
        assert all(isinstance(s, sl.Sample) for s in samples)
        assert samples.report.num_samples == len(samples)
        assert samples.report.num_boxes == sum(s.num_boxes for s in samples)
        assert samples.report.skipped == []

    def test_sample_and_box_counts(self, samples, data):
        assert len(samples) == len(data.samples)
        assert [s.num_boxes for s in samples] == [s.num_boxes for s in data.samples]

    def test_samples_match_the_expected_ones(self, samples, data):
        assert_samples_match(samples, data.samples, self.atol)

    def test_class_names(self, samples, data):
        assert tuple(samples.class_names) == tuple(data.class_names)
        for s in samples:
            assert ((s.labels >= 0) & (s.labels < len(samples.class_names))).all()

    def test_shapes_and_dtypes(self, samples):
        for s in samples:
            n = s.num_boxes
            assert s.boxes.shape == (n, 4) and s.boxes.dtype == np.float32
            assert s.labels.shape == (n,) and s.labels.dtype == np.int64
            assert np.isfinite(s.boxes).all()
            assert (s.boxes[:, 2:] >= s.boxes[:, :2]).all(), "XYXY boxes with x_max >= x_min"
            for name, value in s.attributes.items():
                assert isinstance(value, np.ndarray) and value.shape[:1] == (n,), name
            if s.keypoints is not None:
                assert s.keypoints.ndim == 3 and s.keypoints.shape[0] == n and s.keypoints.shape[2] == 3
                assert s.keypoints.dtype == np.float32
            if s.masks is not None:
                assert len(s.masks) == n
            if s.image_size is not None:
                assert all(isinstance(v, int) and v > 0 for v in s.image_size)

    def test_images_without_objects_give_n_zero(self, samples, data):
        empty = [k for k, s in enumerate(data.samples) if s.num_boxes == 0]
        assert empty, "the fake data must contain an image without objects"
        for k in empty:
            assert samples[k].boxes.shape == (0, 4) and samples[k].labels.shape == (0,)
            if samples[k].keypoints is not None:
                assert samples[k].keypoints.shape[0] == 0

    def test_images_exist_and_have_the_stated_size(self, samples):
        for s in samples:
            assert os.path.isfile(s.image), s.image
        first = next((s for s in samples if s.image_size is not None), None)
        if first is not None:
            with open(first.image, "rb") as f:
                assert sl.decode_image(f.read()).shape[:2] == first.image_size

    def test_masks_decode_to_one_bool_mask_per_box(self, samples, data):
        with_masks = [s for s in samples if s.masks is not None]
        for s in with_masks:
            masks = decode_masks(s)
            assert masks.dtype == bool and masks.shape == (s.num_boxes, *s.image_size)
        for s, expected in zip(samples, data.masks or []):
            decoded = decode_masks(s)
            for k, mask in enumerate(expected):
                if mask is not None:
                    np.testing.assert_array_equal(decoded[k], mask, err_msg=f"{s.image} mask {k}")

    def test_samples_survive_pickling(self, samples):
        again = pickle.loads(pickle.dumps(list(samples)))
        assert again == list(samples)
        for a, b in zip(again, samples):
            if b.masks is not None and b.num_boxes:
                np.testing.assert_array_equal(decode_masks(a), decode_masks(b))

    def test_select_keeps_per_box_data_aligned(self, samples):
        s = max(samples, key=lambda x: x.num_boxes)
        if s.num_boxes < 2:
            pytest.skip("no image with two objects")
        last = s.select(np.array([s.num_boxes - 1]))
        np.testing.assert_array_equal(last.boxes, s.boxes[-1:])
        for name, value in s.attributes.items():
            np.testing.assert_array_equal(last.attributes[name], value[-1:])
        if s.masks is not None:
            np.testing.assert_array_equal(decode_masks(last), decode_masks(s)[-1:])

    def test_invalid_on_error_is_refused(self, data):
        with pytest.raises(ValueError, match="on_error"):
            sl.read(self.format_name, data.path, **{**data.options, "on_error": "ignore"})

    def test_malformed_entry_raises_naming_file_and_line(self, broken):
        with pytest.raises(sl.AnnotationError) as info:
            sl.read(self.format_name, broken.path, **broken.options)
        assert re.search(broken.location, str(info.value)), str(info.value)
        assert _same_path(info.value.path, broken.error_file)

    def test_skip_leaves_out_the_entry_and_reports_it(self, broken):
        with pytest.warns(UserWarning, match="skipped 1 malformed"):
            samples = sl.read(self.format_name, broken.path, **{**broken.options, "on_error": "skip"})
        assert len(samples.report.skipped) == 1
        assert re.search(broken.location, samples.report.skipped[0][1])
        assert len(samples) == broken.num_samples - 1
        assert broken.skipped_image not in {os.path.basename(s.image) for s in samples}

    def test_warn_warns_for_the_entry(self, broken):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            samples = sl.read(self.format_name, broken.path, **{**broken.options, "on_error": "warn"})
        messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        assert len(messages) == 1 and re.search(broken.location, messages[0])
        assert len(samples) == broken.num_samples - 1

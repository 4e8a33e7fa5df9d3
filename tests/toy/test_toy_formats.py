import numpy as np
import pytest
from formats.conformance import assert_samples_match

import seqloaders as sl
from seqloaders.toy import TOY_FORMATS, make_toy_formats, make_toy_scenes


def test_scenes_are_deterministic_and_exact():
    scenes = make_toy_scenes(8, seed=4)
    again = make_toy_scenes(8, seed=4)
    assert [len(s.objects) for s in scenes] == [len(s.objects) for s in again]
    assert len(scenes[3].objects) == len(scenes[7].objects) == 0
    for scene, other in zip(scenes, again):
        np.testing.assert_array_equal(scene.image, other.image)
        for obj in scene.objects:
            assert obj.mask.shape == scene.image_size
            np.testing.assert_array_equal(sl.convert_boxes(obj.box[None], "xyxy", "xyxy")[0], obj.box)
            ys, xs = np.nonzero(obj.mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(obj.box)
    cars = [o for s in scenes for o in s.objects if o.label == 1]
    assert cars and all(len(o.parts) == 2 for o in cars)


def test_every_format_reads_back_what_was_written(tmp_path):
    toys = make_toy_formats(tmp_path, num_images=6, seed=1)
    assert sorted(toys) == sorted(TOY_FORMATS)
    for name, toy in toys.items():
        samples = sl.read(toy.format, toy.path, **toy.options)
        assert_samples_match(samples, toy.samples, atol=1e-3)
        assert samples.class_names == toy.class_names, name
    with pytest.raises(ValueError, match="unknown toy formats"):
        make_toy_formats(tmp_path, ["pascal"])


def test_the_old_toyformats_module_re_exports_the_same_objects():
    import seqloaders.toyformats as old

    assert old.__all__ and all(getattr(old, name) is getattr(sl.toy, name) for name in old.__all__)
    assert sl.toyformats is old and sl.ToyFormat is sl.toy.ToyFormat and sl.make_toy_formats is sl.toy.make_toy_formats

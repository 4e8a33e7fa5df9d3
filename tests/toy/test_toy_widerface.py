"""The toy face set (WIDER FACE layout) has the interface of the other toy formats."""

import dataclasses

from formats.conformance import assert_samples_match

import seqloaders as sl
from seqloaders.toy import ToyDataset, ToyFormat, make_toy_dataset


def test_the_face_set_reads_back_like_every_toy_format(tmp_path):
    toy = make_toy_dataset(tmp_path, num_images=8, image_size=(48, 64), seed=2)
    assert (toy.format, toy.path, toy.options) == ("widerface", toy.annotations, {"images_dir": toy.images})
    assert toy.class_names == ("face",) and toy.masks is None
    samples = toy.read()
    assert samples.class_names == toy.class_names
    assert_samples_match(samples, [s.replace(image_size=None) for s in toy.samples])  # the reader opens no image
    assert all(s.image_size is None for s in samples) and all(s.image_size for s in toy.samples)
    assert len(toy.read(drop_invalid=True)) == len(toy.samples)  # overrides go to the reader
    as_format = ToyFormat(toy.format, toy.path, toy.options, toy.samples, toy.class_names)
    assert len(as_format.read()) == len(toy.read())


def test_the_face_set_keeps_its_fields_and_names():
    assert [f.name for f in dataclasses.fields(ToyDataset)] == ["root", "annotations", "images", "samples"]
    assert sl.ToyDataset is ToyDataset and sl.make_toy_dataset is make_toy_dataset
    assert sl.toy.draw_face is sl.toy.widerface.draw_face

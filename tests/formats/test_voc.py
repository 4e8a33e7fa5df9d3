import os
from pathlib import Path

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.formats.voc import VOC_CLASSES, parse_voc_xml, read_voc
from seqloaders.toy import TOY_CLASSES, write_toy_voc

from .conformance import Broken, FormatConformance


class TestVocConformance(FormatConformance):
    format_name = "voc"

    def make_data(self, root):
        return write_toy_voc(root, num_images=8)

    def make_broken(self, root):
        toy = write_toy_voc(root, num_images=8)
        sample = next(s for s in toy.samples if s.num_boxes)
        name = os.path.splitext(os.path.basename(sample.image))[0]
        xml = Path(toy.path, "Annotations", f"{name}.xml")
        lines = xml.read_text().splitlines()
        line = next(k for k, text in enumerate(lines, 1) if "<xmax>" in text)
        lines[line - 1] = "      <xmax>12px</xmax>"
        xml.write_text("\n".join(lines) + "\n")
        return Broken(toy.path, toy.options, rf"{name}\.xml:{line}: <xmax> must be a number, got '12px'", str(xml),
                      os.path.basename(sample.image), len(toy.samples))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_voc(tmp_path_factory.mktemp("voc"), num_images=8)


def xml(objects="", size="<size><width>500</width><height>375</height><depth>3</depth></size>"):
    return f"<annotation><filename>a.jpg</filename>{size}{objects}</annotation>"


def obj(name="dog", box=(1, 1, 500, 375), extra=""):
    x0, y0, x1, y1 = box
    return (f"<object><name>{name}</name>{extra}<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
            f"<ymax>{y1}</ymax></bndbox></object>")


def test_one_based_inclusive_pixels_become_zero_based_xyxy():
    parsed = parse_voc_xml(xml(obj(box=(1, 1, 500, 375)) + obj(box=(48, 240, 195, 371))))
    np.testing.assert_array_equal(parsed.boxes, [[0, 0, 500, 375], [47, 239, 195, 371]])
    assert parsed.image_size == (375, 500)
    zero_based = parse_voc_xml(xml(obj(box=(0, 0, 499, 374))), one_based=False)
    np.testing.assert_array_equal(zero_based.boxes, [[0, 0, 499, 374]])


def test_attributes_and_their_defaults():
    parsed = parse_voc_xml(xml(obj(extra="<pose>Left</pose><truncated>1</truncated><difficult>1</difficult>"
                                         "<occluded>0</occluded>") + obj(box=(2.5, 3, 10.5, 20))))
    assert parsed.attributes["pose"].tolist() == ["Left", "Unspecified"]
    assert parsed.attributes["difficult"].tolist() == [1, 0]
    assert parsed.attributes["truncated"].tolist() == [1, 0]
    assert parsed.attributes["occluded"].tolist() == [0, -1]
    np.testing.assert_array_equal(parsed.boxes[1], [1.5, 2, 10.5, 20])  # float coordinates accepted


def test_missing_or_zero_size_gives_no_image_size():
    assert parse_voc_xml(xml(size="")).image_size is None
    assert parse_voc_xml(xml(size="<size><width>0</width><height>0</height></size>")).image_size is None
    # found by make fuzz: a positive size that rounds down to 0 pixels
    assert parse_voc_xml(xml(size="<size><width>1e-320</width><height>72</height></size>")).image_size is None


@pytest.mark.parametrize("text, message", [
    (xml(obj(box=(10, 1, 5, 20))), r"x\.xml:1: box of 'dog' has xmax < xmin"),
    (xml("<object><name>dog</name></object>"), r"x\.xml:1: <object> 'dog' has no <bndbox>"),
    (xml("<object><bndbox/></object>"), r"<object> has no <name>"),
    ("<annotation><object>", r"x\.xml:1: not well-formed XML"),
    ("<root/>", r"expected an <annotation> root element, got <root>"),
    ("<annotation><size/></annotation>", r"missing <filename>"),
    (xml(obj(extra="<difficult>0.5</difficult>")), r"<difficult> must be an integer"),
])
def test_malformed_files_are_named(text, message):
    with pytest.raises(sl.AnnotationError, match=message):
        parse_voc_xml(text, path="x.xml")


def test_errors_point_at_the_line_of_the_element():
    text = "<annotation>\n<filename>a.jpg</filename>\n<object>\n<name>dog</name>\n<bndbox>\n<xmin>1</xmin>\n" \
           "<ymin>nan</ymin>\n</bndbox>\n</object>\n</annotation>\n"
    with pytest.raises(sl.AnnotationError, match=r"x\.xml:7: <ymin> must be finite"):
        parse_voc_xml(text, path="x.xml")
    with pytest.raises(sl.AnnotationError, match=r"x\.xml:5: missing <xmax>"):
        parse_voc_xml(text.replace("nan", "1"), path="x.xml")


def test_entity_bombs_and_external_entities_are_refused(tmp_path):
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
            ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
            '<annotation><filename>&lol2;</filename></annotation>\n')
    external = ('<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
                '<annotation><filename>&secret;</filename></annotation>\n')
    for name, text, line in (("bomb.xml", bomb, 3), ("external.xml", external, 2)):  # the declaration's line
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(sl.AnnotationError, match=rf"{name}:{line}: refused XML: EntitiesForbidden"):
            read_voc(path)


def test_image_set_reads_only_the_listed_ids(toy):
    train = read_voc(toy.path, image_set="train", class_names=TOY_CLASSES)
    val = read_voc(toy.path, image_set="val", class_names=TOY_CLASSES)
    assert [os.path.basename(s.image) for s in train] == [os.path.basename(s.image) for s in toy.samples[0::2]]
    assert len(val) == 4 and train.report.path.endswith("train.txt")
    with pytest.raises(FileNotFoundError, match=r"image set 'test' not found.*available: train, val"):
        read_voc(toy.path, image_set="test")


def test_a_single_file_and_a_folder_of_files(toy):
    annotations = os.path.join(toy.path, "Annotations")
    folder = read_voc(annotations, class_names=TOY_CLASSES)
    assert [s.image for s in folder] == [s.image for s in toy.samples]  # JPEGImages/ found next to it
    first = sorted(os.listdir(annotations))[0]
    single = read_voc(os.path.join(annotations, first), images_dir="imgs", class_names=TOY_CLASSES)
    assert len(single) == 1 and single[0] == toy.samples[0].replace(image=os.path.join("imgs", "toy_00000.jpg"))
    with pytest.raises(ValueError, match="image_set needs a VOC root"):
        read_voc(os.path.join(annotations, first), image_set="train")
    with pytest.raises(FileNotFoundError):
        read_voc(os.path.join(toy.path, "nothing"))


def test_default_class_names_are_the_sorted_names_found(toy):
    samples = read_voc(toy.path)
    assert list(samples.class_names) == sorted(samples.class_names)
    for got, expected in zip(samples, toy.samples):
        assert [samples.class_names[k] for k in got.labels] == [TOY_CLASSES[k] for k in expected.labels]


def test_unknown_class_is_an_error_naming_the_object_line(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(xml("\n" + obj("dog") + "\n" + obj("sofa")))
    with pytest.raises(sl.AnnotationError, match=r"a\.xml:3: unknown class 'sofa'"):
        read_voc(path, class_names=("dog",))
    assert read_voc(path, class_names=VOC_CLASSES)[0].labels.tolist() == [11, 17]


def test_drop_difficult_is_counted(toy):
    samples = read_voc(toy.path, class_names=TOY_CLASSES, drop_difficult=True)
    difficult = sum(int(s.attributes["difficult"].sum()) for s in toy.samples)
    assert difficult and samples.report.dropped_boxes == {"difficult": difficult}
    assert all((s.attributes["difficult"] == 0).all() for s in samples)

"""Pascal VOC XML annotations (one ``.xml`` file per image).

Source box format: XYXY pixels, **1-based and inclusive** (``xmin = 1`` is the first column,
``xmax`` the last covered column), converted to XYXY pixels as
``(xmin - 1, ymin - 1, xmax, ymax)``: 0-based, with x_max one past the last column, like every
box in seqloaders. A box covering a whole 500-pixel-wide image is ``xmin=1, xmax=500`` in VOC
and ``0, 500`` here. Tools that write 0-based VOC files (some exporters do) are read with
``one_based=False``.

Kept per object: ``difficult`` and ``truncated`` (int32, 0 when absent), ``occluded`` (int32,
-1 when absent) and ``pose`` (str, ``"Unspecified"`` when absent) as attributes. The image size
comes from ``<size>`` (None when it is missing or 0).

Accepted layouts: one XML file, a folder of XML files, or a VOC root (``Annotations/``,
``JPEGImages/``, ``ImageSets/Main/<split>.txt``). Files are parsed with ``defusedxml``: DTDs
with entities (billion laughs) and external entities are refused.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AnnotationError
from ..records import ReadReport, Sample, SampleList
from ..storage import files
from ..storage.remote import attach_storage
from ..table import SampleTable
from .common import finish, natural_key
from .errorpolicy import check_on_error, handle_error
from .foldercache import cached_listing
from .paths import join_image_path
from .readahead import default_threads, read_ahead
from .registry import register_format

__all__ = ["VOC_CLASSES", "VocObjects", "parse_voc_xml", "read_voc"]

#: The 20 Pascal VOC classes in their official order.
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT32 = 1 << 31


class _LineTreeBuilder(ET.TreeBuilder):
    """A tree builder that remembers the line where each element starts."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[int, int] = {}
        self.expat: Any = None

    def start(self, tag: str, attrs: dict) -> ET.Element:  # type: ignore[override]
        element = super().start(tag, attrs)
        self.lines[id(element)] = self.expat.CurrentLineNumber
        return element


class VocObjects:
    """What one VOC XML file says, before class names are turned into labels.

    Attributes:
        filename: ``<filename>``.
        image_size: (H, W) from ``<size>``, or None.
        boxes: (N, 4) float32 XYXY pixels (0-based, already converted).
        names: N class names.
        lines: N line numbers of the ``<object>`` elements.
        attributes: ``difficult``, ``truncated``, ``occluded``, ``pose``, each (N,).
    """

    __slots__ = ("attributes", "boxes", "filename", "image_size", "lines", "names")

    def __init__(self, filename: str, image_size: tuple[int, int] | None, boxes: np.ndarray, names: list[str],
                 lines: list[int], attributes: dict[str, np.ndarray]):
        self.filename, self.image_size, self.boxes = filename, image_size, boxes
        self.names, self.lines, self.attributes = names, lines, attributes


def _parse_tree(data: bytes | str, path: str) -> tuple[ET.Element, dict[int, int]]:
    import defusedxml.ElementTree as DET
    from defusedxml.common import DefusedXmlException

    builder = _LineTreeBuilder()
    parser = DET.DefusedXMLParser(target=builder, forbid_dtd=False, forbid_entities=True,
                                  forbid_external=True)
    builder.expat = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        reason = str(exc).split(":")[0]
        raise AnnotationError(f"not well-formed XML: {reason} (column {column})", path, line) from None
    except DefusedXmlException as exc:
        raise AnnotationError(
            f"refused XML: {type(exc).__name__} ({exc}); VOC files never need entity declarations or "
            "external references, so this file is unsafe or not a VOC annotation", path,
            parser.parser.CurrentLineNumber) from None
    return root, builder.lines


def _number(element: ET.Element | None, tag: str, path: str, lines: dict[int, int], parent_line: int | None,
            required: bool = True, default: float | None = None) -> float | None:
    child = None if element is None else element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise AnnotationError(f"missing <{tag}>", path, parent_line)
        return default
    try:
        value = float(child.text.strip())
    except ValueError:
        raise AnnotationError(f"<{tag}> must be a number, got {child.text.strip()[:40]!r}", path,
                              lines.get(id(child), parent_line)) from None
    if not abs(value) <= _FLOAT32_MAX:  # NaN and infinities fail too; boxes are float32
        raise AnnotationError(f"<{tag}> must be finite and within float32 range, got {child.text.strip()[:40]!r}",
                              path, lines.get(id(child), parent_line))
    return value


def parse_voc_xml(data: bytes | str, *, path: str = "<string>", one_based: bool = True) -> VocObjects:
    """Parse the text of one VOC XML file (no file I/O).

    Source box format: 1-based inclusive XYXY pixels; returned boxes are 0-based XYXY pixels
    ``(xmin - 1, ymin - 1, xmax, ymax)`` (with ``one_based=False``: unchanged).

    Args:
        data: the XML bytes or text.
        path: the file name used in error messages.
        one_based: the file follows VOC's 1-based convention (the default).

    Returns:
        A :class:`VocObjects` with boxes, class names and attributes.

    Raises:
        AnnotationError: unsafe or malformed XML, a missing or non-numeric coordinate, a box
            with xmax < xmin, naming file and line.

    Example:
        >>> xml = ("<annotation><filename>a.jpg</filename><object><name>dog</name>"
        ...        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>20</ymax></bndbox>"
        ...        "</object></annotation>")
        >>> parse_voc_xml(xml).boxes.tolist()
        [[0.0, 0.0, 10.0, 20.0]]
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    parsed = _parse_fast(raw, path, one_based)
    if parsed is not None:
        return parsed
    root, lines = _parse_tree(raw, path)
    return _objects_of(root, path, one_based, lines)


# The fast path: files with no DOCTYPE (so no entity can be declared, and defusedxml has nothing to
# refuse) in an ASCII-compatible encoding are parsed by the C tree builder, with no Python callback
# per element; the <object> lines come from the raw bytes. Whatever it cannot vouch for (an error of
# any kind, a DOCTYPE, another encoding, a count of "<object" that is not the count of objects)
# goes through the line-tracking defusedxml parser above, which gives the errors their lines.
_OBJECT_TAG = re.compile(rb"<object[ \t\r\n/>]")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding[ \t\r\n]*=[ \t\r\n]*["']([A-Za-z0-9._-]+)""")
_ASCII_COMPATIBLE = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})


def _parse_fast(raw: bytes, path: str, one_based: bool) -> VocObjects | None:
    """The file parsed by the C tree builder, or None where the checked path must decide."""
    if b"<!DOCTYPE" in raw or b"\x00" in raw[:256] or raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    declared = _DECLARED_ENCODING.match(raw.removeprefix(b"\xef\xbb\xbf"))
    if declared is not None and declared.group(1).decode("ascii").lower() not in _ASCII_COMPATIBLE:
        return None
    try:
        parsed = _objects_of(ET.fromstring(raw), path, one_based, None)
    except (ET.ParseError, AnnotationError):
        return None
    starts = [m.start() for m in _OBJECT_TAG.finditer(raw)]
    if len(starts) != len(parsed.names):  # a "<object" in a comment or CDATA: let the checked path count
        return None
    line, done = 1, 0
    for k, start in enumerate(starts):  # expat's lines: CR LF, CR and LF each end one
        chunk = raw[done:start]
        line += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")  # chunks start with "<"
        parsed.lines[k] = line
        done = start
    return parsed


def _objects_of(root: ET.Element, path: str, one_based: bool, lines: dict[int, int] | None) -> VocObjects:
    """The objects of a parsed file; ``lines`` maps elements to lines (None: not known, all None)."""
    lines = lines if lines is not None else {}
    if root.tag != "annotation":
        raise AnnotationError(f"expected an <annotation> root element, got <{root.tag}>", path, lines.get(id(root)))
    fn = root.find("filename")
    if fn is None or not (fn.text or "").strip():
        raise AnnotationError("missing <filename>", path, lines.get(id(root)))
    size_el = root.find("size")
    size_line = lines.get(id(size_el)) if size_el is not None else None
    width = _number(size_el, "width", path, lines, size_line, required=False)
    height = _number(size_el, "height", path, lines, size_line, required=False)
    # a size that rounds down to 0 pixels (e.g. 1e-320) is no size at all
    image_size = (int(height), int(width)) if width and height and int(width) >= 1 and int(height) >= 1 else None
    shift = 1.0 if one_based else 0.0
    boxes, names, obj_lines = [], [], []
    difficult, truncated, occluded, pose = [], [], [], []
    for obj in root.iter("object"):
        line = lines.get(id(obj))
        name_el = obj.find("name")
        name = (name_el.text or "").strip() if name_el is not None else ""
        if not name:
            raise AnnotationError("<object> has no <name>", path, line)
        bb = obj.find("bndbox")
        if bb is None:
            raise AnnotationError(f"<object> {name!r} has no <bndbox>", path, line)
        bb_line = lines.get(id(bb), line)
        x0, y0, x1, y1 = (_number(bb, t, path, lines, bb_line) for t in ("xmin", "ymin", "xmax", "ymax"))
        if x1 < x0 or y1 < y0:  # type: ignore[operator]
            raise AnnotationError(
                f"box of {name!r} has xmax < xmin or ymax < ymin: ({x0:g}, {y0:g}, {x1:g}, {y1:g})", path, bb_line)
        boxes.append((x0 - shift, y0 - shift, x1, y1))  # type: ignore[operator]
        names.append(name)
        obj_lines.append(line)
        flags = []
        for tag, default in (("difficult", 0), ("truncated", 0), ("occluded", -1)):
            value = _number(obj, tag, path, lines, line, required=False, default=default)
            if value != int(value) or not -_INT32 <= value < _INT32:  # type: ignore[arg-type]
                raise AnnotationError(f"<{tag}> must be an integer (32-bit), got {value:g}", path, line)
            flags.append(int(value))  # type: ignore[arg-type]
        difficult.append(flags[0])
        truncated.append(flags[1])
        occluded.append(flags[2])
        pose_el = obj.find("pose")
        pose.append((pose_el.text or "").strip() if pose_el is not None and pose_el.text else "Unspecified")
    n = len(boxes)
    return VocObjects(
        filename=fn.text.strip(),  # type: ignore[union-attr]
        image_size=image_size,
        boxes=np.array(boxes, np.float32).reshape(n, 4),
        names=names,
        lines=obj_lines,
        attributes={
            "difficult": np.array(difficult, np.int32),
            "truncated": np.array(truncated, np.int32),
            "occluded": np.array(occluded, np.int32),
            "pose": np.array(pose, dtype=str).reshape(n),
        },
    )


def _xml_files(path: str, image_set: str | None,
               storage_options: Mapping[str, Any] | None = None) -> tuple[list[str], str | None, str]:
    """The XML files to read, the default images folder and a name for the report."""
    so = storage_options
    if files.is_file(path, so):
        if image_set is not None:
            raise ValueError("image_set needs a VOC root folder (with Annotations/ and ImageSets/), not a file")
        return [path], None, path
    if not files.is_dir(path, so):
        raise FileNotFoundError(f"no such VOC file or folder: {path!r}")
    annotations = files.join(path, "Annotations")
    if "Annotations" in files.list_dir(path, so, kind="dir"):  # a VOC root
        images = files.join(path, "JPEGImages")
        if image_set is None:
            found = [files.join(annotations, f) for f in files.list_dir(annotations, so) if f.lower().endswith(".xml")]
            return sorted(found, key=natural_key), images, annotations
        list_file = files.join(path, "ImageSets", "Main", f"{image_set}.txt")
        if not files.is_file(list_file, so):
            main = files.join(path, "ImageSets", "Main")
            have = sorted(f[:-4] for f in files.list_dir(main, so) if f.endswith(".txt")) \
                if files.is_dir(main, so) else []
            raise FileNotFoundError(f"image set {image_set!r} not found: {list_file!r} is missing; "
                                    f"available: {', '.join(have[:20]) or 'none'}")
        ids = [line.split()[0] for line in files.read_text(list_file, so).splitlines() if line.strip()]
        return [files.join(annotations, i + ".xml") for i in ids], images, list_file
    if image_set is not None:
        raise ValueError(f"image_set needs a VOC root folder with Annotations/; {path!r} has none")
    found = [files.join(path, f) for f in files.list_dir(path, so) if f.lower().endswith(".xml")]
    sibling = files.join(files.dirname(files.abspath(path)), "JPEGImages")
    return sorted(found, key=natural_key), (sibling if files.is_dir(sibling, so) else None), path


@register_format("voc")
def read_voc(
    path: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    *,
    image_set: str | None = None,
    class_names: Sequence[str] | None = None,
    one_based: bool = True,
    drop_difficult: bool = False,
    on_error: str = "raise",
    allow_outside_root: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    threads: int | None = None,
    cache: bool = True,
) -> SampleList:
    """Read Pascal VOC XML annotations: one file, a folder of files, or a VOC root.

    Source box format: 1-based inclusive XYXY pixels, converted to XYXY pixels as
    ``(xmin - 1, ymin - 1, xmax, ymax)``.

    Args:
        path: an ``.xml`` file, a folder of ``.xml`` files, or a VOC root (``VOC2012/`` with
            ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/``).
        images_dir: the folder ``<filename>`` is relative to; default: ``JPEGImages/`` of the
            VOC root (or next to the annotations folder), else the XML file's folder.
        image_set: with a VOC root, read only the ids listed in ``ImageSets/Main/<image_set>.txt``
            (``"train"``, ``"val"``, ``"trainval"``).
        class_names: the class list (labels are indices into it; unknown names are errors), e.g.
            :data:`VOC_CLASSES`; default: every name found, sorted.
        one_based: coordinates follow VOC's 1-based convention (set False for 0-based exports).
        drop_difficult: drop ``difficult=1`` boxes (counted in the report); kept by default.
        on_error: "raise" (default), "warn" or "skip" a malformed file.
        allow_outside_root: accept ``<filename>`` values that leave ``images_dir``.
        storage_options: options of the fsspec file system when paths are URLs (``s3://...``);
            default: the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...).
        threads: threads reading the files ahead of the parser (which runs in the calling thread);
            default ``min(8, os.cpu_count())``; 0 or 1 reads in the calling thread. The result is
            the same whatever the count.
        cache: keep the samples in the parse cache (:mod:`seqloaders.formats.foldercache`: in
            ``$SEQLOADERS_CACHE`` or ``~/.cache/seqloaders``, never beside the dataset) and read
            them from it while every XML file (and the image set list) keeps its size and mtime
            and the options are unchanged; local folders only. False parses every time.

    Returns:
        A :class:`SampleList`, one sample per XML file, with ``class_names`` and ``report``
        (with ``cache``, a :class:`~seqloaders.table.SampleTable` holding the same samples).

    Raises:
        FileNotFoundError: ``path``, an XML file listed in the image set or the list is missing.
        AnnotationError: an unsafe or malformed file, or an unknown class, naming file and line.

    Example:
        >>> samples = sl.read_voc("VOCdevkit/VOC2012", image_set="train",     # doctest: +SKIP
        ...                       class_names=sl.VOC_CLASSES)
    """
    check_on_error(on_error)
    threads = default_threads() if threads is None else threads
    path = os.fspath(path)
    images_dir = os.fspath(images_dir) if images_dir is not None else None
    xml_files, default_images, report_path = _xml_files(path, image_set, storage_options)

    def build() -> SampleList:
        return _read_files(xml_files, default_images, report_path, images_dir, class_names, one_based, drop_difficult,
                           on_error, allow_outside_root, storage_options, threads)

    if not cache or files.is_url(path):
        return attach_storage(build(), storage_options)
    images_root = images_dir if images_dir is not None else default_images
    depends = [*xml_files, *([report_path] if image_set is not None else []), *([images_root] if images_root else [])]
    options = {"path": path, "root": os.path.abspath(path), "images_dir": images_dir, "image_set": image_set,
               "class_names": None if class_names is None else list(class_names), "one_based": one_based,
               "drop_difficult": drop_difficult, "allow_outside_root": allow_outside_root}
    table = cached_listing("voc", depends, options, lambda: SampleTable.from_samples(build()), on_error=on_error)
    return attach_storage(table, storage_options)


def _read_files(xml_files: list[str], default_images: str | None, report_path: str, images_dir: str | None,
                class_names: Sequence[str] | None, one_based: bool, drop_difficult: bool, on_error: str,
                allow_outside_root: bool, storage_options: Mapping[str, Any] | None, threads: int) -> SampleList:
    """:func:`read_voc` on the listed files, without the cache."""
    report = ReadReport(path=report_path)
    parsed: list[tuple[str, VocObjects]] = []
    contents = read_ahead(lambda file: files.read_bytes(file, storage_options), xml_files, threads)
    for file, data in zip(xml_files, contents):
        try:
            if isinstance(data, BaseException):  # the read failed: raised here, in order, as a loop would
                raise data
            parsed.append((file, parse_voc_xml(data, path=file, one_based=one_based)))
        except AnnotationError as exc:
            handle_error(exc, on_error, report)
    if class_names is None:
        names = tuple(sorted({n for _, objs in parsed for n in objs.names}))
    else:
        names = tuple(class_names)
    label_of = {n: k for k, n in enumerate(names)}

    samples: list[Sample] = []
    dropped = 0
    for file, objs in parsed:
        root = images_dir if images_dir is not None else (default_images or files.dirname(file))
        try:
            unknown = [(n, line) for n, line in zip(objs.names, objs.lines) if n not in label_of]
            if unknown:
                name, line = unknown[0]
                raise AnnotationError(f"unknown class {name!r}; known: {', '.join(names)} (pass class_names=... "
                                      "with every class, or map classes with a ClassMap)", file, line)
            try:
                image = join_image_path(root, objs.filename, allow_outside_root)
            except ValueError as exc:
                raise AnnotationError(str(exc), file, None) from None
        except AnnotationError as exc:
            handle_error(exc, on_error, report)
            continue
        labels = np.array([label_of[n] for n in objs.names], np.int64)
        sample = Sample.unchecked(image=image, boxes=objs.boxes, labels=labels, image_size=objs.image_size,
                                 attributes=objs.attributes, meta={"annotation_file": file})
        if drop_difficult:
            hard = sample.attributes["difficult"] == 1
            if hard.any():
                dropped += int(hard.sum())
                sample = sample.select(~hard)
        samples.append(sample)
    if dropped:
        report.dropped_boxes["difficult"] = dropped
    return finish(samples, report, names, on_error)


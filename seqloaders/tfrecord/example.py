"""``tf.train.Example`` as plain protobuf messages, without TensorFlow.

Importing ``tensorflow.core.example.example_pb2`` executes ``tensorflow/__init__.py`` and so
loads the whole TensorFlow runtime (about 5 s and 3,000 modules), which worker processes should
not pay for reading a record. The messages are small, so they are declared here from their
schema (``tensorflow/core/example/{example,feature}.proto``) with the ``protobuf`` package, in a
private descriptor pool: the wire format, which is all that a file holds, is identical, and the
private pool never clashes with TensorFlow's own classes when both are loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["Example", "Feature", "decode_example", "encode_example"]

_F = descriptor_pb2.FieldDescriptorProto


def _build_classes():
    fdp = descriptor_pb2.FileDescriptorProto(name="seqloaders/tfrecord/example.proto", package="tensorflow",
                                             syntax="proto3")

    def message(name: str, fields: list[tuple[str, int, int, int, str | None, bool]]):
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name, packed in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
            if packed:
                field.options.packed = True
        return msg

    rep, opt = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, _F.TYPE_BYTES, rep, None, False)])
    message("FloatList", [("value", 1, _F.TYPE_FLOAT, rep, None, True)])
    message("Int64List", [("value", 1, _F.TYPE_INT64, rep, None, True)])
    feature = message("Feature", [
        ("bytes_list", 1, _F.TYPE_MESSAGE, opt, ".tensorflow.BytesList", False),
        ("float_list", 2, _F.TYPE_MESSAGE, opt, ".tensorflow.FloatList", False),
        ("int64_list", 3, _F.TYPE_MESSAGE, opt, ".tensorflow.Int64List", False),
    ])
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0
    features = message("Features", [("feature", 1, _F.TYPE_MESSAGE, rep, ".tensorflow.Features.FeatureEntry", False)])
    entry = features.nested_type.add(name="FeatureEntry")
    entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=_F.TYPE_MESSAGE, label=opt, type_name=".tensorflow.Feature")
    entry.options.map_entry = True
    message("Example", [("features", 1, _F.TYPE_MESSAGE, opt, ".tensorflow.Features", False)])

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("tensorflow.Example")), get(pool.FindMessageTypeByName("tensorflow.Feature"))


Example, Feature = _build_classes()


def encode_example(features: Mapping[str, Any]) -> bytes:
    """Serialise a dict of features as a ``tf.train.Example`` (keys sorted: deterministic bytes).

    Args:
        features: name → value. ``bytes``/``str`` or a list of them become a ``bytes_list``;
            a float array or list a ``float_list`` (float32); an int/bool array or list an
            ``int64_list``. The dtype of a numpy array decides; an empty list must be an array.

    Returns:
        The serialised Example.

    Raises:
        TypeError: a value of a type that no feature list can hold.
    """
    example = Example()
    fmap = example.features.feature
    for name, value in features.items():
        feature = fmap[name]
        if isinstance(value, (bytes, str)):
            value = [value]
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f":
                feature.float_list.value.extend(value.astype(np.float32, copy=False).ravel().tolist())
            elif value.dtype.kind in "iub":
                feature.int64_list.value.extend(value.astype(np.int64, copy=False).ravel().tolist())
            elif value.dtype.kind in "SUO":
                feature.bytes_list.value.extend(_as_bytes(v, name) for v in value.ravel().tolist())
            else:
                raise TypeError(f"feature {name!r}: arrays of dtype {value.dtype} cannot be stored; "
                                "use a float, int, bool or string array")
        elif isinstance(value, Sequence) and all(isinstance(v, (bytes, str)) for v in value) and value:
            feature.bytes_list.value.extend(_as_bytes(v, name) for v in value)
        elif isinstance(value, Sequence) and value and all(isinstance(v, (bool, int, np.integer)) for v in value):
            feature.int64_list.value.extend(int(v) for v in value)
        elif isinstance(value, Sequence) and value and all(isinstance(v, (float, int, np.number)) for v in value):
            feature.float_list.value.extend(float(v) for v in value)
        else:
            raise TypeError(f"feature {name!r}: cannot store a value of type {type(value).__name__}; "
                            "use bytes/str, a list of them, or a numpy array")
    return example.SerializeToString(deterministic=True)


def _as_bytes(value: Any, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"feature {name!r}: expected bytes or str, got {type(value).__name__}")


def decode_example(data: bytes) -> dict[str, Any]:
    """Parse a serialised ``tf.train.Example`` into name → list of bytes / float32 / int64 array.

    Raises:
        google.protobuf.message.DecodeError: ``data`` is not an Example.
    """
    example = Example()
    example.ParseFromString(data)
    out: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            out[name] = list(feature.bytes_list.value)
        elif kind == "float_list":  # via list(): several times faster than from the container
            out[name] = np.array(list(feature.float_list.value), np.float32)
        elif kind == "int64_list":
            out[name] = np.array(list(feature.int64_list.value), np.int64)
        else:  # a feature with no list at all: treat as empty
            out[name] = []
    return out

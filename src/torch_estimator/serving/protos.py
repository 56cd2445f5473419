"""The few TensorFlow / TF Serving protos the server reads, built at run time with protobuf.

tensorboard (a dependency) bundles many TensorFlow protos but not ``tf.Example``, and none of TF
Serving's config protos. Their schemas are small and frozen, so they are declared here as descriptors
(same package, message and field names and numbers as TensorFlow's ``.proto`` files) in a private
descriptor pool: the wire format (serialized ``tf.Example``) and the text format
(``--model_config_file``, ``--batching_parameters_file``) are then parsed by protobuf itself.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

__all__ = ["example_class", "parse_text_proto"]

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "bytes": _F.TYPE_BYTES,
    "float": _F.TYPE_FLOAT,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "string": _F.TYPE_STRING,
    "bool": _F.TYPE_BOOL,
}

# message name -> fields as (name, number, type, repeated); a type that is not a scalar names a message
# of the same file (".Outer.Inner" paths for nested ones). "oneof:<name>" groups follow the field.
_EXAMPLE_FILE = (
    "tensorflow/core/example/example.proto",
    "tensorflow",
    {
        "BytesList": [("value", 1, "bytes", True)],
        "FloatList": [("value", 1, "float", True)],
        "Int64List": [("value", 1, "int64", True)],
        "Feature": [
            ("bytes_list", 1, "BytesList", False, "kind"),
            ("float_list", 2, "FloatList", False, "kind"),
            ("int64_list", 3, "Int64List", False, "kind"),
        ],
        "Features": [("feature", 1, "map<string,Feature>", False)],
        "Example": [("features", 1, "Features", False)],
    },
)

_SERVING_FILE = (
    "tensorflow_serving/config/model_server_config.proto",
    "tensorflow.serving",
    {
        "Int64Value": [("value", 1, "int64", False)],
        "StringValue": [("value", 1, "string", False)],
        "Latest": [("num_versions", 1, "uint32", False)],
        "All": [],
        "Specific": [("versions", 1, "int64", True)],
        "ServableVersionPolicy": [
            ("latest", 100, "Latest", False, "policy_choice"),
            ("all", 101, "All", False, "policy_choice"),
            ("specific", 102, "Specific", False, "policy_choice"),
        ],
        "ModelConfig": [
            ("name", 1, "string", False),
            ("base_path", 2, "string", False),
            ("model_platform", 4, "string", False),
            ("model_version_policy", 7, "ServableVersionPolicy", False),
            ("version_labels", 8, "map<string,int64>", False),
        ],
        "ModelConfigList": [("config", 1, "ModelConfig", True)],
        "ModelServerConfig": [("model_config_list", 1, "ModelConfigList", False)],
        "BatchingParameters": [
            ("max_batch_size", 1, "Int64Value", False),
            ("batch_timeout_micros", 2, "Int64Value", False),
            ("max_enqueued_batches", 3, "Int64Value", False),
            ("num_batch_threads", 4, "Int64Value", False),
            ("thread_pool_name", 5, "StringValue", False),
            ("allowed_batch_sizes", 6, "int64", True),
            ("pad_variable_length_inputs", 7, "bool", False),
        ],
    },
)


def _add_field(message: Any, package: str, spec: tuple[Any, ...]) -> None:
    name, number, type_name, repeated = spec[:4]
    field = message.field.add(name=name, number=number)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name.startswith("map<"):
        key_type, value_type = type_name[4:-1].split(",")
        entry = message.nested_type.add(name="".join(part.title() for part in name.split("_")) + "Entry")
        entry.options.map_entry = True
        _add_field(entry, package, ("key", 1, key_type, False))
        _add_field(entry, package, ("value", 2, value_type, False))
        field.label = _F.LABEL_REPEATED
        field.type = _F.TYPE_MESSAGE
        field.type_name = f".{package}.{message.name}.{entry.name}"
    elif type_name in _SCALARS:
        field.type = _SCALARS[type_name]
    else:
        field.type = _F.TYPE_MESSAGE
        field.type_name = f".{package}.{type_name}"
    if len(spec) > 4:
        names = [oneof.name for oneof in message.oneof_decl]
        if spec[4] not in names:
            message.oneof_decl.add(name=spec[4])
            names.append(spec[4])
        field.oneof_index = names.index(spec[4])


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file_name, package, messages in (_EXAMPLE_FILE, _SERVING_FILE):
        file_proto = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto3")
        for message_name, fields in messages.items():
            message = file_proto.message_type.add(name=message_name)
            for spec in fields:
                _add_field(message, package, spec)
        pool.Add(file_proto)
    return pool


def _message_class(full_name: str) -> type:
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(full_name))


def example_class() -> type:
    """The ``tensorflow.Example`` message class (wire-compatible with TensorFlow's).

    >>> Example = example_class()
    >>> example = Example()
    >>> example.features.feature["x"].float_list.value.extend([1.5, 2.0])
    >>> Example.FromString(example.SerializeToString()).features.feature["x"].float_list.value[:]
    [1.5, 2.0]
    """
    return _message_class("tensorflow.Example")


def parse_text_proto(text: str, message_name: str) -> Any:
    """Parses TF Serving text-format config into ``tensorflow.serving.<message_name>``.

    ``message_name`` is ``ModelServerConfig`` (``--model_config_file``) or ``BatchingParameters``
    (``--batching_parameters_file``). Fields of those protos that this server has no use for (logging
    config, custom model configs) are not declared, so naming one is a parse error that says which.

    Raises:
        ValueError: the text is not valid text format for the message (protobuf's message, with line
            and column).

    >>> config = parse_text_proto("model_config_list { config { name: 'm' base_path: '/m' } }",
    ...                           "ModelServerConfig")
    >>> config.model_config_list.config[0].base_path
    '/m'
    """
    message = _message_class(f"tensorflow.serving.{message_name}")()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        raise ValueError(f"Invalid {message_name} text proto: {err}") from err
    return message

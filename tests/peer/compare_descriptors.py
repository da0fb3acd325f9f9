"""Compare this function's protocol descriptors with the Python SDK's.

The function compiles its own copy of Crossplane's
`apiextensions.fn.proto.v1` and `v1beta1` schemas. This script compares the
`FileDescriptorSet` that the function's build produced with the descriptors
that crossplane-function-sdk-python generated from Crossplane's schemas. It
compares every message, field, oneof, map entry, enum, enum value, service
and method. For each it compares every descriptor attribute, such as number,
type, type_name, label, proto3_optional, oneof membership, json_name and
options. The well-known types that the protocol imports are compared too.

Only comments, source info and file paths are ignored. A file is matched by
its package, except the well-known types, which are matched by their import
path because two of them share the `google.protobuf` package.

Usage: compare_descriptors.py OURS.binpb

Prints every difference with the element's full name, and exits with status
1 when there is any.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from google.protobuf import descriptor as descriptor_mod
from google.protobuf import descriptor_pb2, text_format
from google.protobuf.message import DecodeError

from crossplane.function.proto.v1 import run_function_pb2 as sdk_v1
from crossplane.function.proto.v1beta1 import run_function_pb2 as sdk_v1beta1

PROTOCOL_PACKAGES = ("apiextensions.fn.proto.v1", "apiextensions.fn.proto.v1beta1")

# Descriptor fields that either name the element (it is in the path already)
# or hold child elements, which get paths of their own.
STRUCTURAL = {
    "FileDescriptorProto": {
        "name",
        "message_type",
        "enum_type",
        "service",
        "extension",
        "source_code_info",
    },
    "DescriptorProto": {
        "name",
        "field",
        "nested_type",
        "enum_type",
        "extension",
        "oneof_decl",
    },
    "FieldDescriptorProto": {"name", "oneof_index", "json_name"},
    "OneofDescriptorProto": {"name"},
    "EnumDescriptorProto": {"name", "value"},
    "EnumValueDescriptorProto": {"name"},
    "ServiceDescriptorProto": {"name", "method"},
    "MethodDescriptorProto": {"name"},
}

# The attribute that records an element's kind. An element exists on a side
# when this attribute is present there.
KIND = "kind"

Flat = dict[tuple[str, str], object]


def default_json_name(field_name: str) -> str:
    """Derive the JSON name protoc gives a field that sets none."""
    parts = field_name.split("_")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])


def attributes(message, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Yield every non-structural attribute of a descriptor proto."""
    skip = STRUCTURAL.get(message.DESCRIPTOR.name, set()) if not prefix else set()

    for field in message.DESCRIPTOR.fields:
        if field.name in skip:
            continue
        name = prefix + field.name
        value = getattr(message, field.name)

        if field.is_repeated:
            if field.message_type is not None:
                items = sorted(text_format.MessageToString(v, as_one_line=True) for v in value)
            else:
                items = sorted(str(v) for v in value)
            if items:
                yield name, tuple(items)
        elif field.message_type is not None:
            if message.HasField(field.name):
                yield from attributes(value, prefix=name + ".")
        elif prefix and not message.HasField(field.name):
            # An option that is not set has no effect, whatever its default.
            continue
        elif field.enum_type is not None:
            known = field.enum_type.values_by_number.get(value)
            yield name, known.name if known else value
        else:
            yield name, value

    # Extensions set on an options message (custom options).
    for extension, value in message.ListFields():
        if extension.is_extension:
            yield prefix + extension.full_name, str(value)


def record(flat: Flat, path: str, kind: str, message) -> None:
    """Record that the element at `path` exists, and all its attributes."""
    flat[(path, KIND)] = kind
    for name, value in attributes(message):
        flat[(path, name)] = value


def flatten_field(flat: Flat, path: str, field, oneofs) -> None:
    record(flat, path, "field", field)

    oneof = oneofs[field.oneof_index].name if field.HasField("oneof_index") else None
    flat[(path, "oneof")] = oneof

    json_name = field.json_name if field.HasField("json_name") else default_json_name(field.name)
    flat[(path, "json_name")] = json_name


def flatten_enum(flat: Flat, path: str, enum) -> None:
    record(flat, path, "enum", enum)
    for value in enum.value:
        record(flat, f"{path}.{value.name}", "enum value", value)


def flatten_message(flat: Flat, path: str, message) -> None:
    record(flat, path, "message", message)

    for oneof in message.oneof_decl:
        record(flat, f"{path}.{oneof.name}", "oneof", oneof)
    for field in message.field:
        flatten_field(flat, f"{path}.{field.name}", field, message.oneof_decl)
    for extension in message.extension:
        flatten_field(flat, f"{path}.{extension.name}", extension, message.oneof_decl)
    for nested in message.nested_type:
        flatten_message(flat, f"{path}.{nested.name}", nested)
    for enum in message.enum_type:
        flatten_enum(flat, f"{path}.{enum.name}", enum)


def flatten_file(flat: Flat, key: str, file: descriptor_pb2.FileDescriptorProto) -> None:
    """Flatten one file into `flat`, with elements under their full names."""
    record(flat, f"file {key}", "file", file)

    scope = file.package
    for message in file.message_type:
        flatten_message(flat, f"{scope}.{message.name}", message)
    for enum in file.enum_type:
        flatten_enum(flat, f"{scope}.{enum.name}", enum)
    for extension in file.extension:
        flatten_field(flat, f"{scope}.{extension.name}", extension, [])
    for service in file.service:
        record(flat, f"{scope}.{service.name}", "service", service)
        for method in service.method:
            record(flat, f"{scope}.{service.name}.{method.name}", "method", method)


def file_key(file: descriptor_pb2.FileDescriptorProto) -> str:
    if file.package == "google.protobuf":
        return file.name
    return file.package


def sdk_files() -> list[descriptor_pb2.FileDescriptorProto]:
    """Return the SDK's protocol files and every file they import."""
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending: list[descriptor_mod.FileDescriptor] = [sdk_v1.DESCRIPTOR, sdk_v1beta1.DESCRIPTOR]

    while pending:
        file = pending.pop()
        if file.name in files:
            continue
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        files[file.name] = proto
        pending.extend(file.dependencies)

    return list(files.values())


def load_ours(path: str) -> list[descriptor_pb2.FileDescriptorProto]:
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        descriptor_set.ParseFromString(f.read())
    return list(descriptor_set.file)


def flatten_all(files: list[descriptor_pb2.FileDescriptorProto]) -> Flat:
    flat: Flat = {}
    for file in files:
        flatten_file(flat, file_key(file), file)
    return flat


def has_ancestor_in(path: str, paths: set[str]) -> bool:
    """Tell whether an element that encloses `path` is in `paths`."""
    parts = path.split(".")
    return any(".".join(parts[:end]) in paths for end in range(1, len(parts)))


def compare(sdk: Flat, ours: Flat) -> list[str]:
    """List every difference, one line each, sorted by element path."""
    sdk_elements = {path for path, name in sdk if name == KIND}
    our_elements = {path for path, name in ours if name == KIND}
    missing = sdk_elements - our_elements
    extra = our_elements - sdk_elements

    # A missing or extra element is reported once, without its children.
    differences = [
        f"{path}: {sdk[(path, KIND)]} missing in ours"
        for path in missing
        if not has_ancestor_in(path, missing)
    ]
    differences += [
        f"{path}: {ours[(path, KIND)]} extra in ours, not in the SDK"
        for path in extra
        if not has_ancestor_in(path, extra)
    ]

    one_sided = missing | extra
    for key in sorted(sdk.keys() | ours.keys()):
        path, name = key
        if name == KIND or path in one_sided or has_ancestor_in(path, one_sided):
            continue
        if key not in ours:
            differences.append(f"{path}: {name} is {sdk[key]!r} in the SDK, unset in ours")
        elif key not in sdk:
            differences.append(f"{path}: {name} is {ours[key]!r} in ours, unset in the SDK")
        elif sdk[key] != ours[key]:
            differences.append(f"{path}: {name} is {ours[key]!r} in ours, {sdk[key]!r} in the SDK")

    return sorted(differences)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ours", help="path of the function's encoded FileDescriptorSet")
    args = parser.parse_args()

    try:
        ours = load_ours(args.ours)
    except (OSError, DecodeError) as error:
        print(f"cannot read the descriptor set {args.ours}: {error}", file=sys.stderr)
        return 1

    packages = {file.package for file in ours}
    absent = [package for package in PROTOCOL_PACKAGES if package not in packages]
    if absent:
        print(f"{args.ours}: no file of package {', '.join(absent)}", file=sys.stderr)
        return 1

    sdk_flat = flatten_all(sdk_files())
    our_flat = flatten_all(ours)
    differences = compare(sdk_flat, our_flat)

    for line in differences:
        print(line)

    elements = sum(1 for _, name in sdk_flat if name == KIND)
    if differences:
        print(f"{len(differences)} differences from crossplane-function-sdk-python")
        return 1

    print(f"descriptors match: {elements} elements in {len(ours)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

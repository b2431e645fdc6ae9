"""Finds where a protobuf message is malformed, to name it in INVALID_ARGUMENT answers.

The C parser only says *what* failed ("String field had bad UTF-8"); this walker re-reads the
wire format against the message descriptor to say *where*, as a field path such as
``resource_spans[0].scope_spans[0].spans[3].name``. It runs only for requests that already
failed to parse, so its pure-Python cost never touches the hot path. Pure function.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["locate_wire_problem"]

#: Nesting depth beyond which the walker stops looking (protobuf's own limit is 100).
_MAX_DEPTH = 100


class _WireProblem(Exception):
    pass


def _read_varint(data: bytes, position: int, where: str) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if position >= len(data):
            raise _WireProblem(f"{where}: truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift >= 64:
            raise _WireProblem(f"{where}: varint longer than 10 bytes")


def _is_repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == FieldDescriptor.LABEL_REPEATED


def _walk(data: bytes, descriptor: Descriptor, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _WireProblem(f"{path or 'message'}: nested more than {_MAX_DEPTH} levels deep")
    position = 0
    seen: dict[int, int] = {}
    while position < len(data):
        key, position = _read_varint(data, position, path or "message")
        number, wire_type = key >> 3, key & 7
        field = descriptor.fields_by_number.get(number)
        name = field.name if field is not None else f"<field {number}>"
        if field is not None and _is_repeated(field):
            index = seen.get(number, 0)
            seen[number] = index + 1
            name = f"{name}[{index}]"
        where = f"{path}.{name}" if path else name
        if number == 0:
            raise _WireProblem(f"{path or 'message'}: field number 0 is invalid")
        if wire_type == 0:
            _, position = _read_varint(data, position, where)
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
            if position > len(data):
                raise _WireProblem(f"{where}: truncated fixed-width value")
        elif wire_type == 2:
            length, position = _read_varint(data, position, where)
            end = position + length
            if end > len(data):
                raise _WireProblem(f"{where}: length {length} runs past the end of the data")
            value = data[position:end]
            position = end
            if field is None:
                continue
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                _walk(value, field.message_type, where, depth + 1)
            elif field.type == FieldDescriptor.TYPE_STRING:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise _WireProblem(f"{where}: invalid UTF-8 at byte {error.start} of the string") from None
        else:
            raise _WireProblem(f"{where}: unsupported wire type {wire_type}")


def locate_wire_problem(data: bytes, descriptor: Descriptor) -> str | None:
    """``"<field path>: <problem>"`` for the first problem found, or None when none is found."""
    try:
        _walk(data, descriptor, "", 0)
    except _WireProblem as problem:
        return str(problem)
    return None

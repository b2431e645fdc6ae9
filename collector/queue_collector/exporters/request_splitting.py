"""Splits an OTLP export request that is too large for the endpoint into requests that fit.

A request is cut at resource boundaries first, then at scope boundaries, then between items
(spans, log records); each part keeps its resource and scope. A single item larger than the
limit cannot be cut and travels alone. The parts are serialized requests that concatenate
back into one valid request, so they may be merged again up to the limit. Pure functions.
"""

from __future__ import annotations

from typing import Iterator

from google.protobuf.message import Message

from queue_collector.otlp_signals import OtlpSignal

__all__ = ["split_request"]

#: Bytes allowed for the length prefixes of the resource and scope entries growing as items are
#: added (at most 4 more bytes each for messages under 256 MiB), so a part never exceeds the limit.
_LENGTH_PREFIX_GROWTH = 8


def _varint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def _request_with(signal: OtlpSignal, resource: Message) -> bytes:
    request = signal.request_type()
    getattr(request, signal.resource_field).append(resource)
    return request.SerializeToString()


def _without(message: Message, field: str) -> Message:
    copy = type(message)()
    copy.CopyFrom(message)
    copy.ClearField(field)
    return copy


def _split_scope(signal: OtlpSignal, resource_shell: Message, scope: Message, limit: int) -> Iterator[bytes]:
    scope_shell = _without(scope, signal.item_field)

    def part(items: list[Message]) -> bytes:
        resource = type(resource_shell)()
        resource.CopyFrom(resource_shell)
        scope_part = getattr(resource, signal.scope_field).add()
        scope_part.CopyFrom(scope_shell)
        getattr(scope_part, signal.item_field).extend(items)
        return _request_with(signal, resource)

    base = len(part([])) + _LENGTH_PREFIX_GROWTH
    group: list[Message] = []
    size = base
    for item in getattr(scope, signal.item_field):
        item_size = item.ByteSize()
        item_size += 1 + _varint_size(item_size)  # tag (field number below 16) and length
        if group and size + item_size > limit:
            yield part(group)
            group, size = [], base
        group.append(item)
        size += item_size
    if group:
        yield part(group)


def _split_resource(signal: OtlpSignal, resource: Message, limit: int) -> Iterator[bytes]:
    whole = _request_with(signal, resource)
    if len(whole) <= limit:
        yield whole
        return
    shell = _without(resource, signal.scope_field)
    for scope in getattr(resource, signal.scope_field):
        one = type(shell)()
        one.CopyFrom(shell)
        getattr(one, signal.scope_field).append(scope)
        data = _request_with(signal, one)
        if len(data) <= limit:
            yield data
        else:
            yield from _split_scope(signal, shell, scope, limit)


def split_request(request: Message, signal: OtlpSignal, limit: int) -> list[bytes]:
    """``request`` as serialized requests of at most ``limit`` bytes each (but for single items
    larger than that), packed as few as the limit allows, in the original order."""
    parts: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for resource in getattr(request, signal.resource_field):
        for piece in _split_resource(signal, resource, limit):
            if current and size + len(piece) > limit:
                parts.append(b"".join(current))
                current, size = [], 0
            current.append(piece)
            size += len(piece)
    if current:
        parts.append(b"".join(current))
    return parts

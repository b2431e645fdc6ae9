"""Renaming the Rust queue-runtime's legacy span attributes to the conventions' names.

The original runtime puts ``queue.name``, ``message.id``, ``queue.operation`` and
``queue.session_id`` on its spans. On the way to the trace exporters they become:

============================  =====================================================
``queue.name``                ``messaging.destination.name``
``message.id``                ``messaging.message.id``
``queue.operation``           ``messaging.operation.name``, plus ``messaging.operation.type``
                              when the name is a known operation (see :data:`OPERATION_TYPES`)
``queue.session_id``          ``queue.session.id`` (the attribute our producers use: the
                              conventions have no provider-neutral session attribute)
============================  =====================================================

A span that already carries the conventional attribute keeps its value and loses the legacy
one (no duplicate keys). Work is kept off spans that cannot be legacy: a scope's spans are
checked one by one only when the resource's ``telemetry.sdk.language`` is listed in the
configuration (the runtime's SDK reports ``rust``) or when the scope's first span carries a
legacy key. Pure translation on the request, in place; no state.
"""

from __future__ import annotations

from typing import Any, Iterable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["LEGACY_RENAMES", "OPERATION_TYPES", "operation_type", "normalize_request"]

#: Legacy key -> conventional key.
LEGACY_RENAMES = {
    "queue.name": "messaging.destination.name",
    "message.id": "messaging.message.id",
    "queue.operation": "messaging.operation.name",
    "queue.session_id": "queue.session.id",
}
_LEGACY_OPERATION = "queue.operation"
_OPERATION_TYPE = "messaging.operation.type"
_SDK_LANGUAGE = "telemetry.sdk.language"

#: Operation names (legacy ``queue.operation`` and common ``messaging.operation.name`` values)
#: -> ``messaging.operation.type``.
OPERATION_TYPES = {
    "send": "send",
    "send_batch": "send",
    "publish": "send",
    "create": "create",
    "receive": "receive",
    "receive_batch": "receive",
    "poll": "receive",
    "process": "process",
    "deliver": "process",
    "handle": "process",
    "ack": "settle",
    "acknowledge": "settle",
    "complete": "settle",
    "delete": "settle",
    "nack": "settle",
    "reject": "settle",
    "abandon": "settle",
    "release": "settle",
    "dead_letter": "settle",
    "deadletter": "settle",
    "defer": "settle",
}


def operation_type(name: str) -> str | None:
    """The ``messaging.operation.type`` of an operation name, or None when unknown."""
    return OPERATION_TYPES.get(name.lower())


def _has_legacy(attributes: Iterable[Any]) -> bool:
    for item in attributes:
        if item.key in LEGACY_RENAMES:
            return True
    return False


def _normalize_span(attributes: Any) -> bool:
    """Renames the legacy keys of one span's attributes in place; True when one was found."""
    legacy = [index for index, item in enumerate(attributes) if item.key in LEGACY_RENAMES]
    if not legacy:
        return False
    present = {item.key for item in attributes}
    operation: str | None = None
    drop = []
    for index in legacy:
        item = attributes[index]
        if item.key == _LEGACY_OPERATION and item.value.WhichOneof("value") == "string_value":
            operation = item.value.string_value
        new_key = LEGACY_RENAMES[item.key]
        if new_key in present:
            drop.append(index)
        else:
            item.key = new_key
            present.add(new_key)
    for index in reversed(drop):
        del attributes[index]
    if operation is not None and _OPERATION_TYPE not in present:
        kind = operation_type(operation)
        if kind is not None:
            attributes.append(KeyValue(key=_OPERATION_TYPE, value=AnyValue(string_value=kind)))
    return True


def _sdk_language(resource: Any) -> str | None:
    for item in resource.attributes:
        if item.key == _SDK_LANGUAGE:
            return item.value.string_value
    return None


def normalize_request(request: Any, languages: frozenset[str]) -> int:
    """Normalizes the legacy spans of an ``ExportTraceServiceRequest`` in place; returns how many."""
    normalized = 0
    for resource_spans in request.resource_spans:
        every_span = bool(languages) and _sdk_language(resource_spans.resource) in languages
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            if not spans:
                continue
            if not every_span and not _has_legacy(spans[0].attributes):
                continue
            for span in spans:
                if _normalize_span(span.attributes):
                    normalized += 1
    return normalized

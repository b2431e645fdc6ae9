"""Deriving the unified queue metrics from messaging spans (translation only, no state).

For applications that export traces but no metrics. A span is a messaging span when it has a
``messaging.operation.type`` (or, from older conventions, ``messaging.operation``; or an
operation name whose type is known, see :data:`legacy_spans.OPERATION_TYPES`). Per span:

=========  =========================================================================
type       adds
=========  =========================================================================
send       ``queue_messages_sent_total`` += ``messaging.batch.message_count`` or 1
           (on error: ``queue_send_errors_total{error_type}`` += 1 instead);
           the duration to ``queue_send_duration_seconds``
receive    ``queue_messages_received_total`` += ``messaging.batch.message_count``, or 1
           when the span names a ``messaging.message.id``, else 0 (an empty poll)
           (on error: ``queue_receive_errors_total`` += 1 instead);
           the duration to ``queue_receive_duration_seconds``
process    the duration to ``queue_message_processing_duration_seconds``
           (on error: ``queue_processing_errors_total`` += 1 as well)
settle     by operation name: ack/complete/delete/acknowledge ->
           ``queue_messages_acknowledged_total``; nack/abandon/reject/release ->
           ``queue_messages_rejected_total``; dead_letter/deadletter ->
           ``queue_messages_dead_lettered_total`` and ``queue_dlq_messages_total``
           (``reason`` from ``queue.dead_letter.reason``); failed settlements add nothing
=========  =========================================================================

A span is an error when its status is ERROR or it has ``error.type``; the ``error_type`` label
is ``error.type``, or ``_OTHER``. Labels: ``service`` from the resource's ``service.name``,
``provider`` from ``messaging.system``, ``queue`` from ``messaging.destination.name``.
Whether a derived value is kept (no double counting with metrics) is decided by the stage.
"""

from __future__ import annotations

from typing import Any, Callable

from opentelemetry.proto.trace.v1 import trace_pb2

from .legacy_spans import operation_type
from .points import label_text

__all__ = ["DERIVED_TARGETS", "SpanValue", "derive_from_request"]

_SEND = "queue_messages_sent_total"
_RECEIVED = "queue_messages_received_total"
_ACKNOWLEDGED = "queue_messages_acknowledged_total"
_REJECTED = "queue_messages_rejected_total"
_DEAD_LETTERED = "queue_messages_dead_lettered_total"
_DLQ_MESSAGES = "queue_dlq_messages_total"
_SEND_ERRORS = "queue_send_errors_total"
_RECEIVE_ERRORS = "queue_receive_errors_total"
_PROCESSING_ERRORS = "queue_processing_errors_total"
_SEND_DURATION = "queue_send_duration_seconds"
_RECEIVE_DURATION = "queue_receive_duration_seconds"
_PROCESS_DURATION = "queue_message_processing_duration_seconds"

#: Every unified metric spans can feed.
DERIVED_TARGETS = (
    _SEND, _RECEIVED, _ACKNOWLEDGED, _REJECTED, _DEAD_LETTERED, _DLQ_MESSAGES,
    _SEND_ERRORS, _RECEIVE_ERRORS, _PROCESSING_ERRORS,
    _SEND_DURATION, _RECEIVE_DURATION, _PROCESS_DURATION,
)

_ACK_NAMES = frozenset(("ack", "acknowledge", "complete", "delete"))
_NACK_NAMES = frozenset(("nack", "abandon", "reject", "release"))
_DEAD_LETTER_NAMES = frozenset(("dead_letter", "deadletter"))

_OPERATION_TYPE = "messaging.operation.type"
_OPERATION_OLD = "messaging.operation"
_OPERATION_NAME = "messaging.operation.name"
_SYSTEM = "messaging.system"
_DESTINATION = "messaging.destination.name"
_BATCH = "messaging.batch.message_count"
_MESSAGE_ID = "messaging.message.id"
_ERROR_TYPE = "error.type"
_REASON = "queue.dead_letter.reason"
_WANTED = frozenset(
    (_OPERATION_TYPE, _OPERATION_OLD, _OPERATION_NAME, _SYSTEM, _DESTINATION, _BATCH,
     _MESSAGE_ID, _ERROR_TYPE, _REASON)
)
#: Bytes a scope's serialized spans must contain to be worth reading span by span.
_MARKERS = (b"messaging.operation",)
_STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR

#: ``(target, labels by name, value)``: a counter increment or a histogram observation (seconds).
SpanValue = tuple[str, dict[str, str], float]


def _service_of(resource: Any) -> str | None:
    for item in resource.attributes:
        if item.key == "service.name":
            return item.value.string_value
    return None


def _read(span: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in span.attributes:
        if item.key in _WANTED:
            value = item.value
            kind = value.WhichOneof("value")
            if kind is not None:
                values[item.key] = getattr(value, kind)
    return values


def derive_from_request(
    request: Any, unknown_service: str, skip_service: Callable[[str], bool]
) -> list[SpanValue]:
    """The values the messaging spans of an ``ExportTraceServiceRequest`` add.

    ``skip_service(service)`` True skips a resource at once (its service sends metrics for every
    target spans could feed). Scopes whose serialized bytes mention no messaging operation are
    skipped without reading their spans.
    """
    values: list[SpanValue] = []
    for resource_spans in request.resource_spans:
        service = _service_of(resource_spans.resource) or unknown_service
        if skip_service(service):
            continue
        for scope_spans in resource_spans.scope_spans:
            if not scope_spans.spans:
                continue
            raw = scope_spans.SerializeToString()
            if not any(marker in raw for marker in _MARKERS):
                continue
            for span in scope_spans.spans:
                _derive_span(span, service, values)
    return values


def _derive_span(span: Any, service: str, values: list[SpanValue]) -> None:
    attributes = _read(span)
    kind = attributes.get(_OPERATION_TYPE) or attributes.get(_OPERATION_OLD)
    name = attributes.get(_OPERATION_NAME)
    if isinstance(kind, str):
        kind = kind.lower()
        if kind == "publish":  # older conventions
            kind = "send"
    elif isinstance(name, str):
        kind = operation_type(name)
    else:
        return
    if kind not in ("send", "receive", "process", "settle"):
        return
    labels = {
        "service": service,
        "provider": label_text(attributes.get(_SYSTEM, "")),
        "queue": label_text(attributes.get(_DESTINATION, "")),
    }
    error_type = attributes.get(_ERROR_TYPE)
    failed = error_type is not None or span.status.code == _STATUS_ERROR
    end, start = span.end_time_unix_nano, span.start_time_unix_nano
    duration = (end - start) / 1e9 if end >= start and start else None
    if failed:
        error_labels = {**labels, "error_type": label_text(error_type) if error_type else "_OTHER"}
    if kind == "send":
        if failed:
            values.append((_SEND_ERRORS, error_labels, 1.0))
        else:
            batch = attributes.get(_BATCH)
            count = float(batch) if isinstance(batch, int) and batch >= 0 else 1.0
            values.append((_SEND, labels, count))
        if duration is not None:
            values.append((_SEND_DURATION, labels, duration))
    elif kind == "receive":
        if failed:
            values.append((_RECEIVE_ERRORS, error_labels, 1.0))
        else:
            batch = attributes.get(_BATCH)
            if isinstance(batch, int) and batch >= 0:
                count = float(batch)
            else:
                count = 1.0 if _MESSAGE_ID in attributes else 0.0
            if count:
                values.append((_RECEIVED, labels, count))
        if duration is not None:
            values.append((_RECEIVE_DURATION, labels, duration))
    elif kind == "process":
        if failed:
            values.append((_PROCESSING_ERRORS, error_labels, 1.0))
        if duration is not None:
            values.append((_PROCESS_DURATION, labels, duration))
    elif not failed and isinstance(name, str):
        operation = name.lower()
        if operation in _ACK_NAMES:
            values.append((_ACKNOWLEDGED, labels, 1.0))
        elif operation in _NACK_NAMES:
            values.append((_REJECTED, labels, 1.0))
        elif operation in _DEAD_LETTER_NAMES:
            reason = {**labels, "reason": label_text(attributes.get(_REASON, ""))}
            values.append((_DEAD_LETTERED, reason, 1.0))
            values.append((_DLQ_MESSAGES, reason, 1.0))

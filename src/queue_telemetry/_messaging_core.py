"""The span and metric recording shared by the provider instrumentations (SQS, Service Bus).

:class:`MessagingRecorder` knows the messaging semantic conventions (span names, kinds,
attributes, links, the catalog's metrics) and nothing about any provider. A provider extension
(:mod:`queue_telemetry.sqs`, :mod:`queue_telemetry.servicebus`) translates its SDK's calls into
the recorder's operations: ``send``, ``create``, ``receive``, ``process``, ``settle``.

Every span start and end uses the recorder's clock (nanoseconds since the epoch, replaceable in
tests), so durations and timestamps agree. Every telemetry step is guarded by the callers with
:func:`queue_telemetry._safe_invoke.safe_invoke`; the recorder itself may raise.

Threading: a recorder may be shared between threads; it keeps no per-message state.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry._logs import LoggerProvider
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_BATCH_MESSAGE_COUNT,
    MESSAGING_DESTINATION_ANONYMOUS,
    MESSAGING_DESTINATION_TEMPORARY,
    MESSAGING_MESSAGE_CONVERSATION_ID,
    MESSAGING_MESSAGE_ID,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TracerProvider

from queue_telemetry._environment import parse_bool, resolve
from queue_telemetry._exception_events import emit_exception_event, exception_event_logger
from queue_telemetry._queue_instruments import SCOPE_NAME, SCOPE_VERSION, QueueInstruments, instruments_for
from queue_telemetry._safe_invoke import report_failure, safe_invoke
from queue_telemetry.catalog import DEAD_LETTER_REASONS, Attr
from queue_telemetry.environment_variables import (
    OTEL_PYTHON_QUEUE_CREATE_SPANS,
    OTEL_PYTHON_QUEUE_PROCESS_PARENT,
)
from queue_telemetry.propagation import creation_span_context

__all__ = ["MessagingRecorder", "Operation", "Clock", "OTHER_ERROR", "bounded_error_type"]

#: Nanoseconds since the epoch.
Clock = Callable[[], int]

#: ``error.type`` when nothing better and bounded is known.
OTHER_ERROR = "_OTHER"

_DEFAULT_CREATE_SPANS = True
_DEFAULT_PROCESS_PARENT = False
_MAX_LINKS = 128
_BOUNDED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,99}$")

SEND, RECEIVE, PROCESS, SETTLE, CREATE = "send", "receive", "process", "settle", "create"
_log = logging.getLogger("queue_telemetry.client")


def bounded_error_type(value: object) -> str:
    """``value`` as an ``error.type`` if it looks like a bounded identifier, else ``_OTHER``."""
    if isinstance(value, str) and _BOUNDED_NAME.match(value):
        return value
    return OTHER_ERROR


def error_type_of_exception(error: BaseException) -> str:
    """The low-cardinality ``error.type`` of an exception (see :func:`queue_client.error_type_of`)."""
    from queue_telemetry.queue_client import error_type_of

    return bounded_error_type(error_type_of(error))


class Operation:
    """One operation in progress: span, attached-context token, start time (ns)."""

    __slots__ = ("span", "token", "started", "queue", "name", "type")

    def __init__(self, started: int, queue: str | None, name: str, type_: str | None) -> None:
        self.span: trace.Span = trace.INVALID_SPAN
        self.token: object | None = None
        self.started = started
        self.queue = queue
        self.name = name
        self.type = type_

    def recording(self) -> trace.Span | None:
        return self.span if self.span.is_recording() else None


class MessagingRecorder:
    """Spans and metrics of one messaging system, per the OpenTelemetry conventions.

    Args:
        system: ``messaging.system`` (``aws_sqs``, ``servicebus`` ...).
        tracer_provider, meter_provider, logger_provider: default the global ones (the logger
            provider receives the conventions' ``messaging.*.exception`` events).
        create_spans: one ``create`` span per message of a batch send (None:
            ``OTEL_PYTHON_QUEUE_CREATE_SPANS``, default true).
        parent_process_from_message: ``process`` spans are children of the creation context
            (None: ``OTEL_PYTHON_QUEUE_PROCESS_PARENT``, default false; always linked).
        is_temporary: tells temporary/anonymous destinations apart; they get bare span names,
            ``messaging.destination.temporary=true`` and no destination on metrics.
        clock: nanoseconds since the epoch; default :func:`time.time_ns`.
    """

    def __init__(
        self,
        system: str,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        create_spans: bool | None = None,
        parent_process_from_message: bool | None = None,
        is_temporary: Callable[[str], bool] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.system = system
        self.tracer = trace.get_tracer(SCOPE_NAME, SCOPE_VERSION, tracer_provider)
        self.exception_events = exception_event_logger(logger_provider)
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self.instruments: QueueInstruments = safe_invoke(
            "MessagingRecorder.instruments", None, instruments_for, provider
        ) or instruments_for(NoOpMeterProvider())
        self.create_spans = resolve(create_spans, OTEL_PYTHON_QUEUE_CREATE_SPANS, _DEFAULT_CREATE_SPANS, parse_bool)
        self.parent_from_message = resolve(
            parent_process_from_message, OTEL_PYTHON_QUEUE_PROCESS_PARENT, _DEFAULT_PROCESS_PARENT, parse_bool
        )
        self.is_temporary = is_temporary or (lambda _queue: False)
        self.clock: Clock = clock or time.time_ns

    # --- names and attributes ---------------------------------------------------------------

    def _temporary(self, queue: str | None) -> bool:
        return not queue or bool(self.is_temporary(queue))

    def span_name(self, operation: str, queue: str | None) -> str:
        return operation if self._temporary(queue) else f"{operation} {queue}"

    def span_attributes(
        self, queue: str | None, operation: str, operation_type: str | None,
        server: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {Attr.MESSAGING_SYSTEM: self.system, Attr.OPERATION_NAME: operation}
        if operation_type is not None:
            attributes[Attr.OPERATION_TYPE] = operation_type
        if not queue:
            attributes[MESSAGING_DESTINATION_ANONYMOUS] = True
            attributes[MESSAGING_DESTINATION_TEMPORARY] = True
        else:
            attributes[Attr.DESTINATION_NAME] = queue
            if self._temporary(queue):
                attributes[MESSAGING_DESTINATION_TEMPORARY] = True
        if server:
            attributes.update(server)
        return attributes

    def metric_attributes(
        self, queue: str | None, operation: str | None = None, operation_type: str | None = None,
        *, error_type: str | None = None, server: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {Attr.MESSAGING_SYSTEM: self.system}
        if not self._temporary(queue):
            attributes[Attr.DESTINATION_NAME] = queue
        if operation is not None:
            attributes[Attr.OPERATION_NAME] = operation
            if server:
                attributes.update(server)
        if operation_type is not None:
            attributes[Attr.OPERATION_TYPE] = operation_type
        if error_type is not None:
            attributes[Attr.ERROR_TYPE] = error_type
        return attributes

    # --- spans ----------------------------------------------------------------------------------

    def start(
        self, queue: str | None, operation: str, operation_type: str | None, kind: SpanKind, *,
        server: Mapping[str, Any] | None = None, links: Sequence[Link] = (),
        parent: otel_context.Context | None = None, attach: bool = True,
        attributes: Mapping[str, Any] | None = None,
    ) -> Operation:
        """Start (and by default make current) the span of one operation."""
        op = Operation(self.clock(), queue, operation, operation_type)
        span_attributes = self.span_attributes(queue, operation, operation_type, server)
        if attributes:
            span_attributes.update({key: value for key, value in attributes.items() if value is not None})
        op.span = self.tracer.start_span(
            self.span_name(operation, queue), context=parent, kind=kind, attributes=span_attributes,
            links=list(links)[:_MAX_LINKS], start_time=op.started,
        )
        if attach:
            op.token = otel_context.attach(trace.set_span_in_context(op.span))
        return op

    def end(self, op: Operation, error: BaseException | None = None, error_type: str | None = None) -> int:
        """Detach and end ``op``'s span (recording ``error``); returns the end time. Never raises."""
        now = self.clock()
        if op.token is not None:
            try:
                otel_context.detach(op.token)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001
                report_failure("MessagingRecorder.detach")
            op.token = None
        span = op.span
        try:
            if error is not None and span.is_recording():
                span.record_exception(error, timestamp=now)
                span.set_attribute(Attr.ERROR_TYPE, error_type or error_type_of_exception(error))
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            if error is not None:
                emit_exception_event(self.exception_events, op.type, error, span)
            span.end(end_time=now)
        except Exception:  # noqa: BLE001
            report_failure("MessagingRecorder.end")
        return now

    def seconds(self, op: Operation, ended: int) -> float:
        return max(0, ended - op.started) / 1e9

    @staticmethod
    def links_to(contexts: Iterable[trace.SpanContext]) -> list[Link]:
        return [Link(context) for context in contexts if context.is_valid][:_MAX_LINKS]

    # --- the operations ----------------------------------------------------------------------------

    def create(self, queue: str, server: Mapping[str, Any] | None, attributes: Mapping[str, Any] | None = None) -> Operation:
        """A ``create`` span (PRODUCER), ended immediately: one message's creation context."""
        op = self.start(queue, CREATE, CREATE, SpanKind.PRODUCER, server=server, attach=False, attributes=attributes)
        self.end(op)
        return op

    def finish_send(
        self, op: Operation, count: int, *, error: BaseException | None = None,
        error_type: str | None = None, server: Mapping[str, Any] | None = None,
    ) -> None:
        """End a send span and record the send metrics."""
        if error is not None and error_type is None:
            error_type = error_type_of_exception(error)
        ended = self.end(op, error, error_type)
        queue = op.queue
        inst = self.instruments
        inst.sent.add(count, self.metric_attributes(queue, op.name, error_type=error_type, server=server))
        inst.operation_duration.record(
            self.seconds(op, ended),
            self.metric_attributes(queue, op.name, SEND, error_type=error_type, server=server),
        )
        if error_type is not None:
            self.count_error(queue, "send", error_type)

    def finish_receive(
        self, op: Operation, count: int, *, error: BaseException | None = None,
        error_type: str | None = None, server: Mapping[str, Any] | None = None,
    ) -> None:
        if error is not None and error_type is None:
            error_type = error_type_of_exception(error)
        ended = self.end(op, error, error_type)
        queue = op.queue
        inst = self.instruments
        if count:
            inst.consumed.add(count, self.metric_attributes(queue, op.name, server=server))
            inst.in_flight.add(count, self.metric_attributes(queue))
        inst.operation_duration.record(
            self.seconds(op, ended),
            self.metric_attributes(queue, op.name, RECEIVE, error_type=error_type, server=server),
        )
        if error_type is not None:
            self.count_error(queue, "receive", error_type)

    def start_process(
        self, queue: str | None, creation: trace.SpanContext, *, server: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Operation:
        """Start the ``process`` span (CONSUMER) when the application begins handling a message."""
        links = [Link(creation)] if creation.is_valid else []
        parent = None
        if self.parent_from_message and creation.is_valid:
            parent = trace.set_span_in_context(trace.NonRecordingSpan(creation))
        return self.start(
            queue, PROCESS, PROCESS, SpanKind.CONSUMER, server=server, links=links, parent=parent,
            attributes=attributes,
        )

    def finish_process(self, op: Operation, error: BaseException | None = None) -> None:
        error_type = error_type_of_exception(error) if error is not None else None
        ended = self.end(op, error, error_type)
        self.instruments.process_duration.record(
            self.seconds(op, ended), self.metric_attributes(op.queue, PROCESS, error_type=error_type)
        )
        if error_type is not None:
            self.count_error(op.queue, "process", error_type)

    def finish_settle(
        self, op: Operation, count: int, outcome: str, *, error: BaseException | None = None,
        error_type: str | None = None, reason: str | None = None, server: Mapping[str, Any] | None = None,
    ) -> None:
        """End a settle span.

        ``outcome``: ``acknowledged``, ``rejected``, ``dead_lettered``, ``deferred`` (set aside:
        no longer in flight, not counted otherwise) or ``other``.
        """
        if error is not None and error_type is None:
            error_type = error_type_of_exception(error)
        ended = self.end(op, error, error_type)
        queue = op.queue
        inst = self.instruments
        inst.operation_duration.record(
            self.seconds(op, ended),
            self.metric_attributes(queue, op.name, SETTLE, error_type=error_type, server=server),
        )
        if error_type is not None:
            self.count_error(queue, "settle", error_type)
            return
        if count <= 0:
            return
        attributes = self.metric_attributes(queue)
        if outcome in ("acknowledged", "rejected", "dead_lettered", "deferred"):
            inst.in_flight.add(-count, attributes)
        if outcome == "acknowledged":
            inst.acknowledged.add(count, attributes)
        elif outcome == "rejected":
            inst.rejected.add(count, attributes)
        elif outcome == "dead_lettered":
            inst.dead_lettered.add(
                count, {**attributes, Attr.DEAD_LETTER_REASON: bounded_dead_letter_reason(reason)}
            )

    def count_error(self, queue: str | None, operation: str, error_type: str) -> None:
        self.instruments.errors.add(
            1, {**self.metric_attributes(queue), Attr.ERROR_OPERATION: operation, Attr.ERROR_TYPE: error_type}
        )

    def count(self, instrument: Any, queue: str | None, amount: int = 1) -> None:
        """Add ``amount`` to a ``queue.*`` counter with the queue's attributes."""
        instrument.add(amount, self.metric_attributes(queue))


def bounded_dead_letter_reason(reason: str | None) -> str:
    """``reason`` when it is one of :data:`catalog.DEAD_LETTER_REASONS`, else ``_OTHER``."""
    return reason if reason in DEAD_LETTER_REASONS else "_OTHER"


def single_message_attributes(message_id: str | None, conversation_id: str | None) -> dict[str, Any]:
    """Span attributes for operations on exactly one message."""
    attributes: dict[str, Any] = {}
    if message_id:
        attributes[MESSAGING_MESSAGE_ID] = message_id
    if conversation_id:
        attributes[MESSAGING_MESSAGE_CONVERSATION_ID] = conversation_id
    return attributes


def batch_attributes(count: int) -> dict[str, Any]:
    return {MESSAGING_BATCH_MESSAGE_COUNT: count}


def creation_of(carrier: Mapping[str, Any] | None, getter: Any) -> trace.SpanContext:
    """The creation context in ``carrier``, or an invalid context. Never raises."""
    if not carrier:
        return trace.INVALID_SPAN_CONTEXT
    return safe_invoke("extract", trace.INVALID_SPAN_CONTEXT, creation_span_context, carrier, getter)

"""OpenTelemetry instrumentation around any :class:`~queue_telemetry.QueueClient`.

:class:`InstrumentedQueueClient` wraps a client and records, per the OpenTelemetry messaging
semantic conventions:

Spans
    * ``send {queue}`` for :meth:`~InstrumentedQueueClient.send` (PRODUCER: it is the
      message's creation context, injected into its properties through the global
      propagator) and :meth:`~InstrumentedQueueClient.send_batch`: there each message gets
      its own ``create {queue}`` span (PRODUCER, its creation context) and the send span is
      CLIENT, linked to them; with ``create_spans=False`` the send span is PRODUCER and the
      shared creation context of the batch.
    * Temporary or anonymous destinations (``is_temporary``) get the bare operation as span
      name, ``messaging.destination.temporary=true``, and no destination on metrics.
    * ``receive {queue}`` (CLIENT), linked to the creation context of each message received,
      with ``messaging.batch.message_count`` when more than one message was asked for.
    * ``process {queue}`` (CONSUMER), opened by the application around its handling of one
      message (:meth:`~InstrumentedQueueClient.process`, :meth:`~InstrumentedQueueClient.consume`),
      linked to the message's creation context. It is a child of the consumer's current
      context, or (opt-in, ``parent_process_from_message``) of the creation context.
    * ``ack {queue}``, ``nack {queue}``, ``dead_letter {queue}`` (CLIENT,
      ``messaging.operation.type=settle``) for the settlements.

    Every span ends, also when the operation raises: the exception is recorded, the status is
    ERROR and ``error.type`` is set.

Metrics
    The instruments of :mod:`queue_telemetry.catalog` (names, units and attributes as listed
    there). Only bounded attribute values are used: no message or session ids.

Logs
    Records on the ``queue_telemetry.client`` logger (or the ``logger`` given), emitted while
    the operation's span is current so they carry its trace and span ids: INFO for send,
    receive (when something arrived) and settlements, WARNING for failures.

Failure isolation
    Telemetry never breaks the queue call: every telemetry step runs through a safe-invoke
    wrapper that logs, counts (see :func:`queue_telemetry.telemetry_stats`) and swallows its
    exceptions. Errors of the wrapped client are recorded and re-raised unchanged.

Threading: the instrumented client is as thread-safe as the client it wraps; its own state is
guarded by a lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterator, Sequence

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry._logs import LoggerProvider
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_BATCH_MESSAGE_COUNT,
    MESSAGING_DESTINATION_ANONYMOUS,
    MESSAGING_DESTINATION_TEMPORARY,
    MESSAGING_MESSAGE_ID,
    MessagingOperationTypeValues,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TracerProvider

from queue_telemetry._environment import parse_bool, resolve
from queue_telemetry._exception_events import emit_exception_event, exception_event_logger
from queue_telemetry._queue_instruments import (
    SCOPE_NAME,
    SCOPE_VERSION,
    QueueInstruments,
    instruments_for,
)
from queue_telemetry._safe_invoke import report_failure, safe_invoke, telemetry_hook
from queue_telemetry.catalog import DEAD_LETTER_REASONS, Attr
from queue_telemetry.environment_variables import (
    OTEL_PYTHON_QUEUE_CREATE_SPANS,
    OTEL_PYTHON_QUEUE_PROCESS_PARENT,
)
from queue_telemetry.propagation import extract_context, inject_context
from queue_telemetry.queue_client import (
    MessageLockLostError,
    OutgoingMessage,
    QueueClient,
    ReceivedMessage,
    RejectOutcome,
    SessionLockLostError,
    SupportsDepth,
    SupportsSessions,
    UnsupportedOperationError,
    error_type_of,
)

__all__ = [
    "InstrumentedQueueClient",
    "SESSION_ID_ATTRIBUTE",
    "bounded_dead_letter_reason",
]

#: Span attribute carrying the session (message group) id. Spans only, never metrics.
SESSION_ID_ATTRIBUTE = "queue.session.id"

#: Default of ``parent_process_from_message`` (see OTEL_PYTHON_QUEUE_PROCESS_PARENT).
_DEFAULT_PROCESS_PARENT = False
#: Default of ``create_spans`` (see OTEL_PYTHON_QUEUE_CREATE_SPANS).
_DEFAULT_CREATE_SPANS = True

_SEND = "send"
_RECEIVE = "receive"
_PROCESS = "process"
_CREATE = "create"
_ACK = "ack"
_NACK = "nack"
_DEAD_LETTER = "dead_letter"
_SETTLE_TYPE = MessagingOperationTypeValues.SETTLE.value
# Values of queue.error.operation (catalog.ERROR_OPERATIONS).
_ERRORS_OF_SEND, _ERRORS_OF_RECEIVE, _ERRORS_OF_PROCESS, _ERRORS_OF_SETTLE = (
    "send", "receive", "process", "settle",
)
_MAX_RECEIVE_LINKS = 128

_DEFAULT_LOGGER = logging.getLogger("queue_telemetry.client")


def bounded_dead_letter_reason(reason: str | None) -> str:
    """``reason`` when it is one of :data:`catalog.DEAD_LETTER_REASONS`, else ``_OTHER``."""
    return reason if reason in DEAD_LETTER_REASONS else "_OTHER"


class _Operation:
    """One queue operation in progress: its span, the context token and when it began."""

    __slots__ = ("started", "span", "token")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.span: trace.Span | None = None
        self.token: object | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def recording_span(self) -> trace.Span | None:
        span = self.span
        return span if span is not None and span.is_recording() else None


class InstrumentedQueueClient:
    """A :class:`~queue_telemetry.QueueClient` that records traces, metrics and logs.

    Args:
        inner: The client to wrap; any object with the :class:`QueueClient` methods.
        system: The ``messaging.system`` value (``in_memory``, ``aws_sqs``, ``servicebus`` ...).
        tracer_provider: Where spans go; default the global tracer provider.
        meter_provider: Where metrics go; default the global meter provider.
        logger: Where log records go; default the ``queue_telemetry.client`` logger.
        server_address: ``server.address`` of the broker, recorded on spans and on the
            ``messaging.*`` metrics when given.
        server_port: ``server.port`` of the broker, likewise.
        parent_process_from_message: Make ``process`` spans children of the creation context
            (they are always linked to it). None: ``OTEL_PYTHON_QUEUE_PROCESS_PARENT``, default
            false.
        observe_depth: Report ``queue.depth`` and ``queue.dlq.depth`` for every queue this
            client touches, when ``inner`` has ``depth``/``dead_letter_depth``. Default true.
        create_spans: One ``create`` span per message of a batch send. None:
            ``OTEL_PYTHON_QUEUE_CREATE_SPANS``, default true.
        is_temporary: Predicate telling temporary/anonymous queue names apart (default: none
            are).

    Every method raises exactly what the wrapped client raises, and
    :class:`UnsupportedOperationError` for optional operations the wrapped client lacks.
    """

    def __init__(
        self,
        inner: QueueClient,
        *,
        system: str = "in_memory",
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        logger: logging.Logger | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        parent_process_from_message: bool | None = None,
        observe_depth: bool = True,
        create_spans: bool | None = None,
        is_temporary: Callable[[str], bool] | None = None,
    ) -> None:
        self._inner = inner
        self._system = system
        self._server = {}
        if server_address is not None:
            self._server[Attr.SERVER_ADDRESS] = server_address
        if server_port is not None:
            self._server[Attr.SERVER_PORT] = server_port
        self._tracer = trace.get_tracer(SCOPE_NAME, SCOPE_VERSION, tracer_provider)
        self._exception_events = exception_event_logger(logger_provider)
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self._instruments: QueueInstruments = safe_invoke(
            "InstrumentedQueueClient.instruments", None, instruments_for, provider
        ) or instruments_for(NoOpMeterProvider())
        self._log = logger if logger is not None else _DEFAULT_LOGGER
        self._parent_from_message = resolve(
            parent_process_from_message, OTEL_PYTHON_QUEUE_PROCESS_PARENT,
            _DEFAULT_PROCESS_PARENT, parse_bool,
        )
        self._observe_depth = observe_depth and isinstance(inner, SupportsDepth)
        self._create_spans_enabled = resolve(
            create_spans, OTEL_PYTHON_QUEUE_CREATE_SPANS, _DEFAULT_CREATE_SPANS, parse_bool
        )
        self._is_temporary = is_temporary or (lambda _queue: False)
        self._lock = threading.Lock()
        self._attributes: dict[tuple[str, ...], dict[str, Any]] = {}
        self._watched: set[str] = set()
        self._session_opened: dict[tuple[str, str], float] = {}

    @property
    def inner(self) -> QueueClient:
        """The wrapped client."""
        return self._inner

    # --- producer -------------------------------------------------------------------------

    def send(self, queue: str, message: OutgoingMessage, session_id: str | None = None) -> str:
        """Send one message inside a ``send {queue}`` span; returns its id."""
        operation = self._begin(queue, _SEND, _SEND, SpanKind.PRODUCER, session_id)
        outgoing = self._with_trace_context(operation, message)
        try:
            message_id = self._inner.send(queue, outgoing, session_id)
        except BaseException as error:
            self._failed(operation, queue, _SEND, _SEND, _ERRORS_OF_SEND, error, sent=1)
            raise
        self._sent(operation, queue, [message_id], batch=False)
        return message_id

    def send_batch(
        self, queue: str, messages: Sequence[OutgoingMessage], session_id: str | None = None
    ) -> list[str]:
        """Send several messages in one ``send {queue}`` span (their shared creation context)."""
        creating = self._create_spans_enabled and len(messages) > 0
        operation = self._begin(
            queue, _SEND, _SEND, SpanKind.CLIENT if creating else SpanKind.PRODUCER, session_id
        )
        creates = []
        if creating:  # children of the send span, which links to each of them
            creates = safe_invoke(
                "InstrumentedQueueClient.create", [], self._create_spans, operation, queue, len(messages), session_id
            )
        if creates:
            outgoing = [
                self._inject_into(message, trace.set_span_in_context(span)) or message
                for message, span in zip(messages, creates)
            ]
        else:
            outgoing = [self._with_trace_context(operation, message) for message in messages]
        try:
            message_ids = self._inner.send_batch(queue, outgoing, session_id)
        except BaseException as error:
            self._failed(
                operation, queue, _SEND, _SEND, _ERRORS_OF_SEND, error, sent=len(outgoing),
                batch=len(outgoing),
            )
            raise
        self._sent(operation, queue, list(message_ids), batch=True)
        return message_ids

    # --- consumer -------------------------------------------------------------------------

    def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        session_id: str | None = None,
    ) -> list[ReceivedMessage]:
        """Receive inside a ``receive {queue}`` span; blocks like the wrapped client."""
        operation = self._begin(queue, _RECEIVE, _RECEIVE, SpanKind.CLIENT, session_id)
        try:
            messages = self._inner.receive(queue, max_messages, wait_seconds, session_id)
        except BaseException as error:
            self._failed(operation, queue, _RECEIVE, _RECEIVE, _ERRORS_OF_RECEIVE, error)
            raise
        self._received(operation, queue, max_messages, messages)
        return messages

    def process(self, message: ReceivedMessage) -> ProcessScope:
        """A context manager timing the application's handling of ``message``.

        ``with client.process(message) as span:`` makes a ``process {queue}`` CONSUMER span
        current for the block and records ``messaging.process.duration``. An exception
        escaping the block is recorded (span status ERROR, ``queue.errors`` with operation
        ``process``) and propagates. The previous context is restored on exit. Settling the
        message is up to the block (settlement spans become children of the process span).
        """
        return ProcessScope(self, message)

    def consume(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        wait_seconds: float = 1.0,
        session_id: str | None = None,
        stop: threading.Event | None = None,
        stop_when_empty: bool = False,
    ) -> Iterator[ReceivedMessage]:
        """Receive repeatedly and yield each message inside its own ``process`` span.

        Stops when ``stop`` is set (checked between receives) or, with ``stop_when_empty``,
        when a receive returns nothing. The process span of a message ends when the loop asks
        for the next one or leaves. An exception raised by the loop body is not seen by this
        generator, so it cannot mark the span as failed: use :meth:`process` directly when
        failures must be recorded on the span.
        """
        while stop is None or not stop.is_set():
            batch = self.receive(queue, max_messages, wait_seconds, session_id)
            if not batch:
                if stop_when_empty:
                    return
                continue
            for message in batch:
                with self.process(message):
                    yield message

    def acknowledge(self, message: ReceivedMessage) -> None:
        """Settle successfully inside an ``ack {queue}`` span."""
        operation = self._begin_settle(message, _ACK)
        try:
            self._inner.acknowledge(message)
        except BaseException as error:
            self._settle_failed(operation, message, _ACK, error)
            raise
        self._settled(operation, message, _ACK, None)

    def reject(self, message: ReceivedMessage) -> RejectOutcome | None:
        """Return the message for redelivery inside a ``nack {queue}`` span.

        When the wrapped client reports that the broker dead-lettered the message instead,
        it is also counted in ``queue.messages.dead_lettered`` (reason
        ``max_delivery_count_exceeded``).
        """
        operation = self._begin_settle(message, _NACK)
        try:
            outcome = self._inner.reject(message)
        except BaseException as error:
            self._settle_failed(operation, message, _NACK, error)
            raise
        self._settled(operation, message, _NACK, outcome)
        return outcome

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        """Dead-letter the message inside a ``dead_letter {queue}`` span.

        ``reason`` is passed to the broker unchanged; metrics record it only when it is one of
        :data:`catalog.DEAD_LETTER_REASONS` (``_OTHER`` otherwise).
        """
        operation = self._begin_settle(message, _DEAD_LETTER)
        try:
            self._inner.dead_letter(message, reason)
        except BaseException as error:
            self._settle_failed(operation, message, _DEAD_LETTER, error)
            raise
        self._settled(operation, message, _DEAD_LETTER, reason)

    # --- optional operations --------------------------------------------------------------

    def accept_session(
        self, queue: str, session_id: str | None = None, wait_seconds: float = 0.0
    ) -> str | None:
        """Lock a session (see :class:`SupportsSessions`); counts it as created and active.

        Failures are counted in ``queue.errors`` with operation ``receive``.
        """
        sessions = self._sessions_client()
        started = time.perf_counter()
        try:
            accepted = sessions.accept_session(queue, session_id, wait_seconds)
        except BaseException as error:
            self._session_failed(queue, "accept", error)
            raise
        if accepted is not None:
            self._session_opened_hook(queue, accepted, started)
        return accepted

    def release_session(self, queue: str, session_id: str) -> None:
        """Release a session; counts it as closed and records how long it was open.

        A session whose lock was already lost (:class:`SessionLockLostError`) counts as closed
        too; the error propagates. Failures are counted in ``queue.errors`` (``receive``).
        """
        sessions = self._sessions_client()
        try:
            sessions.release_session(queue, session_id)
        except BaseException as error:
            self._session_failed(queue, "release", error)
            if isinstance(error, SessionLockLostError):
                self._session_closed_hook(queue, session_id)
            raise
        self._session_closed_hook(queue, session_id)

    def depth(self, queue: str) -> int:
        """The wrapped client's depth of ``queue``."""
        if not isinstance(self._inner, SupportsDepth):
            raise UnsupportedOperationError("the wrapped client does not report queue depth")
        return self._inner.depth(queue)

    def dead_letter_depth(self, queue: str) -> int:
        """The wrapped client's dead-letter depth of ``queue``."""
        if not isinstance(self._inner, SupportsDepth):
            raise UnsupportedOperationError("the wrapped client does not report queue depth")
        return self._inner.dead_letter_depth(queue)

    @contextlib.contextmanager
    def dlq_recovery(self, queue: str) -> Iterator[None]:
        """Count one attempt to move a message of ``queue``'s dead-letter queue back.

        ``with client.dlq_recovery("orders"): ...`` counts ``queue.dlq.recovery.attempts`` on
        entry and ``queue.dlq.recovery.successes`` when the block completes without raising.
        """
        attributes = self._metric_attributes(queue)
        safe_invoke("InstrumentedQueueClient.dlq_attempt", None, self._instruments.dlq_recovery_attempts.add, 1, attributes)
        yield
        safe_invoke("InstrumentedQueueClient.dlq_success", None, self._instruments.dlq_recovery_successes.add, 1, attributes)

    def observe_queue(self, queue: str) -> None:
        """Report ``queue``'s depth gauges from now on, even before it is used."""
        self._watch(queue)

    # --- telemetry: beginning and ending operations ---------------------------------------

    def _begin(
        self, queue: str, operation_name: str, operation_type: str, kind: SpanKind,
        session_id: str | None, links: Sequence[Link] = (),
    ) -> _Operation:
        operation = _Operation()
        safe_invoke(
            "InstrumentedQueueClient.start_span", None, self._start_span, operation,
            self._span_name(operation_name, queue), kind,
            self._span_attributes(queue, operation_name, operation_type), None, links, session_id,
        )
        return operation

    def _span_name(self, operation_name: str, queue: str) -> str:
        return operation_name if self._temporary(queue) else f"{operation_name} {queue}"

    def _temporary(self, queue: str) -> bool:
        return not queue or bool(self._is_temporary(queue))

    def _create_spans(
        self, operation: _Operation, queue: str, count: int, session_id: str | None
    ) -> list[trace.Span]:
        """One ended ``create`` span (PRODUCER) per message: each message's creation context."""
        attributes = self._span_attributes(queue, _CREATE, _CREATE)
        spans = []
        for _ in range(count):
            span = self._tracer.start_span(self._span_name(_CREATE, queue), kind=SpanKind.PRODUCER, attributes=attributes)
            if session_id is not None and span.is_recording():
                span.set_attribute(SESSION_ID_ATTRIBUTE, session_id)
            span.end()
            spans.append(span)
        send = operation.recording_span()
        if send is not None:
            for span in spans[:_MAX_RECEIVE_LINKS]:
                send.add_link(span.get_span_context())
        return spans

    @telemetry_hook()
    def _inject_into(self, message: OutgoingMessage, context: otel_context.Context) -> OutgoingMessage:
        properties = dict(message.properties)
        inject_context(properties, context)
        return replace(message, properties=properties)

    def _begin_settle(self, message: ReceivedMessage, operation_name: str) -> _Operation:
        operation = _Operation()
        safe_invoke(
            "InstrumentedQueueClient.start_span", None, self._start_span, operation,
            self._span_name(operation_name, message.queue), SpanKind.CLIENT,
            self._span_attributes(message.queue, operation_name, _SETTLE_TYPE), None, (),
            message.session_id,
        )
        span = operation.recording_span()
        if span is not None:
            safe_invoke(
                "InstrumentedQueueClient.settle_attributes", None, span.set_attribute,
                MESSAGING_MESSAGE_ID, message.message_id,
            )
        return operation

    def _start_span(
        self, operation: _Operation, name: str, kind: SpanKind, attributes: dict[str, Any],
        parent: otel_context.Context | None, links: Sequence[Link], session_id: str | None,
    ) -> None:
        span = self._tracer.start_span(
            name, context=parent, kind=kind, attributes=attributes, links=links
        )
        operation.span = span
        if session_id is not None and span.is_recording():
            span.set_attribute(SESSION_ID_ATTRIBUTE, session_id)
        # Attaching is last: if anything above failed, there is no context to restore.
        operation.token = otel_context.attach(trace.set_span_in_context(span))

    def _close(
        self, operation: _Operation, error: BaseException | None = None, operation_type: str | None = None
    ) -> None:
        """Restore the context and end the span (after the ``messaging.*.exception`` event for
        ``error``); each step guarded on its own."""
        if operation.token is not None:
            try:
                otel_context.detach(operation.token)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001
                report_failure("InstrumentedQueueClient.detach")
            operation.token = None
        span = operation.span
        if span is None:
            return
        if error is not None:
            try:
                if span.is_recording():
                    span.record_exception(error)
                    span.set_attribute(Attr.ERROR_TYPE, error_type_of(error))
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            except Exception:  # noqa: BLE001
                report_failure("InstrumentedQueueClient.record_error")
            emit_exception_event(self._exception_events, operation_type, error, span)
        try:
            span.end()
        except Exception:  # noqa: BLE001
            report_failure("InstrumentedQueueClient.end_span")

    @telemetry_hook()
    def _inject_trace_context(self, operation: _Operation, message: OutgoingMessage) -> OutgoingMessage:
        properties = dict(message.properties)
        span = operation.span
        context = trace.set_span_in_context(span) if span is not None else None
        inject_context(properties, context)
        return replace(message, properties=properties)

    def _with_trace_context(self, operation: _Operation, message: OutgoingMessage) -> OutgoingMessage:
        """A copy of ``message`` carrying the send span's context; the original if that fails."""
        return self._inject_trace_context(operation, message) or message

    # --- telemetry: outcomes ----------------------------------------------------------------

    def _sent(self, operation: _Operation, queue: str, message_ids: list[str], *, batch: bool) -> None:
        try:
            self._record_sent(operation, queue, message_ids, batch)
        finally:
            self._close(operation)

    @telemetry_hook()
    def _record_sent(self, operation: _Operation, queue: str, message_ids: list[str], batch: bool) -> None:
        elapsed = operation.elapsed()
        self._watch(queue)
        count = len(message_ids)
        instruments = self._instruments
        instruments.sent.add(count, self._metric_attributes(queue, _SEND))
        instruments.operation_duration.record(elapsed, self._metric_attributes(queue, _SEND, _SEND))
        span = operation.recording_span()
        if span is not None:
            if batch:
                span.set_attribute(MESSAGING_BATCH_MESSAGE_COUNT, count)
            elif message_ids:
                span.set_attribute(MESSAGING_MESSAGE_ID, message_ids[0])
        if self._log.isEnabledFor(logging.INFO):
            if count == 1:
                self._log.info(
                    "Sent message %s to %s", message_ids[0], queue,
                    extra=self._log_attributes(queue, _SEND, message_ids[0]),
                )
            else:
                self._log.info(
                    "Sent %d messages to %s", count, queue, extra=self._log_attributes(queue, _SEND)
                )

    def _received(
        self, operation: _Operation, queue: str, max_messages: int, messages: list[ReceivedMessage]
    ) -> None:
        try:
            self._record_received(operation, queue, max_messages, messages)
        finally:
            self._close(operation)

    @telemetry_hook()
    def _record_received(
        self, operation: _Operation, queue: str, max_messages: int, messages: list[ReceivedMessage]
    ) -> None:
        elapsed = operation.elapsed()
        self._watch(queue)
        count = len(messages)
        instruments = self._instruments
        if count:
            instruments.consumed.add(count, self._metric_attributes(queue, _RECEIVE))
            instruments.in_flight.add(count, self._metric_attributes(queue))
        instruments.operation_duration.record(
            elapsed, self._metric_attributes(queue, _RECEIVE, _RECEIVE)
        )
        span = operation.recording_span()
        if span is not None:
            if max_messages > 1:
                span.set_attribute(MESSAGING_BATCH_MESSAGE_COUNT, count)
            elif count == 1:
                span.set_attribute(MESSAGING_MESSAGE_ID, messages[0].message_id)
            for message in messages[:_MAX_RECEIVE_LINKS]:
                creation = trace.get_current_span(extract_context(message.properties)).get_span_context()
                if creation.is_valid:
                    span.add_link(creation)
        if count and self._log.isEnabledFor(logging.INFO):
            if count == 1:
                self._log.info(
                    "Received message %s from %s (delivery %d)", messages[0].message_id, queue,
                    messages[0].delivery_count,
                    extra=self._log_attributes(queue, _RECEIVE, messages[0].message_id),
                )
            else:
                self._log.info(
                    "Received %d messages from %s", count, queue,
                    extra=self._log_attributes(queue, _RECEIVE),
                )

    def _failed(
        self, operation: _Operation, queue: str, operation_name: str, operation_type: str,
        errors_of: str, error: BaseException, *, sent: int = 0, batch: int | None = None,
    ) -> None:
        try:
            self._record_failure(operation, queue, operation_name, operation_type, errors_of, error, sent, batch)
        finally:
            self._close(operation, error, operation_type)

    @telemetry_hook()
    def _record_failure(
        self, operation: _Operation, queue: str, operation_name: str, operation_type: str,
        errors_of: str, error: BaseException, sent: int, batch: int | None,
    ) -> None:
        elapsed = operation.elapsed()
        error_type = error_type_of(error)
        instruments = self._instruments
        if sent:
            instruments.sent.add(sent, self._metric_attributes(queue, operation_name, error_type=error_type))
        instruments.operation_duration.record(
            elapsed, self._metric_attributes(queue, operation_name, operation_type, error_type=error_type)
        )
        instruments.errors.add(1, self._error_attributes(queue, errors_of, error_type))
        span = operation.recording_span()
        if span is not None and batch is not None:
            span.set_attribute(MESSAGING_BATCH_MESSAGE_COUNT, batch)
        self._log.warning(
            "%s on %s failed: %s (%s)", operation_name, queue, error_type, error,
            extra=self._log_attributes(queue, operation_name, error_type=error_type),
        )

    def _settled(
        self, operation: _Operation, message: ReceivedMessage, operation_name: str,
        detail: RejectOutcome | str | None,
    ) -> None:
        try:
            self._record_settled(operation, message, operation_name, detail)
        finally:
            self._close(operation)

    @telemetry_hook()
    def _record_settled(
        self, operation: _Operation, message: ReceivedMessage, operation_name: str,
        detail: RejectOutcome | str | None,
    ) -> None:
        elapsed = operation.elapsed()
        queue = message.queue
        instruments = self._instruments
        queue_attributes = self._metric_attributes(queue)
        instruments.operation_duration.record(
            elapsed, self._metric_attributes(queue, operation_name, _SETTLE_TYPE)
        )
        instruments.in_flight.add(-1, queue_attributes)
        reason = None
        if operation_name == _ACK:
            instruments.acknowledged.add(1, queue_attributes)
        elif operation_name == _NACK:
            instruments.rejected.add(1, queue_attributes)
            if detail == RejectOutcome.DEAD_LETTERED:
                reason = "max_delivery_count_exceeded"
        else:
            reason = bounded_dead_letter_reason(detail if isinstance(detail, str) else None)
        if reason is not None:
            instruments.dead_lettered.add(1, self._dead_letter_attributes(queue, reason))
            span = operation.recording_span()
            if span is not None:
                span.set_attribute(Attr.DEAD_LETTER_REASON, reason)
        if self._log.isEnabledFor(logging.INFO):
            if reason is None:
                self._log.info(
                    "%s message %s on %s", operation_name, message.message_id, queue,
                    extra=self._log_attributes(queue, operation_name, message.message_id),
                )
            else:
                self._log.info(
                    "%s message %s on %s: dead-lettered (%s) after %d deliveries",
                    operation_name, message.message_id, queue, reason, message.delivery_count,
                    extra=self._log_attributes(queue, operation_name, message.message_id),
                )

    def _settle_failed(
        self, operation: _Operation, message: ReceivedMessage, operation_name: str, error: BaseException
    ) -> None:
        try:
            self._record_settle_failure(operation, message, operation_name, error)
        finally:
            self._close(operation, error, "settle")

    def _record_settle_failure(
        self, operation: _Operation, message: ReceivedMessage, operation_name: str, error: BaseException
    ) -> None:
        self._record_failure(
            operation, message.queue, operation_name, _SETTLE_TYPE, _ERRORS_OF_SETTLE, error, 0, None
        )
        if isinstance(error, (MessageLockLostError, SessionLockLostError)):
            self._lock_lost(message)

    @telemetry_hook()
    def _lock_lost(self, message: ReceivedMessage) -> None:
        # The message is no longer held by this process, settled or not.
        self._instruments.in_flight.add(-1, self._metric_attributes(message.queue))

    # --- telemetry: processing --------------------------------------------------------------

    @telemetry_hook()
    def _begin_process(self, operation: _Operation, message: ReceivedMessage) -> None:
        creation = extract_context(message.properties)
        creation_span = trace.get_current_span(creation).get_span_context()
        links = [Link(creation_span)] if creation_span.is_valid else []
        parent = creation if self._parent_from_message and creation_span.is_valid else None
        self._start_span(
            operation, self._span_name(_PROCESS, message.queue), SpanKind.CONSUMER,
            self._span_attributes(message.queue, _PROCESS, MessagingOperationTypeValues.PROCESS.value),
            parent, links, message.session_id,
        )
        span = operation.recording_span()
        if span is not None:
            span.set_attribute(MESSAGING_MESSAGE_ID, message.message_id)

    def _end_process(self, operation: _Operation, message: ReceivedMessage, error: BaseException | None) -> None:
        if isinstance(error, GeneratorExit):  # the consuming loop stopped: not a failure
            error = None
        try:
            self._record_processed(operation, message, error)
        finally:
            self._close(operation, error, "process")

    @telemetry_hook()
    def _record_processed(self, operation: _Operation, message: ReceivedMessage, error: BaseException | None) -> None:
        elapsed = operation.elapsed()
        queue = message.queue
        if error is None:
            self._instruments.process_duration.record(elapsed, self._metric_attributes(queue, _PROCESS))
            return
        error_type = error_type_of(error)
        self._instruments.process_duration.record(
            elapsed, self._metric_attributes(queue, _PROCESS, error_type=error_type)
        )
        self._instruments.errors.add(1, self._error_attributes(queue, _ERRORS_OF_PROCESS, error_type))
        self._log.warning(
            "Processing message %s from %s failed: %s (%s)", message.message_id, queue,
            error_type, error,
            extra=self._log_attributes(queue, _PROCESS, message.message_id, error_type),
        )

    # --- telemetry: sessions ------------------------------------------------------------------

    def _sessions_client(self) -> SupportsSessions:
        if not isinstance(self._inner, SupportsSessions):
            raise UnsupportedOperationError("the wrapped client does not support sessions")
        return self._inner

    @telemetry_hook()
    def _session_opened_hook(self, queue: str, session_id: str, started: float) -> None:
        with self._lock:
            already_open = (queue, session_id) in self._session_opened
            self._session_opened[(queue, session_id)] = started
        if already_open:  # re-accepting a session this client holds renews it
            return
        attributes = self._metric_attributes(queue)
        self._instruments.sessions_created.add(1, attributes)
        self._instruments.sessions_active.add(1, attributes)
        self._log.info(
            "Accepted session %s on %s", session_id, queue,
            extra=self._log_attributes(queue, "accept_session"),
        )

    @telemetry_hook()
    def _session_closed_hook(self, queue: str, session_id: str) -> None:
        with self._lock:
            opened = self._session_opened.pop((queue, session_id), None)
        if opened is None:
            return
        attributes = self._metric_attributes(queue)
        self._instruments.sessions_closed.add(1, attributes)
        self._instruments.sessions_active.add(-1, attributes)
        self._instruments.session_duration.record(time.perf_counter() - opened, attributes)
        self._log.info(
            "Released session %s on %s", session_id, queue,
            extra=self._log_attributes(queue, "release_session"),
        )

    @telemetry_hook()
    def _session_failed(self, queue: str, action: str, error: BaseException) -> None:
        error_type = error_type_of(error)
        self._instruments.errors.add(1, self._error_attributes(queue, _ERRORS_OF_RECEIVE, error_type))
        self._log.warning(
            "Session %s on %s failed: %s (%s)", action, queue, error_type, error,
            extra=self._log_attributes(queue, f"{action}_session", error_type=error_type),
        )

    # --- attributes ---------------------------------------------------------------------------

    def _cached(self, key: tuple[str, ...], build: Any) -> dict[str, Any]:
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = build()
            with self._lock:
                self._attributes.setdefault(key, attributes)
        return attributes

    def _span_attributes(self, queue: str, operation_name: str, operation_type: str) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            attributes: dict[str, Any] = {
                Attr.MESSAGING_SYSTEM: self._system,
                Attr.OPERATION_NAME: operation_name,
                Attr.OPERATION_TYPE: operation_type,
                Attr.DESTINATION_NAME: queue,
                **self._server,
            }
            if self._temporary(queue):
                attributes[MESSAGING_DESTINATION_TEMPORARY] = True
                if not queue:
                    del attributes[Attr.DESTINATION_NAME]
                    attributes[MESSAGING_DESTINATION_ANONYMOUS] = True
            return attributes

        return self._cached(("span", queue, operation_name, operation_type), build)

    def _metric_attributes(
        self, queue: str, operation_name: str | None = None, operation_type: str | None = None,
        *, error_type: str | None = None,
    ) -> dict[str, Any]:
        """Attributes of one metric point, exactly as the catalog lists them.

        Without ``operation_name``: the ``queue.*`` attributes (system and destination). With
        it: the ``messaging.*`` ones, plus ``messaging.operation.type`` when given (operation
        duration), plus ``error.type`` on failures.
        """

        def build() -> dict[str, Any]:
            attributes: dict[str, Any] = {Attr.MESSAGING_SYSTEM: self._system}
            if not self._temporary(queue):  # temporary names would be unbounded labels
                attributes[Attr.DESTINATION_NAME] = queue
            if operation_name is not None:
                attributes[Attr.OPERATION_NAME] = operation_name
                attributes.update(self._server)
            if operation_type is not None:
                attributes[Attr.OPERATION_TYPE] = operation_type
            return attributes

        attributes = self._cached(("metric", queue, operation_name or "", operation_type or ""), build)
        if error_type is not None:
            attributes = {**attributes, Attr.ERROR_TYPE: error_type}
        return attributes

    def _error_attributes(self, queue: str, errors_of: str, error_type: str) -> dict[str, Any]:
        return {
            **self._metric_attributes(queue),
            Attr.ERROR_OPERATION: errors_of,
            Attr.ERROR_TYPE: error_type,
        }

    def _dead_letter_attributes(self, queue: str, reason: str) -> dict[str, Any]:
        return self._cached(
            ("dead_letter", queue, reason),
            lambda: {**self._metric_attributes(queue), Attr.DEAD_LETTER_REASON: reason},
        )

    def _log_attributes(
        self, queue: str, operation_name: str, message_id: str | None = None,
        error_type: str | None = None,
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            Attr.MESSAGING_SYSTEM: self._system,
            Attr.DESTINATION_NAME: queue,
            Attr.OPERATION_NAME: operation_name,
        }
        if message_id is not None:
            attributes[MESSAGING_MESSAGE_ID] = message_id
        if error_type is not None:
            attributes[Attr.ERROR_TYPE] = error_type
        return attributes

    def _watch(self, queue: str) -> None:
        if not self._observe_depth or queue in self._watched:
            return
        with self._lock:
            if queue in self._watched:
                return
            self._watched.add(queue)
        self._instruments.depth_sources.add(
            self._system, queue, self._inner, self._metric_attributes(queue)
        )


class ProcessScope:
    """The ``with client.process(message)`` block; see :meth:`InstrumentedQueueClient.process`.

    ``__enter__`` returns the process span (a non-recording span if tracing failed). Not
    reentrant: use one scope per message.
    """

    __slots__ = ("_client", "_message", "_operation")

    def __init__(self, client: InstrumentedQueueClient, message: ReceivedMessage) -> None:
        self._client = client
        self._message = message
        self._operation: _Operation | None = None

    def __enter__(self) -> trace.Span:
        operation = self._operation = _Operation()
        self._client._begin_process(operation, self._message)
        return operation.span if operation.span is not None else trace.INVALID_SPAN

    def __exit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> bool:
        operation = self._operation
        if operation is not None:
            self._operation = None
            self._client._end_process(operation, self._message, error)
        return False

"""The Service Bus extension: azure-servicebus sender and receiver calls as messaging telemetry.

Sending a single message records a ``send`` span (PRODUCER) injected into the message's
application properties. Every message added to a batch (explicitly, or by sending a list) gets
its own ``create`` span (PRODUCER) and context; the ``send`` span (CLIENT) links to them.
Receiving records ``receive`` (CLIENT) linked to each message's creation context; the returned
list (and iteration over a receiver) starts each message's ``process`` span when the
application reaches it. Settlement (complete, abandon, defer, dead-letter) records ``settle``
spans with ``messaging.servicebus.disposition_status``. Lock renewals, session timeouts and
quota errors are counted with the provider-specific metrics.
"""

from __future__ import annotations

import contextvars
from typing import Any, Callable, Iterator

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_SERVICEBUS_DISPOSITION_STATUS,
    MESSAGING_SERVICEBUS_MESSAGE_DELIVERY_COUNT,
    MESSAGING_SERVICEBUS_MESSAGE_ENQUEUED_TIME,
)
from opentelemetry.trace import SpanKind

from queue_telemetry._extension import Hooks, TracedMessages, call_sdk
from queue_telemetry._messaging_core import (
    RECEIVE,
    SEND,
    SETTLE,
    MessagingRecorder,
    Operation,
    batch_attributes,
    single_message_attributes,
)
from queue_telemetry._safe_invoke import safe_invoke
from queue_telemetry.catalog import Attr
from queue_telemetry.propagation import inject_servicebus_properties, servicebus_creation_context

__all__ = ["ServiceBusExtension", "SYSTEM"]

#: ``messaging.system`` of Azure Service Bus.
SYSTEM = "servicebus"

_DISPOSITIONS = {
    # SDK method -> (operation name, disposition status, outcome)
    "complete_message": ("complete", "complete", "acknowledged"),
    "abandon_message": ("abandon", "abandon", "rejected"),
    "defer_message": ("defer", "defer", "deferred"),
    "dead_letter_message": ("dead_letter", "dead_letter", "dead_lettered"),
}
_SESSION_TIMEOUT_ERRORS = {"OperationTimeoutError", "SessionCannotBeLockedError", "SessionLockLostError"}
_QUOTA_ERRORS = {"ServiceBusQuotaExceededError"}
_BATCH_DESTINATION = "_queue_telemetry_destination"
#: True while this extension's send_messages wrapper runs the SDK call.
_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar("queue_telemetry_servicebus_sending", default=False)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else None


def _destination(handler: Any) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """(queue or topic, server attributes, extra span attributes) of a sender or receiver."""
    queue = getattr(handler, "_entity_name", None) or getattr(handler, "entity_name", None)
    if isinstance(queue, str) and "/Subscriptions/" in queue:
        queue = queue.split("/Subscriptions/", 1)[0]
    server: dict[str, Any] = {}
    namespace = getattr(handler, "fully_qualified_namespace", None)
    if isinstance(namespace, str) and namespace:
        server[Attr.SERVER_ADDRESS] = namespace
    extra: dict[str, Any] = {}
    subscription = getattr(handler, "_subscription_name", None)
    if isinstance(subscription, str) and subscription:
        extra[Attr.SUBSCRIPTION_NAME] = subscription
    return queue, server, extra


def _message_attributes(message: Any) -> dict[str, Any]:
    """Span attributes describing one received message."""
    attributes = single_message_attributes(_text(getattr(message, "message_id", None)),
                                           _text(getattr(message, "correlation_id", None)))
    count = getattr(message, "delivery_count", None)
    if isinstance(count, int) and count > 0:
        attributes[MESSAGING_SERVICEBUS_MESSAGE_DELIVERY_COUNT] = count
    enqueued = getattr(message, "enqueued_time_utc", None)
    if enqueued is not None and hasattr(enqueued, "timestamp"):
        attributes[MESSAGING_SERVICEBUS_MESSAGE_ENQUEUED_TIME] = int(enqueued.timestamp())
    return attributes


def _creation(message: Any) -> trace.SpanContext:
    return servicebus_creation_context(getattr(message, "application_properties", None))


class ServiceBusExtension:
    """Instruments the process's azure-servicebus senders and receivers. Thread-safe, stateless."""

    def __init__(self, recorder: MessagingRecorder, hooks: Hooks) -> None:
        self.recorder = recorder
        self.hooks = hooks

    def enabled(self) -> bool:
        return is_instrumentation_enabled()

    def _start(self, queue: str | None, name: str, type_: str | None, kind: SpanKind, server: dict, **kw: Any) -> Operation | None:
        return safe_invoke(
            "ServiceBusExtension.start", None, lambda: self.recorder.start(queue, name, type_, kind, server=server, **kw)
        )

    def _count_provider_error(self, queue: str | None, error: BaseException, session: bool) -> None:
        name = type(error).__name__
        instruments = self.recorder.instruments
        if name in _QUOTA_ERRORS:
            self.recorder.count(instruments.servicebus_quota_exceeded, queue)
        if session and name in _SESSION_TIMEOUT_ERRORS:
            self.recorder.count(instruments.servicebus_session_timeouts, queue)

    def _failed(self, finish: Callable[..., None], op: Operation | None, queue: str | None, error: BaseException,
                *args: Any, session: bool = False) -> None:
        if op is not None:
            safe_invoke("ServiceBusExtension.finish", None, lambda: finish(op, *args, error=error))
        safe_invoke("ServiceBusExtension.provider_error", None, self._count_provider_error, queue, error, session)

    # --- sending -------------------------------------------------------------------------------------

    def batch_created(self, sender: Any, batch: Any) -> None:
        """Remember which queue a new batch goes to, for its messages' ``create`` spans."""
        queue, server, _extra = _destination(sender)
        batch.__dict__[_BATCH_DESTINATION] = (queue, server)

    def add_to_batch(self, original: Callable[..., Any], batch: Any, message: Any) -> Any:
        """A message joins a batch: its own ``create`` span and creation context."""
        wanted = self.enabled() or _SENDING.get()  # a list send builds its batch under suppression
        if not wanted or not self.recorder.create_spans or not hasattr(message, "application_properties"):
            return original(message)
        safe_invoke("ServiceBusExtension.create", None, self._create, batch, message)
        return original(message)

    def _create(self, batch: Any, message: Any) -> None:
        properties = dict(message.application_properties or {})
        if servicebus_creation_context(properties).is_valid:
            return  # the application (or an earlier batch) set the context already
        queue, server = batch.__dict__.get(_BATCH_DESTINATION, (None, {}))
        op = self.recorder.create(queue, server)
        inject_servicebus_properties(properties, trace.set_span_in_context(op.span))
        message.application_properties = properties

    def send(self, original: Callable[..., Any], sender: Any, message: Any, args: tuple, kwargs: dict) -> Any:
        if not self.enabled():
            return original(message, *args, **kwargs)
        queue, server, extra = _destination(sender)
        single = hasattr(message, "application_properties") and not hasattr(message, "add_message")
        try:
            count = 1 if single else len(message)
        except TypeError:
            count = 1
        if count == 0:
            return original(message, *args, **kwargs)
        batch = not single
        kind = SpanKind.CLIENT if batch and self.recorder.create_spans else SpanKind.PRODUCER
        attributes = dict(extra)
        if single:
            attributes.update(single_message_attributes(_text(message.message_id), _text(message.correlation_id)))
        else:
            attributes.update(batch_attributes(count))
        op = self._start(queue, SEND, SEND, kind, server, attributes=attributes)
        if op is not None:
            self.hooks.request(op, "send_messages", {"message": message})
            if single or not self.recorder.create_spans:
                safe_invoke("ServiceBusExtension.inject", None, self._inject_all, message, op.span)
        sending = _SENDING.set(op is not None)
        try:
            result = call_sdk(original, message, *args, **kwargs)
        except BaseException as error:
            self._failed(self._finish_send, op, queue, error, count, server)
            raise
        finally:
            _SENDING.reset(sending)
        if op is not None:
            if batch and self.recorder.create_spans:
                safe_invoke("ServiceBusExtension.links", None, self._link_batch, op, message)
            self.hooks.response(op, "send_messages", result)
            safe_invoke("ServiceBusExtension.sent", None, self._finish_send, op, count, server)
        return result

    def _finish_send(self, op: Operation, count: int, server: dict, **kwargs: Any) -> None:
        self.recorder.finish_send(op, count, server=server, **kwargs)

    @staticmethod
    def _messages_of(message: Any) -> list[Any]:
        if hasattr(message, "application_properties") and not hasattr(message, "add_message"):
            return [message]
        inner = getattr(message, "_messages", None)
        return list(inner if inner is not None else message)

    def _inject_all(self, message: Any, span: trace.Span) -> None:
        for item in self._messages_of(message):
            if hasattr(item, "application_properties"):
                properties = dict(item.application_properties or {})
                inject_servicebus_properties(properties, trace.set_span_in_context(span))
                item.application_properties = properties

    def _link_batch(self, op: Operation, message: Any) -> None:
        for item in self._messages_of(message)[:128]:
            creation = _creation(item)
            if creation.is_valid:
                op.span.add_link(creation)

    # --- receiving ----------------------------------------------------------------------------------

    def receive(self, original: Callable[..., Any], receiver: Any, args: tuple, kwargs: dict) -> Any:
        if not self.enabled():
            return original(*args, **kwargs)
        queue, server, extra = _destination(receiver)
        asked = kwargs.get("max_message_count", args[0] if args else 1)
        op = self._start(queue, RECEIVE, RECEIVE, SpanKind.CLIENT, server, attributes=extra)
        session = getattr(receiver, "_session", None) is not None
        if op is not None:
            self.hooks.request(op, "receive_messages", dict(kwargs))
        try:
            messages = call_sdk(original, *args, **kwargs)
        except BaseException as error:
            self._failed(self._finish_receive, op, queue, error, 0, server, session=session)
            raise
        if op is None:
            return messages
        return safe_invoke(
            "ServiceBusExtension.received", messages, self._received, op, queue, server, messages,
            asked is None or asked > 1,
        )

    def _finish_receive(self, op: Operation, count: int, server: dict, **kwargs: Any) -> None:
        self.recorder.finish_receive(op, count, server=server, **kwargs)

    def _received(self, op: Operation, queue: str | None, server: dict, messages: list[Any], batch: bool) -> list[Any]:
        span = op.span
        if span.is_recording():
            for message in messages[:128]:
                creation = _creation(message)
                if creation.is_valid:
                    span.add_link(creation)
            if batch:
                span.set_attributes(batch_attributes(len(messages)))
            elif len(messages) == 1:
                span.set_attributes(_message_attributes(messages[0]))
        self.hooks.response(op, "receive_messages", messages)
        self.recorder.finish_receive(op, len(messages), server=server)
        return TracedMessages(list(messages), self.recorder, lambda m: self.start_process(queue, server, m))

    def start_process(self, queue: str | None, server: dict, message: Any) -> Operation:
        op = self.recorder.start_process(queue, _creation(message), server=server, attributes=_message_attributes(message))
        self.hooks.process(op, message)
        return op

    def iterate(self, original_iter: Iterator[Any], receiver: Any) -> Iterator[Any]:
        """A receiver's ``for`` loop: a receive span per message, then its process span."""
        queue, server, extra = _destination(receiver)
        recorder = self.recorder
        while True:
            op = self._start(queue, RECEIVE, RECEIVE, SpanKind.CLIENT, server, attributes=extra, attach=False) \
                if self.enabled() else None
            try:
                message = call_sdk(next, original_iter)
            except StopIteration:
                if op is not None:
                    safe_invoke("ServiceBusExtension.received", None, self._finish_receive, op, 0, server)
                return
            except BaseException as error:
                self._failed(self._finish_receive, op, queue, error, 0, server,
                             session=getattr(receiver, "_session", None) is not None)
                raise
            process = None
            if op is not None:
                safe_invoke("ServiceBusExtension.received", None, self._received_one, op, server, message)
                process = safe_invoke("ServiceBusExtension.process", None, self.start_process, queue, server, message)
            try:
                yield message
            finally:
                if process is not None:
                    safe_invoke("ServiceBusExtension.processed", None, recorder.finish_process, process)

    def _received_one(self, op: Operation, server: dict, message: Any) -> None:
        creation = _creation(message)
        if op.span.is_recording():
            if creation.is_valid:
                op.span.add_link(creation)
            op.span.set_attributes(_message_attributes(message))
        self.recorder.finish_receive(op, 1, server=server)

    # --- settling ------------------------------------------------------------------------------------

    def settle(self, method: str, original: Callable[..., Any], receiver: Any, message: Any, args: tuple, kwargs: dict) -> Any:
        if not self.enabled():
            return original(message, *args, **kwargs)
        name, status, outcome = _DISPOSITIONS[method]
        queue, server, extra = _destination(receiver)
        creation = safe_invoke("ServiceBusExtension.creation", trace.INVALID_SPAN_CONTEXT, _creation, message)
        attributes = {**extra, **safe_invoke("ServiceBusExtension.attributes", {}, _message_attributes, message),
                      MESSAGING_SERVICEBUS_DISPOSITION_STATUS: status}
        op = self._start(queue, name, SETTLE, SpanKind.CLIENT, server, attributes=attributes,
                         links=self.recorder.links_to([creation]))
        if op is not None:
            self.hooks.request(op, method, dict(kwargs))
        try:
            result = call_sdk(original, message, *args, **kwargs)
        except BaseException as error:
            self._failed(self._finish_settle, op, queue, error, 1, outcome, server,
                         session=getattr(receiver, "_session", None) is not None)
            raise
        if op is not None:
            reason = kwargs.get("reason", args[0] if args else None)
            self.hooks.response(op, method, result)
            safe_invoke("ServiceBusExtension.settled", None, self._finish_settle, op, 1, outcome, server, reason=reason)
        return result

    def _finish_settle(self, op: Operation, count: int, outcome: str, server: dict, **kwargs: Any) -> None:
        self.recorder.finish_settle(op, count, outcome, server=server, **kwargs)

    # --- locks and sessions ----------------------------------------------------------------------------

    def renew(self, operation: str, original: Callable[..., Any], handler: Any, args: tuple, kwargs: dict) -> Any:
        if not self.enabled():
            return original(*args, **kwargs)
        queue, server, extra = _destination(handler)
        op = self._start(queue, operation, None, SpanKind.CLIENT, server, attributes=extra)
        try:
            result = call_sdk(original, *args, **kwargs)
        except BaseException as error:
            if op is not None:
                safe_invoke("ServiceBusExtension.end", None, self.recorder.end, op, error)
            safe_invoke("ServiceBusExtension.provider_error", None, self._count_provider_error, queue, error,
                        operation == "renew_session_lock")
            raise
        if op is not None:
            safe_invoke("ServiceBusExtension.end", None, self.recorder.end, op)
        safe_invoke("ServiceBusExtension.renewed", None, self.recorder.count,
                    self.recorder.instruments.servicebus_lock_renewals, queue)
        return result

    def session_opened(self, receiver: Any) -> None:
        queue, _server, _extra = _destination(receiver)
        instruments = self.recorder.instruments
        self.recorder.count(instruments.sessions_created, queue)
        self.recorder.count(instruments.sessions_active, queue)
        receiver.__dict__["_queue_telemetry_session_opened"] = self.recorder.clock()

    def session_closed(self, receiver: Any) -> None:
        opened = receiver.__dict__.pop("_queue_telemetry_session_opened", None)
        if opened is None:
            return
        queue, _server, _extra = _destination(receiver)
        instruments = self.recorder.instruments
        self.recorder.count(instruments.sessions_closed, queue)
        instruments.sessions_active.add(-1, self.recorder.metric_attributes(queue))
        instruments.session_duration.record(
            max(0, self.recorder.clock() - opened) / 1e9, self.recorder.metric_attributes(queue)
        )



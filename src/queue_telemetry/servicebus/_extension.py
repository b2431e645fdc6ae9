"""The Service Bus extension: azure-servicebus sender and receiver calls as messaging telemetry.

Sending a single message records a ``send`` span (PRODUCER) injected into the message's
application properties. Every message added to a batch (explicitly, or by sending a list) gets
its own ``create`` span (PRODUCER) and context; the ``send`` span (CLIENT) links to them.
Receiving records ``receive`` (CLIENT) linked to each message's creation context; the returned
list (and iteration over a receiver) starts each message's ``process`` span when the
application reaches it. Settlement (complete, abandon, defer, dead-letter) records ``settle``
spans with ``messaging.servicebus.disposition_status``. Lock renewals, session timeouts and
quota errors are counted with the provider-specific metrics.

The sync (``azure.servicebus``) and async (``azure.servicebus.aio``) APIs record the same
telemetry: each operation is split into what happens before the SDK call (returned as a
:class:`_Call`) and what happens after it returns or raises, and only the call itself differs.
Scheduling messages (async API) records a ``schedule`` span of operation type ``send``.
"""

from __future__ import annotations

import contextvars
from typing import Any, AsyncIterator, Callable, Iterator

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_SERVICEBUS_DISPOSITION_STATUS,
    MESSAGING_SERVICEBUS_MESSAGE_DELIVERY_COUNT,
    MESSAGING_SERVICEBUS_MESSAGE_ENQUEUED_TIME,
)
from opentelemetry.trace import SpanKind

from queue_telemetry._extension import Hooks, TracedMessages, call_sdk, call_sdk_async
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


class _Call:
    """What to record once an instrumented SDK call returns (``succeeded``) or raises (``failed``).

    ``succeeded`` receives the SDK's result and returns what the application gets back;
    ``sending`` marks a send, during which messages added to a batch get ``create`` spans.
    """

    __slots__ = ("succeeded", "failed", "sending")

    def __init__(self, succeeded: Callable[[Any], Any], failed: Callable[[BaseException], None],
                 sending: bool = False) -> None:
        self.succeeded, self.failed, self.sending = succeeded, failed, sending


def _run(call: _Call | None, original: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Make a sync SDK call, recording it as ``call`` says (``None``: not recorded)."""
    if call is None:
        return original(*args, **kwargs)
    sending = _SENDING.set(call.sending)
    try:
        result = call_sdk(original, *args, **kwargs)
    except BaseException as error:
        call.failed(error)
        raise
    finally:
        _SENDING.reset(sending)
    return call.succeeded(result)


async def _run_async(call: _Call | None, original: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """:func:`_run` for a coroutine method of the async SDK."""
    if call is None:
        return await original(*args, **kwargs)
    sending = _SENDING.set(call.sending)
    try:
        result = await call_sdk_async(original, *args, **kwargs)
    except BaseException as error:
        call.failed(error)
        raise
    finally:
        _SENDING.reset(sending)
    return call.succeeded(result)


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
        queue, server = batch.__dict__.get(_BATCH_DESTINATION, (None, {}))
        self._create_context(queue, server, message)

    def _create_context(self, queue: str | None, server: dict, message: Any) -> None:
        """A ``create`` span for ``message``, injected into its application properties."""
        properties = dict(message.application_properties or {})
        if servicebus_creation_context(properties).is_valid:
            return  # the application (or an earlier batch) set the context already
        op = self.recorder.create(queue, server)
        inject_servicebus_properties(properties, trace.set_span_in_context(op.span))
        message.application_properties = properties

    def send(self, original: Callable[..., Any], sender: Any, message: Any, args: tuple, kwargs: dict) -> Any:
        return _run(self._send_call(sender, message), original, (message, *args), kwargs)

    async def send_async(self, original: Callable[..., Any], sender: Any, message: Any, args: tuple,
                         kwargs: dict) -> Any:
        return await _run_async(self._send_call(sender, message), original, (message, *args), kwargs)

    async def schedule_async(self, original: Callable[..., Any], sender: Any, message: Any, args: tuple,
                             kwargs: dict) -> Any:
        call = self._send_call(sender, message, "schedule", "schedule_messages")
        return await _run_async(call, original, (message, *args), kwargs)

    def _send_call(self, sender: Any, message: Any, operation: str = SEND,
                   method: str = "send_messages") -> _Call | None:
        """Start the span of sending (or scheduling) ``message``: one message, a list or a batch."""
        if not self.enabled():
            return None
        queue, server, extra = _destination(sender)
        single = hasattr(message, "application_properties") and not hasattr(message, "add_message")
        try:
            count = 1 if single else len(message)
        except TypeError:
            count = 1
        if count == 0:
            return None
        batch = not single
        kind = SpanKind.CLIENT if batch and self.recorder.create_spans else SpanKind.PRODUCER
        attributes = dict(extra)
        if single:
            attributes.update(single_message_attributes(_text(message.message_id), _text(message.correlation_id)))
        else:
            attributes.update(batch_attributes(count))
        op = self._start(queue, operation, SEND, kind, server, attributes=attributes)
        if op is not None:
            self.hooks.request(op, method, {"message": message})
            if single or not self.recorder.create_spans:
                safe_invoke("ServiceBusExtension.inject", None, self._inject_all, message, op.span)
            elif isinstance(message, (list, tuple)):  # scheduled lists are not built into a batch
                for item in message:
                    if hasattr(item, "application_properties"):
                        safe_invoke("ServiceBusExtension.create", None, self._create_context, queue, server, item)

        def failed(error: BaseException) -> None:
            self._failed(self._finish_send, op, queue, error, count, server)

        def succeeded(result: Any) -> Any:
            if op is not None:
                if batch and self.recorder.create_spans:
                    safe_invoke("ServiceBusExtension.links", None, self._link_batch, op, message)
                self.hooks.response(op, method, result)
                safe_invoke("ServiceBusExtension.sent", None, self._finish_send, op, count, server)
            return result

        return _Call(succeeded, failed, sending=op is not None)

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
        return _run(self._receive_call(receiver, args, kwargs), original, args, kwargs)

    async def receive_async(self, original: Callable[..., Any], receiver: Any, args: tuple, kwargs: dict) -> Any:
        return await _run_async(self._receive_call(receiver, args, kwargs), original, args, kwargs)

    def _receive_call(self, receiver: Any, args: tuple, kwargs: dict) -> _Call | None:
        if not self.enabled():
            return None
        queue, server, extra = _destination(receiver)
        asked = kwargs.get("max_message_count", args[0] if args else 1)
        op = self._start(queue, RECEIVE, RECEIVE, SpanKind.CLIENT, server, attributes=extra)
        session = getattr(receiver, "_session", None) is not None
        if op is not None:
            self.hooks.request(op, "receive_messages", dict(kwargs))

        def failed(error: BaseException) -> None:
            self._failed(self._finish_receive, op, queue, error, 0, server, session=session)

        def succeeded(messages: Any) -> Any:
            if op is None:
                return messages
            return safe_invoke(
                "ServiceBusExtension.received", messages, self._received, op, queue, server, messages,
                asked is None or asked > 1,
            )

        return _Call(succeeded, failed)

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
        while True:
            step = self.next_message(receiver)
            try:
                message = call_sdk(next, original_iter)
            except StopIteration:
                step.exhausted()
                return
            except BaseException as error:
                step.failed(error)
                raise
            process = step.received(message)
            try:
                yield message
            finally:
                if process is not None:
                    safe_invoke("ServiceBusExtension.processed", None, self.recorder.finish_process, process)

    def iterate_async(self, original_iter: AsyncIterator[Any], receiver: Any) -> AsyncIterator[Any]:
        """A receiver's ``async for`` loop: as :meth:`iterate` (see :class:`_AsyncIteration`)."""
        return _AsyncIteration(self, original_iter, receiver)

    def next_message(self, receiver: Any) -> "_NextMessage":
        """Start the receive span of one step of iterating ``receiver``."""
        return _NextMessage(self, receiver)

    def _received_one(self, op: Operation, server: dict, message: Any) -> None:
        creation = _creation(message)
        if op.span.is_recording():
            if creation.is_valid:
                op.span.add_link(creation)
            op.span.set_attributes(_message_attributes(message))
        self.recorder.finish_receive(op, 1, server=server)

    # --- settling ------------------------------------------------------------------------------------

    def settle(self, method: str, original: Callable[..., Any], receiver: Any, message: Any, args: tuple,
               kwargs: dict) -> Any:
        call = self._settle_call(method, receiver, message, args, kwargs)
        return _run(call, original, (message, *args), kwargs)

    async def settle_async(self, method: str, original: Callable[..., Any], receiver: Any, message: Any,
                           args: tuple, kwargs: dict) -> Any:
        call = self._settle_call(method, receiver, message, args, kwargs)
        return await _run_async(call, original, (message, *args), kwargs)

    def _settle_call(self, method: str, receiver: Any, message: Any, args: tuple, kwargs: dict) -> _Call | None:
        if not self.enabled():
            return None
        name, status, outcome = _DISPOSITIONS[method]
        queue, server, extra = _destination(receiver)
        creation = safe_invoke("ServiceBusExtension.creation", trace.INVALID_SPAN_CONTEXT, _creation, message)
        attributes = {**extra, **safe_invoke("ServiceBusExtension.attributes", {}, _message_attributes, message),
                      MESSAGING_SERVICEBUS_DISPOSITION_STATUS: status}
        op = self._start(queue, name, SETTLE, SpanKind.CLIENT, server, attributes=attributes,
                         links=self.recorder.links_to([creation]))
        if op is not None:
            self.hooks.request(op, method, dict(kwargs))

        def failed(error: BaseException) -> None:
            self._failed(self._finish_settle, op, queue, error, 1, outcome, server,
                         session=getattr(receiver, "_session", None) is not None)

        def succeeded(result: Any) -> Any:
            if op is not None:
                reason = kwargs.get("reason", args[0] if args else None)
                self.hooks.response(op, method, result)
                safe_invoke("ServiceBusExtension.settled", None, self._finish_settle, op, 1, outcome, server,
                            reason=reason)
            return result

        return _Call(succeeded, failed)

    def _finish_settle(self, op: Operation, count: int, outcome: str, server: dict, **kwargs: Any) -> None:
        self.recorder.finish_settle(op, count, outcome, server=server, **kwargs)

    # --- locks and sessions ----------------------------------------------------------------------------

    def renew(self, operation: str, original: Callable[..., Any], handler: Any, args: tuple, kwargs: dict) -> Any:
        return _run(self._renew_call(operation, handler), original, args, kwargs)

    async def renew_async(self, operation: str, original: Callable[..., Any], handler: Any, args: tuple,
                          kwargs: dict) -> Any:
        return await _run_async(self._renew_call(operation, handler), original, args, kwargs)

    def _renew_call(self, operation: str, handler: Any) -> _Call | None:
        if not self.enabled():
            return None
        queue, server, extra = _destination(handler)
        op = self._start(queue, operation, None, SpanKind.CLIENT, server, attributes=extra)

        def failed(error: BaseException) -> None:
            if op is not None:
                safe_invoke("ServiceBusExtension.end", None, self.recorder.end, op, error)
            safe_invoke("ServiceBusExtension.provider_error", None, self._count_provider_error, queue, error,
                        operation == "renew_session_lock")

        def succeeded(result: Any) -> Any:
            if op is not None:
                safe_invoke("ServiceBusExtension.end", None, self.recorder.end, op)
            safe_invoke("ServiceBusExtension.renewed", None, self.recorder.count,
                        self.recorder.instruments.servicebus_lock_renewals, queue)
            return result

        return _Call(succeeded, failed)

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


class _NextMessage:
    """One step of iterating a receiver: its receive span, then the message's process span."""

    __slots__ = ("_extension", "_receiver", "_queue", "_server", "_op")

    def __init__(self, extension: ServiceBusExtension, receiver: Any) -> None:
        self._extension, self._receiver = extension, receiver
        self._queue, self._server, extra = _destination(receiver)
        self._op = extension._start(self._queue, RECEIVE, RECEIVE, SpanKind.CLIENT, self._server,
                                    attributes=extra, attach=False) if extension.enabled() else None

    def exhausted(self) -> None:
        """The iterator ended: an empty receive."""
        if self._op is not None:
            safe_invoke("ServiceBusExtension.received", None, self._extension._finish_receive, self._op, 0,
                        self._server)

    def failed(self, error: BaseException) -> None:
        self._extension._failed(self._extension._finish_receive, self._op, self._queue, error, 0, self._server,
                                session=getattr(self._receiver, "_session", None) is not None)

    def received(self, message: Any) -> Operation | None:
        """End the receive span; start (and make current) the process span of ``message``."""
        if self._op is None:
            return None
        extension = self._extension
        safe_invoke("ServiceBusExtension.received", None, extension._received_one, self._op, self._server, message)
        return safe_invoke("ServiceBusExtension.process", None, extension.start_process, self._queue, self._server,
                           message)


class _AsyncIteration:
    """A receiver's ``async for`` loop, recorded as :meth:`ServiceBusExtension.iterate` records ``for``.

    Each ``__anext__`` ends the previous message's process span (restoring the context), records
    a receive span around fetching the next message and starts that message's process span,
    current in the loop body. Leaving the loop early ends the last process span when the
    iterator is released (at once in CPython, like a sync generator being closed) or on
    :meth:`aclose`. Not for sharing between tasks: the process span is attached to the
    context of the task that iterates.
    """

    def __init__(self, extension: ServiceBusExtension, iterator: AsyncIterator[Any], receiver: Any) -> None:
        self._extension, self._iterator, self._receiver = extension, iterator, receiver
        self._process: Operation | None = None

    def __aiter__(self) -> "_AsyncIteration":
        return self

    async def __anext__(self) -> Any:
        self._finish_process()
        step = self._extension.next_message(self._receiver)
        try:
            message = await call_sdk_async(self._iterator.__anext__)
        except StopAsyncIteration:
            step.exhausted()
            raise
        except BaseException as error:
            step.failed(error)
            raise
        self._process = step.received(message)
        return message

    async def aclose(self) -> None:
        self._finish_process()
        close = getattr(self._iterator, "aclose", None)
        if close is not None:
            await close()

    def _finish_process(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            safe_invoke("ServiceBusExtension.processed", None, self._extension.recorder.finish_process, process)

    def __del__(self) -> None:
        try:
            self._finish_process()
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing left to record to
            pass

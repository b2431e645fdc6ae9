"""``ServiceBusInstrumentor``: zero-code instrumentation of azure-servicebus (sync and async APIs).

Usage::

    from queue_telemetry.servicebus import ServiceBusInstrumentor
    ServiceBusInstrumentor().instrument(tracer_provider=..., meter_provider=...)

or ``opentelemetry-instrument python app.py`` (entry point ``queue_telemetry_servicebus``).

Instrumented: ``ServiceBusSender.send_messages`` and ``create_message_batch``, messages added
to a ``ServiceBusMessageBatch``, ``ServiceBusReceiver.receive_messages``, iteration over a
receiver, ``complete_message``, ``abandon_message``, ``defer_message``,
``dead_letter_message``, ``renew_message_lock``, ``ServiceBusSession.renew_lock``, and session
receivers opened by ``ServiceBusClient.get_queue_receiver``/``get_subscription_receiver``
with a ``session_id`` (closed by ``close``). The same methods of the async API
(``azure.servicebus.aio``) are instrumented alike -- ``async for`` over a receiver as ``for`` --
and its ``ServiceBusSender.schedule_messages`` records a ``schedule`` span.

Keyword options of :meth:`~ServiceBusInstrumentor.instrument`: ``tracer_provider``,
``meter_provider``, ``request_hook``, ``response_hook``, ``process_hook``, ``create_spans``,
``parent_process_from_message``, ``clock`` -- as for
:class:`~queue_telemetry.sqs.SqsInstrumentor`. ``instrument``/``uninstrument`` are
idempotent. The SDK's own tracing (azure-core's tracing plugin) and HTTP instrumentations are
suppressed around each call so spans are not doubled.
"""

from __future__ import annotations

import threading
from typing import Any, Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from queue_telemetry._extension import recorder_and_hooks
from queue_telemetry._safe_invoke import safe_invoke
from queue_telemetry.servicebus._extension import SYSTEM, ServiceBusExtension

__all__ = ["ServiceBusInstrumentor", "active_extension"]

_INSTRUMENTS = ("azure-servicebus >= 7.10",)
_active: ServiceBusExtension | None = None
_lock = threading.Lock()

_SENDER = "azure.servicebus._servicebus_sender"
_RECEIVER = "azure.servicebus._servicebus_receiver"
_SESSION = "azure.servicebus._servicebus_session"
_MESSAGE = "azure.servicebus._common.message"
_CLIENT = "azure.servicebus._servicebus_client"
_ASYNC_SENDER = "azure.servicebus.aio._servicebus_sender_async"
_ASYNC_RECEIVER = "azure.servicebus.aio._servicebus_receiver_async"
_ASYNC_SESSION = "azure.servicebus.aio._servicebus_session_async"
_ASYNC_CLIENT = "azure.servicebus.aio._servicebus_client_async"

_PATCHES: list[tuple[str, str, Any]] = []


def active_extension() -> ServiceBusExtension | None:
    """The Service Bus extension in force, or None."""
    return _active


def _send(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    extension = _active
    if extension is None or not args and "message" not in kwargs:
        return wrapped(*args, **kwargs)
    message = args[0] if args else kwargs.pop("message")
    return extension.send(wrapped, instance, message, args[1:], kwargs)


def _create_batch(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    batch = wrapped(*args, **kwargs)
    extension = _active
    if extension is not None:
        safe_invoke("ServiceBusInstrumentor.create_batch", None, extension.batch_created, instance, batch)
    return batch


def _add(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    extension = _active
    if extension is None or len(args) != 1 or kwargs:
        return wrapped(*args, **kwargs)
    return extension.add_to_batch(wrapped, instance, args[0])


def _receive(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    extension = _active
    if extension is None:
        return wrapped(*args, **kwargs)
    return extension.receive(wrapped, instance, args, kwargs)


def _iter(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    iterator = wrapped(*args, **kwargs)
    extension = _active
    if extension is None:
        return iterator
    return extension.iterate(iterator, instance)


def _settler(method: str) -> Any:
    def settle(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        extension = _active
        if extension is None or not args and "message" not in kwargs:
            return wrapped(*args, **kwargs)
        message = args[0] if args else kwargs.pop("message")
        return extension.settle(method, wrapped, instance, message, args[1:], kwargs)

    return settle


def _renewer(operation: str, handler_of: Any) -> Any:
    def renew(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        extension = _active
        if extension is None:
            return wrapped(*args, **kwargs)
        return extension.renew(operation, wrapped, handler_of(instance), args, kwargs)

    return renew


def _session_receiver(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    receiver = wrapped(*args, **kwargs)
    extension = _active
    if extension is not None and kwargs.get("session_id") is not None:
        safe_invoke("ServiceBusInstrumentor.session_opened", None, extension.session_opened, receiver)
    return receiver


def _close(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        extension = _active
        if extension is not None:
            safe_invoke("ServiceBusInstrumentor.session_closed", None, extension.session_closed, instance)


# --- the async API: the same recording around the coroutine methods ---------------------------------


def _sender_async(record: Any) -> Any:
    async def send(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        extension = _active
        if extension is None or not args and "message" not in kwargs and "messages" not in kwargs:
            return await wrapped(*args, **kwargs)
        if args:
            message = args[0]
        else:
            message = kwargs.pop("message" if "message" in kwargs else "messages")
        return await record(extension)(wrapped, instance, message, args[1:], kwargs)

    return send


async def _create_batch_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    batch = await wrapped(*args, **kwargs)
    extension = _active
    if extension is not None:
        safe_invoke("ServiceBusInstrumentor.create_batch", None, extension.batch_created, instance, batch)
    return batch


async def _receive_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    extension = _active
    if extension is None:
        return await wrapped(*args, **kwargs)
    return await extension.receive_async(wrapped, instance, args, kwargs)


def _aiter(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    iterator = wrapped(*args, **kwargs)
    extension = _active
    if extension is None:
        return iterator
    return extension.iterate_async(iterator, instance)


def _settler_async(method: str) -> Any:
    async def settle(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        extension = _active
        if extension is None or not args and "message" not in kwargs:
            return await wrapped(*args, **kwargs)
        message = args[0] if args else kwargs.pop("message")
        return await extension.settle_async(method, wrapped, instance, message, args[1:], kwargs)

    return settle


def _renewer_async(operation: str, handler_of: Any) -> Any:
    async def renew(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        extension = _active
        if extension is None:
            return await wrapped(*args, **kwargs)
        return await extension.renew_async(operation, wrapped, handler_of(instance), args, kwargs)

    return renew


async def _close_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        extension = _active
        if extension is not None:
            safe_invoke("ServiceBusInstrumentor.session_closed", None, extension.session_closed, instance)


def _session_of(session: Any) -> Any:
    return getattr(session, "_receiver", session)


_PATCHES = [
    (_SENDER, "ServiceBusSender.send_messages", _send),
    (_SENDER, "ServiceBusSender.create_message_batch", _create_batch),
    (_MESSAGE, "ServiceBusMessageBatch._add", _add),
    (_RECEIVER, "ServiceBusReceiver.receive_messages", _receive),
    (_RECEIVER, "ServiceBusReceiver.__iter__", _iter),
    (_RECEIVER, "ServiceBusReceiver.complete_message", _settler("complete_message")),
    (_RECEIVER, "ServiceBusReceiver.abandon_message", _settler("abandon_message")),
    (_RECEIVER, "ServiceBusReceiver.defer_message", _settler("defer_message")),
    (_RECEIVER, "ServiceBusReceiver.dead_letter_message", _settler("dead_letter_message")),
    (_RECEIVER, "ServiceBusReceiver.renew_message_lock", _renewer("renew_message_lock", lambda r: r)),
    (_RECEIVER, "ServiceBusReceiver.close", _close),
    (_SESSION, "ServiceBusSession.renew_lock", _renewer("renew_session_lock", _session_of)),
    (_CLIENT, "ServiceBusClient.get_queue_receiver", _session_receiver),
    (_CLIENT, "ServiceBusClient.get_subscription_receiver", _session_receiver),
    (_ASYNC_SENDER, "ServiceBusSender.send_messages", _sender_async(lambda extension: extension.send_async)),
    (_ASYNC_SENDER, "ServiceBusSender.schedule_messages", _sender_async(lambda extension: extension.schedule_async)),
    (_ASYNC_SENDER, "ServiceBusSender.create_message_batch", _create_batch_async),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.receive_messages", _receive_async),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.__aiter__", _aiter),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.complete_message", _settler_async("complete_message")),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.abandon_message", _settler_async("abandon_message")),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.defer_message", _settler_async("defer_message")),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.dead_letter_message", _settler_async("dead_letter_message")),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.renew_message_lock", _renewer_async("renew_message_lock", lambda r: r)),
    (_ASYNC_RECEIVER, "ServiceBusReceiver.close", _close_async),
    (_ASYNC_SESSION, "ServiceBusSession.renew_lock", _renewer_async("renew_session_lock", _session_of)),
    (_ASYNC_CLIENT, "ServiceBusClient.get_queue_receiver", _session_receiver),
    (_ASYNC_CLIENT, "ServiceBusClient.get_subscription_receiver", _session_receiver),
]


class ServiceBusInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for Azure Service Bus (see module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        global _active
        recorder, hooks = recorder_and_hooks(SYSTEM, kwargs)
        with _lock:
            _active = ServiceBusExtension(recorder, hooks)
        for module, name, wrapper in _PATCHES:
            wrap_function_wrapper(module, name, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _active
        import importlib

        with _lock:
            _active = None
        for module, name, _wrapper in _PATCHES:
            owner_name, attribute = name.split(".")
            unwrap(getattr(importlib.import_module(module), owner_name), attribute)

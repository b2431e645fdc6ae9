"""The :class:`~queue_telemetry.QueueClient` contract over an azure-servicebus ``ServiceBusClient``.

Senders and receivers are opened per queue (and per session) on first use and reused. A
received message is settled through the receiver that received it, so the client holds each
unsettled message until it is settled (that state is the adapter's, as the SDK requires, not
the instrumentation's). Every SDK call runs with instrumentation suppressed, so wrapping this
client in :class:`~queue_telemetry.InstrumentedQueueClient` while
:class:`ServiceBusInstrumentor` is active does not double the spans.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from queue_telemetry._extension import call_sdk
from queue_telemetry.queue_client import (
    MessageLockLostError,
    MessageTooLargeError,
    OutgoingMessage,
    QueueNotFoundError,
    QueueUnavailableError,
    ReceivedMessage,
    SessionLockedError,
    SessionLockLostError,
    ThrottledError,
)
from queue_telemetry.servicebus._extension import SYSTEM

__all__ = ["ServiceBusQueueClient", "instrumented_servicebus_client"]

_TRANSLATIONS = {
    "MessageLockLostError": MessageLockLostError,
    "MessageAlreadySettled": MessageLockLostError,
    "SessionLockLostError": SessionLockLostError,
    "SessionCannotBeLockedError": SessionLockedError,
    "MessagingEntityNotFoundError": QueueNotFoundError,
    "ServiceBusQuotaExceededError": ThrottledError,
    "ServiceBusServerBusyError": ThrottledError,
    "MessageSizeExceededError": MessageTooLargeError,
    "ServiceBusConnectionError": QueueUnavailableError,
    "ServiceBusCommunicationError": QueueUnavailableError,
    "OperationTimeoutError": QueueUnavailableError,
}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ServiceBusQueueClient:
    """A :class:`~queue_telemetry.QueueClient` with sessions over a ``ServiceBusClient``.

    Thread-safe for its own state; the SDK's handlers are not meant to be shared between
    threads, so use one adapter per thread.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._senders: dict[str, Any] = {}
        self._receivers: dict[tuple[str, str | None], Any] = {}
        self._unsettled: dict[str, tuple[Any, Any]] = {}

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call_sdk(function, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - translated when known, else re-raised as is
            translated = _TRANSLATIONS.get(type(error).__name__)
            if translated is None:
                raise
            raise translated(str(error)) from error

    def server_address(self) -> str | None:
        return getattr(self._client, "fully_qualified_namespace", None)

    def _sender(self, queue: str) -> Any:
        with self._lock:
            sender = self._senders.get(queue)
            if sender is None:
                sender = self._senders[queue] = self._client.get_queue_sender(queue)
            return sender

    def _receiver(self, queue: str, session_id: str | None) -> Any:
        with self._lock:
            receiver = self._receivers.get((queue, session_id))
            if receiver is None:
                receiver = self._client.get_queue_receiver(queue, session_id=session_id)
                self._receivers[(queue, session_id)] = receiver
            return receiver

    @staticmethod
    def _outgoing(message: OutgoingMessage, session_id: str | None) -> Any:
        from azure.servicebus import ServiceBusMessage

        return ServiceBusMessage(
            message.body, application_properties=dict(message.properties) or None,
            message_id=message.message_id or str(uuid.uuid4()), session_id=session_id,
        )

    def send(self, queue: str, message: OutgoingMessage, session_id: str | None = None) -> str:
        outgoing = self._outgoing(message, session_id)
        self._call(self._sender(queue).send_messages, outgoing)
        return str(outgoing.message_id)

    def send_batch(self, queue: str, messages: Sequence[OutgoingMessage], session_id: str | None = None) -> list[str]:
        outgoing = [self._outgoing(m, session_id) for m in messages]
        if outgoing:
            self._call(self._sender(queue).send_messages, outgoing)
        return [str(m.message_id) for m in outgoing]

    def receive(
        self, queue: str, max_messages: int = 1, wait_seconds: float = 0.0, session_id: str | None = None
    ) -> list[ReceivedMessage]:
        receiver = self._receiver(queue, session_id)
        received = self._call(receiver.receive_messages, max_message_count=max(1, max_messages),
                              max_wait_time=max(wait_seconds, 0.001))
        deliveries = []
        for item in received:
            receipt = str(item.lock_token)
            with self._lock:
                self._unsettled[receipt] = (receiver, item)
            properties = {_text(k): _text(v) for k, v in (item.application_properties or {}).items()}
            enqueued = item.enqueued_time_utc or datetime.now(timezone.utc)
            deliveries.append(ReceivedMessage(
                queue=queue, message_id=_text(item.message_id), body=b"".join(item.body),
                properties=properties, receipt=receipt, delivery_count=(item.delivery_count or 0) + 1,
                enqueued_time=enqueued, session_id=item.session_id,
            ))
        return deliveries

    def _take(self, message: ReceivedMessage) -> tuple[Any, Any]:
        with self._lock:
            held = self._unsettled.pop(message.receipt, None)
        if held is None:
            raise MessageLockLostError(f"message {message.message_id} is not held by this client")
        return held

    def acknowledge(self, message: ReceivedMessage) -> None:
        receiver, item = self._take(message)
        self._call(receiver.complete_message, item)

    def reject(self, message: ReceivedMessage) -> None:
        receiver, item = self._take(message)
        self._call(receiver.abandon_message, item)
        return None

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        receiver, item = self._take(message)
        self._call(receiver.dead_letter_message, item, reason=reason)

    def renew_lock(self, message: ReceivedMessage) -> None:
        with self._lock:
            receiver, item = self._unsettled[message.receipt]
        self._call(receiver.renew_message_lock, item)

    def accept_session(self, queue: str, session_id: str | None = None, wait_seconds: float = 0.0) -> str | None:
        from azure.servicebus import NEXT_AVAILABLE_SESSION

        receiver = self._client.get_queue_receiver(queue, session_id=session_id or NEXT_AVAILABLE_SESSION)
        accepted = session_id or getattr(receiver.session, "session_id", None)
        with self._lock:
            self._receivers[(queue, accepted)] = receiver
        return accepted

    def release_session(self, queue: str, session_id: str) -> None:
        with self._lock:
            receiver = self._receivers.pop((queue, session_id), None)
        if receiver is None:
            raise SessionLockLostError(f"session {session_id!r} on {queue!r} is not held")
        self._call(receiver.close)

    def close(self) -> None:
        with self._lock:
            handlers = list(self._senders.values()) + list(self._receivers.values())
            self._senders.clear()
            self._receivers.clear()
        for handler in handlers:
            self._call(handler.close)


def instrumented_servicebus_client(client: Any, **options: Any) -> Any:
    """An :class:`~queue_telemetry.InstrumentedQueueClient` over :class:`ServiceBusQueueClient`."""
    from queue_telemetry.instrumented_client import InstrumentedQueueClient

    adapter = ServiceBusQueueClient(client)
    options.setdefault("server_address", adapter.server_address())
    return InstrumentedQueueClient(adapter, system=SYSTEM, **options)

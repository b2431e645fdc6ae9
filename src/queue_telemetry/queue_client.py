"""The queue client contract every provider implements, and the messages it carries.

:class:`QueueClient` is what :class:`queue_telemetry.InstrumentedQueueClient` wraps: anything
with these methods (an SQS adapter, a Service Bus adapter, the in-memory broker's client) can
be instrumented. :class:`SupportsDepth` and :class:`SupportsSessions` are optional extras; the
instrumented client uses them only when the wrapped client has them.

Errors: implementations raise :class:`QueueError` subclasses for broker-level failures. Each
subclass has a stable, low-cardinality :attr:`QueueError.error_type` that telemetry records as
``error.type``; an implementation may raise other exceptions too (their class name is used).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Mapping, Protocol, Sequence, runtime_checkable

__all__ = [
    "OutgoingMessage",
    "ReceivedMessage",
    "RejectOutcome",
    "QueueClient",
    "SupportsDepth",
    "SupportsSessions",
    "QueueError",
    "QueueNotFoundError",
    "MessageLockLostError",
    "SessionLockedError",
    "SessionLockLostError",
    "QueueUnavailableError",
    "ThrottledError",
    "MessageTooLargeError",
    "QueueClosedError",
    "UnsupportedOperationError",
    "error_type_of",
]


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send.

    ``properties`` are application properties (string keys and values) delivered with the
    message; they are also the trace-context carrier, so instrumented clients add
    ``traceparent``/``tracestate`` (and baggage) to a copy of them. The caller's dict is never
    modified.
    """

    #: The payload.
    body: bytes
    #: Application properties, delivered unchanged to the consumer.
    properties: Mapping[str, str] = field(default_factory=dict)
    #: The message id to use; None lets the broker assign one.
    message_id: str | None = None


@dataclass(frozen=True)
class ReceivedMessage:
    """A message delivered to a consumer, to be settled exactly once with its ``receipt``."""

    #: The queue it was received from.
    queue: str
    #: The broker's message id (the same on every redelivery).
    message_id: str
    body: bytes
    #: Application properties as sent (including any trace context).
    properties: Mapping[str, str]
    #: Receipt handle / lock token identifying this delivery; needed to settle it.
    receipt: str
    #: How many times the message has been delivered, this delivery included (1 on first).
    delivery_count: int
    #: When the broker accepted the message (UTC).
    enqueued_time: datetime
    #: The session (message group) the message belongs to, if any.
    session_id: str | None = None


class RejectOutcome(str, enum.Enum):
    """What the broker did with a rejected message, when it says so."""

    #: Returned to the queue for redelivery.
    REQUEUED = "requeued"
    #: Moved to the dead-letter queue because it reached the maximum delivery count.
    DEAD_LETTERED = "dead_lettered"


@runtime_checkable
class QueueClient(Protocol):
    """A client of one message broker.

    Threading: implementations say whether they may be shared between threads (the in-memory
    client may). Blocking: :meth:`receive` may block up to ``wait_seconds``; the other methods
    block for one broker round trip. Every method may raise :class:`QueueError`.
    """

    def send(self, queue: str, message: OutgoingMessage, session_id: str | None = None) -> str:
        """Send one message; returns its message id."""
        ...

    def send_batch(
        self, queue: str, messages: Sequence[OutgoingMessage], session_id: str | None = None
    ) -> list[str]:
        """Send several messages in one operation; returns their ids in order. All or none."""
        ...

    def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        session_id: str | None = None,
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages``, waiting up to ``wait_seconds`` for the first one.

        Without ``session_id`` only messages outside sessions are delivered; with it, the next
        messages of that session, in order (the caller must hold the session's lock).
        Returns an empty list when nothing arrived in time.
        """
        ...

    def acknowledge(self, message: ReceivedMessage) -> None:
        """Settle successfully: the message is removed from the queue."""
        ...

    def reject(self, message: ReceivedMessage) -> RejectOutcome | None:
        """Return the message to the queue for redelivery.

        Returns what the broker did when it says so (it may dead-letter a message that reached
        its maximum delivery count), or None when the provider does not tell.
        """
        ...

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        """Move the message to the queue's dead-letter queue, recording ``reason``."""
        ...


@runtime_checkable
class SupportsDepth(Protocol):
    """A client that can report how many messages wait in a queue and in its dead-letter queue."""

    def depth(self, queue: str) -> int:
        """Messages available for delivery now (not counting those being processed)."""
        ...

    def dead_letter_depth(self, queue: str) -> int:
        """Messages currently in the queue's dead-letter queue."""
        ...


@runtime_checkable
class SupportsSessions(Protocol):
    """A client with sessions (Service Bus sessions, SQS FIFO message groups).

    A session's messages are delivered in order, and only to the client holding the session's
    lock.
    """

    def accept_session(
        self, queue: str, session_id: str | None = None, wait_seconds: float = 0.0
    ) -> str | None:
        """Lock a session for this client and return its id.

        With ``session_id``, lock that session (raises :class:`SessionLockedError` if another
        client holds it). Without, lock the next session that has messages and no holder,
        waiting up to ``wait_seconds``; returns None when there is none.
        """
        ...

    def release_session(self, queue: str, session_id: str) -> None:
        """Give the session's lock up; its unsettled messages become available again."""
        ...


class QueueError(Exception):
    """Base class of broker-level failures. ``error_type`` is recorded as ``error.type``."""

    #: Stable, low-cardinality identifier of the failure kind.
    error_type: ClassVar[str] = "queue_error"


class QueueNotFoundError(QueueError):
    """The queue does not exist."""

    error_type = "queue_not_found"


class MessageLockLostError(QueueError):
    """The receipt is no longer valid: the lock expired, or the message was settled already."""

    error_type = "message_lock_lost"


class SessionLockedError(QueueError):
    """Another client holds the session's lock."""

    error_type = "session_locked"


class SessionLockLostError(QueueError):
    """This client does not hold (or no longer holds) the session's lock."""

    error_type = "session_lock_lost"


class QueueUnavailableError(QueueError):
    """The broker could not be reached or refused the operation for now; retrying may help."""

    error_type = "unavailable"


class ThrottledError(QueueError):
    """The broker refused the operation because of a rate limit or quota."""

    error_type = "throttled"


class MessageTooLargeError(QueueError):
    """The message (or batch) exceeds the broker's size limit."""

    error_type = "message_too_large"


class QueueClosedError(QueueError):
    """The client was closed."""

    error_type = "client_closed"


class UnsupportedOperationError(QueueError):
    """The wrapped client does not support the operation (for example sessions)."""

    error_type = "unsupported_operation"


def error_type_of(error: BaseException) -> str:
    """The ``error.type`` value for ``error``: the :class:`QueueError` kind, else the class name.

    Built-in exceptions give their bare name (``TimeoutError``); others their module-qualified
    name, as the semantic conventions suggest. Anything that does not look like a bounded
    identifier (local classes, odd ``error_type`` values) becomes ``_OTHER``. Never raises.
    """
    try:
        if isinstance(error, QueueError):
            value = error.error_type
        else:
            cls = type(error)
            value = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    except Exception:  # noqa: BLE001 - a hostile class must not break telemetry
        return "_OTHER"
    return value if isinstance(value, str) and _BOUNDED.match(value) else "_OTHER"


_BOUNDED = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$")

"""A faithful, thread-safe in-memory message broker and its :class:`QueueClient`.

The broker behaves like the cloud queues it stands in for:

* **Visibility (lock) timeout.** A received message is invisible to other consumers until it is
  settled or its lock expires; an expired lock makes it available again (redelivery), and its
  receipt stops working (:class:`MessageLockLostError`).
* **Delivery count and dead-lettering.** Each delivery increments the message's delivery count.
  When a message that has been delivered ``max_delivery_count`` times is rejected or its lock
  expires, the broker moves it to the queue's dead-letter queue with reason
  ``max_delivery_count_exceeded`` instead of redelivering it. Consumers may also dead-letter
  explicitly with their own reason.
* **Sessions.** Messages sent with a session id are delivered in order and only to the client
  holding the session's lock (:meth:`InMemoryQueueClient.accept_session`). Order is strict: while
  any message of a session is being processed, no later message of it is delivered, so a
  rejected message is redelivered before those behind it. The session lock expires
  ``session_lock_timeout`` seconds after the holder's last activity (accept, receive, settle or
  :meth:`InMemoryQueueClient.renew_session_lock`); its unsettled messages then become
  available again.
* **Depth.** :meth:`InMemoryQueueClient.depth` counts messages available for delivery (not
  those being processed); :meth:`InMemoryQueueClient.dead_letter_depth` the dead-letter queue.

Time: lock deadlines use the broker's ``clock`` (seconds, a float), which tests replace with a
:class:`ManualClock` so they need no sleeps. Blocking waits (``wait_seconds``) are real time: a
waiting receive wakes when a message arrives, is returned or a session is released, and
re-checks lock deadlines as they fall due.

Threading: the broker and its clients may be shared freely between threads; one lock guards
all state, and waiting uses a :class:`threading.Condition` (no polling loops).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Sequence

from queue_telemetry.queue_client import (
    MessageLockLostError,
    OutgoingMessage,
    QueueClosedError,
    QueueNotFoundError,
    ReceivedMessage,
    RejectOutcome,
    SessionLockedError,
    SessionLockLostError,
)

__all__ = [
    "InMemoryBroker",
    "InMemoryQueueClient",
    "QueueSettings",
    "DeadLetteredMessage",
    "ManualClock",
    "MAX_DELIVERY_COUNT_EXCEEDED",
]

#: The reason the broker records when it dead-letters a message on its own.
MAX_DELIVERY_COUNT_EXCEEDED = "max_delivery_count_exceeded"

_INFINITY = float("inf")


class ManualClock:
    """A clock that only moves when told to; pass it as the broker's ``clock`` in tests.

    Thread-safe. ``advance`` does not wake blocked receivers; call
    :meth:`InMemoryBroker.wake_waiters` if a test needs that.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds


@dataclass(frozen=True)
class QueueSettings:
    """Per-queue behaviour of the in-memory broker."""

    #: Seconds a received (non-session) message stays invisible before it is redelivered.
    visibility_timeout: float = 30.0
    #: Deliveries after which a rejected or expired message is dead-lettered instead.
    max_delivery_count: int = 10
    #: Seconds of holder inactivity after which a session lock expires.
    session_lock_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.visibility_timeout <= 0:
            raise ValueError(f"visibility_timeout must be positive, got {self.visibility_timeout}")
        if self.max_delivery_count < 1:
            raise ValueError(f"max_delivery_count must be at least 1, got {self.max_delivery_count}")
        if self.session_lock_timeout <= 0:
            raise ValueError(
                f"session_lock_timeout must be positive, got {self.session_lock_timeout}"
            )


@dataclass(frozen=True)
class DeadLetteredMessage:
    """A message in a dead-letter queue."""

    message_id: str
    body: bytes
    properties: dict[str, str]
    session_id: str | None
    #: Deliveries before it was dead-lettered.
    delivery_count: int
    enqueued_time: datetime
    #: Why: ``max_delivery_count_exceeded`` when the broker did it, else the consumer's reason.
    reason: str
    dead_lettered_time: datetime


class _StoredMessage:
    __slots__ = (
        "message_id", "body", "properties", "session_id", "enqueued_at", "sequence",
        "delivery_count", "receipt", "locked_until",
    )

    def __init__(
        self, message_id: str, body: bytes, properties: dict[str, str], session_id: str | None,
        enqueued_at: float, sequence: int,
    ) -> None:
        self.message_id = message_id
        self.body = body
        self.properties = properties
        self.session_id = session_id
        self.enqueued_at = enqueued_at
        self.sequence = sequence
        self.delivery_count = 0
        self.receipt: str | None = None
        self.locked_until = _INFINITY


class _Session:
    __slots__ = ("messages", "holder", "lock_expires", "in_flight")

    def __init__(self) -> None:
        # Pending messages in order; those being processed stay in place at the front.
        self.messages: deque[_StoredMessage] = deque()
        self.holder: int | None = None
        self.lock_expires = _INFINITY
        self.in_flight = 0


@dataclass
class _Queue:
    settings: QueueSettings
    ready: deque[_StoredMessage] = field(default_factory=deque)
    in_flight: dict[str, _StoredMessage] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    dead_letters: list[DeadLetteredMessage] = field(default_factory=list)
    #: No lock (message or session) expires before this time; lets most calls skip the scan.
    earliest_deadline: float = _INFINITY


class InMemoryBroker:
    """Queues, their dead-letter queues and sessions, held in memory.

    ``settings`` apply to queues created without their own. With ``auto_create_queues`` (the
    default) a queue springs into existence on first use; without it, using an unknown queue
    raises :class:`QueueNotFoundError`.
    """

    def __init__(
        self,
        *,
        settings: QueueSettings | None = None,
        clock: Callable[[], float] = time.time,
        auto_create_queues: bool = True,
    ) -> None:
        self._default_settings = settings or QueueSettings()
        self._clock = clock
        self._auto_create = auto_create_queues
        self._queues: dict[str, _Queue] = {}
        self._condition = threading.Condition(threading.Lock())
        self._sequence = itertools.count(1)
        self._client_ids = itertools.count(1)

    # --- administration -----------------------------------------------------------------

    def create_queue(self, name: str, settings: QueueSettings | None = None) -> None:
        """Create ``name`` (with its dead-letter queue); changes the settings if it exists."""
        with self._condition:
            queue = self._queues.get(name)
            if queue is None:
                self._queues[name] = _Queue(settings or self._default_settings)
            elif settings is not None:
                queue.settings = settings

    def client(self) -> InMemoryQueueClient:
        """A new client; each client is its own identity for session locks."""
        return InMemoryQueueClient(self, next(self._client_ids))

    def dead_letters(self, queue: str) -> list[DeadLetteredMessage]:
        """A snapshot of ``queue``'s dead-letter queue, oldest first."""
        with self._condition:
            state = self._queue(queue)
            self._expire_locks(state, self._clock())
            return list(state.dead_letters)

    def wake_waiters(self) -> None:
        """Wake every blocked receive so it re-checks (after a :class:`ManualClock` advance)."""
        with self._condition:
            self._condition.notify_all()

    # --- operations used by InMemoryQueueClient (the lock is taken here) ------------------

    def _send(self, queue: str, messages: Sequence[OutgoingMessage], session_id: str | None) -> list[str]:
        with self._condition:
            state = self._queue(queue)
            now = self._clock()
            ids = []
            for message in messages:
                message_id = message.message_id or str(uuid.uuid4())
                stored = _StoredMessage(
                    message_id, bytes(message.body), dict(message.properties), session_id, now,
                    next(self._sequence),
                )
                if session_id is None:
                    state.ready.append(stored)
                else:
                    session = state.sessions.get(session_id)
                    if session is None:
                        session = state.sessions[session_id] = _Session()
                    session.messages.append(stored)
                ids.append(message_id)
            self._condition.notify_all()
            return ids

    def _receive(
        self, client_id: int, queue: str, max_messages: int, wait_seconds: float,
        session_id: str | None,
    ) -> list[ReceivedMessage]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        if wait_seconds < 0:
            raise ValueError(f"wait_seconds must not be negative, got {wait_seconds}")
        give_up_at = time.monotonic() + wait_seconds
        with self._condition:
            state = self._queue(queue)
            while True:
                now = self._clock()
                self._expire_locks(state, now)
                if session_id is None:
                    taken = self._take_ready(state, max_messages, now)
                else:
                    session = self._held_session(state, session_id, client_id, now)
                    taken = self._take_from_session(state, session, max_messages, now)
                if taken:
                    return [self._delivery(queue, stored) for stored in taken]
                if not self._wait(state, give_up_at):
                    return []

    def _acknowledge(self, client_id: int, message: ReceivedMessage) -> None:
        with self._condition:
            state = self._queue(message.queue)
            stored, session = self._settling(state, client_id, message)
            self._remove_in_flight(state, stored, session)

    def _reject(self, client_id: int, message: ReceivedMessage) -> RejectOutcome:
        with self._condition:
            state = self._queue(message.queue)
            stored, session = self._settling(state, client_id, message)
            outcome = self._return_to_queue(state, stored, session, self._clock())
            self._condition.notify_all()
            return outcome

    def _dead_letter(self, client_id: int, message: ReceivedMessage, reason: str) -> None:
        with self._condition:
            state = self._queue(message.queue)
            stored, session = self._settling(state, client_id, message)
            self._remove_in_flight(state, stored, session)
            self._append_dead_letter(state, stored, reason, self._clock())

    def _accept_session(
        self, client_id: int, queue: str, session_id: str | None, wait_seconds: float
    ) -> str | None:
        give_up_at = time.monotonic() + wait_seconds
        with self._condition:
            state = self._queue(queue)
            while True:
                now = self._clock()
                self._expire_locks(state, now)
                if session_id is not None:
                    session = state.sessions.get(session_id)
                    if session is None:
                        session = state.sessions[session_id] = _Session()
                    if session.holder not in (None, client_id):
                        raise SessionLockedError(
                            f"session {session_id!r} of queue {queue!r} is locked by another client"
                        )
                    self._lock_session(state, session, client_id, now)
                    return session_id
                for candidate_id, session in state.sessions.items():
                    if session.holder is None and session.messages:
                        self._lock_session(state, session, client_id, now)
                        return candidate_id
                if not self._wait(state, give_up_at):
                    return None

    def _release_session(self, client_id: int, queue: str, session_id: str) -> None:
        with self._condition:
            state = self._queue(queue)
            now = self._clock()
            self._expire_locks(state, now)
            session = self._held_session(state, session_id, client_id, now)
            self._unlock_session(state, session_id, session, now)
            self._condition.notify_all()

    def _renew_session_lock(self, client_id: int, queue: str, session_id: str) -> None:
        with self._condition:
            state = self._queue(queue)
            now = self._clock()
            self._expire_locks(state, now)
            self._held_session(state, session_id, client_id, now)

    def _release_all_sessions(self, client_id: int) -> None:
        with self._condition:
            now = self._clock()
            for state in self._queues.values():
                self._expire_locks(state, now)
                for session_id, session in list(state.sessions.items()):
                    if session.holder == client_id:
                        self._unlock_session(state, session_id, session, now)
            self._condition.notify_all()

    def _depth(self, queue: str) -> int:
        with self._condition:
            state = self._queue(queue)
            self._expire_locks(state, self._clock())
            in_sessions = sum(len(s.messages) - s.in_flight for s in state.sessions.values())
            return len(state.ready) + in_sessions

    def _dead_letter_depth(self, queue: str) -> int:
        with self._condition:
            state = self._queue(queue)
            self._expire_locks(state, self._clock())
            return len(state.dead_letters)

    # --- internals (caller holds the lock) ------------------------------------------------

    def _queue(self, name: str) -> _Queue:
        state = self._queues.get(name)
        if state is None:
            if not self._auto_create:
                raise QueueNotFoundError(f"queue {name!r} does not exist")
            state = self._queues[name] = _Queue(self._default_settings)
        return state

    def _wait(self, state: _Queue, give_up_at: float) -> bool:
        """Wait for a change or the next lock deadline; False when the wait is over."""
        remaining = give_up_at - time.monotonic()
        if remaining <= 0:
            return False
        if state.earliest_deadline != _INFINITY:
            until_deadline = max(state.earliest_deadline - self._clock(), 0.001)
            remaining = min(remaining, until_deadline)
        self._condition.wait(remaining)
        return True

    def _take_ready(self, state: _Queue, max_messages: int, now: float) -> list[_StoredMessage]:
        taken = []
        deadline = now + state.settings.visibility_timeout
        while state.ready and len(taken) < max_messages:
            stored = state.ready.popleft()
            self._mark_delivered(state, stored, deadline)
            taken.append(stored)
        if taken:
            state.earliest_deadline = min(state.earliest_deadline, deadline)
        return taken

    def _take_from_session(
        self, state: _Queue, session: _Session, max_messages: int, now: float
    ) -> list[_StoredMessage]:
        if session.in_flight:
            return []
        taken = list(itertools.islice(session.messages, max_messages))
        for stored in taken:
            # Session messages are locked by the session lock, not on their own.
            self._mark_delivered(state, stored, _INFINITY)
        session.in_flight = len(taken)
        return taken

    @staticmethod
    def _mark_delivered(state: _Queue, stored: _StoredMessage, locked_until: float) -> None:
        stored.delivery_count += 1
        stored.receipt = uuid.uuid4().hex
        stored.locked_until = locked_until
        state.in_flight[stored.receipt] = stored

    def _held_session(self, state: _Queue, session_id: str, client_id: int, now: float) -> _Session:
        session = state.sessions.get(session_id)
        if session is None or session.holder != client_id:
            raise SessionLockLostError(f"this client does not hold the lock of session {session_id!r}")
        self._lock_session(state, session, client_id, now)
        return session

    def _lock_session(self, state: _Queue, session: _Session, client_id: int, now: float) -> None:
        session.holder = client_id
        session.lock_expires = now + state.settings.session_lock_timeout
        state.earliest_deadline = min(state.earliest_deadline, session.lock_expires)

    def _settling(
        self, state: _Queue, client_id: int, message: ReceivedMessage
    ) -> tuple[_StoredMessage, _Session | None]:
        now = self._clock()
        self._expire_locks(state, now)
        session = None
        if message.session_id is not None:
            session = self._held_session(state, message.session_id, client_id, now)
        stored = state.in_flight.get(message.receipt)
        if stored is None:
            raise MessageLockLostError(
                f"receipt of message {message.message_id!r} is no longer valid "
                "(lock expired or already settled)"
            )
        return stored, session

    def _remove_in_flight(self, state: _Queue, stored: _StoredMessage, session: _Session | None) -> None:
        del state.in_flight[stored.receipt]  # type: ignore[arg-type]
        stored.receipt = None
        if session is not None:
            session.messages.remove(stored)
            session.in_flight -= 1

    def _return_to_queue(
        self, state: _Queue, stored: _StoredMessage, session: _Session | None, now: float
    ) -> RejectOutcome:
        """Undo a delivery; dead-letter instead when the message used up its deliveries."""
        exhausted = stored.delivery_count >= state.settings.max_delivery_count
        if exhausted:
            self._remove_in_flight(state, stored, session)
            self._append_dead_letter(state, stored, MAX_DELIVERY_COUNT_EXCEEDED, now)
            return RejectOutcome.DEAD_LETTERED
        del state.in_flight[stored.receipt]  # type: ignore[arg-type]
        stored.receipt = None
        stored.locked_until = _INFINITY
        if session is not None:
            session.in_flight -= 1  # it keeps its place at the front of the session
        else:
            self._requeue_in_order(state, stored)
        return RejectOutcome.REQUEUED

    @staticmethod
    def _requeue_in_order(state: _Queue, stored: _StoredMessage) -> None:
        # Returned messages go back in front, oldest first, ahead of never-delivered ones.
        position = len(state.ready)
        for index, waiting in enumerate(state.ready):
            if waiting.delivery_count == 0 or waiting.sequence > stored.sequence:
                position = index
                break
        state.ready.insert(position, stored)

    def _unlock_session(self, state: _Queue, session_id: str, session: _Session, now: float) -> None:
        for stored in [m for m in session.messages if m.receipt is not None]:
            self._return_to_queue(state, stored, session, now)
        session.holder = None
        session.lock_expires = _INFINITY
        if not session.messages:
            del state.sessions[session_id]

    def _append_dead_letter(self, state: _Queue, stored: _StoredMessage, reason: str, now: float) -> None:
        state.dead_letters.append(
            DeadLetteredMessage(
                message_id=stored.message_id,
                body=stored.body,
                properties=dict(stored.properties),
                session_id=stored.session_id,
                delivery_count=stored.delivery_count,
                enqueued_time=datetime.fromtimestamp(stored.enqueued_at, timezone.utc),
                reason=reason,
                dead_lettered_time=datetime.fromtimestamp(now, timezone.utc),
            )
        )

    def _expire_locks(self, state: _Queue, now: float) -> None:
        if now < state.earliest_deadline:
            return
        expired = [m for m in state.in_flight.values() if m.locked_until <= now]
        for stored in sorted(expired, key=lambda m: m.sequence):
            self._return_to_queue(state, stored, None, now)
        for session_id, session in list(state.sessions.items()):
            if session.holder is not None and session.lock_expires <= now:
                self._unlock_session(state, session_id, session, now)
        deadlines = [m.locked_until for m in state.in_flight.values()]
        deadlines.extend(s.lock_expires for s in state.sessions.values() if s.holder is not None)
        state.earliest_deadline = min(deadlines, default=_INFINITY)
        if expired:
            self._condition.notify_all()

    @staticmethod
    def _delivery(queue: str, stored: _StoredMessage) -> ReceivedMessage:
        return ReceivedMessage(
            queue=queue,
            message_id=stored.message_id,
            body=stored.body,
            properties=dict(stored.properties),
            receipt=stored.receipt,  # type: ignore[arg-type]
            delivery_count=stored.delivery_count,
            enqueued_time=datetime.fromtimestamp(stored.enqueued_at, timezone.utc),
            session_id=stored.session_id,
        )


class InMemoryQueueClient:
    """A :class:`~queue_telemetry.QueueClient` of an :class:`InMemoryBroker`.

    Also implements :class:`~queue_telemetry.SupportsDepth` and
    :class:`~queue_telemetry.SupportsSessions`. Thread-safe; session locks belong to the
    client, so threads sharing one client share its sessions. :meth:`close` releases the
    client's sessions; afterwards every call raises :class:`QueueClosedError`.
    """

    def __init__(self, broker: InMemoryBroker, client_id: int) -> None:
        self._broker = broker
        self._client_id = client_id
        self._closed = False

    @property
    def broker(self) -> InMemoryBroker:
        return self._broker

    def send(self, queue: str, message: OutgoingMessage, session_id: str | None = None) -> str:
        self._check_open()
        return self._broker._send(queue, (message,), session_id)[0]

    def send_batch(
        self, queue: str, messages: Sequence[OutgoingMessage], session_id: str | None = None
    ) -> list[str]:
        self._check_open()
        return self._broker._send(queue, messages, session_id)

    def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        session_id: str | None = None,
    ) -> list[ReceivedMessage]:
        self._check_open()
        return self._broker._receive(self._client_id, queue, max_messages, wait_seconds, session_id)

    def acknowledge(self, message: ReceivedMessage) -> None:
        self._check_open()
        self._broker._acknowledge(self._client_id, message)

    def reject(self, message: ReceivedMessage) -> RejectOutcome:
        self._check_open()
        return self._broker._reject(self._client_id, message)

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        self._check_open()
        self._broker._dead_letter(self._client_id, message, reason)

    def depth(self, queue: str) -> int:
        self._check_open()
        return self._broker._depth(queue)

    def dead_letter_depth(self, queue: str) -> int:
        self._check_open()
        return self._broker._dead_letter_depth(queue)

    def accept_session(
        self, queue: str, session_id: str | None = None, wait_seconds: float = 0.0
    ) -> str | None:
        self._check_open()
        return self._broker._accept_session(self._client_id, queue, session_id, wait_seconds)

    def release_session(self, queue: str, session_id: str) -> None:
        self._check_open()
        self._broker._release_session(self._client_id, queue, session_id)

    def renew_session_lock(self, queue: str, session_id: str) -> None:
        """Restart the session lock's timeout; raises :class:`SessionLockLostError` if lost."""
        self._check_open()
        self._broker._renew_session_lock(self._client_id, queue, session_id)

    def close(self) -> None:
        """Release this client's sessions; idempotent."""
        if not self._closed:
            self._closed = True
            self._broker._release_all_sessions(self._client_id)

    def _check_open(self) -> None:
        if self._closed:
            raise QueueClosedError("the in-memory queue client is closed")

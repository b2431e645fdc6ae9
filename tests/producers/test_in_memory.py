"""Semantics of the in-memory broker: locks, redelivery, dead-lettering, sessions, depth."""

from __future__ import annotations

import threading
import time

import pytest

from queue_telemetry import (
    InMemoryBroker,
    ManualClock,
    MessageLockLostError,
    OutgoingMessage,
    QueueClient,
    QueueClosedError,
    QueueNotFoundError,
    QueueSettings,
    RejectOutcome,
    SessionLockedError,
    SessionLockLostError,
    SupportsDepth,
    SupportsSessions,
)


def message(text: str, **properties: str) -> OutgoingMessage:
    return OutgoingMessage(text.encode(), properties)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def broker(clock: ManualClock) -> InMemoryBroker:
    return InMemoryBroker(
        settings=QueueSettings(visibility_timeout=30, max_delivery_count=3, session_lock_timeout=60),
        clock=clock,
    )


def test_client_implements_the_protocols(broker: InMemoryBroker) -> None:
    client = broker.client()
    assert isinstance(client, QueueClient)
    assert isinstance(client, SupportsDepth)
    assert isinstance(client, SupportsSessions)


def test_send_receive_acknowledge_round_trip(broker: InMemoryBroker) -> None:
    client = broker.client()
    message_id = client.send("q", message("hello", colour="blue"))
    [received] = client.receive("q")
    assert received.message_id == message_id
    assert received.body == b"hello"
    assert received.properties == {"colour": "blue"}
    assert received.delivery_count == 1
    assert received.queue == "q"
    assert received.enqueued_time.tzinfo is not None
    client.acknowledge(received)
    assert client.receive("q") == []
    assert client.depth("q") == 0
    with pytest.raises(MessageLockLostError):
        client.acknowledge(received)


def test_explicit_message_id_is_kept(broker: InMemoryBroker) -> None:
    client = broker.client()
    assert client.send("q", OutgoingMessage(b"x", message_id="order-7")) == "order-7"
    assert client.receive("q")[0].message_id == "order-7"


def test_received_message_is_invisible_until_the_visibility_timeout(broker: InMemoryBroker, clock: ManualClock) -> None:
    client = broker.client()
    client.send("q", message("a"))
    [first] = client.receive("q")
    assert client.receive("q") == []
    assert client.depth("q") == 0
    clock.advance(29.9)
    assert client.receive("q") == []
    clock.advance(0.2)
    assert client.depth("q") == 1
    [again] = client.receive("q")
    assert again.message_id == first.message_id
    assert again.delivery_count == 2
    assert again.receipt != first.receipt
    with pytest.raises(MessageLockLostError):
        client.acknowledge(first)  # the old receipt died with its lock
    client.acknowledge(again)


def test_reject_redelivers_ahead_of_newer_messages(broker: InMemoryBroker) -> None:
    client = broker.client()
    client.send("q", message("first"))
    client.send("q", message("second"))
    [first] = client.receive("q")
    assert client.reject(first) is RejectOutcome.REQUEUED
    [again] = client.receive("q")
    assert again.body == b"first"
    assert again.delivery_count == 2


def test_dead_letter_after_max_deliveries(broker: InMemoryBroker) -> None:
    client = broker.client()
    client.send("q", message("poison"))
    outcomes = []
    for expected_count in (1, 2, 3):
        [delivered] = client.receive("q")
        assert delivered.delivery_count == expected_count
        outcomes.append(client.reject(delivered))
    assert outcomes == [RejectOutcome.REQUEUED, RejectOutcome.REQUEUED, RejectOutcome.DEAD_LETTERED]
    assert client.receive("q") == []
    assert client.depth("q") == 0
    assert client.dead_letter_depth("q") == 1
    [dead] = broker.dead_letters("q")
    assert dead.reason == "max_delivery_count_exceeded"
    assert dead.delivery_count == 3
    assert dead.body == b"poison"


def test_expired_locks_also_count_towards_dead_lettering(broker: InMemoryBroker, clock: ManualClock) -> None:
    client = broker.client()
    client.send("q", message("slow"))
    for _ in range(3):
        assert len(client.receive("q")) == 1
        clock.advance(31)
    assert client.dead_letter_depth("q") == 1
    assert broker.dead_letters("q")[0].reason == "max_delivery_count_exceeded"


def test_explicit_dead_letter_keeps_the_reason(broker: InMemoryBroker) -> None:
    client = broker.client()
    client.send("q", message("bad"))
    [received] = client.receive("q")
    client.dead_letter(received, "processing_failed")
    assert [d.reason for d in broker.dead_letters("q")] == ["processing_failed"]
    assert client.dead_letter_depth("q") == 1


def test_batch_send_and_receive_in_order(broker: InMemoryBroker) -> None:
    client = broker.client()
    ids = client.send_batch("q", [message(str(i)) for i in range(5)])
    assert len(set(ids)) == 5
    received = client.receive("q", max_messages=3)
    assert [m.body for m in received] == [b"0", b"1", b"2"]
    assert client.depth("q") == 2


def test_sessions_are_exclusive_and_ordered(broker: InMemoryBroker) -> None:
    alice, bob = broker.client(), broker.client()
    producer = broker.client()
    for i in range(4):
        producer.send("payments", message(str(i)), session_id="account-1")
    producer.send("payments", message("other"), session_id="account-2")
    producer.send("payments", message("plain"))

    assert alice.accept_session("payments", "account-1") == "account-1"
    with pytest.raises(SessionLockedError):
        bob.accept_session("payments", "account-1")
    with pytest.raises(SessionLockLostError):
        bob.receive("payments", session_id="account-1")
    # Without a session id only messages outside sessions are delivered.
    assert [m.body for m in bob.receive("payments", max_messages=10)] == [b"plain"]
    # Without an id, accept picks a session that is free and has messages.
    assert bob.accept_session("payments") == "account-2"

    first_two = alice.receive("payments", max_messages=2, session_id="account-1")
    assert [m.body for m in first_two] == [b"0", b"1"]
    # Strict order: nothing more while earlier messages are being processed.
    assert alice.receive("payments", max_messages=2, session_id="account-1") == []
    alice.acknowledge(first_two[0])
    assert alice.reject(first_two[1]) is RejectOutcome.REQUEUED
    redelivered = alice.receive("payments", max_messages=10, session_id="account-1")
    assert [(m.body, m.delivery_count) for m in redelivered] == [(b"1", 2), (b"2", 1), (b"3", 1)]
    with pytest.raises(SessionLockLostError):
        bob.acknowledge(redelivered[0])  # settling needs the session lock too
    for received in redelivered:
        alice.acknowledge(received)
    alice.release_session("payments", "account-1")
    assert bob.accept_session("payments") is None  # account-2 is held by bob, account-1 is empty


def test_release_returns_unsettled_session_messages(broker: InMemoryBroker) -> None:
    holder, other = broker.client(), broker.client()
    holder.send("s", message("a"), session_id="x")
    holder.accept_session("s", "x")
    [received] = holder.receive("s", session_id="x")
    assert holder.depth("s") == 0
    holder.release_session("s", "x")
    assert holder.depth("s") == 1
    assert other.accept_session("s") == "x"
    [again] = other.receive("s", session_id="x")
    assert again.message_id == received.message_id
    assert again.delivery_count == 2


def test_session_lock_times_out(broker: InMemoryBroker, clock: ManualClock) -> None:
    holder, other = broker.client(), broker.client()
    holder.send("s", message("a"), session_id="x")
    holder.accept_session("s", "x")
    [received] = holder.receive("s", session_id="x")
    clock.advance(61)
    with pytest.raises(SessionLockLostError):
        holder.acknowledge(received)
    assert other.accept_session("s") == "x"
    assert other.receive("s", session_id="x")[0].delivery_count == 2


def test_activity_renews_the_session_lock(broker: InMemoryBroker, clock: ManualClock) -> None:
    holder = broker.client()
    holder.accept_session("s", "x")
    for _ in range(3):
        clock.advance(50)
        holder.renew_session_lock("s", "x")
    holder.release_session("s", "x")


def test_blocking_receive_wakes_when_a_message_arrives(broker: InMemoryBroker) -> None:
    client = broker.client()
    results = []
    ready = threading.Event()

    def consume() -> None:
        ready.set()
        results.extend(client.receive("q", wait_seconds=10))

    consumer = threading.Thread(target=consume)
    consumer.start()
    ready.wait(5)
    started = time.monotonic()
    client.send("q", message("late"))
    consumer.join(10)
    assert not consumer.is_alive()
    assert [m.body for m in results] == [b"late"]
    assert time.monotonic() - started < 5


def test_blocking_receive_gives_up_after_wait_seconds(broker: InMemoryBroker) -> None:
    started = time.monotonic()
    assert broker.client().receive("q", wait_seconds=0.05) == []
    assert 0.04 <= time.monotonic() - started < 2


def test_unknown_queue_without_auto_create(clock: ManualClock) -> None:
    broker = InMemoryBroker(clock=clock, auto_create_queues=False)
    with pytest.raises(QueueNotFoundError):
        broker.client().send("missing", message("x"))
    broker.create_queue("present")
    broker.client().send("present", message("x"))


def test_closed_client_refuses_and_releases_sessions(broker: InMemoryBroker) -> None:
    client, other = broker.client(), broker.client()
    client.send("s", message("a"), session_id="x")
    client.accept_session("s", "x")
    client.close()
    with pytest.raises(QueueClosedError):
        client.send("s", message("b"))
    assert other.accept_session("s") == "x"


def test_concurrent_consumers_settle_each_message_once(broker: InMemoryBroker) -> None:
    producer = broker.client()
    producer.send_batch("q", [message(str(i)) for i in range(500)])
    seen: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        client = broker.client()
        while True:
            batch = client.receive("q", max_messages=7)
            if not batch:
                return
            for received in batch:
                client.acknowledge(received)
                with lock:
                    seen.append(received.message_id)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 500 == len(set(seen))

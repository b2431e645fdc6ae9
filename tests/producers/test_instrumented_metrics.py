"""Metrics of the instrumented client agree with the catalog and count each event once."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics._internal.point import Gauge, Histogram, Sum

from queue_telemetry import (
    InMemoryBroker,
    InstrumentedQueueClient,
    OutgoingMessage,
    QueueSettings,
    QueueUnavailableError,
    catalog,
)
from queue_telemetry.catalog import InstrumentKind

_KIND_CHECKS = {
    InstrumentKind.COUNTER: lambda data: isinstance(data, Sum) and data.is_monotonic,
    InstrumentKind.UP_DOWN_COUNTER: lambda data: isinstance(data, Sum) and not data.is_monotonic,
    InstrumentKind.HISTOGRAM: lambda data: isinstance(data, Histogram),
    InstrumentKind.GAUGE: lambda data: isinstance(data, Gauge),
}


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(settings=QueueSettings(max_delivery_count=2))


@pytest.fixture
def client(broker: InMemoryBroker, telemetry) -> InstrumentedQueueClient:
    return InstrumentedQueueClient(
        broker.client(), tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )


def run_everything(client: InstrumentedQueueClient) -> None:
    """Exercise every instrument the client records."""
    client.send("orders", OutgoingMessage(b"1"))
    client.send_batch("orders", [OutgoingMessage(b"2"), OutgoingMessage(b"3")])
    first, second, third = client.receive("orders", max_messages=3)
    with client.process(first):
        client.acknowledge(first)
    with pytest.raises(RuntimeError):
        with client.process(second):
            client.reject(second)
            raise RuntimeError("handler failed")
    client.dead_letter(third, "processing_failed")
    [again] = client.receive("orders")
    client.reject(again)  # dead-lettered by the broker (max 2 deliveries)
    client.send("payments", OutgoingMessage(b"p"), session_id="account-1")
    assert client.accept_session("payments") == "account-1"
    [payment] = client.receive("payments", session_id="account-1")
    client.acknowledge(payment)
    client.release_session("payments", "account-1")


def test_every_recorded_metric_matches_the_catalog(client: InstrumentedQueueClient, telemetry) -> None:
    run_everything(client)
    recorded = telemetry.metrics()
    generic = {spec.name for spec in catalog.INSTRUMENTS if spec.provider is None and spec.name != "queue.health.status"}
    generic -= {"queue.dlq.recovery.attempts", "queue.dlq.recovery.successes"}
    assert generic <= set(recorded), f"not recorded: {generic - set(recorded)}"
    for name, metric in recorded.items():
        spec = catalog.instrument(name)
        assert metric.unit == spec.unit, name
        assert metric.description == spec.description, name
        assert _KIND_CHECKS[spec.kind](metric.data), (name, type(metric.data))
        allowed = set(spec.attributes) | set(spec.optional_attributes)
        for point in metric.data.data_points:
            keys = set(point.attributes)
            assert set(spec.attributes) <= keys, (name, keys)
            assert keys <= allowed, (name, keys - allowed)
            for value in point.attributes.values():
                assert len(str(value)) < 40  # no ids or other unbounded values


def test_counts(client: InstrumentedQueueClient, telemetry) -> None:
    run_everything(client)
    orders = {"messaging__destination__name": "orders", "messaging__system": "in_memory"}
    assert telemetry.value("messaging.client.sent.messages", **orders) == 3
    assert telemetry.value("messaging.client.consumed.messages", **orders) == 4
    assert telemetry.value("queue.messages.acknowledged", **orders) == 1
    assert telemetry.value("queue.messages.rejected", **orders) == 2
    assert telemetry.value("queue.messages.dead_lettered", **orders) == 2
    assert telemetry.value(
        "queue.messages.dead_lettered", **orders, queue__dead_letter__reason="max_delivery_count_exceeded"
    ) == 1
    assert telemetry.value(
        "queue.messages.dead_lettered", **orders, queue__dead_letter__reason="processing_failed"
    ) == 1
    assert telemetry.value("queue.messages.in_flight", **orders) == 0
    assert telemetry.value(
        "queue.errors", **orders, queue__error__operation="process", error__type="RuntimeError"
    ) == 1
    assert telemetry.value("messaging.process.duration", **orders) == 2  # histogram count
    assert telemetry.value("messaging.process.duration", **orders, error__type="RuntimeError") == 1
    send_durations = telemetry.value(
        "messaging.client.operation.duration", **orders, messaging__operation__type="send"
    )
    assert send_durations == 2
    settles = telemetry.value(
        "messaging.client.operation.duration", **orders, messaging__operation__type="settle"
    )
    assert settles == 4

    payments = {"messaging__destination__name": "payments"}
    assert telemetry.value("queue.sessions.created", **payments) == 1
    assert telemetry.value("queue.sessions.closed", **payments) == 1
    assert telemetry.value("queue.sessions.active", **payments) == 0
    assert telemetry.value("queue.session.duration", **payments) == 1


def test_histogram_boundaries_come_from_the_catalog(client: InstrumentedQueueClient, telemetry) -> None:
    run_everything(client)
    for name in ("messaging.client.operation.duration", "messaging.process.duration", "queue.session.duration"):
        [(_, point)] = telemetry.points(name)[:1]
        assert tuple(point.explicit_bounds) == catalog.instrument(name).buckets


def test_depth_gauges_report_each_queue(client: InstrumentedQueueClient, broker: InMemoryBroker, telemetry) -> None:
    client.send_batch("orders", [OutgoingMessage(b"1"), OutgoingMessage(b"2"), OutgoingMessage(b"3")])
    [message] = client.receive("orders")
    client.dead_letter(message, "something odd")
    client.observe_queue("idle")
    depth = {attrs["messaging.destination.name"]: point.value for attrs, point in telemetry.points("queue.depth")}
    dlq = {attrs["messaging.destination.name"]: point.value for attrs, point in telemetry.points("queue.dlq.depth")}
    assert depth == {"orders": 2, "idle": 0}
    assert dlq == {"orders": 1, "idle": 0}
    reasons = {attrs["queue.dead_letter.reason"] for attrs, _ in telemetry.points("queue.messages.dead_lettered")}
    assert reasons == {"_OTHER"}


def test_clients_sharing_a_meter_provider_share_instruments(broker: InMemoryBroker, telemetry) -> None:
    clients = [
        InstrumentedQueueClient(broker.client(), tracer_provider=telemetry.tracer_provider,
                                meter_provider=telemetry.meter_provider)
        for _ in range(3)
    ]
    for each in clients:
        each.send("orders", OutgoingMessage(b"x"))
    assert telemetry.value("messaging.client.sent.messages") == 3
    assert len(telemetry.points("queue.depth")) == 1  # one series per queue, not per client


class _Unavailable:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise QueueUnavailableError("down")

        return fail


def test_failures_are_counted_apart_from_successes(telemetry) -> None:
    client = InstrumentedQueueClient(
        _Unavailable(), tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    for call in (
        lambda: client.send("q", OutgoingMessage(b"1")),
        lambda: client.send_batch("q", [OutgoingMessage(b"1"), OutgoingMessage(b"2")]),
        lambda: client.receive("q"),
    ):
        with pytest.raises(QueueUnavailableError):
            call()
    sent = telemetry.points("messaging.client.sent.messages")
    assert [(attrs.get("error.type"), point.value) for attrs, point in sent] == [("unavailable", 3)]
    assert telemetry.value("queue.errors", queue__error__operation="send", error__type="unavailable") == 2
    assert telemetry.value("queue.errors", queue__error__operation="receive", error__type="unavailable") == 1
    assert telemetry.points("messaging.client.consumed.messages") == []


def test_dlq_recovery_attempts_and_successes(telemetry) -> None:
    from queue_telemetry import InMemoryBroker, InstrumentedQueueClient

    client = InstrumentedQueueClient(InMemoryBroker().client(), meter_provider=telemetry.meter_provider)
    with client.dlq_recovery("orders"):
        pass
    try:
        with client.dlq_recovery("orders"):
            raise RuntimeError("could not move it")
    except RuntimeError:
        pass
    assert telemetry.value("queue.dlq.recovery.attempts", messaging__destination__name="orders") == 2
    assert telemetry.value("queue.dlq.recovery.successes", messaging__destination__name="orders") == 1

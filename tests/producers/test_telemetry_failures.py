"""A telemetry failure never breaks the queue call; it is counted and logged instead."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import NoOpTracerProvider

from queue_telemetry import (
    InMemoryBroker,
    InstrumentedQueueClient,
    MessageLockLostError,
    OutgoingMessage,
    telemetry_stats,
)


class _ExplodingInstrument:
    def add(self, *args, **kwargs):
        raise RuntimeError("instrument exploded")

    record = add


class _ExplodingMeter:
    def __getattr__(self, name):
        return lambda *args, **kwargs: _ExplodingInstrument()


class _ExplodingMeterProvider:
    def get_meter(self, *args, **kwargs):
        return _ExplodingMeter()


class _ExplodingTracerProvider:
    def get_tracer(self, *args, **kwargs):
        return self

    def start_span(self, *args, **kwargs):
        raise RuntimeError("tracer exploded")


def workload(client: InstrumentedQueueClient) -> None:
    message_id = client.send("q", OutgoingMessage(b"1"))
    client.send_batch("q", [OutgoingMessage(b"2")])
    first, second = client.receive("q", max_messages=2)
    assert first.message_id == message_id
    with client.process(first):
        client.acknowledge(first)
    client.reject(second)
    [again] = client.receive("q")
    client.dead_letter(again, "processing_failed")
    client.send("s", OutgoingMessage(b"3"), session_id="x")
    assert client.accept_session("s") == "x"
    client.release_session("s", "x")


def test_exploding_instruments_do_not_break_queue_calls(caplog) -> None:
    before = telemetry_stats().instrumentation_failures
    client = InstrumentedQueueClient(
        InMemoryBroker().client(), tracer_provider=NoOpTracerProvider(),
        meter_provider=_ExplodingMeterProvider(),
    )
    with caplog.at_level(logging.WARNING, logger="queue_telemetry.instrumentation"):
        workload(client)
    assert telemetry_stats().instrumentation_failures > before
    assert any("Telemetry hook" in record.getMessage() for record in caplog.records)


def test_exploding_tracer_does_not_break_queue_calls(telemetry) -> None:
    before = otel_context.get_current()
    client = InstrumentedQueueClient(
        InMemoryBroker().client(), tracer_provider=_ExplodingTracerProvider(),
        meter_provider=telemetry.meter_provider,
    )
    workload(client)
    assert otel_context.get_current() == before
    # Metrics still work when tracing does not.
    assert telemetry.value("messaging.client.sent.messages") == 3


def test_exploding_propagator_sends_the_message_unchanged(telemetry, monkeypatch) -> None:
    class Exploding:
        fields = set()

        def inject(self, *args, **kwargs):
            raise RuntimeError("propagator exploded")

        def extract(self, *args, **kwargs):
            raise RuntimeError("propagator exploded")

    monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", CompositePropagator([Exploding()]))
    client = InstrumentedQueueClient(
        InMemoryBroker().client(), tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    workload(client)
    assert len([s for s in telemetry.finished_spans() if s.name == "send q"]) == 2


def test_failing_depth_skips_only_that_queue(telemetry) -> None:
    broker = InMemoryBroker()

    class HalfBroken:
        def __init__(self) -> None:
            self._inner = broker.client()

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def depth(self, queue):
            if queue == "broken":
                raise ConnectionError("depth unavailable")
            return self._inner.depth(queue)

        def dead_letter_depth(self, queue):
            return self._inner.dead_letter_depth(queue)

        # Protocol members must be visible on the class for isinstance checks.
        def send(self, *a, **k):
            return self._inner.send(*a, **k)

    client = InstrumentedQueueClient(
        HalfBroken(), tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    client.send("fine", OutgoingMessage(b"1"))
    client.send("broken", OutgoingMessage(b"1"))
    depth = {attrs["messaging.destination.name"]: point.value for attrs, point in telemetry.points("queue.depth")}
    assert depth == {"fine": 1}


def test_queue_errors_are_reraised_unchanged(telemetry) -> None:
    client = InstrumentedQueueClient(
        InMemoryBroker().client(), tracer_provider=telemetry.tracer_provider,
        meter_provider=_ExplodingMeterProvider(),
    )
    client.send("q", OutgoingMessage(b"1"))
    [message] = client.receive("q")
    client.acknowledge(message)
    with pytest.raises(MessageLockLostError) as raised:
        client.acknowledge(message)
    assert raised.type is MessageLockLostError

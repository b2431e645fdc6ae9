"""Spans of the instrumented client: names, kinds, attributes, links, ending, context."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from queue_telemetry import (
    InMemoryBroker,
    InstrumentedQueueClient,
    MessageLockLostError,
    OutgoingMessage,
    QueueSettings,
    QueueUnavailableError,
)


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(settings=QueueSettings(max_delivery_count=2))


@pytest.fixture
def client(broker: InMemoryBroker, telemetry) -> InstrumentedQueueClient:
    return InstrumentedQueueClient(
        broker.client(), system="in_memory", tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider, server_address="broker.local",
    )


def test_send_span(client: InstrumentedQueueClient, telemetry) -> None:
    message_id = client.send("orders", OutgoingMessage(b"x"), session_id="s-1")
    span = telemetry.span("send orders")
    assert span.kind is SpanKind.PRODUCER
    assert dict(span.attributes) == {
        "messaging.system": "in_memory",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "orders",
        "messaging.message.id": message_id,
        "server.address": "broker.local",
        "queue.session.id": "s-1",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_send_batch_span(client: InstrumentedQueueClient, telemetry) -> None:
    client.send_batch("news", [OutgoingMessage(b"a"), OutgoingMessage(b"b"), OutgoingMessage(b"c")])
    span = telemetry.span("send news")
    assert span.attributes["messaging.batch.message_count"] == 3
    assert "messaging.message.id" not in span.attributes
    assert span.kind is SpanKind.CLIENT
    creates = [s for s in telemetry.finished_spans() if s.name == "create news"]
    assert len(creates) == 3 and all(s.kind is SpanKind.PRODUCER for s in creates)
    assert all(s.parent.span_id == span.context.span_id for s in creates)
    assert {link.context.span_id for link in span.links} == {s.context.span_id for s in creates}
    received = client.receive("news", max_messages=10)
    # Each message carries its own creation context.
    carried = {m.properties["traceparent"].split("-")[2] for m in received}
    assert carried == {format(s.context.span_id, "016x") for s in creates}


def test_send_batch_without_create_spans(broker: InMemoryBroker, telemetry) -> None:
    client = InstrumentedQueueClient(
        broker.client(), tracer_provider=telemetry.tracer_provider, create_spans=False
    )
    client.send_batch("news", [OutgoingMessage(b"a"), OutgoingMessage(b"b")])
    span = telemetry.span("send news")
    assert span.kind is SpanKind.PRODUCER
    received = client.receive("news", max_messages=10)
    assert {m.properties["traceparent"] for m in received} == {received[0].properties["traceparent"]}


def test_temporary_destinations_get_bare_names_and_no_metric_label(broker: InMemoryBroker, telemetry) -> None:
    client = InstrumentedQueueClient(
        broker.client(), tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider, is_temporary=lambda q: q.startswith("tmp-"),
    )
    client.send("tmp-reply-42", OutgoingMessage(b"a"))
    span = telemetry.span("send")
    assert span.attributes["messaging.destination.temporary"] is True
    for attributes, _point in telemetry.points("messaging.client.sent.messages"):
        assert "messaging.destination.name" not in attributes


def test_receive_span_links_to_creation_contexts(client: InstrumentedQueueClient, telemetry) -> None:
    client.send("orders", OutgoingMessage(b"1"))
    client.send("orders", OutgoingMessage(b"2"))
    received = client.receive("orders", max_messages=5)
    span = telemetry.span("receive orders")
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["messaging.operation.type"] == "receive"
    assert span.attributes["messaging.batch.message_count"] == 2
    send_span_ids = {s.context.span_id for s in telemetry.finished_spans() if s.name == "send orders"}
    assert {link.context.span_id for link in span.links} == send_span_ids
    assert len(received) == 2


def test_single_receive_records_the_message_id(client: InstrumentedQueueClient, telemetry) -> None:
    message_id = client.send("orders", OutgoingMessage(b"1"))
    client.receive("orders")
    span = telemetry.span("receive orders")
    assert span.attributes["messaging.message.id"] == message_id
    assert "messaging.batch.message_count" not in span.attributes


def test_process_span_is_linked_not_parented(client: InstrumentedQueueClient, telemetry) -> None:
    client.send("orders", OutgoingMessage(b"1"))
    [message] = client.receive("orders")
    before = otel_context.get_current()
    with client.process(message) as span:
        assert trace.get_current_span() is span
        client.acknowledge(message)
    assert otel_context.get_current() == before

    send = telemetry.span("send orders")
    process = telemetry.span("process orders")
    ack = telemetry.span("ack orders")
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is None
    assert process.context.trace_id != send.context.trace_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["messaging.message.id"] == message.message_id
    assert ack.parent.span_id == process.context.span_id
    assert ack.kind is SpanKind.CLIENT
    assert ack.attributes["messaging.operation.type"] == "settle"
    assert ack.attributes["messaging.operation.name"] == "ack"


def test_process_span_parented_when_asked(broker: InMemoryBroker, telemetry) -> None:
    client = InstrumentedQueueClient(
        broker.client(), tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider, parent_process_from_message=True,
    )
    client.send("orders", OutgoingMessage(b"1"))
    [message] = client.receive("orders")
    with client.process(message):
        pass
    send = telemetry.span("send orders")
    process = telemetry.span("process orders")
    assert process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]


def test_process_parent_from_environment(broker: InMemoryBroker, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_QUEUE_PROCESS_PARENT", "true")
    client = InstrumentedQueueClient(broker.client(), tracer_provider=telemetry.tracer_provider)
    client.send("q", OutgoingMessage(b"1"))
    with client.process(client.receive("q")[0]):
        pass
    assert telemetry.span("process q").parent is not None


def test_process_failure_ends_span_with_error_and_restores_context(client: InstrumentedQueueClient, telemetry) -> None:
    client.send("orders", OutgoingMessage(b"1"))
    [message] = client.receive("orders")
    before = otel_context.get_current()
    with pytest.raises(ValueError, match="bad order"):
        with client.process(message):
            raise ValueError("bad order")
    assert otel_context.get_current() == before
    process = telemetry.span("process orders")
    assert process.end_time is not None
    assert process.status.status_code is StatusCode.ERROR
    assert process.attributes["error.type"] == "ValueError"
    assert [event.name for event in process.events] == ["exception"]


def test_settle_spans(client: InstrumentedQueueClient, telemetry, broker: InMemoryBroker) -> None:
    client.send("orders", OutgoingMessage(b"1"))
    client.send("orders", OutgoingMessage(b"2"))
    first, second = client.receive("orders", max_messages=2)
    client.reject(first)
    client.dead_letter(second, "processing_failed")
    [again] = client.receive("orders")
    client.reject(again)  # second delivery of max 2: the broker dead-letters it
    nacks = [s for s in telemetry.finished_spans() if s.name == "nack orders"]
    assert len(nacks) == 2
    assert all(s.attributes["messaging.operation.type"] == "settle" for s in nacks)
    assert nacks[1].attributes["queue.dead_letter.reason"] == "max_delivery_count_exceeded"
    dead = telemetry.span("dead_letter orders")
    assert dead.attributes["messaging.operation.name"] == "dead_letter"
    assert dead.attributes["queue.dead_letter.reason"] == "processing_failed"
    assert dead.attributes["messaging.message.id"] == second.message_id
    assert broker.client().dead_letter_depth("orders") == 2


def test_failed_settle_ends_span_and_reraises_unchanged(client: InstrumentedQueueClient, telemetry) -> None:
    client.send("orders", OutgoingMessage(b"1"))
    [message] = client.receive("orders")
    client.acknowledge(message)
    with pytest.raises(MessageLockLostError):
        client.acknowledge(message)
    failed = [s for s in telemetry.finished_spans() if s.name == "ack orders"][1]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "message_lock_lost"


class _BrokenBroker:
    """A client whose every operation fails like an unreachable broker."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise QueueUnavailableError(f"{name}: broker unreachable")

        return fail


def test_failed_send_and_receive_spans(telemetry) -> None:
    client = InstrumentedQueueClient(
        _BrokenBroker(), tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    before = otel_context.get_current()
    error = None
    try:
        client.send("orders", OutgoingMessage(b"1"))
    except QueueUnavailableError as raised:
        error = raised
    assert error is not None and "broker unreachable" in str(error)
    with pytest.raises(QueueUnavailableError):
        client.receive("orders")
    assert otel_context.get_current() == before
    for name in ("send orders", "receive orders"):
        span = telemetry.span(name)
        assert span.end_time is not None
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "unavailable"


def test_consume_yields_each_message_inside_its_process_span(client: InstrumentedQueueClient, telemetry) -> None:
    for i in range(3):
        client.send("q", OutgoingMessage(str(i).encode()))
    bodies = []
    for message in client.consume("q", max_messages=2, wait_seconds=0, stop_when_empty=True):
        assert trace.get_current_span().name == "process q"
        bodies.append(message.body)
        client.acknowledge(message)
    assert bodies == [b"0", b"1", b"2"]
    processes = [s for s in telemetry.finished_spans() if s.name == "process q"]
    assert len(processes) == 3
    assert all(s.status.status_code is StatusCode.UNSET for s in processes)
    assert not trace.get_current_span().get_span_context().is_valid


def test_consume_stopped_early_ends_the_span_cleanly(client: InstrumentedQueueClient, telemetry) -> None:
    client.send("q", OutgoingMessage(b"0"))
    client.send("q", OutgoingMessage(b"1"))
    for message in client.consume("q", wait_seconds=0, stop_when_empty=True):
        client.acknowledge(message)
        break
    processes = [s for s in telemetry.finished_spans() if s.name == "process q"]
    assert len(processes) == 1
    assert processes[0].status.status_code is StatusCode.UNSET


def test_log_records_carry_trace_and_span_ids(broker: InMemoryBroker, telemetry, log_exporter) -> None:
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    logger_provider, exporter = log_exporter
    logger = logging.getLogger("test.queue.logs")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    try:
        client = InstrumentedQueueClient(
            broker.client(), tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider, logger=logger,
        )
        client.send("orders", OutgoingMessage(b"1"))
        [message] = client.receive("orders")
        client.acknowledge(message)
    finally:
        logger.removeHandler(handler)
    records = [item.log_record for item in exporter.get_finished_logs()]
    assert len(records) == 3
    spans = {s.name: s for s in telemetry.finished_spans()}
    for record, span_name in zip(records, ("send orders", "receive orders", "ack orders")):
        assert record.trace_id == spans[span_name].context.trace_id
        assert record.span_id == spans[span_name].context.span_id
        assert record.attributes["messaging.destination.name"] == "orders"

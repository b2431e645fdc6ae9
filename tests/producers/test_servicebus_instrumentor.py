"""ServiceBusInstrumentor with the SDK's real handlers and messages over a fake transport."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusQuotaExceededError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from queue_telemetry import OutgoingMessage
from queue_telemetry.propagation import ServiceBusPropertiesGetter, servicebus_creation_context
from queue_telemetry.servicebus import ServiceBusInstrumentor, instrumented_servicebus_client, process

from .servicebus_fake import FakeNamespace

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def namespace(telemetry, clock) -> Iterator[FakeNamespace]:
    instrumentor = ServiceBusInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider,
                            clock=clock)
    yield FakeNamespace()
    instrumentor.uninstrument()


def spans_named(telemetry, name: str) -> list[Any]:
    return [s for s in telemetry.finished_spans() if s.name == name]


def test_send_single_message_is_its_creation_context(namespace, telemetry) -> None:
    client = namespace.client()
    message = ServiceBusMessage("x", application_properties={"a": "b"}, message_id="m-1", correlation_id="c-1")
    client.get_queue_sender("orders").send_messages(message)
    span = telemetry.span("send orders")
    assert span.kind is SpanKind.PRODUCER
    assert span.attributes["messaging.system"] == "servicebus"
    assert span.attributes["messaging.message.id"] == "m-1"
    assert span.attributes["messaging.message.conversation_id"] == "c-1"
    assert span.attributes["server.address"] == "fake-ns.servicebus.windows.net"
    assert message.application_properties["a"] == "b"
    assert format(span.context.span_id, "016x") in message.application_properties["traceparent"]


def test_list_send_creates_one_context_per_message(namespace, telemetry) -> None:
    client = namespace.client()
    client.get_queue_sender("orders").send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
    creates = spans_named(telemetry, "create orders")
    send = telemetry.span("send orders")
    assert len(creates) == 3 and send.kind is SpanKind.CLIENT
    assert send.attributes["messaging.batch.message_count"] == 3
    assert {l.context.span_id for l in send.links} == {c.context.span_id for c in creates}

    receiver = client.get_queue_receiver("orders")
    messages = receiver.receive_messages(max_message_count=10)
    for message in messages:
        receiver.complete_message(message)
    processes = spans_named(telemetry, "process orders")
    assert sorted(p.links[0].context.span_id for p in processes) == sorted(c.context.span_id for c in creates)


def test_explicit_batch_messages_get_create_spans(namespace, telemetry) -> None:
    sender = namespace.client().get_queue_sender("orders")
    batch = sender.create_message_batch()
    batch.add_message(ServiceBusMessage("a"))
    batch.add_message(ServiceBusMessage("b"))
    sender.send_messages(batch)
    assert len(spans_named(telemetry, "create orders")) == 2
    assert len(telemetry.span("send orders").links) == 2


def test_received_properties_have_bytes_keys_and_context_is_read(namespace, telemetry) -> None:
    client = namespace.client()
    client.get_queue_sender("orders").send_messages(ServiceBusMessage("x"))
    receiver = client.get_queue_receiver("orders")
    message = receiver.receive_messages()[0]
    assert all(isinstance(key, bytes) for key in message.application_properties)
    receive = telemetry.span("receive orders")
    send = telemetry.span("send orders")
    assert [l.context.span_id for l in receive.links] == [send.context.span_id]
    assert "messaging.batch.message_count" not in receive.attributes
    assert "messaging.servicebus.message.delivery_count" not in receive.attributes  # 0 on first delivery
    assert isinstance(receive.attributes["messaging.servicebus.message.enqueued_time"], int)


def test_diagnostic_id_is_read_when_traceparent_is_absent() -> None:
    carrier = {b"Diagnostic-Id": TRACEPARENT.encode()}
    context = servicebus_creation_context(carrier)
    assert format(context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert ServiceBusPropertiesGetter().keys(carrier) == ["Diagnostic-Id"]


def test_user_traceparent_is_not_overwritten(namespace) -> None:
    message = ServiceBusMessage("x", application_properties={"traceparent": TRACEPARENT})
    namespace.client().get_queue_sender("orders").send_messages(message)
    assert message.application_properties["traceparent"] == TRACEPARENT


def test_settlements_and_delivery_count(namespace, telemetry) -> None:
    client = namespace.client()
    client.get_queue_sender("orders").send_messages([ServiceBusMessage(f"m{i}") for i in range(4)])
    receiver = client.get_queue_receiver("orders")
    first, second, third, fourth = (receiver.receive_messages()[0] for _ in range(4))
    receiver.complete_message(first)
    receiver.abandon_message(second)
    receiver.defer_message(third)
    receiver.dead_letter_message(fourth, reason="processing_failed", error_description="bad")
    statuses = {s.name: s.attributes["messaging.servicebus.disposition_status"]
                for s in telemetry.finished_spans() if s.attributes.get("messaging.operation.type") == "settle"}
    assert statuses == {"complete orders": "complete", "abandon orders": "abandon",
                        "defer orders": "defer", "dead_letter orders": "dead_letter"}
    assert all(s.kind is SpanKind.CLIENT for s in telemetry.finished_spans() if s.name.split()[0] in statuses)
    assert namespace.settlements[-1] == ("dead-lettered", "processing_failed") or namespace.settlements[-1][1] == "processing_failed"
    assert telemetry.value("queue.messages.acknowledged") == 1
    assert telemetry.value("queue.messages.rejected") == 1
    assert telemetry.value("queue.messages.dead_lettered", queue__dead_letter__reason="processing_failed") == 1
    assert telemetry.value("queue.messages.in_flight") == 0
    redelivered = receiver.receive_messages()[0]
    assert redelivered.delivery_count == 1
    receiver.complete_message(redelivered)
    span = spans_named(telemetry, "complete orders")[-1]
    assert span.attributes["messaging.servicebus.message.delivery_count"] == 1


def test_iterating_a_receiver(namespace, telemetry) -> None:
    client = namespace.client()
    client.get_queue_sender("orders").send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
    receiver = client.get_queue_receiver("orders")
    before = otel_context.get_current()
    seen = []
    for message in receiver:
        current = trace.get_current_span()
        assert current.is_recording() and current.name == "process orders"
        ended = [s.context.span_id for s in spans_named(telemetry, "process orders")]
        assert ended == [s.get_span_context().span_id for s in seen]
        seen.append(current)
        receiver.complete_message(message)
    assert otel_context.get_current() == before
    receives = spans_named(telemetry, "receive orders")  # one per message, plus the final empty poll
    assert [len(r.links) for r in receives] == [1, 1, 1, 0]
    settles = spans_named(telemetry, "complete orders")
    assert {s.parent.span_id for s in settles} == {s.get_span_context().span_id for s in seen}


def test_process_helper_records_failures(namespace, telemetry) -> None:
    client = namespace.client()
    client.get_queue_sender("orders").send_messages(ServiceBusMessage("x"))
    receiver = client.get_queue_receiver("orders")
    message = receiver.receive_messages()[0]
    with pytest.raises(KeyError):
        with process(receiver, message):
            raise KeyError("missing")
    span = telemetry.span("process orders")
    assert span.status.status_code is StatusCode.ERROR and span.attributes["error.type"] == "KeyError"


def test_lock_renewals_sessions_and_quota(namespace, telemetry, clock) -> None:
    client = namespace.client()
    client.get_queue_sender("orders").send_messages(ServiceBusMessage("x"))
    receiver = client.get_queue_receiver("orders")
    message = receiver.receive_messages()[0]
    receiver.renew_message_lock(message)
    assert telemetry.value("queue.servicebus.lock_renewals", messaging__destination__name="orders") == 1
    session_receiver = client.get_queue_receiver("orders", session_id="s-1")
    assert telemetry.value("queue.sessions.active") == 1
    clock.advance(30)
    session_receiver.close()
    assert telemetry.value("queue.sessions.closed") == 1 and telemetry.value("queue.sessions.active") == 0
    (_, point), = telemetry.points("queue.session.duration")
    assert point.sum == pytest.approx(30)
    namespace.fail_next_send = ServiceBusQuotaExceededError(message="quota")
    with pytest.raises(ServiceBusQuotaExceededError):
        client.get_queue_sender("orders").send_messages(ServiceBusMessage("y"))
    assert telemetry.value("queue.servicebus.quota_exceeded") == 1
    failed = [s for s in spans_named(telemetry, "send orders") if s.status.status_code is StatusCode.ERROR]
    assert failed[0].attributes["error.type"] == "azure.servicebus.exceptions.ServiceBusQuotaExceededError"


def test_adapter_through_the_instrumented_client(telemetry) -> None:
    namespace = FakeNamespace()
    client = instrumented_servicebus_client(
        namespace.client(), tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider,
    )
    client.send("orders", OutgoingMessage(b"hello", {"k": "v"}))
    (received,) = client.receive("orders", max_messages=5)
    assert received.body == b"hello" and received.properties["k"] == "v"
    with client.process(received):
        client.acknowledge(received)
    assert namespace.settlements == [("completed", None)] or namespace.settlements[0][0] in ("complete", "completed")
    assert telemetry.span("process orders").links[0].context.span_id == telemetry.span("send orders").context.span_id
    assert telemetry.value("queue.messages.acknowledged", messaging__system="servicebus") == 1


def test_idempotent_instrumentation(telemetry) -> None:
    instrumentor = ServiceBusInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    instrumentor.uninstrument()
    instrumentor.uninstrument()
    FakeNamespace().client().get_queue_sender("orders").send_messages(ServiceBusMessage("x"))
    assert telemetry.finished_spans() == []

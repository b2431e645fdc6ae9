"""SqsInstrumentor against moto over HTTP: spans, carriers, settlement, metrics."""

from __future__ import annotations

import gc
import logging
import uuid
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode

from queue_telemetry import propagation
from queue_telemetry.sqs import SqsInstrumentor, active_extension, process


@pytest.fixture
def instrumented(telemetry, clock) -> Iterator[None]:
    propagation._warned_once.clear()
    instrumentor = SqsInstrumentor()
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, clock=clock
    )
    yield
    instrumentor.uninstrument()


@pytest.fixture
def sqs(instrumented, moto_endpoint: str, aws_environment) -> Any:
    return boto3.client("sqs", endpoint_url=moto_endpoint, config=Config(retries={"max_attempts": 1}))


def new_queue(sqs: Any, fifo: bool = False) -> tuple[str, str]:
    name = f"q{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
    attributes = {"FifoQueue": "true"} if fifo else {}
    return name, sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def messaging_spans(telemetry) -> list[Any]:
    return [s for s in telemetry.finished_spans() if "messaging.system" in (s.attributes or {})]


def test_send_span_and_metrics(sqs, telemetry, moto_endpoint) -> None:
    name, url = new_queue(sqs)
    result = sqs.send_message(QueueUrl=url, MessageBody="hello")
    span = telemetry.span(f"send {name}")
    assert span.kind is SpanKind.PRODUCER
    port = int(moto_endpoint.rsplit(":", 1)[1])
    assert dict(span.attributes) == {
        "messaging.system": "aws_sqs", "messaging.operation.name": "send",
        "messaging.operation.type": "send", "messaging.destination.name": name,
        "server.address": "127.0.0.1", "server.port": port,
        "messaging.message.id": result["MessageId"],
    }
    assert telemetry.value("messaging.client.sent.messages", messaging__destination__name=name) == 1
    (attributes, point), = telemetry.points("messaging.client.operation.duration")
    assert attributes["messaging.operation.type"] == "send" and point.count == 1
    assert "messaging.message.id" not in attributes


def test_one_messaging_span_with_botocore_instrumentation_active(sqs, telemetry, moto_endpoint) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    botocore_instrumentor = BotocoreInstrumentor()
    botocore_instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        client = boto3.client("sqs", endpoint_url=moto_endpoint)
        _, url = new_queue(client)
        telemetry.spans.clear()
        client.send_message(QueueUrl=url, MessageBody="once")
    finally:
        botocore_instrumentor.uninstrument()
    spans = telemetry.finished_spans()
    assert [s.name for s in messaging_spans(telemetry)] == [s.name for s in spans]
    assert len(spans) == 1 and spans[0].kind is SpanKind.PRODUCER


def received_attributes(sqs: Any, url: str) -> dict[str, Any]:
    message = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
    return message.get("MessageAttributes", {})


def test_no_room_for_context_nothing_injected_one_warning(sqs, caplog) -> None:
    _, url = new_queue(sqs)
    user = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(9)}
    token = otel_context.attach(baggage.set_baggage("tenant", "t1"))  # traceparent + baggage
    try:
        with caplog.at_level(logging.WARNING, logger="queue_telemetry.propagation"):
            sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=user)
            sqs.send_message(QueueUrl=url, MessageBody="y", MessageAttributes=user)
    finally:
        otel_context.detach(token)
    assert len([r for r in caplog.records if "Not propagating" in r.getMessage()]) == 1
    assert set(received_attributes(sqs, url)) == set(user)


def test_eight_user_attributes_and_traceparent_make_nine(sqs) -> None:
    _, url = new_queue(sqs)
    user = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(8)}
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=user)
    attributes = received_attributes(sqs, url)
    assert len(attributes) == 9 and "traceparent" in attributes
    assert "tracestate" not in attributes  # no empty tracestate


def test_user_traceparent_left_unchanged(sqs) -> None:
    _, url = new_queue(sqs)
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    sqs.send_message(
        QueueUrl=url, MessageBody="x",
        MessageAttributes={"traceparent": {"DataType": "String", "StringValue": mine}},
    )
    assert received_attributes(sqs, url)["traceparent"]["StringValue"] == mine


def test_message_attributes_none_still_carries_context(sqs, telemetry) -> None:
    name, url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=None)
    traceparent = received_attributes(sqs, url)["traceparent"]["StringValue"]
    assert format(telemetry.span(f"send {name}").context.span_id, "016x") in traceparent


def test_batch_send_creates_one_creation_context_per_message(sqs, telemetry) -> None:
    name, url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    creates = [s for s in telemetry.finished_spans() if s.name == f"create {name}"]
    assert len(creates) == 3 and all(s.kind is SpanKind.PRODUCER for s in creates)
    send = telemetry.span(f"send {name}")
    assert send.kind is SpanKind.CLIENT
    assert send.attributes["messaging.batch.message_count"] == 3
    assert {l.context.span_id for l in send.links} == {s.context.span_id for s in creates}

    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    bodies_to_create = {}
    for message in response["Messages"]:
        bodies_to_create[message["Body"]] = trace.get_current_span().get_span_context().span_id
    processes = [s for s in telemetry.finished_spans() if s.name == f"process {name}"]
    assert len(processes) == 3
    linked = [p.links[0].context.span_id for p in processes]
    assert sorted(linked) == sorted(s.context.span_id for s in creates)
    assert len(set(linked)) == 3  # each its own creation context


def test_create_spans_can_be_switched_off(telemetry, moto_endpoint, aws_environment) -> None:
    instrumentor = SqsInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider,
                            create_spans=False)
    try:
        client = boto3.client("sqs", endpoint_url=moto_endpoint)
        name, url = new_queue(client)
        client.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(2)])
    finally:
        instrumentor.uninstrument()
    assert not [s for s in telemetry.finished_spans() if s.name.startswith("create")]
    assert telemetry.span(f"send {name}").kind is SpanKind.PRODUCER


def test_receive_handle_and_delete_in_one_batch(sqs, telemetry) -> None:
    name, url = new_queue(sqs)
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    sends = {s.context.span_id for s in telemetry.finished_spans() if s.name == f"send {name}"}
    before = otel_context.get_current()
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    handled = [message["Body"] for message in response["Messages"]]
    sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(response["Messages"])
    ])
    assert otel_context.get_current() == before
    assert len(handled) == 3
    settle = telemetry.span(f"delete {name}")
    assert settle.kind is SpanKind.CLIENT
    assert settle.attributes["messaging.operation.type"] == "settle"
    assert settle.attributes["messaging.batch.message_count"] == 3
    assert {l.context.span_id for l in settle.links} == sends
    assert "messaging.message.id" not in settle.attributes
    assert telemetry.value("queue.messages.acknowledged", messaging__destination__name=name) == 3
    assert telemetry.value("queue.messages.in_flight", messaging__destination__name=name) == 0
    # Only one process span per message, although the list was iterated twice.
    assert len([s for s in telemetry.finished_spans() if s.name == f"process {name}"]) == 3


def test_empty_delete_batch_is_passed_straight_through(sqs, telemetry) -> None:
    _, url = new_queue(sqs)
    telemetry.spans.clear()
    with pytest.raises(Exception) as raised:
        sqs.delete_message_batch(QueueUrl=url, Entries=[])
    assert "EmptyBatch" in str(raised.value) or "Entries" in str(raised.value)
    assert telemetry.finished_spans() == []


def test_process_span_starts_when_the_message_is_handled(sqs, telemetry, clock) -> None:
    name, url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(2)])
    received_at = clock.now
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    receive = telemetry.span(f"receive {name}")
    assert receive.end_time == received_at
    assert receive.attributes["messaging.batch.message_count"] == 2
    assert not [s for s in telemetry.finished_spans() if s.name == f"process {name}"]
    iterator = iter(response["Messages"])
    next(iterator)
    clock.advance(2)
    next(iterator)  # ends the first message's process span, starts the second's
    clock.advance(0.5)
    with pytest.raises(StopIteration):
        next(iterator)
    first, second = sorted(
        (s for s in telemetry.finished_spans() if s.name == f"process {name}"), key=lambda s: s.start_time
    )
    assert first.start_time == received_at and first.end_time == received_at + 2 * 10**9
    assert second.start_time == received_at + 2 * 10**9
    assert second.end_time == second.start_time + 5 * 10**8
    assert second.kind is SpanKind.CONSUMER and second.parent is None


def test_iterating_makes_each_process_span_current(sqs, telemetry) -> None:
    name, url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    outer = trace.get_current_span()
    seen = []
    for message in response["Messages"]:
        current = trace.get_current_span()
        assert current.is_recording() and current.name == f"process {name}"
        assert current.attributes["messaging.message.id"] == message["MessageId"]
        finished = [s.context.span_id for s in telemetry.finished_spans() if s.name == f"process {name}"]
        assert finished == [span.get_span_context().span_id for span in seen]  # previous ones ended
        seen.append(current)
    assert trace.get_current_span() is outer
    assert len([s for s in telemetry.finished_spans() if s.name == f"process {name}"]) == 3


def test_breaking_out_of_the_loop_restores_the_context(sqs, telemetry) -> None:
    _, url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(2)])
    before = otel_context.get_current()
    for _message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
        break
    assert otel_context.get_current() == before


def test_explicit_process_records_failures(sqs, telemetry) -> None:
    name, url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="x")
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]  # indexing is not handling
    with pytest.raises(ValueError):
        with process(message):
            raise ValueError("bad payload")
    span = telemetry.span(f"process {name}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    assert [e.name for e in span.events] == ["exception"]
    assert telemetry.value("queue.errors", queue__error__operation="process") == 1


def test_hundred_messages_never_deleted_keep_no_state(sqs, telemetry) -> None:
    _, url = new_queue(sqs)
    for start in range(0, 100, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(start, start + 10)])
    received = 0
    while received < 100:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
        received += len(response.get("Messages", []))
    extension = active_extension()
    del response
    gc.collect()
    assert extension.tracked_messages() == 0


def test_visibility_changes_are_rejections_or_extensions(sqs, telemetry) -> None:
    name, url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(2)])
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    first, second = messages[0], messages[1]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=120)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    assert telemetry.value("queue.sqs.visibility_timeout_extensions", messaging__destination__name=name) == 1
    assert telemetry.value("queue.messages.rejected", messaging__destination__name=name) == 1
    nack = telemetry.span(f"nack {name}")
    assert nack.attributes["messaging.message.id"] == second["MessageId"]


def test_errors_are_bounded_and_recorded(sqs, telemetry, moto_endpoint) -> None:
    url = f"{moto_endpoint}/123456789012/missing-queue"
    with pytest.raises(Exception):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    span = telemetry.span("send missing-queue")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
    assert telemetry.value("queue.errors", queue__error__operation="send") == 1


def test_throttling_is_counted(sqs, telemetry) -> None:
    name, url = new_queue(sqs)
    with Stubber(sqs) as stubber:
        stubber.add_client_error("send_message", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(Exception):
            sqs.send_message(QueueUrl=url, MessageBody="x")
    assert telemetry.value("queue.sqs.throttling_errors", messaging__destination__name=name) == 1


def test_fifo_deduplication_is_counted(sqs, telemetry) -> None:
    name, url = new_queue(sqs, fifo=True)
    for dedup in ("d1", "d1", "d2"):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId=dedup)
    assert telemetry.value("queue.sqs.fifo_deduplications", messaging__destination__name=name) == 1


def test_hooks_run_and_their_failures_are_contained(telemetry, moto_endpoint, aws_environment) -> None:
    calls = []

    def request_hook(span, operation, params):
        calls.append(operation)
        raise RuntimeError("hook bug")

    instrumentor = SqsInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider, request_hook=request_hook)
    try:
        client = boto3.client("sqs", endpoint_url=moto_endpoint)
        _, url = new_queue(client)
        client.send_message(QueueUrl=url, MessageBody="x")
    finally:
        instrumentor.uninstrument()
    assert calls == ["SendMessage"]


def test_instrument_and_uninstrument_are_idempotent(telemetry, moto_endpoint, aws_environment) -> None:
    instrumentor = SqsInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    client = boto3.client("sqs", endpoint_url=moto_endpoint)
    _, url = new_queue(client)
    instrumentor.uninstrument()
    instrumentor.uninstrument()
    client.send_message(QueueUrl=url, MessageBody="x")
    assert telemetry.finished_spans() == []
    assert "botocore" in " ".join(instrumentor.instrumentation_dependencies())

"""SqsQueueClient through InstrumentedQueueClient, against moto over HTTP."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from queue_telemetry import OutgoingMessage, QueueNotFoundError
from queue_telemetry.sqs import instrumented_sqs_client


@pytest.fixture
def boto_sqs(moto_endpoint, aws_environment):
    return boto3.client("sqs", endpoint_url=moto_endpoint)


def test_round_trip_dead_letter_and_depth(boto_sqs, telemetry) -> None:
    name = f"q{uuid.uuid4().hex[:8]}"
    dlq_url = boto_sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = boto_sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto_sqs.create_queue(QueueName=name, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})
    client = instrumented_sqs_client(boto_sqs, tracer_provider=telemetry.tracer_provider,
                                     meter_provider=telemetry.meter_provider)
    client.send_batch(name, [OutgoingMessage(b"a", {"k": "v"}), OutgoingMessage(b"b")])
    assert client.depth(name) == 2
    first, second = client.receive(name, max_messages=10)
    assert first.properties["k"] == "v" and "traceparent" in first.properties
    with client.process(first):
        client.acknowledge(first)
    with client.process(second):
        client.dead_letter(second, "processing_failed")
    assert client.dead_letter_depth(name) == 1
    assert telemetry.value("queue.messages.dead_lettered", queue__dead_letter__reason="processing_failed") == 1
    send = telemetry.span(f"send {name}")
    assert send.attributes["server.address"] == "127.0.0.1"
    # The move to the dead-letter queue is part of the dead_letter operation, not a send.
    assert [s.name for s in telemetry.finished_spans() if s.name.startswith("send")] == [f"send {name}"]
    assert telemetry.span(f"dead_letter {name}").attributes["queue.dead_letter.reason"] == "processing_failed"
    with pytest.raises(QueueNotFoundError):
        client.send("no-such-queue", OutgoingMessage(b"x"))

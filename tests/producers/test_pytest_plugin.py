"""The pytest plugin's fixtures, as users get them."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from queue_telemetry import InMemoryBroker, InstrumentedQueueClient, OutgoingMessage
from queue_telemetry.health import HealthState, QueueHealthMonitor
from queue_telemetry.pytest_plugin import (  # noqa: F401 - fixtures
    fake_health_check,
    queue_telemetry_capture,
    queue_telemetry_servicebus,
    queue_telemetry_sqs,
)


def test_capture_fixture(queue_telemetry_capture) -> None:
    client = InstrumentedQueueClient(InMemoryBroker().client(), **queue_telemetry_capture.providers())
    client.send("orders", OutgoingMessage(b"x"))
    queue_telemetry_capture.assert_span("send orders", kind=SpanKind.PRODUCER, attributes={"messaging.system": "in_memory"})
    queue_telemetry_capture.assert_metric("messaging.client.sent.messages", 1, queue="orders")
    assert any("Sent message" in str(record.body) for record in queue_telemetry_capture.logs())


def test_fake_health_checks(fake_health_check) -> None:
    status = QueueHealthMonitor([fake_health_check.healthy("a"), fake_health_check.unhealthy("b", "down")]).check_health_sync()
    assert status.status is HealthState.UNHEALTHY and status.checks["b"].message == "down"


def test_sqs_fixture_instruments_boto3_for_one_test(queue_telemetry_sqs, moto_endpoint, aws_environment) -> None:
    import boto3

    client = boto3.client("sqs", endpoint_url=moto_endpoint)
    url = client.create_queue(QueueName="plugin-orders")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="hello")
    queue_telemetry_sqs.assert_span("send plugin-orders", kind=SpanKind.PRODUCER,
                                    attributes={"messaging.system": "aws_sqs"})


def test_servicebus_fixture_instruments_the_sdk_for_one_test(queue_telemetry_servicebus) -> None:
    from azure.servicebus import ServiceBusMessage

    from .servicebus_fake import FakeNamespace

    FakeNamespace().client().get_queue_sender("orders").send_messages(ServiceBusMessage("m"))
    queue_telemetry_servicebus.assert_span("send orders", kind=SpanKind.PRODUCER,
                                           attributes={"messaging.system": "servicebus"})


def test_instrumentor_fixtures_uninstrument_afterwards() -> None:
    from queue_telemetry.servicebus import ServiceBusInstrumentor
    from queue_telemetry.sqs import SqsInstrumentor

    assert not SqsInstrumentor().is_instrumented_by_opentelemetry
    assert not ServiceBusInstrumentor().is_instrumented_by_opentelemetry

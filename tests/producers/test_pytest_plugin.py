"""The pytest plugin's fixtures, as users get them."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from queue_telemetry import InMemoryBroker, InstrumentedQueueClient, OutgoingMessage
from queue_telemetry.health import HealthState, QueueHealthMonitor
from queue_telemetry.pytest_plugin import fake_health_check, queue_telemetry_capture  # noqa: F401 - fixtures


def test_capture_fixture(queue_telemetry_capture) -> None:
    client = InstrumentedQueueClient(InMemoryBroker().client(), **queue_telemetry_capture.providers())
    client.send("orders", OutgoingMessage(b"x"))
    queue_telemetry_capture.assert_span("send orders", kind=SpanKind.PRODUCER, attributes={"messaging.system": "in_memory"})
    queue_telemetry_capture.assert_metric("messaging.client.sent.messages", 1, queue="orders")
    assert any("Sent message" in str(record.body) for record in queue_telemetry_capture.logs())


def test_fake_health_checks(fake_health_check) -> None:
    status = QueueHealthMonitor([fake_health_check.healthy("a"), fake_health_check.unhealthy("b", "down")]).check_health_sync()
    assert status.status is HealthState.UNHEALTHY and status.checks["b"].message == "down"

"""Queue health from OTLP metrics sent by the real SDK, read through the real /health endpoint,
with an injected clock moving the sliding window."""

from __future__ import annotations

from typing import Iterator

import pytest

from queue_collector.app import ReceiverApp
from queue_collector.health.config import HealthConfig, ThresholdOverride
from tests.support.timing import FakeClock

from .health_testkit import QueueProducer, get, receiver_config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def start(tmp_path, clock, health: HealthConfig | None = None) -> ReceiverApp:
    app = ReceiverApp(receiver_config(tmp_path, health), clock=clock)
    app.start()
    return app


@pytest.fixture
def receiver(tmp_path, clock) -> Iterator[ReceiverApp]:
    app = start(tmp_path, clock)
    try:
        yield app
    finally:
        app.stop(5.0)


def gauge(app, service: str, queue: str, check: str) -> float | None:
    return app.registry.get_sample_value("queue_health_status", {"service": service, "queue": queue, "check": check})


@pytest.mark.parametrize("delta", [False, True], ids=["cumulative", "delta"])
def test_processing_goes_degraded_then_unhealthy_then_recovers(tmp_path, clock, delta):
    app = start(tmp_path, clock)
    try:
        producer = QueueProducer("checkout", delta=delta)
        producer.process("orders", 100)
        producer.export(app)
        status, document = get(f"{app.admin_url}/health/checkout/orders")
        assert status == 200 and document["status"] == "healthy"
        check = document["checks"]["message_processing"]
        assert set(check) == {"status", "duration", "message", "details"}
        assert check["details"]["total_processed"] == "100" and check["details"]["error_rate"] == "0.00%"

        clock.advance(10)  # 14 failures among 200: 7 % > 5 %
        producer.process("orders", 86)
        producer.process("orders", 14, error_type="TimeoutError")
        producer.export(app)
        status, document = get(f"{app.admin_url}/health/checkout/orders")
        assert status == 200 and document["status"] == "degraded"
        details = document["checks"]["message_processing"]["details"]
        assert details["error_rate"] == "7.00%" and details["errors.TimeoutError"] == "14"
        assert gauge(app, "checkout", "orders", "message_processing") == 1

        clock.advance(10)  # 54 failures among 300: 18 % > 10 %
        producer.process("orders", 60)
        producer.process("orders", 40, error_type="ValueError")
        producer.export(app)
        status, document = get(f"{app.admin_url}/health")
        assert status == 503 and document["status"] == "unhealthy"
        service = document["services"]["checkout"]
        assert service["status"] == "unhealthy"
        assert service["queues"]["orders"]["checks"]["message_processing"]["message"] == "high error rate: 18.00%"
        assert document["checks"]["message_processing"]["status"] == "unhealthy"
        assert document["summary"]["unhealthy_checks"] >= 1
        assert gauge(app, "checkout", "orders", "message_processing") == 2

        # The bad spell leaves the window: only the new, clean traffic counts.
        clock.advance(301)
        producer.process("orders", 50)
        producer.export(app)
        status, document = get(f"{app.admin_url}/health/checkout")
        assert status == 200 and document["status"] == "healthy"
        details = document["queues"]["orders"]["checks"]["message_processing"]["details"]
        assert details["total_processed"] == "50" and details["total_errors"] == "0"
        assert gauge(app, "checkout", "orders", "message_processing") == 0
    finally:
        app.stop(5.0)


def test_slow_processing_is_degraded_by_average_and_p95(receiver, clock):
    producer = QueueProducer("billing")
    producer.process("invoices", 10, seconds=8.0)
    producer.export(receiver)
    status, document = get(f"{receiver.admin_url}/health/billing/invoices")
    check = document["checks"]["message_processing"]
    assert status == 200 and check["status"] == "degraded"
    assert check["message"].startswith("slow processing: avg 8.000s")
    assert check["details"]["p95_processing_time"] == "10.000s"  # the bucket holding it


def test_connection_failures_by_error_type(receiver, clock):
    producer = QueueProducer("shipping")
    producer.fail_send("labels", "ConnectionRefusedError", 3)
    producer.export(receiver)
    status, document = get(f"{receiver.admin_url}/health/shipping/labels")
    check = document["checks"]["queue_connection"]
    assert status == 503 and check["status"] == "unhealthy"
    assert check["message"] == "all 3 send/receive operations failed (ConnectionRefusedError: 3)"
    assert check["details"]["errors.ConnectionRefusedError"] == "3"

    clock.advance(10)  # some succeed: 3 failures among 23 operations, 13 % > 5 %
    producer.send("labels", 20)
    producer.export(receiver)
    status, document = get(f"{receiver.admin_url}/health/shipping/labels")
    check = document["checks"]["queue_connection"]
    assert status == 200 and check["status"] == "degraded"
    assert check["details"]["error_ratio"] == "13.04%" and check["details"]["successful_operations"] == "20"

    clock.advance(10)  # 3 failures among 63 operations: 4.76 % is within the 5 % allowed
    producer.send("labels", 40)
    producer.export(receiver)
    check = get(f"{receiver.admin_url}/health/shipping/labels")[1]["checks"]["queue_connection"]
    assert check["status"] == "healthy" and check["details"]["error_ratio"] == "4.76%"


def test_dead_letters_with_per_queue_override(tmp_path, clock):
    health = HealthConfig(
        cache_seconds=0.0,
        overrides={"payments": ThresholdOverride(dlq_depth_unhealthy_above=10),
                   "payments/refunds": ThresholdOverride(dlq_depth_unhealthy_above=500)},
    )
    app = start(tmp_path, clock, health)
    try:
        producer = QueueProducer("payments")
        producer.process("charges", 5)
        producer.process("refunds", 5)
        producer.export(app)
        assert get(f"{app.admin_url}/health/payments")[1]["status"] == "healthy"

        clock.advance(10)
        producer.dead_letter("charges", 3, depth=50)
        producer.dead_letter("refunds", 3, depth=150)
        producer.export(app)
        status, document = get(f"{app.admin_url}/health/payments")
        assert status == 503
        charges = document["queues"]["charges"]["checks"]["dead_letter_queues"]
        refunds = document["queues"]["refunds"]["checks"]["dead_letter_queues"]
        assert charges["status"] == "unhealthy" and charges["details"] == {
            "window_seconds": "300", "dead_lettered": "3", "dlq_depth": "50", "provider": "in_memory"}
        assert charges["message"].startswith("high DLQ volume")
        assert refunds["status"] == "degraded"  # over the default 100, but its own override allows 500
    finally:
        app.stop(5.0)


def test_producer_reported_check_is_taken_as_it_is(receiver, clock):
    producer = QueueProducer("inventory")
    producer.report_check("database", 2)
    producer.report_check("queue_connection", 1, queue="stock")
    producer.export(receiver)
    status, document = get(f"{receiver.admin_url}/health/inventory")
    assert status == 503 and document["status"] == "unhealthy"
    assert document["checks"]["producer.database"]["status"] == "unhealthy"
    assert document["queues"]["stock"]["checks"]["producer.queue_connection"]["status"] == "degraded"
    assert gauge(receiver, "inventory", "", "producer.database") == 2

    clock.advance(10)
    producer.report_check("database", 0)
    producer.export(receiver)
    status, document = get(f"{receiver.admin_url}/health/inventory")
    assert document["checks"]["producer.database"]["status"] == "healthy"
    assert status == 200 and document["status"] == "degraded"


def test_stale_service_is_shown_then_unhealthy_for_probes(receiver, clock):
    producer = QueueProducer("reports")
    producer.process("exports", 1)
    producer.export(receiver)
    clock.advance(61)
    status, document = get(f"{receiver.admin_url}/health/reports")
    assert status == 200 and document["stale"] is True and document["status"] == "degraded"
    clock.advance(240)
    status, document = get(f"{receiver.admin_url}/health")
    assert status == 503 and document["services"]["reports"]["stale"] is True


def test_no_traffic_at_all_and_an_idle_queue_are_healthy(tmp_path, clock):
    app = start(tmp_path, clock, HealthConfig(cache_seconds=0.0, window_seconds=60, bucket_seconds=10,
                                              stale_after_seconds=600, unhealthy_after_seconds=900))
    try:
        status, document = get(f"{app.admin_url}/health")
        assert status == 200 and document["status"] == "healthy" and document["services"] == {}
        producer = QueueProducer("idle")
        producer.process("quiet", 2)
        producer.export(app)
        clock.advance(70)  # the window is empty now
        status, document = get(f"{app.admin_url}/health/idle/quiet")
        assert status == 200 and document["status"] == "healthy"
        checks = document["checks"]
        assert checks["message_processing"]["message"] == "no messages processed in the window"
        assert checks["message_processing"]["details"]["avg_processing_time"] == "n/a"
        assert checks["queue_connection"]["message"] == "no send or receive operations in the window"
        assert checks["dead_letter_queues"]["status"] == "healthy"
    finally:
        app.stop(5.0)


def test_unknown_queue_is_404(receiver):
    producer = QueueProducer("checkout")
    producer.process("orders", 1)
    producer.export(receiver)
    status, document = get(f"{receiver.admin_url}/health/checkout/nothing")
    assert status == 404 and document["error"] == "unknown queue" and document["known_queues"] == ["orders"]

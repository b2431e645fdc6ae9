"""QueueHealthMonitor: concurrent checks with their own timeouts, caching, gauge, built-in checks."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from queue_telemetry import InMemoryBroker, InstrumentedQueueClient, OutgoingMessage, QueueSettings
from queue_telemetry.health import (
    DeadLetterQueueHealthCheck,
    HealthState,
    MessageProcessingHealthCheck,
    ProcessingWindow,
    QueueConnectionHealthCheck,
    QueueHealthMonitor,
)
from queue_telemetry.queue_client import QueueNotFoundError
from queue_telemetry.testing import FakeHealthCheck


class Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_timed_out_check_is_unhealthy_and_others_keep_their_results(telemetry) -> None:
    monitor = QueueHealthMonitor(
        [FakeHealthCheck.healthy("a"), FakeHealthCheck.degraded("b")], cache_seconds=0, check_timeout=5,
        meter_provider=telemetry.meter_provider,
    )
    monitor.add_check(FakeHealthCheck.hanging("slow"), timeout=0.05)
    status = monitor.check_health_sync()
    assert status.checks["a"].status is HealthState.HEALTHY
    assert status.checks["b"].status is HealthState.DEGRADED
    assert status.checks["slow"].status is HealthState.UNHEALTHY
    assert "timed out" in status.checks["slow"].message
    assert status.status is HealthState.UNHEALTHY
    body = status.to_dict()
    assert body["summary"] == {**body["summary"], "total_checks": 3, "healthy_checks": 1,
                               "degraded_checks": 1, "unhealthy_checks": 1}
    assert set(body) == {"status", "timestamp", "checks", "summary"}
    gauge = {attrs["queue.health.check"]: point.value for attrs, point in telemetry.points("queue.health.status")}
    assert gauge == {"a": 0, "b": 1, "slow": 2}


def test_checks_run_concurrently() -> None:
    started = []
    gate = asyncio.Event()

    class Waiter:
        def __init__(self, name: str) -> None:
            self.name = name

        async def check(self):
            started.append(self.name)
            if len(started) == 2:
                gate.set()
            await asyncio.wait_for(gate.wait(), 5)
            return await FakeHealthCheck.healthy(self.name).check()

    status = QueueHealthMonitor([Waiter("x"), Waiter("y")], cache_seconds=0).check_health_sync()
    assert status.status is HealthState.HEALTHY  # each waited for the other: they ran together


def test_results_are_cached_for_the_configured_time() -> None:
    clock = Seconds()
    check = FakeHealthCheck.healthy("a")
    monitor = QueueHealthMonitor([check], cache_seconds=10, clock=clock)
    monitor.check_health_sync()
    clock.now += 9
    monitor.check_health_sync()
    assert check.calls == 1
    clock.now += 2
    monitor.check_health_sync()
    assert check.calls == 2


def test_a_raising_check_is_unhealthy() -> None:
    status = QueueHealthMonitor([FakeHealthCheck("boom", error=RuntimeError("no"))]).check_health_sync()
    assert status.checks["boom"].status is HealthState.UNHEALTHY
    assert status.checks["boom"].details["error"] == "RuntimeError"


def test_builtin_checks_against_the_in_memory_broker() -> None:
    broker = InMemoryBroker(settings=QueueSettings(max_delivery_count=1))
    broker.create_queue("orders")
    client = broker.client()
    client.send("orders", OutgoingMessage(b"x"))
    (message,) = client.receive("orders")
    client.dead_letter(message, "processing_failed")

    class Missing:
        def depth(self, queue):
            raise QueueNotFoundError(queue)

    monitor = QueueHealthMonitor([
        QueueConnectionHealthCheck(client, "orders"),
        DeadLetterQueueHealthCheck(client, ["orders"], degraded_threshold=0, unhealthy_threshold=5),
    ], cache_seconds=0)
    status = monitor.check_health_sync()
    assert status.checks["queue_connection"].status is HealthState.HEALTHY
    assert status.checks["dead_letter_queues"].status is HealthState.DEGRADED
    assert status.checks["dead_letter_queues"].details["orders_dlq_count"] == "1"
    missing = QueueHealthMonitor([QueueConnectionHealthCheck(Missing(), "nope")]).check_health_sync()
    assert missing.checks["queue_connection"].status is HealthState.DEGRADED


def test_processing_check_uses_a_sliding_window() -> None:
    clock = Seconds()
    window = ProcessingWindow(60, clock=clock)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(window)
    broker = InMemoryBroker()
    client = InstrumentedQueueClient(broker.client(), tracer_provider=provider)
    for _ in range(4):
        client.send("orders", OutgoingMessage(b"x"))
    for index, message in enumerate(client.receive("orders", max_messages=4)):
        with pytest.raises(ValueError) if index < 2 else _nothing():
            with client.process(message):
                if index < 2:
                    raise ValueError("bad")
    check = MessageProcessingHealthCheck(window, error_rate_threshold=0.1)
    assert asyncio.run(check.check()).status is HealthState.UNHEALTHY
    clock.now += 61  # the failures age out: health recovers
    result = asyncio.run(check.check())
    assert result.status is HealthState.HEALTHY and result.details["total_processed"] == "0"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

"""Gauges: SUM and LAST across streams, expiry with an injected clock, delta up-down counters."""

from __future__ import annotations

from queue_collector.metric_mapping import MetricMappingConfig

from .mapping_testkit import (
    DELTA,
    ORDERS_LABELS,
    FakeClock,
    counter,
    gauge,
    number,
    request,
    sample,
    wired,
)

IN_FLIGHT = "queue.messages.in_flight"


def in_flight(value, time, *, temporality=None, start=0):
    point = number(value, start=start, time=time)
    if temporality is None:
        return counter(IN_FLIGHT, point, monotonic=False)
    return counter(IN_FLIGHT, point, monotonic=False, temporality=temporality)


def test_sum_gauge_adds_the_processes_and_last_gauge_takes_the_newest():
    stage, registry = wired()
    stage.process_metrics(
        request(in_flight(3, time=10), gauge("queue.depth", number(40, time=10)), instance="pod-1")
    )
    stage.process_metrics(
        request(in_flight(5, time=11), gauge("queue.depth", number(42, time=12)), instance="pod-2")
    )
    # pod-1 reports later in receiver time, but its depth reading is older than pod-2's.
    stage.process_metrics(
        request(in_flight(1, time=13), gauge("queue.depth", number(41, time=11)), instance="pod-1")
    )
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) == 6
    assert sample(registry, "queue_depth", **ORDERS_LABELS) == 42


def test_out_of_order_gauge_points_are_ignored():
    stage, registry = wired()
    stage.process_metrics(request(gauge("queue.depth", number(7, time=20))))
    stage.process_metrics(request(gauge("queue.depth", number(99, time=15))))
    assert sample(registry, "queue_depth", **ORDERS_LABELS) == 7
    assert (
        sample(registry, "queue_collector_mapping_points_ignored_total", reason="out_of_order") == 1
    )


def test_expired_streams_leave_gauges_and_stay_in_counters():
    clock = FakeClock(1_000.0)
    stage, registry = wired(MetricMappingConfig(stream_expiry_seconds=60.0), clock)
    sent = counter("messaging.client.sent.messages", number(9, time=1))
    stage.process_metrics(request(in_flight(3, time=1), sent, instance="pod-1"))
    stage.process_metrics(request(in_flight(5, time=1), instance="pod-2"))
    clock.now += 30
    stage.process_metrics(request(in_flight(4, time=2), instance="pod-2"))
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) == 7

    clock.now += 30  # pod-1 has now been silent for 60 s
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) == 4
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == 9
    assert sample(registry, "queue_collector_mapping_streams_expired_total") == 2
    assert sample(registry, "queue_collector_mapping_streams") == 1

    clock.now += 60  # every stream expired: the gauge series is gone, the counter remains
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) is None
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == 9


def test_expiry_also_runs_while_processing():
    clock = FakeClock(0.0)
    stage, registry = wired(MetricMappingConfig(stream_expiry_seconds=8.0), clock)
    stage.process_metrics(request(in_flight(3, time=1), instance="pod-1"))
    clock.now = 10.0
    stage.process_metrics(request(in_flight(2, time=1), instance="pod-2"))
    # The sweep ran inside process_metrics (pod-1 expired there, before any scrape), so memory
    # stays bounded even when nobody scrapes.
    assert len(stage._streams) == 1
    assert sample(registry, "queue_collector_mapping_streams_expired_total") == 1
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) == 2


def test_delta_up_down_counter_accumulates_contiguous_changes():
    stage, registry = wired()
    stage.process_metrics(request(in_flight(4, start=0, time=10, temporality=DELTA)))
    stage.process_metrics(request(in_flight(-1, start=10, time=20, temporality=DELTA)))
    stage.process_metrics(request(in_flight(-1, start=10, time=20, temporality=DELTA)))  # overlap
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) == 3


def test_gauge_may_arrive_as_gauge_or_non_monotonic_sum():
    stage, registry = wired()
    stage.process_metrics(
        request(gauge("queue.sessions.active", number(2, time=1)), instance="pod-1")
    )
    stage.process_metrics(
        request(
            counter("queue.sessions.active", number(3, time=1), monotonic=False), instance="pod-2"
        )
    )
    assert sample(registry, "queue_active_sessions", **ORDERS_LABELS) == 5

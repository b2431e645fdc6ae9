"""Stream identity and life: start times in the key, expiry, tombstones, stream limits."""

from __future__ import annotations

import pytest
from queue_collector.metric_mapping import MappingConfigError, MetricMappingConfig, MetricMappingStage
from queue_collector.metric_mapping.config import CardinalityConfig

from .mapping_testkit import (
    DELTA,
    ORDERS_LABELS,
    FakeClock,
    counter,
    histogram,
    histogram_point,
    number,
    request,
    sample,
    wired,
)

SENT = "messaging.client.sent.messages"
OPERATION = "messaging.client.operation.duration"
SEND = {
    "messaging.system": "in_memory",
    "messaging.destination.name": "orders",
    "messaging.operation.type": "send",
}


def sent(registry):
    return sample(registry, "queue_messages_sent_total", **ORDERS_LABELS)


def expiring(seconds: float = 2.0, **settings) -> MetricMappingConfig:
    return MetricMappingConfig(stream_expiry_seconds=seconds, **settings)


def test_a_cumulative_stream_that_returns_after_expiry_adds_only_its_increase():
    clock = FakeClock()
    stage, registry = wired(expiring(), clock)
    stage.process_metrics(request(counter(SENT, number(50, start=100, time=200))))
    clock.now += 3
    assert sent(registry) == 50  # the scrape expired the stream
    assert sample(registry, "queue_collector_mapping_streams_expired_total") == 1
    stage.process_metrics(request(counter(SENT, number(51, start=100, time=10**12))))
    assert sent(registry) == 51
    assert sample(registry, "queue_collector_mapping_streams") == 1


def test_a_cumulative_histogram_that_returns_after_expiry_adds_only_its_increase():
    clock = FakeClock()
    stage, registry = wired(expiring(), clock)
    stage.process_metrics(
        request(histogram(OPERATION, histogram_point([1], [3, 1], start=5, time=10, attributes=SEND)))
    )
    clock.now += 3
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 4
    assert sample(registry, "queue_collector_mapping_streams_expired_total") == 1
    stage.process_metrics(
        request(histogram(OPERATION, histogram_point([1], [3, 2], start=5, time=20, attributes=SEND)))
    )
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 5


def test_a_delta_retry_after_expiry_is_still_recognised():
    clock = FakeClock()
    stage, registry = wired(expiring(), clock)
    stage.process_metrics(request(counter(SENT, number(5, start=100, time=200), temporality=DELTA)))
    clock.now += 3
    assert sent(registry) == 5
    stage.process_metrics(request(counter(SENT, number(5, start=100, time=200), temporality=DELTA)))
    assert sent(registry) == 5


def test_tombstones_are_forgotten_after_tombstone_seconds():
    clock = FakeClock()
    stage, registry = wired(expiring(tombstone_seconds=10), clock)
    stage.process_metrics(request(counter(SENT, number(50, start=100, time=200))))
    clock.now += 3
    assert sent(registry) == 50
    assert stage._streams.tombstones == 1
    clock.now += 11
    assert sent(registry) == 50
    assert stage._streams.tombstones == 0
    # Nothing remembers the stream now: its total is added again.
    stage.process_metrics(request(counter(SENT, number(51, start=100, time=300))))
    assert sent(registry) == 101


def test_tombstones_are_bounded_by_max_streams():
    clock = FakeClock()
    stage, registry = wired(expiring(cardinality=CardinalityConfig(max_streams=3)), clock)
    for instance in range(6):
        stage.process_metrics(
            request(counter(SENT, number(1, start=1, time=2)), instance=f"pod-{instance}")
        )
        clock.now += 3
        sent(registry)  # expires the stream just sent
    assert stage._streams.tombstones == 3


def test_bad_tombstone_seconds_stop_start_up():
    with pytest.raises(MappingConfigError, match="metric_mapping.tombstone_seconds"):
        MetricMappingStage(MetricMappingConfig(tombstone_seconds=0))


def test_processes_without_instance_id_with_other_start_times_stay_apart():
    stage, registry = wired()
    # Both processes report the same resource attributes; only their start times differ.
    for step in range(1, 4):
        stage.process_metrics(request(counter(SENT, number(10 * step, start=100, time=1000 * step))))
        stage.process_metrics(request(counter(SENT, number(step, start=150, time=1000 * step + 1))))
    assert sent(registry) == 33
    assert sample(registry, "queue_collector_mapping_points_ignored_total", reason="out_of_order") is None


def test_histograms_of_processes_with_other_start_times_stay_apart():
    stage, registry = wired()
    for step in range(1, 3):
        for start, count in ((100, 10 * step), (150, step)):
            point = histogram_point([1], [count, 0], start=start, time=1000 * step + start, attributes=SEND)
            stage.process_metrics(request(histogram(OPERATION, point)))
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 22


def test_restarts_are_new_streams_within_the_stream_limits():
    clock = FakeClock()
    config = MetricMappingConfig(cardinality=CardinalityConfig(max_streams_per_source=2))
    stage, registry = wired(config, clock)
    for restart in range(5):
        stage.process_metrics(request(counter(SENT, number(1, start=restart + 1, time=100 + restart))))
    assert sample(registry, "queue_collector_mapping_streams") == 2
    assert sent(registry) == 2
    assert sample(registry, "queue_collector_mapping_stream_limit_points_total", outcome="dropped") == 3
    # The old processes' streams expire and free their slots.
    clock.now += 301
    stage.process_metrics(request(counter(SENT, number(1, start=9, time=200))))
    assert sample(registry, "queue_collector_mapping_streams") == 1
    assert sent(registry) == 3

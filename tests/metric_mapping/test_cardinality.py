"""The cardinality guard: allow-lists, label value caps, series limits with overflow, stream limits."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from queue_collector.metric_mapping import MappingConfigError, MetricMappingConfig, MetricMappingStage
from queue_collector.metric_mapping.config import CardinalityConfig, MetricLimits

from .mapping_testkit import DELTA, ORDERS, FakeClock, counter, gauge, number, request, sample, wired

SENT = "messaging.client.sent.messages"


def limited(**settings) -> MetricMappingConfig:
    return MetricMappingConfig(cardinality=CardinalityConfig(**settings))


def queues(count: int, *, time: int = 1):
    return [
        number(1, time=time, attributes={**ORDERS, "messaging.destination.name": f"q{index}"})
        for index in range(count)
    ]


def test_series_beyond_the_limit_go_to_one_overflow_series():
    stage, registry = wired(limited(max_series_per_metric=2))
    stage.process_metrics(request(counter(SENT, *queues(5))))
    text = generate_latest(registry).decode()
    assert 'queue_messages_sent_total{otel_metric_overflow="true",provider="",queue="",service=""} 3.0' in text
    assert sample(registry, "queue_messages_sent_total", service="checkout", provider="in_memory", queue="q0") == 1
    assert sample(registry, "queue_collector_mapping_series_overflow_total", metric="queue_messages_sent_total") == 3
    # Existing series keep growing; the overflow series keeps its streams' increases.
    stage.process_metrics(request(counter(SENT, *[number(2, time=2, attributes=point_attributes(p)) for p in queues(5)])))
    assert sample(registry, "queue_messages_sent_total", service="checkout", provider="in_memory", queue="q1") == 2
    assert sample(registry, "queue_messages_sent_total", otel_metric_overflow="true", service="", provider="", queue="") == 6


def point_attributes(point):
    return {item.key: item.value.string_value for item in point.attributes}


def test_overflow_gauges_and_histograms_are_valid_exposition():
    stage, registry = wired(limited(max_series_per_metric=1))
    stage.process_metrics(request(gauge("queue.depth", *[number(5.0, time=1, attributes=point_attributes(p)) for p in queues(3)])))
    assert sample(registry, "queue_depth", otel_metric_overflow="true", service="", provider="", queue="") == 5
    families = {family.name: family for family in registry.collect()}
    assert len(families["queue_depth"].samples) == 2


def test_a_per_metric_allow_list_drops_other_labels_before_aggregation():
    config = limited(metrics={"queue_send_errors_total": MetricLimits(labels=("service", "provider", "queue"))})
    stage, registry = wired(config)
    points = [
        number(1, time=1, attributes={**ORDERS, "queue.error.operation": "send", "error.type": f"E{index}"})
        for index in range(50)
    ]
    stage.process_metrics(request(counter("queue.errors", *points)))
    assert sample(registry, "queue_send_errors_total", service="checkout", provider="in_memory", queue="orders", error_type="") == 50


def test_label_values_beyond_the_cap_become_other():
    stage, registry = wired(limited(max_label_values=3))
    stage.process_metrics(request(counter(SENT, *queues(5))))
    assert sample(registry, "queue_messages_sent_total", service="checkout", provider="in_memory", queue="_other") == 2
    assert sample(registry, "queue_collector_mapping_label_values_capped_total", metric="queue_messages_sent_total") == 2


def test_the_global_stream_limit_and_expiry_free_slots():
    clock = FakeClock()
    stage, registry = wired(limited(max_streams=3), clock)
    stage.process_metrics(request(counter(SENT, *queues(5))))
    assert sample(registry, "queue_collector_mapping_streams") == 3
    assert sample(registry, "queue_collector_mapping_stream_limit_points_total", outcome="dropped") == 2
    clock.now += 301
    stage.process_metrics(request(counter(SENT, *queues(5, time=2)), instance="pod-2"))
    assert sample(registry, "queue_collector_mapping_streams") == 3


def test_delta_streams_beyond_the_limit_are_added_without_state():
    stage, registry = wired(limited(max_streams_per_source=1))
    points = [number(1, start=0, time=1, attributes={**ORDERS, "messaging.message.id": str(index)}) for index in range(4)]
    stage.process_metrics(request(counter(SENT, *points, temporality=DELTA)))
    stage.process_metrics(request(counter(SENT, *points, temporality=DELTA), instance="pod-2"))
    assert sample(registry, "queue_messages_sent_total", service="checkout", provider="in_memory", queue="orders") == 8
    assert sample(registry, "queue_collector_mapping_streams") == 2  # one per source and process


@pytest.mark.parametrize(
    ("cardinality", "expected"),
    [
        (CardinalityConfig(metrics={"queue_nope_total": MetricLimits()}), "unknown metric(s) queue_nope_total"),
        (CardinalityConfig(metrics={"queue_depth": MetricLimits(labels=("topic",))}), "['topic'] are not labels of queue_depth"),
        (CardinalityConfig(max_series_per_metric=0), "cardinality.max_series_per_metric: expected an integer >= 1"),
    ],
)
def test_bad_limits_stop_start_up(cardinality, expected):
    with pytest.raises(MappingConfigError, match=expected.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        MetricMappingStage(MetricMappingConfig(cardinality=cardinality))

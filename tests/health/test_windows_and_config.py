"""The sliding window rings, cumulative-stream baselines, and the health configuration."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from queue_collector.config import ReceiverConfig
from queue_collector.config_loading import ConfigError, load_config_file
from queue_collector.health.config import HealthConfig, ThresholdOverride
from queue_collector.health.queue_checks import ThresholdResolver
from queue_collector.health.traffic import QueueTraffic, read_metrics_request
from queue_collector.health.windows import WindowedHistogram, WindowedSum

_SECOND = 1_000_000_000


def test_windowed_sum_forgets_buckets_that_left_the_window():
    window = WindowedSum(3)
    window.add(10, 1)
    window.add(11, 2)
    window.add(12, 4)
    assert window.total(12) == 7
    assert window.total(13) == 6  # bucket 10 left
    window.add(13, 8)  # reuses bucket 10's slot
    assert window.total(13) == 14
    assert window.total(20) == 0


def test_windowed_histogram_average_and_p95_never_divide_by_zero():
    histogram = WindowedHistogram(2, (1.0, 5.0))
    empty = histogram.totals(0)
    assert empty.average is None and empty.quantile_upper_bound(0.95) is None
    histogram.add(0, [90, 9, 1], 120.0)
    totals = histogram.totals(0)
    assert totals.average == 1.2 and totals.quantile_upper_bound(0.95) == 5.0
    histogram.add(1, [0, 0, 100], 1000.0)
    assert histogram.totals(1).quantile_upper_bound(0.95) == math.inf


def _counter_request(value: int, start: int, time: int) -> ExportMetricsServiceRequest:
    def kv(key, value):
        return KeyValue(key=key, value=AnyValue(string_value=value))

    point = metrics_pb2.NumberDataPoint(
        start_time_unix_nano=start, time_unix_nano=time, as_int=value,
        attributes=[kv("messaging.destination.name", "orders"), kv("messaging.system", "in_memory")],
    )
    metric = metrics_pb2.Metric(name="messaging.client.sent.messages", sum=metrics_pb2.Sum(
        data_points=[point], is_monotonic=True,
        aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE))
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.append(kv("service.name", "checkout"))
    resource_metrics.scope_metrics.add().metrics.append(metric)
    return request


def _sent(traffic: QueueTraffic, now: float) -> float:
    (queue,) = traffic.snapshot(now).queues
    return queue.messages_sent


def test_cumulative_stream_that_started_long_ago_only_sets_the_baseline():
    traffic = QueueTraffic(window_seconds=60, bucket_seconds=10)
    start = 1_000 * _SECOND
    # First seen with a total built up over an hour: none of it is new in the window.
    traffic.record(read_metrics_request(_counter_request(5000, start, start + 3600 * _SECOND))[0], 5000.0)
    assert _sent(traffic, 5000.0) == 0
    traffic.record(read_metrics_request(_counter_request(5007, start, start + 3610 * _SECOND))[0], 5010.0)
    assert _sent(traffic, 5010.0) == 7
    # A producer restart (new start time) counts from zero.
    restart = start + 3615 * _SECOND
    traffic.record(read_metrics_request(_counter_request(4, restart, restart + 5 * _SECOND))[0], 5020.0)
    assert _sent(traffic, 5020.0) == 11
    # A repeated (stale) point adds nothing.
    traffic.record(read_metrics_request(_counter_request(4, restart, restart + 5 * _SECOND))[0], 5021.0)
    assert _sent(traffic, 5021.0) == 11 and traffic.stale_points == 1
    assert _sent(traffic, 5100.0) == 0  # all of it left the 60 s window


def test_overrides_load_from_yaml_and_inherit(tmp_path):
    path = tmp_path / "receiver.yaml"
    path.write_text(
        "health:\n"
        "  window_seconds: 120\n"
        "  thresholds:\n"
        "    processing_error_rate_unhealthy_above: 0.2\n"
        "  overrides:\n"
        "    checkout:\n"
        "      dlq_depth_unhealthy_above: 10\n"
        "    checkout/orders:\n"
        "      processing_error_rate_degraded_above: 0.01\n",
        encoding="utf-8",
    )
    config = load_config_file(ReceiverConfig, path).health
    assert config.overrides["checkout"] == ThresholdOverride(dlq_depth_unhealthy_above=10.0)
    resolver = ThresholdResolver(config)
    orders = resolver.for_queue("checkout", "orders")
    assert orders.processing_error_rate_degraded_above == 0.01
    assert orders.dlq_depth_unhealthy_above == 10.0
    assert orders.processing_error_rate_unhealthy_above == 0.2
    other = resolver.for_queue("billing", "orders")
    assert other.dlq_depth_unhealthy_above == 1000.0 and other.processing_error_rate_degraded_above == 0.05


def test_problems_inside_overrides_name_their_key_path(tmp_path):
    path = tmp_path / "receiver.yaml"
    path.write_text(
        "health:\n"
        "  window_seconds: 95\n"
        "  overrides:\n"
        "    checkout/orders:\n"
        "      dlq_depth_degraded_above: 50\n"
        "      dlq_depth_unhealthy_above: 5\n"
        "    /nothing: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config_file(ReceiverConfig, path)
    problems = [str(problem) for problem in raised.value.problems]
    assert "health.overrides.checkout/orders.dlq_depth_unhealthy_above: must be at least dlq_depth_degraded_above (50.0), got 5.0" in problems
    assert any(p.startswith("health.window_seconds: must be a whole number of buckets") for p in problems)
    assert any(p.startswith("health.overrides./nothing: expected a key SERVICE") for p in problems)


def test_unknown_override_key_is_named(tmp_path):
    path = tmp_path / "receiver.yaml"
    path.write_text("health:\n  overrides:\n    billing:\n      dead_letterd_above: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config_file(ReceiverConfig, path)
    (problem,) = raised.value.problems
    assert str(problem).startswith(
        "health.overrides.billing.dead_letterd_above: unknown key; did you mean 'dead_lettered_degraded_above'?"
    )


def test_default_health_config_is_valid():
    assert list(HealthConfig().validation_problems()) == []

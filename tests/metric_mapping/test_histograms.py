"""Histograms: exact and re-bucketed bounds, delta and cumulative, unit scaling, invalid points."""

from __future__ import annotations

import textwrap

from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client import generate_latest
from queue_collector.metric_mapping import MetricMappingConfig

from queue_telemetry.catalog import unified_metric

from .mapping_testkit import (
    DELTA,
    ORDERS,
    ORDERS_LABELS,
    histogram,
    histogram_point,
    request,
    sample,
    wired,
)

OPERATION = "messaging.client.operation.duration"
SEND = {**ORDERS, "messaging.operation.type": "send", "messaging.operation.name": "send"}
RECEIVE = {**ORDERS, "messaging.operation.type": "receive", "messaging.operation.name": "receive"}


def buckets_of(registry, name, labels):
    """``le`` -> cumulative count of one histogram series."""
    return {
        sample.labels["le"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name + "_bucket"
        and {k: v for k, v in sample.labels.items() if k != "le"} == labels
    }


def write_rules(tmp_path, text: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_delta_histogram_with_a_user_rule_adds_buckets(tmp_path):
    # A user-declared metric whose buckets are exactly the source's, so counts add one to one.
    rules = write_rules(
        tmp_path,
        """
        metrics:
          - name: checkout_wait_seconds
            type: histogram
            description: Time an order waits for a courier.
            buckets: [1, 5]
        rules:
          - name: courier-wait
            source: checkout.wait
            source_type: histogram
            target: checkout_wait_seconds
    """,
    )
    stage, registry = wired(MetricMappingConfig(rule_files=(rules,)))
    t0, t1, t2 = 10, 20, 30
    stage.process_metrics(
        request(
            histogram(
                "checkout.wait",
                histogram_point([1, 5], [1, 0, 0], total=0.5, start=t0, time=t1),
                temporality=DELTA,
            )
        )
    )
    stage.process_metrics(
        request(
            histogram(
                "checkout.wait",
                histogram_point([1, 5], [0, 1, 0], total=3.0, start=t1, time=t2),
                temporality=DELTA,
            )
        )
    )
    # The same window again (a retried export) is not added.
    stage.process_metrics(
        request(
            histogram(
                "checkout.wait",
                histogram_point([1, 5], [0, 1, 0], total=3.0, start=t1, time=t2),
                temporality=DELTA,
            )
        )
    )
    assert buckets_of(registry, "checkout_wait_seconds", ORDERS_LABELS) == {
        "1.0": 1,
        "5.0": 2,
        "+Inf": 2,
    }
    assert sample(registry, "checkout_wait_seconds_count", **ORDERS_LABELS) == 2
    assert sample(registry, "checkout_wait_seconds_sum", **ORDERS_LABELS) == 3.5


def test_cumulative_histogram_with_catalog_bounds_is_exact_and_filtered_by_operation():
    stage, registry = wired()
    bounds = unified_metric("queue_send_duration_seconds").buckets
    first = [0] * (len(bounds) + 1)
    first[0], first[5] = 2, 1
    second = list(first)
    second[5], second[-1] = 3, 1
    stage.process_metrics(
        request(
            histogram(
                OPERATION,
                histogram_point(bounds, first, total=0.1, start=1, time=2, attributes=SEND),
            )
        )
    )
    stage.process_metrics(
        request(
            histogram(
                OPERATION,
                histogram_point(bounds, second, total=40.2, start=1, time=3, attributes=SEND),
                histogram_point(bounds, first, total=0.1, start=1, time=3, attributes=RECEIVE),
            )
        )
    )
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 6
    assert sample(registry, "queue_send_duration_seconds_sum", **ORDERS_LABELS) == 40.2
    assert sample(registry, "queue_send_duration_seconds_bucket", **ORDERS_LABELS, le="0.001") == 2
    assert sample(registry, "queue_send_duration_seconds_bucket", **ORDERS_LABELS, le="0.05") == 5
    assert sample(registry, "queue_send_duration_seconds_bucket", **ORDERS_LABELS, le="30.0") == 5
    assert sample(registry, "queue_send_duration_seconds_bucket", **ORDERS_LABELS, le="+Inf") == 6
    assert sample(registry, "queue_receive_duration_seconds_count", **ORDERS_LABELS) == 3
    # Producer restart: the new cumulative histogram is added in full.
    stage.process_metrics(
        request(
            histogram(
                OPERATION,
                histogram_point(bounds, first, total=0.1, start=9, time=10, attributes=SEND),
            )
        )
    )
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 9


def test_other_bounds_are_rebucketed_conservatively():
    stage, registry = wired()
    # queue_session_duration_seconds has bounds 1, 5, 10, 30, ..., 3600.
    point = histogram_point([2, 7, 4000], [1, 2, 3, 4], total=9000, time=1)
    stage.process_metrics(request(histogram("queue.session.duration", point)))
    buckets = buckets_of(registry, "queue_session_duration_seconds", ORDERS_LABELS)
    assert buckets["1.0"] == 0
    assert buckets["5.0"] == 1  # (1, 2] -> le=5
    assert buckets["10.0"] == 3  # (2, 7] -> le=10
    assert buckets["3600.0"] == 3  # (7, 4000] exceeds every finite bound -> +Inf
    assert buckets["+Inf"] == 10
    assert sample(registry, "queue_session_duration_seconds_sum", **ORDERS_LABELS) == 9000


def test_a_rule_scales_milliseconds_to_seconds(tmp_path):
    rules = write_rules(
        tmp_path,
        """
        rules:
          - source: legacy.send.duration
            source_type: histogram
            target: queue_send_duration_seconds
            scale: 0.001
    """,
    )
    stage, registry = wired(MetricMappingConfig(rule_files=(rules,)))
    point = histogram_point([1, 5, 25], [1, 1, 1, 1], total=100, time=1)
    stage.process_metrics(request(histogram("legacy.send.duration", point)))
    buckets = buckets_of(registry, "queue_send_duration_seconds", ORDERS_LABELS)
    assert buckets["0.001"] == 1
    assert buckets["0.005"] == 2
    assert buckets["0.01"] == 2
    assert buckets["0.025"] == 3  # 25 * 0.001 lands in le=0.025 despite float rounding
    assert buckets["30.0"] == 3
    assert buckets["+Inf"] == 4
    assert abs(sample(registry, "queue_send_duration_seconds_sum", **ORDERS_LABELS) - 0.1) < 1e-12


def test_histogram_without_bucket_counts_is_dropped_and_scrapes_still_work():
    stage, registry = wired()
    broken = metrics_pb2.HistogramDataPoint(
        time_unix_nano=1, count=3, sum=1.5, explicit_bounds=[0.1, 1]
    )
    broken.attributes.extend(histogram_point([], [], attributes=ORDERS).attributes)
    good = histogram_point(
        [], [], count=0, time=1, attributes={**ORDERS, "messaging.destination.name": "billing"}
    )
    good.bucket_counts.append(2)
    good.count = 2
    rejections = stage.process_metrics(
        request(histogram("messaging.process.duration", broken, good))
    )
    assert rejections is not None
    assert rejections.count == 1
    assert (
        rejections.message == "histogram messaging.process.duration: 2 bounds but no bucket counts"
    )
    assert (
        sample(registry, "queue_message_processing_duration_seconds_count", **ORDERS_LABELS) is None
    )
    billing = {**ORDERS_LABELS, "queue": "billing"}
    assert (
        sample(registry, "queue_message_processing_duration_seconds_bucket", **billing, le="+Inf")
        == 2
    )
    assert (
        sample(registry, "queue_message_processing_duration_seconds_bucket", **billing, le="300.0")
        == 0
    )
    assert b"queue_message_processing_duration_seconds_count" in generate_latest(registry)
    assert (
        sample(
            registry, "queue_collector_mapping_points_rejected_total", reason="invalid_histogram"
        )
        == 1
    )


def test_inconsistent_histograms_are_rejected():
    stage, _ = wired()
    wrong_length = histogram_point([0.1, 1], [1, 1], time=1)
    wrong_count = histogram_point([0.1, 1], [1, 1, 1], count=5, time=1)
    unsorted = histogram_point([1, 0.1], [1, 1, 1], time=1)
    rejections = stage.process_metrics(
        request(histogram("messaging.process.duration", wrong_length, wrong_count, unsorted))
    )
    assert rejections is not None and rejections.count == 3
    assert "2 bounds need 3 bucket counts, got 2" in rejections.message
    assert "bucket counts add up to 3 but count is 5" in rejections.message
    assert "bounds are not strictly increasing" in rejections.message


def test_exponential_histograms_are_rejected_with_a_clear_message():
    stage, _ = wired()
    metric = metrics_pb2.Metric(name="messaging.process.duration")
    metric.exponential_histogram.aggregation_temporality = (
        metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    metric.exponential_histogram.data_points.add(time_unix_nano=1, count=1)
    metric.exponential_histogram.data_points.add(time_unix_nano=1, count=2)
    rejections = stage.process_metrics(request(metric))
    assert rejections is not None and rejections.count == 2
    assert "exponential histograms are not supported yet" in rejections.message


def test_histograms_with_too_many_bounds_are_rejected():
    from queue_collector.metric_mapping.points import MAX_HISTOGRAM_BOUNDS

    stage, registry = wired()
    bounds = [float(index) for index in range(1, MAX_HISTOGRAM_BOUNDS + 2)]
    point = histogram_point(bounds, [0] * len(bounds) + [1], time=1, attributes=SEND)
    rejections = stage.process_metrics(request(histogram(OPERATION, point)))
    assert rejections is not None and rejections.count == 1
    assert f"{MAX_HISTOGRAM_BOUNDS + 1} bounds, more than the {MAX_HISTOGRAM_BOUNDS} allowed" in (
        rejections.message
    )
    assert (
        sample(registry, "queue_collector_mapping_points_rejected_total", reason="invalid_histogram")
        == 1
    )
    allowed = histogram_point(bounds[:-1], [0] * (len(bounds) - 1) + [1], time=1, attributes=SEND)
    assert stage.process_metrics(request(histogram(OPERATION, allowed))) is None


def test_the_bucket_mapping_cache_is_bounded_by_size():
    from queue_collector.metric_mapping import buckets

    cache = buckets.BucketMappingCache()
    target = (1.0, 5.0)
    for variant in range(300):
        source = tuple(index + variant * 1e-6 for index in range(1, 1001))
        assert cache.get(source, 1.0, target) == buckets.bucket_mapping(source, 1.0, target)
    held = sum(len(key[0]) + len(mapping or ()) for key, mapping in cache._cache.items())
    assert held <= buckets._CACHE_ELEMENT_LIMIT
    assert held == cache._elements


def test_changed_bounds_under_the_same_start_add_only_new_observations():
    stage, registry = wired()
    send = lambda bounds, counts, time: stage.process_metrics(  # noqa: E731
        request(histogram(OPERATION, histogram_point(bounds, counts, start=1, time=time, attributes=SEND)))
    )
    send([1, 2], [5, 5, 0], 100)
    send([1, 2, 3], [5, 5, 1, 0], 200)  # a bound added: one new observation in (2, 3]
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 11
    send([2], [11, 1], 300)  # bounds removed: one more observation in (-inf, 2]
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 12
    assert buckets_of(registry, "queue_send_duration_seconds", ORDERS_LABELS)["+Inf"] == 12
    # Previous observations that do not fit the new buckets: a reset, added in full.
    send([3], [5, 8], 400)  # 11 observations were <= 2, now only 5 are <= 3
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 25


def test_bucket_difference_splits_previous_buckets_over_refined_ones():
    from queue_collector.metric_mapping.buckets import bucket_difference

    assert bucket_difference((2.0,), (5, 1), (1.0, 2.0), (3, 3, 1)) == (0, 1, 0)
    assert bucket_difference((1.0, 2.0), (3, 2, 1), (2.0,), (6, 2)) == (1, 1)
    assert bucket_difference((1.0,), (3, 1), (2.0,), (2, 3)) is None

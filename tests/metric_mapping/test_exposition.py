"""What /metrics shows: exact catalog names, HELP/TYPE for everything, valid for promtool."""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest
from prometheus_client import generate_latest
from queue_collector.metric_mapping import MetricMappingConfig

from queue_telemetry.catalog import UNIFIED_METRICS, UnifiedKind, unified_metric

from .mapping_testkit import (
    ORDERS,
    ORDERS_LABELS,
    counter,
    gauge,
    histogram,
    histogram_point,
    number,
    request,
    wired,
)


def busy_stage(tmp_path=None):
    """A stage that has seen every kind of point, including awkward label values."""
    config = MetricMappingConfig()
    if tmp_path is not None:
        path = tmp_path / "rules.yaml"
        path.write_text(
            textwrap.dedent("""
            metrics:
              - name: checkout_wait_seconds
                type: histogram
                description: Time an order waits for a courier.
                buckets: [1, 5]
            rules:
              - source: checkout.wait
                source_type: histogram
                target: checkout_wait_seconds
        """)
        )
        config = MetricMappingConfig(rule_files=(str(path),))
    stage, registry = wired(config)
    odd = {**ORDERS, "messaging.destination.name": 'we"ird\\queue\nname'}
    bounds = unified_metric("queue_message_processing_duration_seconds").buckets
    stage.process_metrics(
        request(
            counter(
                "messaging.client.sent.messages",
                number(3, time=1),
                number(1, time=1, attributes=odd),
            ),
            counter(
                "queue.errors",
                number(
                    2,
                    time=1,
                    attributes={**ORDERS, "queue.error.operation": "send", "error.type": "timeout"},
                ),
            ),
            histogram(
                "messaging.process.duration",
                histogram_point(bounds, [1] * (len(bounds) + 1), total=400.5, time=1),
            ),
            histogram("checkout.wait", histogram_point([1, 5], [1, 2, 3], total=30, time=1)),
            gauge("queue.depth", number(7.5, time=1)),
            counter("queue.messages.in_flight", number(2, time=1), monotonic=False),
            counter("queue.messages.acknowledged", number(-1, time=1)),
        )
    )
    return stage, registry


def test_counters_are_exposed_with_exactly_the_catalog_names():
    _, registry = busy_stage()
    text = generate_latest(registry).decode()
    assert "# TYPE queue_messages_sent_total counter" in text
    assert (
        'queue_messages_sent_total{provider="in_memory",queue="orders",service="checkout"} 3.0'
        in text
    )
    assert "_total_total" not in text
    assert "queue_messages_sent_created" not in text


def test_every_catalog_metric_but_health_is_described():
    stage, registry = busy_stage()
    text = generate_latest(registry).decode()
    for metric in UNIFIED_METRICS:
        if metric.name == "queue_health_status":
            assert "queue_health_status" not in text
            continue
        assert f"# HELP {metric.name} {metric.description}\n" in text
        assert f"# TYPE {metric.name} {metric.kind.value}\n" in text
    described = {family.name for family in stage.prometheus_collector().describe()}
    assert "queue_messages_sent" in described  # prometheus_client keeps counters without "_total"
    assert "queue_collector_mapping_points_mapped" in described


def test_histograms_are_cumulative_in_seconds_with_inf():
    _, registry = busy_stage()
    text = generate_latest(registry).decode()
    labels = 'provider="in_memory",queue="orders",service="checkout"'
    bounds = unified_metric("queue_message_processing_duration_seconds").buckets
    assert f'queue_message_processing_duration_seconds_bucket{{le="0.001",{labels}}} 1.0' in text
    assert (
        f'queue_message_processing_duration_seconds_bucket{{le="300.0",{labels}}} {float(len(bounds))}'
        in text
    )
    assert (
        f'queue_message_processing_duration_seconds_bucket{{le="+Inf",{labels}}} {float(len(bounds) + 1)}'
        in text
    )
    assert f"queue_message_processing_duration_seconds_sum{{{labels}}} 400.5" in text


def test_self_metrics_are_exposed():
    _, registry = busy_stage()
    assert registry.get_sample_value("queue_collector_mapping_points_mapped_total") == 6
    assert (
        registry.get_sample_value(
            "queue_collector_mapping_points_rejected_total", {"reason": "invalid_value"}
        )
        == 1
    )
    assert registry.get_sample_value("queue_collector_mapping_streams_expired_total") == 0
    assert registry.get_sample_value("queue_collector_mapping_streams") == 6


def test_registering_twice_fails_loudly():
    stage, registry = wired()
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(stage.prometheus_collector())
    assert stage.prometheus_collector() is stage.prometheus_collector()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
@pytest.mark.parametrize("with_data", [False, True])
def test_promtool_check_metrics_passes(tmp_path, with_data):
    if with_data:
        _, registry = busy_stage(tmp_path)
    else:
        _, registry = wired()
    exposition = generate_latest(registry)
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_exposition_is_stable_for_a_pinned_input():
    first = generate_latest(busy_stage()[1])
    second = generate_latest(busy_stage()[1])
    assert first == second


def test_unified_kinds_match_prometheus_types():
    _, registry = busy_stage()
    types = {family.name: family.type for family in registry.collect()}
    for metric in UNIFIED_METRICS:
        if metric.source is None:
            continue
        name = metric.name[: -len("_total")] if metric.kind is UnifiedKind.COUNTER else metric.name
        assert types[name] == metric.kind.value
    assert ORDERS_LABELS["service"] == "checkout"

"""The catalog holds every metric of the specification with the name, type, unit and labels
the design gives, and is internally consistent."""

import math

import pytest

from queue_telemetry import catalog
from queue_telemetry.catalog import InstrumentKind, UnifiedKind

QUEUE_LABELS = ("service", "provider", "queue")

# (name, type, unit) for every metric of the original specification, as the design lists them.
SPECIFIED = [
    ("queue_messages_sent_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_messages_received_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_messages_acknowledged_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_messages_rejected_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_messages_dead_lettered_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_send_errors_total", UnifiedKind.COUNTER, "{error}"),
    ("queue_receive_errors_total", UnifiedKind.COUNTER, "{error}"),
    ("queue_processing_errors_total", UnifiedKind.COUNTER, "{error}"),
    ("queue_sessions_created_total", UnifiedKind.COUNTER, "{session}"),
    ("queue_sessions_closed_total", UnifiedKind.COUNTER, "{session}"),
    ("queue_dlq_messages_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_dlq_recovery_attempts_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_dlq_recovery_successes_total", UnifiedKind.COUNTER, "{message}"),
    ("queue_message_processing_duration_seconds", UnifiedKind.HISTOGRAM, "s"),
    ("queue_send_duration_seconds", UnifiedKind.HISTOGRAM, "s"),
    ("queue_receive_duration_seconds", UnifiedKind.HISTOGRAM, "s"),
    ("queue_session_duration_seconds", UnifiedKind.HISTOGRAM, "s"),
    ("queue_depth", UnifiedKind.GAUGE, "{message}"),
    ("queue_active_sessions", UnifiedKind.GAUGE, "{session}"),
    ("queue_processing_messages", UnifiedKind.GAUGE, "{message}"),
    ("azure_servicebus_lock_renewals_total", UnifiedKind.COUNTER, "{renewal}"),
    ("azure_servicebus_session_timeouts_total", UnifiedKind.COUNTER, "{timeout}"),
    ("azure_servicebus_quota_exceeded_total", UnifiedKind.COUNTER, "{error}"),
    ("aws_sqs_visibility_timeout_extensions_total", UnifiedKind.COUNTER, "{extension}"),
    ("aws_sqs_throttling_errors_total", UnifiedKind.COUNTER, "{error}"),
    ("aws_sqs_fifo_deduplication_total", UnifiedKind.COUNTER, "{message}"),
]

SEMANTIC_CONVENTION_INSTRUMENTS = [
    ("messaging.client.sent.messages", InstrumentKind.COUNTER, "{message}"),
    ("messaging.client.consumed.messages", InstrumentKind.COUNTER, "{message}"),
    ("messaging.client.operation.duration", InstrumentKind.HISTOGRAM, "s"),
    ("messaging.process.duration", InstrumentKind.HISTOGRAM, "s"),
]


@pytest.mark.parametrize(("name", "kind", "unit"), SPECIFIED)
def test_every_specified_metric_exists_with_its_type_unit_and_queue_labels(name, kind, unit):
    metric = catalog.unified_metric(name)
    assert metric.kind is kind
    assert metric.unit == unit
    assert metric.labels[:3] == QUEUE_LABELS


def test_health_status_is_labelled_by_service_queue_and_check():
    metric = catalog.unified_metric("queue_health_status")
    assert metric.kind is UnifiedKind.GAUGE
    assert metric.labels == ("service", "queue", "check")
    assert metric.source is None


def test_current_dead_letter_depth_is_a_gauge_beside_the_counter():
    assert catalog.unified_metric("queue_dlq_depth").kind is UnifiedKind.GAUGE
    assert catalog.unified_metric("queue_dlq_messages_total").kind is UnifiedKind.COUNTER


@pytest.mark.parametrize(("name", "kind", "unit"), SEMANTIC_CONVENTION_INSTRUMENTS)
def test_semantic_convention_instruments_carry_the_required_attributes(name, kind, unit):
    instrument = catalog.instrument(name)
    assert instrument.kind is kind
    assert instrument.unit == unit
    for required in ("messaging.system", "messaging.operation.name", "messaging.destination.name"):
        assert required in instrument.attributes
    assert "error.type" in instrument.optional_attributes


def test_every_unified_metric_names_an_existing_source_of_a_fitting_kind():
    fitting = {
        UnifiedKind.COUNTER: {InstrumentKind.COUNTER},
        UnifiedKind.HISTOGRAM: {InstrumentKind.HISTOGRAM},
        UnifiedKind.GAUGE: {InstrumentKind.GAUGE, InstrumentKind.UP_DOWN_COUNTER},
    }
    for metric in catalog.UNIFIED_METRICS:
        if metric.source is None:
            continue
        source = catalog.instrument(metric.source)
        assert source.kind in fitting[metric.kind], metric.name
        known = set(source.attributes) | set(source.optional_attributes)
        for key in list(metric.source_filter.equals) + list(metric.source_filter.absent):
            assert key in known, f"{metric.name} filters on {key}, which {source.name} never has"
        for label in metric.labels:
            attribute = catalog.LABEL_SOURCES[label]
            assert label == "service" or attribute in known, f"{metric.name}: {label}"


def test_histogram_buckets_cover_the_specified_ranges():
    processing = catalog.unified_metric("queue_message_processing_duration_seconds").buckets
    session = catalog.unified_metric("queue_session_duration_seconds").buckets
    receive = catalog.unified_metric("queue_receive_duration_seconds").buckets
    assert processing[0] <= 0.001 and processing[-1] >= 300
    assert session[0] <= 1 and session[-1] >= 3600
    assert receive[-1] >= 20
    for metric in catalog.UNIFIED_METRICS:
        if metric.kind is UnifiedKind.HISTOGRAM:
            bounds = metric.buckets
            assert list(bounds) == sorted(set(bounds)) and all(math.isfinite(b) for b in bounds)
            assert bounds == catalog.instrument(metric.source).buckets, metric.name


def test_names_are_unique_and_prometheus_shaped():
    names = [metric.name for metric in catalog.UNIFIED_METRICS]
    assert len(names) == len(set(names))
    for metric in catalog.UNIFIED_METRICS:
        assert metric.name.replace("_", "").isalnum() and metric.name.islower()
        assert (metric.kind is UnifiedKind.COUNTER) == metric.name.endswith("_total")
        assert not metric.name.endswith("_total_total")
        if metric.kind is UnifiedKind.GAUGE:
            assert metric.gauge_aggregation is not None
    instrument_names = [item.name for item in catalog.INSTRUMENTS]
    assert len(instrument_names) == len(set(instrument_names))


def test_provider_specific_metrics_name_their_provider():
    for metric in catalog.UNIFIED_METRICS:
        if metric.name.startswith("azure_servicebus_"):
            assert metric.provider == "servicebus"
            assert catalog.instrument(metric.source).provider == "servicebus"
        elif metric.name.startswith("aws_sqs_"):
            assert metric.provider == "aws_sqs"
            assert catalog.instrument(metric.source).provider == "aws_sqs"
        else:
            assert metric.provider is None


def test_unknown_names_raise_naming_the_name():
    with pytest.raises(KeyError, match="queue_nope_total"):
        catalog.unified_metric("queue_nope_total")
    with pytest.raises(KeyError, match="queue.nope"):
        catalog.instrument("queue.nope")

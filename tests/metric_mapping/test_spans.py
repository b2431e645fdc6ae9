"""Traces: legacy attribute renaming on the way to Jaeger, and queue metrics derived from spans."""

from __future__ import annotations

from typing import Any, Mapping

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2
from queue_collector.metric_mapping import MetricMappingConfig, MetricMappingStage
from queue_collector.metric_mapping.config import SpanMetricsConfig

from .mapping_testkit import ORDERS, FakeClock, counter, key_values, number, request, sample, wired

PRODUCER = trace_pb2.Span.SPAN_KIND_PRODUCER
DERIVING = MetricMappingConfig(span_metrics=SpanMetricsConfig(enabled=True))
ORDERS_LABELS = {"service": "checkout", "provider": "in_memory", "queue": "orders"}


def span(attributes: Mapping[str, Any], *, name: str = "send orders", seconds: float = 0.01) -> trace_pb2.Span:
    item = trace_pb2.Span(name=name, kind=PRODUCER, start_time_unix_nano=10**18,
                          end_time_unix_nano=10**18 + int(seconds * 1e9))
    item.attributes.extend(key_values(attributes))
    return item


def traces(*spans: trace_pb2.Span, service: str = "checkout", language: str | None = None,
           scope: str = "app") -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource = {"service.name": service}
    if language:
        resource["telemetry.sdk.language"] = language
    resource_spans.resource.attributes.extend(key_values(resource))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return message


def attributes_of(item: trace_pb2.Span) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in item.attributes}


SEND = {**ORDERS, "messaging.operation.name": "send", "messaging.operation.type": "send"}


def test_legacy_attributes_are_renamed_to_the_conventions():
    stage, registry = wired()
    legacy = {"queue.name": "orders", "message.id": "m-1", "queue.operation": "send",
              "queue.session_id": "s-7", "other": "x"}
    request_ = traces(span(legacy), span({"http.route": "/"}), language="rust")
    assert stage.process_traces(request_) is None
    first, second = request_.resource_spans[0].scope_spans[0].spans
    assert attributes_of(first) == {
        "messaging.destination.name": "orders", "messaging.message.id": "m-1",
        "messaging.operation.name": "send", "messaging.operation.type": "send",
        "queue.session.id": "s-7", "other": "x",
    }
    assert attributes_of(second) == {"http.route": "/"}
    assert sample(registry, "queue_collector_mapping_legacy_spans_normalized_total") == 1


def test_a_conventional_attribute_already_present_wins_over_the_legacy_one():
    stage, _ = wired()
    request_ = traces(span({"queue.name": "old", "messaging.destination.name": "new",
                            "queue.operation": "frobnicate"}))
    stage.process_traces(request_)
    assert attributes_of(request_.resource_spans[0].scope_spans[0].spans[0]) == {
        "messaging.destination.name": "new", "messaging.operation.name": "frobnicate",
    }


def test_only_listed_languages_have_every_span_checked():
    stage, _ = wired()
    # Not rust, and the scope's first span has no legacy key: the scope is left alone.
    request_ = traces(span({"http.route": "/"}), span({"queue.name": "orders"}), language="go")
    stage.process_traces(request_)
    assert attributes_of(request_.resource_spans[0].scope_spans[0].spans[1]) == {"queue.name": "orders"}
    off = MetricMappingStage(MetricMappingConfig(normalize_legacy_spans=False))
    request_ = traces(span({"queue.name": "orders"}), language="rust")
    off.process_traces(request_)
    assert attributes_of(request_.resource_spans[0].scope_spans[0].spans[0]) == {"queue.name": "orders"}


def test_span_metrics_are_off_by_default_and_screen_always_answers_true():
    stage, registry = wired()
    stage.process_traces(traces(span(SEND)))
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) is None
    assert stage.screen(b"") is True and stage.screen(b"\x0a\x00") is True


def test_spans_feed_counters_and_histograms():
    stage, registry = wired(DERIVING)
    stage.process_traces(traces(
        span(SEND, seconds=0.02),
        span({**SEND, "messaging.batch.message_count": 4}),
        span({**SEND, "error.type": "throttled"}),
        span({**ORDERS, "messaging.operation": "publish"}),  # an older convention
    ))
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == 6
    assert sample(registry, "queue_send_errors_total", error_type="throttled", **ORDERS_LABELS) == 1
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 4
    assert sample(registry, "queue_send_duration_seconds_bucket", le="0.025", **ORDERS_LABELS) == 4
    assert sample(registry, "queue_send_duration_seconds_bucket", le="0.01", **ORDERS_LABELS) == 3


def test_no_double_counting_once_the_service_sends_metrics():
    clock = FakeClock()
    stage, registry = wired(DERIVING, clock)
    stage.process_traces(traces(span(SEND)))  # before any metric: counted (the documented edge)
    stage.process_metrics(request(counter("messaging.client.sent.messages", number(10, time=1))))
    stage.process_traces(traces(span(SEND)))  # skipped: metrics feed this service's counter
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == 11
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) == 2  # no metric for it
    # Another service's spans still count.
    stage.process_traces(traces(span(SEND), service="billing"))
    assert sample(registry, "queue_messages_sent_total", **{**ORDERS_LABELS, "service": "billing"}) == 1
    # Once the metric streams expired, spans count again.
    clock.now += 301
    stage.process_metrics(request(counter("messaging.client.consumed.messages", number(1, time=2))))
    stage.process_traces(traces(span(SEND)))
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == 12


def test_odd_spans_never_fail_the_request():
    stage, registry = wired(DERIVING)
    odd = span({"messaging.operation.type": 7, "messaging.batch.message_count": "many"})
    backwards = span(SEND)
    backwards.end_time_unix_nano = 1
    assert stage.process_traces(traces(odd, backwards, span({}))) is None
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == 1
    assert sample(registry, "queue_send_duration_seconds_count", **ORDERS_LABELS) is None

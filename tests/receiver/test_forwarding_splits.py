"""A merged request refused for good is resent request by request; oversized requests are split."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from queue_collector.exporters.request_splitting import split_request
from queue_collector.otlp_signals import TRACES
from tests.support.timing import wait_until

from .test_forwarder import Sink, forwarder_for, request_with


@pytest.fixture
def strict_sink():
    server = Sink(check_ids=True)
    yield server
    server.stop()


def test_one_bad_request_in_a_merged_batch_drops_only_itself(strict_sink, caplog):
    strict_sink.gate.clear()  # hold the first request so the others queue up and merge
    forwarder = forwarder_for(strict_sink, max_queue_requests=100)
    try:
        forwarder.export_traces(request_with("first"))
        wait_until(lambda: strict_sink.arrivals == 1, message="the first request held at the sink")
        for index in range(20):
            forwarder.export_traces(request_with(f"good-{index}"))
        forwarder.export_traces(request_with("bad", trace_id=b"\x01" * 3))
        for index in range(20, 40):
            forwarder.export_traces(request_with(f"good-{index}"))
        strict_sink.gate.set()
        wait_until(lambda: forwarder.statistics().failed_requests == 1, message="the bad request dropped")
        wait_until(lambda: forwarder.statistics().exported_requests == 41, message="the good requests")
        assert sorted(strict_sink.span_names()) == sorted(["first"] + [f"good-{index}" for index in range(40)])
        assert len(strict_sink.refused_sizes) == 2  # the merged request, then the bad one alone
        assert "sending them one by one" in caplog.text
    finally:
        forwarder.shutdown(5)


def many_spans_request(resources: int, spans_per_scope: int, name_bytes: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for resource_index in range(resources):
        resource_spans = request.resource_spans.add()
        attribute = resource_spans.resource.attributes.add()
        attribute.key, attribute.value.string_value = "service.name", f"service-{resource_index}"
        for scope_index in range(2):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = f"scope-{scope_index}"
            for span_index in range(spans_per_scope):
                span = scope_spans.spans.add()
                span.name = f"{resource_index}-{scope_index}-{span_index}-".ljust(name_bytes, "x")
                span.trace_id, span.span_id = bytes(range(16)), bytes(range(8))
    return request


def test_split_request_keeps_every_span_with_its_resource_and_scope_within_the_limit():
    request = many_spans_request(resources=3, spans_per_scope=50, name_bytes=200)
    limit = 4096
    parts = split_request(request, TRACES, limit)
    assert len(request.SerializeToString()) > 10 * limit
    assert all(len(part) <= limit for part in parts)
    seen = []
    for part in parts:
        for resource_spans in ExportTraceServiceRequest.FromString(part).resource_spans:
            service = resource_spans.resource.attributes[0].value.string_value
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    resource_index, scope_index, _ = span.name.split("-", 3)[:3]
                    assert service == f"service-{resource_index}"
                    assert scope_spans.scope.name == f"scope-{scope_index}"
                    seen.append(span.name)
    expected = [span.name for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert seen == expected


def test_a_request_over_max_request_bytes_is_split_before_the_endpoint_limit():
    limit = 64 * 1024
    sink = Sink(max_message_bytes=limit)
    forwarder = forwarder_for(sink, max_request_bytes=limit, max_batch_bytes=limit)
    try:
        request = many_spans_request(resources=2, spans_per_scope=200, name_bytes=400)
        assert len(request.SerializeToString()) > 4 * limit
        forwarder.export_traces(request)
        wait_until(lambda: len(sink.span_names()) == 800, message="every span at the sink")
        assert forwarder.statistics().failed_requests == 0
        assert len(sink.received) > 4
    finally:
        forwarder.shutdown(5)
        sink.stop()

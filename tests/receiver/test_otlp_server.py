"""The OTLP gRPC receiver, driven by the real SDK exporters and by raw gRPC calls."""

from __future__ import annotations

import gzip
import json

import logging

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from queue_collector.app import ReceiverApp
from queue_collector.pipeline import ExporterBackpressure, Rejections
from queue_collector.self_metrics import RefusalReason

from .conftest import make_logs, make_metrics, make_spans, receiver_config

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def raw_call(app: ReceiverApp, payload: bytes, method: str = TRACE_METHOD, compression=None):
    with grpc.insecure_channel(f"127.0.0.1:{app.otlp_port}") as channel:
        return channel.unary_unary(method)(payload, timeout=10, compression=compression)


def valid_request(name: str = "ok") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", "raw-client"
    span = resource_spans.scope_spans.add().spans.add()
    span.name = name
    span.trace_id = bytes(range(16))
    span.span_id = bytes(range(8))
    return request


def assert_still_serving(app: ReceiverApp) -> None:
    response = ExportTraceServiceResponse.FromString(raw_call(app, valid_request().SerializeToString()))
    assert not response.HasField("partial_success")


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_exporters_deliver_all_three_signals(receiver, tmp_path, compression):
    endpoint = f"127.0.0.1:{receiver.otlp_port}"
    spans = OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=compression)
    metrics = OTLPMetricExporter(endpoint=endpoint, insecure=True, compression=compression)
    logs = OTLPLogExporter(endpoint=endpoint, insecure=True, compression=compression)
    try:
        assert spans.export(make_spans(count=3)) is SpanExportResult.SUCCESS
        assert metrics.export(make_metrics()) is MetricExportResult.SUCCESS
        assert logs.export(make_logs()) is LogRecordExportResult.SUCCESS
    finally:
        spans.shutdown()
        metrics.shutdown()
        logs.shutdown()

    [trace_line] = read_lines(tmp_path / "traces.jsonl")
    exported_spans = trace_line["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert sorted(span["name"] for span in exported_spans) == ["child-0", "child-1", "parent"]
    [log_line] = read_lines(tmp_path / "logs.jsonl")
    assert log_line["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] == {"stringValue": "message processed"}
    registry = receiver.registry
    assert registry.get_sample_value("queue_collector_received_items_total", {"signal": "traces"}) == 3
    assert registry.get_sample_value("queue_collector_received_requests_total", {"signal": "metrics"}) == 1
    assert registry.get_sample_value("queue_collector_received_items_total", {"signal": "logs"}) == 1


def test_full_success_leaves_partial_success_unset(receiver):
    response_bytes = raw_call(receiver, valid_request().SerializeToString())
    assert response_bytes == b""
    assert not ExportTraceServiceResponse.FromString(response_bytes).HasField("partial_success")


def test_malformed_bytes_are_invalid_argument_naming_the_problem(receiver):
    with pytest.raises(grpc.RpcError) as caught:
        raw_call(receiver, b"\x0a\xff\xff\xff")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed ExportTraceServiceRequest" in caught.value.details()
    assert "resource_spans[0]" in caught.value.details()
    assert receiver.self_metrics.refused("traces", RefusalReason.MALFORMED) == 1
    assert_still_serving(receiver)


def test_invalid_utf8_in_a_string_is_invalid_argument(receiver):
    payload = valid_request(name="AAAA").SerializeToString().replace(b"AAAA", b"\xff\xfeAA")
    with pytest.raises(grpc.RpcError) as caught:
        raw_call(receiver, payload)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details()
    assert "UTF-8" in details
    assert "resource_spans[0].scope_spans[0].spans[0].name" in details
    assert_still_serving(receiver)


@pytest.mark.parametrize("size", [64 * 1024 + 1, 200 * 1024])
def test_oversized_request_is_resource_exhausted(receiver, size):
    payload = valid_request(name="x" * size).SerializeToString()
    with pytest.raises(grpc.RpcError) as caught:
        raw_call(receiver, payload)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    if size < 2 * 64 * 1024:  # under gRPC's own ceiling: the receiver's precise message
        assert f"{len(payload)} bytes" in caught.value.details()
        assert str(64 * 1024) in caught.value.details()
    assert_still_serving(receiver)


def test_gzip_request_small_on_the_wire_but_large_decompressed_is_resource_exhausted(receiver):
    payload = valid_request(name="z" * (100 * 1024)).SerializeToString()
    assert len(gzip.compress(payload)) < 4 * 1024
    with pytest.raises(grpc.RpcError) as caught:
        raw_call(receiver, payload, compression=grpc.Compression.Gzip)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{len(payload)} bytes" in caught.value.details()
    assert receiver.self_metrics.refused("traces", RefusalReason.TOO_LARGE) == 1
    assert_still_serving(receiver)


class _RefusingExporter:
    name = "refusing"
    signals = frozenset({"traces", "logs"})

    def ensure_capacity(self) -> None:
        raise ExporterBackpressure("export queue is full", retry_after_seconds=2.5)

    def export_traces(self, request) -> None:
        raise AssertionError("must not be called after a refusal")

    def export_logs(self, request) -> None:
        raise AssertionError("must not be called after a refusal")

    def shutdown(self, timeout_seconds: float) -> None:
        pass


def test_backpressure_is_unavailable_with_retry_info_in_trailer_and_details(tmp_path, clock):
    app = ReceiverApp(receiver_config(tmp_path), clock=clock, exporters=[_RefusingExporter()])
    app.start()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            raw_call(app, valid_request().SerializeToString())
        error = caught.value
        assert error.code() is grpc.StatusCode.UNAVAILABLE
        assert "export queue is full" in error.details()
        trailers = dict(error.trailing_metadata())
        from_trailer = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert from_trailer.retry_delay.ToNanoseconds() == 2_500_000_000
        status = rpc_status.from_call(error)
        [detail] = status.details
        from_details = error_details_pb2.RetryInfo()
        assert detail.Unpack(from_details)
        assert from_details == from_trailer
        assert app.self_metrics.refused("traces", RefusalReason.BACKPRESSURE) == 1
        # Metrics need no exporter capacity: still accepted.
        exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{app.otlp_port}", insecure=True)
        assert exporter.export(make_metrics()) is MetricExportResult.SUCCESS
        exporter.shutdown()
    finally:
        app.stop(5.0)


class _StandInStage:
    """Rejects two spans per request, or raises, as the test asks."""

    name = "stand_in"

    def __init__(self, raise_error: bool) -> None:
        self.raise_error = raise_error

    def process_traces(self, request):
        if self.raise_error:
            raise RuntimeError("stage bug")
        return Rejections(2, "2 spans without a name")

    def process_metrics(self, request):
        return None

    def process_logs(self, request):
        return None


def test_stage_rejections_become_partial_success(tmp_path, clock):
    app = ReceiverApp(receiver_config(tmp_path), clock=clock,
                      mapping_stage_factory=lambda config, _clock: _StandInStage(False))
    app.start()
    try:
        response = ExportTraceServiceResponse.FromString(raw_call(app, valid_request().SerializeToString()))
        assert response.partial_success.rejected_spans == 2
        assert response.partial_success.error_message == "2 spans without a name"
        assert app.registry.get_sample_value("queue_collector_rejected_items_total", {"signal": "traces"}) == 2
    finally:
        app.stop(5.0)


def test_unexpected_stage_error_is_unavailable_and_counted(tmp_path, clock, caplog):
    app = ReceiverApp(receiver_config(tmp_path), clock=clock,
                      mapping_stage_factory=lambda config, _clock: _StandInStage(True))
    app.start()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            raw_call(app, valid_request().SerializeToString())
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert app.self_metrics.refused("traces", RefusalReason.INTERNAL_ERROR) == 1
        assert any("stage bug" in (record.exc_text or "") or record.exc_info for record in caplog.records)
    finally:
        app.stop(5.0)


def test_refused_requests_are_logged_without_flooding_the_log(receiver, caplog):
    caplog.set_level(logging.WARNING, logger="queue_collector.otlp_server")
    for _ in range(3):
        with pytest.raises(grpc.RpcError):
            raw_call(receiver, b"\xff\xff\xff")
    refusals = [r.getMessage() for r in caplog.records if "refused a traces request" in r.getMessage()]
    assert len(refusals) == 1, refusals  # later ones are counted, not logged, for a minute
    assert "malformed ExportTraceServiceRequest" in refusals[0]
    assert_still_serving(receiver)


def test_refusal_log_reports_what_it_held_back():
    from queue_collector.otlp_server import _RefusalLog
    from queue_collector.self_metrics import RefusalReason

    now = [0.0]
    log = _RefusalLog(60.0, clock=lambda: now[0])
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("queue_collector.otlp_server")
    logger.addHandler(handler)
    try:
        log.warn("metrics", RefusalReason.TOO_LARGE, "first")
        log.warn("metrics", RefusalReason.TOO_LARGE, "second")
        log.warn("traces", RefusalReason.TOO_LARGE, "other signal")
        now[0] = 61.0
        log.warn("metrics", RefusalReason.TOO_LARGE, "third")
    finally:
        logger.removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert messages == [
        "refused a metrics request: first",
        "refused a traces request: other signal",
        "refused a metrics request: third (1 more since the last report)",
    ]

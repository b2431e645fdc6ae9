"""Trace forwarding to a local OTLP gRPC sink: retries, permanent errors, queue limit, drain."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from queue_collector.exporters import OtlpForwarder, RetryConfig, SignalExportConfig
from queue_collector.otlp_signals import TRACES
from queue_collector.pipeline import ExporterBackpressure
from tests.support.timing import wait_until

FAST_RETRY = RetryConfig(initial_interval_seconds=0.05, max_interval_seconds=0.2, max_elapsed_seconds=5.0)


class Sink:
    """An OTLP trace endpoint answering scripted errors first, then success; records requests.

    ``check_ids`` refuses a whole request with INVALID_ARGUMENT for one trace or span id of the
    wrong length, as the OpenTelemetry Collector and Jaeger do; ``max_message_bytes`` sets the
    server's gRPC receive limit (Jaeger's default is 4 MiB).
    """

    def __init__(self, check_ids: bool = False, max_message_bytes: int | None = None) -> None:
        self.check_ids = check_ids
        self.failures: list[tuple[grpc.StatusCode, float | None]] = []
        self.received: list[ExportTraceServiceRequest] = []
        self.metadata: list[dict] = []
        self.attempts = 0
        self.arrivals = 0
        self.arrival_times: list[float] = []
        self.refused_sizes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        handler = grpc.method_handlers_generic_handler(
            TRACES.service, {"Export": grpc.unary_unary_rpc_method_handler(self._export)}
        )
        options = [] if max_message_bytes is None else [("grpc.max_receive_message_length", max_message_bytes)]
        self.server = grpc.server(futures.ThreadPoolExecutor(4), handlers=[handler], options=options)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _export(self, payload: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.arrivals += 1
            self.arrival_times.append(time.monotonic())
        self.gate.wait(10)
        with self._lock:
            self.attempts += 1
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            code, delay = failure
            if delay is not None:
                retry_delay = duration_pb2.Duration()
                retry_delay.FromNanoseconds(int(delay * 1e9))
                retry_info = error_details_pb2.RetryInfo(retry_delay=retry_delay)
                context.set_trailing_metadata((("google.rpc.retryinfo-bin", retry_info.SerializeToString()),))
            context.abort(code, "scripted failure")
        request = ExportTraceServiceRequest.FromString(payload)
        if self.check_ids and not all(
            len(span.trace_id) == 16 and len(span.span_id) == 8
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ):
            with self._lock:
                self.refused_sizes.append(len(payload))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid length for ID")
        with self._lock:
            self.received.append(request)
            self.metadata.append(dict(context.invocation_metadata()))
        return b""

    def span_names(self) -> list[str]:
        with self._lock:
            return [
                span.name
                for request in self.received
                for resource in request.resource_spans
                for scope in resource.scope_spans
                for span in scope.spans
            ]

    def stop(self) -> None:
        self.gate.set()
        self.server.stop(0).wait()


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.stop()


def request_with(name: str, trace_id: bytes = bytes(range(16))) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name, span.trace_id, span.span_id = name, trace_id, bytes(range(8))
    return request


def forwarder_for(sink: Sink, **settings) -> OtlpForwarder:
    settings.setdefault("retry", FAST_RETRY)
    return OtlpForwarder(TRACES, SignalExportConfig(endpoint=f"http://127.0.0.1:{sink.port}", **settings))


def test_forwards_with_gzip_and_headers(sink):
    forwarder = forwarder_for(sink, headers={"Authorization": "Bearer t"})
    try:
        forwarder.ensure_capacity()
        forwarder.export_traces(request_with("a"))
        wait_until(lambda: forwarder.statistics().exported_requests == 1, message="the acknowledged request")
        assert sink.span_names() == ["a"]
        assert sink.metadata[0]["authorization"] == "Bearer t"
    finally:
        forwarder.shutdown(5)


def test_retries_after_unavailable_and_honours_retry_info(sink):
    sink.failures = [(grpc.StatusCode.UNAVAILABLE, None), (grpc.StatusCode.RESOURCE_EXHAUSTED, 0.1)]
    forwarder = forwarder_for(sink)
    try:
        forwarder.export_traces(request_with("retried"))
        wait_until(lambda: forwarder.statistics().exported_requests == 1, message="the acknowledged request")
        assert sink.span_names() == ["retried"]
        statistics = forwarder.statistics()
        assert statistics.retries == 2
        assert statistics.exported_requests == 1
        assert sink.attempts == 3
    finally:
        forwarder.shutdown(5)


def test_permanent_error_is_dropped_and_counted(sink, caplog):
    sink.failures = [(grpc.StatusCode.INVALID_ARGUMENT, None), (grpc.StatusCode.RESOURCE_EXHAUSTED, None)]
    forwarder = forwarder_for(sink)
    try:
        forwarder.export_traces(request_with("bad"))
        wait_until(lambda: forwarder.statistics().failed_requests == 1, message="the first dropped request")
        forwarder.export_traces(request_with("too-much"))  # RESOURCE_EXHAUSTED without RetryInfo: permanent
        wait_until(lambda: forwarder.statistics().failed_requests == 2, message="two dropped requests")
        assert sink.span_names() == []
        assert "INVALID_ARGUMENT" in caplog.text
    finally:
        forwarder.shutdown(5)


def test_full_queue_refuses_with_backpressure_and_merges_on_send(sink):
    sink.gate.clear()  # the sink holds the first request
    forwarder = forwarder_for(sink, max_queue_requests=3)
    try:
        forwarder.export_traces(request_with("first"))
        wait_until(lambda: sink.arrivals == 1, message="the first request held at the sink")
        forwarder.export_traces(request_with("second"))
        forwarder.export_traces(request_with("third"))
        with pytest.raises(ExporterBackpressure) as caught:
            forwarder.ensure_capacity()
        assert caught.value.retry_after_seconds >= 1.0
        sink.gate.set()
        wait_until(lambda: sorted(sink.span_names()) == ["first", "second", "third"])
        assert len(sink.received) == 2  # second and third were merged into one request
        forwarder.ensure_capacity()
        assert forwarder.statistics().backpressure_refusals == 1
    finally:
        forwarder.shutdown(5)


def test_shutdown_drains_the_queue_through_retries(sink):
    sink.failures = [(grpc.StatusCode.UNAVAILABLE, None)] * 2
    forwarder = forwarder_for(sink)
    for index in range(20):
        forwarder.export_traces(request_with(f"span-{index}"))
    forwarder.shutdown(10)
    assert sorted(sink.span_names()) == sorted(f"span-{index}" for index in range(20))
    statistics = forwarder.statistics()
    assert statistics.exported_requests == 20
    assert statistics.lost_requests == 0
    with pytest.raises(ExporterBackpressure):
        forwarder.ensure_capacity()


def test_shutdown_counts_what_cannot_be_sent_by_the_deadline(caplog):
    # Nothing listens on this endpoint: every attempt is UNAVAILABLE.
    forwarder = OtlpForwarder(TRACES, SignalExportConfig(endpoint="127.0.0.1:1", retry=FAST_RETRY, timeout_seconds=0.2))
    for index in range(3):
        forwarder.export_traces(request_with(f"span-{index}"))
    forwarder.shutdown(0.5)
    assert forwarder.statistics().lost_requests == 3
    assert "lost" in caplog.text


def test_receiver_forwards_sdk_traces_and_drains_on_stop(tmp_path, sink, clock):
    import dataclasses

    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    from queue_collector.app import ReceiverApp

    from .conftest import make_spans, receiver_config

    sink.failures = [(grpc.StatusCode.UNAVAILABLE, None)]
    config = receiver_config(tmp_path)
    traces = dataclasses.replace(config.exporters.traces, endpoint=f"127.0.0.1:{sink.port}", retry=FAST_RETRY)
    config = dataclasses.replace(config, exporters=dataclasses.replace(config.exporters, traces=traces))
    app = ReceiverApp(config, clock=clock)
    app.start()
    assert any(f"OTLP gRPC 127.0.0.1:{sink.port}" in line for line in app.describe())
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{app.otlp_port}", insecure=True)
    for _ in range(5):
        exporter.export(make_spans(count=4))
    exporter.shutdown()
    app.stop(10.0)
    assert len(sink.span_names()) == 20
    assert app.registry.get_sample_value("queue_collector_exporter_lost_requests_total", {"exporter": "otlp_traces"}) == 0

"""A real OTLP/gRPC server for tests: it stores every request it is sent.

It stands in for Jaeger's (or any backend's) OTLP gRPC endpoint. ``fail_first`` makes it answer
UNAVAILABLE to that many trace requests first, to exercise a sender's retries.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class OtlpSink(
    trace_service_pb2_grpc.TraceServiceServicer,
    metrics_service_pb2_grpc.MetricsServiceServicer,
    logs_service_pb2_grpc.LogsServiceServicer,
):
    def __init__(self, fail_first: int = 0) -> None:
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.log_requests: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.refused = 0
        self._fail_first = fail_first
        self._changed = threading.Condition()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "OtlpSink":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        with self._changed:
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                if self.refused < self._fail_first:
                    self.refused += 1
                    context.abort(grpc.StatusCode.UNAVAILABLE, "sink refuses on purpose")
                self.trace_requests.append(request)
                response = trace_service_pb2.ExportTraceServiceResponse()
            elif isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
                self.metric_requests.append(request)
                response = metrics_service_pb2.ExportMetricsServiceResponse()
            else:
                self.log_requests.append(request)
                response = logs_service_pb2.ExportLogsServiceResponse()
            self._changed.notify_all()
        return response

    def spans(self) -> list:
        """Every span received so far, flattened."""
        with self._changed:
            return [
                span
                for request in self.trace_requests
                for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans
                for span in scope_spans.spans
            ]

    def wait_for(self, predicate, timeout: float = 20.0):
        """Waits until ``predicate(self)`` is truthy and returns its value; fails on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"OTLP sink: condition not met within {timeout} s")
                self._changed.wait(remaining)


# The three servicers share one method name; grpc dispatches by service, and every request type
# is told apart above.

"""A tiny OTLP/gRPC receiver for tests: accepts traces, metrics and logs and keeps them.

Binds 127.0.0.1 on a free port. Thread-safe; :meth:`OtlpSink.wait_for` blocks on a condition
(never a fixed sleep) until a predicate over the sink holds or a timeout passes.
"""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any, Callable

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attributes_of(key_values: Any) -> dict[str, Any]:
    return {item.key: any_value(item.value) for item in key_values}


class OtlpSink:
    """Collects every OTLP export request it receives."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.span_count = 0
        self.spans: list[dict[str, Any]] = []
        self.keep_spans = True
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.log_records: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self._server: grpc.Server | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> "OtlpSink":
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(self), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(self), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, predicate: Callable[["OtlpSink"], bool], timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    # --- recording --------------------------------------------------------------------------

    def _add_traces(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self._changed:
            for resource_spans in request.resource_spans:
                self.resources.append(attributes_of(resource_spans.resource.attributes))
                for scope_spans in resource_spans.scope_spans:
                    self.span_count += len(scope_spans.spans)
                    if self.keep_spans:
                        for span in scope_spans.spans:
                            self.spans.append({
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "attributes": attributes_of(span.attributes),
                            })
            self._changed.notify_all()

    def _add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        with self._changed:
            self.metric_requests.append(request)
            for resource_metrics in request.resource_metrics:
                self.resources.append(attributes_of(resource_metrics.resource.attributes))
            self._changed.notify_all()

    def _add_logs(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        with self._changed:
            for resource_logs in request.resource_logs:
                resource = attributes_of(resource_logs.resource.attributes)
                self.resources.append(resource)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        self.log_records.append({
                            "body": any_value(record.body),
                            "trace_id": record.trace_id.hex(),
                            "span_id": record.span_id.hex(),
                            "severity": record.severity_text,
                            "attributes": attributes_of(record.attributes),
                            "resource": resource,
                        })
            self._changed.notify_all()

    # --- reading ----------------------------------------------------------------------------

    def latest_sums(self) -> dict[tuple[str, frozenset], float]:
        """Latest value of every cumulative sum point: (metric name, attributes) -> value."""
        latest: dict[tuple[str, frozenset], tuple[int, float]] = {}
        with self._changed:
            requests = list(self.metric_requests)
        for request in requests:
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.WhichOneof("data") != "sum":
                            continue
                        for point in metric.sum.data_points:
                            key = (metric.name, frozenset(attributes_of(point.attributes).items()))
                            value = point.as_int if point.HasField("as_int") else point.as_double
                            if key not in latest or point.time_unix_nano >= latest[key][0]:
                                latest[key] = (point.time_unix_nano, value)
        return {key: value for key, (_, value) in latest.items()}

    def metric_names(self) -> set[str]:
        with self._changed:
            requests = list(self.metric_requests)
        return {
            metric.name
            for request in requests
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: OtlpSink) -> None:
        self._sink = sink

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        self._sink._add_traces(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sink: OtlpSink) -> None:
        self._sink = sink

    def Export(self, request, context):  # noqa: N802
        self._sink._add_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, sink: OtlpSink) -> None:
        self._sink = sink

    def Export(self, request, context):  # noqa: N802
        self._sink._add_logs(request)
        return logs_service_pb2.ExportLogsServiceResponse()

"""The three OTLP signals as data: gRPC method, message classes, item counting.

Shared by the OTLP server (which answers these methods) and the forwarder (which calls them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = ["OtlpSignal", "TRACES", "METRICS", "LOGS", "SIGNALS", "signal_named"]


def _count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def _count_data_points(request: ExportMetricsServiceRequest) -> int:
    total = 0
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total


def _count_log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)


@dataclass(frozen=True)
class OtlpSignal:
    """Everything signal-specific about one OTLP Export method."""

    #: ``traces``, ``metrics`` or ``logs`` (also the label value in self-metrics).
    name: str
    #: gRPC service name, e.g. ``opentelemetry.proto.collector.trace.v1.TraceService``.
    service: str
    request_type: type[Message]
    response_type: type[Message]
    #: Field of ``partial_success`` that carries the rejected item count.
    rejected_field: str
    #: What an item is called in messages (spans, data points, log records).
    item_noun: str
    #: Counts the items of a request (spans, data points or log records).
    count_items: Callable[[Message], int]

    @property
    def method(self) -> str:
        """The full gRPC method path, ``/SERVICE/Export``."""
        return f"/{self.service}/Export"


TRACES = OtlpSignal(
    "traces", "opentelemetry.proto.collector.trace.v1.TraceService",
    ExportTraceServiceRequest, ExportTraceServiceResponse, "rejected_spans", "spans",
    _count_spans,  # type: ignore[arg-type]
)
METRICS = OtlpSignal(
    "metrics", "opentelemetry.proto.collector.metrics.v1.MetricsService",
    ExportMetricsServiceRequest, ExportMetricsServiceResponse, "rejected_data_points",
    "data points", _count_data_points,  # type: ignore[arg-type]
)
LOGS = OtlpSignal(
    "logs", "opentelemetry.proto.collector.logs.v1.LogsService",
    ExportLogsServiceRequest, ExportLogsServiceResponse, "rejected_log_records", "log records",
    _count_log_records,  # type: ignore[arg-type]
)

SIGNALS = (TRACES, METRICS, LOGS)


def signal_named(name: str) -> OtlpSignal:
    """The signal called ``name``; raises ValueError for anything else."""
    for signal in SIGNALS:
        if signal.name == name:
            return signal
    raise ValueError(f"unknown OTLP signal {name!r}; expected traces, metrics or logs")

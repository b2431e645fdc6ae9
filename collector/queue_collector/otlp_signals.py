"""The three OTLP signals as data: gRPC method, message classes, item counting, id checks.

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

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8


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


_SPAN_ID_LENGTHS_OR_EMPTY = (0, _SPAN_ID_BYTES)
_TRACE_ID_LENGTHS_OR_EMPTY = (0, _TRACE_ID_BYTES)


def _wrong_length(path: str, value: bytes, expected: int, may_be_empty: bool) -> str | None:
    if len(value) == expected or (may_be_empty and not value):
        return None
    allowed = f"{expected} bytes or empty" if may_be_empty else f"{expected} bytes"
    return f"{path} is {len(value)} bytes long; it must be {allowed}"


def _describe_span_id_problem(request: ExportTraceServiceRequest) -> str:
    """The slow path of :func:`_span_id_problem`: finds and names the bad id."""
    for resource_index, resource in enumerate(request.resource_spans):
        for scope_index, scope in enumerate(resource.scope_spans):
            for span_index, span in enumerate(scope.spans):
                path = f"resource_spans[{resource_index}].scope_spans[{scope_index}].spans[{span_index}]"
                problem = (
                    _wrong_length(f"{path}.trace_id", span.trace_id, _TRACE_ID_BYTES, False)
                    or _wrong_length(f"{path}.span_id", span.span_id, _SPAN_ID_BYTES, False)
                    or _wrong_length(f"{path}.parent_span_id", span.parent_span_id, _SPAN_ID_BYTES, True)
                )
                for link_index, link in enumerate(span.links):
                    link_path = f"{path}.links[{link_index}]"
                    problem = (
                        problem
                        or _wrong_length(f"{link_path}.trace_id", link.trace_id, _TRACE_ID_BYTES, False)
                        or _wrong_length(f"{link_path}.span_id", link.span_id, _SPAN_ID_BYTES, False)
                    )
                if problem:
                    return problem
    raise AssertionError("no span id problem to describe")


def _span_id_problem(request: ExportTraceServiceRequest) -> str | None:
    """Describes the first span or link whose trace or span id has the wrong length, or None.

    Span and link ids must be 16 (trace) and 8 (span) bytes; a parent span id may be empty.
    Backends (the OpenTelemetry Collector, Jaeger) refuse a whole request for one bad id, so it
    is refused here, where only its sender is affected. This runs for every trace request: one
    pass comparing len() only; paths are built on the slow path once a bad id is known.
    """
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                if (
                    len(span.trace_id) != _TRACE_ID_BYTES
                    or len(span.span_id) != _SPAN_ID_BYTES
                    or len(span.parent_span_id) not in _SPAN_ID_LENGTHS_OR_EMPTY
                ):
                    return _describe_span_id_problem(request)
                for link in span.links:
                    if len(link.trace_id) != _TRACE_ID_BYTES or len(link.span_id) != _SPAN_ID_BYTES:
                        return _describe_span_id_problem(request)
    return None


def _log_id_problem(request: ExportLogsServiceRequest) -> str | None:
    """Describes the first log record whose trace or span id is neither empty nor 16 / 8 bytes."""
    for resource_index, resource in enumerate(request.resource_logs):
        for scope_index, scope in enumerate(resource.scope_logs):
            for record_index, record in enumerate(scope.log_records):
                if (
                    len(record.trace_id) in _TRACE_ID_LENGTHS_OR_EMPTY
                    and len(record.span_id) in _SPAN_ID_LENGTHS_OR_EMPTY
                ):
                    continue
                path = f"resource_logs[{resource_index}].scope_logs[{scope_index}].log_records[{record_index}]"
                return _wrong_length(
                    f"{path}.trace_id", record.trace_id, _TRACE_ID_BYTES, True
                ) or _wrong_length(f"{path}.span_id", record.span_id, _SPAN_ID_BYTES, True)
    return None


def _no_id_problem(request: Message) -> str | None:
    return None


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
    #: ``"<field path> is N bytes long; it must be ..."`` for the first trace or span id of
    #: the wrong length, or None. Metrics are not forwarded, so their exemplars are not checked.
    find_id_problem: Callable[[Message], str | None]
    #: The request's repeated resource field, e.g. ``resource_spans``.
    resource_field: str
    #: The resource's repeated scope field, e.g. ``scope_spans``.
    scope_field: str
    #: The scope's repeated item field, e.g. ``spans``.
    item_field: str

    @property
    def method(self) -> str:
        """The full gRPC method path, ``/SERVICE/Export``."""
        return f"/{self.service}/Export"


TRACES = OtlpSignal(
    "traces", "opentelemetry.proto.collector.trace.v1.TraceService",
    ExportTraceServiceRequest, ExportTraceServiceResponse, "rejected_spans", "spans",
    _count_spans, _span_id_problem,  # type: ignore[arg-type]
    "resource_spans", "scope_spans", "spans",
)
METRICS = OtlpSignal(
    "metrics", "opentelemetry.proto.collector.metrics.v1.MetricsService",
    ExportMetricsServiceRequest, ExportMetricsServiceResponse, "rejected_data_points",
    "data points", _count_data_points, _no_id_problem,  # type: ignore[arg-type]
    "resource_metrics", "scope_metrics", "metrics",
)
LOGS = OtlpSignal(
    "logs", "opentelemetry.proto.collector.logs.v1.LogsService",
    ExportLogsServiceRequest, ExportLogsServiceResponse, "rejected_log_records", "log records",
    _count_log_records, _log_id_problem,  # type: ignore[arg-type]
    "resource_logs", "scope_logs", "log_records",
)

SIGNALS = (TRACES, METRICS, LOGS)


def signal_named(name: str) -> OtlpSignal:
    """The signal called ``name``; raises ValueError for anything else."""
    for signal in SIGNALS:
        if signal.name == name:
            return signal
    raise ValueError(f"unknown OTLP signal {name!r}; expected traces, metrics or logs")

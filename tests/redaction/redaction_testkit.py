"""Builders and golden-file helpers for the redaction tests."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Mapping

import yaml
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from queue_collector.config_loading import load_dataclass
from queue_collector.redaction import RedactionConfig, RedactionStage

TESTDATA = Path(__file__).resolve().parent.parent / "testdata"
REGENERATE = os.environ.get("REGENERATE_GOLDEN") == "1"

#: OTLP JSON part name -> (request type, stage method, audit signal)
SIGNALS = {
    "resourceSpans": (ExportTraceServiceRequest, "process_traces", "traces"),
    "resourceMetrics": (ExportMetricsServiceRequest, "process_metrics", "metrics"),
    "resourceLogs": (ExportLogsServiceRequest, "process_logs", "logs"),
}
_HEX_IDS = ("traceId", "spanId", "parentSpanId")


def any_value(value: Any) -> AnyValue:
    """A Python value as an OTLP AnyValue (lists -> arrays, dicts -> key-value lists)."""
    if isinstance(value, AnyValue):
        return value
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(value)))
    return AnyValue(string_value=value)


def key_values(attributes: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def python_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [python_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {entry.key: python_value(entry.value) for entry in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def attributes_dict(attributes: Any) -> dict[str, Any]:
    return {entry.key: python_value(entry.value) for entry in attributes}


def trace_request(
    attributes: Mapping[str, Any] | None = None,
    *,
    name: str = "process orders",
    resource: Mapping[str, Any] | None = None,
    events: Mapping[str, Mapping[str, Any]] | None = None,
    links: list[Mapping[str, Any]] | None = None,
) -> ExportTraceServiceRequest:
    span = trace_pb2.Span(
        trace_id=bytes(range(1, 17)),
        span_id=bytes(range(1, 9)),
        name=name,
        attributes=key_values(attributes or {}),
        events=[trace_pb2.Span.Event(name=n, attributes=key_values(a)) for n, a in (events or {}).items()],
        links=[trace_pb2.Span.Link(trace_id=bytes(16), span_id=bytes(8), attributes=key_values(a)) for a in links or []],
    )
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(resource or {"service.name": "orders"}))
    resource_spans.scope_spans.add().spans.append(span)
    return request


def log_request(body: Any, attributes: Mapping[str, Any] | None = None) -> ExportLogsServiceRequest:
    record = logs_pb2.LogRecord(body=any_value(body), attributes=key_values(attributes or {}))
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.append(record)
    return request


def gauge_request(
    attributes: Mapping[str, Any], exemplar_attributes: Mapping[str, Any] | None = None
) -> ExportMetricsServiceRequest:
    point = metrics_pb2.NumberDataPoint(time_unix_nano=1, as_int=3, attributes=key_values(attributes))
    if exemplar_attributes is not None:
        point.exemplars.add(time_unix_nano=1, as_int=3, filtered_attributes=key_values(exemplar_attributes))
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="queue.depth")
    metric.gauge.data_points.append(point)
    return request


def first_span(request: ExportTraceServiceRequest) -> trace_pb2.Span:
    return request.resource_spans[0].scope_spans[0].spans[0]


def first_record(request: ExportLogsServiceRequest) -> logs_pb2.LogRecord:
    return request.resource_logs[0].scope_logs[0].log_records[0]


def audit_counts(stage: RedactionStage) -> dict[tuple[str, str, str], int]:
    return dict(stage.audit_snapshot().values)


# --- golden files -----------------------------------------------------------------------------

def load_config(path: Path) -> RedactionConfig:
    """A scenario's config.yaml (the ``redaction:`` section) through the receiver's loader."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return load_dataclass(RedactionConfig, data.get("redaction"), path="redaction")


def _ids(node: Any, convert) -> Any:
    if isinstance(node, dict):
        return {k: convert(v) if k in _HEX_IDS and isinstance(v, str) else _ids(v, convert) for k, v in node.items()}
    if isinstance(node, list):
        return [_ids(item, convert) for item in node]
    return node


def _hex_to_base64(text: str) -> str:
    return base64.b64encode(bytes.fromhex(text)).decode("ascii")


def _base64_to_hex(text: str) -> str:
    return base64.b64decode(text).hex()


def parse_part(part: str, data: Any) -> Any:
    """One OTLP JSON part (``resourceSpans`` …) as its request type (hex ids accepted)."""
    request_type = SIGNALS[part][0]
    return json_format.ParseDict({part: _ids(data, _hex_to_base64)}, request_type())


def render_part(part: str, request: Any) -> Any:
    """A request back to OTLP JSON (hex ids), with attribute lists sorted by key."""
    data = json_format.MessageToDict(request)
    return _sort_attributes(_ids(data.get(part, []), _base64_to_hex))


def _sort_attributes(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: sorted((_sort_attributes(item) for item in value), key=lambda kv: kv.get("key", ""))
            if key in ("attributes", "filteredAttributes") and isinstance(value, list)
            else _sort_attributes(value)
            for key, value in node.items()
        }
    if isinstance(node, list):  # arrays keep their order: only attribute lists are sorted
        return [_sort_attributes(item) for item in node]
    return node


def run_scenario(directory: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """Runs input.json through a stage built from config.yaml; returns the expected.json form."""
    stage = RedactionStage(load_config(directory / "config.yaml"), environ=environ)
    source = json.loads((directory / "input.json").read_text(encoding="utf-8"))
    result: dict[str, Any] = {}
    for part, value in source.items():
        request = parse_part(part, value)
        raw = request.SerializeToString()
        if stage.screen(raw):
            getattr(stage, SIGNALS[part][1])(request)
        result[part] = render_part(part, request)
    result["audit"] = [
        {"signal": signal, "rule": rule, "action": action, "count": count}
        for (signal, rule, action), count in sorted(stage.audit_snapshot().values.items())
    ]
    return result

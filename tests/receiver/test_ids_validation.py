"""Trace and span ids of the wrong length are refused by the receiver, naming the field."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from queue_collector.self_metrics import RefusalReason

from .test_otlp_server import LOGS_METHOD, assert_still_serving, raw_call, valid_request

SPAN = "resource_spans[0].scope_spans[0].spans[1]"


def two_span_request() -> ExportTraceServiceRequest:
    request = valid_request("first")
    second = request.resource_spans[0].scope_spans[0].spans.add()
    second.name, second.trace_id, second.span_id = "second", b"\x01" * 16, b"\x02" * 8
    second.parent_span_id = b"\x03" * 8
    link = second.links.add()
    link.trace_id, link.span_id = b"\x04" * 16, b"\x05" * 8
    return request


@pytest.mark.parametrize(
    ("field", "value", "path", "expected"),
    [
        ("trace_id", b"\x01" * 3, f"{SPAN}.trace_id", "is 3 bytes long; it must be 16 bytes"),
        ("trace_id", b"", f"{SPAN}.trace_id", "is 0 bytes long; it must be 16 bytes"),
        ("span_id", b"\x01" * 16, f"{SPAN}.span_id", "is 16 bytes long; it must be 8 bytes"),
        ("parent_span_id", b"\x01" * 7, f"{SPAN}.parent_span_id", "is 7 bytes long; it must be 8 bytes or empty"),
        ("link_trace_id", b"\x01" * 8, f"{SPAN}.links[0].trace_id", "is 8 bytes long; it must be 16 bytes"),
        ("link_span_id", b"", f"{SPAN}.links[0].span_id", "is 0 bytes long; it must be 8 bytes"),
    ],
)
def test_span_id_of_the_wrong_length_is_invalid_argument_naming_the_field(receiver, field, value, path, expected):
    request = two_span_request()
    span = request.resource_spans[0].scope_spans[0].spans[1]
    if field.startswith("link_"):
        setattr(span.links[0], field.removeprefix("link_"), value)
    else:
        setattr(span, field, value)
    with pytest.raises(grpc.RpcError) as caught:
        raw_call(receiver, request.SerializeToString())
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"{path} {expected}" in caught.value.details()
    assert receiver.self_metrics.refused("traces", RefusalReason.MALFORMED) == 1
    assert_still_serving(receiver)


def test_valid_ids_and_an_empty_parent_are_accepted(receiver):
    request = two_span_request()
    request.resource_spans[0].scope_spans[0].spans[1].parent_span_id = b""
    raw_call(receiver, request.SerializeToString())
    assert receiver.self_metrics.refused("traces", RefusalReason.MALFORMED) == 0


def log_request(trace_id: bytes, span_id: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    scope.log_records.add().body.string_value = "without ids"
    record = scope.log_records.add()
    record.body.string_value = "with ids"
    record.trace_id, record.span_id = trace_id, span_id
    return request


@pytest.mark.parametrize(
    ("trace_id", "span_id", "message"),
    [
        (b"\x01" * 15, b"\x02" * 8, "log_records[1].trace_id is 15 bytes long; it must be 16 bytes or empty"),
        (b"\x01" * 16, b"\x02" * 9, "log_records[1].span_id is 9 bytes long; it must be 8 bytes or empty"),
    ],
)
def test_log_record_ids_of_the_wrong_length_are_invalid_argument(receiver, trace_id, span_id, message):
    with pytest.raises(grpc.RpcError) as caught:
        raw_call(receiver, log_request(trace_id, span_id).SerializeToString(), method=LOGS_METHOD)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"resource_logs[0].scope_logs[0].{message}" in caught.value.details()
    assert receiver.self_metrics.refused("logs", RefusalReason.MALFORMED) == 1


def test_log_records_without_ids_or_with_whole_ids_are_accepted(receiver):
    raw_call(receiver, log_request(b"\x01" * 16, b"\x02" * 8).SerializeToString(), method=LOGS_METHOD)
    raw_call(receiver, log_request(b"", b"").SerializeToString(), method=LOGS_METHOD)
    assert receiver.self_metrics.refused("logs", RefusalReason.MALFORMED) == 0

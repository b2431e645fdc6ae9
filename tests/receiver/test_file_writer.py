"""The OTLP-JSON lines writer: the collector file exporter's encoding, readable back."""

from __future__ import annotations

import json
import threading

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from queue_collector.exporters import OtlpJsonFileExporter, from_otlp_json
from queue_collector.otlp_signals import LOGS, TRACES

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")
PARENT_ID = bytes.fromhex("00f067aa0ba902b7")


def trace_request(name: str = "send orders") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = name
    span.trace_id, span.span_id, span.parent_span_id = TRACE_ID, SPAN_ID, PARENT_ID
    span.kind = Span.SPAN_KIND_PRODUCER
    span.start_time_unix_nano = 1_700_000_000_000_000_123
    link = span.links.add()
    link.trace_id, link.span_id = TRACE_ID, PARENT_ID
    attribute = span.attributes.add()
    attribute.key, attribute.value.int_value = "messaging.batch.message_count", 7
    return request


def test_trace_lines_use_otlp_json_encoding(tmp_path):
    path = tmp_path / "traces.jsonl"
    writer = OtlpJsonFileExporter(TRACES, str(path))
    writer.export_traces(trace_request())
    writer.export_logs(ExportLogsServiceRequest())  # not this writer's signal: ignored
    # Written and flushed before export returns, so readable before shutdown.
    [line] = path.read_text().splitlines()
    span = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == TRACE_ID.hex()
    assert span["spanId"] == SPAN_ID.hex()
    assert span["parentSpanId"] == PARENT_ID.hex()
    assert span["links"][0] == {"traceId": TRACE_ID.hex(), "spanId": PARENT_ID.hex()}
    assert span["kind"] == 4  # enums as integers
    assert span["startTimeUnixNano"] == "1700000000000000123"  # int64 as string
    assert span["attributes"][0] == {"key": "messaging.batch.message_count", "value": {"intValue": "7"}}
    assert from_otlp_json(line, ExportTraceServiceRequest) == trace_request()
    writer.shutdown(1)


def test_log_lines_round_trip_and_concurrent_writes_do_not_interleave(tmp_path):
    path = tmp_path / "logs.jsonl"
    writer = OtlpJsonFileExporter(LOGS, str(path))

    def write(worker: int) -> None:
        for index in range(50):
            request = ExportLogsServiceRequest()
            record = request.resource_logs.add().scope_logs.add().log_records.add()
            record.body.string_value = f"{worker}-{index}-" + "x" * 2000
            record.trace_id, record.span_id = TRACE_ID, SPAN_ID
            writer.export_logs(request)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.shutdown(1)
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    parsed = [from_otlp_json(line, ExportLogsServiceRequest) for line in lines]
    assert all(request.resource_logs[0].scope_logs[0].log_records[0].trace_id == TRACE_ID for request in parsed)
    assert json.loads(lines[0])["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["spanId"] == SPAN_ID.hex()
    assert writer.statistics().exported_requests == 200

"""Shared helpers for the receiver tests: a running receiver, SDK telemetry, waiting."""

from __future__ import annotations

import dataclasses
from typing import Iterator

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from queue_collector.app import ReceiverApp
from queue_collector.config import AdminConfig, OtlpReceiverConfig, ReceiverConfig, default_config
from queue_collector.exporters.config import ExportersConfig, SignalExportConfig
from tests.support.timing import FakeClock


def receiver_config(tmp_path, **exporter_overrides: SignalExportConfig) -> ReceiverConfig:
    """Defaults, but free ports on 127.0.0.1 and files under ``tmp_path``."""
    exporters = ExportersConfig(
        traces=exporter_overrides.get("traces", SignalExportConfig(file=str(tmp_path / "traces.jsonl"))),
        logs=exporter_overrides.get("logs", SignalExportConfig(file=str(tmp_path / "logs.jsonl"))),
    )
    return dataclasses.replace(
        default_config(),
        otlp=OtlpReceiverConfig(endpoint="127.0.0.1:0", max_request_bytes=64 * 1024, worker_threads=4),
        admin=AdminConfig(endpoint="127.0.0.1:0"),
        exporters=exporters,
        shutdown_timeout_seconds=5.0,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receiver(tmp_path, clock) -> Iterator[ReceiverApp]:
    """A started receiver on free ports with file exporters and an injected clock."""
    app = ReceiverApp(receiver_config(tmp_path), clock=clock)
    app.start()
    try:
        yield app
    finally:
        app.stop(5.0)


# --- telemetry made by the real SDK ---------------------------------------------------------


def make_spans(service: str = "orders-service", count: int = 3):
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("parent"):
        for index in range(count - 1):
            with tracer.start_as_current_span(f"child-{index}", attributes={"queue.name": "orders"}):
                pass
    return memory.get_finished_spans()


def make_metrics(service: str = "orders-service"):
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader])
    counter = provider.get_meter("tests").create_counter("messaging.client.sent.messages")
    counter.add(5, {"messaging.system": "in_memory", "messaging.destination.name": "orders",
                    "messaging.operation.name": "send"})
    return reader.get_metrics_data()


def make_logs(service: str = "orders-service"):
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("tests")
    logger.emit(LogRecord(body="message processed", severity_text="INFO", attributes={"queue": "orders"},
                          trace_id=0x0123456789ABCDEF0123456789ABCDEF, span_id=0x0123456789ABCDEF))
    return memory.get_finished_logs()

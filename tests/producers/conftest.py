"""Fixtures of the producer-library tests: isolated SDK providers, an OTLP sink, subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .otlp_sink import OtlpSink


@dataclass
class Telemetry:
    """Providers private to one test, with in-memory exporters and a reader."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def finished_spans(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def span(self, name: str) -> Any:
        matching = [span for span in self.finished_spans() if span.name == name]
        assert len(matching) == 1, f"expected one span {name!r}, got {[s.name for s in self.finished_spans()]}"
        return matching[0]

    def metrics(self) -> dict[str, Any]:
        """Metric name -> SDK metric (the latest collection)."""
        data = self.reader.get_metrics_data()
        found: dict[str, Any] = {}
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found[metric.name] = metric
        return found

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) for every data point of metric ``name``."""
        metric = self.metrics().get(name)
        if metric is None:
            return []
        return [(dict(point.attributes or {}), point) for point in metric.data.data_points]

    def value(self, name: str, **attributes: Any) -> float:
        """Sum of the values of ``name``'s points whose attributes include ``attributes``."""
        wanted = {key.replace("__", "."): value for key, value in attributes.items()}
        total = 0.0
        for point_attributes, point in self.points(name):
            if all(point_attributes.get(key) == value for key, value in wanted.items()):
                total += getattr(point, "value", getattr(point, "count", 0))
        return total


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield Telemetry(tracer_provider, meter_provider, spans, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def log_exporter() -> Iterator[tuple[LoggerProvider, InMemoryLogRecordExporter]]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    started = OtlpSink().start()
    yield started
    started.stop()


def clean_environment(**overrides: str) -> dict[str, str]:
    """The current environment without any OTEL_* variable, plus ``overrides``."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    environment.update(overrides)
    return environment


def run_python(code: str, *, env: dict[str, str], timeout: float = 60.0, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (global providers stay out of the test process)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


class NanoClock:
    """An injected clock for span timestamps: nanoseconds since the epoch, moved by hand."""

    def __init__(self, start: int = 1_700_000_000 * 10**9) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from .moto_server import MotoServer

    server = MotoServer().start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def clock() -> NanoClock:
    return NanoClock()

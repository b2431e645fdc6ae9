"""Testing support: capture spans, metrics and logs in memory, assert on them, fake health checks.

Use the pytest fixtures of :mod:`queue_telemetry.pytest_plugin` (loaded automatically once the
package is installed), or :class:`TelemetryCapture` directly::

    with TelemetryCapture() as capture:
        client = InstrumentedQueueClient(inner, **capture.providers())
        client.send("orders", OutgoingMessage(b"x"))
        capture.assert_span("send orders", kind=SpanKind.PRODUCER)
        assert capture.metric_value("messaging.client.sent.messages", queue="orders") == 1

Nothing here touches the global providers; instrumentors accept ``capture.providers()`` too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from queue_telemetry.health import HealthCheckResult, HealthState

__all__ = ["TelemetryCapture", "FakeHealthCheck"]

_SHORTHANDS = {"queue": "messaging.destination.name", "system": "messaging.system",
               "operation": "messaging.operation.name", "error_type": "error.type"}


class TelemetryCapture:
    """Private tracer, meter and logger providers with in-memory exporters.

    Not thread-safe for assertions while telemetry is still being produced; the providers
    themselves are. :meth:`close` (or leaving the ``with`` block) shuts them down.
    """

    def __init__(self) -> None:
        self.span_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader], shutdown_on_exit=False)
        self.log_exporter = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        self._handler: logging.Handler | None = None

    def providers(self) -> dict[str, Any]:
        """``tracer_provider``, ``meter_provider`` and ``logger_provider`` keyword arguments for
        clients and instrumentors."""
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
        }

    def capture_logs(self, logger: logging.Logger | str | None = "queue_telemetry", level: int = logging.INFO) -> None:
        """Export records of ``logger`` (default the library's) at ``level`` and above into this capture."""
        from queue_telemetry.logging_setup import otlp_handler

        target = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
        self._handler = otlp_handler(self.logger_provider)
        self._previous_level = target.level
        target.setLevel(level)
        target.addHandler(self._handler)
        self._logger = target

    def close(self) -> None:
        if self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._logger.setLevel(self._previous_level)
            self._handler = None
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()

    def __enter__(self) -> "TelemetryCapture":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def clear(self) -> None:
        self.span_exporter.clear()
        self.log_exporter.clear()

    # --- spans ----------------------------------------------------------------------------------------

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.span_exporter.get_finished_spans())
        return spans if name is None else [span for span in spans if span.name == name]

    def assert_span(self, name: str, *, kind: SpanKind | None = None, attributes: Mapping[str, Any] | None = None,
                    count: int = 1) -> ReadableSpan:
        """Exactly ``count`` finished spans called ``name``, the first matching ``kind`` and ``attributes``."""
        found = self.spans(name)
        assert len(found) == count, f"expected {count} span(s) {name!r}, found {[s.name for s in self.spans()]}"
        span = found[0]
        if kind is not None:
            assert span.kind is kind, f"span {name!r} is {span.kind}, expected {kind}"
        for key, value in (attributes or {}).items():
            actual = (span.attributes or {}).get(key)
            assert actual == value, f"span {name!r}: {key}={actual!r}, expected {value!r}"
        return span

    # --- metrics --------------------------------------------------------------------------------------

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.metric_reader.get_metrics_data()
        points = []
        for resource_metrics in (data.resource_metrics if data else []):
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend((dict(p.attributes or {}), p) for p in metric.data.data_points)
        return points

    def metric_value(self, name: str, **attributes: Any) -> float:
        """Sum (counters, gauges) or count (histograms) of ``name``'s points matching ``attributes``.

        Keyword names: ``queue``, ``system``, ``operation``, ``error_type``, or any attribute key
        with dots written as double underscores.
        """
        wanted = {_SHORTHANDS.get(k, k.replace("__", ".")): v for k, v in attributes.items()}
        total = 0.0
        for point_attributes, point in self.metric_points(name):
            if all(point_attributes.get(k) == v for k, v in wanted.items()):
                total += getattr(point, "value", getattr(point, "count", 0))
        return total

    def assert_metric(self, name: str, expected: float, **attributes: Any) -> None:
        actual = self.metric_value(name, **attributes)
        assert actual == expected, f"metric {name} {attributes}: {actual}, expected {expected}"

    # --- logs -----------------------------------------------------------------------------------------

    def logs(self) -> list[Any]:
        """The captured log records (``opentelemetry.sdk._logs`` readable records)."""
        return [getattr(item, "log_record", item) for item in self.log_exporter.get_finished_logs()]


class FakeHealthCheck:
    """A health check with a fixed result, or one that hangs (to test timeouts) or raises."""

    def __init__(self, name: str, status: HealthState = HealthState.HEALTHY, message: str | None = None, *,
                 hang: bool = False, error: Exception | None = None, queue: str | None = None,
                 system: str | None = None) -> None:
        self.name, self.status, self.message = name, status, message
        self.hang, self.error, self.queue, self.system = hang, error, queue, system
        self.calls = 0

    @classmethod
    def healthy(cls, name: str) -> "FakeHealthCheck":
        return cls(name, HealthState.HEALTHY, "Test check is healthy")

    @classmethod
    def degraded(cls, name: str, message: str = "degraded") -> "FakeHealthCheck":
        return cls(name, HealthState.DEGRADED, message)

    @classmethod
    def unhealthy(cls, name: str, message: str = "unhealthy") -> "FakeHealthCheck":
        return cls(name, HealthState.UNHEALTHY, message)

    @classmethod
    def hanging(cls, name: str) -> "FakeHealthCheck":
        return cls(name, hang=True)

    async def check(self) -> HealthCheckResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.hang:
            await asyncio.Event().wait()  # never set: only the monitor's timeout ends it
        return HealthCheckResult(self.status, 0.0, self.message)

"""Counting what the export pipelines were given and what they delivered.

The SDK's batch processors drop silently when their queue is full, and its exporters return
FAILURE after giving up; neither is visible to the application. These wrappers count, per
signal, how many items were handed to the batch processor (*submitted*), how many the exporter
delivered (*exported*) and how many were in batches the exporter could not deliver (*failed*).
Whatever is submitted and neither exported nor failed is still queued, or was dropped before
export (queue full, shutdown timeout); after shutdown nothing is queued any more.

Every wrapper delegates everything else unchanged, and never raises out of ``export``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_logger = logging.getLogger(__name__)


class DeliveryCounter:
    """Thread-safe counters of one signal's pipeline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted = 0
        self.exported = 0
        self.failed = 0

    def add_submitted(self, count: int = 1) -> None:
        with self._lock:
            self.submitted += count

    def add_outcome(self, count: int, success: bool) -> None:
        with self._lock:
            if success:
                self.exported += count
            else:
                self.failed += count

    def snapshot(self) -> tuple[int, int, int]:
        """(submitted, exported, failed), read together."""
        with self._lock:
            return self.submitted, self.exported, self.failed


class CountingSpanExporter(SpanExporter):
    """Counts the spans ``inner`` delivered and failed to deliver."""

    def __init__(self, inner: SpanExporter, counter: DeliveryCounter) -> None:
        self._inner = inner
        self._counter = counter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:  # noqa: BLE001 - exporters must not raise into the pipeline
            _logger.warning("Span exporter raised; %d spans not delivered.", len(spans), exc_info=True)
            result = SpanExportResult.FAILURE
        self._counter.add_outcome(len(spans), result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingSpanProcessor(SpanProcessor):
    """Counts the sampled spans handed to ``inner`` (a batch span processor)."""

    def __init__(self, inner: SpanProcessor, counter: DeliveryCounter) -> None:
        self._inner = inner
        self._counter = counter

    @property
    def inner(self) -> SpanProcessor:
        return self._inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        on_ending = getattr(self._inner, "_on_ending", None)
        if on_ending is not None:
            on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            self._counter.add_submitted()
        self._inner.on_end(span)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    """Counts the log records ``inner`` delivered and failed to deliver."""

    def __init__(self, inner: LogRecordExporter, counter: DeliveryCounter) -> None:
        self._inner = inner
        self._counter = counter

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        try:
            result = self._inner.export(batch)
        except Exception:  # noqa: BLE001
            _logger.warning("Log exporter raised; %d records not delivered.", len(batch), exc_info=True)
            result = LogRecordExportResult.FAILURE
        success = getattr(result, "name", None) == "SUCCESS"
        self._counter.add_outcome(len(batch), success)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingLogProcessor(LogRecordProcessor):
    """Counts the log records handed to ``inner`` (a batch log record processor)."""

    def __init__(self, inner: LogRecordProcessor, counter: DeliveryCounter) -> None:
        self._inner = inner
        self._counter = counter

    def on_emit(self, log_record: Any) -> None:
        self._counter.add_submitted()
        self._inner.on_emit(log_record)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingMetricExporter(MetricExporter):
    """Counts metric exports (collections sent) and failed exports of ``inner``."""

    def __init__(self, inner: MetricExporter, counter: DeliveryCounter) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self._inner = inner
        self._counter = counter

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self._counter.add_submitted()
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:  # noqa: BLE001
            _logger.warning("Metric exporter raised; one export not delivered.", exc_info=True)
            result = MetricExportResult.FAILURE
        self._counter.add_outcome(1, result is MetricExportResult.SUCCESS)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)

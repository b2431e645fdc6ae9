"""The receiver's own metrics (``queue_collector_*``) for its private /metrics registry.

:class:`ReceiverSelfMetrics` holds the OTLP server's counters (thread-safe, one short lock per
request) and, as a prometheus_client custom collector, yields them together with a snapshot of
every exporter's :class:`~queue_collector.exporters.ExporterStatistics` at scrape time.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable, Iterator, Protocol, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from queue_collector.exporters.statistics import ExporterStatistics

__all__ = ["ReceiverSelfMetrics", "RefusalReason"]


class RefusalReason:
    """Label values of ``queue_collector_refused_requests_total{reason}``."""

    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    BACKPRESSURE = "backpressure"
    INTERNAL_ERROR = "internal_error"


class _ReportsStatistics(Protocol):
    name: str

    def statistics(self) -> ExporterStatistics: ...


_EXPORTER_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("exported_requests", "queue_collector_exporter_sent_requests", "Requests delivered by the exporter (written or acknowledged)."),
    ("failed_requests", "queue_collector_exporter_failed_requests", "Requests the exporter gave up on: permanent error, retries exhausted, or write error."),
    ("lost_requests", "queue_collector_exporter_lost_requests", "Requests still unsent when the shutdown deadline passed."),
    ("rejected_items", "queue_collector_exporter_rejected_items", "Items the destination rejected through partial_success."),
    ("retries", "queue_collector_exporter_retries", "Retry attempts of the exporter."),
    ("backpressure_refusals", "queue_collector_exporter_backpressure_refusals", "Client requests refused because the export queue was full."),
)


class ReceiverSelfMetrics(Collector):
    """Counters of received, refused and rejected requests and items, plus exporter statistics.

    ``exporters`` is a callable returning the current exporters (they are built after this
    object). All methods are thread-safe and never raise.
    """

    def __init__(self, exporters: Callable[[], Sequence[_ReportsStatistics]] = tuple) -> None:
        self._exporters = exporters
        self._lock = threading.Lock()
        self._received_requests: dict[str, int] = defaultdict(int)
        self._received_items: dict[str, int] = defaultdict(int)
        self._rejected_items: dict[str, int] = defaultdict(int)
        self._refused: dict[tuple[str, str], int] = defaultdict(int)

    def count_accepted(self, signal: str, items: int, rejected_items: int) -> None:
        """A decoded request that went through the pipeline (fully or partially accepted)."""
        with self._lock:
            self._received_requests[signal] += 1
            self._received_items[signal] += items
            if rejected_items:
                self._rejected_items[signal] += rejected_items

    def count_refused(self, signal: str, reason: str) -> None:
        """A request answered with an error status (see :class:`RefusalReason`)."""
        with self._lock:
            self._refused[(signal, reason)] += 1

    def refused(self, signal: str, reason: str) -> int:
        """How many requests of ``signal`` were refused for ``reason`` so far (for tests)."""
        with self._lock:
            return self._refused.get((signal, reason), 0)

    def describe(self) -> Iterator[Metric]:
        return iter(self._families({}, {}, {}, {}, []))

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            requests = dict(self._received_requests)
            items = dict(self._received_items)
            rejected = dict(self._rejected_items)
            refused = dict(self._refused)
        exporters = [(exporter.name, exporter.statistics()) for exporter in self._exporters()]
        return iter(self._families(requests, items, rejected, refused, exporters))

    @staticmethod
    def _families(
        requests: dict[str, int],
        items: dict[str, int],
        rejected: dict[str, int],
        refused: dict[tuple[str, str], int],
        exporters: list[tuple[str, ExporterStatistics]],
    ) -> list[Metric]:
        received_requests = CounterMetricFamily(
            "queue_collector_received_requests",
            "OTLP requests decoded and processed (fully or partially accepted).",
            labels=["signal"],
        )
        received_items = CounterMetricFamily(
            "queue_collector_received_items",
            "Spans, metric data points or log records in processed OTLP requests.",
            labels=["signal"],
        )
        rejected_items = CounterMetricFamily(
            "queue_collector_rejected_items",
            "Items rejected by a stage and reported to the client as partial_success.",
            labels=["signal"],
        )
        refused_requests = CounterMetricFamily(
            "queue_collector_refused_requests",
            "OTLP requests answered with an error: malformed, too_large, backpressure, internal_error.",
            labels=["signal", "reason"],
        )
        for signal, value in sorted(requests.items()):
            received_requests.add_metric([signal], value)
        for signal, value in sorted(items.items()):
            received_items.add_metric([signal], value)
        for signal, value in sorted(rejected.items()):
            rejected_items.add_metric([signal], value)
        for (signal, reason), value in sorted(refused.items()):
            refused_requests.add_metric([signal, reason], value)
        families: list[Metric] = [received_requests, received_items, rejected_items, refused_requests]
        for attribute, name, documentation in _EXPORTER_COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=["exporter"])
            for exporter, statistics in exporters:
                family.add_metric([exporter], getattr(statistics, attribute))
            families.append(family)
        queue_size = GaugeMetricFamily(
            "queue_collector_exporter_queue_size", "Requests waiting in the exporter's queue.", labels=["exporter"]
        )
        queue_capacity = GaugeMetricFamily(
            "queue_collector_exporter_queue_capacity", "Limit of the exporter's queue (0: no queue).", labels=["exporter"]
        )
        for exporter, statistics in exporters:
            queue_size.add_metric([exporter], statistics.queue_size)
            queue_capacity.add_metric([exporter], statistics.queue_capacity)
        families.extend([queue_size, queue_capacity])
        return families

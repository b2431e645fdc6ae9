"""``queue_health_status`` on /metrics: a custom collector reading the cached health report."""

from __future__ import annotations

from typing import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.registry import Collector
from queue_telemetry.catalog import unified_metric

from queue_collector.health.report import HealthMonitor

__all__ = ["HealthStatusCollector"]

_METRIC = unified_metric("queue_health_status")


class HealthStatusCollector(Collector):
    """One gauge sample per result: labels service, queue, check (empty when not applicable).

    ``collect`` runs on the scrape thread and uses the monitor's cached report.
    """

    def __init__(self, monitor: HealthMonitor) -> None:
        self._monitor = monitor

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(_METRIC.name, _METRIC.description, labels=list(_METRIC.labels))

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for result in self._monitor.report().results:
            values = {"service": result.service or "", "queue": result.queue or "", "check": result.check}
            family.add_metric([values[label] for label in _METRIC.labels], result.status.gauge_value)
        yield family

"""Scrape-time translation of the stage's audit counts into Prometheus metric families.

:class:`RedactionCollector` is a ``prometheus_client`` custom collector: register it in the
receiver's private ``CollectorRegistry``. ``collect()`` reads a snapshot (taken under the audit
lock) and builds the families without holding it.
"""

from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from . import audit
from .audit import AuditSnapshot

__all__ = ["RedactionCollector"]


class RedactionCollector:
    """Exposes ``queue_collector_redaction_*``."""

    def __init__(self, snapshot: Callable[[], AuditSnapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        """Empty families naming everything :meth:`collect` yields (for collision checks)."""
        return self._families(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._snapshot())

    @staticmethod
    def _families(snapshot: AuditSnapshot | None) -> list[Metric]:
        values = CounterMetricFamily(
            audit.VALUES, audit.HELP[audit.VALUES], labels=("signal", "rule", "action")
        )
        walked = CounterMetricFamily(
            audit.REQUESTS_WALKED, audit.HELP[audit.REQUESTS_WALKED], labels=("signal",)
        )
        skipped = CounterMetricFamily(audit.REQUESTS_SKIPPED, audit.HELP[audit.REQUESTS_SKIPPED])
        if snapshot is not None:
            for labels, count in sorted(snapshot.values.items()):
                values.add_metric(labels, count)
            for signal, count in sorted(snapshot.walked.items()):
                walked.add_metric((signal,), count)
            skipped.add_metric((), snapshot.skipped)
        return [values, walked, skipped]

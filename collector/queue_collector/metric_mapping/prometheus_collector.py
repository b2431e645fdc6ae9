"""Scrape-time translation of the stage's state into Prometheus metric families.

:class:`MappingCollector` is a ``prometheus_client`` custom collector: register it in the
receiver's private ``CollectorRegistry``. Each ``collect()`` asks the stage for a snapshot (taken
under the stage's lock) and translates it without holding the lock. Every unified metric is
described (HELP/TYPE) even before it has a series.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from queue_telemetry.catalog import UnifiedKind, UnifiedMetric

from . import self_metrics
from .cardinality import OVERFLOW_LABEL, is_overflow
from .self_metrics import StatsSnapshot
from .unified_store import StoreSnapshot

__all__ = ["MappingCollector"]


def _family(metric: UnifiedMetric) -> Metric:
    # CounterMetricFamily drops a trailing "_total" from the family name and adds it back to
    # the sample, so catalog names (which include "_total") are exposed exactly as written.
    if metric.kind is UnifiedKind.COUNTER:
        return CounterMetricFamily(metric.name, metric.description, labels=metric.labels)
    if metric.kind is UnifiedKind.HISTOGRAM:
        return HistogramMetricFamily(metric.name, metric.description, labels=metric.labels)
    return GaugeMetricFamily(metric.name, metric.description, labels=metric.labels)


class MappingCollector:
    """Exposes the unified metrics and the stage's self-metrics."""

    def __init__(
        self,
        targets: Mapping[str, UnifiedMetric],
        snapshot: Callable[[], tuple[StoreSnapshot, StatsSnapshot]],
    ) -> None:
        self._targets = tuple(targets.values())
        self._snapshot = snapshot
        self._le = {
            metric.name: tuple(floatToGoString(bound) for bound in metric.buckets or ()) + ("+Inf",)
            for metric in self._targets
            if metric.kind is UnifiedKind.HISTOGRAM
        }

    def describe(self) -> Iterable[Metric]:
        """Empty families naming everything :meth:`collect` yields (for collision checks)."""
        families = [_family(metric) for metric in self._targets]
        families.extend(self._self_families(None))
        return families

    def collect(self) -> Iterator[Metric]:
        store, stats = self._snapshot()
        for metric in self._targets:
            family = _family(metric)
            overflow: list[tuple[tuple[str, ...], object]] = []
            if metric.kind is UnifiedKind.COUNTER:
                for labels, value in store.counters[metric.name].items():
                    if is_overflow(labels):
                        overflow.append((labels, value))
                        continue
                    family.add_metric(labels, value)
            elif metric.kind is UnifiedKind.HISTOGRAM:
                les = self._le[metric.name]
                for labels, totals in store.histograms[metric.name].items():
                    cumulative = 0
                    buckets = []
                    for le, count in zip(les, totals.counts):
                        cumulative += count
                        buckets.append((le, float(cumulative)))
                    if is_overflow(labels):
                        overflow.append((labels, (buckets, totals.sum)))
                        continue
                    family.add_metric(labels, buckets, totals.sum)
            else:
                for labels, value in store.gauges[metric.name].items():
                    if is_overflow(labels):
                        overflow.append((labels, value))
                        continue
                    family.add_metric(labels, value)
            for labels, value in overflow:
                _add_overflow(family, metric, value)
            yield family
        yield from self._self_families(stats)

    @staticmethod
    def _self_families(stats: StatsSnapshot | None) -> list[Metric]:
        families = MappingCollector._base_self_families(stats)
        help_text = self_metrics.HELP
        overflow = CounterMetricFamily(
            self_metrics.SERIES_OVERFLOW, help_text[self_metrics.SERIES_OVERFLOW], labels=("metric",)
        )
        capped = CounterMetricFamily(
            self_metrics.LABEL_VALUES_CAPPED,
            help_text[self_metrics.LABEL_VALUES_CAPPED],
            labels=("metric",),
        )
        limited = CounterMetricFamily(
            self_metrics.STREAM_LIMIT, help_text[self_metrics.STREAM_LIMIT], labels=("outcome",)
        )
        legacy = CounterMetricFamily(
            self_metrics.LEGACY_SPANS_NORMALIZED, help_text[self_metrics.LEGACY_SPANS_NORMALIZED]
        )
        derived = CounterMetricFamily(self_metrics.SPAN_VALUES, help_text[self_metrics.SPAN_VALUES])
        if stats is not None:
            for name, count in sorted(stats.overflow.items()):
                overflow.add_metric((name,), count)
            for name, count in sorted(stats.label_values_capped.items()):
                capped.add_metric((name,), count)
            for outcome, count in sorted(stats.stream_limit.items()):
                limited.add_metric((outcome,), count)
            legacy.add_metric((), stats.legacy_spans_normalized)
            derived.add_metric((), stats.span_values)
        return families + [overflow, capped, limited, legacy, derived]

    @staticmethod
    def _base_self_families(stats: StatsSnapshot | None) -> list[Metric]:
        help_text = self_metrics.HELP
        mapped = CounterMetricFamily(
            self_metrics.POINTS_MAPPED, help_text[self_metrics.POINTS_MAPPED]
        )
        rejected = CounterMetricFamily(
            self_metrics.POINTS_REJECTED,
            help_text[self_metrics.POINTS_REJECTED],
            labels=("reason",),
        )
        ignored = CounterMetricFamily(
            self_metrics.POINTS_IGNORED, help_text[self_metrics.POINTS_IGNORED], labels=("reason",)
        )
        expired = CounterMetricFamily(
            self_metrics.STREAMS_EXPIRED, help_text[self_metrics.STREAMS_EXPIRED]
        )
        streams = GaugeMetricFamily(self_metrics.STREAMS, help_text[self_metrics.STREAMS])
        if stats is not None:
            mapped.add_metric((), stats.points_mapped)
            for reason, count in sorted(stats.rejected.items()):
                rejected.add_metric((reason,), count)
            for reason, count in sorted(stats.ignored.items()):
                ignored.add_metric((reason,), count)
            expired.add_metric((), stats.streams_expired)
            streams.add_metric((), stats.streams)
        return [mapped, rejected, ignored, expired, streams]


def _add_overflow(family: Metric, metric: UnifiedMetric, value: object) -> None:
    """Adds the overflow series: every label empty but ``otel_metric_overflow="true"``."""
    labels = {name: "" for name in metric.labels}
    labels[OVERFLOW_LABEL] = "true"
    name = metric.name
    if metric.kind is UnifiedKind.COUNTER:
        base = name[: -len("_total")] if name.endswith("_total") else name
        family.samples.append(Sample(base + "_total", labels, value))
    elif metric.kind is UnifiedKind.HISTOGRAM:
        buckets, total = value  # type: ignore[misc]
        for le, count in buckets:
            family.samples.append(Sample(name + "_bucket", {**labels, "le": le}, count))
        family.samples.append(Sample(name + "_count", labels, buckets[-1][1]))
        family.samples.append(Sample(name + "_sum", labels, total))
    else:
        family.samples.append(Sample(name, labels, value))

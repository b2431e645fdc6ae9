"""The totals per unified series: what ``/metrics`` shows, before translation to Prometheus.

Counters and histograms only grow (streams add their increases); gauges keep each stream's
current value and combine them at snapshot time by the metric's ``gauge_aggregation``.

Not thread-safe: the stage holds its lock around every call, and :meth:`UnifiedStore.snapshot`
returns copies that the collector translates after the lock is released.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Hashable, Mapping

from queue_telemetry.catalog import GaugeAggregation, UnifiedKind, UnifiedMetric

from .buckets import BucketMappingCache
from .points import HistogramValues

__all__ = ["HistogramTotals", "StoreSnapshot", "UnifiedStore"]

Series = tuple[str, ...]


@dataclass(frozen=True)
class HistogramTotals:
    """One unified histogram series: per-bucket counts (not cumulative; the last is +Inf)."""

    counts: tuple[int, ...]
    sum: float
    count: int


@dataclass(frozen=True)
class StoreSnapshot:
    """Copies of every series' value, by metric name then label values."""

    counters: Mapping[str, Mapping[Series, float]]
    histograms: Mapping[str, Mapping[Series, HistogramTotals]]
    gauges: Mapping[str, Mapping[Series, float]]


class _Histogram:
    __slots__ = ("counts", "sum", "count")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.sum = 0.0
        self.count = 0


class UnifiedStore:
    """Totals per unified metric and series."""

    def __init__(self, targets: Mapping[str, UnifiedMetric]) -> None:
        self._targets = targets
        self._bucket_mappings = BucketMappingCache()
        self._counters: dict[str, dict[Series, float]] = {}
        self._histograms: dict[str, dict[Series, _Histogram]] = {}
        #: target -> series -> stream key -> (point time, value)
        self._gauges: dict[str, dict[Series, dict[Hashable, tuple[int, float]]]] = {}
        #: target -> its table (one of the three above), for series counts.
        self._tables: dict[str, dict[Series, object]] = {}
        for metric in targets.values():
            table = {
                UnifiedKind.COUNTER: self._counters,
                UnifiedKind.HISTOGRAM: self._histograms,
                UnifiedKind.GAUGE: self._gauges,
            }[metric.kind]
            table[metric.name] = {}
            self._tables[metric.name] = table[metric.name]  # type: ignore[assignment]

    def series_count(self, target: str) -> int:
        """How many series ``target`` has now."""
        return len(self._tables[target])

    def has_series(self, target: str, series: Series) -> bool:
        return series in self._tables[target]

    def counter_fits(self, target: str, series: Series, amount: float) -> bool:
        """Whether adding ``amount`` keeps the series' total finite."""
        return math.isfinite(self._counters[target].get(series, 0.0) + amount)

    def histogram_fits(
        self, target: str, series: Series, scale: float, values: HistogramValues
    ) -> bool:
        """Whether adding ``values`` keeps the series' sum finite."""
        totals = self._histograms[target].get(series)
        return math.isfinite((totals.sum if totals is not None else 0.0) + values.sum * scale)

    def add_counter(self, target: str, series: Series, amount: float) -> None:
        totals = self._counters[target]
        totals[series] = totals.get(series, 0.0) + amount

    def add_histogram(
        self, target: str, series: Series, scale: float, values: HistogramValues
    ) -> None:
        """Adds a histogram increase in source units; bounds and sum are scaled, then re-bucketed."""
        bounds = self._targets[target].buckets or ()
        totals = self._histograms[target].get(series)
        if totals is None:
            totals = self._histograms[target][series] = _Histogram(len(bounds) + 1)
        mapping = self._bucket_mappings.get(values.bounds, scale, bounds)
        counts = totals.counts
        if mapping is None:
            for index, count in enumerate(values.counts):
                counts[index] += count
        else:
            for index, count in zip(mapping, values.counts):
                counts[index] += count
        totals.sum += values.sum * scale
        totals.count += values.count

    def observe(self, target: str, series: Series, value: float) -> None:
        """Adds one observation of ``value`` (in the unified unit) to a histogram series."""
        bounds = self._targets[target].buckets or ()
        totals = self._histograms[target].get(series)
        if totals is None:
            totals = self._histograms[target][series] = _Histogram(len(bounds) + 1)
        totals.counts[bisect_left(bounds, value)] += 1
        totals.sum += value
        totals.count += 1

    def set_gauge(
        self, target: str, series: Series, stream: Hashable, time: int, value: float
    ) -> None:
        self._gauges[target].setdefault(series, {})[stream] = (time, value)

    def drop_gauge(self, target: str, series: Series, stream: Hashable) -> None:
        """Removes an expired stream's value; a series with no streams left disappears."""
        by_series = self._gauges[target]
        streams = by_series.get(series)
        if streams is None:
            return
        streams.pop(stream, None)
        if not streams:
            del by_series[series]

    def total_series(self) -> int:
        return sum(len(table) for table in self._tables.values())

    def snapshot(self) -> StoreSnapshot:
        gauges: dict[str, dict[Series, float]] = {}
        for target, by_series in self._gauges.items():
            aggregation = self._targets[target].gauge_aggregation
            values: dict[Series, float] = {}
            for series, streams in by_series.items():
                if aggregation is GaugeAggregation.SUM:
                    values[series] = sum(value for _, value in streams.values())
                else:
                    values[series] = max(streams.values(), key=_point_time)[1]
            gauges[target] = values
        return StoreSnapshot(
            counters={target: dict(series) for target, series in self._counters.items()},
            histograms={
                target: {
                    key: HistogramTotals(tuple(item.counts), item.sum, item.count)
                    for key, item in series.items()
                }
                for target, series in self._histograms.items()
            },
            gauges=gauges,
        )


def _point_time(entry: tuple[int, float]) -> int:
    return entry[0]

"""The cardinality guard: which series a new stream may create.

Applied once per stream, when the stream is created (a stream always feeds the same series),
and once per derived span series per request. In order:

1. label allow-list (``cardinality.metrics.<name>.labels``): the values of other labels are
   dropped (set empty), so series that differ only there merge;
2. label value cap (``max_label_values``): a label of a metric that already has that many
   distinct values gets ``_other`` for any new value;
3. series limit (``max_series_per_metric`` or the metric's ``max_series``): a series that does
   not exist yet, when the metric already has that many, is replaced by the metric's single
   overflow series (``otel_metric_overflow="true"``, every other label empty).

Not thread-safe: the stage holds its lock around every call.
"""

from __future__ import annotations

from typing import Callable, Mapping

from queue_telemetry.catalog import UnifiedMetric

from .config import CardinalityConfig, MappingConfigError

__all__ = ["OVERFLOW_LABEL", "OTHER_VALUE", "OverflowMark", "SeriesGuard", "is_overflow"]

#: The label that marks a metric's overflow series.
OVERFLOW_LABEL = "otel_metric_overflow"
#: The value that replaces label values beyond ``max_label_values``.
OTHER_VALUE = "_other"

Series = tuple[str, ...]


class OverflowMark(str):
    """The last element of an overflow series key (one instance, compared by identity)."""

    __slots__ = ()


_MARK = OverflowMark("true")


def is_overflow(series: Series) -> bool:
    """True for an overflow series key."""
    return bool(series) and series[-1] is _MARK


class _MetricGuard:
    __slots__ = ("kept", "max_series", "values", "overflow", "unrestricted")

    def __init__(self, metric: UnifiedMetric, allowed: tuple[str, ...] | None, max_series: int) -> None:
        labels = metric.labels
        #: Per label: whether its value is kept (allow-list).
        self.kept = tuple(allowed is None or label in allowed for label in labels)
        self.unrestricted = all(self.kept)
        self.max_series = max_series
        #: Per label: the distinct values seen.
        self.values: tuple[set[str], ...] = tuple(set() for _ in labels)
        self.overflow: Series = ("",) * len(labels) + (_MARK,)


class SeriesGuard:
    """Decides the series a new stream feeds, given how many series each metric has now."""

    def __init__(
        self,
        targets: Mapping[str, UnifiedMetric],
        config: CardinalityConfig,
        series_count: Callable[[str], int],
        has_series: Callable[[str, Series], bool],
    ) -> None:
        overrides = dict(config.metrics)
        unknown = sorted(name for name in overrides if name not in targets)
        if unknown:
            raise MappingConfigError(
                f"metric_mapping.cardinality.metrics: unknown metric(s) {', '.join(unknown)} "
                f"(not exposed by metric mapping)"
            )
        self._guards: dict[str, _MetricGuard] = {}
        for name, metric in targets.items():
            limits = overrides.get(name)
            allowed = None
            max_series = config.max_series_per_metric
            if limits is not None:
                if limits.labels is not None:
                    extra = sorted(set(limits.labels) - set(metric.labels))
                    if extra:
                        raise MappingConfigError(
                            f"metric_mapping.cardinality.metrics.{name}.labels: {extra} are not "
                            f"labels of {name} (labels: {', '.join(metric.labels)})"
                        )
                    allowed = tuple(limits.labels)
                if limits.max_series:
                    max_series = limits.max_series
            self._guards[name] = _MetricGuard(metric, allowed, max_series)
        self._max_label_values = config.max_label_values
        self._series_count = series_count
        self._has_series = has_series

    def admit(self, target: str, series: Series) -> tuple[Series, str | None]:
        """The series to feed instead of ``series``, and which limit changed it (or None)."""
        guard = self._guards[target]
        limited = None
        if not guard.unrestricted:
            series = tuple(value if kept else "" for value, kept in zip(series, guard.kept))
        if self._has_series(target, series):
            return series, None
        values = guard.values
        capped = []
        for index, value in enumerate(series):
            seen = values[index]
            if value in seen:
                capped.append(value)
            elif len(seen) < self._max_label_values:
                seen.add(value)
                capped.append(value)
            else:
                capped.append(OTHER_VALUE)
                seen.add(OTHER_VALUE)  # may exceed the cap by this one value
                limited = "label_values"
        series = tuple(capped)
        if limited is not None and self._has_series(target, series):
            return series, limited
        if self._series_count(target) >= guard.max_series:
            return guard.overflow, "series"
        return series, limited

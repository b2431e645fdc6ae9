"""The metric mapping stage: producer metrics in, unified Prometheus metrics out.

:class:`MetricMappingStage` walks each decoded ``ExportMetricsServiceRequest`` resource -> scope
-> metric -> point. Metrics no rule reads cost one dict lookup. For the others, the stage
checks and reads every point *outside* its lock (translation), then takes the lock once per
request to advance the streams and add to the unified totals (state). Scrapes read a snapshot
taken under the same lock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Hashable, Sequence

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from ..pipeline import Rejections
from .config import MappingConfigError, MetricMappingConfig
from .points import (
    PointProblem,
    Shape,
    attribute_items,
    has_no_recorded_value,
    histogram_values,
    label_text,
    metric_shape,
    number_value,
    point_count,
)
from .prometheus_collector import MappingCollector
from .rules import LabelSource, MappingRule, build_rule_set
from .self_metrics import MappingStats, StatsSnapshot
from .streams import Output, StalePoint, Stream, StreamTable
from .unified_store import StoreSnapshot, UnifiedStore

__all__ = ["MetricMappingStage"]

_log = logging.getLogger(__name__)

#: Distinct problem messages quoted in one Rejections message; the rest are only counted.
_MAX_MESSAGES = 5
_COUNTER_SHAPES = frozenset((Shape.CUMULATIVE_COUNTER, Shape.DELTA_COUNTER))


def _attribute_texts(items: tuple[tuple[str, Any], ...]) -> dict[str, str]:
    """Attribute values as label text; filters and labels compare and use this form."""
    return {key: label_text(value) for key, value in items if value is not None}


class _Resource:
    """A resource's attributes, read once per request."""

    __slots__ = ("key", "_texts")

    def __init__(self, attributes: Any) -> None:
        self.key = attribute_items(attributes)
        self._texts: dict[str, str] | None = None

    @property
    def texts(self) -> dict[str, str]:
        if self._texts is None:
            self._texts = _attribute_texts(self.key)
        return self._texts


class _Problems:
    """The points rejected while reading one request."""

    def __init__(self) -> None:
        self.count = 0
        self.by_reason: dict[str, int] = {}
        self.messages: dict[str, None] = {}

    def add(self, problem: PointProblem, count: int = 1) -> None:
        self.count += count
        self.by_reason[problem.reason] = self.by_reason.get(problem.reason, 0) + count
        self.messages.setdefault(problem.message)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("metric mapping rejected %d point(s): %s", count, problem.message)

    def rejections(self) -> Rejections | None:
        if not self.count:
            return None
        messages = list(self.messages)
        text = "; ".join(messages[:_MAX_MESSAGES])
        if len(messages) > _MAX_MESSAGES:
            text += f"; and {len(messages) - _MAX_MESSAGES} more problem(s)"
        return Rejections(self.count, text)


#: A point read and checked, waiting to be applied under the lock:
#: (stream key, rules, resource, point attributes, start, time, value or HistogramValues).
_Observation = tuple[Hashable, Sequence[MappingRule], _Resource, tuple, int, int, Any]


def _label_value(source: LabelSource, point: dict[str, str], resource: dict[str, str]) -> str:
    if source.attribute is None:
        return source.default
    value = point.get(source.attribute)
    if value is None:
        value = resource.get(source.attribute)
    return value or source.default


class MetricMappingStage:
    """Maps producer metrics onto the catalog's unified metrics (a :class:`TelemetryStage`).

    Thread-safe: gRPC worker threads may call :meth:`process_metrics` concurrently with each
    other and with scrapes of :meth:`prometheus_collector`; one lock guards all state and is
    held only to apply already-checked points. Never raises for a decoded request: invalid
    points are dropped and returned as :class:`Rejections`; the rest is still mapped.
    The constructor validates the configuration and rule files and raises MappingConfigError.
    """

    name = "metric_mapping"

    def __init__(
        self, config: MetricMappingConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        expiry = config.stream_expiry_seconds
        if (
            isinstance(expiry, bool)
            or not isinstance(expiry, (int, float))
            or not math.isfinite(expiry)
            or expiry <= 0
        ):
            raise MappingConfigError(
                f"metric_mapping.stream_expiry_seconds: expected a finite number > 0, got {expiry!r}"
            )
        if isinstance(config.rule_files, str) or not all(
            isinstance(path, str) and path for path in config.rule_files
        ):
            raise MappingConfigError(
                f"metric_mapping.rule_files: expected a list of file paths, got {config.rule_files!r}"
            )
        self._rules = build_rule_set(tuple(config.rule_files))
        self._by_source = self._rules.by_source
        self._clock = clock
        self._lock = threading.Lock()
        self._streams = StreamTable(float(expiry))
        self._store = UnifiedStore(self._rules.targets)
        self._stats = MappingStats()
        # Sweeping visits every stream; do it on scrapes and at most every quarter expiry time.
        self._sweep_interval = float(expiry) / 4
        self._next_sweep = clock() + self._sweep_interval
        self._collector = MappingCollector(self._rules.targets, self._snapshot)

    # --- TelemetryStage ------------------------------------------------------------------------

    def process_traces(self, request: ExportTraceServiceRequest) -> None:
        return None

    def process_logs(self, request: ExportLogsServiceRequest) -> None:
        return None

    def process_metrics(self, request: ExportMetricsServiceRequest) -> Rejections | None:
        problems = _Problems()
        no_value = 0
        observations: list[_Observation] = []
        by_source = self._by_source
        for resource_metrics in request.resource_metrics:
            resource: _Resource | None = None
            for scope_metrics in resource_metrics.scope_metrics:
                scope_key: tuple[str, str] | None = None
                for metric in scope_metrics.metrics:
                    rules = by_source.get(metric.name)
                    if rules is None:
                        continue
                    if resource is None:
                        resource = _Resource(resource_metrics.resource.attributes)
                    if scope_key is None:
                        scope_key = (scope_metrics.scope.name, scope_metrics.scope.version)
                    try:
                        no_value += self._read_metric(
                            metric, rules, resource, scope_key, observations, problems
                        )
                    except PointProblem as problem:
                        problems.add(problem, point_count(metric))
                    except Exception:  # a bug here must not fail the request; see the log
                        _log.exception("metric mapping failed to read metric %s", metric.name)
                        problems.add(
                            PointProblem("internal_error", f"metric {metric.name}: internal error"),
                            point_count(metric),
                        )
        now = self._clock()
        with self._lock:
            stats = self._stats
            for reason, count in problems.by_reason.items():
                stats.reject(reason, count)
            for _ in range(no_value):
                stats.ignore("no_recorded_value")
            for observation in observations:
                try:
                    self._apply(observation, now)
                except Exception:  # keep the rest of the request; see the log
                    _log.exception("metric mapping failed to apply a point")
                    stats.reject("internal_error")
            if now >= self._next_sweep:
                self._expire(now)
        return problems.rejections()

    # --- translation (no lock) -----------------------------------------------------------------

    @staticmethod
    def _read_metric(
        metric: Any,
        rules: Sequence[MappingRule],
        resource: _Resource,
        scope_key: tuple[str, str],
        observations: list[_Observation],
        problems: _Problems,
    ) -> int:
        """Appends the metric's valid points to ``observations``; returns how many had no value."""
        shape, points = metric_shape(metric, rules[0].source_kind)
        name = metric.name
        base = (resource.key, scope_key, name, shape)
        histogram = shape.is_histogram
        monotonic = shape in _COUNTER_SHAPES
        no_value = 0
        for point in points:
            if has_no_recorded_value(point):
                no_value += 1
                continue
            try:
                if not point.time_unix_nano:
                    raise PointProblem(
                        "invalid_timestamp", f"metric {name}: data point has no time_unix_nano"
                    )
                if histogram:
                    value: Any = histogram_values(name, point)
                else:
                    value = number_value(name, point, monotonic)
            except PointProblem as problem:
                problems.add(problem)
                continue
            items = attribute_items(point.attributes)
            observations.append(
                (
                    (base, items),
                    rules,
                    resource,
                    items,
                    point.start_time_unix_nano,
                    point.time_unix_nano,
                    value,
                )
            )
        return no_value

    @staticmethod
    def _outputs(
        rules: Sequence[MappingRule], items: tuple, resource: _Resource
    ) -> tuple[Output, ...]:
        attributes = _attribute_texts(items)
        outputs = []
        for rule in rules:
            if rule.source_filter.matches(attributes):
                series = tuple(
                    _label_value(source, attributes, resource.texts) for source in rule.labels
                )
                outputs.append((rule.target, series, rule.scale))
        return tuple(outputs)

    # --- state (under the lock) ----------------------------------------------------------------

    def _apply(self, observation: _Observation, now: float) -> None:
        key, rules, resource, items, start, end, value = observation
        stream = self._streams.get(key)
        if stream is None:
            stream = Stream(key[0][3], self._outputs(rules, items, resource), now)
            self._streams.add(key, stream)
        stream.seen_at = now
        outputs = stream.outputs
        if not outputs:
            return
        store = self._store
        shape = stream.shape
        try:
            if shape.is_histogram:
                increase = stream.histogram_increase(start, end, value)
                for target, series, scale in outputs:
                    store.add_histogram(target, series, scale, increase)
            elif shape in _COUNTER_SHAPES:
                amount = stream.counter_increase(start, end, value)
                for target, series, scale in outputs:
                    store.add_counter(target, series, amount * scale)
            else:
                current = stream.current_value(start, end, value)
                for target, series, scale in outputs:
                    store.set_gauge(target, series, key, end, current * scale)
        except StalePoint as stale:
            self._stats.ignore(stale.reason)
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("metric mapping ignored a point of %s: %s", key[0][2], stale.reason)
            return
        self._stats.points_mapped += 1

    def _expire(self, now: float) -> None:
        self._next_sweep = now + self._sweep_interval
        for key, stream in self._streams.expire(now):
            self._stats.streams_expired += 1
            if stream.shape in (Shape.CURRENT_VALUE, Shape.DELTA_UP_DOWN):
                for target, series, _ in stream.outputs:
                    self._store.drop_gauge(target, series, key)

    def _snapshot(self) -> tuple[StoreSnapshot, StatsSnapshot]:
        now = self._clock()
        with self._lock:
            self._expire(now)
            return self._store.snapshot(), self._stats.snapshot(len(self._streams))

    # --- exposition ----------------------------------------------------------------------------

    def prometheus_collector(self) -> MappingCollector:
        """The collector to register in the receiver's ``CollectorRegistry`` (always the same one)."""
        return self._collector

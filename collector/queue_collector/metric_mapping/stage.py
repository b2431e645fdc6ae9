"""The metric mapping stage: producer metrics in, unified Prometheus metrics out.

:class:`MetricMappingStage` walks each decoded ``ExportMetricsServiceRequest`` resource -> scope
-> metric -> point. Metrics no rule reads cost one dict lookup. For the others, the stage
checks and reads every point *outside* its lock (translation), then takes the lock once per
request to advance the streams and add to the unified totals (state). Scrapes read a snapshot
taken under the same lock.

Traces: :meth:`MetricMappingStage.process_traces` renames the Rust runtime's legacy span
attributes in place (:mod:`.legacy_spans`) and, when switched on, derives queue metrics from
messaging spans (:mod:`.span_metrics`) for services that send no metrics of their own.
"""

from __future__ import annotations

import logging
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

from queue_telemetry.catalog import UnifiedKind

from ..pipeline import Rejections
from .cardinality import SeriesGuard, is_overflow
from .config import MetricMappingConfig, check_config
from .legacy_spans import normalize_request
from .points import (
    HashedKey,
    PointProblem,
    Shape,
    attribute_items,
    attribute_texts,
    has_no_recorded_value,
    histogram_values,
    metric_shape,
    number_value,
    point_count,
    summary_number,
)
from .prometheus_collector import MappingCollector
from .rules import UNKNOWN_SERVICE, LabelSource, MappingRule, Reading, build_rule_set
from .self_metrics import MappingStats, StatsSnapshot
from .span_metrics import DERIVED_TARGETS, SpanValue, derive_from_request
from .streams import Output, StalePoint, Stream, StreamTable
from .unified_store import StoreSnapshot, UnifiedStore

__all__ = ["MetricMappingStage"]

_log = logging.getLogger(__name__)

#: Distinct problem messages quoted in one Rejections message; the rest are only counted.
_MAX_MESSAGES = 5
_COUNTER_SHAPES = frozenset((Shape.CUMULATIVE_COUNTER, Shape.DELTA_COUNTER, Shape.PERIODIC_COUNTER))
#: Shapes whose points can be added without per-stream state when the stream limits are reached.
_STATELESS_SHAPES = frozenset((Shape.DELTA_COUNTER, Shape.DELTA_HISTOGRAM, Shape.PERIODIC_COUNTER))
#: Shapes whose stream key includes the start time: a restart, or another process with the same
#: resource attributes, is another running total.
_STARTED_SHAPES = frozenset((Shape.CUMULATIVE_COUNTER, Shape.CUMULATIVE_HISTOGRAM))
#: Shapes whose points must not start after they end (the others do not use the start time).
_INTERVAL_SHAPES = frozenset(
    (
        Shape.CUMULATIVE_COUNTER,
        Shape.DELTA_COUNTER,
        Shape.CUMULATIVE_HISTOGRAM,
        Shape.DELTA_HISTOGRAM,
        Shape.DELTA_UP_DOWN,
    )
)
_attribute_texts = attribute_texts


class _Resource:
    """A resource's attributes, read once per request."""

    __slots__ = ("key", "hashed", "_texts")

    def __init__(self, attributes: Any) -> None:
        self.key = attribute_items(attributes)
        #: The key with its hash computed once: part of every stream key of the resource.
        self.hashed = HashedKey(self.key)
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
        """Records rejected points (the caller counts them in the self-metrics)."""
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


def _not_finite(key: Any, target: str) -> PointProblem:
    return PointProblem(
        "invalid_value",
        f"metric {key[0][2]}: the increase would make the total of {target} infinite",
    )


def _label_value(source: LabelSource, point: dict[str, str], resource: dict[str, str]) -> str:
    attribute = source.attribute
    if attribute is None:
        return source.default
    value = point.get(attribute) or resource.get(attribute)
    if not value:
        for alternative in source.alternatives:
            value = point.get(alternative) or resource.get(alternative)
            if value:
                break
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
        check_config(config)
        expiry = config.stream_expiry_seconds
        self._rules = build_rule_set(tuple(config.rule_files), config.shipped_rules)
        self._by_source = self._rules.by_source
        self._readings = self._rules.readings_by_source
        self._clock = clock
        self._lock = threading.Lock()
        limits = config.cardinality
        self._streams = StreamTable(
            float(expiry),
            limits.max_streams,
            limits.max_streams_per_source,
            float(config.tombstone_seconds),
        )
        self._store = UnifiedStore(self._rules.targets)
        self._guard = SeriesGuard(
            self._rules.targets, limits, self._store.series_count, self._store.has_series
        )
        self._stats = MappingStats()
        targets = self._rules.targets
        #: Index of the ``service`` label of each target that has one.
        self._service_index = {
            name: metric.labels.index("service")
            for name, metric in targets.items()
            if "service" in metric.labels
        }
        #: (target, service) -> live metric streams feeding it: spans do not feed these.
        self._metric_fed: dict[tuple[str, str], int] = {}
        self._normalize_legacy = bool(config.normalize_legacy_spans)
        self._legacy_languages = frozenset(config.legacy_span_sdk_languages)
        self._derive_spans = bool(config.span_metrics.enabled)
        self._derived_targets = tuple(name for name in DERIVED_TARGETS if name in targets)
        self._target_labels = {name: metric.labels for name, metric in targets.items()}
        self._histogram_targets = frozenset(
            name for name, metric in targets.items() if metric.kind is UnifiedKind.HISTOGRAM
        )
        # Sweeping visits every stream; do it on scrapes and at most every quarter expiry time.
        self._sweep_interval = float(expiry) / 4
        self._next_sweep = clock() + self._sweep_interval
        self._collector = MappingCollector(self._rules.targets, self._snapshot)

    # --- TelemetryStage ------------------------------------------------------------------------

    def screen(self, raw: bytes) -> bool:
        """Always True: the stage cannot tell a metrics request it must map from raw bytes
        without knowing the signal, and a trace request may carry legacy attributes under any
        key order. The trace work keeps itself cheap instead (see :meth:`process_traces`)."""
        return True

    def process_traces(self, request: ExportTraceServiceRequest) -> None:
        """Renames legacy span attributes in place and derives queue metrics from spans.

        Never raises: a failure is logged and counted, and the request goes on unchanged or
        partly normalized.
        """
        if self._normalize_legacy:
            try:
                normalized = normalize_request(request, self._legacy_languages)
            except Exception:  # a bug here must not fail the request; see the log
                _log.exception("metric mapping failed to normalize legacy span attributes")
                normalized = 0
            if normalized:
                with self._lock:
                    self._stats.legacy_spans_normalized += normalized
        if self._derive_spans:
            try:
                values = derive_from_request(request, UNKNOWN_SERVICE, self._service_sends_metrics)
            except Exception:
                _log.exception("metric mapping failed to derive metrics from spans")
                return None
            if values:
                self._apply_span_values(values)
        return None

    def _service_sends_metrics(self, service: str) -> bool:
        """True when metrics feed every target spans could feed for ``service`` (read without
        the lock: a stale answer only makes the stage read spans it then discards)."""
        fed = self._metric_fed
        return all((target, service) in fed for target in self._derived_targets)

    def _apply_span_values(self, values: list[SpanValue]) -> None:
        store = self._store
        labels_of = self._target_labels
        histograms = self._histogram_targets
        admitted: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        with self._lock:
            stats = self._stats
            fed = self._metric_fed
            for target, labels, value in values:
                names = labels_of.get(target)
                if names is None or (target, labels["service"]) in fed:
                    continue
                series = tuple(labels.get(name, "") for name in names)
                key = (target, series)
                guarded = admitted.get(key)
                if guarded is None:
                    guarded, limit = self._guard.admit(target, series)
                    admitted[key] = guarded
                    if limit == "label_values":
                        stats.label_values_capped[target] = stats.label_values_capped.get(target, 0) + 1
                if is_overflow(guarded):
                    stats.overflow[target] = stats.overflow.get(target, 0) + 1
                if target in histograms:
                    store.observe(target, guarded, value)
                else:
                    store.add_counter(target, guarded, value)
                stats.span_values += 1

    def process_logs(self, request: ExportLogsServiceRequest) -> None:
        return None

    def process_metrics(self, request: ExportMetricsServiceRequest) -> Rejections | None:
        problems = _Problems()
        no_value = 0
        observations: list[_Observation] = []
        by_source = self._readings
        for resource_metrics in request.resource_metrics:
            resource: _Resource | None = None
            for scope_metrics in resource_metrics.scope_metrics:
                scope_key: tuple[str, str] | None = None
                for metric in scope_metrics.metrics:
                    readings = by_source.get(metric.name)
                    if readings is None:
                        continue
                    if resource is None:
                        resource = _Resource(resource_metrics.resource.attributes)
                    if scope_key is None:
                        scope_key = (scope_metrics.scope.name, scope_metrics.scope.version)
                    try:
                        for index, reading in enumerate(readings):
                            no_value += self._read_metric(
                                metric, reading, index, resource, scope_key, observations, problems
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
            if now >= self._next_sweep:  # first, so expired streams free their slots
                self._expire(now)
            for observation in observations:
                try:
                    problem = self._apply(observation, now)
                except Exception:  # keep the rest of the request; see the log
                    _log.exception("metric mapping failed to apply a point")
                    problem = PointProblem(
                        "internal_error", f"metric {observation[0][0][2]}: internal error"
                    )
                if problem is not None:
                    problems.add(problem)
                    stats.reject(problem.reason)
        return problems.rejections()

    # --- translation (no lock) -----------------------------------------------------------------

    @staticmethod
    def _read_metric(
        metric: Any,
        reading: Reading,
        reading_index: int,
        resource: _Resource,
        scope_key: tuple[str, str],
        observations: list[_Observation],
        problems: _Problems,
    ) -> int:
        """Appends the metric's valid points to ``observations``; returns how many had no value."""
        rules = reading.rules
        shape, points = metric_shape(metric, reading.source_kind, reading.read_as)
        name = metric.name
        # Stream key prefix; plain strings and ints hash in C (enums would not).
        base = (resource.hashed, scope_key, name, shape.value, reading_index)
        histogram = shape.is_histogram
        monotonic = shape in _COUNTER_SHAPES
        keyed_by_start = shape in _STARTED_SHAPES
        interval = shape in _INTERVAL_SHAPES
        which = reading.summary_value
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
                if interval and point.start_time_unix_nano > point.time_unix_nano:
                    raise PointProblem(
                        "invalid_timestamp",
                        f"metric {name}: start_time_unix_nano {point.start_time_unix_nano} "
                        f"is after time_unix_nano {point.time_unix_nano}",
                    )
                if histogram:
                    value: Any = histogram_values(name, point)
                elif which is not None:
                    value = summary_number(name, point, which, monotonic)
                    if value is None:
                        no_value += 1
                        continue
                else:
                    value = number_value(name, point, monotonic)
            except PointProblem as problem:
                problems.add(problem)
                continue
            items = attribute_items(point.attributes)
            start = point.start_time_unix_nano
            observations.append(
                (
                    (base, items, start) if keyed_by_start else (base, items),
                    rules,
                    resource,
                    items,
                    start,
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
        visible = {**resource.texts, **attributes}  # filters see the point, then the resource
        outputs = []
        for rule in rules:
            if rule.source_filter.matches(visible):
                series = tuple(
                    _label_value(source, attributes, resource.texts) for source in rule.labels
                )
                outputs.append((rule.target, series, rule.scale))
        return tuple(outputs)

    # --- state (under the lock) ----------------------------------------------------------------

    def _guarded(self, outputs: tuple[Output, ...]) -> tuple[Output, ...]:
        """``outputs`` with each series passed through the cardinality guard."""
        guarded = []
        stats = self._stats
        for target, series, scale in outputs:
            admitted, limit = self._guard.admit(target, series)
            if limit == "label_values":
                stats.label_values_capped[target] = stats.label_values_capped.get(target, 0) + 1
            guarded.append((target, admitted, scale))
        return tuple(guarded)

    def _marks(self, outputs: tuple[Output, ...]) -> tuple[tuple[str, str], ...]:
        """The (target, service) pairs a metric stream feeds, before the guard changed labels."""
        marks = []
        for target, series, _ in outputs:
            index = self._service_index.get(target)
            if index is not None:
                marks.append((target, series[index]))
        return tuple(marks)

    def _new_stream(self, key: Any, rules: Sequence[MappingRule], items: tuple,
                    resource: _Resource, now: float) -> Stream | None:
        """Creates and registers the stream of ``key``; None when the stream limits are reached
        (the caller then handles the point without state, or drops it)."""
        shape = Shape(key[0][3])
        group = (key[0][0], key[0][2])
        streams = self._streams
        outputs = self._outputs(rules, items, resource)
        if not streams.has_room(group):
            if not outputs or shape not in _STATELESS_SHAPES:
                self._stats.stream_limit["dropped"] = self._stats.stream_limit.get("dropped", 0) + 1
                return None
            self._stats.stream_limit["added_without_state"] = (
                self._stats.stream_limit.get("added_without_state", 0) + 1
            )
            return Stream(shape, self._guarded(outputs), now, group)
        marks = self._marks(outputs)
        stream = Stream(shape, self._guarded(outputs), now, group, marks)
        fed = self._metric_fed
        for mark in marks:
            fed[mark] = fed.get(mark, 0) + 1
        streams.add(key, stream)
        return stream

    def _apply(self, observation: _Observation, now: float) -> PointProblem | None:
        """Adds one point to its stream and the unified totals; returns the problem when the
        point is refused as invalid (stale points are only counted)."""
        key, rules, resource, items, start, end, value = observation
        stream = self._streams.get(key)
        if stream is None:
            stream = self._new_stream(key, rules, items, resource, now)
            if stream is None:
                return None
        stream.seen_at = now
        outputs = stream.outputs
        if not outputs:
            return None
        store = self._store
        shape = stream.shape
        try:
            if shape.is_histogram:
                increase = stream.histogram_increase(start, end, value)
                for target, series, scale in outputs:
                    if not store.histogram_fits(target, series, scale, increase):
                        return _not_finite(key, target)
                for target, series, scale in outputs:
                    store.add_histogram(target, series, scale, increase)
            elif shape in _COUNTER_SHAPES:
                amount = stream.counter_increase(start, end, value)
                for target, series, scale in outputs:
                    if not store.counter_fits(target, series, amount * scale):
                        return _not_finite(key, target)
                for target, series, scale in outputs:
                    store.add_counter(target, series, amount * scale)
            else:
                current = stream.current_value(start, end, value)
                for target, series, scale in outputs:
                    store.set_gauge(target, series, key, end, current * scale)
        except StalePoint as stale:
            if stale.invalid:
                return PointProblem(
                    stale.reason,
                    f"metric {key[0][2]}: delta point ({start}, {end}] overlaps points "
                    f"already counted",
                )
            self._stats.ignore(stale.reason)
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("metric mapping ignored a point of %s: %s", key[0][2], stale.reason)
            return None
        stats = self._stats
        stats.points_mapped += 1
        if stream.overflow:
            for target in stream.overflow:
                stats.overflow[target] = stats.overflow.get(target, 0) + 1
        return None

    def _expire(self, now: float) -> None:
        self._next_sweep = now + self._sweep_interval
        fed = self._metric_fed
        for key, stream in self._streams.expire(now):
            self._stats.streams_expired += 1
            for mark in stream.marks:
                left = fed[mark] - 1
                if left:
                    fed[mark] = left
                else:
                    del fed[mark]
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

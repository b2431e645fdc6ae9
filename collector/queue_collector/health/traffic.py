"""Per-queue traffic over the sliding window: the state behind the traffic checks.

Translation apart from state: :func:`read_metrics_request` turns a decoded OTLP metrics request
into :class:`Observation` items (no lock, no state); :class:`QueueTraffic` applies them to
per-stream state and per-queue windows under one lock, and :meth:`QueueTraffic.snapshot` gives
the checks copies of the window totals.

Which producer instruments are read (names from the metric catalog):

* ``messaging.client.sent.messages`` / ``messaging.client.consumed.messages`` without
  ``error.type``: messages sent and received;
* ``messaging.client.operation.duration`` (its count) without ``error.type``, operation type
  ``send`` or ``receive``: successful operations, including receives that found no message;
* ``queue.errors`` by ``queue.error.operation`` (``send``, ``receive``, ``process``) and
  ``error.type``;
* ``messaging.process.duration``: processed messages (count), processing time (sum, buckets);
* ``queue.messages.dead_lettered``: messages dead-lettered;
* ``queue.dlq.depth``: the dead-letter queue's current depth (the newest report wins);
* ``queue.health.status`` by ``queue.health.check``: producer-reported checks, taken as they are.

Counters and histograms are per *stream* (resource, scope, metric, point attributes), as the
metric mapping stage keeps them, and reuse its :class:`Stream` to turn cumulative points into
increases. Increases land in the window bucket of the receiver's clock when they arrive. The
first point of a cumulative stream whose start time lies before the window (a producer that
was running before this receiver saw it, e.g. after a receiver restart) only sets the baseline:
its total is not new in this window.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from typing import Any, Hashable, Mapping

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from queue_telemetry.catalog import Attr, instrument, unified_metric

from queue_collector.health.service_names import service_name_of
from queue_collector.health.windows import (
    HistogramWindowTotals,
    WindowedHistogram,
    WindowedSum,
    bucket_index,
)
from queue_collector.metric_mapping.buckets import BucketMappingCache
from queue_collector.metric_mapping.points import (
    PointProblem,
    Shape,
    attribute_items,
    attribute_texts,
    has_no_recorded_value,
    histogram_values,
    metric_shape,
    number_value,
)
from queue_collector.metric_mapping.rules import SourceType
from queue_collector.metric_mapping.streams import StalePoint, Stream, StreamTable

__all__ = [
    "Observed",
    "Observation",
    "QueueWindow",
    "ReportedCheck",
    "TrafficSnapshot",
    "QueueTraffic",
    "read_metrics_request",
    "PROCESSING_BUCKETS",
]

_logger = logging.getLogger(__name__)

#: Processing-time buckets every source histogram is re-bucketed into (the unified metric's).
PROCESSING_BUCKETS: tuple[float, ...] = tuple(
    unified_metric("queue_message_processing_duration_seconds").buckets or ()
)
_NANOS = 1_000_000_000
_UNIT_SCALES = {"s": 1.0, "": 1.0, "ms": 0.001, "us": 1e-6, "ns": 1e-9}


class Observed(enum.Enum):
    """What a point tells about a queue."""

    MESSAGES_SENT = "messages_sent"
    MESSAGES_RECEIVED = "messages_received"
    SUCCESSFUL_OPERATIONS = "successful_operations"
    ERRORS = "errors"
    PROCESSED = "processed"
    DEAD_LETTERED = "dead_lettered"
    DLQ_DEPTH = "dlq_depth"
    REPORTED_STATUS = "reported_status"


#: Producer instrument -> (what it tells, how it is read). Names checked against the catalog.
_READERS: dict[str, tuple[Observed, SourceType]] = {
    instrument("messaging.client.sent.messages").name: (Observed.MESSAGES_SENT, SourceType.COUNTER),
    instrument("messaging.client.consumed.messages").name: (Observed.MESSAGES_RECEIVED, SourceType.COUNTER),
    instrument("messaging.client.operation.duration").name: (
        Observed.SUCCESSFUL_OPERATIONS, SourceType.HISTOGRAM,
    ),
    instrument("queue.errors").name: (Observed.ERRORS, SourceType.COUNTER),
    instrument("messaging.process.duration").name: (Observed.PROCESSED, SourceType.HISTOGRAM),
    instrument("queue.messages.dead_lettered").name: (Observed.DEAD_LETTERED, SourceType.COUNTER),
    instrument("queue.dlq.depth").name: (Observed.DLQ_DEPTH, SourceType.GAUGE),
    instrument("queue.health.status").name: (Observed.REPORTED_STATUS, SourceType.GAUGE),
}
_CONNECTION_OPERATIONS = ("send", "receive")
_ERROR_OPERATIONS = ("send", "receive", "process")


@dataclass(frozen=True)
class Observation:
    """One checked point, waiting to be applied under the lock."""

    observed: Observed
    #: The stream it belongs to (None for gauges: the newest report wins).
    stream_key: Hashable
    shape: Shape
    service: str
    #: ``messaging.destination.name``; empty when absent (producer-reported service checks).
    queue: str
    provider: str
    #: ``(operation, error type)`` for errors, the check name for reported statuses.
    detail: Any
    start: int
    time: int
    #: A number, or HistogramValues for histograms.
    value: Any
    #: Factor to seconds for histograms (from the metric's unit).
    scale: float = 1.0


def read_metrics_request(request: ExportMetricsServiceRequest) -> tuple[list[Observation], int]:
    """The observations in ``request`` and how many points were unusable (skipped).

    Pure translation: no state, no lock; never raises for a decoded request.
    """
    observations: list[Observation] = []
    skipped = 0
    for resource_metrics in request.resource_metrics:
        service: str | None = None
        resource_key: tuple | None = None
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                reader = _READERS.get(metric.name)
                if reader is None:
                    continue
                if service is None:
                    service = service_name_of(resource_metrics.resource)
                    resource_key = attribute_items(resource_metrics.resource.attributes)
                observed, source_kind = reader
                try:
                    shape, points = metric_shape(metric, source_kind)
                except PointProblem:
                    skipped += 1
                    continue
                scale = _UNIT_SCALES.get(metric.unit, 1.0)
                scope = (scope_metrics.scope.name, scope_metrics.scope.version)
                for point in points:
                    try:
                        item = _observation(
                            observed, shape, metric.name, point, service, (resource_key, scope), scale
                        )
                    except PointProblem:
                        skipped += 1
                        continue
                    if item is not None:
                        observations.append(item)
    return observations, skipped


def _observation(
    observed: Observed, shape: Shape, name: str, point: Any, service: str, origin: tuple, scale: float
) -> Observation | None:
    if has_no_recorded_value(point) or not point.time_unix_nano:
        return None
    items = attribute_items(point.attributes)
    texts = attribute_texts(items)
    failed = Attr.ERROR_TYPE in texts
    detail: Any = None
    if observed is Observed.ERRORS:
        operation = texts.get(Attr.ERROR_OPERATION, "")
        if operation not in _ERROR_OPERATIONS:
            return None
        detail = (operation, texts.get(Attr.ERROR_TYPE) or "_OTHER")
    elif observed in (Observed.MESSAGES_SENT, Observed.MESSAGES_RECEIVED):
        if failed:
            return None
    elif observed is Observed.SUCCESSFUL_OPERATIONS:
        if failed or texts.get(Attr.OPERATION_TYPE) not in _CONNECTION_OPERATIONS:
            return None
    elif observed is Observed.REPORTED_STATUS:
        detail = texts.get(Attr.HEALTH_CHECK)
        if not detail:
            return None
    queue = texts.get(Attr.DESTINATION_NAME, "")
    if not queue and observed is not Observed.REPORTED_STATUS:
        return None
    if shape.is_histogram:
        value: Any = histogram_values(name, point)
    else:
        value = number_value(name, point, monotonic=shape in (Shape.CUMULATIVE_COUNTER, Shape.DELTA_COUNTER))
    return Observation(
        observed=observed,
        stream_key=(origin, name, items),
        shape=shape,
        service=service,
        queue=queue,
        provider=texts.get(Attr.MESSAGING_SYSTEM, ""),
        detail=detail,
        start=point.start_time_unix_nano,
        time=point.time_unix_nano,
        value=value,
        scale=scale,
    )


@dataclass(frozen=True)
class QueueWindow:
    """One queue's telemetry during the window (copies; safe to read without the lock)."""

    service: str
    queue: str
    provider: str
    messages_sent: float
    messages_received: float
    #: Send and receive operations that succeeded (from the operation duration histogram).
    successful_operations: float
    #: ``(operation, error type) -> count`` for send, receive and process errors.
    errors: Mapping[tuple[str, str], float]
    #: Processing times in seconds, in :data:`PROCESSING_BUCKETS`.
    processing: HistogramWindowTotals
    dead_lettered: float
    #: The newest reported dead-letter queue depth still within the window, or None.
    dlq_depth: float | None
    #: Receiver clock when the queue last had telemetry.
    last_seen: float

    def errors_of(self, *operations: str) -> dict[str, float]:
        """Error type -> count for the given operations."""
        result: dict[str, float] = {}
        for (operation, error_type), count in self.errors.items():
            if operation in operations and count:
                result[error_type] = result.get(error_type, 0.0) + count
        return result


@dataclass(frozen=True)
class ReportedCheck:
    """The newest state a producer reported for one of its checks."""

    service: str
    #: The queue it is about, or None for the service as a whole.
    queue: str | None
    check: str
    value: float
    seen_at: float


@dataclass(frozen=True)
class TrafficSnapshot:
    queues: tuple[QueueWindow, ...]
    reported: tuple[ReportedCheck, ...]


class _QueueState:
    __slots__ = (
        "provider", "sent", "received", "successful", "errors", "processing", "dead_lettered",
        "dlq_depth", "last_seen",
    )

    def __init__(self, buckets: int) -> None:
        self.provider = ""
        self.sent = WindowedSum(buckets)
        self.received = WindowedSum(buckets)
        self.successful = WindowedSum(buckets)
        self.errors: dict[tuple[str, str], WindowedSum] = {}
        self.processing = WindowedHistogram(buckets, PROCESSING_BUCKETS)
        self.dead_lettered = WindowedSum(buckets)
        #: (point time, value, receiver clock when received)
        self.dlq_depth: tuple[int, float, float] | None = None
        self.last_seen = 0.0


class QueueTraffic:
    """Windowed per-queue totals fed by the health stage, read by the traffic checks.

    Thread-safe: :meth:`record` (gRPC worker threads) and :meth:`snapshot` (health report)
    share one lock, held only for dictionary and ring updates.
    """

    def __init__(
        self,
        window_seconds: float = 300.0,
        bucket_seconds: float = 10.0,
        forget_after_seconds: float = 86400.0,
    ) -> None:
        if bucket_seconds <= 0 or window_seconds < bucket_seconds:
            raise ValueError("need bucket_seconds > 0 and window_seconds >= bucket_seconds")
        self.window_seconds = float(window_seconds)
        self.bucket_seconds = float(bucket_seconds)
        self._buckets = max(1, round(window_seconds / bucket_seconds))
        self._window_nanos = int(window_seconds * _NANOS)
        self._forget_after = float(forget_after_seconds)
        self._lock = threading.Lock()
        # A stream silent for two windows is forgotten; if it comes back, its first point is
        # judged by its start time like any new stream.
        self._streams = StreamTable(2 * self.window_seconds)
        self._queues: dict[tuple[str, str], _QueueState] = {}
        self._reported: dict[tuple[str, str, str], tuple[int, float, float]] = {}
        self._buckets_cache = BucketMappingCache()
        self._next_sweep = 0.0
        #: Points ignored as stale (out of order, overlapping deltas); for diagnosis.
        self.stale_points = 0

    def record(self, observations: list[Observation], now: float) -> None:
        """Applies observations received at ``now`` (receiver clock, seconds)."""
        if not observations:
            return
        period = bucket_index(now, self.bucket_seconds)
        with self._lock:
            for item in observations:
                try:
                    self._apply(item, now, period)
                except StalePoint:
                    self.stale_points += 1
                except Exception:  # one odd point must not lose the rest; see the log
                    _logger.exception("health: could not apply a point of %s", item.observed.value)
            if now >= self._next_sweep:
                self._sweep(now)

    def _queue(self, service: str, queue: str) -> _QueueState:
        state = self._queues.get((service, queue))
        if state is None:
            state = self._queues[(service, queue)] = _QueueState(self._buckets)
        return state

    def _apply(self, item: Observation, now: float, period: int) -> None:
        observed = item.observed
        if observed is Observed.REPORTED_STATUS:
            key = (item.service, item.queue, item.detail)
            held = self._reported.get(key)
            if held is None or item.time >= held[0]:
                self._reported[key] = (item.time, item.value, now)
            return
        state = self._queue(item.service, item.queue)
        state.last_seen = now
        if item.provider:
            state.provider = item.provider
        if observed is Observed.DLQ_DEPTH:
            if state.dlq_depth is None or item.time >= state.dlq_depth[0]:
                state.dlq_depth = (item.time, item.value, now)
            return
        stream = self._streams.get(item.stream_key)
        if stream is None:
            stream = Stream(item.shape, (), now)
            self._streams.add(item.stream_key, stream)
        stream.seen_at = now
        first = stream.time is None
        baseline_only = (
            first and not item.shape.is_delta and item.time - item.start > self._window_nanos
        )
        if item.shape.is_histogram:
            increase = stream.histogram_increase(item.start, item.time, item.value)
            if baseline_only:
                return
            if observed is Observed.SUCCESSFUL_OPERATIONS:
                state.successful.add(period, float(increase.count))
                return
            mapping = self._buckets_cache.get(increase.bounds, item.scale, PROCESSING_BUCKETS)
            if mapping is None:
                counts = list(increase.counts)
            else:
                counts = [0] * (len(PROCESSING_BUCKETS) + 1)
                for index, count in zip(mapping, increase.counts):
                    counts[index] += count
            state.processing.add(period, counts, increase.sum * item.scale)
            return
        amount = stream.counter_increase(item.start, item.time, item.value)
        if baseline_only or not amount:
            return
        if observed is Observed.MESSAGES_SENT:
            state.sent.add(period, amount)
        elif observed is Observed.MESSAGES_RECEIVED:
            state.received.add(period, amount)
        elif observed is Observed.DEAD_LETTERED:
            state.dead_lettered.add(period, amount)
        elif observed is Observed.ERRORS:
            window = state.errors.get(item.detail)
            if window is None:
                window = state.errors[item.detail] = WindowedSum(self._buckets)
            window.add(period, amount)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.bucket_seconds
        for _ in self._streams.expire(now):
            pass
        if self._forget_after > 0:
            cutoff = now - self._forget_after
            for key in [key for key, state in self._queues.items() if state.last_seen < cutoff]:
                del self._queues[key]
        # A producer-reported state not repeated within the window is no longer current.
        cutoff = now - self.window_seconds
        for key in [key for key, held in self._reported.items() if held[2] < cutoff]:
            del self._reported[key]

    def snapshot(self, now: float) -> TrafficSnapshot:
        """Window totals at ``now`` for every known queue, and the current reported checks."""
        period = bucket_index(now, self.bucket_seconds)
        oldest_time = now - self.window_seconds
        with self._lock:
            self._sweep(now)
            queues = []
            for (service, queue), state in sorted(self._queues.items()):
                depth = state.dlq_depth
                queues.append(
                    QueueWindow(
                        service=service,
                        queue=queue,
                        provider=state.provider,
                        messages_sent=state.sent.total(period),
                        messages_received=state.received.total(period),
                        successful_operations=state.successful.total(period),
                        errors={key: window.total(period) for key, window in state.errors.items()},
                        processing=state.processing.totals(period),
                        dead_lettered=state.dead_lettered.total(period),
                        dlq_depth=depth[1] if depth is not None and depth[2] >= oldest_time else None,
                        last_seen=state.last_seen,
                    )
                )
            reported = [
                ReportedCheck(service, queue or None, check, value, seen_at)
                for (service, queue, check), (_, value, seen_at) in sorted(self._reported.items())
            ]
        return TrafficSnapshot(tuple(queues), tuple(reported))

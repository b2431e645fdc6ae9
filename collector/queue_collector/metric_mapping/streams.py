"""Per-stream accumulation state.

A *stream* is one producer's series of points: the resource attributes (which include
``service.instance.id``, so each process has its own streams), the scope name and version, the
metric name and shape, and the point attributes. Streams are what make summing many processes
exact: each stream remembers its last point, so only its *increase* is added to the unified
totals.

Rules per shape (``start``/``time`` are the point's ``start_time_unix_nano``/``time_unix_nano``):

* cumulative counter and histogram: a point at or before the stream's last ``time`` is stale
  (ignored). Same ``start`` as before: the increase is ``new - last``; a value that went down
  without a new ``start`` is a reset and the new value is added in full. A new ``start``
  (producer restart) or the stream's first point: the value is added in full. So the unified
  total never goes backwards and never counts an increase twice.
* delta counter and histogram: a point is added when it is the stream's first or starts at or
  after the previous point's ``time``. Contiguous points (``start`` == previous ``time``) are the
  normal case; a gap (an export lost upstream) cannot double count, so it is added too, or the
  stream would stall. Overlapping points (``start`` before the previous ``time``, e.g. a retried
  export) and points ending before they start are ignored.
* current value (gauge, cumulative up-down counter): the latest point by ``time`` wins.
* delta up-down counter: contiguous deltas are summed into the stream's current value.
* periodic counter (a gauge or summary read as ``delta_counter``: one reporting period's
  total per point, e.g. CloudWatch or Azure Monitor): each point whose ``time`` is after the
  stream's last is added; a point at or before it (the same period sent again) is ignored.
  The start time is not used: these sources report the receiver's start or none at all.

Not thread-safe: the stage holds its lock around every call.
"""

from __future__ import annotations

from operator import ge, sub
from typing import Any, Hashable, Iterator

from .cardinality import is_overflow
from .points import HistogramValues, Shape

__all__ = ["StalePoint", "Output", "Stream", "StreamTable"]


class StalePoint(Exception):
    """A point that carries nothing new (out of order, overlapping); ``reason`` labels it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: ``(target name, series label values, rule scale)``: where a stream's updates go. Fixed for
#: the stream's life: everything that decides it (filter, labels) is part of the stream key.
Output = tuple[str, tuple[str, ...], float]


class Stream:
    """The state of one stream: its last point and where it feeds."""

    __slots__ = ("shape", "outputs", "start", "time", "value", "histogram", "seen_at", "group", "marks", "overflow")

    def __init__(
        self,
        shape: Shape,
        outputs: tuple[Output, ...],
        now: float,
        group: Hashable = None,
        marks: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.shape = shape
        self.outputs = outputs
        #: The stream-limit group: (resource attributes, source metric name).
        self.group = group
        #: (target, service) pairs this stream proves are fed by metrics (see the stage).
        self.marks = marks
        #: Targets this stream feeds through their overflow series (for the self-metric).
        self.overflow = tuple(target for target, series, _ in outputs if is_overflow(series))
        self.start = 0
        #: ``time_unix_nano`` of the last accepted point; None before the first.
        self.time: int | None = None
        self.value = 0.0
        self.histogram: HistogramValues | None = None
        #: Receiver clock when the stream last received a point (for expiry).
        self.seen_at = now

    def _check_delta(self, start: int, time: int) -> None:
        if time < start:
            raise StalePoint("non_monotonic_delta")
        if self.time is not None and (start < self.time or time <= self.time):
            raise StalePoint("overlapping_delta")

    def counter_increase(self, start: int, time: int, value: float) -> float:
        """The increase a counter point adds to the totals; raises StalePoint when none."""
        if self.shape is Shape.DELTA_COUNTER:
            self._check_delta(start, time)
            increase = value
        elif self.shape is Shape.PERIODIC_COUNTER:
            if self.time is not None and time <= self.time:
                raise StalePoint("out_of_order")
            increase = value
        elif self.time is None:
            increase = value
        elif time <= self.time:
            raise StalePoint("out_of_order")
        elif start == self.start and value >= self.value:
            increase = value - self.value
        else:
            increase = value
        self.start, self.time, self.value = start, time, value
        return increase

    def current_value(self, start: int, time: int, value: float) -> float:
        """The stream's current value after a gauge or up-down counter point."""
        if self.shape is Shape.DELTA_UP_DOWN:
            self._check_delta(start, time)
            self.value += value
        else:
            if self.time is not None and time <= self.time:
                raise StalePoint("out_of_order")
            self.value = value
        self.start, self.time = start, time
        return self.value

    def histogram_increase(self, start: int, time: int, values: HistogramValues) -> HistogramValues:
        """The buckets, sum and count a histogram point adds to the totals."""
        last = self.histogram
        if self.shape is Shape.DELTA_HISTOGRAM:
            self._check_delta(start, time)
            increase = values
        elif self.time is None or last is None:
            increase = values
        elif time <= self.time:
            raise StalePoint("out_of_order")
        elif (
            start == self.start
            and values.bounds == last.bounds
            and values.count >= last.count
            and all(map(ge, values.counts, last.counts))
        ):
            increase = HistogramValues(
                values.bounds,
                tuple(map(sub, values.counts, last.counts)),
                values.sum - last.sum,
                values.count - last.count,
            )
        else:
            increase = values
        self.start, self.time = start, time
        if not self.shape.is_delta:
            self.histogram = values
        return increase


class StreamTable:
    """All live streams by key, with expiry by receiver clock and two size limits.

    ``max_streams`` bounds all streams; ``max_per_group`` bounds the streams of one group (one
    source metric of one producer resource), so one producer with an unbounded attribute (a
    message id on a metric) cannot take every slot.
    """

    def __init__(
        self, expiry_seconds: float, max_streams: int = 2**62, max_per_group: int = 2**62
    ) -> None:
        self._expiry_seconds = expiry_seconds
        self._max_streams = max_streams
        self._max_per_group = max_per_group
        self._streams: dict[Hashable, Stream] = {}
        self._per_group: dict[Hashable, int] = {}

    def __len__(self) -> int:
        return len(self._streams)

    def get(self, key: Hashable) -> Stream | None:
        return self._streams.get(key)

    def has_room(self, group: Hashable) -> bool:
        """Whether a new stream of ``group`` may be added."""
        return (
            len(self._streams) < self._max_streams
            and self._per_group.get(group, 0) < self._max_per_group
        )

    def add(self, key: Hashable, stream: Stream) -> None:
        self._streams[key] = stream
        group = stream.group
        self._per_group[group] = self._per_group.get(group, 0) + 1

    def expire(self, now: float) -> Iterator[tuple[Any, Stream]]:
        """Removes and yields every stream not seen for the expiry time."""
        deadline = now - self._expiry_seconds
        expired = [
            (key, stream) for key, stream in self._streams.items() if stream.seen_at <= deadline
        ]
        per_group = self._per_group
        for key, stream in expired:
            del self._streams[key]
            left = per_group[stream.group] - 1
            if left:
                per_group[stream.group] = left
            else:
                del per_group[stream.group]
        return iter(expired)

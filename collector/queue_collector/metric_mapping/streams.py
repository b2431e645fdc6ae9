"""Per-stream accumulation state.

A *stream* is one producer's series of points: the resource attributes (which include
``service.instance.id``, so each process has its own streams), the scope name and version, the
metric name and shape, and the point attributes. Streams are what make summing many processes
exact: each stream remembers its last point, so only its *increase* is added to the unified
totals.

Cumulative counters and histograms also key their streams by ``start_time_unix_nano``: a
producer restart is a new stream, and two processes that share their resource attributes (no
``service.instance.id``) but not their start times stay apart instead of overwriting each
other's last point.

Rules per shape (``start``/``time`` are the point's ``start_time_unix_nano``/``time_unix_nano``):

* cumulative counter and histogram: a point at or before the stream's last ``time`` is stale
  (ignored). Otherwise the increase is ``new - last``; a value that went down is a reset and
  the new value is added in full. The stream's first point is added in full. So the unified
  total never goes backwards and never counts an increase twice. A histogram whose bounds
  changed has its previous buckets re-bucketed onto the new ones
  (:func:`~.buckets.bucket_difference`); when they do not fit, it is a reset.
* delta counter and histogram: each stream remembers the intervals ``(start, time]`` it
  counted, merged into at most :data:`MAX_DELTA_RUNS` runs. A point whose interval overlaps
  none is added, whatever its order (exports retried late by a sending queue arrive after
  newer ones; a gap, an export lost upstream, cannot double count). A point inside a counted
  run is a duplicate (a retried export: ignored); one that partly overlaps is refused as
  invalid. ``start`` 0 (unknown) means "since the stream's last ``time``": such a point is
  added when it is after that time. When runs are forgotten, points that begin before the
  end of a forgotten run are ignored as out of order.
* current value (gauge, cumulative up-down counter): the latest point by ``time`` wins.
* delta up-down counter: non-overlapping deltas are summed into the stream's current value.
* periodic counter (a gauge or summary read as ``delta_counter``: one reporting period's
  total per point, e.g. CloudWatch or Azure Monitor): each point whose ``time`` is after the
  stream's last is added; a point at or before it (the same period sent again) is ignored.
  The start time is not used: these sources report the receiver's start or none at all.

Expired streams of counters and histograms leave a *tombstone* (their last point, not their
outputs) for ``tombstone_seconds``: a stream that comes back is resumed from it, so its earlier
part is not counted again.

Not thread-safe: the stage holds its lock around every call.
"""

from __future__ import annotations

from collections import OrderedDict
from operator import ge, sub
from typing import Any, Hashable, Iterator

from .buckets import bucket_difference
from .cardinality import is_overflow
from .points import HistogramValues, Shape

__all__ = ["MAX_DELTA_RUNS", "StalePoint", "Output", "Stream", "StreamTable"]

#: Runs of counted intervals a delta stream remembers (contiguous intervals merge into one run,
#: so a stream needs more than one only while points arrive out of order).
MAX_DELTA_RUNS = 16
#: Shapes whose expired streams leave a tombstone (gauge values leave with their stream).
_TOMBSTONE_SHAPES = frozenset(
    (
        Shape.CUMULATIVE_COUNTER,
        Shape.DELTA_COUNTER,
        Shape.PERIODIC_COUNTER,
        Shape.CUMULATIVE_HISTOGRAM,
        Shape.DELTA_HISTOGRAM,
    )
)


class StalePoint(Exception):
    """A point that is not added; ``reason`` labels it.

    ``invalid`` is False for a point that carries nothing new (out of order, a duplicate) and
    True for one that contradicts points already counted (a partly overlapping delta): the
    client is told about those.
    """

    def __init__(self, reason: str, invalid: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invalid = invalid


#: ``(target name, series label values, rule scale)``: where a stream's updates go. Fixed for
#: the stream's life: everything that decides it (filter, labels) is part of the stream key.
Output = tuple[str, tuple[str, ...], float]


class Stream:
    """The state of one stream: its last point and where it feeds."""

    __slots__ = (
        "shape", "outputs", "start", "time", "value", "histogram", "runs", "floor", "seen_at",
        "group", "marks", "overflow",
    )

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
        #: Delta streams: counted intervals as sorted, disjoint ``(start, time)`` runs.
        self.runs: list[tuple[int, int]] = []
        #: Delta streams: points beginning before this were counted in forgotten runs, or not.
        self.floor = 0
        #: Receiver clock when the stream last received a point (for expiry).
        self.seen_at = now

    def state(self) -> tuple:
        """The stream's last point, for its tombstone."""
        return (self.start, self.time, self.value, self.histogram, tuple(self.runs), self.floor)

    def restore(self, state: tuple) -> None:
        """Resumes from a tombstone's :meth:`state`."""
        self.start, self.time, self.value, self.histogram, runs, self.floor = state
        self.runs = list(runs)

    def _check_delta(self, start: int, time: int) -> None:
        """Records the interval of a delta point; raises StalePoint when it must not be added."""
        if start == 0 and self.time is not None:  # unknown start: since the last point
            if time <= self.time:
                raise StalePoint("out_of_order")
            start = self.time
        if time < start:
            raise StalePoint("non_monotonic_delta")
        # A zero-length interval stands for its last nanosecond.
        low = start if start < time else time - 1
        if low < self.floor:
            raise StalePoint("out_of_order")
        runs = self.runs
        for run_start, run_end in reversed(runs):  # the newest first: the usual neighbour
            if low < run_end and run_start < time:
                if run_start <= low and time <= run_end:
                    raise StalePoint("duplicate_delta")
                raise StalePoint("overlapping_delta", invalid=True)
        if runs and runs[-1][1] == low:  # contiguous with the newest run: the usual case
            runs[-1] = (runs[-1][0], time)
        else:
            runs.append((low, time))
            runs.sort()
            merged = [runs[0]]
            for run in runs[1:]:
                if run[0] == merged[-1][1]:
                    merged[-1] = (merged[-1][0], run[1])
                else:
                    merged.append(run)
            while len(merged) > MAX_DELTA_RUNS:
                self.floor = merged.pop(0)[1]
            self.runs = merged
        if self.time is None or time > self.time:
            self.time = time

    def counter_increase(self, start: int, time: int, value: float) -> float:
        """The increase a counter point adds to the totals; raises StalePoint when none."""
        if self.shape is Shape.DELTA_COUNTER:
            self._check_delta(start, time)
            return value
        if self.shape is Shape.PERIODIC_COUNTER:
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
            return self.value
        if self.time is not None and time <= self.time:
            raise StalePoint("out_of_order")
        self.value = value
        self.start, self.time = start, time
        return self.value

    def histogram_increase(self, start: int, time: int, values: HistogramValues) -> HistogramValues:
        """The buckets, sum and count a histogram point adds to the totals."""
        if self.shape is Shape.DELTA_HISTOGRAM:
            self._check_delta(start, time)
            return values
        last = self.histogram
        if self.time is None or last is None:
            increase = values
        elif time <= self.time:
            raise StalePoint("out_of_order")
        elif start != self.start or values.count < last.count:
            increase = values
        else:
            if values.bounds == last.bounds:
                values = HistogramValues(last.bounds, values.counts, values.sum, values.count)
                counts: tuple[int, ...] | None = None
                if all(map(ge, values.counts, last.counts)):
                    counts = tuple(map(sub, values.counts, last.counts))
            else:
                counts = bucket_difference(last.bounds, last.counts, values.bounds, values.counts)
            if counts is None:
                increase = values
            else:
                increase = HistogramValues(
                    values.bounds, counts, values.sum - last.sum, values.count - last.count
                )
        self.start, self.time = start, time
        self.histogram = values
        return increase


class StreamTable:
    """All live streams by key, with expiry by receiver clock and two size limits.

    ``max_streams`` bounds all streams; ``max_per_group`` bounds the streams of one group (one
    source metric of one producer resource), so one producer with an unbounded attribute (a
    message id on a metric) cannot take every slot. Expired counter and histogram streams leave
    a tombstone for ``tombstone_seconds``, the oldest dropped first beyond ``max_streams``.
    """

    def __init__(
        self,
        expiry_seconds: float,
        max_streams: int = 2**62,
        max_per_group: int = 2**62,
        tombstone_seconds: float = 86_400.0,
    ) -> None:
        self._expiry_seconds = expiry_seconds
        self._max_streams = max_streams
        self._max_per_group = max_per_group
        self._tombstone_seconds = tombstone_seconds
        self._streams: dict[Hashable, Stream] = {}
        self._per_group: dict[Hashable, int] = {}
        #: key -> (receiver clock at expiry, Stream.state()), oldest first.
        self._tombstones: OrderedDict[Hashable, tuple[float, tuple]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def tombstones(self) -> int:
        return len(self._tombstones)

    def get(self, key: Hashable) -> Stream | None:
        return self._streams.get(key)

    def has_room(self, group: Hashable) -> bool:
        """Whether a new stream of ``group`` may be added."""
        return (
            len(self._streams) < self._max_streams
            and self._per_group.get(group, 0) < self._max_per_group
        )

    def add(self, key: Hashable, stream: Stream) -> None:
        """Registers a new stream, resumed from its tombstone when it has one."""
        self._streams[key] = stream
        group = stream.group
        self._per_group[group] = self._per_group.get(group, 0) + 1
        tombstone = self._tombstones.pop(key, None)
        if tombstone is not None:
            stream.restore(tombstone[1])

    def expire(self, now: float) -> Iterator[tuple[Any, Stream]]:
        """Removes and yields every stream not seen for the expiry time; forgets old tombstones."""
        tombstones = self._tombstones
        deadline = now - self._tombstone_seconds
        while tombstones and next(iter(tombstones.values()))[0] <= deadline:
            tombstones.popitem(last=False)
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
            if stream.shape in _TOMBSTONE_SHAPES and stream.time is not None:
                tombstones[key] = (now, stream.state())
                if len(tombstones) > self._max_streams:
                    tombstones.popitem(last=False)
        return iter(expired)

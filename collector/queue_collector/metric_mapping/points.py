"""Reading OTLP metric data: which shape a metric has, and the checked values of its points.

Pure translation, no state: the stage calls these functions outside its lock. Problems are
raised as :class:`PointProblem` with a reason (a self-metric label value) and a message naming
the metric and what is wrong.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Iterable, Sequence

from opentelemetry.proto.metrics.v1 import metrics_pb2

from .rules import ReadAs, SourceType, SummaryValue

__all__ = [
    "Shape",
    "PointProblem",
    "HistogramValues",
    "metric_shape",
    "point_count",
    "number_value",
    "summary_number",
    "histogram_values",
    "attribute_items",
    "HashedKey",
    "label_text",
    "has_no_recorded_value",
    "MAX_HISTOGRAM_BOUNDS",
]

#: Explicit bounds a histogram point may have; points with more are rejected. Every bound is
#: held per cumulative stream and in the re-bucketing cache, so producers must not choose
#: them without limit (SDK defaults have 15; Prometheus client histograms rarely over 50).
MAX_HISTOGRAM_BOUNDS = 1024

_DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_by_key = itemgetter(0)


class Shape(enum.Enum):
    """How a stream's points are to be read."""

    #: Monotonic sum, each point the total since its start time.
    CUMULATIVE_COUNTER = "cumulative_counter"
    #: Monotonic sum, each point the increase over [start, time].
    DELTA_COUNTER = "delta_counter"
    #: Gauge or cumulative non-monotonic sum: each point is the current value.
    CURRENT_VALUE = "current_value"
    #: Non-monotonic sum with delta temporality: each point is a change of the current value.
    DELTA_UP_DOWN = "delta_up_down"
    CUMULATIVE_HISTOGRAM = "cumulative_histogram"
    DELTA_HISTOGRAM = "delta_histogram"
    #: Each point is the total of one reporting period ending at its ``time_unix_nano``
    #: (CloudWatch sums, Azure Monitor totals); its start time is not used.
    PERIODIC_COUNTER = "periodic_counter"

    @property
    def is_delta(self) -> bool:
        return self in _DELTA_SHAPES

    @property
    def is_histogram(self) -> bool:
        return self in (Shape.CUMULATIVE_HISTOGRAM, Shape.DELTA_HISTOGRAM)


_DELTA_SHAPES = frozenset((Shape.DELTA_COUNTER, Shape.DELTA_UP_DOWN, Shape.DELTA_HISTOGRAM))


class PointProblem(Exception):
    """A point (or a whole metric) that cannot be mapped."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class HistogramValues:
    """A histogram point's checked content, in the source's unit."""

    #: Upper bounds of all buckets but the last (+Inf).
    bounds: tuple[float, ...]
    #: One count per bucket, ``len(bounds) + 1`` of them (not cumulative).
    counts: tuple[int, ...]
    sum: float
    count: int


def _temporality(name: str, temporality: int) -> bool:
    """True for delta, False for cumulative; raises for unspecified."""
    if temporality == _DELTA:
        return True
    if temporality == _CUMULATIVE:
        return False
    raise PointProblem(
        "invalid_temporality", f"metric {name}: aggregation temporality is unspecified"
    )


_CONVERTED_SHAPES = {
    ReadAs.GAUGE: Shape.CURRENT_VALUE,
    ReadAs.CUMULATIVE_COUNTER: Shape.CUMULATIVE_COUNTER,
    ReadAs.DELTA_COUNTER: Shape.PERIODIC_COUNTER,
}
_VALUE_KINDS = (SourceType.UP_DOWN_COUNTER, SourceType.GAUGE)


def metric_shape(
    metric: metrics_pb2.Metric, source_kind: SourceType, read_as: ReadAs | None = None
) -> tuple[Shape, Sequence[Any]]:
    """The shape of ``metric`` and its data points, when its type fits a source of ``source_kind``
    read as ``read_as`` (None: as its own type).

    Raises PointProblem for a type that does not fit (all of the metric's points are rejected).
    """
    data = metric.WhichOneof("data")
    name = metric.name
    if data == "sum":
        points = metric.sum.data_points
        delta = _temporality(name, metric.sum.aggregation_temporality)
        if metric.sum.is_monotonic:
            if source_kind is SourceType.COUNTER:
                return (Shape.DELTA_COUNTER if delta else Shape.CUMULATIVE_COUNTER), points
        elif source_kind in _VALUE_KINDS:
            if read_as is None or read_as is ReadAs.GAUGE:
                return (Shape.DELTA_UP_DOWN if delta else Shape.CURRENT_VALUE), points
            if not delta:
                return _CONVERTED_SHAPES[read_as], points
        found = "monotonic sum" if metric.sum.is_monotonic else "non-monotonic sum"
        if not metric.sum.is_monotonic and delta and source_kind in _VALUE_KINDS:
            found = "delta non-monotonic sum"
    elif data == "gauge":
        if source_kind in _VALUE_KINDS:
            shape = Shape.CURRENT_VALUE if read_as is None else _CONVERTED_SHAPES[read_as]
            return shape, metric.gauge.data_points
        found = "gauge"
    elif data == "summary":
        if source_kind is SourceType.SUMMARY and read_as is not None:
            return _CONVERTED_SHAPES[read_as], metric.summary.data_points
        found = "summary"
    elif data == "histogram":
        if source_kind is SourceType.HISTOGRAM:
            delta = _temporality(name, metric.histogram.aggregation_temporality)
            return (
                Shape.DELTA_HISTOGRAM if delta else Shape.CUMULATIVE_HISTOGRAM
            ), metric.histogram.data_points
        found = "histogram"
    elif data == "exponential_histogram":
        raise PointProblem(
            "exponential_histogram",
            f"metric {name}: exponential histograms are not supported yet; "
            f"configure the producer's view to use explicit bucket boundaries",
        )
    elif data is None:
        raise PointProblem("type_mismatch", f"metric {name}: no data")
    else:
        found = data
    expected = source_kind.value
    if read_as is not None:
        expected = f"{expected} read as {read_as.value}"
    raise PointProblem(
        "type_mismatch",
        f"metric {name}: a {found} does not fit its mapping rule, which expects a {expected}",
    )


def point_count(metric: metrics_pb2.Metric) -> int:
    """How many data points ``metric`` carries, whatever its type (at least 1 for counting)."""
    data = metric.WhichOneof("data")
    if data is None:
        return 1
    return max(1, len(getattr(metric, data).data_points))


def has_no_recorded_value(point: Any) -> bool:
    """True for a point flagged as having no value (a staleness marker)."""
    return bool(point.flags & _NO_RECORDED_VALUE)


def number_value(name: str, point: metrics_pb2.NumberDataPoint, monotonic: bool) -> float:
    """The checked value of a number point; raises PointProblem when it cannot be used."""
    kind = point.WhichOneof("value")
    if kind is None:
        raise PointProblem("invalid_value", f"metric {name}: data point has no value")
    value = float(point.as_int) if kind == "as_int" else point.as_double
    if not math.isfinite(value):
        raise PointProblem("invalid_value", f"metric {name}: value {value} is not a finite number")
    if monotonic and value < 0:
        raise PointProblem(
            "invalid_value", f"metric {name}: monotonic sum has negative value {value}"
        )
    return value


def _quantile(point: metrics_pb2.SummaryDataPoint, quantile: float) -> float | None:
    for item in point.quantile_values:
        if item.quantile == quantile:
            return item.value
    return None


def summary_number(
    name: str, point: metrics_pb2.SummaryDataPoint, which: SummaryValue, monotonic: bool
) -> float | None:
    """The checked value ``which`` of a summary point; None when it has none (``average`` of
    an empty period). Raises PointProblem when the value cannot be used."""
    if which is SummaryValue.SUM:
        value = point.sum
    elif which is SummaryValue.COUNT:
        value = float(point.count)
    elif which is SummaryValue.AVERAGE:
        if not point.count:
            return None
        value = point.sum / point.count
    else:
        found = _quantile(point, 0.0 if which is SummaryValue.MIN else 1.0)
        if found is None:
            if not point.count:
                return None
            raise PointProblem(
                "invalid_value",
                f"metric {name}: summary point has no {which.value} "
                f"(quantile {0 if which is SummaryValue.MIN else 1})",
            )
        value = found
    if not math.isfinite(value):
        raise PointProblem("invalid_value", f"metric {name}: value {value} is not a finite number")
    if monotonic and value < 0:
        raise PointProblem(
            "invalid_value", f"metric {name}: a value read as a counter is negative ({value})"
        )
    return value


def histogram_values(name: str, point: metrics_pb2.HistogramDataPoint) -> HistogramValues:
    """The checked content of a histogram point; raises PointProblem when it is inconsistent."""
    if len(point.explicit_bounds) > MAX_HISTOGRAM_BOUNDS:
        raise PointProblem(
            "invalid_histogram",
            f"histogram {name}: {len(point.explicit_bounds)} bounds, more than the "
            f"{MAX_HISTOGRAM_BOUNDS} allowed",
        )
    bounds = tuple(point.explicit_bounds)
    counts = tuple(point.bucket_counts)
    if not counts:
        if bounds:
            raise PointProblem(
                "invalid_histogram",
                f"histogram {name}: {len(bounds)} bounds but no bucket counts",
            )
        counts = (point.count,)
    elif len(counts) != len(bounds) + 1:
        raise PointProblem(
            "invalid_histogram",
            f"histogram {name}: {len(bounds)} bounds need {len(bounds) + 1} bucket counts, "
            f"got {len(counts)}",
        )
    for lower, upper in zip(bounds, bounds[1:]):
        if not lower < upper:
            raise PointProblem(
                "invalid_histogram", f"histogram {name}: bounds are not strictly increasing"
            )
    if bounds and not (math.isfinite(bounds[0]) and math.isfinite(bounds[-1])):
        raise PointProblem("invalid_histogram", f"histogram {name}: bounds must be finite")
    total = sum(counts)
    if total != point.count:
        raise PointProblem(
            "invalid_histogram",
            f"histogram {name}: bucket counts add up to {total} but count is {point.count}",
        )
    value_sum = point.sum if point.HasField("sum") else 0.0
    if not math.isfinite(value_sum):
        raise PointProblem(
            "invalid_histogram", f"histogram {name}: sum {value_sum} is not a finite number"
        )
    return HistogramValues(bounds, counts, value_sum, point.count)


def _plain(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_plain(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return KeyValues((item.key, _plain(item.value)) for item in value.kvlist_value.values)
    return getattr(value, kind)


def attribute_items(attributes: Iterable[Any]) -> tuple[tuple[str, Any], ...]:
    """OTLP ``KeyValue`` attributes as hashable ``(key, value)`` pairs sorted by key."""
    items = []
    append = items.append
    for item in attributes:
        value = item.value
        if value.WhichOneof("value") == "string_value":  # the common case, without a call
            append((item.key, value.string_value))
        else:
            append((item.key, _plain(value)))
    items.sort(key=_by_key)
    return tuple(items)


class HashedKey:
    """A hashable key whose hash is computed once (resource attributes, looked up per point)."""

    __slots__ = ("items", "_hash")

    def __init__(self, items: tuple) -> None:
        self.items = items
        self._hash = hash(items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HashedKey) and self._hash == other._hash and self.items == other.items


class KeyValues(tuple):
    """A key-value list attribute value, as ``(key, value)`` pairs (a tuple, so hashable)."""

    __slots__ = ()


def attribute_texts(items: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Attribute values as label text, the form filters and labels compare and use.

    The keys of a key-value list attribute ``A`` are also given as ``A.<key>`` (CloudWatch's
    OpenTelemetry 1.0 format nests its dimensions this way).
    """
    texts: dict[str, str] = {}
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, KeyValues):
            for inner_key, inner in value:
                if inner is not None and not isinstance(inner, KeyValues):
                    texts[f"{key}.{inner_key}"] = label_text(inner)
        texts[key] = label_text(value)
    return texts


def label_text(value: Any) -> str:
    """A Prometheus label value for an attribute value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.hex()
    return str(value)

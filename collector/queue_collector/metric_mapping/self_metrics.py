"""Counters of the stage's own work, exposed as receiver self-metrics (``queue_collector_mapping_*``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = [
    "POINTS_MAPPED",
    "POINTS_REJECTED",
    "POINTS_IGNORED",
    "STREAMS_EXPIRED",
    "STREAMS",
    "SERIES_OVERFLOW",
    "LABEL_VALUES_CAPPED",
    "STREAM_LIMIT",
    "LEGACY_SPANS_NORMALIZED",
    "SPAN_VALUES",
    "MappingStats",
    "StatsSnapshot",
]

#: Data points that fed at least one unified metric.
POINTS_MAPPED = "queue_collector_mapping_points_mapped_total"
#: Invalid data points dropped and reported to the client (OTLP partial success), by ``reason``.
POINTS_REJECTED = "queue_collector_mapping_points_rejected_total"
#: Valid data points that carried nothing new (out of order, overlapping delta), by ``reason``.
POINTS_IGNORED = "queue_collector_mapping_points_ignored_total"
#: Streams forgotten after ``stream_expiry_seconds`` without a point.
STREAMS_EXPIRED = "queue_collector_mapping_streams_expired_total"
#: Streams currently tracked (a gauge: the stage's memory grows with it).
STREAMS = "queue_collector_mapping_streams"

#: Points (and span values) added to a unified metric's overflow series, by ``metric``.
SERIES_OVERFLOW = "queue_collector_mapping_series_overflow_total"
#: New series whose label value was replaced by ``_other`` (max_label_values), by ``metric``.
LABEL_VALUES_CAPPED = "queue_collector_mapping_label_values_capped_total"
#: Points of new streams beyond the stream limits, by ``outcome``: ``added_without_state``
#: (delta points) or ``dropped`` (cumulative and gauge points).
STREAM_LIMIT = "queue_collector_mapping_stream_limit_points_total"
#: Spans whose legacy attributes were renamed.
LEGACY_SPANS_NORMALIZED = "queue_collector_mapping_legacy_spans_normalized_total"
#: Values derived from messaging spans and added to unified metrics.
SPAN_VALUES = "queue_collector_mapping_span_values_total"

HELP = {
    SERIES_OVERFLOW: "Data points the metric mapping stage added to a metric's overflow series.",
    LABEL_VALUES_CAPPED: "New series whose label value the metric mapping stage replaced by _other.",
    STREAM_LIMIT: "Data points of new streams beyond the metric mapping stage's stream limits.",
    LEGACY_SPANS_NORMALIZED: "Spans whose legacy queue attributes the metric mapping stage renamed.",
    SPAN_VALUES: "Values the metric mapping stage derived from messaging spans.",
    POINTS_MAPPED: "Data points the metric mapping stage added to unified metrics.",
    POINTS_REJECTED: "Invalid data points the metric mapping stage dropped, by reason.",
    POINTS_IGNORED: "Stale or duplicate data points the metric mapping stage ignored, by reason.",
    STREAMS_EXPIRED: "Producer streams the metric mapping stage forgot after the expiry time.",
    STREAMS: "Producer streams the metric mapping stage currently tracks.",
}


@dataclass(frozen=True)
class StatsSnapshot:
    points_mapped: int
    rejected: Mapping[str, int]
    ignored: Mapping[str, int]
    streams_expired: int
    streams: int
    overflow: Mapping[str, int] = field(default_factory=dict)
    label_values_capped: Mapping[str, int] = field(default_factory=dict)
    stream_limit: Mapping[str, int] = field(default_factory=dict)
    legacy_spans_normalized: int = 0
    span_values: int = 0


@dataclass
class MappingStats:
    """Mutable counters; not thread-safe (updated under the stage's lock)."""

    points_mapped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    streams_expired: int = 0
    overflow: dict[str, int] = field(default_factory=dict)
    label_values_capped: dict[str, int] = field(default_factory=dict)
    stream_limit: dict[str, int] = field(default_factory=dict)
    legacy_spans_normalized: int = 0
    span_values: int = 0

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + count

    def ignore(self, reason: str) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + 1

    def snapshot(self, streams: int) -> StatsSnapshot:
        return StatsSnapshot(
            self.points_mapped,
            dict(self.rejected),
            dict(self.ignored),
            self.streams_expired,
            streams,
            dict(self.overflow),
            dict(self.label_values_capped),
            dict(self.stream_limit),
            self.legacy_spans_normalized,
            self.span_values,
        )

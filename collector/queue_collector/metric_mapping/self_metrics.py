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

HELP = {
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


@dataclass
class MappingStats:
    """Mutable counters; not thread-safe (updated under the stage's lock)."""

    points_mapped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    streams_expired: int = 0

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
        )

"""Configuration of the health component (keys under ``health:``).

Three groups of settings: freshness (how long a silent service stays healthy), the sliding
window the traffic checks look at, and the thresholds of those checks. Thresholds have global
defaults (``thresholds:``) and optional overrides keyed by ``SERVICE`` or ``SERVICE/QUEUE``
(``overrides:``); an override sets only the fields it names, the rest come from the service's
override and then from the defaults.

Every threshold reads "the check is in this state when the measured value is *above* it", so
0 means "any" (one dead-lettered message is already above 0).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Iterator, Mapping

__all__ = ["HealthConfig", "HealthThresholds", "ThresholdOverride", "default_config"]


@dataclass(frozen=True)
class HealthThresholds:
    """The limits of the traffic checks, for one service or queue."""

    #: queue_connection: failed send/receive operations over all of them, above which the
    #: queue is degraded (default = 0.05, 5 %).
    connection_error_ratio_degraded_above: float = 0.05
    #: ... and unhealthy (default = 0.5). Failures with no success at all are always unhealthy.
    connection_error_ratio_unhealthy_above: float = 0.5
    #: message_processing: processing errors over processed messages, above which the queue is
    #: degraded (default = 0.05).
    processing_error_rate_degraded_above: float = 0.05
    #: ... and unhealthy (default = 0.1, the original runtime's example).
    processing_error_rate_unhealthy_above: float = 0.1
    #: message_processing: average processing time in seconds above which the queue is
    #: degraded (default = 5.0).
    processing_average_seconds_degraded_above: float = 5.0
    #: message_processing: 95th percentile processing time in seconds above which the queue is
    #: degraded (default = 30.0). Estimated from the histogram buckets (upper bound of the
    #: bucket holding the 95th percentile), so it can only be overestimated.
    processing_p95_seconds_degraded_above: float = 30.0
    #: dead_letter_queues: messages dead-lettered in the window above which the queue is
    #: degraded (default = 10: an occasional poison message is routine; set 0 to flag any).
    dead_lettered_degraded_above: float = 10.0
    #: ... and unhealthy (default = 100).
    dead_lettered_unhealthy_above: float = 100.0
    #: dead_letter_queues: current dead-letter queue depth above which the queue is degraded
    #: (default = 100; set 0 to flag any message waiting in the DLQ).
    dlq_depth_degraded_above: float = 100.0
    #: ... and unhealthy (default = 1000).
    dlq_depth_unhealthy_above: float = 1000.0

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        yield from _threshold_problems(self)


@dataclass(frozen=True)
class ThresholdOverride:
    """The thresholds one service or queue changes; unset (null) fields are inherited.

    Same keys and meanings as :class:`HealthThresholds`.
    """

    connection_error_ratio_degraded_above: float | None = None
    connection_error_ratio_unhealthy_above: float | None = None
    processing_error_rate_degraded_above: float | None = None
    processing_error_rate_unhealthy_above: float | None = None
    processing_average_seconds_degraded_above: float | None = None
    processing_p95_seconds_degraded_above: float | None = None
    dead_lettered_degraded_above: float | None = None
    dead_lettered_unhealthy_above: float | None = None
    dlq_depth_degraded_above: float | None = None
    dlq_depth_unhealthy_above: float | None = None

    def changes(self) -> dict[str, float]:
        """The fields this override sets."""
        return {
            item.name: getattr(self, item.name)
            for item in dataclasses.fields(self)
            if getattr(self, item.name) is not None
        }

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        yield from _threshold_problems(self)


def _threshold_problems(thresholds: object) -> Iterator[tuple[str, str]]:
    for item in dataclasses.fields(thresholds):  # type: ignore[arg-type]
        value = getattr(thresholds, item.name)
        if value is not None and (not math.isfinite(value) or value < 0):
            yield item.name, f"must be a finite number >= 0, got {value}"
    pairs = (
        ("connection_error_ratio_degraded_above", "connection_error_ratio_unhealthy_above"),
        ("processing_error_rate_degraded_above", "processing_error_rate_unhealthy_above"),
        ("dead_lettered_degraded_above", "dead_lettered_unhealthy_above"),
        ("dlq_depth_degraded_above", "dlq_depth_unhealthy_above"),
    )
    for degraded, unhealthy in pairs:
        low, high = getattr(thresholds, degraded), getattr(thresholds, unhealthy)
        if low is not None and high is not None and high < low:
            yield unhealthy, f"must be at least {degraded} ({low}), got {high}"


@dataclass(frozen=True)
class HealthConfig:
    """Freshness limits, the sliding window, thresholds and caching of the health report."""

    #: A service that sent no telemetry (any signal) for this many seconds is degraded and
    #: marked stale (default = 60.0).
    stale_after_seconds: float = 60.0
    #: A service silent for this many seconds is unhealthy (default = 300.0).
    unhealthy_after_seconds: float = 300.0
    #: A service (or queue) silent this long is forgotten, no longer reported; 0 never
    #: forgets (default = 86400.0).
    forget_after_seconds: float = 86400.0
    #: The report is recomputed at most this often; /health and /metrics share it
    #: (default = 1.0).
    cache_seconds: float = 1.0
    #: The traffic checks look at the last this many seconds of telemetry (default = 300.0).
    window_seconds: float = 300.0
    #: Granularity of the window: telemetry is counted in buckets this long, and the window
    #: slides one bucket at a time (default = 10.0; must divide ``window_seconds``).
    bucket_seconds: float = 10.0
    #: Thresholds for every service and queue without an override.
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    #: Per ``SERVICE`` or ``SERVICE/QUEUE`` threshold changes (default = none). A queue's
    #: thresholds: its own override, then its service's, then ``thresholds``.
    overrides: Mapping[str, ThresholdOverride] = field(default_factory=dict)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.stale_after_seconds <= 0:
            yield "stale_after_seconds", f"must be positive, got {self.stale_after_seconds}"
        if self.unhealthy_after_seconds < self.stale_after_seconds:
            yield "unhealthy_after_seconds", (
                f"must be at least stale_after_seconds ({self.stale_after_seconds}), "
                f"got {self.unhealthy_after_seconds}"
            )
        if self.forget_after_seconds != 0 and self.forget_after_seconds < self.unhealthy_after_seconds:
            yield "forget_after_seconds", (
                f"must be 0 (never) or at least unhealthy_after_seconds "
                f"({self.unhealthy_after_seconds}), got {self.forget_after_seconds}"
            )
        if self.cache_seconds < 0:
            yield "cache_seconds", f"must be 0 or positive, got {self.cache_seconds}"
        if not (self.bucket_seconds > 0 and math.isfinite(self.bucket_seconds)):
            yield "bucket_seconds", f"must be positive, got {self.bucket_seconds}"
        elif not (self.window_seconds >= self.bucket_seconds and math.isfinite(self.window_seconds)):
            yield "window_seconds", (
                f"must be at least bucket_seconds ({self.bucket_seconds}), got {self.window_seconds}"
            )
        else:
            buckets = self.window_seconds / self.bucket_seconds
            if abs(buckets - round(buckets)) > 1e-9:
                yield "window_seconds", (
                    f"must be a whole number of buckets of {self.bucket_seconds} s, "
                    f"got {self.window_seconds}"
                )
            elif round(buckets) > 10_000:
                yield "bucket_seconds", (
                    f"the window would have {round(buckets)} buckets (at most 10000); "
                    f"use longer buckets"
                )
        for key in self.overrides:
            service, slash, queue = str(key).partition("/")
            if not service or (slash and not queue):
                yield f"overrides.{key}", "expected a key SERVICE or SERVICE/QUEUE (split at the first /)"

    @property
    def window_buckets(self) -> int:
        """How many buckets the window holds."""
        return max(1, round(self.window_seconds / self.bucket_seconds))


def default_config() -> HealthConfig:
    """The health defaults: stale after 60 s, unhealthy after 300 s, 5 min window of 10 s
    buckets, cached for 1 s."""
    return HealthConfig()

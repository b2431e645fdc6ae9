"""Health checks: the interface every check implements, and the freshness check.

A check looks at some state and returns :class:`CheckResult` items, each about the whole
receiver (``service`` None), one service, or one queue of one service. The traffic checks
(:mod:`queue_collector.health.queue_checks`) implement the same interface; the report and the
gauge pick every check up unchanged.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence, runtime_checkable

from queue_collector.health.activity import ServiceActivity
from queue_collector.health.config import HealthConfig

__all__ = ["HealthStatus", "CheckResult", "HealthCheck", "FreshnessCheck", "format_timestamp"]


class HealthStatus(str, enum.Enum):
    """The three states, ordered healthy < degraded < unhealthy."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def gauge_value(self) -> int:
        """The value of ``queue_health_status``: 0 healthy, 1 degraded, 2 unhealthy."""
        return _ORDER[self]

    @staticmethod
    def worst(statuses: "Sequence[HealthStatus]") -> "HealthStatus":
        """The worst of ``statuses``; healthy when there are none."""
        return max(statuses, key=_ORDER.__getitem__, default=HealthStatus.HEALTHY)


_ORDER = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check for one subject (receiver, service, or service and queue)."""

    #: Name of the check that produced it (a key of the ``checks`` JSON object).
    check: str
    status: HealthStatus
    #: Short human-readable reason (``"fresh"``, ``"stale"``, ...).
    message: str
    #: Extra facts, string to string as in the original health JSON.
    details: Mapping[str, str] = field(default_factory=dict)
    #: The service it is about, or None for the receiver as a whole.
    service: str | None = None
    #: The queue it is about (with ``service``), or None.
    queue: str | None = None
    #: Seconds the check took; filled in by the monitor.
    duration_seconds: float = 0.0


@runtime_checkable
class HealthCheck(Protocol):
    """One health check.

    Contract: ``evaluate`` is called from HTTP server threads (at most once per cache period,
    under the monitor's lock); it must be quick, must not block on I/O, and should not raise (a
    check that raises is reported unhealthy with the error as its message).
    """

    name: str

    def evaluate(self, now: float) -> Sequence[CheckResult]:
        """Results at ``now`` (seconds since the epoch)."""
        ...


def format_timestamp(timestamp: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2024-01-01T00:00:00.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{int(timestamp % 1 * 1000):03d}Z"


class FreshnessCheck:
    """Per service: degraded ("stale") when silent past ``stale_after_seconds``, unhealthy past
    ``unhealthy_after_seconds``; services silent past ``forget_after_seconds`` are forgotten.

    No services at all yields no results, which the report shows as healthy: zero traffic is
    not an error.
    """

    name = "telemetry_freshness"

    def __init__(self, activity: ServiceActivity, config: HealthConfig) -> None:
        if config.unhealthy_after_seconds < config.stale_after_seconds:
            raise ValueError("health.unhealthy_after_seconds must be at least stale_after_seconds")
        self._activity = activity
        self._config = config

    def evaluate(self, now: float) -> list[CheckResult]:
        if self._config.forget_after_seconds > 0:
            self._activity.forget_silent_since(now - self._config.forget_after_seconds)
        results = []
        for service, by_signal in sorted(self._activity.snapshot().items()):
            newest = max(by_signal.values())
            silent_for = max(0.0, now - newest)
            if silent_for >= self._config.unhealthy_after_seconds:
                status, message = HealthStatus.UNHEALTHY, "stale"
            elif silent_for >= self._config.stale_after_seconds:
                status, message = HealthStatus.DEGRADED, "stale"
            else:
                status, message = HealthStatus.HEALTHY, "fresh"
            details = {
                "seconds_since_last_telemetry": f"{silent_for:.1f}",
                "stale": "true" if message == "stale" else "false",
            }
            for signal, seen in sorted(by_signal.items()):
                details[f"last_{signal}"] = format_timestamp(seen)
            results.append(CheckResult(self.name, status, message, details, service=service))
        return results

"""Configuration of the health component (keys under ``health:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

__all__ = ["HealthConfig", "default_config"]


@dataclass(frozen=True)
class HealthConfig:
    """Freshness limits and caching of the health report."""

    #: A service that sent no telemetry (any signal) for this many seconds is degraded ("stale").
    stale_after_seconds: float = 60.0
    #: A service silent for this many seconds is unhealthy.
    unhealthy_after_seconds: float = 300.0
    #: A service silent this long is forgotten (no longer reported); 0 never forgets.
    forget_after_seconds: float = 86400.0
    #: The report is recomputed at most this often; /health and /metrics share it.
    cache_seconds: float = 1.0

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


def default_config() -> HealthConfig:
    """The health defaults: stale after 60 s, unhealthy after 300 s, cached for 1 s."""
    return HealthConfig()

"""When each service last sent each signal: the state behind the freshness check.

Thread-safe: :meth:`ServiceActivity.record` is called from gRPC worker threads while the health
report reads :meth:`ServiceActivity.snapshot`; both hold one lock for a few dictionary updates.
"""

from __future__ import annotations

import threading
from typing import Iterable

__all__ = ["ServiceActivity"]


class ServiceActivity:
    """Last-seen times (seconds since the epoch) per service and signal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_seen: dict[str, dict[str, float]] = {}

    def record(self, services: Iterable[str], signal: str, when: float) -> None:
        """Marks ``services`` as having sent ``signal`` at ``when``. Never blocks for long."""
        with self._lock:
            for service in services:
                by_signal = self._last_seen.get(service)
                if by_signal is None:
                    by_signal = self._last_seen[service] = {}
                if by_signal.get(signal, float("-inf")) < when:
                    by_signal[signal] = when

    def snapshot(self) -> dict[str, dict[str, float]]:
        """A copy of the state: service -> signal -> last-seen time."""
        with self._lock:
            return {service: dict(by_signal) for service, by_signal in self._last_seen.items()}

    def forget_silent_since(self, cutoff: float) -> list[str]:
        """Drops services whose newest telemetry is older than ``cutoff``; returns their names."""
        with self._lock:
            gone = [
                service
                for service, by_signal in self._last_seen.items()
                if max(by_signal.values(), default=float("-inf")) < cutoff
            ]
            for service in gone:
                del self._last_seen[service]
            return gone

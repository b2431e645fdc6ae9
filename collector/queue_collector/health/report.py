"""The health report: runs the checks (cached), and renders the health JSON.

JSON shape (kept from the original runtime, extended per service and queue)::

    {"status": "healthy|degraded|unhealthy", "timestamp": "2024-01-01T00:00:00.000Z",
     "checks": {NAME: {"status", "duration", "message", "details"}},
     "summary": {"total_checks", "healthy_checks", "degraded_checks", "unhealthy_checks",
                 "total_duration"},
     "services": {SERVICE: {"status", "timestamp", "stale", "checks", "summary",
                            "queues": {QUEUE: {"status", "checks", "summary"}}}}}

``stale`` is true while the service has sent nothing for ``stale_after_seconds``.

``duration`` and ``total_duration`` are seconds (floats). At the top level each check is the
worst of its per-service results, with ``details`` listing each service's status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from queue_collector.health.checks import CheckResult, HealthCheck, HealthStatus, format_timestamp

__all__ = ["HealthReport", "HealthMonitor"]

_logger = logging.getLogger(__name__)

#: At most this many non-healthy subjects are named in an aggregated check message.
_MESSAGE_SUBJECTS = 5


@dataclass
class _ServiceResults:
    """One service's results: its own and, per queue, its queues'."""

    own: list[CheckResult] = field(default_factory=list)
    queues: dict[str, list[CheckResult]] = field(default_factory=dict)

    def all(self) -> list[CheckResult]:
        return self.own + [result for results in self.queues.values() for result in results]


@dataclass(frozen=True)
class HealthReport:
    """One evaluation of every check.

    The results are grouped by service once, when the report is made, and the whole JSON
    document is rendered at most once (on first use), so every look-up and every render costs
    time in proportion to what it returns, however many services the report holds. Safe to
    share between threads; the documents returned are shared too and must not be modified.
    """

    #: When it was evaluated, seconds since the epoch.
    timestamp: float
    #: Every result of every check.
    results: tuple[CheckResult, ...]
    #: Names of the checks that ran (a check with no results still appears, as healthy).
    check_names: tuple[str, ...]
    #: Seconds the whole evaluation took.
    total_duration_seconds: float
    _by_service: dict[str, _ServiceResults] = field(init=False, repr=False, compare=False)
    _rendered: dict[str, Any] = field(init=False, repr=False, compare=False, default_factory=dict)
    _render_lock: threading.Lock = field(
        init=False, repr=False, compare=False, default_factory=threading.Lock
    )

    def __post_init__(self) -> None:
        by_service: dict[str, _ServiceResults] = {}
        for result in self.results:
            if result.service is None:
                continue
            grouped = by_service.get(result.service)
            if grouped is None:
                grouped = by_service[result.service] = _ServiceResults()
            if result.queue is None:
                grouped.own.append(result)
            else:
                grouped.queues.setdefault(result.queue, []).append(result)
        object.__setattr__(self, "_by_service", dict(sorted(by_service.items())))

    @property
    def status(self) -> HealthStatus:
        """The worst status of any result; healthy when there are none."""
        return HealthStatus.worst([result.status for result in self.results])

    def services(self) -> list[str]:
        """Services that have at least one result, sorted."""
        return list(self._by_service)

    def queues(self, service: str) -> list[str]:
        """Queues of ``service`` that have at least one result, sorted (none for an unknown
        service)."""
        grouped = self._by_service.get(service)
        return sorted(grouped.queues) if grouped is not None else []

    def to_json(self) -> dict[str, Any]:
        """The whole report as the health JSON document (rendered once, then shared)."""
        with self._render_lock:
            if not self._rendered:
                self._rendered.update(self._render())
            return self._rendered

    def _render(self) -> dict[str, Any]:
        checks: dict[str, dict[str, Any]] = {}
        durations = {result.check: result.duration_seconds for result in self.results}
        by_check: dict[str, list[CheckResult]] = defaultdict(list)
        for result in self.results:
            by_check[result.check].append(result)
        for name in self.check_names:
            checks[name] = _aggregate(name, by_check.get(name, []), durations.get(name, 0.0))
        return {
            "status": self.status.value,
            "timestamp": format_timestamp(self.timestamp),
            "checks": checks,
            "summary": _summary(checks, self.total_duration_seconds),
            "services": {
                service: self._service_document(grouped)
                for service, grouped in self._by_service.items()
            },
        }

    def service_json(self, service: str) -> dict[str, Any] | None:
        """The document for one service, or None when the report knows no such service."""
        grouped = self._by_service.get(service)
        return self._service_document(grouped) if grouped is not None else None

    def _service_document(self, grouped: _ServiceResults) -> dict[str, Any]:
        own = grouped.all()
        service_checks = {result.check: _result_json(result) for result in grouped.own}
        return {
            "status": HealthStatus.worst([result.status for result in own]).value,
            "timestamp": format_timestamp(self.timestamp),
            "stale": any(result.details.get("stale") == "true" for result in own),
            "checks": service_checks,
            "summary": _summary(service_checks, sum(r.duration_seconds for r in grouped.own)),
            "queues": {
                queue: _queue_document(results) for queue, results in sorted(grouped.queues.items())
            },
        }

    def queue_json(self, service: str, queue: str) -> dict[str, Any] | None:
        """The document for one queue of one service, or None when the report has no such queue."""
        grouped = self._by_service.get(service)
        results = grouped.queues.get(queue) if grouped is not None else None
        if not results:
            return None
        return {"service": service, "queue": queue, "timestamp": format_timestamp(self.timestamp),
                **_queue_document(results)}


def _queue_document(results: Sequence[CheckResult]) -> dict[str, Any]:
    checks = {result.check: _result_json(result) for result in results}
    return {
        "status": HealthStatus.worst([result.status for result in results]).value,
        "checks": checks,
        "summary": _summary(checks, sum(r.duration_seconds for r in results)),
    }


def _result_json(result: CheckResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "duration": result.duration_seconds,
        "message": result.message,
        "details": dict(result.details),
    }


def _subject(result: CheckResult) -> str:
    if result.service is None:
        return "receiver"
    return result.service if result.queue is None else f"{result.service}/{result.queue}"


def _aggregate(name: str, results: Sequence[CheckResult], duration: float) -> dict[str, Any]:
    """One top-level entry for a check from all its results."""
    if len(results) == 1 and results[0].service is None:
        return _result_json(results[0])
    if not results:
        return {"status": "healthy", "duration": duration, "message": "nothing to check yet", "details": {}}
    status = HealthStatus.worst([result.status for result in results])
    troubled = [result for result in results if result.status is not HealthStatus.HEALTHY]
    if troubled:
        named = [f"{_subject(result)}: {result.message}" for result in troubled[:_MESSAGE_SUBJECTS]]
        if len(troubled) > _MESSAGE_SUBJECTS:
            named.append(f"and {len(troubled) - _MESSAGE_SUBJECTS} more")
        message = "; ".join(named)
    else:
        message = f"all {len(results)} healthy"
    details = {_subject(result): result.status.value for result in results}
    return {"status": status.value, "duration": duration, "message": message, "details": details}


def _summary(checks: dict[str, dict[str, Any]], total_duration: float) -> dict[str, Any]:
    statuses = [entry["status"] for entry in checks.values()]
    return {
        "total_checks": len(statuses),
        "healthy_checks": statuses.count("healthy"),
        "degraded_checks": statuses.count("degraded"),
        "unhealthy_checks": statuses.count("unhealthy"),
        "total_duration": total_duration,
    }


class HealthMonitor:
    """Runs the checks and caches the report for ``cache_seconds``.

    Thread-safe: concurrent callers of :meth:`report` share one evaluation. ``clock`` returns
    seconds since the epoch (injectable for tests); durations use ``time.perf_counter``.
    """

    def __init__(
        self,
        checks: Sequence[HealthCheck],
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [check.name for check in checks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"health checks must have unique names; repeated: {', '.join(duplicates)}")
        if cache_seconds < 0:
            raise ValueError(f"cache_seconds must be 0 or positive, got {cache_seconds}")
        self._checks = tuple(checks)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: HealthReport | None = None

    def report(self) -> HealthReport:
        """The current report, recomputed when the cached one is older than the cache period."""
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is not None and 0 <= now - cached.timestamp < self._cache_seconds:
                return cached
            self._cached = self._evaluate(now)
            return self._cached

    def _evaluate(self, now: float) -> HealthReport:
        results: list[CheckResult] = []
        # The names shown: a check's own name, or the names its results carry (a check may
        # report several, as the producer-reported one does).
        shown: dict[str, None] = {}
        started = time.perf_counter()
        for check in self._checks:
            check_started = time.perf_counter()
            try:
                produced = list(check.evaluate(now))
            except Exception as error:  # a broken check must not break /health
                _logger.exception("health check %s failed", check.name)
                produced = [CheckResult(check.name, HealthStatus.UNHEALTHY, f"check failed: {error!r}")]
            duration = time.perf_counter() - check_started
            results.extend(_with_duration(result, duration) for result in produced)
            for name in [result.check for result in produced] or [check.name]:
                shown.setdefault(name)
        return HealthReport(
            timestamp=now,
            results=tuple(results),
            check_names=tuple(shown),
            total_duration_seconds=time.perf_counter() - started,
        )


def _with_duration(result: CheckResult, duration: float) -> CheckResult:
    return replace(result, duration_seconds=duration)

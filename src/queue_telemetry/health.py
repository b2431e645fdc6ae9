"""Producer-side health checks: :class:`QueueHealthMonitor` and the three built-in checks.

The monitor runs its checks concurrently (asyncio), each under its own timeout: a check that
times out (or raises) is unhealthy with a message saying so, and the others keep their own
results. Results are cached for ``cache_seconds``. The overall status is the worst of the
checks. :meth:`HealthStatus.to_dict` has the shape the receiver's ``/health`` uses
(``status``, ``timestamp``, ``checks``, ``summary``).

Every result is also published as the ``queue.health.status`` gauge (0 healthy, 1 degraded,
2 unhealthy; attribute ``queue.health.check``, plus ``messaging.system`` and
``messaging.destination.name`` when the check concerns one queue), so the receiver can
aggregate the health of every producer.

Built-in checks:

* :class:`QueueConnectionHealthCheck` -- the broker answers a cheap call (queue depth); a
  missing queue is degraded, any other error unhealthy. It never consumes messages.
* :class:`MessageProcessingHealthCheck` -- error rate and average duration of ``process``
  spans over a sliding window (:class:`ProcessingWindow`, a span processor); an empty window is
  healthy, and old failures age out.
* :class:`DeadLetterQueueHealthCheck` -- dead-letter depth per queue against thresholds.

Threading: the monitor may be used from one event loop at a time; :meth:`QueueHealthMonitor.check_health_sync`
runs it from synchronous code. Checks that call blocking clients run them in a worker thread.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

from queue_telemetry._environment import resolve
from queue_telemetry._queue_instruments import instruments_for
from queue_telemetry._safe_invoke import safe_invoke
from queue_telemetry.catalog import Attr
from queue_telemetry.environment_variables import (
    OTEL_PYTHON_QUEUE_HEALTH_CACHE_SECONDS,
    OTEL_PYTHON_QUEUE_HEALTH_CHECK_TIMEOUT,
)
from queue_telemetry.queue_client import QueueNotFoundError, error_type_of

__all__ = [
    "HealthState",
    "HealthCheckResult",
    "HealthSummary",
    "HealthStatus",
    "HealthCheck",
    "QueueHealthMonitor",
    "QueueConnectionHealthCheck",
    "MessageProcessingHealthCheck",
    "DeadLetterQueueHealthCheck",
    "ProcessingWindow",
]

_DEFAULT_CACHE_SECONDS = 10.0
_DEFAULT_CHECK_TIMEOUT = 5.0


def _parse_seconds(variable: str, raw: str, default: float) -> float:
    try:
        value = float(raw)
        if value >= 0:
            return value
    except ValueError:
        pass
    import logging

    logging.getLogger(__name__).warning("Invalid value %r for %s; using %s.", raw, variable, default)
    return default


class HealthState(enum.IntEnum):
    """Health states, ordered from best to worst; the value is the gauge value."""

    HEALTHY = 0
    DEGRADED = 1
    UNHEALTHY = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class HealthCheckResult:
    status: HealthState
    duration: float = 0.0
    message: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.label, "duration": self.duration, "message": self.message,
                "details": dict(self.details)}


@dataclass(frozen=True)
class HealthSummary:
    total_checks: int
    healthy_checks: int
    degraded_checks: int
    unhealthy_checks: int
    total_duration: float


@dataclass(frozen=True)
class HealthStatus:
    status: HealthState
    timestamp: datetime
    checks: dict[str, HealthCheckResult]
    summary: HealthSummary

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.label,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "checks": {name: result.to_dict() for name, result in self.checks.items()},
            "summary": self.summary.__dict__.copy(),
        }


@runtime_checkable
class HealthCheck(Protocol):
    """A named asynchronous check. ``check`` may raise; the monitor turns that into UNHEALTHY.

    Optional attributes ``system`` and ``queue`` name the queue the check concerns (recorded on
    the health gauge).
    """

    name: str

    async def check(self) -> HealthCheckResult: ...


class QueueHealthMonitor:
    """Runs health checks concurrently, each with its own timeout, and caches the result.

    Args:
        checks: initial checks (more with :meth:`add_check`).
        cache_seconds: how long a result is reused (None: ``OTEL_PYTHON_QUEUE_HEALTH_CACHE_SECONDS``,
            default 10).
        check_timeout: per-check timeout in seconds (None: ``OTEL_PYTHON_QUEUE_HEALTH_CHECK_TIMEOUT``,
            default 5).
        meter_provider: where the ``queue.health.status`` gauge goes (default global).
        clock: monotonic seconds, for the cache (tests inject one).
    """

    def __init__(
        self, checks: Iterable[HealthCheck] = (), *, cache_seconds: float | None = None,
        check_timeout: float | None = None, meter_provider: MeterProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks: list[tuple[HealthCheck, float | None]] = [(check, None) for check in checks]
        self.cache_seconds = resolve(cache_seconds, OTEL_PYTHON_QUEUE_HEALTH_CACHE_SECONDS, _DEFAULT_CACHE_SECONDS, _parse_seconds)
        self.check_timeout = resolve(check_timeout, OTEL_PYTHON_QUEUE_HEALTH_CHECK_TIMEOUT, _DEFAULT_CHECK_TIMEOUT, _parse_seconds)
        self._clock = clock
        self._cached: tuple[HealthStatus, float] | None = None
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self._instruments = safe_invoke("QueueHealthMonitor.instruments", None, instruments_for, provider)

    def add_check(self, check: HealthCheck, timeout: float | None = None) -> None:
        """Add ``check``; ``timeout`` overrides the monitor's per-check timeout for it."""
        self._checks.append((check, timeout))
        self._cached = None

    async def check_health(self) -> HealthStatus:
        """The current health (cached for ``cache_seconds``)."""
        now = self._clock()
        if self._cached is not None and now - self._cached[1] < self.cache_seconds:
            return self._cached[0]
        started = time.perf_counter()
        results = await asyncio.gather(*(self._run(check, timeout) for check, timeout in self._checks))
        checks = {check.name: result for (check, _timeout), result in zip(self._checks, results)}
        counts = collections.Counter(result.status for result in checks.values())
        status = HealthStatus(
            status=max((r.status for r in checks.values()), default=HealthState.HEALTHY),
            timestamp=datetime.now(timezone.utc),
            checks=checks,
            summary=HealthSummary(
                total_checks=len(checks), healthy_checks=counts[HealthState.HEALTHY],
                degraded_checks=counts[HealthState.DEGRADED], unhealthy_checks=counts[HealthState.UNHEALTHY],
                total_duration=time.perf_counter() - started,
            ),
        )
        self._cached = (status, self._clock())
        safe_invoke("QueueHealthMonitor.publish", None, self._publish, status)
        return status

    def check_health_sync(self) -> HealthStatus:
        """:meth:`check_health` from synchronous code (runs its own event loop)."""
        return asyncio.run(self.check_health())

    async def _run(self, check: HealthCheck, timeout: float | None) -> HealthCheckResult:
        limit = self.check_timeout if timeout is None else timeout
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(check.check(), limit)
        except asyncio.TimeoutError:
            return HealthCheckResult(HealthState.UNHEALTHY, time.perf_counter() - started,
                                     f"health check timed out after {limit:g} s", {"timeout": f"{limit:g}"})
        except Exception as error:  # noqa: BLE001 - a failing check is an unhealthy one
            return HealthCheckResult(HealthState.UNHEALTHY, time.perf_counter() - started,
                                     f"health check failed: {error}", {"error": error_type_of(error)})

    def _publish(self, status: HealthStatus) -> None:
        if self._instruments is None:
            return
        observations = []
        for (check, _timeout) in self._checks:
            result = status.checks.get(check.name)
            if result is None:
                continue
            attributes: dict[str, Any] = {Attr.HEALTH_CHECK: check.name}
            system, queue = getattr(check, "system", None), getattr(check, "queue", None)
            if system:
                attributes[Attr.MESSAGING_SYSTEM] = system
            if queue:
                attributes[Attr.DESTINATION_NAME] = queue
            observations.append((int(result.status), attributes))
        self._instruments.health_sources.publish(self, observations)


class QueueConnectionHealthCheck:
    """The broker answers ``client.depth(queue)``: healthy; queue missing: degraded; else unhealthy."""

    def __init__(self, client: Any, queue: str, *, system: str | None = None, name: str = "queue_connection") -> None:
        self.client, self.queue, self.system, self.name = client, queue, system, name

    async def check(self) -> HealthCheckResult:
        started = time.perf_counter()
        try:
            depth = await asyncio.to_thread(self.client.depth, self.queue)
        except QueueNotFoundError:
            return HealthCheckResult(HealthState.DEGRADED, time.perf_counter() - started,
                                     f"queue {self.queue} not found, but the broker answers")
        except Exception as error:  # noqa: BLE001
            return HealthCheckResult(HealthState.UNHEALTHY, time.perf_counter() - started,
                                     f"queue connection failed: {error}", {"error": error_type_of(error)})
        return HealthCheckResult(HealthState.HEALTHY, time.perf_counter() - started,
                                 "queue connection is healthy", {"depth": str(depth)})


class ProcessingWindow(SpanProcessor):
    """A sliding window of ``process`` span outcomes; add it to the tracer provider.

    ``on_end`` is synchronous, cheap and never raises. ``window_seconds`` bounds both time and
    memory (at most ``max_samples`` outcomes are kept).
    """

    def __init__(self, window_seconds: float = 300.0, *, clock: Callable[[], float] = time.monotonic,
                 max_samples: int = 100_000) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: collections.deque[tuple[float, float, bool]] = collections.deque(maxlen=max_samples)

    def record(self, duration: float, failed: bool) -> None:
        with self._lock:
            self._samples.append((self._clock(), duration, failed))

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attributes = span.attributes or {}
            if attributes.get(Attr.OPERATION_TYPE) != "process":
                return
            duration = max(0, (span.end_time or 0) - (span.start_time or 0)) / 1e9
            self.record(duration, span.status.status_code is StatusCode.ERROR)
        except Exception:  # noqa: BLE001 - on_end must not raise
            pass

    def snapshot(self) -> tuple[int, int, float]:
        """(processed, failed, average duration) within the window."""
        horizon = self._clock() - self.window_seconds
        with self._lock:
            while self._samples and self._samples[0][0] < horizon:
                self._samples.popleft()
            samples = list(self._samples)
        processed = len(samples)
        failed = sum(1 for _t, _d, bad in samples if bad)
        average = sum(d for _t, d, _bad in samples) / processed if processed else 0.0
        return processed, failed, average


class MessageProcessingHealthCheck:
    """Error rate above ``error_rate_threshold``: unhealthy; average above ``slow_seconds``: degraded."""

    def __init__(self, window: ProcessingWindow, *, error_rate_threshold: float = 0.1,
                 slow_seconds: float = 30.0, name: str = "message_processing") -> None:
        self.window, self.error_rate_threshold, self.slow_seconds, self.name = (
            window, error_rate_threshold, slow_seconds, name)

    async def check(self) -> HealthCheckResult:
        started = time.perf_counter()
        processed, failed, average = self.window.snapshot()
        rate = failed / processed if processed else 0.0
        details = {"window_seconds": f"{self.window.window_seconds:g}", "total_processed": str(processed),
                   "total_errors": str(failed), "error_rate": f"{rate * 100:.2f}%",
                   "avg_processing_time": f"{average:.3f}s"}
        if rate > self.error_rate_threshold:
            status, message = HealthState.UNHEALTHY, f"high error rate: {rate * 100:.2f}%"
        elif average > self.slow_seconds:
            status, message = HealthState.DEGRADED, f"slow processing: avg {average:.2f}s"
        else:
            status, message = HealthState.HEALTHY, "message processing is healthy"
        return HealthCheckResult(status, time.perf_counter() - started, message, details)


class DeadLetterQueueHealthCheck:
    """Dead-letter depth per queue: above ``unhealthy_threshold`` unhealthy, above ``degraded_threshold`` degraded."""

    def __init__(self, client: Any, queues: Iterable[str], *, degraded_threshold: int = 0,
                 unhealthy_threshold: int = 100, name: str = "dead_letter_queues") -> None:
        self.client, self.queues, self.name = client, list(queues), name
        self.degraded_threshold, self.unhealthy_threshold = degraded_threshold, unhealthy_threshold

    async def check(self) -> HealthCheckResult:
        started = time.perf_counter()
        details: dict[str, str] = {"monitored_queues": str(len(self.queues))}
        total, unhealthy, degraded = 0, [], []
        for queue in self.queues:
            try:
                depth = int(await asyncio.to_thread(self.client.dead_letter_depth, queue))
            except Exception as error:  # noqa: BLE001
                details[f"{queue}_dlq_error"] = error_type_of(error)
                unhealthy.append(queue)
                continue
            total += depth
            details[f"{queue}_dlq_count"] = str(depth)
            if depth > self.unhealthy_threshold:
                unhealthy.append(queue)
            elif depth > self.degraded_threshold:
                degraded.append(queue)
        details["total_dlq_messages"] = str(total)
        if unhealthy:
            status, message = HealthState.UNHEALTHY, "high DLQ volume in queues: " + ", ".join(unhealthy)
        elif degraded:
            status, message = HealthState.DEGRADED, f"{total} messages in dead letter queues"
        else:
            status, message = HealthState.HEALTHY, "no dead letter messages"
        return HealthCheckResult(status, time.perf_counter() - started, message, details)

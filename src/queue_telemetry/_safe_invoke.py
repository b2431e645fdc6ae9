"""Running telemetry code so that it can never break the application's queue call.

Every hook that records spans, metrics or logs runs through :func:`safe_invoke` (or a function
decorated with :func:`telemetry_hook`): an exception is caught, counted in
:data:`INSTRUMENTATION_FAILURES`, logged (the first failure of each hook at WARNING, later ones
at DEBUG so a broken exporter cannot flood the log) and swallowed; the hook's fallback value is
returned instead.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, TypeVar

_logger = logging.getLogger("queue_telemetry.instrumentation")

T = TypeVar("T")


class FailureCounter:
    """A thread-safe count of swallowed telemetry failures, by hook name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_hook: dict[str, int] = {}

    def record(self, hook: str) -> bool:
        """Count one failure of ``hook``; True when it is the hook's first."""
        with self._lock:
            count = self._by_hook.get(hook, 0) + 1
            self._by_hook[hook] = count
            return count == 1

    def total(self) -> int:
        with self._lock:
            return sum(self._by_hook.values())

    def by_hook(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_hook)


#: Process-wide count of telemetry failures swallowed by instrumented clients.
INSTRUMENTATION_FAILURES = FailureCounter()


def report_failure(hook: str) -> None:
    """Count and log the exception being handled, raised by telemetry hook ``hook``."""
    first = INSTRUMENTATION_FAILURES.record(hook)
    try:
        _logger.log(
            logging.WARNING if first else logging.DEBUG,
            "Telemetry hook %s failed; the queue operation is unaffected.", hook, exc_info=True,
        )
    except Exception:  # noqa: BLE001 - a broken log handler must not escape either
        pass


def safe_invoke(hook: str, fallback: T, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, or ``fallback`` if it raises (counted, logged, never re-raised)."""
    try:
        return function(*args, **kwargs)
    except Exception:  # noqa: BLE001 - that is the point
        report_failure(hook)
        return fallback


def telemetry_hook(fallback: Any = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a telemetry method so that any exception becomes ``fallback`` (see module doc)."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        hook = function.__qualname__

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> T:
            try:
                return function(*args, **kwargs)
            except Exception:  # noqa: BLE001 - that is the point
                report_failure(hook)
                return fallback

        return guarded

    return decorate

"""The messaging conventions' exception events, as OpenTelemetry log records.

When a messaging operation fails, the conventions ask for an event named
``messaging.{operation type}.exception`` (``create``, ``send``, ``receive``, ``settle`` or
``process``) carrying ``exception.type``, ``exception.message`` and ``exception.stacktrace``,
with severity WARN, or ERROR for ``process``. It is emitted in the context of the operation's
span, so it carries that span's trace and span ids.

Threading: :func:`emit_exception_event` may be called from any thread. It never raises.
"""

from __future__ import annotations

import traceback

from opentelemetry import trace
from opentelemetry._logs import Logger, LoggerProvider, SeverityNumber, get_logger

from queue_telemetry._queue_instruments import SCOPE_NAME, SCOPE_VERSION
from queue_telemetry._safe_invoke import report_failure

__all__ = ["exception_event_logger", "emit_exception_event", "EXCEPTION_EVENT_OPERATIONS"]

#: The operation types that have an exception event.
EXCEPTION_EVENT_OPERATIONS = frozenset({"create", "send", "receive", "settle", "process"})


def exception_event_logger(logger_provider: LoggerProvider | None = None) -> Logger:
    """The logger exception events are emitted with (the global provider's by default)."""
    return get_logger(SCOPE_NAME, SCOPE_VERSION, logger_provider)


def emit_exception_event(
    logger: Logger, operation_type: str | None, error: BaseException, span: trace.Span | None
) -> None:
    """Emits ``messaging.{operation_type}.exception`` for ``error``, inside ``span``'s context."""
    if operation_type not in EXCEPTION_EVENT_OPERATIONS:
        return
    try:
        error_class = type(error)
        module = error_class.__module__
        qualified = error_class.__qualname__ if module == "builtins" else f"{module}.{error_class.__qualname__}"
        is_process = operation_type == "process"
        logger.emit(
            event_name=f"messaging.{operation_type}.exception",
            severity_number=SeverityNumber.ERROR if is_process else SeverityNumber.WARN,
            severity_text="ERROR" if is_process else "WARN",
            context=trace.set_span_in_context(span) if span is not None else None,
            attributes={
                "exception.type": qualified,
                "exception.message": str(error),
                "exception.stacktrace": "".join(
                    traceback.format_exception(error_class, error, error.__traceback__)
                ),
            },
        )
    except Exception:  # noqa: BLE001 - telemetry never breaks the queue call
        report_failure("emit_exception_event")

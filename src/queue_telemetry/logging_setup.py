"""Structured logging: stdlib :mod:`logging` to OTLP logs, JSON console and rotated JSON files.

:func:`configure_logging` attaches, to the root logger (or the logger given):

* the OpenTelemetry logging handler (records become OTLP log records carrying the current trace
  and span ids), when a logger provider is given or configured globally;
* optionally a console handler writing JSON lines (``OTEL_PYTHON_QUEUE_LOG_JSON``);
* optionally a JSON-lines file rotated by size or time (``OTEL_PYTHON_QUEUE_LOG_FILE`` and
  friends).

Every handler it installs carries a :class:`RedactionFilter` (sensitive field names from
``OTEL_PYTHON_QUEUE_SENSITIVE_FIELDS``) and a :class:`TraceContextFilter`: values of fields
whose names match a pattern are replaced by ``[REDACTED]`` before any of them formats or
exports the record -- in ``extra`` fields, in mapping arguments, and in ``name=value`` pairs of
the message text. Nothing is merely warned about.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from opentelemetry import trace

from queue_telemetry._environment import parse_bool, resolve
from queue_telemetry.environment_variables import (
    OTEL_PYTHON_QUEUE_LOG_FILE,
    OTEL_PYTHON_QUEUE_LOG_FILE_BACKUPS,
    OTEL_PYTHON_QUEUE_LOG_FILE_MAX_BYTES,
    OTEL_PYTHON_QUEUE_LOG_FILE_ROTATE_WHEN,
    OTEL_PYTHON_QUEUE_LOG_JSON,
    OTEL_PYTHON_QUEUE_SENSITIVE_FIELDS,
)

__all__ = ["configure_logging", "LoggingSetup", "RedactionFilter", "TraceContextFilter", "JsonFormatter", "REDACTED"]

REDACTED = "[REDACTED]"
_DEFAULT_SENSITIVE = ("password", "secret", "token", "api_key", "apikey", "authorization",
                      "credential", "connection_string", "sas_key")
_DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_DEFAULT_BACKUPS = 5
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "trace_id", "span_id"}


def _parse_int(variable: str, raw: str, default: int) -> int:
    try:
        return int(raw)
    except ValueError:
        logging.getLogger(__name__).warning("Invalid value %r for %s; using %s.", raw, variable, default)
        return default


def _parse_text(_variable: str, raw: str, _default: Any) -> str:
    return raw.strip()


class RedactionFilter(logging.Filter):
    """Replaces the values of sensitive fields in a record (never drops the record)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        super().__init__()
        self.patterns = tuple(p.strip().lower() for p in patterns if p.strip())
        names = "|".join(re.escape(p) for p in self.patterns) or r"(?!x)x"
        self._inline = re.compile(rf"(?i)\b([\w.-]*(?:{names})[\w.-]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)")

    def sensitive(self, name: str) -> bool:
        lowered = name.lower()
        return any(pattern in lowered for pattern in self.patterns)

    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(vars(record)):
            if key not in _STANDARD and self.sensitive(key):
                setattr(record, key, REDACTED)
        if isinstance(record.args, dict):
            record.args = {k: (REDACTED if isinstance(k, str) and self.sensitive(k) else v) for k, v in record.args.items()}
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is the application's own problem
            return True
        redacted = self._inline.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` (hex, or empty) of the current span to the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if not hasattr(record, "trace_id"):
            record.trace_id = format(context.trace_id, "032x") if context.is_valid else ""
            record.span_id = format(context.span_id, "016x") if context.is_valid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, trace/span ids, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def otlp_handler(logger_provider: Any) -> logging.Handler:
    """The OpenTelemetry logging handler (records to OTLP logs, with the current trace ids)."""
    try:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
    except ImportError:  # older opentelemetry-instrumentation-logging
        from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[assignment]
    return LoggingHandler(logger_provider=logger_provider)


@dataclass
class LoggingSetup:
    """What :func:`configure_logging` installed; :meth:`remove` takes it out again."""

    logger: logging.Logger
    handlers: list[logging.Handler] = field(default_factory=list)

    def remove(self) -> None:
        for handler in self.handlers:
            self.logger.removeHandler(handler)
            handler.close()
        self.handlers.clear()


def configure_logging(
    *, logger: logging.Logger | None = None, level: int | str | None = None,
    logger_provider: Any = None, json_console: bool | None = None, console_stream: Any = None,
    file_path: str | None = None, max_bytes: int | None = None, rotate_when: str | None = None,
    backups: int | None = None, sensitive_fields: Iterable[str] | None = None,
) -> LoggingSetup:
    """Install the handlers described in the module docstring; returns what was installed.

    Explicit arguments beat the ``OTEL_PYTHON_QUEUE_*`` variables, which beat the defaults.
    ``logger_provider`` None uses the global one when the SDK configured it (none otherwise).
    ``json_console`` false installs no console handler (the application keeps its own).
    """
    target = logger if logger is not None else logging.getLogger()
    if level is not None:
        target.setLevel(level)
    patterns = list(sensitive_fields) if sensitive_fields is not None else [
        p for p in os.environ.get(OTEL_PYTHON_QUEUE_SENSITIVE_FIELDS, ",".join(_DEFAULT_SENSITIVE)).split(",")
    ]
    redaction, trace_ids = RedactionFilter(patterns), TraceContextFilter()
    setup = LoggingSetup(target)

    def install(handler: logging.Handler) -> None:
        handler.addFilter(redaction)
        handler.addFilter(trace_ids)
        target.addHandler(handler)
        setup.handlers.append(handler)

    provider = logger_provider
    if provider is None:
        from opentelemetry._logs import get_logger_provider

        candidate = get_logger_provider()
        provider = candidate if hasattr(candidate, "add_log_record_processor") else None
    if provider is not None:
        install(otlp_handler(provider))
    if resolve(json_console, OTEL_PYTHON_QUEUE_LOG_JSON, False, parse_bool):
        console = logging.StreamHandler(console_stream)
        console.setFormatter(JsonFormatter())
        install(console)
    path = resolve(file_path, OTEL_PYTHON_QUEUE_LOG_FILE, "", _parse_text)
    if path:
        when = resolve(rotate_when, OTEL_PYTHON_QUEUE_LOG_FILE_ROTATE_WHEN, "", _parse_text)
        keep = resolve(backups, OTEL_PYTHON_QUEUE_LOG_FILE_BACKUPS, _DEFAULT_BACKUPS, _parse_int)
        if when:
            file_handler: logging.Handler = logging.handlers.TimedRotatingFileHandler(
                path, when=when, backupCount=keep, encoding="utf-8", utc=True)
        else:
            size = resolve(max_bytes, OTEL_PYTHON_QUEUE_LOG_FILE_MAX_BYTES, _DEFAULT_MAX_BYTES, _parse_int)
            file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=size, backupCount=keep, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        install(file_handler)
    return setup

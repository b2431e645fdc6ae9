"""Strict readings of the standard ``OTEL_*`` variables, for when the SDK cannot use them.

The SDK and its exporters read the standard variables themselves, and some raise on a value
they cannot use (``OTEL_BSP_MAX_QUEUE_SIZE=0``, ``OTEL_EXPORTER_OTLP_TIMEOUT=abc``, an endpoint
``urlparse`` rejects ...). :func:`queue_telemetry.configure` then builds that signal again with
the settings of a :class:`StandardVariables` reading, all passed explicitly so the SDK reads
none of those variables: a valid variable keeps its value; an invalid one is logged with the
value used instead, listed in :attr:`StandardVariables.invalid`, and ignored. Blank values
count as unset, as for the library's own variables. Nothing here raises on a bad value.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from urllib.parse import urlparse

from opentelemetry.sdk._logs import LogRecordLimits
from opentelemetry.sdk.environment_variables import (
    OTEL_ATTRIBUTE_COUNT_LIMIT,
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_BLRP_EXPORT_TIMEOUT,
    OTEL_BLRP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BLRP_MAX_QUEUE_SIZE,
    OTEL_BLRP_SCHEDULE_DELAY,
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_LINK_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_METRIC_EXPORT_INTERVAL,
    OTEL_METRIC_EXPORT_TIMEOUT,
    OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT,
    OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_SPAN_EVENT_COUNT_LIMIT,
    OTEL_SPAN_LINK_COUNT_LIMIT,
)
from opentelemetry.sdk.trace import SpanLimits

_logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The OTLP/gRPC exporters' endpoint when no variable gives a usable one.
_DEFAULT_OTLP_ENDPOINT = "http://localhost:4317"
#: The OTLP exporters' timeout in seconds when no variable gives a usable one.
_DEFAULT_OTLP_TIMEOUT_SECONDS = 10.0
#: The SDK's defaults for count limits (attributes, events, links).
_DEFAULT_COUNT_LIMIT = 128
#: The SDK's defaults for the metric reader, in milliseconds.
_DEFAULT_METRIC_EXPORT_INTERVAL_MILLIS = 60_000.0
_DEFAULT_METRIC_EXPORT_TIMEOUT_MILLIS = 30_000.0

#: Per signal: the (specific, general) variable pairs of the OTLP exporter settings.
_EXPORTER_VARIABLES = {
    "traces": (
        (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT),
        (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT),
        (OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION),
    ),
    "metrics": (
        (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT),
        (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT),
        (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION),
    ),
    "logs": (
        (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT),
        (OTEL_EXPORTER_OTLP_LOGS_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT),
        (OTEL_EXPORTER_OTLP_LOGS_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION),
    ),
}


@dataclass(frozen=True)
class BatchVariables:
    """The variables of one batch processor (``OTEL_BSP_*`` or ``OTEL_BLRP_*``) and its defaults."""

    max_queue_size: str
    schedule_delay: str
    max_export_batch_size: str
    export_timeout: str
    default_schedule_delay_millis: int


#: The batch span processor's variables; the SDK's defaults.
SPAN_BATCH = BatchVariables(
    OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_EXPORT_TIMEOUT, default_schedule_delay_millis=5000,
)
#: The batch log record processor's variables; the SDK's defaults.
LOG_BATCH = BatchVariables(
    OTEL_BLRP_MAX_QUEUE_SIZE, OTEL_BLRP_SCHEDULE_DELAY, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BLRP_EXPORT_TIMEOUT, default_schedule_delay_millis=1000,
)
#: The SDK's default queue size and batch size of both batch processors.
_DEFAULT_BATCH_QUEUE_SIZE = 2048
_DEFAULT_BATCH_SIZE = 512
_DEFAULT_BATCH_EXPORT_TIMEOUT_MILLIS = 30_000


class StandardVariables:
    """One reading of the standard variables; :attr:`invalid` lists those it ignored.

    Each method returns settings to pass to an SDK constructor explicitly. Not thread-safe: use
    one instance per :func:`queue_telemetry.configure` attempt.
    """

    def __init__(self) -> None:
        #: Variables whose value could not be used, in the order they were read.
        self.invalid: list[str] = []

    # --- exporters -----------------------------------------------------------------------

    def exporter_arguments(self, signal: str) -> dict[str, Any]:
        """``endpoint``, ``timeout`` and ``compression`` for the OTLP/gRPC exporter of ``signal``
        (``traces``, ``metrics`` or ``logs``): the signal's variable, else the general one,
        else the default."""
        endpoints, timeouts, compressions = _EXPORTER_VARIABLES[signal]
        return {
            "endpoint": self._first(endpoints, _endpoint, _DEFAULT_OTLP_ENDPOINT, "an absolute URL"),
            "timeout": self._first(timeouts, _positive_number, _DEFAULT_OTLP_TIMEOUT_SECONDS, "a positive number"),
            "compression": self._first(compressions, _compression, _no_compression(), "gzip or none"),
        }

    # --- batch processors and the metric reader -------------------------------------------

    def batch_arguments(
        self, variables: BatchVariables, *, max_queue_size: int | None = None,
        default_max_queue_size: int = _DEFAULT_BATCH_QUEUE_SIZE,
    ) -> dict[str, Any]:
        """Arguments for a batch span or log record processor. ``max_queue_size`` beats the
        variable; the batch size never exceeds the queue size."""
        queue_size = max_queue_size or self._read(
            variables.max_queue_size, _positive_int, default_max_queue_size, "a positive integer"
        )
        batch_size = self._read(variables.max_export_batch_size, _positive_int, None, "a positive integer")
        if batch_size is not None and batch_size > queue_size:
            self._reject(
                variables.max_export_batch_size, os.environ[variables.max_export_batch_size],
                f"at most the queue size {queue_size}", min(_DEFAULT_BATCH_SIZE, queue_size),
            )
            batch_size = None
        return {
            "max_queue_size": queue_size,
            "schedule_delay_millis": self._read(
                variables.schedule_delay, _positive_int, variables.default_schedule_delay_millis,
                "a positive integer",
            ),
            "max_export_batch_size": batch_size if batch_size is not None else min(_DEFAULT_BATCH_SIZE, queue_size),
            "export_timeout_millis": self._read(
                variables.export_timeout, _positive_int, _DEFAULT_BATCH_EXPORT_TIMEOUT_MILLIS,
                "a positive integer",
            ),
        }

    def metric_reader_arguments(self, *, export_interval_millis: float | None = None) -> dict[str, Any]:
        """Arguments for the periodic metric reader; ``export_interval_millis`` beats the variable."""
        return {
            "export_interval_millis": export_interval_millis or self._read(
                OTEL_METRIC_EXPORT_INTERVAL, _positive_number, _DEFAULT_METRIC_EXPORT_INTERVAL_MILLIS,
                "a positive number of milliseconds",
            ),
            "export_timeout_millis": self._read(
                OTEL_METRIC_EXPORT_TIMEOUT, _positive_number, _DEFAULT_METRIC_EXPORT_TIMEOUT_MILLIS,
                "a positive number of milliseconds",
            ),
        }

    # --- limits ----------------------------------------------------------------------------

    def span_limits(self) -> SpanLimits:
        """Span limits as the SDK would set them with the invalid variables absent."""
        count = self._limit(OTEL_ATTRIBUTE_COUNT_LIMIT)
        length = self._limit(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)
        per_item = count if count is not None else _DEFAULT_COUNT_LIMIT
        span_length = self._limit(OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT)
        return SpanLimits(
            max_attributes=per_item,
            max_events=_either(self._limit(OTEL_SPAN_EVENT_COUNT_LIMIT), _DEFAULT_COUNT_LIMIT),
            max_links=_either(self._limit(OTEL_SPAN_LINK_COUNT_LIMIT), _DEFAULT_COUNT_LIMIT),
            max_span_attributes=_either(self._limit(OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT), per_item),
            max_event_attributes=_either(self._limit(OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT), per_item),
            max_link_attributes=_either(self._limit(OTEL_LINK_ATTRIBUTE_COUNT_LIMIT), per_item),
            # UNSET: no limit, which is the SDK's default for lengths.
            max_attribute_length=_either(length, SpanLimits.UNSET),
            max_span_attribute_length=_either(span_length, _either(length, SpanLimits.UNSET)),
        )

    def log_record_limits(self) -> LogRecordLimits:
        """Log record limits as the SDK would set them with the invalid variables absent."""
        count = self._limit(OTEL_ATTRIBUTE_COUNT_LIMIT)
        length = self._limit(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)
        per_item = count if count is not None else _DEFAULT_COUNT_LIMIT
        record_length = self._limit(OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT)
        return LogRecordLimits(
            max_attributes=per_item,
            max_attribute_length=_either(length, LogRecordLimits.UNSET),
            max_log_record_attributes=_either(self._limit(OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT), per_item),
            max_log_record_attribute_length=_either(record_length, _either(length, LogRecordLimits.UNSET)),
        )

    # --- reading ---------------------------------------------------------------------------

    def _limit(self, variable: str) -> int | None:
        return self._read(variable, _non_negative_int, None, "a non-negative integer")

    def _first(self, variables: tuple[str, ...], parse: Callable[[str], T], default: T, expected: str) -> T:
        for position, variable in enumerate(variables):
            later = variables[position + 1:]
            note = f"{later[0]} or the default" if later else default
            value = self._read(variable, parse, None, expected, fallback_note=note)
            if value is not None:
                return value
        return default

    def _read(
        self, variable: str, parse: Callable[[str], T], default: Any, expected: str,
        *, fallback_note: Any = None,
    ) -> Any:
        raw = os.environ.get(variable)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except Exception:  # noqa: BLE001 - any parse failure makes the value unusable
            self._reject(variable, raw, expected, default if fallback_note is None else fallback_note)
            return default

    def _reject(self, variable: str, raw: str, expected: str, used: Any) -> None:
        if variable not in self.invalid:
            self.invalid.append(variable)
        _logger.warning(
            "Invalid value %r for %s: expected %s; ignoring it (using %s).",
            raw, variable, expected, "the SDK's default" if used is None else used,
        )


def _either(value: T | None, fallback: T) -> T:
    return value if value is not None else fallback


def _endpoint(value: str) -> str:
    urlparse(value)  # raises on a malformed one, such as an unclosed IPv6 bracket
    return value


def _positive_number(value: str) -> float:
    number = float(value)
    if not number > 0 or math.isnan(number):
        raise ValueError(value)
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _compression(value: str) -> Any:
    from grpc import Compression

    names = {"gzip": Compression.Gzip, "none": Compression.NoCompression}
    return names[value.lower()]


def _no_compression() -> Any:
    from grpc import Compression

    return Compression.NoCompression

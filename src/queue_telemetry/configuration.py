"""Setting up traces, metrics and logs for a producer process, from the standard variables.

:func:`configure` creates a TracerProvider, a MeterProvider and a LoggerProvider exporting
OTLP over gRPC, installs them as the global providers and attaches a logging handler, so that
:class:`~queue_telemetry.InstrumentedQueueClient` (and any other OpenTelemetry
instrumentation) reports without further arguments. :func:`shutdown` flushes and stops them
and reports what could not be delivered.

The SDK and its exporters read the standard variables themselves: ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and ``..._TRACES_``,
``..._METRICS_``, ``..._LOGS_`` variants), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_EXPORTER_OTLP_INSECURE``, ``OTEL_EXPORTER_OTLP_TIMEOUT``,
``OTEL_EXPORTER_OTLP_COMPRESSION``, ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG``,
``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_BSP_*``, ``OTEL_BLRP_*``, ``OTEL_PROPAGATORS`` ...
This module adds:

* ``service.instance.id`` (a random UUID) on the resource unless one is given, so a receiver
  can tell producer processes of one service apart;
* histogram bucket boundaries from :mod:`queue_telemetry.catalog`, as SDK Views;
* a span queue of :data:`_DEFAULT_SPAN_QUEUE_SIZE` (the SDK's 2048 loses spans under bursts),
  unless ``span_queue_size`` or ``OTEL_BSP_MAX_QUEUE_SIZE`` says otherwise;
* delivery accounting (:func:`telemetry_stats`): spans and log records submitted, exported,
  failed and dropped, so nothing is lost silently. The SDK's own processor metrics
  (``otel.sdk.processor.span.processed`` with ``error.type=queue_full`` ...) are wired to the
  configured MeterProvider as well and are exported when ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``
  is ``true``;
* when ``OTEL_SDK_DISABLED`` is ``true``, nothing is set up and a disabled handle is returned;
* a standard variable the SDK rejects (``OTEL_METRIC_EXPORT_INTERVAL=0``,
  ``OTEL_EXPORTER_OTLP_ENDPOINT=http://[::1`` ...) does not stop the application: the signal it
  belongs to is set up again with the invalid variables ignored (see
  :mod:`queue_telemetry._standard_variables`), or disabled if that fails too, with a warning
  naming the variables either way.

Threading: :func:`configure`, :func:`shutdown` and :func:`telemetry_stats` may be called from
any thread; they serialise on one lock. :func:`shutdown` blocks while the pipelines flush (at
most the exporters' timeouts). None of them raises for exporter problems: failures are
counted, logged and reported.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from queue_telemetry import catalog
from queue_telemetry._delivery_accounting import (
    CountingLogExporter,
    CountingLogProcessor,
    CountingMetricExporter,
    CountingSpanExporter,
    CountingSpanProcessor,
    DeliveryCounter,
)
from queue_telemetry._environment import parse_bool, parse_log_level, read_bool, resolve
from queue_telemetry._safe_invoke import INSTRUMENTATION_FAILURES
from queue_telemetry._standard_variables import LOG_BATCH, SPAN_BATCH, StandardVariables
from queue_telemetry.environment_variables import (
    OTEL_PYTHON_QUEUE_LOG_LEVEL,
    OTEL_PYTHON_QUEUE_LOG_ROOT,
    OTEL_PYTHON_QUEUE_LOGS_ENABLED,
)

__all__ = [
    "configure",
    "shutdown",
    "telemetry_stats",
    "Telemetry",
    "TelemetryStats",
    "SignalDelivery",
]

_logger = logging.getLogger(__name__)

#: Span queue size when neither the argument nor OTEL_BSP_MAX_QUEUE_SIZE gives one. Sized so a
#: burst of 50,000 spans fits while the exporter catches up (the SDK's default is 2048).
_DEFAULT_SPAN_QUEUE_SIZE = 65_536
#: The SDK's span batch size, lowered to the queue size when ``span_queue_size`` is smaller.
_DEFAULT_SPAN_BATCH_SIZE = 512
#: Level of the ``queue_telemetry`` logger (see OTEL_PYTHON_QUEUE_LOG_LEVEL).
_DEFAULT_LOG_LEVEL = logging.INFO
#: Attach the logging handler to the root logger (see OTEL_PYTHON_QUEUE_LOG_ROOT).
_DEFAULT_LOG_ROOT = False
#: Set up the logs signal at all (see OTEL_PYTHON_QUEUE_LOGS_ENABLED).
_DEFAULT_LOGS_ENABLED = True

#: The logger whose records are exported by default: the library's own.
_LIBRARY_LOGGER = "queue_telemetry"


@dataclass(frozen=True)
class SignalDelivery:
    """What one signal's pipeline was given and what it delivered."""

    #: Items handed to the batch processor.
    submitted: int = 0
    #: Items the exporter delivered.
    exported: int = 0
    #: Items in batches the exporter reported as failed (after its retries).
    failed: int = 0

    @property
    def not_exported(self) -> int:
        """Items neither delivered nor failed: still queued, or dropped before export.

        After :func:`shutdown` nothing is queued, so this is the number dropped (queue full,
        or still queued when the shutdown timeout ran out).
        """
        return max(self.submitted - self.exported - self.failed, 0)

    @property
    def undelivered(self) -> int:
        """Items not delivered (failed plus not exported)."""
        return max(self.submitted - self.exported, 0)


@dataclass(frozen=True)
class TelemetryStats:
    """Delivery accounting of the configured pipelines. All zero when disabled."""

    #: Sampled spans (unsampled ones are never exported, by design, and not counted).
    spans: SignalDelivery = SignalDelivery()
    #: Log records.
    logs: SignalDelivery = SignalDelivery()
    #: Metric exports: ``submitted`` collections, ``exported`` delivered, ``failed`` not.
    metric_exports: SignalDelivery = SignalDelivery()
    #: Telemetry failures swallowed by instrumented clients (see the safe-invoke wrapper).
    instrumentation_failures: int = 0
    #: Capacity of the span queue, when known.
    span_queue_size: int | None = None
    #: True once the pipelines were shut down (the counts are then final).
    shut_down: bool = False

    @property
    def complete(self) -> bool:
        """True when everything submitted was delivered."""
        return (
            self.spans.undelivered == 0
            and self.logs.undelivered == 0
            and self.metric_exports.undelivered == 0
        )


class Telemetry:
    """The handle :func:`configure` returns: the providers it installed, stats and shutdown.

    ``enabled`` is False when nothing was set up (``OTEL_SDK_DISABLED`` was ``true``, or no
    signal could be set up); the providers are then None. A single provider is None when its
    signal is disabled (``logger_provider`` when logs are) or could not be set up.
    """

    def __init__(
        self,
        *,
        resource: Resource | None,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        logger_provider: LoggerProvider | None,
        span_queue_size: int | None = None,
        logging_handler: logging.Handler | None = None,
        handler_logger: logging.Logger | None = None,
        span_counter: DeliveryCounter | None = None,
        log_counter: DeliveryCounter | None = None,
        metric_counter: DeliveryCounter | None = None,
    ) -> None:
        self.resource = resource
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self._span_queue_size = span_queue_size
        self._handler = logging_handler
        self._handler_logger = handler_logger
        self._span_counter = span_counter or DeliveryCounter()
        self._log_counter = log_counter or DeliveryCounter()
        self._metric_counter = metric_counter or DeliveryCounter()
        self._lock = threading.Lock()
        self._final: TelemetryStats | None = None

    @property
    def enabled(self) -> bool:
        return any(
            provider is not None
            for provider in (self.tracer_provider, self.meter_provider, self.logger_provider)
        )

    def stats(self) -> TelemetryStats:
        """The counts so far (final after :meth:`shutdown`). Never blocks on export."""
        if self._final is not None:
            return self._final
        return self._snapshot(shut_down=False)

    def shutdown(self) -> TelemetryStats:
        """Flush and shut down traces, then logs, then metrics (whose final export carries
        everything recorded until then); returns the final stats. Idempotent.

        Logs a warning with the numbers when anything was not delivered.
        """
        with self._lock:
            if self._final is not None:
                return self._final
            self._detach_logging_handler()
            if self.tracer_provider is not None:
                _quietly("flush spans", self.tracer_provider.force_flush)
                _quietly("shut down the tracer provider", self.tracer_provider.shutdown)
            if self.logger_provider is not None:
                _quietly("flush logs", self.logger_provider.force_flush)
                _quietly("shut down the logger provider", self.logger_provider.shutdown)
            if self.meter_provider is not None:
                _quietly("shut down the meter provider", self.meter_provider.shutdown)
            self._final = self._snapshot(shut_down=True)
        _report_losses(self._final)
        return self._final

    def _snapshot(self, *, shut_down: bool) -> TelemetryStats:
        return TelemetryStats(
            spans=SignalDelivery(*self._span_counter.snapshot()),
            logs=SignalDelivery(*self._log_counter.snapshot()),
            metric_exports=SignalDelivery(*self._metric_counter.snapshot()),
            instrumentation_failures=INSTRUMENTATION_FAILURES.total(),
            span_queue_size=self._span_queue_size,
            shut_down=shut_down,
        )

    def _detach_logging_handler(self) -> None:
        if self._handler is not None and self._handler_logger is not None:
            self._handler_logger.removeHandler(self._handler)
            self._handler = None


_configured: Telemetry | None = None
_configure_lock = threading.Lock()


def configure(
    service_name: str | None = None,
    *,
    default_service_name: str | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    span_queue_size: int | None = None,
    metric_export_interval_seconds: float | None = None,
    logs_enabled: bool | None = None,
    log_level: int | str | None = None,
    log_root: bool | None = None,
    span_exporter: SpanExporter | None = None,
    metric_exporter: MetricExporter | None = None,
    log_exporter: LogRecordExporter | None = None,
) -> Telemetry:
    """Set up and install the global tracer, meter and logger providers; returns the handle.

    Args:
        service_name: ``service.name``; beats ``OTEL_SERVICE_NAME`` and
            ``OTEL_RESOURCE_ATTRIBUTES``.
        default_service_name: ``service.name`` when neither the argument nor the environment
            names the service (otherwise the SDK's ``unknown_service:...``).
        resource_attributes: Extra resource attributes; they beat ``OTEL_RESOURCE_ATTRIBUTES``.
            ``service.instance.id`` is added (a UUID4) when neither gives one.
        span_queue_size: Capacity of the batch span processor's queue; default
            ``OTEL_BSP_MAX_QUEUE_SIZE``, else :data:`_DEFAULT_SPAN_QUEUE_SIZE`.
        metric_export_interval_seconds: Period of metric exports; default
            ``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds), else the SDK's 60 s.
        logs_enabled: Set up the logs signal; default ``OTEL_PYTHON_QUEUE_LOGS_ENABLED``, else
            true.
        log_level: Level of the ``queue_telemetry`` logger; default
            ``OTEL_PYTHON_QUEUE_LOG_LEVEL``, else ``INFO``.
        log_root: Attach the logging handler to the root logger instead of
            ``queue_telemetry``; default ``OTEL_PYTHON_QUEUE_LOG_ROOT``, else false.
        span_exporter, metric_exporter, log_exporter: Exporters to use instead of OTLP/gRPC
            (mainly for tests and for other transports).

    Meant to be called once per process, early. A second call returns the first call's handle
    unchanged (its arguments are ignored, with a debug log), also after :func:`shutdown`: the
    global providers cannot be replaced. :func:`shutdown` also runs at interpreter exit.
    Raises only for invalid arguments (``ValueError``). A standard variable the SDK cannot use
    (``OTEL_BSP_MAX_QUEUE_SIZE=0``, ``OTEL_EXPORTER_OTLP_TIMEOUT=abc`` ...) never raises: that
    signal is set up again with the invalid variables ignored, with a warning naming them; if
    it still cannot be set up, it is disabled (its provider is None), with a warning.
    """
    global _configured
    with _configure_lock:
        if _configured is not None:
            _logger.debug("configure() called again: telemetry is already configured; ignored.")
            return _configured
        if span_queue_size is not None and span_queue_size < 1:
            raise ValueError(f"span_queue_size must be positive, got {span_queue_size}")
        if metric_export_interval_seconds is not None and not metric_export_interval_seconds > 0:
            raise ValueError(
                f"metric_export_interval_seconds must be positive, got {metric_export_interval_seconds}"
            )
        if read_bool(OTEL_SDK_DISABLED, False):
            _logger.debug("OTEL_SDK_DISABLED is true: telemetry is not set up.")
            _configured = Telemetry(
                resource=None, tracer_provider=None, meter_provider=None, logger_provider=None
            )
            return _configured
        _configured = _build(
            service_name=service_name,
            default_service_name=default_service_name,
            resource_attributes=resource_attributes,
            span_queue_size=span_queue_size,
            metric_export_interval_seconds=metric_export_interval_seconds,
            logs_enabled=resolve(logs_enabled, OTEL_PYTHON_QUEUE_LOGS_ENABLED, _DEFAULT_LOGS_ENABLED, parse_bool),
            log_level=_level(log_level),
            log_root=resolve(log_root, OTEL_PYTHON_QUEUE_LOG_ROOT, _DEFAULT_LOG_ROOT, parse_bool),
            span_exporter=span_exporter,
            metric_exporter=metric_exporter,
            log_exporter=log_exporter,
        )
        atexit.register(_configured.shutdown)
        return _configured


def shutdown() -> TelemetryStats:
    """Shut down what :func:`configure` set up and return the final stats (see
    :meth:`Telemetry.shutdown`). Without a prior :func:`configure`, returns empty stats."""
    with _configure_lock:
        handle = _configured
    if handle is None:
        return TelemetryStats(instrumentation_failures=INSTRUMENTATION_FAILURES.total())
    return handle.shutdown()


def telemetry_stats() -> TelemetryStats:
    """Delivery accounting of the configured pipelines so far (see :class:`TelemetryStats`)."""
    with _configure_lock:
        handle = _configured
    if handle is None:
        return TelemetryStats(instrumentation_failures=INSTRUMENTATION_FAILURES.total())
    return handle.stats()


def _build(
    *,
    service_name: str | None,
    default_service_name: str | None,
    resource_attributes: Mapping[str, Any] | None,
    span_queue_size: int | None,
    metric_export_interval_seconds: float | None,
    logs_enabled: bool,
    log_level: int,
    log_root: bool,
    span_exporter: SpanExporter | None,
    metric_exporter: MetricExporter | None,
    log_exporter: LogRecordExporter | None,
) -> Telemetry:
    resource = _resource(service_name, default_service_name, resource_attributes)
    interval_millis = metric_export_interval_seconds * 1000 if metric_export_interval_seconds is not None else None

    # Metrics first: the batch processors report their own metrics to this provider.
    metrics_pipeline = _with_fallback(
        "metrics", lambda variables: _metrics_pipeline(resource, metric_exporter, interval_millis, variables)
    )
    meter_provider = metrics_pipeline.provider if metrics_pipeline else None
    traces_pipeline = _with_fallback(
        "traces",
        lambda variables: _traces_pipeline(resource, span_exporter, span_queue_size, meter_provider, variables),
    )
    logs_pipeline = None
    if logs_enabled:
        logs_pipeline = _with_fallback(
            "logs", lambda variables: _logs_pipeline(resource, log_exporter, meter_provider, variables)
        )

    tracer_provider = traces_pipeline.provider if traces_pipeline else None
    logger_provider = logs_pipeline.provider if logs_pipeline else None
    handler = None
    handler_logger = None
    if tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)
    if meter_provider is not None:
        metrics.set_meter_provider(meter_provider)
    if logger_provider is not None:
        _logs.set_logger_provider(logger_provider)
        handler = _logging_handler(logger_provider)
        logging.getLogger(_LIBRARY_LOGGER).setLevel(log_level)
        handler_logger = logging.getLogger() if log_root else logging.getLogger(_LIBRARY_LOGGER)
        if log_root:
            handler.addFilter(_exclude_sdk_records)
        handler_logger.addHandler(handler)

    return Telemetry(
        resource=resource,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        span_queue_size=traces_pipeline.queue_size if traces_pipeline else None,
        logging_handler=handler,
        handler_logger=handler_logger,
        span_counter=traces_pipeline.counter if traces_pipeline else None,
        log_counter=logs_pipeline.counter if logs_pipeline else None,
        metric_counter=metrics_pipeline.counter if metrics_pipeline else None,
    )


@dataclass(frozen=True)
class _Pipeline:
    """One signal's provider, set up, with its delivery counter."""

    provider: Any
    counter: DeliveryCounter
    queue_size: int | None = None


def _with_fallback(signal: str, build: Callable[[StandardVariables | None], _Pipeline]) -> _Pipeline | None:
    """``build(None)`` (the SDK reads the standard variables); when that fails, ``build`` again
    with a strict reading of them that ignores the invalid ones; when that fails too, None: the
    signal is disabled. Each fallback is logged as a warning naming the variables ignored."""
    try:
        return build(None)
    except Exception as error:  # noqa: BLE001 - the SDK raises ValueError, TypeError and bare Exceptions
        first_failure = error
    variables = StandardVariables()
    try:
        pipeline = build(variables)
    except Exception as error:  # noqa: BLE001 - as above; the signal is then disabled
        _logger.warning(
            "Could not set up %s from the OTEL_* variables (%s: %s), nor with %s ignored (%s: %s): "
            "%s are disabled.",
            signal, type(first_failure).__name__, first_failure, _names(variables.invalid),
            type(error).__name__, error, signal,
        )
        return None
    _logger.warning(
        "Could not set up %s from the OTEL_* variables (%s: %s); set up with %s ignored.",
        signal, type(first_failure).__name__, first_failure, _names(variables.invalid),
    )
    return pipeline


def _names(invalid: list[str]) -> str:
    return ", ".join(invalid) if invalid else "no variable found invalid, and every setting explicit"


def _metrics_pipeline(
    resource: Resource,
    exporter: MetricExporter | None,
    interval_millis: float | None,
    variables: StandardVariables | None,
) -> _Pipeline:
    counter = DeliveryCounter()
    owned = exporter is None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(**(variables.exporter_arguments("metrics") if variables else {}))
    try:
        reader_arguments = (
            variables.metric_reader_arguments(export_interval_millis=interval_millis)
            if variables else {"export_interval_millis": interval_millis}
        )
        reader = PeriodicExportingMetricReader(CountingMetricExporter(exporter, counter), **reader_arguments)
    except Exception:
        if owned:
            _quietly("shut down an unused metric exporter", exporter.shutdown)
        raise
    try:
        provider = MeterProvider(
            resource=resource, metric_readers=[reader], views=_bucket_views(), shutdown_on_exit=False
        )
    except Exception:
        _quietly("shut down an unused metric reader", reader.shutdown)
        raise
    return _Pipeline(provider, counter)


def _traces_pipeline(
    resource: Resource,
    exporter: SpanExporter | None,
    span_queue_size: int | None,
    meter_provider: MeterProvider | None,
    variables: StandardVariables | None,
) -> _Pipeline:
    counter = DeliveryCounter()
    owned = exporter is None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(**(variables.exporter_arguments("traces") if variables else {}))
    try:
        if variables is not None:
            batch_arguments = variables.batch_arguments(
                SPAN_BATCH, max_queue_size=span_queue_size, default_max_queue_size=_DEFAULT_SPAN_QUEUE_SIZE
            )
            span_queue_size = batch_arguments["max_queue_size"]
        else:
            if span_queue_size is None and not _is_set(OTEL_BSP_MAX_QUEUE_SIZE):
                span_queue_size = _DEFAULT_SPAN_QUEUE_SIZE
            # None: the SDK reads OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BSP_MAX_EXPORT_BATCH_SIZE.
            batch_arguments = {"max_queue_size": span_queue_size, "max_export_batch_size": _batch_size(span_queue_size)}
        batch_processor = BatchSpanProcessor(
            CountingSpanExporter(exporter, counter), meter_provider=meter_provider, **batch_arguments
        )
    except Exception:
        if owned:
            _quietly("shut down an unused span exporter", exporter.shutdown)
        raise
    try:
        provider = TracerProvider(
            resource=resource, shutdown_on_exit=False,
            span_limits=variables.span_limits() if variables else None,
        )
    except Exception:
        _quietly("shut down an unused span processor", batch_processor.shutdown)
        raise
    provider.add_span_processor(CountingSpanProcessor(batch_processor, counter))
    return _Pipeline(provider, counter, _queue_capacity(batch_processor, span_queue_size))


def _logs_pipeline(
    resource: Resource,
    exporter: LogRecordExporter | None,
    meter_provider: MeterProvider | None,
    variables: StandardVariables | None,
) -> _Pipeline:
    counter = DeliveryCounter()
    owned = exporter is None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(**(variables.exporter_arguments("logs") if variables else {}))
    try:
        batch_processor = BatchLogRecordProcessor(
            CountingLogExporter(exporter, counter), meter_provider=meter_provider,
            **(variables.batch_arguments(LOG_BATCH) if variables else {}),
        )
    except Exception:
        if owned:
            _quietly("shut down an unused log exporter", exporter.shutdown)
        raise
    try:
        provider = LoggerProvider(
            resource=resource, shutdown_on_exit=False,
            log_record_limits=variables.log_record_limits() if variables else None,
        )
    except Exception:
        _quietly("shut down an unused log record processor", batch_processor.shutdown)
        raise
    provider.add_log_record_processor(CountingLogProcessor(batch_processor, counter))
    return _Pipeline(provider, counter)


def _batch_size(queue_size: int | None) -> int | None:
    """The SDK's batch size, lowered to fit an explicitly small queue; None: the SDK's choice."""
    if queue_size is None or _is_set(OTEL_BSP_MAX_EXPORT_BATCH_SIZE):
        return None
    return min(queue_size, _DEFAULT_SPAN_BATCH_SIZE)


def _resource(
    service_name: str | None, default_service_name: str | None, extra: Mapping[str, Any] | None
) -> Resource:
    attributes = dict(extra or {})
    if service_name is not None:
        attributes[SERVICE_NAME] = service_name
    resource = Resource.create(attributes)  # merges OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
    named = str(resource.attributes.get(SERVICE_NAME, ""))
    if default_service_name and service_name is None and named.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service_name}))
    if SERVICE_INSTANCE_ID not in resource.attributes:
        resource = resource.merge(Resource({SERVICE_INSTANCE_ID: str(uuid.uuid4())}))
    return resource


def _bucket_views() -> list[View]:
    return [
        View(
            instrument_name=spec.name,
            aggregation=ExplicitBucketHistogramAggregation(boundaries=list(spec.buckets)),
        )
        for spec in catalog.INSTRUMENTS
        if spec.buckets
    ]


def _logging_handler(logger_provider: LoggerProvider) -> logging.Handler:
    try:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
    except ImportError:  # older installations: the SDK's (deprecated) handler
        from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[assignment]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return LoggingHandler(logger_provider=logger_provider)


def _exclude_sdk_records(record: logging.LogRecord) -> bool:
    # Exporting the SDK's own complaints about exporting would feed on itself.
    return not record.name.startswith("opentelemetry")


def _level(explicit: int | str | None) -> int:
    if isinstance(explicit, str):
        return parse_log_level("log_level", explicit, _DEFAULT_LOG_LEVEL)
    return resolve(explicit, OTEL_PYTHON_QUEUE_LOG_LEVEL, _DEFAULT_LOG_LEVEL, parse_log_level)


def _is_set(variable: str) -> bool:
    return bool(os.environ.get(variable, "").strip())


def _queue_capacity(processor: BatchSpanProcessor, requested: int | None) -> int | None:
    if requested is not None:
        return requested
    # Chosen by the SDK from OTEL_BSP_MAX_QUEUE_SIZE; read back for reporting only.
    return getattr(getattr(processor, "_batch_processor", None), "_max_queue_size", None)


def _quietly(what: str, action: Any) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - shutdown must finish whatever an exporter does
        _logger.warning("Could not %s.", what, exc_info=True)


def _report_losses(stats: TelemetryStats) -> None:
    if stats.complete:
        _logger.debug("Telemetry shut down; everything was delivered: %s", stats)
        return
    _logger.warning(
        "Telemetry was not fully delivered: spans %d of %d undelivered (%d dropped before "
        "export, %d in failed exports; span queue size %s); log records %d of %d undelivered; "
        "metric exports %d of %d failed.",
        stats.spans.undelivered, stats.spans.submitted, stats.spans.not_exported,
        stats.spans.failed, stats.span_queue_size, stats.logs.undelivered, stats.logs.submitted,
        stats.metric_exports.undelivered, stats.metric_exports.submitted,
    )

"""The environment variables of the producer library, one constant per variable.

The standard ``OTEL_*`` variables (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_EXPORTER_OTLP_ENDPOINT`` and its per-signal variants, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_EXPORTER_OTLP_INSECURE``, ``OTEL_EXPORTER_OTLP_TIMEOUT``, ``OTEL_TRACES_SAMPLER``,
``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_BSP_*``, ``OTEL_BLRP_*``,
``OTEL_SDK_DISABLED`` ...) are read by the OpenTelemetry SDK and its exporters themselves; they
are not restated here. The one standard variable whose *default* this library changes is
``OTEL_BSP_MAX_QUEUE_SIZE`` (see :mod:`queue_telemetry.configuration`).

Precedence everywhere: an explicit argument, then the environment variable, then the
module-level ``_DEFAULT_*`` constant of the module that uses it. Booleans accept ``true`` or
``false`` (any case, surrounding blanks ignored); any other value logs a warning and the default
applies.
"""

OTEL_PYTHON_QUEUE_LOG_LEVEL = "OTEL_PYTHON_QUEUE_LOG_LEVEL"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOG_LEVEL

Level set on the ``queue_telemetry`` logger by :func:`queue_telemetry.configure`, which decides
which of the library's own records (send, receive, settle at ``INFO``; failures at ``WARNING``)
are exported as OpenTelemetry logs. A standard :mod:`logging` level name such as ``DEBUG``,
``INFO`` or ``WARNING``. Default: ``INFO``.
"""

OTEL_PYTHON_QUEUE_LOG_ROOT = "OTEL_PYTHON_QUEUE_LOG_ROOT"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOG_ROOT

``true`` attaches the OpenTelemetry logging handler to the root logger, so every application
log record (carrying the current trace and span ids) is exported, not only the library's own.
``false`` attaches it to the ``queue_telemetry`` logger only. Default: ``false``.
"""

OTEL_PYTHON_QUEUE_LOGS_ENABLED = "OTEL_PYTHON_QUEUE_LOGS_ENABLED"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOGS_ENABLED

``false`` makes :func:`queue_telemetry.configure` set up traces and metrics only: no
LoggerProvider, no logging handler. Default: ``true``.
"""

OTEL_PYTHON_QUEUE_PROCESS_PARENT = "OTEL_PYTHON_QUEUE_PROCESS_PARENT"
"""
.. envvar:: OTEL_PYTHON_QUEUE_PROCESS_PARENT

``true`` makes each ``process`` span a child of the context the message was created in (it is
always linked to it as well); ``false`` starts it in the consumer's current context, linked to
the creation context, as the messaging semantic conventions recommend. Read by
:class:`queue_telemetry.InstrumentedQueueClient` when its ``parent_process_from_message``
argument is not given. Default: ``false``.
"""

__all__ = [
    "OTEL_PYTHON_QUEUE_LOG_LEVEL",
    "OTEL_PYTHON_QUEUE_LOG_ROOT",
    "OTEL_PYTHON_QUEUE_LOGS_ENABLED",
    "OTEL_PYTHON_QUEUE_PROCESS_PARENT",
]

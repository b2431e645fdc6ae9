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

OTEL_PYTHON_QUEUE_CREATE_SPANS = "OTEL_PYTHON_QUEUE_CREATE_SPANS"
"""
.. envvar:: OTEL_PYTHON_QUEUE_CREATE_SPANS

``true`` records one ``create`` span (PRODUCER) per message of a batch send; each message
carries its own creation context and the ``send`` span (CLIENT) links to them. ``false`` makes
the ``send`` span (then PRODUCER) the shared creation context of the whole batch. Default:
``true``.
"""

OTEL_PYTHON_QUEUE_SENSITIVE_FIELDS = "OTEL_PYTHON_QUEUE_SENSITIVE_FIELDS"
"""
.. envvar:: OTEL_PYTHON_QUEUE_SENSITIVE_FIELDS

Comma-separated, case-insensitive substrings of log-record field names whose values
:func:`queue_telemetry.logging_setup.configure_logging` redacts (replaces with ``[REDACTED]``)
before any handler sees them. Default: ``password,secret,token,api_key,apikey,authorization,
credential,connection_string,sas_key``.
"""

OTEL_PYTHON_QUEUE_LOG_JSON = "OTEL_PYTHON_QUEUE_LOG_JSON"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOG_JSON

``true`` makes :func:`queue_telemetry.logging_setup.configure_logging` write JSON lines (with
trace and span ids) to the console; ``false`` plain text. Default: ``false``.
"""

OTEL_PYTHON_QUEUE_LOG_FILE = "OTEL_PYTHON_QUEUE_LOG_FILE"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOG_FILE

Path of a JSON-lines log file written by
:func:`queue_telemetry.logging_setup.configure_logging`, rotated by size (see
``OTEL_PYTHON_QUEUE_LOG_FILE_MAX_BYTES``) or, when ``OTEL_PYTHON_QUEUE_LOG_FILE_ROTATE_WHEN``
is set, by time. Default: unset (no file).
"""

OTEL_PYTHON_QUEUE_LOG_FILE_MAX_BYTES = "OTEL_PYTHON_QUEUE_LOG_FILE_MAX_BYTES"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOG_FILE_MAX_BYTES

Size in bytes at which the JSON log file is rotated. Default: ``10485760`` (10 MiB).
"""

OTEL_PYTHON_QUEUE_LOG_FILE_ROTATE_WHEN = "OTEL_PYTHON_QUEUE_LOG_FILE_ROTATE_WHEN"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOG_FILE_ROTATE_WHEN

Rotate the JSON log file by time instead of size: a :class:`logging.handlers.TimedRotatingFileHandler`
``when`` value (``S``, ``M``, ``H``, ``D``, ``midnight``, ``W0``-``W6``). Default: unset (by size).
"""

OTEL_PYTHON_QUEUE_LOG_FILE_BACKUPS = "OTEL_PYTHON_QUEUE_LOG_FILE_BACKUPS"
"""
.. envvar:: OTEL_PYTHON_QUEUE_LOG_FILE_BACKUPS

How many rotated JSON log files are kept. Default: ``5``.
"""

OTEL_PYTHON_QUEUE_HEALTH_CACHE_SECONDS = "OTEL_PYTHON_QUEUE_HEALTH_CACHE_SECONDS"
"""
.. envvar:: OTEL_PYTHON_QUEUE_HEALTH_CACHE_SECONDS

How long :class:`queue_telemetry.health.QueueHealthMonitor` reuses its last result. Default:
``10``.
"""

OTEL_PYTHON_QUEUE_HEALTH_CHECK_TIMEOUT = "OTEL_PYTHON_QUEUE_HEALTH_CHECK_TIMEOUT"
"""
.. envvar:: OTEL_PYTHON_QUEUE_HEALTH_CHECK_TIMEOUT

Seconds each health check may take before it counts as unhealthy (each check on its own).
Default: ``5``.
"""

__all__ += [
    "OTEL_PYTHON_QUEUE_CREATE_SPANS",
    "OTEL_PYTHON_QUEUE_SENSITIVE_FIELDS",
    "OTEL_PYTHON_QUEUE_LOG_JSON",
    "OTEL_PYTHON_QUEUE_LOG_FILE",
    "OTEL_PYTHON_QUEUE_LOG_FILE_MAX_BYTES",
    "OTEL_PYTHON_QUEUE_LOG_FILE_ROTATE_WHEN",
    "OTEL_PYTHON_QUEUE_LOG_FILE_BACKUPS",
    "OTEL_PYTHON_QUEUE_HEALTH_CACHE_SECONDS",
    "OTEL_PYTHON_QUEUE_HEALTH_CHECK_TIMEOUT",
]

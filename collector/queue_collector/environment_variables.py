"""Every environment variable the receiver reads, one constant each.

Precedence, highest first: command-line flag, environment variable, configuration file, the
default in :func:`queue_collector.config.default_config`. A variable that is unset or empty is
ignored. Producers use the standard ``OTEL_*`` variables instead; nothing here applies to them.
"""

from __future__ import annotations

__all__ = [
    "QUEUE_COLLECTOR_CONFIG",
    "QUEUE_COLLECTOR_OTLP_ENDPOINT",
    "QUEUE_COLLECTOR_ADMIN_ENDPOINT",
    "QUEUE_COLLECTOR_TRACES_ENDPOINT",
    "QUEUE_COLLECTOR_TRACES_FILE",
    "QUEUE_COLLECTOR_LOGS_ENDPOINT",
    "QUEUE_COLLECTOR_LOGS_FILE",
    "CONFIG_PATH_OVERRIDES",
]

QUEUE_COLLECTOR_CONFIG = "QUEUE_COLLECTOR_CONFIG"
"""Path of the YAML configuration file (flag ``--config``). Default: none, built-in defaults."""

QUEUE_COLLECTOR_OTLP_ENDPOINT = "QUEUE_COLLECTOR_OTLP_ENDPOINT"
"""``HOST:PORT`` the OTLP gRPC receiver listens on (flag ``--otlp-endpoint``, key
``otlp.endpoint``). Default: ``127.0.0.1:4317``."""

QUEUE_COLLECTOR_ADMIN_ENDPOINT = "QUEUE_COLLECTOR_ADMIN_ENDPOINT"
"""``HOST:PORT`` of the admin HTTP server with ``/metrics``, ``/health``, ``/livez`` and
``/readyz`` (flag ``--admin-endpoint``, key ``admin.endpoint``). Default: ``127.0.0.1:9464``."""

QUEUE_COLLECTOR_TRACES_ENDPOINT = "QUEUE_COLLECTOR_TRACES_ENDPOINT"
"""OTLP gRPC endpoint traces are forwarded to, for example Jaeger's ``http://jaeger:4317``
(``http://`` plain, ``https://`` TLS, or bare ``HOST:PORT`` plain) (flag ``--traces-endpoint``,
key ``exporters.traces.endpoint``). Default: empty, traces are written to the traces file."""

QUEUE_COLLECTOR_TRACES_FILE = "QUEUE_COLLECTOR_TRACES_FILE"
"""OTLP-JSON lines file traces are appended to when no traces endpoint is set (flag
``--traces-file``, key ``exporters.traces.file``). Default: ``queue-collector-traces.jsonl``."""

QUEUE_COLLECTOR_LOGS_ENDPOINT = "QUEUE_COLLECTOR_LOGS_ENDPOINT"
"""OTLP gRPC endpoint logs are forwarded to, same forms as the traces endpoint (flag
``--logs-endpoint``, key ``exporters.logs.endpoint``). Default: empty, logs go to the logs file."""

QUEUE_COLLECTOR_LOGS_FILE = "QUEUE_COLLECTOR_LOGS_FILE"
"""OTLP-JSON lines file logs are appended to when no logs endpoint is set (flag
``--logs-file``, key ``exporters.logs.file``). Default: ``queue-collector-logs.jsonl``."""

#: Which configuration key each override variable sets (the config file path is not a key).
CONFIG_PATH_OVERRIDES: dict[str, str] = {
    QUEUE_COLLECTOR_OTLP_ENDPOINT: "otlp.endpoint",
    QUEUE_COLLECTOR_ADMIN_ENDPOINT: "admin.endpoint",
    QUEUE_COLLECTOR_TRACES_ENDPOINT: "exporters.traces.endpoint",
    QUEUE_COLLECTOR_TRACES_FILE: "exporters.traces.file",
    QUEUE_COLLECTOR_LOGS_ENDPOINT: "exporters.logs.endpoint",
    QUEUE_COLLECTOR_LOGS_FILE: "exporters.logs.file",
}

"""The receiver's configuration tree: one frozen dataclass per component.

The YAML file mirrors this tree (``otlp:``, ``admin:``, ``exporters:``, ``redaction:``,
``health:``, ``alerting:``, ``metric_mapping:``, plus the top-level keys). Defaults are the dataclass defaults, gathered by
:func:`default_config`; :mod:`queue_collector.config_loading` reads a file on top of them, and
flags and ``QUEUE_COLLECTOR_*`` variables override the file (see :func:`resolve_config`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from queue_collector.alerting.config import AlertingConfig
from queue_collector.config_loading import (
    ConfigError,
    ConfigProblem,
    apply_overrides,
    load_config_file,
    validation_problems,
)
from queue_collector.endpoints import parse_listen_address
from queue_collector.environment_variables import CONFIG_PATH_OVERRIDES, QUEUE_COLLECTOR_CONFIG
from queue_collector.exporters.config import ExportersConfig
from queue_collector.health.config import HealthConfig
from queue_collector.metric_mapping import MetricMappingConfig
from queue_collector.redaction import RedactionConfig
from queue_collector.redaction import default_config as default_redaction_config
from queue_collector.metric_mapping import default_config as default_metric_mapping_config

__all__ = [
    "OtlpReceiverConfig",
    "AdminConfig",
    "ReceiverConfig",
    "MAX_SHUTDOWN_TIMEOUT_SECONDS",
    "default_config",
    "resolve_config",
]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class OtlpReceiverConfig:
    """The OTLP gRPC server (traces, metrics, logs)."""

    #: ``HOST:PORT`` to listen on; port 0 picks a free port.
    endpoint: str = "127.0.0.1:4317"
    #: Largest request accepted, in bytes, measured after decompression; larger requests are
    #: answered RESOURCE_EXHAUSTED. (gRPC itself refuses anything over twice this.)
    max_request_bytes: int = 16 * _MIB
    #: Threads serving RPCs; requests beyond this wait in gRPC's queue.
    worker_threads: int = 8

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        try:
            parse_listen_address(self.endpoint)
        except ValueError as error:
            yield "endpoint", str(error)
        if self.max_request_bytes < 1024:
            yield "max_request_bytes", f"must be at least 1024, got {self.max_request_bytes}"
        if self.max_request_bytes > 1024 * _MIB:
            yield "max_request_bytes", f"must be at most 1 GiB, got {self.max_request_bytes}"
        if self.worker_threads < 1:
            yield "worker_threads", f"must be at least 1, got {self.worker_threads}"


@dataclass(frozen=True)
class AdminConfig:
    """The admin HTTP server: /metrics, /health, /health/{service}, /livez, /readyz."""

    #: ``HOST:PORT`` to listen on; port 0 picks a free port.
    endpoint: str = "127.0.0.1:9464"

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        try:
            parse_listen_address(self.endpoint)
        except ValueError as error:
            yield "endpoint", str(error)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: Upper bound of ``shutdown_timeout_seconds``: the timeout feeds thread and gRPC deadlines,
#: which fail on values past what the platform's clocks can represent.
MAX_SHUTDOWN_TIMEOUT_SECONDS = 86400.0


@dataclass(frozen=True)
class ReceiverConfig:
    """Everything the receiver needs; each section belongs to one component."""

    #: OTLP gRPC server.
    otlp: OtlpReceiverConfig = field(default_factory=OtlpReceiverConfig)
    #: Admin HTTP server.
    admin: AdminConfig = field(default_factory=AdminConfig)
    #: Trace and log destinations.
    exporters: ExportersConfig = field(default_factory=ExportersConfig)
    #: Masking of secrets in every signal, before any other stage sees the data.
    redaction: RedactionConfig = field(default_factory=default_redaction_config)
    #: Per-service health.
    health: HealthConfig = field(default_factory=HealthConfig)
    #: Alert rules and notification channels.
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    #: Mapping of incoming metrics to the unified Prometheus metrics.
    metric_mapping: MetricMappingConfig = field(default_factory=default_metric_mapping_config)
    #: On SIGTERM/Ctrl-C: seconds for in-flight requests to finish and for each exporter to
    #: drain (default = 30.0; at most :data:`MAX_SHUTDOWN_TIMEOUT_SECONDS`).
    shutdown_timeout_seconds: float = 30.0
    #: Log level of the receiver's own log (stderr): DEBUG, INFO, WARNING or ERROR.
    log_level: str = "INFO"

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.shutdown_timeout_seconds <= 0:
            yield "shutdown_timeout_seconds", f"must be positive, got {self.shutdown_timeout_seconds}"
        elif self.shutdown_timeout_seconds > MAX_SHUTDOWN_TIMEOUT_SECONDS:
            yield "shutdown_timeout_seconds", (
                f"must be at most {MAX_SHUTDOWN_TIMEOUT_SECONDS:g} (a day), "
                f"got {self.shutdown_timeout_seconds}"
            )
        if self.log_level.upper() not in _LOG_LEVELS:
            yield "log_level", f"expected one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}"

    @property
    def python_log_level(self) -> int:
        """``log_level`` as a :mod:`logging` level number."""
        return logging.getLevelName(self.log_level.upper())


def default_config() -> ReceiverConfig:
    """Every default in one place (see the dataclass fields for each value)."""
    return ReceiverConfig()


def resolve_config(
    flag_values: Mapping[str, str | None],
    environment: Mapping[str, str],
    config_file: str | None = None,
) -> ReceiverConfig:
    """Builds the effective configuration: flags > variables > file > defaults.

    ``flag_values`` maps dotted keys (``"otlp.endpoint"``) to flag values, None when the flag
    was not given. ``config_file`` is the ``--config`` flag; when None, the
    ``QUEUE_COLLECTOR_CONFIG`` variable is used. Empty variables count as unset.

    Raises :class:`ConfigError` listing every problem (file, types and final values).
    """
    path = config_file or environment.get(QUEUE_COLLECTOR_CONFIG) or None
    base = default_config()
    config = load_config_file(ReceiverConfig, Path(path), base, validate=False) if path else base
    overrides: dict[str, str] = {}
    for variable, key in CONFIG_PATH_OVERRIDES.items():
        value = environment.get(variable)
        if value:
            overrides[key] = value
    for key, value in flag_values.items():
        if value is not None:
            overrides[key] = value
    config = apply_overrides(config, overrides)
    problems: list[ConfigProblem] = validation_problems(config)
    if problems:
        source = f"{path} with flags and environment variables" if path else "flags and environment variables"
        raise ConfigError(problems, source)
    return config


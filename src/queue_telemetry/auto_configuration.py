"""Zero-code set-up: ``opentelemetry-instrument`` configures the SDK through this library.

The package registers :class:`QueueTelemetryConfigurator` under the
``opentelemetry_configurator`` entry point (name ``queue_telemetry``), so running an application
under ``opentelemetry-instrument`` calls :func:`queue_telemetry.configure` before the
instrumentors are applied: traces, metrics and logs go over OTLP/gRPC as the ``OTEL_*``
variables say, with the library's defaults (a span queue sized for bursts, dropped-data
accounting, ``service.instance.id``). When another configurator is installed too (for example
``opentelemetry-distro``'s), ``OTEL_PYTHON_CONFIGURATOR=queue_telemetry`` picks this one.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._configuration import _BaseConfigurator

from queue_telemetry.configuration import configure

__all__ = ["QueueTelemetryConfigurator"]


class QueueTelemetryConfigurator(_BaseConfigurator):
    """Calls :func:`queue_telemetry.configure` once, at ``opentelemetry-instrument`` start-up."""

    def _configure(self, **kwargs: Any) -> None:
        configure()

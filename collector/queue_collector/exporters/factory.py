"""Builds one exporter per signal from the configuration."""

from __future__ import annotations

from queue_collector.exporters.config import ExportersConfig, SignalExportConfig
from queue_collector.exporters.file_writer import OtlpJsonFileExporter
from queue_collector.exporters.otlp_forwarder import OtlpForwarder
from queue_collector.otlp_signals import LOGS, TRACES, OtlpSignal

__all__ = ["build_exporters"]


def _build(signal: OtlpSignal, config: SignalExportConfig) -> OtlpForwarder | OtlpJsonFileExporter:
    if config.endpoint:
        return OtlpForwarder(signal, config)
    return OtlpJsonFileExporter(signal, config.file, fsync=config.fsync)


def build_exporters(config: ExportersConfig) -> list[OtlpForwarder | OtlpJsonFileExporter]:
    """The traces exporter and the logs exporter. Raises ValueError/OSError naming the problem;
    exporters built before a failure are shut down first."""
    built: list[OtlpForwarder | OtlpJsonFileExporter] = []
    try:
        for signal, signal_config in ((TRACES, config.traces), (LOGS, config.logs)):
            try:
                built.append(_build(signal, signal_config))
            except OSError as error:
                raise OSError(
                    f"exporters.{signal.name}: cannot open {signal_config.file or signal_config.ca_file}: "
                    f"{error.strerror or error}"
                ) from error
            except ValueError as error:
                raise ValueError(f"exporters.{signal.name}: {error}") from error
    except Exception:
        for exporter in built:
            exporter.shutdown(0)
        raise
    return built

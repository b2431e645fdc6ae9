"""Exporters: where traces and logs go after the stages (metrics are served on /metrics).

:class:`OtlpForwarder` sends to an OTLP gRPC endpoint (Jaeger) from a bounded queue with
retries; :class:`OtlpJsonFileExporter` appends OTLP-JSON lines to a file.
:func:`build_exporters` picks one per signal from :class:`ExportersConfig`.
"""

from queue_collector.exporters.config import (
    ExportersConfig,
    RetryConfig,
    SignalExportConfig,
    default_config,
)
from queue_collector.exporters.factory import build_exporters
from queue_collector.exporters.file_writer import OtlpJsonFileExporter
from queue_collector.exporters.otlp_forwarder import OtlpForwarder
from queue_collector.exporters.otlp_json import from_otlp_json, to_otlp_json
from queue_collector.exporters.statistics import ExporterStatistics

__all__ = [
    "ExportersConfig",
    "SignalExportConfig",
    "RetryConfig",
    "default_config",
    "build_exporters",
    "OtlpForwarder",
    "OtlpJsonFileExporter",
    "ExporterStatistics",
    "to_otlp_json",
    "from_otlp_json",
]

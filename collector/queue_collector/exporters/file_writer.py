"""Writes traces or logs as OTLP-JSON lines: one Export*ServiceRequest per line, appended."""

from __future__ import annotations

import logging
import os
import threading

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from queue_collector.exporters.otlp_json import to_otlp_json
from queue_collector.exporters.statistics import ExporterStatistics
from queue_collector.otlp_signals import LOGS, TRACES, OtlpSignal
from queue_collector.pipeline import ExporterBackpressure

__all__ = ["OtlpJsonFileExporter"]

_logger = logging.getLogger(__name__)

#: Retry delay suggested to clients when the file cannot be written (disk full, ...).
_WRITE_ERROR_RETRY_SECONDS = 5.0


class OtlpJsonFileExporter:
    """Appends one signal's requests to a file in the collector file exporter's format.

    Thread-safe: lines are encoded on the caller's thread, then written and flushed under a
    lock, so lines never interleave and data is in the operating system's hands before
    ``export_*`` returns (on disk as well when ``fsync`` is true). The constructor opens the
    file and raises OSError when it cannot. A write error is logged, counted and raised as
    :class:`ExporterBackpressure` so the client retries rather than losing the data.
    """

    def __init__(self, signal: OtlpSignal, path: str, fsync: bool = False) -> None:
        if signal not in (TRACES, LOGS):
            raise ValueError(f"the file writer handles traces and logs, not {signal.name}")
        self.name = f"file_{signal.name}"
        self.signals = frozenset({signal.name})
        self.path = os.path.abspath(path)
        self._signal = signal
        self._fsync = fsync
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")
        self._exported = 0
        self._failed = 0

    def ensure_capacity(self) -> None:
        """Never refuses: writing is synchronous."""

    def _write(self, line: str) -> None:
        with self._lock:
            if self._file.closed:
                self._failed += 1
                raise ExporterBackpressure(f"{self.name}: the receiver is shutting down")
            try:
                self._file.write(line + "\n")
                self._file.flush()
                if self._fsync:
                    os.fsync(self._file.fileno())
            except OSError as error:
                self._failed += 1
                _logger.error("cannot write %s: %s", self.path, error)
                raise ExporterBackpressure(
                    f"cannot write {self._signal.name} to {self.path}: {error.strerror or error}",
                    retry_after_seconds=_WRITE_ERROR_RETRY_SECONDS,
                ) from error
            self._exported += 1

    def export_traces(self, request: ExportTraceServiceRequest) -> None:
        if self._signal is TRACES:
            self._write(to_otlp_json(request))

    def export_logs(self, request: ExportLogsServiceRequest) -> None:
        if self._signal is LOGS:
            self._write(to_otlp_json(request))

    def shutdown(self, timeout_seconds: float) -> None:
        """Closes the file (idempotent); every accepted request is already written."""
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def statistics(self) -> ExporterStatistics:
        with self._lock:
            return ExporterStatistics(exported_requests=self._exported, failed_requests=self._failed)

    def describe_destination(self) -> str:
        """Where the data goes, for the start-up message."""
        return f"file {self.path}"

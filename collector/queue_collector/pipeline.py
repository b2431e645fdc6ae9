"""The receiver's stage pipeline: decode -> redact -> map/derive -> health -> export.

Data flows one way. The OTLP server decodes a request and hands it to :class:`Pipeline`, which
passes it through every :class:`TelemetryStage` in order and then to every exporter. A stage may
change the request in place (redaction) or only read it (mapping, health); it never reaches back
into an earlier stage.

Threading: the OTLP server calls the pipeline from several gRPC worker threads at once, so every
stage and exporter must be safe to call concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = [
    "Rejections",
    "TelemetryStage",
    "TelemetryExporter",
    "ExporterBackpressure",
    "Pipeline",
]


@dataclass(frozen=True)
class Rejections:
    """Items a stage could not accept, reported to the client as OTLP ``partial_success``.

    ``count`` is spans, data points or log records depending on the signal; ``message`` names
    what was wrong (for example ``"histogram queue.session.duration: 2 bounds but no bucket
    counts"``).
    """

    count: int
    message: str

    @staticmethod
    def combine(items: Sequence["Rejections | None"]) -> "Rejections | None":
        """One Rejections summing ``items`` (None entries ignored), or None when nothing was rejected."""
        present = [item for item in items if item is not None and item.count > 0]
        if not present:
            return None
        return Rejections(
            count=sum(item.count for item in present),
            message="; ".join(item.message for item in present),
        )


@runtime_checkable
class TelemetryStage(Protocol):
    """One processing stage of the receiver.

    Contract: each method is called synchronously from a gRPC worker thread, possibly from
    several threads at once; it must be thread-safe, must not block on network I/O, and must not
    raise for a request that decoded successfully. It returns the items it rejected (dropping
    them from the request) or None.

    A stage may also define ``screen(raw: bytes) -> bool``: given the request's serialized bytes
    (after decompression), it answers quickly whether the stage could have anything to do with
    this request at all. When it answers False, the stage's ``process_*`` method is skipped for
    that request. This keeps per-item Python work off the hot path when nothing needs changing.
    """

    name: str

    def process_traces(self, request: ExportTraceServiceRequest) -> Rejections | None: ...

    def process_metrics(self, request: ExportMetricsServiceRequest) -> Rejections | None: ...

    def process_logs(self, request: ExportLogsServiceRequest) -> Rejections | None: ...


class ExporterBackpressure(Exception):
    """Raised by an exporter that cannot take more data now; the client is told to retry.

    ``retry_after_seconds`` becomes the RetryInfo delay of the UNAVAILABLE answer.
    """

    def __init__(self, message: str, retry_after_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@runtime_checkable
class TelemetryExporter(Protocol):
    """Sends processed telemetry onwards (file, OTLP endpoint).

    Contract: when ``export_*`` returns, the data is either written durably or held in the
    exporter's queue, which :meth:`shutdown` drains; the caller then acknowledges it to the
    client, so it must not be lost by a clean shutdown. An exporter that cannot take the data
    raises :class:`ExporterBackpressure` (nothing was taken). Signals an exporter does not handle
    are ignored by returning at once.
    """

    name: str

    #: The signals this exporter handles (``"traces"``, ``"logs"``). The pipeline asks only
    #: these exporters for capacity, so a full trace queue does not refuse logs. An exporter
    #: without this attribute is treated as handling every signal.
    signals: frozenset[str]

    def ensure_capacity(self) -> None:
        """Raises ExporterBackpressure when the exporter cannot take another request now.

        Called before any stage sees the request, so a request refused for backpressure has
        changed no state and the client's retry does not double count. After it returns, the
        following ``export_*`` call must accept the data (a bounded queue may overshoot its
        limit by the requests already admitted).
        """
        ...

    def export_traces(self, request: ExportTraceServiceRequest) -> None: ...

    def export_logs(self, request: ExportLogsServiceRequest) -> None: ...

    def shutdown(self, timeout_seconds: float) -> None: ...


class Pipeline:
    """Runs the stages, then the exporters, for each decoded request.

    ``raw`` is the request's serialized bytes when the caller has them; stages that define
    ``screen`` are skipped for requests they cannot touch.
    """

    def __init__(
        self,
        stages: Sequence[TelemetryStage],
        exporters: Sequence[TelemetryExporter],
    ) -> None:
        self.stages = tuple(stages)
        self.exporters = tuple(exporters)

    def _ensure_capacity(self, signal: str) -> None:
        for exporter in self.exporters:
            handled = getattr(exporter, "signals", None)
            if handled is None or signal in handled:
                exporter.ensure_capacity()

    def _stages_for(self, raw: bytes | None) -> list[TelemetryStage]:
        """The stages that want this request (all of them when the raw bytes are not known)."""
        if raw is None:
            return list(self.stages)
        wanted = []
        for stage in self.stages:
            screen = getattr(stage, "screen", None)
            if screen is None or screen(raw):
                wanted.append(stage)
        return wanted

    def traces(
        self, request: ExportTraceServiceRequest, raw: bytes | None = None
    ) -> Rejections | None:
        self._ensure_capacity("traces")
        rejected = [stage.process_traces(request) for stage in self._stages_for(raw)]
        for exporter in self.exporters:
            exporter.export_traces(request)
        return Rejections.combine(rejected)

    def metrics(
        self, request: ExportMetricsServiceRequest, raw: bytes | None = None
    ) -> Rejections | None:
        return Rejections.combine(
            [stage.process_metrics(request) for stage in self._stages_for(raw)]
        )

    def logs(
        self, request: ExportLogsServiceRequest, raw: bytes | None = None
    ) -> Rejections | None:
        self._ensure_capacity("logs")
        rejected = [stage.process_logs(request) for stage in self._stages_for(raw)]
        for exporter in self.exporters:
            exporter.export_logs(request)
        return Rejections.combine(rejected)

    def shutdown(self, timeout_seconds: float) -> None:
        """Drains every exporter; each gets the whole timeout (they drain in turn)."""
        for exporter in self.exporters:
            exporter.shutdown(timeout_seconds)

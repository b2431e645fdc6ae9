"""The receiver application: builds every component from a ReceiverConfig, starts, stops.

Start order: exporters (constructor), admin HTTP (/livez answers, /readyz says "starting"),
OTLP gRPC, alert evaluation; then ready. Stop order: /readyz answers 503, the gRPC server
refuses new RPCs and lets in-flight ones finish, alert evaluation stops and queued
notifications are delivered, every exporter drains, the admin server stops. So nothing
acknowledged to a client is lost by a clean shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Sequence

from prometheus_client.registry import CollectorRegistry

from queue_collector.admin_http import AdminHttpServer
from queue_collector.alerting import AlertingService, read_samples
from queue_collector.config import ReceiverConfig
from queue_collector.exporters import build_exporters
from queue_collector.health import build_health_monitoring
from queue_collector.metric_mapping import MetricMappingConfig, MetricMappingStage
from queue_collector.redaction import RedactionStage
from queue_collector.otlp_server import OtlpGrpcServer
from queue_collector.pipeline import Pipeline, TelemetryExporter, TelemetryStage
from queue_collector.self_metrics import ReceiverSelfMetrics

__all__ = ["ReceiverApp", "ReceiverState"]

_logger = logging.getLogger(__name__)


class ReceiverState:
    """Life-cycle states reported by /readyz."""

    CREATED = "created"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"


def _default_mapping_stage(config: MetricMappingConfig, clock: Callable[[], float]) -> TelemetryStage:
    return MetricMappingStage(config, clock=clock)


class ReceiverApp:
    """The whole receiver.

    The constructor validates and builds everything (opening the trace/log files and starting
    forwarder threads) and raises ValueError/OSError naming the problem. :meth:`start` binds the
    ports (raising :class:`~queue_collector.endpoints.AddressBindError`); ports may be 0, the
    bound ones are in :attr:`otlp_port` and :attr:`admin_port`. :meth:`stop` blocks until the
    shutdown is complete; it is idempotent and may be called from any thread.

    ``clock`` (seconds since the epoch) drives health and metric expiry; ``mapping_stage_factory``
    and ``exporters`` replace the real ones in tests.
    """

    def __init__(
        self,
        config: ReceiverConfig,
        *,
        clock: Callable[[], float] = time.time,
        mapping_stage_factory: Callable[[MetricMappingConfig, Callable[[], float]], TelemetryStage] = _default_mapping_stage,
        exporters: Sequence[TelemetryExporter] | None = None,
    ) -> None:
        self.config = config
        self._state = ReceiverState.CREATED
        self._state_lock = threading.Lock()
        self._stopped = threading.Event()

        redaction_stage = RedactionStage(config.redaction)
        mapping_stage = mapping_stage_factory(config.metric_mapping, clock)
        health = build_health_monitoring(config.health, clock)
        self.health = health.monitor
        self.queue_traffic = health.traffic
        built_exporters = list(exporters) if exporters is not None else build_exporters(config.exporters)
        self.exporters: tuple[TelemetryExporter, ...] = tuple(built_exporters)
        self.self_metrics = ReceiverSelfMetrics(lambda: [e for e in self.exporters if hasattr(e, "statistics")])
        self.registry = CollectorRegistry()
        self.registry.register(redaction_stage.prometheus_collector())
        collector = getattr(mapping_stage, "prometheus_collector", None)
        if callable(collector):
            self.registry.register(collector())
        self.registry.register(health.collector)
        self.registry.register(self.self_metrics)
        #: Alert rules over the unified metrics (read as /metrics shows them) and the health
        #: report; None when ``alerting.enabled`` is false.
        self.alerting: AlertingService | None = None
        if config.alerting.enabled:
            self.alerting = AlertingService(
                config.alerting, lambda: read_samples(self.registry.collect()), self.health.report, clock=clock
            )
            self.registry.register(self.alerting.collector)

        # decode (server) -> redact -> map/derive -> health -> export
        self.pipeline = Pipeline([redaction_stage, mapping_stage, health.stage], self.exporters)
        self.otlp_server = OtlpGrpcServer(config.otlp, self.pipeline, self.self_metrics)
        self.admin_server = AdminHttpServer(
            config.admin, self.registry, self.health, self._readiness,
            alerts=self.alerting.alerts_json if self.alerting is not None else None,
        )

    # --- state ----------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        with self._state_lock:
            self._state = state

    def _readiness(self) -> tuple[bool, str]:
        state = self._state
        return state == ReceiverState.READY, state

    @property
    def otlp_port(self) -> int | None:
        return self.otlp_server.port

    @property
    def admin_port(self) -> int | None:
        return self.admin_server.port

    @property
    def otlp_address(self) -> str:
        return self.otlp_server.address

    @property
    def admin_url(self) -> str:
        return self.admin_server.base_url

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Binds both servers and becomes ready. On failure everything is released, then the
        error (AddressBindError naming the address) is raised."""
        self._set_state(ReceiverState.STARTING)
        try:
            self.admin_server.start()
            self.otlp_server.start()
        except BaseException:
            self._release(0.0)
            self._set_state(ReceiverState.STOPPED)
            self._stopped.set()
            raise
        if self.alerting is not None:
            self.alerting.start()
        self._set_state(ReceiverState.READY)
        _logger.info("queue-collector listening: OTLP gRPC %s, admin %s", self.otlp_address, self.admin_url)

    def stop(self, timeout_seconds: float | None = None) -> None:
        """Graceful shutdown; each phase (in-flight RPCs, each exporter's drain) gets
        ``timeout_seconds`` (default ``shutdown_timeout_seconds``). Idempotent."""
        timeout = self.config.shutdown_timeout_seconds if timeout_seconds is None else timeout_seconds
        with self._state_lock:
            if self._state in (ReceiverState.STOPPING, ReceiverState.STOPPED):
                already = True
            else:
                already = False
                self._state = ReceiverState.STOPPING
        if already:
            self._stopped.wait()
            return
        _logger.info("queue-collector stopping (up to %.1f s per phase)", timeout)
        self._release(timeout)
        self._set_state(ReceiverState.STOPPED)
        self._stopped.set()
        _logger.info("queue-collector stopped")

    def _release(self, timeout: float) -> None:
        if self.otlp_server.port is not None:
            self.otlp_server.stop(timeout)
        if self.alerting is not None:
            self.alerting.stop(timeout)
        self.pipeline.shutdown(timeout)
        self.admin_server.stop()

    def describe(self) -> list[str]:
        """Human-readable lines saying where to look (printed at start-up)."""
        lines = [
            f"OTLP gRPC receiver: {self.otlp_address}",
            f"metrics:            {self.admin_url}/metrics",
            f"health:             {self.admin_url}/health",
            f"liveness/readiness: {self.admin_url}/livez  {self.admin_url}/readyz",
        ]
        for exporter in self.exporters:
            describe = getattr(exporter, "describe_destination", None)
            signals = ", ".join(sorted(getattr(exporter, "signals", ()))) or exporter.name
            if callable(describe):
                lines.append(f"{signals + ':':<20}{describe()}")
        return lines

"""The health stage: notes which services sent telemetry, and feeds the queue traffic windows.

For traces and logs it reads only the resource attributes (to find ``service.name``) and never
walks spans or log records. For metrics it also reads the points of the few producer
instruments the traffic checks use (see :mod:`queue_collector.health.traffic`); every other
metric costs one dictionary lookup.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from queue_collector.health.activity import ServiceActivity
from queue_collector.health.service_names import UNKNOWN_SERVICE, service_name_of
from queue_collector.health.traffic import QueueTraffic, read_metrics_request
from queue_collector.pipeline import Rejections

__all__ = ["HealthStage", "service_name_of", "UNKNOWN_SERVICE"]

_logger = logging.getLogger(__name__)


class HealthStage:
    """Records per service and signal when telemetry was last seen, and per queue what the
    producers' metrics say (when given a :class:`QueueTraffic`).

    Thread-safe and non-blocking (short locks per request); never rejects anything: points it
    cannot use are skipped (the metric mapping stage reports them to the client).
    ``clock`` returns seconds since the epoch and is injectable for tests.
    """

    name = "health"

    def __init__(
        self,
        activity: ServiceActivity,
        clock: Callable[[], float] = time.time,
        traffic: QueueTraffic | None = None,
    ) -> None:
        self._activity = activity
        self._clock = clock
        self._traffic = traffic

    def _record(self, resources: Iterable[Resource], signal: str) -> None:
        services = {service_name_of(resource) for resource in resources}
        if services:
            self._activity.record(services, signal, self._clock())

    def process_traces(self, request: ExportTraceServiceRequest) -> Rejections | None:
        self._record((item.resource for item in request.resource_spans), "traces")
        return None

    def process_metrics(self, request: ExportMetricsServiceRequest) -> Rejections | None:
        self._record((item.resource for item in request.resource_metrics), "metrics")
        if self._traffic is not None:
            try:
                observations, _ = read_metrics_request(request)
                self._traffic.record(observations, self._clock())
            except Exception:  # health must never fail a request; see the log
                _logger.exception("health: could not read a metrics request")
        return None

    def process_logs(self, request: ExportLogsServiceRequest) -> Rejections | None:
        self._record((item.resource for item in request.resource_logs), "logs")
        return None

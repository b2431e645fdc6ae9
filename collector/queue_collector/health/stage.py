"""The health stage: notes which services sent telemetry, once per resource.

It reads only the resource attributes of each ResourceSpans / ResourceMetrics / ResourceLogs
(to find ``service.name``) and never walks spans, points or log records, so its cost does not
grow with the number of items in a request.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from queue_collector.health.activity import ServiceActivity
from queue_collector.pipeline import Rejections

__all__ = ["HealthStage", "service_name_of", "UNKNOWN_SERVICE"]

#: The name used for telemetry whose resource has no ``service.name`` (as the SDKs default it).
UNKNOWN_SERVICE = "unknown_service"

_SERVICE_NAME_KEY = "service.name"


def service_name_of(resource: Resource) -> str:
    """The resource's ``service.name`` string, or :data:`UNKNOWN_SERVICE`."""
    for attribute in resource.attributes:
        if attribute.key == _SERVICE_NAME_KEY:
            return attribute.value.string_value or UNKNOWN_SERVICE
    return UNKNOWN_SERVICE


class HealthStage:
    """Records per service and signal when telemetry was last seen.

    Thread-safe and non-blocking (one short lock per request); never rejects anything.
    ``clock`` returns seconds since the epoch and is injectable for tests.
    """

    name = "health"

    def __init__(self, activity: ServiceActivity, clock: Callable[[], float] = time.time) -> None:
        self._activity = activity
        self._clock = clock

    def _record(self, resources: Iterable[Resource], signal: str) -> None:
        services = {service_name_of(resource) for resource in resources}
        if services:
            self._activity.record(services, signal, self._clock())

    def process_traces(self, request: ExportTraceServiceRequest) -> Rejections | None:
        self._record((item.resource for item in request.resource_spans), "traces")
        return None

    def process_metrics(self, request: ExportMetricsServiceRequest) -> Rejections | None:
        self._record((item.resource for item in request.resource_metrics), "metrics")
        return None

    def process_logs(self, request: ExportLogsServiceRequest) -> Rejections | None:
        self._record((item.resource for item in request.resource_logs), "logs")
        return None

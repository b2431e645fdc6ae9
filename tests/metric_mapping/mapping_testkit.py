"""Builders for OTLP metric requests and a stage wired to a private registry, for these tests."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client import CollectorRegistry
from queue_collector.metric_mapping import MetricMappingConfig, MetricMappingStage

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA

#: Point attributes of an in-memory queue called "orders".
ORDERS = {"messaging.system": "in_memory", "messaging.destination.name": "orders"}
#: The labels the unified series of ORDERS carry, for the service "checkout".
ORDERS_LABELS = {"service": "checkout", "provider": "in_memory", "queue": "orders"}


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key_values(attributes: Mapping[str, Any]) -> list[KeyValue]:
    result = []
    for key, value in attributes.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=value)
        result.append(KeyValue(key=key, value=any_value))
    return result


def number(value: float, *, start: int = 0, time: int = 1, attributes: Mapping[str, Any] = ORDERS):
    point = metrics_pb2.NumberDataPoint(
        start_time_unix_nano=start, time_unix_nano=time, attributes=key_values(attributes)
    )
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = value
    return point


def counter(
    name: str,
    *points: metrics_pb2.NumberDataPoint,
    temporality: int = CUMULATIVE,
    monotonic: bool = True,
) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(
        name=name,
        sum=metrics_pb2.Sum(
            data_points=points, aggregation_temporality=temporality, is_monotonic=monotonic
        ),
    )


def gauge(name: str, *points: metrics_pb2.NumberDataPoint) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(name=name, gauge=metrics_pb2.Gauge(data_points=points))


def histogram_point(
    bounds: Iterable[float],
    counts: Iterable[int],
    *,
    total: float = 0.0,
    start: int = 0,
    time: int = 1,
    count: int | None = None,
    attributes: Mapping[str, Any] = ORDERS,
) -> metrics_pb2.HistogramDataPoint:
    counts = list(counts)
    return metrics_pb2.HistogramDataPoint(
        start_time_unix_nano=start,
        time_unix_nano=time,
        attributes=key_values(attributes),
        explicit_bounds=list(bounds),
        bucket_counts=counts,
        count=sum(counts) if count is None else count,
        sum=total,
    )


def histogram(
    name: str, *points: metrics_pb2.HistogramDataPoint, temporality: int = CUMULATIVE
) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(
        name=name,
        histogram=metrics_pb2.Histogram(data_points=points, aggregation_temporality=temporality),
    )


def request(
    *metrics: metrics_pb2.Metric,
    service: str | None = "checkout",
    instance: str = "pod-1",
    scope: str = "queue_telemetry",
) -> ExportMetricsServiceRequest:
    resource = {"service.instance.id": instance}
    if service is not None:
        resource["service.name"] = service
    message = ExportMetricsServiceRequest()
    resource_metrics = message.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values(resource))
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.name = scope
    scope_metrics.metrics.extend(metrics)
    return message


def wired(config: MetricMappingConfig | None = None, clock: FakeClock | None = None):
    """A stage and a private registry its collector is registered in."""
    stage = MetricMappingStage(config or MetricMappingConfig(), clock=clock or FakeClock())
    registry = CollectorRegistry()
    registry.register(stage.prometheus_collector())
    return stage, registry


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)

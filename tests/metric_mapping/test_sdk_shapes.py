"""Requests encoded from the real OpenTelemetry SDK, recording with the catalog's instruments."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    encode_metrics,
)
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
)
from opentelemetry.sdk.resources import Resource

from queue_telemetry.catalog import InstrumentKind, instrument

from .mapping_testkit import ORDERS, ORDERS_LABELS, sample, wired

_DELTA = {
    Counter: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
}


class Producer:
    """One producer process: an SDK MeterProvider with the catalog's instruments."""

    def __init__(self, instance: str, *, delta: bool = False) -> None:
        self.reader = InMemoryMetricReader(preferred_temporality=_DELTA if delta else None)
        resource = Resource.create({"service.name": "checkout", "service.instance.id": instance})
        self.provider = MeterProvider(resource=resource, metric_readers=[self.reader])
        self.meter = self.provider.get_meter("queue_telemetry", "0.1.0")
        self._instruments = {}

    def instrument(self, name: str):
        if name not in self._instruments:
            item = instrument(name)
            if item.kind is InstrumentKind.COUNTER:
                created = self.meter.create_counter(name, item.unit, item.description)
            elif item.kind is InstrumentKind.UP_DOWN_COUNTER:
                created = self.meter.create_up_down_counter(name, item.unit, item.description)
            elif item.kind is InstrumentKind.GAUGE:
                created = self.meter.create_gauge(name, item.unit, item.description)
            else:
                created = self.meter.create_histogram(
                    name,
                    item.unit,
                    item.description,
                    explicit_bucket_boundaries_advisory=list(item.buckets or ()),
                )
            self._instruments[name] = created
        return self._instruments[name]

    def export(self):
        return encode_metrics(self.reader.get_metrics_data())


SEND = {**ORDERS, "messaging.operation.name": "send"}
PROCESS = {**ORDERS, "messaging.operation.name": "process"}


def record_work(producer: Producer, messages: int) -> None:
    for _ in range(messages):
        producer.instrument("messaging.client.sent.messages").add(1, SEND)
        producer.instrument("messaging.process.duration").record(0.02, PROCESS)
        producer.instrument("queue.messages.acknowledged").add(1, ORDERS)
    producer.instrument("messaging.client.sent.messages").add(1, {**SEND, "error.type": "timeout"})
    producer.instrument("queue.messages.in_flight").add(messages, ORDERS)
    producer.instrument("queue.depth").set(100 - messages, ORDERS)


def test_cumulative_sdk_exports_from_two_processes():
    stage, registry = wired()
    first, second = Producer("pod-1"), Producer("pod-2")
    record_work(first, 3)
    assert stage.process_metrics(first.export()) is None
    record_work(second, 4)
    assert stage.process_metrics(second.export()) is None
    record_work(first, 2)  # cumulative: pod-1 now reports 5
    assert stage.process_metrics(first.export()) is None
    assert stage.process_metrics(first.export()) is None  # nothing new, nothing added

    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == 9
    assert sample(registry, "queue_messages_acknowledged_total", **ORDERS_LABELS) == 9
    assert sample(registry, "queue_message_processing_duration_seconds_count", **ORDERS_LABELS) == 9
    assert (
        sample(
            registry, "queue_message_processing_duration_seconds_bucket", **ORDERS_LABELS, le="0.01"
        )
        == 0
    )
    assert (
        sample(
            registry,
            "queue_message_processing_duration_seconds_bucket",
            **ORDERS_LABELS,
            le="0.025",
        )
        == 9
    )
    assert (
        abs(
            sample(registry, "queue_message_processing_duration_seconds_sum", **ORDERS_LABELS)
            - 0.18
        )
        < 1e-9
    )
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) == 5 + 4
    assert sample(registry, "queue_depth", **ORDERS_LABELS) == 98  # pod-1 reported last (100 - 2)


def test_delta_sdk_exports_add_up():
    stage, registry = wired()
    producer = Producer("pod-1", delta=True)
    total = 0
    for messages in (3, 0, 5, 1):
        record_work(producer, messages)
        total += messages
        assert stage.process_metrics(producer.export()) is None
        assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == total
    assert (
        sample(registry, "queue_message_processing_duration_seconds_count", **ORDERS_LABELS)
        == total
    )
    assert sample(registry, "queue_processing_messages", **ORDERS_LABELS) == total
    assert (
        sample(registry, "queue_collector_mapping_points_ignored_total", reason="overlapping_delta")
        is None
    )

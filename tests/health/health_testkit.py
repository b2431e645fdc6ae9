"""A producer made of the real OpenTelemetry SDK, a receiver on free ports, and HTTP helpers.

:class:`QueueProducer` records the catalog's instruments the way ``queue_telemetry`` does and
:meth:`QueueProducer.export` sends what it has collected to the running receiver with the SDK's
OTLP gRPC exporter, so the health stage sees exactly what a producer sends.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request

from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from queue_telemetry.catalog import instrument

from queue_collector.config import AdminConfig, OtlpReceiverConfig, ReceiverConfig, default_config
from queue_collector.exporters.config import ExportersConfig, SignalExportConfig
from queue_collector.health.config import HealthConfig

_PROCESS_BUCKETS = instrument("messaging.process.duration").buckets


def receiver_config(tmp_path, health: HealthConfig | None = None, **changes) -> ReceiverConfig:
    """Defaults on free 127.0.0.1 ports, files under ``tmp_path``, the report never cached."""
    return dataclasses.replace(
        default_config(),
        otlp=OtlpReceiverConfig(endpoint="127.0.0.1:0", worker_threads=4),
        admin=AdminConfig(endpoint="127.0.0.1:0"),
        exporters=ExportersConfig(
            traces=SignalExportConfig(file=str(tmp_path / "traces.jsonl")),
            logs=SignalExportConfig(file=str(tmp_path / "logs.jsonl")),
        ),
        health=health or HealthConfig(cache_seconds=0.0),
        shutdown_timeout_seconds=5.0,
        **changes,
    )


def get(url: str) -> tuple[int, dict]:
    """GET ``url``; the status and the decoded JSON body (also for 4xx/5xx answers)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class QueueProducer:
    """One producer process of ``service``, recording queue telemetry with the SDK."""

    def __init__(self, service: str, *, delta: bool = False, instance: str = "instance-1") -> None:
        temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
        self.reader = InMemoryMetricReader(
            preferred_temporality={Counter: temporality, Histogram: temporality}
        )
        self.provider = MeterProvider(
            resource=Resource.create({"service.name": service, "service.instance.id": instance}),
            metric_readers=[self.reader],
            views=[View(instrument_name="messaging.process.duration",
                        aggregation=ExplicitBucketHistogramAggregation(_PROCESS_BUCKETS))],
        )
        meter = self.provider.get_meter("queue_telemetry")
        self.sent = meter.create_counter("messaging.client.sent.messages", "{message}")
        self.consumed = meter.create_counter("messaging.client.consumed.messages", "{message}")
        self.operation_duration = meter.create_histogram("messaging.client.operation.duration", "s")
        self.process_duration = meter.create_histogram("messaging.process.duration", "s")
        self.errors = meter.create_counter("queue.errors", "{error}")
        self.dead_lettered = meter.create_counter("queue.messages.dead_lettered", "{message}")
        self.dlq_depth = meter.create_gauge("queue.dlq.depth", "{message}")
        self.health_status = meter.create_gauge("queue.health.status", "1")

    @staticmethod
    def _queue(queue: str, **extra: str) -> dict[str, str]:
        return {"messaging.system": "in_memory", "messaging.destination.name": queue, **extra}

    def send(self, queue: str, count: int = 1) -> None:
        for _ in range(count):
            self.sent.add(1, self._queue(queue, **{"messaging.operation.name": "send"}))
            self.operation_duration.record(
                0.002, self._queue(queue, **{"messaging.operation.name": "send", "messaging.operation.type": "send"})
            )

    def fail_send(self, queue: str, error_type: str, count: int = 1) -> None:
        for _ in range(count):
            attributes = self._queue(queue, **{"messaging.operation.name": "send",
                                               "messaging.operation.type": "send", "error.type": error_type})
            self.operation_duration.record(0.5, attributes)
            self.errors.add(1, self._queue(queue, **{"queue.error.operation": "send", "error.type": error_type}))

    def process(self, queue: str, count: int = 1, seconds: float = 0.01, error_type: str | None = None) -> None:
        for _ in range(count):
            extra = {"messaging.operation.name": "process"}
            if error_type:
                extra["error.type"] = error_type
            self.process_duration.record(seconds, self._queue(queue, **extra))
            if error_type:
                self.errors.add(1, self._queue(queue, **{"queue.error.operation": "process", "error.type": error_type}))

    def dead_letter(self, queue: str, count: int, depth: int) -> None:
        self.dead_lettered.add(count, self._queue(queue, **{"queue.dead_letter.reason": "processing_failed"}))
        self.dlq_depth.set(depth, self._queue(queue))

    def report_check(self, check: str, value: int, queue: str | None = None) -> None:
        attributes = {"queue.health.check": check}
        if queue:
            attributes.update(self._queue(queue))
        self.health_status.set(value, attributes)

    def request(self):
        """What the producer has collected, as an ExportMetricsServiceRequest."""
        return encode_metrics(self.reader.get_metrics_data())

    def export(self, app) -> None:
        """Collects and sends everything to ``app`` over OTLP gRPC with the SDK's exporter."""
        exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{app.otlp_port}", insecure=True)
        try:
            result = exporter.export(self.reader.get_metrics_data())
        finally:
            exporter.shutdown()
        assert result.name == "SUCCESS"

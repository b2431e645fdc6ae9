"""Cost of the metric mapping stage against decoding alone, measured in the same run.

Requests are encoded by the OpenTelemetry SDK, as producers send them:

* ``metrics cumulative`` / ``metrics delta``: every catalog instrument recorded over QUEUES
  queues by one process, collected ROUNDS times (each collection a request with later
  timestamps, so every point advances its stream as in steady state);
* ``traces``: messaging send/process spans (conventional attributes), through
  ``process_traces`` with the default settings (legacy check only), with ``span_metrics``
  on, and legacy Rust-runtime spans being renamed.

For each case it prints the time per data point (or span) of decoding alone and of decoding
plus the stage, and their ratio. Usage: ``python benchmarks/mapping_cost.py [--repeat 5]``.
Numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "collector"), str(ROOT / "src")]

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # noqa: E402
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from queue_collector.metric_mapping import MetricMappingConfig, MetricMappingStage  # noqa: E402
from queue_collector.metric_mapping.config import SpanMetricsConfig  # noqa: E402

QUEUES = 20
ROUNDS = 60
SPANS_PER_REQUEST = 512


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


def metric_requests(delta: bool) -> tuple[list[bytes], int]:
    """ROUNDS requests of the producers' instruments, and their total point count."""
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    from queue_telemetry import catalog
    from queue_telemetry.catalog import InstrumentKind

    temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
    reader = InMemoryMetricReader(
        preferred_temporality={Counter: temporality, Histogram: temporality, UpDownCounter: temporality}
    )
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(
        {"service.name": "orders-service", "service.instance.id": "bench-1"}))
    meter = provider.get_meter("queue_telemetry", "0.1.0")
    recorders = []
    for item in catalog.INSTRUMENTS:
        if item.kind is InstrumentKind.GAUGE:
            continue
        create = {InstrumentKind.COUNTER: meter.create_counter,
                  InstrumentKind.UP_DOWN_COUNTER: meter.create_up_down_counter,
                  InstrumentKind.HISTOGRAM: meter.create_histogram}[item.kind]
        instrument = create(item.name, unit=item.unit)
        recorders.append(instrument.record if item.kind is InstrumentKind.HISTOGRAM else instrument.add)
    rng = random.Random(3)
    requests, points = [], 0
    for _ in range(ROUNDS):
        for record in recorders:
            for queue in range(QUEUES):
                attributes = {"messaging.system": "aws_sqs", "messaging.destination.name": f"queue-{queue}",
                              "messaging.operation.name": "send", "messaging.operation.type": "send",
                              "queue.error.operation": "send", "queue.dead_letter.reason": "ttl_expired"}
                record(rng.random(), attributes)
        message = encode_metrics(reader.get_metrics_data())
        for resource_metrics in message.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points += len(getattr(metric, metric.WhichOneof("data")).data_points)
        requests.append(message.SerializeToString())
        time.sleep(0.001)  # later timestamps in the next collection
    return requests, points


def trace_request(legacy: bool) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    resource = {"service.name": "orders-service", "service.instance.id": "bench-1"}
    if legacy:
        resource["telemetry.sdk.language"] = "rust"
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("queue_telemetry", "0.1.0")
    rng = random.Random(7)
    for index in range(SPANS_PER_REQUEST // 2):
        queue = f"queue-{index % QUEUES}"
        message_id = f"{rng.getrandbits(64):016x}"
        for operation, kind in (("send", SpanKind.PRODUCER), ("process", SpanKind.CONSUMER)):
            if legacy:
                attributes = {"queue.name": queue, "message.id": message_id, "queue.operation": operation}
            else:
                attributes = {"messaging.system": "aws_sqs", "messaging.destination.name": queue,
                              "messaging.message.id": message_id, "messaging.operation.name": operation,
                              "messaging.operation.type": operation}
            with tracer.start_as_current_span(f"{operation} {queue}", kind=kind, attributes=attributes):
                pass
    message = encode_spans(exporter.get_finished_spans())
    # The SDK sets telemetry.sdk.language=python; the legacy case poses as the Rust runtime.
    for resource_spans in message.resource_spans:
        for item in resource_spans.resource.attributes:
            if item.key == "telemetry.sdk.language":
                item.value.string_value = "rust" if legacy else "python"
    return message.SerializeToString()


def best_of(repeat: int, *runs: Callable[[], None]) -> list[float]:
    """The best time of each run, taking turns so that load from elsewhere hits all alike."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def measure_metrics(label: str, delta: bool, repeat: int) -> None:
    requests, points = metric_requests(delta)
    decode = ExportMetricsServiceRequest.FromString

    def decode_only() -> None:
        for raw in requests:
            decode(raw)

    def with_stage() -> None:
        stage = MetricMappingStage(MetricMappingConfig(), clock=_Clock())
        for raw in requests:
            stage.process_metrics(decode(raw))

    def construct_only() -> None:
        MetricMappingStage(MetricMappingConfig(), clock=_Clock())

    base, total, construct = best_of(repeat, decode_only, with_stage, construct_only)
    report(label, "point", points, base, total - construct)


def measure_traces(label: str, legacy: bool, config: MetricMappingConfig, repeat: int, copies: int = 20) -> None:
    raw = trace_request(legacy)
    decode = ExportTraceServiceRequest.FromString
    stage = MetricMappingStage(config, clock=_Clock())

    def decode_only() -> None:
        for _ in range(copies):
            decode(raw)

    def with_stage() -> None:
        for _ in range(copies):
            stage.process_traces(decode(raw))

    base, total = best_of(repeat, decode_only, with_stage)
    report(label, "span", copies * SPANS_PER_REQUEST, base, total)


def report(label: str, unit: str, items: int, decode_seconds: float, total_seconds: float) -> None:
    per_decode = decode_seconds / items * 1e6
    per_total = total_seconds / items * 1e6
    print(f"{label:<34} {items:>8} {unit}s  decode {per_decode:7.3f} us/{unit}  "
          f"decode+stage {per_total:7.3f} us/{unit}  ratio {per_total / per_decode:5.2f}x  "
          f"stage {per_total - per_decode:7.3f} us/{unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case; the best is kept")
    repeat = parser.parse_args().repeat
    print(f"python {sys.version.split()[0]}; best of {repeat}; ratio = (decode + stage) / decode")
    measure_metrics("metrics cumulative (SDK)", False, repeat)
    measure_metrics("metrics delta (SDK)", True, repeat)
    default = MetricMappingConfig()
    measure_traces("traces, defaults (legacy check)", False, default, repeat)
    measure_traces("traces, span_metrics on", False,
                   MetricMappingConfig(span_metrics=SpanMetricsConfig(enabled=True)), repeat)
    measure_traces("traces, legacy Rust spans renamed", True, default, repeat)
    measure_traces("traces, nothing enabled", False,
                   MetricMappingConfig(normalize_legacy_spans=False), repeat)


if __name__ == "__main__":
    main()

"""Receiver throughput against a baseline measured in the same run.

Replays realistic requests, encoded by the OpenTelemetry SDK, over raw gRPC at three servers
and prints spans/s and data points/s for each, with the ratio to the baseline:

* ``null-sink``: a Python gRPC OTLP server that decodes each request and answers (the floor
  cost of any Python receiver on this machine: the baseline);
* ``rotel``: the rotel collector dropping everything (a Rust collector, for scale), if installed;
* ``queue-collector``: the receiver as shipped, forwarding traces over OTLP to a null sink (as
  it forwards to Jaeger in production) and mapping metrics onto the unified queue metrics.

Each server runs in its own process; the load comes from this process through several client
threads. Usage: ``python benchmarks/receiver_throughput.py [--seconds 5] [--clients 4]``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
SPANS_PER_REQUEST = 512
QUEUES = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- realistic requests, encoded by the SDK ---------------------------------------------------

def trace_request_bytes() -> bytes:
    """One request of SPANS_PER_REQUEST messaging spans as the SDK's OTLP exporter encodes them."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders-service",
                                                        "service.instance.id": "bench-1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("queue_telemetry", "0.1.0")
    rng = random.Random(7)
    for index in range(SPANS_PER_REQUEST // 2):
        queue = f"queue-{index % QUEUES}"
        common = {"messaging.system": "in_memory", "messaging.destination.name": queue,
                  "messaging.message.id": f"{rng.getrandbits(64):016x}"}
        with tracer.start_as_current_span(f"send {queue}", kind=SpanKind.PRODUCER,
                                          attributes={**common, "messaging.operation.name": "send",
                                                      "messaging.operation.type": "send"}) as send:
            context = send.get_span_context()
        with tracer.start_as_current_span(f"process {queue}", kind=SpanKind.CONSUMER,
                                          links=[Link(context)],
                                          attributes={**common,
                                                      "messaging.operation.name": "process",
                                                      "messaging.operation.type": "process"}):
            pass
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def metrics_request_bytes() -> tuple[bytes, int]:
    """One request of the producers' catalog metrics over QUEUES queues, and its point count."""
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    from queue_telemetry import catalog
    from queue_telemetry.catalog import InstrumentKind

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(
        {"service.name": "orders-service", "service.instance.id": "bench-1"}))
    meter = provider.get_meter("queue_telemetry")
    for item in catalog.INSTRUMENTS:
        if item.kind is InstrumentKind.GAUGE:
            continue
        create = {InstrumentKind.COUNTER: meter.create_counter,
                  InstrumentKind.UP_DOWN_COUNTER: meter.create_up_down_counter,
                  InstrumentKind.HISTOGRAM: meter.create_histogram}[item.kind]
        instrument = create(item.name, unit=item.unit)
        record = instrument.record if item.kind is InstrumentKind.HISTOGRAM else instrument.add
        for queue in range(QUEUES):
            attributes = {"messaging.system": "in_memory",
                          "messaging.destination.name": f"queue-{queue}",
                          "messaging.operation.name": "send", "messaging.operation.type": "send",
                          "queue.error.operation": "send", "error.type": "timeout",
                          "queue.dead_letter.reason": "processing_failed"}
            record(1, attributes)
    request = encode_metrics(reader.get_metrics_data())
    points = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                points += len(getattr(metric, kind).data_points)
    return request.SerializeToString(), points


# --- servers ------------------------------------------------------------------------------------

def serve_null_sink(port: int) -> None:
    """A Python OTLP/gRPC server that decodes every request and answers success."""
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace

    def handler(request_type, response_type):
        empty = response_type().SerializeToString()

        def handle(raw: bytes, context) -> bytes:
            request_type.FromString(raw)
            return empty

        return grpc.unary_unary_rpc_method_handler(handle)

    services = {
        "opentelemetry.proto.collector.trace.v1.TraceService": handler(
            trace.ExportTraceServiceRequest, trace.ExportTraceServiceResponse),
        "opentelemetry.proto.collector.metrics.v1.MetricsService": handler(
            metrics.ExportMetricsServiceRequest, metrics.ExportMetricsServiceResponse),
        "opentelemetry.proto.collector.logs.v1.LogsService": handler(
            logs.ExportLogsServiceRequest, logs.ExportLogsServiceResponse),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    for service, method_handler in services.items():
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"Export": method_handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def start_null_sink() -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-null-sink", str(port)])
    wait_for_port(port, process)
    return process, port


def start_rotel() -> tuple[subprocess.Popen, int] | None:
    try:
        import rotel
    except ImportError:
        return None
    port = free_port()
    process = subprocess.Popen(
        [str(Path(rotel.__file__).parent / "rotel-agent"), "start",
         "--otlp-grpc-endpoint", f"127.0.0.1:{port}",
         "--otlp-http-endpoint", f"127.0.0.1:{free_port()}", "--exporter", "blackhole"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process, port


def start_receiver(work: Path, forward_port: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = Path(sys.executable).parent / "queue-collector"
    process = subprocess.Popen(
        [str(command), "--otlp-endpoint", f"127.0.0.1:{port}",
         "--admin-endpoint", f"127.0.0.1:{free_port()}",
         "--traces-endpoint", f"http://127.0.0.1:{forward_port}",
         "--logs-file", str(work / "logs.jsonl")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process, port


# --- load ---------------------------------------------------------------------------------------

def replay(port: int, method: str, payload: bytes, seconds: float, clients: int) -> tuple[int, int]:
    """Sends ``payload`` from ``clients`` threads for ``seconds``; returns (answered, refused)."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                    options=[("grpc.max_send_message_length", 64 << 20)])
    call = channel.unary_unary(method)
    grpc.channel_ready_future(channel).result(timeout=10)
    answered = [0] * clients
    refused = [0] * clients
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        while time.monotonic() < deadline:
            try:
                call(payload, timeout=30)
                answered[index] += 1
            except grpc.RpcError:
                refused[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    channel.close()
    return sum(answered), sum(refused)


def measure(name: str, port: int, traces: bytes, metrics: bytes, points: int,
            seconds: float, clients: int) -> dict:
    replay(port, TRACE_METHOD, traces, 0.5, clients)  # warm-up
    answered, refused = replay(port, TRACE_METHOD, traces, seconds, clients)
    spans_per_second = answered * SPANS_PER_REQUEST / seconds
    answered_m, refused_m = replay(port, METRICS_METHOD, metrics, seconds, clients)
    points_per_second = answered_m * points / seconds
    return {"name": name, "spans/s": spans_per_second, "points/s": points_per_second,
            "refused": refused + refused_m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load time per signal (5)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (4)")
    parser.add_argument("--serve-null-sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_null_sink:
        serve_null_sink(args.serve_null_sink)
        return

    import tempfile

    traces = trace_request_bytes()
    metrics, points = metrics_request_bytes()
    print(f"requests: {SPANS_PER_REQUEST} spans ({len(traces)} bytes); "
          f"{points} metric points ({len(metrics)} bytes); {args.clients} clients, "
          f"{args.seconds:g} s per signal; {os.cpu_count()} cores")
    results = []
    started: list[subprocess.Popen] = []
    try:
        sink, sink_port = start_null_sink()
        started.append(sink)
        results.append(measure("null-sink (baseline)", sink_port, traces, metrics, points,
                               args.seconds, args.clients))
        rotel = start_rotel()
        if rotel:
            started.append(rotel[0])
            results.append(measure("rotel (blackhole)", rotel[1], traces, metrics, points,
                                   args.seconds, args.clients))
            rotel[0].terminate()
        with tempfile.TemporaryDirectory() as work:
            receiver, receiver_port = start_receiver(Path(work), sink_port)
            started.append(receiver)
            results.append(measure("queue-collector", receiver_port, traces, metrics, points,
                                   args.seconds, args.clients))
            receiver.terminate()
            receiver.wait(60)
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
                process.wait(30)

    baseline = results[0]
    print(f"{'server':<24}{'spans/s':>12}{'ratio':>8}{'points/s':>12}{'ratio':>8}{'refused':>9}")
    for row in results:
        print(f"{row['name']:<24}{row['spans/s']:>12,.0f}"
              f"{row['spans/s'] / baseline['spans/s']:>8.2f}"
              f"{row['points/s']:>12,.0f}{row['points/s'] / baseline['points/s']:>8.2f}"
              f"{row['refused']:>9}")


if __name__ == "__main__":
    main()

"""What the redaction stage costs on top of decoding, measured in one run.

Builds realistic trace requests with the OpenTelemetry SDK (TracerProvider + InMemorySpanExporter,
encoded by the OTLP exporter's ``encode_spans``): messaging spans with send/process pairs,
links, an event on every tenth span and resource attributes. Then times, per request and per
span:

* ``decode only``: ``ExportTraceServiceRequest.FromString`` (the baseline every receiver pays);
* for each screen engine (``python``; ``hyperscan`` when installed), decode + ``screen`` + (only
  if the screen says so) ``process_traces`` with the default config, on requests with no secret
  and message ids that hold no digit runs, with no secret and random hex message ids, and with a
  secret (a card number, a bearer token, a connection string or a URL password, in turn) in 1%
  of the spans;
* ``every span walked``: an allow-list naming every key, which makes the stage walk every span
  (what allow-list mode costs).

Usage: ``python benchmarks/redaction_cost.py [--spans 512] [--seconds 2]``. Prints a table with
the ratios to the baseline. The numbers depend on the machine; compare rows, not runs.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace
from typing import Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.id_generator import IdGenerator

from queue_collector.redaction import RedactionStage, default_config
from queue_collector.redaction.screen import hyperscan_available

#: Every attribute key of the generated spans: an allow-list that keeps everything but forces
#: the stage to walk every span (the screen cannot skip requests in allow-list mode).
ALL_KEYS = (
    "messaging.system", "messaging.destination.name", "messaging.message.id",
    "messaging.message.body.size", "server.address", "order.id", "messaging.operation.name",
    "messaging.operation.type", "retry.count", "retry.reason",
)

_SECRETS = (
    ("payment.card", "4111 1111 1111 1111"),
    ("http.request.header.x_forward", "Bearer abcdefghijklmnopqrstuvwxyz0123456789"),
    ("servicebus.endpoint", "Endpoint=sb://orders.servicebus.windows.net/;"
     "SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkw="),
    ("db.connection", "postgresql://orders:hunter2hunter2@db.internal:5432/orders"),
)


class _SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator, so every run measures the same bytes."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


def trace_request_bytes(spans: int, secret_every: int = 0, seed: int = 7, hex_ids: bool = True) -> bytes:
    """One SDK-encoded request of ``spans`` messaging spans; every ``secret_every``-th carries a secret.

    ``hex_ids``: message ids are 32 random hex digits (about 1 in 25 holds 13 decimal digits in a
    row, which the card-number probe cannot tell from a card); otherwise ``msg-<counter>``.
    """
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind

    exporter = InMemorySpanExporter()
    rng = random.Random(seed)
    provider = TracerProvider(
        id_generator=_SeededIds(rng),
        resource=Resource.create(
            {
                "service.name": "orders-service",
                "service.instance.id": "bench-1",
                "deployment.environment.name": "production",
                "host.name": "orders-7d9f8c-x2k4p",
            }
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("queue_telemetry", "0.1.0")
    made = 0
    secrets_placed = 0
    while made < spans:
        queue = f"orders-{made % 20}"
        common = {
            "messaging.system": "servicebus",
            "messaging.destination.name": queue,
            "messaging.message.id": f"{rng.getrandbits(128):032x}" if hex_ids else f"msg-{made}",
            "messaging.message.body.size": rng.randrange(100, 5000),
            "server.address": "orders.servicebus.windows.net",
            "order.id": f"ord-{rng.randrange(10**7, 10**8)}",
        }
        with tracer.start_as_current_span(
            f"send {queue}",
            kind=SpanKind.PRODUCER,
            attributes={**common, "messaging.operation.name": "send", "messaging.operation.type": "send"},
        ) as send:
            context = send.get_span_context()
        made += 1
        attributes = {**common, "messaging.operation.name": "process", "messaging.operation.type": "process"}
        if secret_every and made % secret_every == 1:
            key, value = _SECRETS[secrets_placed % len(_SECRETS)]
            attributes[key] = value
            secrets_placed += 1
        with tracer.start_as_current_span(
            f"process {queue}", kind=SpanKind.CONSUMER, links=[Link(context)], attributes=attributes
        ) as process:
            if made % 10 == 0:
                process.add_event("message.retry", {"retry.count": 1, "retry.reason": "lock lost"})
        made += 1
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def _time(action: Callable[[], None], seconds: float) -> float:
    """Mean seconds per call over at least ``seconds`` (after one warm-up call)."""
    action()
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        action()
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=512, help="spans per request (default 512)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    options = parser.parse_args()

    requests = {
        "clean, counter ids": trace_request_bytes(options.spans, hex_ids=False),
        "clean, hex ids": trace_request_bytes(options.spans),
        "1% secrets, hex ids": trace_request_bytes(options.spans, secret_every=100),
    }
    first = ExportTraceServiceRequest.FromString(requests["clean, hex ids"])
    spans = sum(len(scope.spans) for resource in first.resource_spans for scope in resource.scope_spans)
    engines = ["python"] + (["hyperscan"] if hyperscan_available() else [])

    def decode() -> None:
        ExportTraceServiceRequest.FromString(requests["clean, hex ids"])

    def full(stage: RedactionStage, raw: bytes) -> Callable[[], None]:
        def run() -> None:
            request = ExportTraceServiceRequest.FromString(raw)
            if stage.screen(raw):
                stage.process_traces(request)

        return run

    rows = [("decode only (baseline)", _time(decode, options.seconds))]
    for engine in engines:
        stage = RedactionStage(replace(default_config(), screen_engine=engine))
        for name, raw in requests.items():
            label = f"{engine}: {name} (screen {stage.screen(raw)})"
            rows.append((label, _time(full(stage, raw), options.seconds)))
        walk_all = RedactionStage(replace(default_config(), screen_engine=engine, allow_all_keys=False,
                                          allowed_keys=ALL_KEYS))
        rows.append((f"{engine}: clean, hex ids, every span walked",
                     _time(full(walk_all, requests["clean, hex ids"]), options.seconds)))
    print(f"requests of {spans} spans, {len(requests['clean, hex ids']):,} bytes; "
          f"engines: {', '.join(engines)}")
    print(f"{'decode + screen + process':52} {'per request':>12} {'per span':>10} {'spans/s':>10} {'x decode':>9}")
    baseline = rows[0][1]
    for label, seconds in rows:
        print(
            f"{label:52} {seconds * 1e3:9.3f} ms {seconds / spans * 1e6:7.2f} us "
            f"{spans / seconds:10,.0f} {seconds / baseline:9.2f}"
        )


if __name__ == "__main__":
    main()

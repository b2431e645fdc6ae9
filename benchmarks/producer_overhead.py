"""Cost of the producer instrumentation per send, receive and process, in one run.

For each operation on the in-memory broker it measures three variants:

* ``bare``          -- the uninstrumented client call;
* ``sdk span``      -- the same call inside one plain SDK span (the floor any tracing costs);
* ``instrumented``  -- :class:`queue_telemetry.InstrumentedQueueClient` (spans, context
  propagation, metrics, logs below INFO).

Spans go to an SDK tracer provider with a processor that drops them (so exporting is not
measured), metrics to an SDK meter provider with a reader that is never collected. Prints
microseconds per operation and the ratios instrumented/bare and instrumented/sdk-span.

Usage: ``python benchmarks/producer_overhead.py [--iterations N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

from queue_telemetry import InMemoryBroker, InstrumentedQueueClient, OutgoingMessage  # noqa: E402


class _Drop(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        pass


def _best_of(repeat: int, iterations: int, setup: Callable[[], Callable[[], None]]) -> float:
    """Best time per call in microseconds over ``repeat`` runs of ``iterations`` calls."""
    best = float("inf")
    for _ in range(repeat):
        operation = setup()
        gc.collect()
        started = time.perf_counter()
        for _ in range(iterations):
            operation()
        best = min(best, (time.perf_counter() - started) / iterations * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    logging.getLogger("queue_telemetry").setLevel(logging.WARNING)

    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(_Drop())
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    tracer = tracer_provider.get_tracer("benchmark")
    n = args.iterations
    message = OutgoingMessage(b"x" * 256, {"tenant": "t1"})

    def client_pair() -> tuple[object, InstrumentedQueueClient]:
        broker = InMemoryBroker()
        inner = broker.client()
        return inner, InstrumentedQueueClient(inner, tracer_provider=tracer_provider, meter_provider=meter_provider)

    def filled(count: int) -> tuple[object, InstrumentedQueueClient]:
        inner, instrumented = client_pair()
        for _ in range(count):
            inner.send("q", message)
        return inner, instrumented

    # --- send ---------------------------------------------------------------------------------------
    def send_bare() -> Callable[[], None]:
        inner, _ = client_pair()
        return lambda: inner.send("q", message)

    def send_span() -> Callable[[], None]:
        inner, _ = client_pair()

        def call() -> None:
            with tracer.start_as_current_span("send q", kind=SpanKind.PRODUCER):
                inner.send("q", message)

        return call

    def send_instrumented() -> Callable[[], None]:
        _, instrumented = client_pair()
        return lambda: instrumented.send("q", message)

    # --- receive (one message each) -------------------------------------------------------------------
    def receive_bare() -> Callable[[], None]:
        inner, _ = filled(n)
        return lambda: inner.receive("q")

    def receive_span() -> Callable[[], None]:
        inner, _ = filled(n)

        def call() -> None:
            with tracer.start_as_current_span("receive q", kind=SpanKind.CLIENT):
                inner.receive("q")

        return call

    def receive_instrumented() -> Callable[[], None]:
        _, instrumented = filled(n)
        return lambda: instrumented.receive("q")

    # --- process (the application's handling of one received message) ---------------------------------
    def received() -> tuple[InstrumentedQueueClient, object]:
        _, instrumented = filled(1)
        (delivery,) = instrumented.receive("q")
        return instrumented, delivery

    def process_bare() -> Callable[[], None]:
        def call() -> None:
            pass

        return call

    def process_span() -> Callable[[], None]:
        def call() -> None:
            with tracer.start_as_current_span("process q", kind=SpanKind.CONSUMER):
                pass

        return call

    def process_instrumented() -> Callable[[], None]:
        instrumented, delivery = received()

        def call() -> None:
            with instrumented.process(delivery):  # type: ignore[arg-type]
                pass

        return call

    rows = [
        ("send", send_bare, send_span, send_instrumented),
        ("receive", receive_bare, receive_span, receive_instrumented),
        ("process", process_bare, process_span, process_instrumented),
    ]
    print(f"{n} operations per run, best of {args.repeat}; microseconds per operation")
    print(f"{'operation':<10}{'bare':>10}{'sdk span':>10}{'instr.':>10}{'instr/bare':>12}{'instr/span':>12}{'added':>10}")
    for name, bare, span, instrumented in rows:
        cost_bare = _best_of(args.repeat, n, bare)
        cost_span = _best_of(args.repeat, n, span)
        cost_instrumented = _best_of(args.repeat, n, instrumented)
        print(
            f"{name:<10}{cost_bare:>10.2f}{cost_span:>10.2f}{cost_instrumented:>10.2f}"
            f"{cost_instrumented / max(cost_bare, 1e-9):>12.1f}{cost_instrumented / cost_span:>12.2f}"
            f"{cost_instrumented - cost_bare:>10.2f}"
        )
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

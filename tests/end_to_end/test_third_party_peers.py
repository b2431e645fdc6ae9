"""The receiver between real third-party OTLP peers.

* In front: rotel plays the collector that the deployment puts before the receiver (it
  rebatches and gzips); the unified metrics must still equal the ground truth exactly.
* Behind: the receiver forwards traces over OTLP/gRPC (as it does to Jaeger); rotel relays them
  to a test sink, where the process spans must link to their messages' send spans.
"""

from tests.end_to_end.test_demo_to_receiver import (
    expected_counts,
    is_creation_span,
    unified_counts,
)
from tests.support.otlp_sink import OtlpSink
from tests.support.processes import Collector, http_get, run_demo, wait_until
from tests.support.rotel import RotelForwarder

SERVICE = "e2e-demo"


def test_metrics_stay_exact_through_a_collector_in_front(tmp_path):
    collector = Collector(tmp_path)
    relay = RotelForwarder(tmp_path, collector.otlp_endpoint)
    try:
        truth = run_demo(tmp_path, relay.endpoint, duration=2, rate=60, service=SERVICE)
        wanted = expected_counts(truth)
        wait_until(lambda: unified_counts(http_get(collector.url("/metrics"))[1]) == wanted,
                   30, "metrics relayed through rotel to equal the ground truth", interval=0.2)
    finally:
        relay.stop()
        collector.stop()


def test_traces_are_forwarded_over_otlp_with_links_intact(tmp_path):
    sink = OtlpSink().start()
    relay = RotelForwarder(tmp_path, f"http://{sink.endpoint}")
    collector = Collector(tmp_path, "--traces-endpoint", relay.endpoint)
    try:
        truth = run_demo(tmp_path, collector.otlp_endpoint, duration=2, rate=40, service=SERVICE)
        deliveries = sum(queue["received"] for queue in truth["queues"].values())

        def linked_process_spans(current):
            spans = current.spans()
            sends = {(s.trace_id, s.span_id) for s in spans if is_creation_span(s.name)}
            processes = [s for s in spans if s.name.startswith("process ")]
            linked = [p for p in processes
                      if any((link.trace_id, link.span_id) in sends for link in p.links)]
            # every delivery was processed once, and every process span arrived linked
            return linked if len(linked) == len(processes) == deliveries else None

        assert sink.wait_for(linked_process_spans, timeout=30)
    finally:
        assert collector.stop() == 0
        relay.stop()
        sink.stop()

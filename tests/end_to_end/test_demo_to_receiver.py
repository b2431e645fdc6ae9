"""The main job end to end: the demo workload exports through the real OpenTelemetry SDK
exporters to queue-collector, whose /metrics must equal the workload's ground truth exactly."""

import json
import shutil
import subprocess

from prometheus_client.parser import text_string_to_metric_families

from tests.end_to_end.conftest import SERVICE
from tests.support.processes import http_get, http_json, wait_until

COUNTERS = {
    "sent": "queue_messages_sent_total",
    "received": "queue_messages_received_total",
    "acknowledged": "queue_messages_acknowledged_total",
    "rejected": "queue_messages_rejected_total",
    "dead_lettered": "queue_messages_dead_lettered_total",
}


def unified_counts(exposition: str) -> dict:
    """{queue: {ground-truth key: value}} for the demo service, summed over extra labels."""
    by_name = {name: key for key, name in COUNTERS.items()}
    counts: dict = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            key = by_name.get(sample.name)
            if key is None or sample.labels.get("service") != SERVICE:
                continue
            assert sample.labels["provider"] == "in_memory"
            queue = counts.setdefault(sample.labels["queue"], dict.fromkeys(COUNTERS, 0))
            queue[key] += sample.value
    return counts


def expected_counts(truth: dict) -> dict:
    return {
        queue: {key: float(values[key]) for key in COUNTERS}
        for queue, values in truth["queues"].items()
    }


def test_the_workload_did_something_worth_checking(demo_run):
    _, truth = demo_run
    assert len(truth["queues"]) >= 3
    totals = {key: sum(q[key] for q in truth["queues"].values()) for key in COUNTERS}
    assert totals["sent"] > 100
    assert totals["rejected"] > 0 and totals["dead_lettered"] > 0
    assert totals["received"] > totals["sent"]  # redeliveries happened


def test_metrics_equal_the_ground_truth_exactly_per_queue(demo_run):
    collector, truth = demo_run
    wanted = expected_counts(truth)

    def matches():
        return unified_counts(http_get(collector.url("/metrics"))[1]) == wanted

    try:
        wait_until(matches, 15, "unified metrics to equal the ground truth")
    finally:
        print("expected:", wanted)
        print("exposed: ", unified_counts(http_get(collector.url("/metrics"))[1]))


def test_latency_histograms_count_every_operation(demo_run):
    collector, truth = demo_run
    exposition = http_get(collector.url("/metrics"))[1]
    processed = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != "queue_message_processing_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels["service"] == SERVICE:
                processed[sample.labels["queue"]] = sample.value
    # every delivery is processed once: acknowledged, rejected or dead-lettered by the handler
    assert set(processed) == set(truth["queues"])
    assert all(value > 0 for value in processed.values())


def test_health_reports_the_service_healthy(demo_run):
    collector, _ = demo_run
    status, body = http_json(collector.url("/health"))
    assert status == 200
    assert body["status"] == "healthy"
    assert SERVICE in body["services"]
    assert set(body["summary"]) >= {"total_checks", "healthy_checks", "degraded_checks",
                                    "unhealthy_checks", "total_duration"}
    status, body = http_json(collector.url(f"/health/{SERVICE}"))
    assert status == 200 and body["status"] == "healthy"


def test_promtool_accepts_the_exposition(demo_run, tmp_path):
    collector, _ = demo_run
    exposition = http_get(collector.url("/metrics"))[1]
    assert "queue_messages_sent_total" in exposition
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    checked = subprocess.run([promtool, "check", "metrics"], input=exposition,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _spans_from_file(path):
    spans = []
    for line in path.read_text().splitlines():
        request = json.loads(line)
        for resource_spans in request["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                spans.extend(scope_spans.get("spans", []))
    return spans


def is_creation_span(name: str) -> bool:
    """A message's creation context: its own ``create`` span in a batch, else the ``send`` span."""
    return name.startswith(("create ", "send "))


def test_trace_file_holds_process_spans_linked_to_their_creation_spans(demo_run):
    collector, _ = demo_run
    spans = wait_until(lambda: _spans_from_file(collector.traces_file), 10, "spans in the file")
    sends = {(s["traceId"], s["spanId"]): s for s in spans if is_creation_span(s["name"])}
    processes = [s for s in spans if s["name"].startswith("process ")]
    assert sends and processes
    linked = [
        p for p in processes
        if any((link["traceId"], link["spanId"]) in sends for link in p.get("links", []))
    ]
    assert len(linked) == len(processes), "every process span links to its message's creation"
    assert any(s["name"].startswith("create ") for s in sends.values()), "batches create spans"
    for process in linked:
        send = next(sends[(l["traceId"], l["spanId"])] for l in process["links"]
                    if (l["traceId"], l["spanId"]) in sends)
        queue = process["name"].split(" ", 1)[1]
        assert send["name"] in (f"send {queue}", f"create {queue}")
        assert len(process["traceId"]) == 32 and len(process["spanId"]) == 16


def test_logs_file_holds_records_carrying_trace_ids(demo_run):
    collector, _ = demo_run

    def records():
        found = []
        for line in collector.logs_file.read_text().splitlines():
            for resource_logs in json.loads(line)["resourceLogs"]:
                for scope_logs in resource_logs["scopeLogs"]:
                    found.extend(scope_logs.get("logRecords", []))
        return found

    found = wait_until(records, 10, "log records in the file")
    with_trace = [r for r in found if r.get("traceId") and r.get("spanId")]
    assert with_trace, "log records written inside spans carry their trace and span ids"

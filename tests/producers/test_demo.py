"""The demo's ground truth is self-consistent and equals what its telemetry says."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .conftest import clean_environment

FIELDS_TO_INSTRUMENTS = {
    "sent": "messaging.client.sent.messages",
    "received": "messaging.client.consumed.messages",
    "acknowledged": "queue.messages.acknowledged",
    "rejected": "queue.messages.rejected",
    "dead_lettered": "queue.messages.dead_lettered",
}


def test_help_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "queue_telemetry.cli", "demo", "--help"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0
    for flag in ("--duration", "--rate", "--summary-file", "default: 30", "default: 50"):
        assert flag in result.stdout


def test_demo_summary_matches_its_telemetry(sink, tmp_path: Path) -> None:
    summary_file = tmp_path / "out" / "summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "queue_telemetry.cli", "demo", "--duration", "2", "--rate", "100",
         "--summary-file", str(summary_file)],
        env=clean_environment(OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint, OTEL_SERVICE_NAME="demo-under-test"),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(summary_file.read_text())
    assert json.loads(result.stdout) == summary
    assert summary["service"] == "demo-under-test"
    assert set(summary["queues"]) == {"orders", "payments", "notifications"}
    for queue, counts in summary["queues"].items():
        assert counts["sent"] > 0, queue
        assert counts["sent"] == counts["acknowledged"] + counts["dead_lettered"], (queue, counts)
        assert counts["received"] >= counts["sent"], (queue, counts)
    orders = summary["queues"]["orders"]
    assert orders["rejected"] > 0 and orders["dead_lettered"] > 0
    assert orders["received"] == orders["acknowledged"] + orders["rejected"]

    # The final cumulative export carries exactly the workload's counts, per queue.
    sums = sink.latest_sums()
    for queue, counts in summary["queues"].items():
        for field, instrument in FIELDS_TO_INSTRUMENTS.items():
            recorded = sum(
                value for (name, attributes), value in sums.items()
                if name == instrument
                and ("messaging.destination.name", queue) in attributes
                and ("messaging.system", "in_memory") in attributes
                and not any(key == "error.type" for key, _ in attributes)
            )
            assert recorded == counts[field], (queue, field, recorded, counts[field])
    assert {resource["service.name"] for resource in sink.resources} == {"demo-under-test"}
    assert sink.span_count > 0 and sink.log_records

"""A real Prometheus server scrapes the receiver; what it stores equals the ground truth."""

import json
import shutil
import subprocess
import urllib.parse

import pytest

from tests.end_to_end.conftest import SERVICE
from tests.end_to_end.test_demo_to_receiver import COUNTERS, expected_counts
from tests.support.processes import free_port, http_get, wait_until


@pytest.fixture
def prometheus(demo_run, tmp_path):
    collector, _ = demo_run
    binary = shutil.which("prometheus")
    assert binary, "prometheus (Debian package prometheus) is required"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: queue-collector\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{collector.admin_port}']\n"
    )
    log = open(tmp_path / "prometheus.log", "w")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/-/ready", 1)[0] == 200, 60,
                   "Prometheus to be ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def query(base: str, promql: str) -> list:
    status, body = http_get(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def test_prometheus_stores_the_ground_truth(prometheus, demo_run):
    _, truth = demo_run
    wanted = expected_counts(truth)

    def stored():
        found = {}
        for key, metric in COUNTERS.items():
            for row in query(prometheus, f'sum by (queue) ({metric}{{service="{SERVICE}"}})'):
                found.setdefault(row["metric"]["queue"], dict.fromkeys(COUNTERS, 0.0))
                found[row["metric"]["queue"]][key] = float(row["value"][1])
        return found if found == wanted else None

    wait_until(stored, 60, "Prometheus to hold the ground truth", interval=0.5)


def test_prometheus_computes_latency_percentiles(prometheus):
    promql = (f'histogram_quantile(0.95, sum by (le, queue) '
              f'(queue_message_processing_duration_seconds_bucket{{service="{SERVICE}"}}))')
    rows = wait_until(lambda: query(prometheus, promql), 60, "a p95 per queue", interval=0.5)
    for row in rows:
        assert 0 < float(row["value"][1]) <= 300

"""Golden files: OTLP JSON requests in, the /metrics exposition out.

Each ``tests/testdata/mapping-<scenario>/`` holds:

* ``config.yaml``: the ``metric_mapping:`` section, loaded by the receiver's generic loader
  (``rule_files`` are relative to the scenario folder);
* ``input.json``: a list of requests in OTLP JSON, processed in order: an object with
  ``resourceMetrics`` is an ``ExportMetricsServiceRequest``, one with ``resourceSpans`` an
  ``ExportTraceServiceRequest``;
* ``expected.txt``: the exposition's sample lines, sorted (compared ignoring order; the
  exposition has no timestamps).

``REGENERATE_GOLDEN=1 pytest tests/metric_mapping/test_golden.py`` rewrites every
``expected.txt`` and then fails, so the switch is never left on by accident.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import generate_latest
from queue_collector.config_loading import load_dataclass
from queue_collector.metric_mapping import MetricMappingConfig

from .mapping_testkit import FakeClock, wired

TESTDATA = Path(__file__).resolve().parent.parent / "testdata"
SCENARIOS = sorted(path.name for path in TESTDATA.glob("mapping-*") if path.is_dir())
REGENERATE = os.environ.get("REGENERATE_GOLDEN") == "1"


def load_config(folder: Path) -> MetricMappingConfig:
    data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
    config = load_dataclass(MetricMappingConfig, data)
    files = tuple(str(folder / path) for path in config.rule_files)
    return dataclasses.replace(config, rule_files=files)


def run(folder: Path) -> list[str]:
    clock = FakeClock(1_767_225_600.0)
    stage, registry = wired(load_config(folder), clock)
    for document in json.loads((folder / "input.json").read_text(encoding="utf-8")):
        if "resourceSpans" in document:
            request = json_format.ParseDict(document, ExportTraceServiceRequest())
            assert stage.process_traces(request) is None
        else:
            request = json_format.ParseDict(document, ExportMetricsServiceRequest())
            assert stage.process_metrics(request) is None, "golden inputs are all valid"
        clock.now += 1.0
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if line and not line.startswith("#"))


def test_every_scenario_of_the_issue_has_a_golden_file():
    expected = {
        "producers", "rust-runtime", "cloudwatch-json", "cloudwatch-otel1", "azure-monitor",
        "overflow", "spans-only",
    }
    assert expected <= {name[len("mapping-"):] for name in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_golden(scenario):
    folder = TESTDATA / scenario
    actual = run(folder)
    expected_path = folder / "expected.txt"
    if REGENERATE:
        expected_path.write_text("\n".join(actual) + "\n", encoding="utf-8")
        pytest.fail(f"regenerated {expected_path}; unset REGENERATE_GOLDEN and review the diff")
    expected = expected_path.read_text(encoding="utf-8").splitlines()
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    assert not missing and not unexpected, (
        f"{scenario}: missing lines {missing}\nunexpected lines {unexpected}"
    )
    assert sorted(expected) == actual  # same multiset, order ignored

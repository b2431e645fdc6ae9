"""Shared paths and helpers for the deployment tests (collector configs, Prometheus,
Alertmanager, Grafana, compose, Dockerfile, Helm chart).

Golden files (the chart's copies of the collector configuration and dashboards, and each chart
example's rendered manifests) are rewritten instead of compared when the environment variable
``QUEUE_TELEMETRY_REGENERATE`` is ``1``; the run then fails on purpose so the switch is never
left on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OTEL_CONFIG = REPO / "otel-config"
CHART = REPO / "helm" / "queue-telemetry"

#: Set to 1 to rewrite golden files; the test that rewrote one fails afterwards.
REGENERATE_VARIABLE = "QUEUE_TELEMETRY_REGENERATE"


def regenerating() -> bool:
    """True when golden files are to be rewritten rather than compared."""
    return os.environ.get(REGENERATE_VARIABLE) == "1"


def assert_golden(path: Path, expected: str, how_to_fix: str) -> None:
    """Compares ``path`` with ``expected``, or rewrites it (and fails) when regenerating."""
    if regenerating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected, encoding="utf-8")
        pytest.fail(f"{REGENERATE_VARIABLE}=1: rewrote {path.relative_to(REPO)}; unset it and rerun")
    assert path.exists(), f"{path.relative_to(REPO)} is missing; {how_to_fix}"
    actual = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.relative_to(REPO)} is out of date; {how_to_fix}"

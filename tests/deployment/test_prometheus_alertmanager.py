"""Prometheus scrape configuration, Alertmanager example and the chart's rule file are valid
for the real tools (promtool and amtool from the Prometheus and Alertmanager packages)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from deployment_support import CHART, OTEL_CONFIG

PROMETHEUS_CONFIG = OTEL_CONFIG / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = OTEL_CONFIG / "alertmanager" / "alertmanager.yml"
CHART_RULES = CHART / "files" / "prometheus-rules.yaml"


def _run(tool: str, *arguments: str) -> subprocess.CompletedProcess:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not on PATH (install the Debian prometheus / prometheus-alertmanager packages)")
    return subprocess.run([tool, *arguments], capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_the_scrape_config() -> None:
    result = _run("promtool", "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_chart_rule_file() -> None:
    result = _run("promtool", "check", "rules", str(CHART_RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_example() -> None:
    result = _run("amtool", "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_are_routed_by_severity() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    routes = {tuple(route["matchers"]): route["receiver"] for route in config["route"]["routes"]}
    assert routes[('severity="critical"',)] == "pagerduty-critical"
    assert routes[('severity=~"critical|warning"',)] == "slack-warnings"
    assert routes[('severity="info"',)] == "info-webhook"
    assert {"service", "queue"} <= set(config["route"]["group_by"])
    receivers = {receiver["name"] for receiver in config["receivers"]}
    assert set(routes.values()) | {config["route"]["receiver"]} <= receivers
    # Every notification also says when the problem is over.
    for receiver in config["receivers"]:
        for key, channels in receiver.items():
            if key.endswith("_configs"):
                assert all(channel.get("send_resolved") for channel in channels), receiver["name"]


def test_scrape_jobs_target_the_compose_services() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    receiver = jobs["queue-collector"]
    assert receiver["metrics_path"] == "/metrics"
    assert receiver["dns_sd_configs"] == [
        {"names": ["queue-collector"], "type": "A", "port": 9464, "refresh_interval": "15s"}
    ]
    assert jobs["otel-collector"]["static_configs"] == [{"targets": ["otel-collector:8888"]}]

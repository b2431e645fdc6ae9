"""The shipped alert rules as Prometheus rules: the committed files are what the generator
writes, promtool accepts them, and promtool's unit tests fire and clear every alert."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from queue_collector.alerting.prometheus_rules import main, render_rule_file, render_unit_tests
from queue_collector.alerting.rules import load_rule_set

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "otel-config" / "prometheus" / "rules" / "queue-alerts.yml"
UNIT_TESTS = REPO / "otel-config" / "prometheus" / "rules" / "queue-alerts.test.yml"
CHART_RULES = REPO / "helm" / "queue-telemetry" / "files" / "prometheus-rules.yaml"
REGENERATE = ("python -m queue_collector.alerting.prometheus_rules --rules " + " --rules ".join(
    str(path.relative_to(REPO)) for path in (RULES, CHART_RULES)) + f" --tests {UNIT_TESTS.relative_to(REPO)}")


def promtool(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is not on PATH (Debian package prometheus)")
    return subprocess.run(["promtool", *arguments], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def test_committed_files_are_what_the_generator_writes():
    rules = render_rule_file()
    assert RULES.read_text(encoding="utf-8") == rules, f"regenerate with: {REGENERATE}"
    assert CHART_RULES.read_text(encoding="utf-8") == rules, f"regenerate with: {REGENERATE}"
    assert UNIT_TESTS.read_text(encoding="utf-8") == render_unit_tests(), f"regenerate with: {REGENERATE}"
    assert main(["--check", "--rules", str(RULES), "--rules", str(CHART_RULES), "--tests", str(UNIT_TESTS)]) == 0


def test_every_shipped_rule_is_a_prometheus_alert_with_its_severity():
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    alerts = {rule["alert"]: rule for group in groups for rule in group["rules"]}
    shipped = load_rule_set([]).rules
    assert list(alerts) == [rule.name for rule in shipped]
    for rule in shipped:
        assert alerts[rule.name]["labels"]["severity"] == rule.severity.value
    assert alerts["QueueHealthCheckFailing"]["expr"].startswith("max by (service, queue, check) (queue_health_status)")
    assert alerts["QueueHealthCheckFailing"]["for"] == "30s"  # 3 evaluations of 15 s
    assert "> 0)" in alerts["QueueProcessingErrorRateHigh"]["expr"]  # never divides by zero
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["tests"]
    assert sorted(test["alert_rule_test"][0]["alertname"] for test in tests) == sorted(alerts)


def test_promtool_checks_the_rules_and_runs_the_unit_tests():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_other_condition_variants_also_fire_and_clear_in_promtool(tmp_path):
    user_rules = tmp_path / "mine.yaml"
    user_rules.write_text(textwrap.dedent("""
        rules:
          - name: FewConsumers
            description: "{queue} has {value} sessions"
            severity: info
            for_seconds: 90
            labels: {team: payments}
            condition:
              metric_threshold: {metric: queue_active_sessions, operator: "<", threshold: 2, matchers: {queue: orders}}
          - name: OrdersDeadLettered
            severity: critical
            condition:
              metric_threshold: {metric: queue_messages_dead_lettered_total, operator: ">=", threshold: 10}
          - name: RefundsDegraded
            severity: warning
            condition:
              health_check_failure: {check: dead_letter_queues, consecutive_failures: 5, minimum_status: degraded,
                                     matchers: {service: refunds}}
          - name: BillingReceiveErrors
            description: "{service} receive error rate {value}"
            severity: warning
            for_seconds: 60
            condition:
              error_rate: {operation: receive, threshold: 0.5, window_seconds: 600, matchers: {service: billing}}
          - name: OrdersDepth
            severity: critical
            condition:
              queue_depth: {threshold: 5, matchers: {queue: orders}}
    """), encoding="utf-8")
    rules_path, tests_path = tmp_path / "queue-alerts.yml", tmp_path / "queue-alerts.test.yml"
    assert main(["--rule-file", str(user_rules), "--rules", str(rules_path), "--tests", str(tests_path)]) == 0
    checked = promtool("check", "rules", str(rules_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", tests_path.name, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {rule["alert"]: rule for rule in yaml.safe_load(rules_path.read_text())["groups"][0]["rules"]}
    assert alerts["FewConsumers"]["expr"] == 'queue_active_sessions{queue="orders"} < 2'
    assert alerts["FewConsumers"]["annotations"]["description"] == "{{ $labels.queue }} has {{ $value }} sessions"
    assert alerts["RefundsDegraded"]["for"] == "1m"
    assert '{__name__=~"queue_messages_received_total|queue_receive_errors_total", service="billing"}[10m]' in (
        alerts["BillingReceiveErrors"]["expr"])

"""Alert evaluation driven with evaluate_once(now), delivered to real servers on 127.0.0.1."""

from __future__ import annotations

import logging
import textwrap
from typing import Iterator

import pytest
from prometheus_client import CollectorRegistry

from queue_collector.alerting import AlertingConfig, AlertingService, DeliveryConfig, SecretError
from queue_collector.alerting.rules import load_rule_set
from queue_collector.config_loading import ConfigError
from queue_collector.health.checks import CheckResult, HealthStatus
from queue_collector.health.report import HealthReport
from tests.support.timing import wait_until

from .alerting_testkit import RecordingHttpServer, SmtpServer, closed_port_url

T0 = 1_700_000_000.0
ORDERS = {"service": "checkout", "provider": "in_memory", "queue": "orders"}


@pytest.fixture
def http() -> Iterator[RecordingHttpServer]:
    server = RecordingHttpServer()
    yield server
    server.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


class Inputs:
    """What the evaluator reads: unified samples and a health report, set by the test."""

    def __init__(self) -> None:
        self.samples: dict = {}
        self.results: list[CheckResult] = []

    def depth(self, value: float, **labels: str) -> None:
        self.samples["queue_depth"] = [({**ORDERS, **labels}, value)]

    def report(self) -> HealthReport:
        return HealthReport(T0, tuple(self.results), ("x",), 0.0)


def service(tmp_path, rules_yaml: str, inputs: Inputs, environment=None, **delivery) -> AlertingService:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(rules_yaml), encoding="utf-8")
    config = AlertingConfig(
        shipped_rules=False, rule_files=(str(path),),
        delivery=DeliveryConfig(initial_backoff_seconds=0.01, max_backoff_seconds=0.05,
                                **{"max_attempts": 3, **delivery}),
    )
    return AlertingService(config, lambda: inputs.samples, inputs.report, environment=environment or {})


def sample(alerting: AlertingService, name: str, labels: dict) -> float | None:
    registry = CollectorRegistry()
    registry.register(alerting.collector)
    return registry.get_sample_value(name, labels)


DEPTH_RULE = """
  - name: OrdersBacklog
    description: "{{queue}} of {{service}} has {{value}} messages waiting"
    severity: critical
    for_seconds: {for_seconds}
    cooldown_seconds: {cooldown}
    labels: {{team: payments}}
    channels: {channels}
    condition:
      queue_depth: {{threshold: 100, matchers: {{queue: orders}}}}
"""


def depth_rule(channels: str, for_seconds: float = 0, cooldown: float = 0) -> str:
    return DEPTH_RULE.format(channels=channels, for_seconds=for_seconds, cooldown=cooldown)


def test_every_channel_delivers_trigger_and_resolve(tmp_path, http, smtp):
    rules = textwrap.dedent(f"""
    channels:
      hook:
        webhook:
          url: {http.url}/hook
          headers: {{X-Team: payments}}
          headers_env: {{Authorization: HOOK_AUTH}}
      chat:
        slack: {{url_env: SLACK_URL, channel: "#queues"}}
      pager:
        pagerduty: {{routing_key_file: {tmp_path / "pd-key"}, events_url: {http.url}/v2/enqueue}}
      mail:
        email:
          smtp_host: 127.0.0.1
          smtp_port: {smtp.port}
          from_address: alerts@example.com
          to: [oncall@example.com, team@example.com]
    rules:
    """) + depth_rule("[hook, chat, pager, mail]")
    (tmp_path / "pd-key").write_text("R0UTINGKEY\n", encoding="utf-8")
    inputs = Inputs()
    alerting = service(tmp_path, rules, inputs, {"HOOK_AUTH": "Bearer s3cret", "SLACK_URL": f"{http.url}/slack/T0/B0/xyz"})
    try:
        inputs.depth(500)
        sent = alerting.evaluator.evaluate_once(T0)
        assert [n.status for n in sent] == ["firing"]
        wait_until(lambda: len(http.at("/hook")) == 1 and len(http.at("/slack/T0/B0/xyz")) == 1
                   and len(http.at("/v2/enqueue")) == 1 and len(smtp.messages) == 1, message="firing everywhere")

        hook = http.at("/hook")[0]
        assert hook.headers["authorization"] == "Bearer s3cret" and hook.headers["x-team"] == "payments"
        assert hook.headers["content-type"] == "application/json"
        assert hook.body["status"] == "firing" and hook.body["receiver"] == "hook"
        alert = hook.body["alert"]
        assert alert["labels"] == {**ORDERS, "team": "payments", "alertname": "OrdersBacklog", "severity": "critical"}
        assert alert["description"] == "orders of checkout has 500 messages waiting" and alert["value"] == 500

        slack = http.at("/slack/T0/B0/xyz")[0].body
        assert slack["channel"] == "#queues" and "[CRITICAL] OrdersBacklog: checkout/orders" in slack["text"]
        assert slack["blocks"][0]["type"] == "header"

        trigger = http.at("/v2/enqueue")[0].body
        assert trigger["routing_key"] == "R0UTINGKEY" and trigger["event_action"] == "trigger"
        assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "queue-collector"
        assert trigger["payload"]["group"] == "checkout" and trigger["payload"]["component"] == "orders"

        mail = smtp.messages[0]
        assert mail.mail_from == "alerts@example.com"
        assert mail.rcpt_tos == ["oncall@example.com", "team@example.com"]
        text = mail.content.decode("utf-8")
        assert "Subject: [queue-collector] [CRITICAL] OrdersBacklog: checkout/orders" in text

        inputs.depth(20)
        sent = alerting.evaluator.evaluate_once(T0 + 15)
        assert [n.status for n in sent] == ["resolved"]
        wait_until(lambda: len(http.at("/v2/enqueue")) == 2 and len(smtp.messages) == 2
                   and len(http.at("/hook")) == 2 and len(http.at("/slack/T0/B0/xyz")) == 2, message="resolved everywhere")
        resolve = http.at("/v2/enqueue")[1].body
        assert resolve == {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
        assert http.at("/hook")[1].body["status"] == "resolved"
        assert http.at("/hook")[1].body["alert"]["ends_at"] is not None
        assert "[RESOLVED] OrdersBacklog" in http.at("/slack/T0/B0/xyz")[1].body["text"]
        assert "[RESOLVED]" in smtp.messages[1].content.decode("utf-8")
        for channel in ("hook", "chat", "pager", "mail"):
            wait_until(lambda: sample(alerting, "queue_collector_alert_notifications_total",
                                      {"channel": channel, "outcome": "delivered"}) == 2, message=f"{channel} counted")
    finally:
        alerting.stop(5.0)


def test_a_channel_that_is_down_is_retried_and_counted_while_others_deliver(tmp_path, http, caplog):
    http.statuses["/flaky"] = [503, 202]
    rules = textwrap.dedent(f"""
    channels:
      down:
        slack: {{url_env: DOWN_URL}}
      flaky:
        webhook: {{url: {http.url}/flaky}}
      up:
        webhook: {{url: {http.url}/up}}
    rules:
    """) + depth_rule("[down, flaky, up]")
    down_url = closed_port_url().replace("/hook", "/services/T1/B1/SECRETTOKEN")
    inputs = Inputs()
    alerting = service(tmp_path, rules, inputs, {"DOWN_URL": down_url})
    try:
        inputs.depth(500)
        with caplog.at_level(logging.WARNING):
            alerting.evaluator.evaluate_once(T0)
            wait_until(lambda: sample(alerting, "queue_collector_alert_notifications_total",
                                      {"channel": "down", "outcome": "failed"}) == 1, message="down channel gives up")
        wait_until(lambda: len(http.at("/up")) == 1, message="the up channel delivered")
        wait_until(lambda: sample(alerting, "queue_collector_alert_notifications_total",
                                  {"channel": "flaky", "outcome": "delivered"}) == 1, message="flaky delivered")
        assert len(http.at("/flaky")) == 2  # a 503, then the retry
        assert sample(alerting, "queue_collector_alert_delivery_attempts_total", {"channel": "down", "outcome": "error"}) == 3
        assert sample(alerting, "queue_collector_alert_delivery_attempts_total", {"channel": "flaky", "outcome": "error"}) == 1
        assert "attempt 3 of 3" in caplog.text and "channel down" in caplog.text
        assert "SECRETTOKEN" not in caplog.text and "/services/" not in caplog.text
    finally:
        alerting.stop(5.0)


def test_for_is_honoured_pending_does_not_notify(tmp_path, http):
    rules = f"channels:\n  hook:\n    webhook: {{url: {http.url}/hook}}\nrules:\n" + depth_rule("[hook]", for_seconds=60)
    inputs = Inputs()
    alerting = service(tmp_path, rules, inputs)
    try:
        inputs.depth(500)
        assert alerting.evaluator.evaluate_once(T0) == []
        assert [a.state for a in alerting.evaluator.active_alerts()] == ["pending"]
        inputs.depth(20)  # gone before `for` elapsed: dropped silently, nothing resolved
        assert alerting.evaluator.evaluate_once(T0 + 15) == []
        assert alerting.evaluator.active_alerts() == []
        inputs.depth(500)
        assert alerting.evaluator.evaluate_once(T0 + 30) == []
        assert alerting.evaluator.evaluate_once(T0 + 75) == []  # pending for 45 s
        assert [n.status for n in alerting.evaluator.evaluate_once(T0 + 90)] == ["firing"]
        assert sample(alerting, "queue_collector_alerts", {"rule": "OrdersBacklog", "severity": "critical", "state": "firing"}) == 1
        wait_until(lambda: len(http.at("/hook")) == 1, message="one firing notification")
    finally:
        alerting.stop(5.0)


def test_cooldown_re_notifies_while_firing(tmp_path, http):
    rules = f"channels:\n  hook:\n    webhook: {{url: {http.url}/hook}}\nrules:\n" + depth_rule("[hook]", cooldown=300)
    inputs = Inputs()
    alerting = service(tmp_path, rules, inputs)
    try:
        inputs.depth(500)
        statuses = [[n.status for n in alerting.evaluator.evaluate_once(T0 + offset)] for offset in (0, 100, 200, 300, 400)]
        assert statuses == [["firing"], [], [], ["firing"], []]
        wait_until(lambda: len(http.at("/hook")) == 2, message="two notifications")
        first, second = (item.body["alert"] for item in http.at("/hook"))
        assert first["fingerprint"] == second["fingerprint"] and first["starts_at"] == second["starts_at"]
    finally:
        alerting.stop(5.0)


def test_error_rate_uses_the_window_and_never_divides_by_zero(tmp_path, http):
    rules = f"""
    channels:
      hook:
        webhook: {{url: {http.url}/hook}}
    rules:
      - name: ProcessingErrors
        severity: warning
        channels: [hook]
        condition:
          error_rate: {{operation: process, threshold: 0.1, window_seconds: 60}}
    """
    inputs = Inputs()
    alerting = service(tmp_path, rules, inputs)

    def totals(processed: float, errors: float) -> None:
        inputs.samples = {
            "queue_message_processing_duration_seconds_count": [(ORDERS, processed)],
            "queue_processing_errors_total": [({**ORDERS, "error_type": "A"}, errors / 2),
                                              ({**ORDERS, "error_type": "B"}, errors / 2)],
        }

    try:
        totals(0, 0)
        assert alerting.evaluator.evaluate_once(T0) == []  # no traffic: no rate, no error
        totals(100, 2)
        assert alerting.evaluator.evaluate_once(T0 + 15) == []  # 2 %
        totals(200, 40)
        (firing,) = alerting.evaluator.evaluate_once(T0 + 30)  # 40 of 200 in the window: 20 %
        assert firing.status == "firing" and firing.value == pytest.approx(0.2)
        assert firing.labels["queue"] == "orders" and "error_type" not in firing.labels
        totals(200, 40)  # no traffic since: the window slides past the errors
        assert alerting.evaluator.evaluate_once(T0 + 60) == []
        (resolved,) = alerting.evaluator.evaluate_once(T0 + 100)
        assert resolved.status == "resolved"
    finally:
        alerting.stop(5.0)


def test_health_check_failure_needs_consecutive_failures(tmp_path, http):
    rules = f"""
    channels:
      hook:
        webhook: {{url: {http.url}/hook}}
    rules:
      - name: ProcessingUnhealthy
        description: "{{check}} of {{service}}/{{queue}} is failing"
        severity: critical
        channels: [hook]
        condition:
          health_check_failure: {{check: message_processing, consecutive_failures: 3, minimum_status: degraded}}
    """
    inputs = Inputs()
    alerting = service(tmp_path, rules, inputs)
    bad = CheckResult("message_processing", HealthStatus.DEGRADED, "elevated error rate", service="checkout", queue="orders")
    good = CheckResult("message_processing", HealthStatus.HEALTHY, "fine", service="checkout", queue="orders")
    try:
        outcomes = []
        for offset, result in enumerate([bad, bad, good, bad, bad, bad, good]):
            inputs.results = [result]
            outcomes.append([n.status for n in alerting.evaluator.evaluate_once(T0 + 15 * offset)])
        assert outcomes == [[], [], [], [], [], ["firing"], ["resolved"]]
        wait_until(lambda: len(http.at("/hook")) == 2, message="firing and resolved")
        alert = http.at("/hook")[0].body["alert"]
        assert alert["description"] == "message_processing of checkout/orders is failing"
        assert alert["labels"]["check"] == "message_processing"
    finally:
        alerting.stop(5.0)


@pytest.mark.parametrize(
    "channel, problem",
    [
        ("slack: {url: 'https://hooks.slack.com/services/T/B/X'}",
         "channels.c.slack.url: secrets are not accepted in plain text"),
        ("pagerduty: {routing_key: abc123}", "channels.c.pagerduty.routing_key: secrets are not accepted in plain text"),
        ("email: {smtp_host: mail, from_address: a@b.c, to: [d@e.f], username: u, password: pw}",
         "channels.c.email.password: secrets are not accepted in plain text"),
        ("webhook: {url: 'https://example.com/hook?token=abc'}", "channels.c.webhook.url: this URL carries credentials"),
        ("webhook: {url: 'https://example.com/hook', headers: {Authorization: 'Bearer x'}}",
         "channels.c.webhook.headers.Authorization: looks like a secret"),
        ("slack: {}", "channels.c.slack.url: expected exactly one of url_env or url_file"),
    ],
)
def test_plain_secrets_are_refused_with_a_clear_error(tmp_path, channel, problem):
    path = tmp_path / "rules.yaml"
    path.write_text(f"channels:\n  c:\n    {channel}\nrules: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_rule_set([str(path)], include_shipped=False)
    assert any(str(item).startswith(problem) for item in raised.value.problems), raised.value.problems


def test_missing_secret_variable_is_named(tmp_path):
    rules = "channels:\n  chat:\n    slack: {url_env: NOT_SET_ANYWHERE}\nrules:\n" + depth_rule("[chat]")
    with pytest.raises(SecretError, match="environment variable NOT_SET_ANYWHERE is not set"):
        service(tmp_path, rules, Inputs())


def test_rule_naming_an_unknown_channel_is_refused(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + depth_rule("[nowhere]"), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_rule_set([str(path)], include_shipped=True)
    assert "unknown channel 'nowhere'" in str(raised.value)


def test_shipped_rules_use_the_log_channel_and_can_be_replaced(tmp_path, caplog):
    shipped = load_rule_set([])
    assert {channel for rule in shipped.rules for channel in rule.channels} == {"log"}
    assert {rule.condition.kind for rule in shipped.rules} == {
        "metric_threshold", "error_rate", "health_check_failure", "queue_depth"}
    path = tmp_path / "rules.yaml"
    path.write_text(depth_rule("[log]").replace("OrdersBacklog", "QueueDepthHigh").replace("\n  - ", "rules:\n  - ", 1),
                    encoding="utf-8")
    merged = load_rule_set([str(path)])
    assert len(merged.rules) == len(shipped.rules)
    assert [r for r in merged.rules if r.name == "QueueDepthHigh"][0].severity.value == "critical"

    inputs = Inputs()
    alerting = AlertingService(AlertingConfig(), lambda: inputs.samples, inputs.report, environment={})
    try:
        inputs.depth(5000)
        with caplog.at_level(logging.WARNING, logger="queue_collector.alerts"):
            alerting.evaluator.evaluate_once(T0)
            alerting.evaluator.evaluate_once(T0 + 600)
            wait_until(lambda: "ALERT firing QueueDepthHigh" in caplog.text, message="log channel")
    finally:
        alerting.stop(5.0)

"""Alerting inside the running receiver: OTLP metrics from the real SDK in, notifications out."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Iterator

import pytest

from queue_collector.alerting import AlertingConfig
from queue_collector.app import ReceiverApp
from queue_collector.health.config import HealthConfig
from tests.health.health_testkit import QueueProducer, get, receiver_config
from tests.support.timing import FakeClock, wait_until

from .alerting_testkit import RecordingHttpServer


@pytest.fixture
def http() -> Iterator[RecordingHttpServer]:
    server = RecordingHttpServer()
    yield server
    server.close()


def start(tmp_path, clock, http, interval: float = 15.0) -> ReceiverApp:
    rules = tmp_path / "alert-rules.yaml"
    rules.write_text(textwrap.dedent(f"""
        channels:
          hook:
            webhook: {{url: {http.url}/hook}}
        rules:
          - name: CheckoutProcessingErrors
            severity: critical
            channels: [hook, log]
            condition:
              error_rate: {{operation: process, threshold: 0.05, window_seconds: 300, matchers: {{service: checkout}}}}
          - name: ProducerCheckFailing
            severity: warning
            channels: [hook]
            condition:
              health_check_failure: {{check: producer.database, consecutive_failures: 2}}
    """), encoding="utf-8")
    config = receiver_config(
        tmp_path, HealthConfig(cache_seconds=0.0),
    )
    config = dataclasses.replace(
        config, alerting=AlertingConfig(rule_files=(str(rules),), evaluation_interval_seconds=interval)
    )
    app = ReceiverApp(config, clock=clock)
    app.start()
    return app


def test_sdk_metrics_raise_and_resolve_alerts(tmp_path, http):
    clock = FakeClock()
    app = start(tmp_path, clock, http)
    try:
        evaluate = app.alerting.evaluator.evaluate_once
        producer = QueueProducer("checkout")
        producer.process("orders", 10)
        producer.report_check("database", 2)
        producer.export(app)
        assert evaluate(clock()) == []  # first look: no window yet, one failing health evaluation

        clock.advance(15)
        producer.process("orders", 80)
        producer.process("orders", 20, error_type="TimeoutError")
        producer.export(app)
        fired = {n.rule: n for n in evaluate(clock())}
        assert set(fired) == {"CheckoutProcessingErrors", "ProducerCheckFailing"}
        assert fired["CheckoutProcessingErrors"].value == pytest.approx(0.2)
        wait_until(lambda: len(http.at("/hook")) == 2, message="two firing notifications")
        status, document = get(f"{app.admin_url}/alerts")
        states = {alert["rule"]: alert["state"] for alert in document["alerts"]}
        # The shipped rule sees the same errors and waits for its `for` of 2 minutes.
        assert status == 200 and states == {**{rule: "firing" for rule in fired}, "QueueProcessingErrorRateHigh": "pending"}
        assert app.registry.get_sample_value(
            "queue_collector_alerts", {"rule": "CheckoutProcessingErrors", "severity": "critical", "state": "firing"}
        ) == 1

        # Traffic goes on without errors, exported every 100 s; the producer is healthy again.
        later = []
        for _ in range(4):
            clock.advance(100)
            producer.process("orders", 10)
            producer.report_check("database", 0)
            producer.export(app)
            later.extend(evaluate(clock()))
        resolved = [n.rule for n in later if n.status == "resolved"]
        assert sorted(set(fired)) == sorted(rule for rule in resolved if rule in fired)
        assert resolved.index("ProducerCheckFailing") < resolved.index("CheckoutProcessingErrors")
        wait_until(lambda: len(http.at("/hook")) == 4, message="two resolved notifications")
        assert [item.body["status"] for item in http.at("/hook")][2:] == ["resolved", "resolved"]
        wait_until(lambda: app.registry.get_sample_value(
            "queue_collector_alert_notifications_total", {"channel": "hook", "outcome": "delivered"}) == 4,
            message="four deliveries counted")
        # The shipped rule went pending -> firing -> resolved on the log channel meanwhile.
        shipped = [n.status for n in later if n.rule == "QueueProcessingErrorRateHigh"]
        assert shipped == ["firing", "resolved"]
    finally:
        app.stop(5.0)


def test_the_background_thread_evaluates(tmp_path, http):
    app = start(tmp_path, FakeClock(), http, interval=0.05)
    try:
        wait_until(lambda: (app.registry.get_sample_value("queue_collector_alert_evaluations_total") or 0) >= 3,
                   message="three evaluations by the background thread")
    finally:
        app.stop(5.0)
    assert app.alerting._thread is not None and not app.alerting._thread.is_alive()

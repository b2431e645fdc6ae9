"""The alerting component's own metrics on /metrics (a custom collector, read at scrape time).

* ``queue_collector_alert_notifications_total{channel, outcome}``: notifications delivered,
  failed (after every retry) or dropped (queue full, shut down);
* ``queue_collector_alert_delivery_attempts_total{channel, outcome}``: each try, success or error;
* ``queue_collector_alert_notifications_queued{channel}``: waiting or being delivered now;
* ``queue_collector_alerts{rule, severity, state}``: pending and firing alerts;
* ``queue_collector_alert_evaluations_total`` and ``..._evaluation_failures_total``.
"""

from __future__ import annotations

import collections
from typing import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from queue_collector.alerting.delivery import NotificationDelivery
from queue_collector.alerting.evaluator import AlertEvaluator

__all__ = ["AlertingCollector"]


class AlertingCollector(Collector):
    def __init__(self, evaluator: AlertEvaluator, delivery: NotificationDelivery) -> None:
        self._evaluator = evaluator
        self._delivery = delivery

    def collect(self) -> Iterator[Metric]:
        statistics = self._delivery.statistics()
        notifications = CounterMetricFamily(
            "queue_collector_alert_notifications",
            "Alert notifications per channel and outcome (delivered, failed after retries, dropped).",
            labels=("channel", "outcome"),
        )
        for (channel, outcome), count in sorted(statistics.notifications.items()):
            notifications.add_metric((channel, outcome), count)
        yield notifications
        attempts = CounterMetricFamily(
            "queue_collector_alert_delivery_attempts",
            "Attempts to deliver alert notifications per channel (success or error).",
            labels=("channel", "outcome"),
        )
        for (channel, outcome), count in sorted(statistics.attempts.items()):
            attempts.add_metric((channel, outcome), count)
        yield attempts
        queued = GaugeMetricFamily(
            "queue_collector_alert_notifications_queued",
            "Alert notifications waiting for delivery (or being delivered) per channel.",
            labels=("channel",),
        )
        for channel, count in sorted(statistics.queued.items()):
            queued.add_metric((channel,), count)
        yield queued
        alerts = GaugeMetricFamily(
            "queue_collector_alerts", "Pending and firing alerts per rule.", labels=("rule", "severity", "state")
        )
        counts = collections.Counter((a.rule, a.severity, a.state) for a in self._evaluator.active_alerts())
        for labels, count in sorted(counts.items()):
            alerts.add_metric(labels, count)
        yield alerts
        evaluations = CounterMetricFamily(
            "queue_collector_alert_evaluations", "Evaluations of the alert rules."
        )
        evaluations.add_metric((), self._evaluator.evaluations)
        yield evaluations
        failures = CounterMetricFamily(
            "queue_collector_alert_evaluation_failures",
            "Rules (or inputs) that could not be evaluated; see the receiver's log.",
        )
        failures.add_metric((), self._evaluator.evaluation_failures)
        yield failures

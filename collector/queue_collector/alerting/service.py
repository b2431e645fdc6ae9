"""The alerting component assembled: rules, channels, delivery, evaluator, background thread."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Mapping

from queue_collector.alerting.channels import build_channel
from queue_collector.alerting.config import AlertingConfig
from queue_collector.alerting.delivery import NotificationDelivery
from queue_collector.alerting.evaluator import AlertEvaluator, Samples
from queue_collector.alerting.prometheus import AlertingCollector
from queue_collector.alerting.rules import load_rule_set
from queue_collector.health.report import HealthReport

__all__ = ["AlertingService"]

_logger = logging.getLogger(__name__)


class AlertingService:
    """Loads the rule files, resolves channel secrets, and evaluates on a background thread.

    The constructor raises ConfigError (rule files) or SecretError (a missing variable or
    file) naming the problem. :meth:`start` starts the evaluation thread (first evaluation one
    interval after start); :meth:`stop` ends it and drains the delivery workers. Only the
    channels some rule uses are built.
    """

    def __init__(
        self,
        config: AlertingConfig,
        samples: Callable[[], Samples],
        health: Callable[[], HealthReport] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        rule_set = load_rule_set(config.rule_files, config.shipped_rules)
        used = {name for rule in rule_set.rules for name in rule.channels}
        channels = [build_channel(name, rule_set.channels[name], environment) for name in sorted(used)]
        self.delivery = NotificationDelivery(channels, config.delivery)
        self.evaluator = AlertEvaluator(rule_set.rules, self.delivery, samples, health)
        self.collector = AlertingCollector(self.evaluator, self.delivery)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="queue-collector-alerting", daemon=True)
        self._thread.start()
        _logger.info(
            "alerting: %d rule(s) every %g s, channels: %s", len(self.evaluator.rules),
            self.config.evaluation_interval_seconds,
            ", ".join(f"{name} [{where}]" for name, where in self.delivery.describe().items()) or "none",
        )

    def _run(self) -> None:
        while not self._stop.wait(self.config.evaluation_interval_seconds):
            try:
                self.evaluator.evaluate_once(self._clock())
            except Exception:  # evaluate_once does not raise; belt and braces for the thread
                _logger.exception("alerting: evaluation failed")

    def stop(self, timeout_seconds: float) -> None:
        """Stops evaluating, then gives queued notifications up to ``timeout_seconds``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
        self.delivery.shutdown(timeout_seconds)

    def alerts_json(self) -> dict:
        """The /alerts document: every pending and firing alert."""
        alerts = [alert.to_json() for alert in self.evaluator.active_alerts()]
        return {"alerts": sorted(alerts, key=lambda item: (item["rule"], sorted(item["labels"].items())))}

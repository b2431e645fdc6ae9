"""Alerting: rules over the unified metrics and the health report, notified to real channels.

Rules and channels come from YAML rule files (:mod:`.rules`; a default file ships with the
receiver). :class:`AlertEvaluator` runs the per-alert state machine (pending, firing,
resolved) and hands notifications to :class:`NotificationDelivery`, which delivers them per
channel (log, webhook, Slack, PagerDuty, e-mail) with retries. :class:`AlertingService` wires
it all and evaluates on a background thread. :mod:`.prometheus_rules` turns the shipped rules
into Prometheus alerting rules.
"""

from queue_collector.alerting.channels import DeliveryError, build_channel
from queue_collector.alerting.config import AlertingConfig, DeliveryConfig, default_config
from queue_collector.alerting.delivery import NotificationDelivery
from queue_collector.alerting.evaluator import AlertEvaluator, read_samples
from queue_collector.alerting.notification import AlertNotification
from queue_collector.alerting.rules import AlertRule, RuleSet, load_rule_set
from queue_collector.alerting.secrets import SecretError
from queue_collector.alerting.service import AlertingService

__all__ = [
    "AlertingConfig",
    "DeliveryConfig",
    "default_config",
    "AlertRule",
    "RuleSet",
    "load_rule_set",
    "AlertNotification",
    "AlertEvaluator",
    "read_samples",
    "NotificationDelivery",
    "DeliveryError",
    "build_channel",
    "SecretError",
    "AlertingService",
]

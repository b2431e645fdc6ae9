"""Configuration of the alerting component (keys under ``alerting:`` in the receiver file).

The rules and channels themselves live in rule files (see :mod:`.rules`); this section says
which files, how often rules are evaluated and how notifications are delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

__all__ = ["AlertingConfig", "DeliveryConfig", "default_config"]


@dataclass(frozen=True)
class DeliveryConfig:
    """How notifications are delivered: one worker per channel, retries with backoff."""

    #: Attempts per notification and channel, the first included (default = 5).
    max_attempts: int = 5
    #: Wait before the first retry, in seconds (default = 1.0).
    initial_backoff_seconds: float = 1.0
    #: Longest wait between retries (default = 60.0).
    max_backoff_seconds: float = 60.0
    #: Each retry waits this many times longer than the one before (default = 2.0).
    backoff_multiplier: float = 2.0
    #: Notifications waiting per channel; more are dropped and counted (default = 1000).
    queue_size: int = 1000

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.max_attempts < 1:
            yield "max_attempts", f"must be at least 1, got {self.max_attempts}"
        if self.initial_backoff_seconds < 0:
            yield "initial_backoff_seconds", f"must be 0 or more, got {self.initial_backoff_seconds}"
        if self.max_backoff_seconds < self.initial_backoff_seconds:
            yield "max_backoff_seconds", (
                f"must be at least initial_backoff_seconds ({self.initial_backoff_seconds}), "
                f"got {self.max_backoff_seconds}"
            )
        if self.backoff_multiplier < 1:
            yield "backoff_multiplier", f"must be at least 1, got {self.backoff_multiplier}"
        if self.queue_size < 1:
            yield "queue_size", f"must be at least 1, got {self.queue_size}"


@dataclass(frozen=True)
class AlertingConfig:
    """Alert rules evaluated in the receiver, and their notification channels."""

    #: Evaluate rules and send notifications (default = true).
    enabled: bool = True
    #: Seconds between two evaluations of every rule (default = 15.0).
    evaluation_interval_seconds: float = 15.0
    #: Load the rule file shipped with the receiver first (default = true): the default queue
    #: alerts, notified to the log channel only.
    shipped_rules: bool = True
    #: Your rule files, loaded after the shipped one; a rule or channel with the name of an
    #: earlier one replaces it (default = none).
    rule_files: tuple[str, ...] = ()
    #: Delivery of notifications.
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)

    def validation_problems(self) -> Iterator[tuple[str, str]]:
        if self.evaluation_interval_seconds <= 0:
            yield "evaluation_interval_seconds", f"must be positive, got {self.evaluation_interval_seconds}"
        if self.enabled:
            from queue_collector.alerting.rules import rule_set_problems

            for problem in rule_set_problems(self.rule_files, self.shipped_rules):
                yield "rule_files", problem


def default_config() -> AlertingConfig:
    """Alerting on, shipped rules only (log channel), evaluated every 15 s."""
    return AlertingConfig()

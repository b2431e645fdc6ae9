"""What a channel is given to send: one alert's state change (firing or resolved)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from queue_collector.health.checks import format_timestamp

__all__ = ["AlertNotification", "alert_fingerprint"]


def alert_fingerprint(rule: str, series: Mapping[str, str]) -> str:
    """A stable id of one alert (rule and series); PagerDuty's ``dedup_key`` is built from it."""
    text = rule + "\0" + "\0".join(f"{key}={value}" for key, value in sorted(series.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class AlertNotification:
    """One notification. ``status`` is ``firing`` (also when re-notified) or ``resolved``."""

    rule: str
    status: str
    severity: str
    #: ``alertname``, ``severity``, the rule's labels and the series' labels.
    labels: Mapping[str, str]
    #: One line: rule name, subject and value.
    summary: str
    #: The rule's description with placeholders filled in.
    description: str
    #: The value that made the condition true (last one seen), when there is one.
    value: float | None
    #: When the alert started firing, and (resolved only) when it stopped; seconds since the epoch.
    started_at: float
    ended_at: float | None
    fingerprint: str
    #: Extra facts for people (threshold, window, ...).
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return f"queue-collector/{self.rule}/{self.fingerprint}"

    @property
    def subject(self) -> str:
        """``service/queue`` (or what the labels offer) the alert is about."""
        service, queue = self.labels.get("service", ""), self.labels.get("queue", "")
        if service and queue:
            return f"{service}/{queue}"
        return service or queue or "receiver"

    def to_json(self) -> dict[str, Any]:
        """The document the generic webhook receives as ``alert``."""
        return {
            "rule": self.rule,
            "status": self.status,
            "severity": self.severity,
            "labels": dict(self.labels),
            "summary": self.summary,
            "description": self.description,
            "value": self.value,
            "starts_at": format_timestamp(self.started_at),
            "ends_at": format_timestamp(self.ended_at) if self.ended_at is not None else None,
            "fingerprint": self.fingerprint,
            "details": dict(self.details),
        }

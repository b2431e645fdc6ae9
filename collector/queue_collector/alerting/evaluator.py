"""Rule evaluation: per (rule, series) state machine, inactive -> pending -> firing -> resolved.

Each evaluation reads the unified metrics (as the Prometheus collectors expose them on
/metrics) and the health report, works out for every rule which series meet its condition, and
moves each series' alert state:

* condition true, no state yet: **pending** since now (nothing is sent);
* pending for ``for_seconds``: **firing**, a ``firing`` notification to every channel;
* still firing after ``cooldown_seconds`` since the last notification: notified again;
* condition false (or the series gone): a pending alert is dropped silently, a firing one is
  **resolved**, with a ``resolved`` notification.

Error rates use the increase of the unified counters over the rule's window, from the values
seen at earlier evaluations (like Prometheus' ``increase``), and are computed only where the
denominator is above zero. Health-check rules count consecutive failing evaluations.

:meth:`AlertEvaluator.evaluate_once` is the whole evaluation, with the time passed in, so tests
drive it deterministically; :class:`~queue_collector.alerting.service.AlertingService` calls it
from its background thread.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from queue_collector.alerting.delivery import NotificationDelivery
from queue_collector.alerting.notification import AlertNotification, alert_fingerprint
from queue_collector.alerting.rules import (
    ERROR_RATE_METRICS,
    GROUP_LABELS,
    METRIC_SAMPLE_NAMES,
    AlertRule,
    ErrorRateCondition,
    HealthCheckFailureCondition,
)
from queue_collector.health.checks import HealthStatus
from queue_collector.health.report import HealthReport

__all__ = ["AlertEvaluator", "ActiveAlert", "Samples", "read_samples"]

_logger = logging.getLogger(__name__)

#: Sample name -> [(labels, value)], as on /metrics.
Samples = Mapping[str, Sequence[tuple[Mapping[str, str], float]]]
_SeriesKey = tuple[tuple[str, str], ...]
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_FAILING = {"degraded": (HealthStatus.DEGRADED, HealthStatus.UNHEALTHY), "unhealthy": (HealthStatus.UNHEALTHY,)}


def read_samples(families: Iterable[Any], names: Iterable[str] = METRIC_SAMPLE_NAMES) -> dict[str, list]:
    """The samples named in ``names`` from Prometheus metric families (a registry's
    ``collect()``)."""
    wanted = frozenset(names)
    samples: dict[str, list] = collections.defaultdict(list)
    for family in families:
        for sample in family.samples:
            if sample.name in wanted:
                samples[sample.name].append((dict(sample.labels), float(sample.value)))
    return samples


def _key(labels: Mapping[str, str]) -> _SeriesKey:
    return tuple(sorted(labels.items()))


def _matches(labels: Mapping[str, str], matchers: Mapping[str, str]) -> bool:
    return all(labels.get(name, "") == value for name, value in matchers.items())


def fill_placeholders(text: str, labels: Mapping[str, str], value: float | None) -> str:
    """``{service}``, ``{queue}``, ... replaced by label values and ``{value}`` by the value."""
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "value":
            return "" if value is None else f"{value:g}"
        return labels.get(name, match.group(0))

    return _PLACEHOLDER.sub(replace, text)


@dataclass
class ActiveAlert:
    """A pending or firing alert (a copy is returned by :meth:`AlertEvaluator.active_alerts`)."""

    rule: str
    severity: str
    state: str
    series: dict[str, str]
    value: float | None
    active_since: float
    fired_at: float | None = None
    last_notified: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "severity": self.severity, "state": self.state, "labels": dict(self.series),
            "value": self.value, "active_since": self.active_since, "fired_at": self.fired_at,
        }


class AlertEvaluator:
    """Evaluates the rules and hands notifications to the delivery.

    ``samples`` returns the current unified metrics; ``health`` the current health report (or
    None when health is not available). Thread-safe: evaluations are serialized by a lock, and
    :meth:`active_alerts` may be called from any thread.
    """

    def __init__(
        self,
        rules: Sequence[AlertRule],
        delivery: NotificationDelivery,
        samples: Callable[[], Samples],
        health: Callable[[], HealthReport] | None = None,
    ) -> None:
        self._rules = tuple(rules)
        self._delivery = delivery
        self._samples = samples
        self._health = health
        self._lock = threading.Lock()
        self._states: dict[tuple[str, _SeriesKey], ActiveAlert] = {}
        self._failures: dict[tuple[str, _SeriesKey], int] = {}
        #: (time, {sample name: {group key: summed value}}) of earlier evaluations.
        self._history: collections.deque = collections.deque()
        windows = [rule.condition.error_rate.window_seconds for rule in self._rules if rule.condition.error_rate]
        self._longest_window = max(windows, default=0.0)
        self._rate_names = sorted({
            name
            for rule in self._rules if rule.condition.error_rate
            for name in (ERROR_RATE_METRICS[rule.condition.error_rate.operation][0],
                         *ERROR_RATE_METRICS[rule.condition.error_rate.operation][1])
        })
        self.evaluations = 0
        self.evaluation_failures = 0

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._rules

    # --- evaluation ---------------------------------------------------------------------------

    def evaluate_once(self, now: float | None = None) -> list[AlertNotification]:
        """One evaluation of every rule at ``now`` (seconds since the epoch; default: the
        time now). Returns the notifications submitted for delivery. Never raises: a rule
        that fails is logged and skipped."""
        now = time.time() if now is None else now
        try:
            samples = self._samples()
        except Exception:
            _logger.exception("alerting: cannot read the unified metrics")
            samples = {}
            self.evaluation_failures += 1
        report = None
        if self._health is not None:
            try:
                report = self._health()
            except Exception:
                _logger.exception("alerting: cannot read the health report")
                self.evaluation_failures += 1
        notifications: list[AlertNotification] = []
        with self._lock:
            self._remember(now, samples)
            for rule in self._rules:
                try:
                    holding = self._holding(rule, now, samples, report)
                except Exception:
                    _logger.exception("alerting: rule %s could not be evaluated", rule.name)
                    self.evaluation_failures += 1
                    continue
                notifications.extend(self._advance(rule, now, holding))
            self.evaluations += 1
        for notification, channels in notifications:
            self._delivery.submit(notification, channels)
        return [notification for notification, _ in notifications]

    def _holding(
        self, rule: AlertRule, now: float, samples: Samples, report: HealthReport | None
    ) -> dict[_SeriesKey, tuple[dict[str, str], float | None, str]]:
        """Series meeting the rule's condition: key -> (labels, value, summary)."""
        condition = rule.condition
        holding: dict[_SeriesKey, tuple[dict[str, str], float | None, str]] = {}
        if condition.metric_threshold is not None:
            threshold = condition.metric_threshold
            for labels, value in samples.get(threshold.metric, ()):
                if _matches(labels, threshold.matchers) and threshold.operator.holds(value, threshold.threshold):
                    summary = f"{threshold.metric} is {value:g} ({threshold.operator.value} {threshold.threshold:g})"
                    holding[_key(labels)] = (dict(labels), value, summary)
        elif condition.queue_depth is not None:
            depth = condition.queue_depth
            for labels, value in samples.get("queue_depth", ()):
                if _matches(labels, depth.matchers) and value > depth.threshold:
                    series = {name: labels.get(name, "") for name in GROUP_LABELS}
                    holding[_key(series)] = (series, value, f"queue depth {value:g} (> {depth.threshold:g})")
        elif condition.error_rate is not None:
            holding = self._error_rates(condition.error_rate, now)
        elif condition.health_check_failure is not None:
            holding = self._health_failures(rule.name, condition.health_check_failure, report)
        return holding

    def _remember(self, now: float, samples: Samples) -> None:
        if not self._rate_names:
            return
        sums: dict[str, dict[tuple[str, ...], float]] = {}
        for name in self._rate_names:
            by_group: dict[tuple[str, ...], float] = collections.defaultdict(float)
            for labels, value in samples.get(name, ()):
                by_group[tuple(labels.get(label, "") for label in GROUP_LABELS)] += value
            sums[name] = dict(by_group)
        history = self._history
        history.append((now, sums))
        # Keep one entry at or before the start of the longest window, drop older ones.
        while len(history) > 1 and history[1][0] <= now - self._longest_window:
            history.popleft()

    def _increase(self, name: str, group: tuple[str, ...], window: float, now: float) -> float:
        current = self._history[-1][1].get(name, {}).get(group, 0.0)
        start = now - window
        baseline_entry = self._history[0]
        for entry in self._history:
            if entry[0] <= start:
                baseline_entry = entry
            else:
                break
        baseline = baseline_entry[1].get(name, {}).get(group, 0.0)
        return max(0.0, current - baseline)

    def _error_rates(self, condition: ErrorRateCondition, now: float):
        errors_name, attempt_names = ERROR_RATE_METRICS[condition.operation]
        current = self._history[-1][1] if self._history else {}
        groups = set()
        for name in (errors_name, *attempt_names):
            groups.update(current.get(name, {}))
        holding = {}
        for group in sorted(groups):
            labels = dict(zip(GROUP_LABELS, group))
            if not _matches(labels, condition.matchers):
                continue
            attempts = sum(self._increase(name, group, condition.window_seconds, now) for name in attempt_names)
            if attempts <= 0:
                continue  # no traffic: no rate, never a division by zero
            errors = self._increase(errors_name, group, condition.window_seconds, now)
            rate = errors / attempts
            if rate > condition.threshold:
                summary = (
                    f"{condition.operation} error rate {rate:.2%} over {condition.window_seconds:g} s "
                    f"(> {condition.threshold:.2%}; {errors:g} of {attempts:g})"
                )
                holding[_key(labels)] = (labels, rate, summary)
        return holding

    def _health_failures(self, rule: str, condition: HealthCheckFailureCondition, report: HealthReport | None):
        holding = {}
        failing_now: set[tuple[str, _SeriesKey]] = set()
        if report is not None:
            failing = _FAILING[condition.minimum_status]
            for result in report.results:
                if condition.check and result.check != condition.check:
                    continue
                labels = {"service": result.service or "", "queue": result.queue or "", "check": result.check}
                if not _matches(labels, condition.matchers) or result.status not in failing:
                    continue
                state_key = (rule, _key(labels))
                failing_now.add(state_key)
                count = self._failures.get(state_key, 0) + 1
                self._failures[state_key] = count
                if count >= condition.consecutive_failures:
                    summary = (
                        f"health check {result.check} is {result.status.value} "
                        f"({count} evaluations in a row): {result.message}"
                    )
                    holding[_key(labels)] = (labels, float(result.status.gauge_value), summary)
        for state_key in [key for key in self._failures if key[0] == rule and key not in failing_now]:
            del self._failures[state_key]
        return holding

    # --- state machine ------------------------------------------------------------------------

    def _advance(self, rule: AlertRule, now: float, holding) -> list[tuple[AlertNotification, tuple[str, ...]]]:
        out = []
        for key, (labels, value, summary) in holding.items():
            state = self._states.get((rule.name, key))
            if state is None:
                state = self._states[(rule.name, key)] = ActiveAlert(
                    rule.name, rule.severity.value, "pending", labels, value, now
                )
            state.value = value
            if state.state == "pending":
                if now - state.active_since >= rule.for_seconds:
                    state.state, state.fired_at, state.last_notified = "firing", now, now
                    out.append((self._notification(rule, state, "firing", summary, None), rule.channels))
            elif rule.cooldown_seconds > 0 and now - (state.last_notified or now) >= rule.cooldown_seconds:
                state.last_notified = now
                out.append((self._notification(rule, state, "firing", summary, None), rule.channels))
        for state_key in [k for k in self._states if k[0] == rule.name and k[1] not in holding]:
            state = self._states.pop(state_key)
            if state.state == "firing":
                out.append((self._notification(rule, state, "resolved", "condition no longer met", now), rule.channels))
        return out

    def _notification(
        self, rule: AlertRule, state: ActiveAlert, status: str, summary: str, ended: float | None
    ) -> AlertNotification:
        labels = {**state.series, **dict(rule.labels), "alertname": rule.name, "severity": rule.severity.value}
        subject = "/".join(part for part in (state.series.get("service"), state.series.get("queue")) if part)
        prefix = "resolved: " if status == "resolved" else ""
        return AlertNotification(
            rule=rule.name,
            status=status,
            severity=rule.severity.value,
            labels=labels,
            summary=f"{prefix}{rule.name} on {subject or 'receiver'}: {summary}",
            description=fill_placeholders(rule.description, labels, state.value),
            value=state.value,
            started_at=state.fired_at if state.fired_at is not None else state.active_since,
            ended_at=ended,
            fingerprint=alert_fingerprint(rule.name, state.series),
            details={"condition": rule.condition.kind, "for_seconds": f"{rule.for_seconds:g}"},
        )

    # --- reading ------------------------------------------------------------------------------

    def active_alerts(self) -> list[ActiveAlert]:
        """Copies of every pending and firing alert."""
        with self._lock:
            return [
                ActiveAlert(**{**state.__dict__, "series": dict(state.series)})
                for state in self._states.values()
            ]

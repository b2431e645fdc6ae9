"""The checks computed from the producers' telemetry, per service and queue, over the window.

* ``queue_connection``: failed send/receive operations (by ``error.type``) against successful
  ones; failures with no success at all are unhealthy.
* ``message_processing``: processing error rate, average and 95th percentile processing time.
* ``dead_letter_queues``: messages dead-lettered during the window and the DLQ's depth.
* ``producer_reported``: each check a producer reports through ``queue.health.status``,
  shown as ``producer.<check name>`` with the producer's state (0, 1, 2) as it is.

A queue with no traffic in the window is healthy: zero traffic is not an error, and no ratio
is computed from a zero denominator.
"""

from __future__ import annotations

import dataclasses
import math
from queue_collector.health.checks import CheckResult, HealthCheck, HealthStatus, format_timestamp
from queue_collector.health.config import HealthConfig, HealthThresholds
from queue_collector.health.traffic import QueueTraffic, QueueWindow

__all__ = [
    "ThresholdResolver",
    "QueueConnectionCheck",
    "MessageProcessingCheck",
    "DeadLetterQueueCheck",
    "ProducerReportedCheck",
    "PRODUCER_CHECK_PREFIX",
    "traffic_checks",
]

#: Prefix of the names producer-reported checks are shown under (they may reuse our names).
PRODUCER_CHECK_PREFIX = "producer."


class ThresholdResolver:
    """The thresholds of a queue: its ``SERVICE/QUEUE`` override, then its ``SERVICE``
    override, then the defaults. Results are remembered (the configuration is frozen)."""

    def __init__(self, config: HealthConfig) -> None:
        self._defaults = config.thresholds
        self._overrides = dict(config.overrides)
        self._resolved: dict[tuple[str, str], HealthThresholds] = {}

    def for_queue(self, service: str, queue: str) -> HealthThresholds:
        key = (service, queue)
        found = self._resolved.get(key)
        if found is None:
            changes: dict[str, float] = {}
            for name in (service, f"{service}/{queue}"):
                override = self._overrides.get(name)
                if override is not None:
                    changes.update(override.changes())
            found = dataclasses.replace(self._defaults, **changes) if changes else self._defaults
            if len(self._resolved) > 100_000:
                self._resolved.clear()
            self._resolved[key] = found
        return found


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.3f}s"


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


class _WindowCheck:
    """Shared plumbing: one result per known queue, from one traffic snapshot."""

    name = ""

    def __init__(self, traffic: QueueTraffic, thresholds: ThresholdResolver) -> None:
        self._traffic = traffic
        self._thresholds = thresholds

    def evaluate(self, now: float) -> list[CheckResult]:
        results = []
        window = self._traffic.window_seconds
        for queue in self._traffic.snapshot(now).queues:
            status, message, details = self._judge(
                queue, self._thresholds.for_queue(queue.service, queue.queue)
            )
            details = {"window_seconds": _count(window), **details}
            if queue.provider:
                details["provider"] = queue.provider
            results.append(
                CheckResult(self.name, status, message, details, service=queue.service, queue=queue.queue)
            )
        return results

    def _judge(
        self, queue: QueueWindow, limits: HealthThresholds
    ) -> tuple[HealthStatus, str, dict[str, str]]:
        raise NotImplementedError


class QueueConnectionCheck(_WindowCheck):
    """Send and receive operations failing, or none succeeding."""

    name = "queue_connection"

    def _judge(self, queue, limits):
        failures = queue.errors_of("send", "receive")
        failed = sum(failures.values())
        # Successful operations come from the operation duration histogram (which also counts
        # receives that found nothing); producers without it are judged by messages moved.
        succeeded = queue.successful_operations or (queue.messages_sent + queue.messages_received)
        details = {
            "successful_operations": _count(succeeded),
            "failed_operations": _count(failed),
            "messages_sent": _count(queue.messages_sent),
            "messages_received": _count(queue.messages_received),
        }
        for error_type, count in sorted(failures.items()):
            details[f"errors.{error_type}"] = _count(count)
        attempts = failed + succeeded
        if attempts <= 0:
            return HealthStatus.HEALTHY, "no send or receive operations in the window", details
        ratio = failed / attempts
        details["error_ratio"] = _percent(ratio)
        kinds = ", ".join(f"{name}: {_count(count)}" for name, count in sorted(failures.items()))
        if failed and not succeeded:
            return HealthStatus.UNHEALTHY, f"all {_count(failed)} send/receive operations failed ({kinds})", details
        if ratio > limits.connection_error_ratio_unhealthy_above:
            return HealthStatus.UNHEALTHY, f"{_percent(ratio)} of send/receive operations failed ({kinds})", details
        if ratio > limits.connection_error_ratio_degraded_above:
            return HealthStatus.DEGRADED, f"{_percent(ratio)} of send/receive operations failed ({kinds})", details
        return HealthStatus.HEALTHY, "queue connection is healthy", details


class MessageProcessingCheck(_WindowCheck):
    """Processing error rate, and average and 95th percentile processing time."""

    name = "message_processing"

    def _judge(self, queue, limits):
        processing = queue.processing
        errors_by_type = queue.errors_of("process")
        errors = sum(errors_by_type.values())
        processed = processing.count
        average = processing.average
        p95 = processing.quantile_upper_bound(0.95)
        details = {
            "total_processed": _count(processed),
            "total_errors": _count(errors),
            "avg_processing_time": _seconds(average),
            "p95_processing_time": _seconds(p95),
        }
        for error_type, count in sorted(errors_by_type.items()):
            details[f"errors.{error_type}"] = _count(count)
        if processed <= 0 and errors <= 0:
            return HealthStatus.HEALTHY, "no messages processed in the window", details
        # Failed processing is recorded in the duration histogram too; max() keeps the rate
        # at most 100 % should a producer count errors only.
        error_rate = errors / max(processed, errors)
        details["error_rate"] = _percent(error_rate)
        if error_rate > limits.processing_error_rate_unhealthy_above:
            return HealthStatus.UNHEALTHY, f"high error rate: {_percent(error_rate)}", details
        if error_rate > limits.processing_error_rate_degraded_above:
            return HealthStatus.DEGRADED, f"elevated error rate: {_percent(error_rate)}", details
        if average is not None and average > limits.processing_average_seconds_degraded_above:
            return HealthStatus.DEGRADED, f"slow processing: avg {_seconds(average)}", details
        if p95 is not None and p95 > limits.processing_p95_seconds_degraded_above:
            return HealthStatus.DEGRADED, f"slow processing: p95 {_seconds(p95)}", details
        return HealthStatus.HEALTHY, "message processing is healthy", details


class DeadLetterQueueCheck(_WindowCheck):
    """Messages dead-lettered during the window, and the dead-letter queue's depth."""

    name = "dead_letter_queues"

    def _judge(self, queue, limits):
        dead = queue.dead_lettered
        depth = queue.dlq_depth
        details = {"dead_lettered": _count(dead), "dlq_depth": "unknown" if depth is None else _count(depth)}
        statuses = []
        if dead > limits.dead_lettered_unhealthy_above:
            statuses.append(HealthStatus.UNHEALTHY)
        elif dead > limits.dead_lettered_degraded_above:
            statuses.append(HealthStatus.DEGRADED)
        if depth is not None:
            if depth > limits.dlq_depth_unhealthy_above:
                statuses.append(HealthStatus.UNHEALTHY)
            elif depth > limits.dlq_depth_degraded_above:
                statuses.append(HealthStatus.DEGRADED)
        status = HealthStatus.worst(statuses)
        if status is HealthStatus.HEALTHY:
            return status, "no dead letter messages", details
        parts = []
        if dead:
            parts.append(f"{_count(dead)} messages dead-lettered in the window")
        if depth:
            parts.append(f"{_count(depth)} messages in the dead letter queue")
        prefix = "high DLQ volume: " if status is HealthStatus.UNHEALTHY else ""
        return status, prefix + "; ".join(parts), details


class ProducerReportedCheck:
    """Producer-reported checks (``queue.health.status``), taken as they are."""

    name = "producer_reported"

    def __init__(self, traffic: QueueTraffic) -> None:
        self._traffic = traffic

    def evaluate(self, now: float) -> list[CheckResult]:
        results = []
        for reported in self._traffic.snapshot(now).reported:
            value = reported.value
            if value < 0.5:
                status = HealthStatus.HEALTHY
            elif value < 1.5:
                status = HealthStatus.DEGRADED
            else:
                status = HealthStatus.UNHEALTHY
            results.append(
                CheckResult(
                    PRODUCER_CHECK_PREFIX + reported.check,
                    status,
                    f"reported {status.value} by the producer",
                    {"reported_value": _count(value), "last_reported": format_timestamp(reported.seen_at)},
                    service=reported.service,
                    queue=reported.queue,
                )
            )
        return results


def traffic_checks(traffic: QueueTraffic, config: HealthConfig) -> list[HealthCheck]:
    """The four traffic-based checks, sharing one threshold resolver."""
    thresholds = ThresholdResolver(config)
    return [
        QueueConnectionCheck(traffic, thresholds),
        MessageProcessingCheck(traffic, thresholds),
        DeadLetterQueueCheck(traffic, thresholds),
        ProducerReportedCheck(traffic),
    ]

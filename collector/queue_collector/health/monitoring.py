"""Builds the health component from its configuration: stage, state, checks, report, gauge."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from queue_collector.health.activity import ServiceActivity
from queue_collector.health.checks import FreshnessCheck
from queue_collector.health.config import HealthConfig
from queue_collector.health.prometheus import HealthStatusCollector
from queue_collector.health.queue_checks import traffic_checks
from queue_collector.health.report import HealthMonitor
from queue_collector.health.stage import HealthStage
from queue_collector.health.traffic import QueueTraffic

__all__ = ["HealthMonitoring", "build_health_monitoring"]


@dataclass(frozen=True)
class HealthMonitoring:
    """The parts of the health component, wired together."""

    #: The pipeline stage (runs after metric mapping).
    stage: HealthStage
    #: Runs the checks and caches the report (/health, alerting).
    monitor: HealthMonitor
    #: ``queue_health_status`` for the receiver's registry.
    collector: HealthStatusCollector
    activity: ServiceActivity
    traffic: QueueTraffic


def build_health_monitoring(
    config: HealthConfig, clock: Callable[[], float] = time.time
) -> HealthMonitoring:
    """Validates ``config`` (ValueError naming the key) and builds every part."""
    problems = list(config.validation_problems())
    if problems:
        key, message = problems[0]
        raise ValueError(f"health.{key}: {message}")
    activity = ServiceActivity()
    traffic = QueueTraffic(config.window_seconds, config.bucket_seconds, config.forget_after_seconds)
    checks = [FreshnessCheck(activity, config), *traffic_checks(traffic, config)]
    monitor = HealthMonitor(checks, cache_seconds=config.cache_seconds, clock=clock)
    return HealthMonitoring(
        stage=HealthStage(activity, clock, traffic),
        monitor=monitor,
        collector=HealthStatusCollector(monitor),
        activity=activity,
        traffic=traffic,
    )

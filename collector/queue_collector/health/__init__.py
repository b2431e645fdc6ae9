"""Health: per service and queue, from the telemetry itself, as JSON and as a gauge.

The :class:`HealthStage` records which services send telemetry and feeds the producers'
metrics into :class:`QueueTraffic` (sliding windows per queue). :class:`HealthMonitor` runs the
:class:`HealthCheck` implementations (freshness, queue connection, message processing, dead
letter queues, producer-reported checks) and caches a :class:`HealthReport`, which the admin
server renders as JSON and :class:`HealthStatusCollector` exposes as ``queue_health_status``.
:func:`build_health_monitoring` wires it all from a :class:`HealthConfig`.
"""

from queue_collector.health.activity import ServiceActivity
from queue_collector.health.checks import CheckResult, FreshnessCheck, HealthCheck, HealthStatus
from queue_collector.health.config import (
    HealthConfig,
    HealthThresholds,
    ThresholdOverride,
    default_config,
)
from queue_collector.health.monitoring import HealthMonitoring, build_health_monitoring
from queue_collector.health.prometheus import HealthStatusCollector
from queue_collector.health.queue_checks import (
    PRODUCER_CHECK_PREFIX,
    DeadLetterQueueCheck,
    MessageProcessingCheck,
    ProducerReportedCheck,
    QueueConnectionCheck,
    ThresholdResolver,
)
from queue_collector.health.report import HealthMonitor, HealthReport
from queue_collector.health.stage import UNKNOWN_SERVICE, HealthStage, service_name_of
from queue_collector.health.traffic import QueueTraffic, QueueWindow, read_metrics_request

__all__ = [
    "HealthConfig",
    "HealthThresholds",
    "ThresholdOverride",
    "default_config",
    "ServiceActivity",
    "QueueTraffic",
    "QueueWindow",
    "read_metrics_request",
    "HealthStage",
    "service_name_of",
    "UNKNOWN_SERVICE",
    "HealthStatus",
    "CheckResult",
    "HealthCheck",
    "FreshnessCheck",
    "QueueConnectionCheck",
    "MessageProcessingCheck",
    "DeadLetterQueueCheck",
    "ProducerReportedCheck",
    "PRODUCER_CHECK_PREFIX",
    "ThresholdResolver",
    "HealthMonitor",
    "HealthReport",
    "HealthStatusCollector",
    "HealthMonitoring",
    "build_health_monitoring",
]

"""Health: which services are sending telemetry, aggregated into the health JSON and gauge.

The :class:`HealthStage` records activity as requests pass; :class:`HealthMonitor` runs the
:class:`HealthCheck` implementations (today :class:`FreshnessCheck`) and caches a
:class:`HealthReport`, which the admin server renders as JSON and :class:`HealthStatusCollector`
exposes as ``queue_health_status``.
"""

from queue_collector.health.activity import ServiceActivity
from queue_collector.health.checks import CheckResult, FreshnessCheck, HealthCheck, HealthStatus
from queue_collector.health.config import HealthConfig, default_config
from queue_collector.health.prometheus import HealthStatusCollector
from queue_collector.health.report import HealthMonitor, HealthReport
from queue_collector.health.stage import UNKNOWN_SERVICE, HealthStage, service_name_of

__all__ = [
    "HealthConfig",
    "default_config",
    "ServiceActivity",
    "HealthStage",
    "service_name_of",
    "UNKNOWN_SERVICE",
    "HealthStatus",
    "CheckResult",
    "HealthCheck",
    "FreshnessCheck",
    "HealthMonitor",
    "HealthReport",
    "HealthStatusCollector",
]
